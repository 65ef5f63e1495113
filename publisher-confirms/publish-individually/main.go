// Command publish-individually publishes messages with publisher confirms, waiting for the broker to
// confirm each message before it publishes the next.
// It is strategy 1 of the RabbitMQ tutorial "Publisher Confirms": the simplest, and the slowest, since
// every message costs a full round trip to the broker (a few hundred to a few thousand messages a second).
//
// Usage:
//
//	go run ./publisher-confirms/publish-individually [-count 50000] [-timeout 60s] [-queue NAME]
//
// Without -queue, it publishes to a fresh server-named exclusive queue, as the tutorial does; with -queue,
// to that existing queue as it is (its length limit, overflow behaviour and other arguments stay in
// force). Every message ends confirmed, nacked, returned (unroutable) or unconfirmed (no confirm within
// -timeout, connection lost, Ctrl+C); anything but all confirmed is reported and the exit status is 1.
// The broker is taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
package main

import (
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
	// Ctrl+C (SIGINT) or SIGTERM cancels ctx: publishing stops and what was not confirmed is reported.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "publish-individually:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("publish-individually", flag.ContinueOnError)
	count := flags.Int("count", 50000, "how many messages to publish")
	// A busy broker may take seconds to confirm. The default is well above the connection heartbeat:
	// amqp091-go gives up on a silent connection after three heartbeat intervals (3 x 10s), and it is
	// better told as "connection lost" than as a confirm timeout.
	timeout := flags.Duration("timeout", 60*time.Second, "how long to wait for the next confirm")
	queue := flags.String("queue", "", "publish to this existing queue (default: a fresh exclusive queue)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *count < 1 || *timeout <= 0 {
		return errors.New("-count must be at least 1, -timeout positive")
	}

	// region connect
	conn, err := broker.Dial("publisher-confirms/publish-individually")
	if err != nil {
		return err
	}
	defer conn.Close()

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	// endregion connect

	// region declare
	// Without -queue, a queue of our own: server-named and exclusive, so it goes away with the connection.
	// With -queue, a passive declare only checks that the queue is there: it changes nothing about it.
	var q amqp.Queue
	if *queue == "" {
		q, err = ch.QueueDeclare(
			"",    // name: let the broker choose one
			false, // durable
			false, // delete when unused
			true,  // exclusive
			false, // no-wait
			nil,   // arguments
		)
	} else {
		q, err = ch.QueueDeclarePassive(
			*queue, // name
			false,  // durable
			false,  // delete when unused
			false,  // exclusive
			false,  // no-wait
			nil,    // arguments
		)
	}
	if err != nil {
		return broker.DeclareError("queue", *queue, err)
	}
	// endregion declare

	// region enable-confirms
	// Put the channel in confirm mode: from now on the broker confirms every message published on it,
	// with an ack once it has taken responsibility for the message (enqueued it; for a durable message
	// on a durable queue, written it to disk) or a nack when it could not (a full queue that rejects
	// publishes, an internal error).
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}

	// The client library delivers the broker's confirms on a Go channel. The broker may ack many
	// messages at once (multiple=true); amqp091-go splits such an ack into one Confirmation per
	// message, in publishing order, so each Confirmation settles exactly one sequence number.
	//
	// The library's reader goroutine blocks while this channel is full, and with it every frame the
	// broker sends on the connection: a listener channel nobody drains can deadlock the connection.
	// Here one message at most is unconfirmed, so a buffer of one never fills.
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))

	// mandatory=true asks the broker to return a message that no queue takes (the queue was deleted);
	// it then acks it anyway, so a return is how we tell "confirmed" from "confirmed but dropped".
	// The broker sends the return before the ack. Same buffer argument as above.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))

	// Why the channel closed, when it does (connection lost, or the broker closed it).
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	// endregion enable-confirms

	// region track
	// outstanding maps the sequence number of the message waiting for its confirm to its body: one
	// entry at most here, but the same bookkeeping as the batch and async strategies.
	outstanding := make(map[uint64]string, 1)
	returned := map[string]bool{}
	var tally outcome

	// settle records the broker's confirm for one sequence number.
	settle := func(c amqp.Confirmation) {
		// Returns come before their ack: take any that arrived, so the ack below is judged right.
		// (A closed channel never blocks a receive: stop at the first zero value it gives.)
		for drained := false; !drained; {
			select {
			case r, ok := <-returns:
				if ok {
					returned[string(r.Body)] = true
				} else {
					drained = true
				}
			default:
				drained = true
			}
		}
		body, ok := outstanding[c.DeliveryTag]
		if !ok {
			return // not one of ours (cannot happen on a channel only this loop publishes on)
		}
		delete(outstanding, c.DeliveryTag)
		switch {
		case !c.Ack:
			tally.nacked.add(body)
		case returned[body]:
			delete(returned, body)
			tally.returned.add(body)
		default:
			tally.confirmed.add(body)
		}
	}

	// waitOne waits for the next confirm (or a reason to stop waiting) and settles it. A closed
	// confirms channel means the channel is gone: it is an error, never a success.
	waitOne := func(timer *time.Timer) error {
		timer.Reset(*timeout)
		select {
		case c, ok := <-confirms:
			if !ok {
				return closeReason(closed)
			}
			settle(c)
			return nil
		case <-timer.C:
			return fmt.Errorf("no confirm within %s", *timeout)
		case <-ctx.Done():
			return errors.New("interrupted")
		}
	}
	// endregion track

	// region publish
	// Publish one message, then wait for its confirm before publishing the next.
	timer := time.NewTimer(*timeout)
	defer timer.Stop()
	var stopErr error
	start := time.Now()
	for i := 1; i <= *count && stopErr == nil; i++ {
		body := strconv.Itoa(i)
		// The sequence number the broker will confirm this message with: 1, 2, 3... on this channel.
		seq := ch.GetNextPublishSeqNo()
		err := ch.PublishWithContext(ctx,
			"",     // exchange: the default exchange routes by queue name
			q.Name, // routing key
			true,   // mandatory: return the message if no queue takes it
			false,  // immediate
			amqp.Publishing{
				ContentType: "text/plain",
				Body:        []byte(body),
			})
		if err != nil {
			switch {
			case ctx.Err() != nil:
				stopErr = errors.New("interrupted")
			case errors.Is(err, amqp.ErrClosed):
				stopErr = closeReason(closed)
			default:
				stopErr = fmt.Errorf("publish: %w", err)
			}
			break
		}
		outstanding[seq] = body
		tally.published++

		// Wait for this message's confirm.
		for stopErr == nil && len(outstanding) > 0 {
			stopErr = waitOne(timer)
		}
	}
	elapsed := time.Since(start)
	// endregion publish

	// region report
	// Whatever is still outstanding was never confirmed: say so, by message.
	for _, seq := range slices.Sorted(maps.Keys(outstanding)) {
		tally.unconfirmed.add(outstanding[seq])
	}
	tally.notPublished = *count - tally.published
	fmt.Fprintf(stdout, "Published %s messages individually in %s ms (%s msg/s)\n",
		thousands(tally.published), thousands(int(elapsed.Milliseconds())), thousands(rate(tally.published, elapsed)))
	if err := tally.err(*count, stopErr); err != nil {
		return err
	}
	// endregion report

	if err := conn.Close(); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// closeReason says why the channel closed, once the library has closed the confirms channel or
// refused a publish with ErrClosed: the channel is shutting down, and the close listener gets the
// broker's reason (or is closed, after a clean close) before the shutdown ends.
func closeReason(closed <-chan *amqp.Error) error {
	if e, ok := <-closed; ok && e != nil {
		return fmt.Errorf("channel closed by the broker or connection lost: %s", e.Reason)
	}
	return errors.New("channel closed before every message was confirmed")
}

// outcome counts how the messages ended, and keeps the first few bodies of each kind to show.
type outcome struct {
	published                                int
	confirmed, nacked, returned, unconfirmed messages
	notPublished                             int
}

type messages struct {
	n     int
	first []string
}

func (m *messages) add(body string) {
	m.n++
	if len(m.first) < 5 {
		m.first = append(m.first, body)
	}
}

func (m messages) String() string {
	s := strings.Join(m.first, ", ")
	if m.n > len(m.first) {
		s += ", ..."
	}
	return s
}

// err is nil when all count messages were confirmed, else one line: what went wrong, and which messages.
func (o outcome) err(count int, stopErr error) error {
	if o.confirmed.n == count {
		return nil
	}
	var parts []string
	for _, k := range []struct {
		what string
		m    messages
	}{{"nacked", o.nacked}, {"returned as unroutable", o.returned}, {"unconfirmed", o.unconfirmed}} {
		if k.m.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s (messages %s)", thousands(k.m.n), k.what, k.m))
		}
	}
	if o.notPublished > 0 {
		parts = append(parts, thousands(o.notPublished)+" not published")
	}
	msg := fmt.Sprintf("%s of %s messages not confirmed: %s", thousands(count-o.confirmed.n), thousands(count),
		strings.Join(parts, ", "))
	if stopErr != nil {
		msg += ": " + stopErr.Error()
	}
	return errors.New(msg)
}

func rate(n int, d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(float64(n) / d.Seconds())
}

// thousands formats n with commas, as the tutorial prints its figures: 50,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
