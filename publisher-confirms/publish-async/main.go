// Command publish-async publishes messages with publisher confirms handled asynchronously: it keeps
// publishing while the broker's confirms come back, and settles each message as its confirm arrives.
// It is strategy 3 of the RabbitMQ tutorial "Publisher Confirms", and the fastest of the three.
//
// Usage:
//
//	go run ./publisher-confirms/publish-async [-count 50000] [-window 1000] [-timeout 60s] [-queue NAME] [-body TEXT]
//
// It publishes to a fresh server-named exclusive queue, as the tutorial does, or with -queue to that
// existing queue. Every message ends confirmed, nacked, returned (no queue took it) or unconfirmed (no
// confirm in time, connection lost, broker blocking publishers, Ctrl+C); unless all are confirmed, it says
// which on stderr and exits 1. The broker is taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
)

func main() {
	// The first Ctrl+C (or SIGTERM) cancels ctx: publishing stops and what was not confirmed is reported.
	// From then on the signal is not caught any more, so a second Ctrl+C ends the program at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "publish-async:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	// The flags, each with a default and an upper bound. There are no positional arguments.
	flags := flag.NewFlagSet("publish-async", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	count := flags.Int("count", 50000, "how many messages to publish (at most 100,000,000)")
	window := flags.Int("window", 1000, "the most messages published and not yet confirmed (at most 10,000)")
	// With its default 10 s heartbeat, amqp091-go gives up on a connection from which nothing has
	// arrived for 15 s (three half-heartbeats), so a broker that stopped answering altogether shows as
	// a lost connection. The timeout is for a broker that still answers but does not confirm.
	timeout := flags.Duration("timeout", 60*time.Second, "how long to wait for the next confirm (at most 1h)")
	queue := flags.String("queue", "", "publish to this existing queue (default: a fresh exclusive queue)")
	body := flags.String("body", "", "the body of every message (default: the message's number)")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: publish-async [-count 50000] [-window 1000] [-timeout 60s] [-queue NAME] [-body TEXT]")
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	switch {
	case *count < 1 || *count > 100_000_000:
		return fmt.Errorf("-count must be 1 to 100,000,000 (got %d)", *count)
	case *window < 1 || *window > 10_000:
		return fmt.Errorf("-window must be 1 to 10,000 (got %d)", *window)
	case *timeout <= 0 || *timeout > time.Hour:
		return fmt.Errorf("-timeout must be more than 0 and at most 1h (got %s)", *timeout)
	case flags.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}

	// Connect and open a channel, as in every tutorial. The deferred CloseDeadline is for the paths that
	// return an error: amqp091-go's Close waits for the broker's answer with no time limit.
	conn, err := broker.Dial("publisher-confirms/publish-async")
	if err != nil {
		return err
	}
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// A broker short of memory or disk space stops reading from connections that publish (a resource
	// alarm) and tells them so with connection.blocked. Then no confirm will come: every wait below
	// ends with ctx, so cancel ctx, with the reason.
	ctx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	go func() {
		for b := range blocked { // closed when the connection closes
			if b.Active {
				stopWaiting(fmt.Errorf("the broker is blocking publishers (%s)", b.Reason))
			}
		}
	}()

	// Without -queue, a queue of our own, as in the tutorial: the broker names it, and exclusive ties it
	// to this connection, so it goes when we do. With -queue, a passive declare only checks that the
	// queue exists: its length limit, overflow behaviour and type stay as they are.
	var q amqp.Queue
	if *queue == "" {
		q, err = ch.QueueDeclare(
			"",    // name: the broker chooses one
			false, // durable
			false, // delete when unused
			true,  // exclusive
			false, // no-wait
			nil,   // arguments
		)
	} else {
		q, err = ch.QueueDeclarePassive(*queue, false, false, false, false, nil) // only the name counts
	}
	if err != nil {
		return broker.DeclareError("queue", *queue, err)
	}

	// Put the channel in confirm mode: from now on the broker answers every message published on it with
	// an ack, once it has taken responsibility for it, or a nack, when it could not (a full queue that
	// rejects publishes, an internal error).
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}

	// The library hands each confirm to this Go channel: one Confirmation per message, in publishing
	// order, also when the broker acks many messages at once (multiple). A message that no queue takes
	// is acked all the same; published with mandatory, it is first sent back: a return, which the
	// broker sends before the ack. The library drops a confirm or return it cannot hand over within 5 s:
	// the message would then read as unconfirmed, or a returned one as confirmed. At most -window
	// messages are in flight, so buffers of -window are never full.
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, *window))
	returns := ch.NotifyReturn(make(chan amqp.Return, *window))
	// Why the channel closed, when it does (connection lost, or closed by the broker).
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))

	// outstanding maps the sequence number of each message published and not yet confirmed to the
	// message's number: the tutorial's map of outstanding confirms. settleNext waits for the next
	// confirm, at most -timeout, and records how its message ended.
	var res outcome
	outstanding := make(map[uint64]int, *window)
	returned := map[string]bool{}
	timer := time.NewTimer(*timeout)
	settleNext := func() error {
		timer.Reset(*timeout)
		select {
		case c, ok := <-confirms:
			if !ok { // the channel closed
				return why(ctx, ch, closed)
			}
			for len(returns) > 0 {
				returned[(<-returns).MessageId] = true
			}
			i := outstanding[c.DeliveryTag]
			delete(outstanding, c.DeliveryTag)
			switch id := strconv.Itoa(i); {
			case !c.Ack:
				res.nacked.add(i)
			case returned[id]:
				delete(returned, id)
				res.returned.add(i)
			default:
				res.confirmed++
			}
			return nil
		case <-timer.C:
			return fmt.Errorf("no confirm within %s", *timeout)
		case <-ctx.Done():
			return why(ctx, ch, closed)
		}
	}

	// Publish without waiting, as long as fewer than -window messages are in flight; at -window, settle
	// the next confirm first. MessageId numbers the messages: it is how we know a returned message,
	// whatever its body. The sequence number is the one the broker's confirm will carry: 1, 2, 3...
	var stopErr error
	start := time.Now()
	for i := 1; i <= *count && stopErr == nil; i++ {
		if len(outstanding) >= *window {
			if stopErr = settleNext(); stopErr != nil {
				break
			}
		}
		id := strconv.Itoa(i)
		seq := ch.GetNextPublishSeqNo()
		err := ch.PublishWithContext(ctx,
			"",     // exchange: the default exchange routes by queue name
			q.Name, // routing key
			true,   // mandatory: return the message if no queue takes it
			false,  // immediate
			amqp.Publishing{
				MessageId:   id,
				ContentType: "text/plain",
				Body:        []byte(cmp.Or(*body, id)),
			})
		if err != nil {
			stopErr = cmp.Or(why(ctx, ch, closed), fmt.Errorf("publish: %w", err))
			break
		}
		outstanding[seq] = i
		res.published++
	}
	// Then wait for the confirms still in flight. Those that never came are unconfirmed.
	for len(outstanding) > 0 && stopErr == nil {
		stopErr = settleNext()
	}
	for _, seq := range slices.Sorted(maps.Keys(outstanding)) {
		res.unconfirmed.add(outstanding[seq])
	}
	elapsed := time.Since(start)

	// Say how it went. Anything but all confirmed is an error that names the messages.
	fmt.Fprintf(stdout, "Published %s messages and handled confirms asynchronously in %s ms\n",
		thousands(res.published), thousands(int(elapsed.Milliseconds())))
	if err := res.err(*count, stopErr); err != nil {
		return err
	}
	if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// why says why publishing or waiting stopped: the channel closed (its close listener gets the reason,
// or is closed after a clean close, during the library's shutdown), Ctrl+C, the broker blocking
// publishers, or the wait's timeout.
func why(ctx context.Context, ch *amqp.Channel, closed <-chan *amqp.Error) error {
	cause := context.Cause(ctx)
	switch {
	case ch.IsClosed():
		if e, ok := <-closed; ok {
			return fmt.Errorf("connection lost or channel closed by the broker: %s", e.Reason)
		}
		return errors.New("channel closed")
	case errors.Is(cause, context.Canceled):
		return errors.New("interrupted")
	}
	return cause
}

// outcome counts how the messages ended, and names those that were not confirmed.
type outcome struct {
	published, confirmed          int
	nacked, returned, unconfirmed numbers
}

// err is nil when all count messages were confirmed, else one line: which were not, and why.
func (o outcome) err(count int, why error) error {
	if o.confirmed == count {
		return nil
	}
	var parts []string
	for _, k := range []struct {
		what string
		n    numbers
	}{{"nacked", o.nacked}, {"returned as unroutable", o.returned}, {"unconfirmed", o.unconfirmed}} {
		if k.n.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s (%s)", thousands(k.n.n), k.what, k.n))
		}
	}
	if n := count - o.published; n > 0 {
		parts = append(parts, thousands(n)+" not published")
	}
	msg := fmt.Sprintf("%s of %s messages not confirmed: %s", thousands(count-o.confirmed), thousands(count),
		strings.Join(parts, ", "))
	if why != nil {
		msg += ": " + why.Error()
	}
	return errors.New(msg)
}

// numbers counts messages and keeps the first few runs of consecutive message numbers, to name them.
type numbers struct {
	n    int
	runs [][2]int // first and last of each run, in the order added (ascending)
}

func (s *numbers) add(i int) {
	s.n++
	if k := len(s.runs); k > 0 && s.runs[k-1][1] == i-1 {
		s.runs[k-1][1] = i
	} else if k <= 5 { // five to show, and a sixth to know there are more
		s.runs = append(s.runs, [2]int{i, i})
	}
}

func (s numbers) String() string {
	var parts []string
	for k, r := range s.runs {
		switch {
		case k == 5:
			parts = append(parts, "...")
		case r[0] == r[1]:
			parts = append(parts, thousands(r[0]))
		default:
			parts = append(parts, thousands(r[0])+" to "+thousands(r[1]))
		}
	}
	return "messages " + strings.Join(parts, ", ")
}

// thousands formats n with commas, as the tutorial prints its figures: 50,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
