// Command producer publishes the tasks 1..N to the durable quorum queue "task_queue" and does not stop
// until the broker has confirmed every one of them, whatever happens to the connection or to the node it
// is connected to. It is the producer of the Reliability tutorial: at-least-once delivery on a cluster.
//
// Usage:
//
//	go run ./reliability/producer [-count 1000] [-window 100] [-timeout 30s] [-give-up 2m]
//
// AMQP_URL may list several brokers (the nodes of a cluster), separated by commas. The producer connects
// to the first that answers; when its connection is lost it moves to the next, and publishes again every
// task that was not confirmed. Its last line says how many tasks were published, confirmed and
// republished; it exits 0 only when all N were confirmed.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
)

func main() {
	// The first Ctrl+C (or SIGTERM) cancels ctx: the producer stops and says what was not confirmed. From
	// then on the signal is not caught any more, so a second Ctrl+C ends the program at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("producer", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	count := flags.Int("count", 1000, "how many tasks to publish (1 to 10,000,000)")
	window := flags.Int("window", 100, "the most tasks published but not yet confirmed (1 to 10,000)")
	timeout := flags.Duration("timeout", 30*time.Second, "how long to wait for a confirm before giving up on a connection")
	giveUp := flags.Duration("give-up", 2*time.Minute, "how long to go on trying when no broker confirms anything")
	rate := flags.Int("rate", 0, "publish at most this many tasks a second (0: as fast as confirms allow)")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: producer [-count 1000] [-window 100] [-rate 0] [-timeout 30s] [-give-up 2m]")
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	switch {
	case flags.NArg() > 0:
		return fmt.Errorf("producer takes no arguments (got %q)", flags.Args())
	case *count < 1 || *count > 10_000_000:
		return fmt.Errorf("-count must be between 1 and 10,000,000 (got %d)", *count)
	case *window < 1 || *window > 10_000:
		return fmt.Errorf("-window must be between 1 and 10,000 (got %d)", *window)
	case *timeout <= 0 || *giveUp <= 0:
		return errors.New("-timeout and -give-up must be positive")
	case *rate < 0 || *rate > 1_000_000:
		return fmt.Errorf("-rate must be between 0 and 1,000,000 (got %d)", *rate)
	}

	// Every task gets a message id that no other task of any run has: this run's random id and the task's
	// number. A consumer that sees the same id twice knows it holds a duplicate (a task published again
	// after its confirm was lost), which a body alone could not tell.
	p := &producer{
		run:     rand.Text()[:8],
		count:   *count,
		window:  *window,
		timeout: *timeout,
		next:    1,
		stdout:  stdout,
	}
	if *rate > 0 {
		p.pace = time.NewTicker(time.Second / time.Duration(*rate))
		defer p.pace.Stop()
	}

	// The reconnect loop: connect to the next broker of the list and publish until every task is
	// confirmed or the connection fails; then start again from the next broker. Tasks that were in
	// flight when a connection failed were not confirmed, so they are published again on the next one.
	urls := strings.Split(broker.URL(), ",")
	lastProgress := time.Now()
	for attempt := 0; p.confirmed < p.count; attempt++ {
		url := strings.TrimSpace(urls[attempt%len(urls)])
		before := p.confirmed
		p.connected = false
		err := p.session(ctx, url)
		if p.confirmed > before {
			lastProgress = time.Now()
		}
		switch {
		case err == nil:
			// Every task is confirmed.
		case ctx.Err() != nil:
			return p.failed("interrupted")
		case errors.As(err, new(permanent)):
			return p.failed(err.Error())
		case time.Since(lastProgress) > *giveUp:
			return p.failed(fmt.Sprintf("no broker confirmed anything for %s (last error: %v)", *giveUp, err))
		default:
			if p.connected {
				fmt.Fprintf(stdout, " [!] Lost %s: %v\n", broker.Redact(url), err)
			} else {
				fmt.Fprintf(stdout, " [!] %v\n", err)
			}
			// After a whole round of the list without progress, pause before the next round, so that a
			// cluster that is down is not dialled in a tight loop.
			if (attempt+1)%len(urls) == 0 && p.confirmed == before {
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}
	fmt.Fprintf(stdout, " [x] Published %d tasks: %d confirmed, %d republished\n", p.count, p.confirmed, p.republished)
	return nil
}

// permanent marks a failure that another broker of the list would not cure (a wrong password, a queue
// declared with other properties...): the producer stops instead of reconnecting.
type permanent struct{ error }

// declareError is a failed queue declare: permanent, except 541 INTERNAL_ERROR, which RabbitMQ 4.3
// answers after 30 s when its metadata store has no majority (two nodes of three down): that passes
// when a node comes back, so the loop tries again.
func declareError(queue string, err error) error {
	var aerr *amqp.Error
	if errors.As(err, &aerr) && aerr.Code == amqp.InternalError {
		return broker.DeclareError("queue", queue, err)
	}
	return permanent{broker.DeclareError("queue", queue, err)}
}

// producer is what survives a connection: which tasks are still to publish or to confirm, and the counts.
type producer struct {
	run                    string
	count, window          int
	timeout                time.Duration
	next                   int   // the next task never published yet
	retry                  []int // tasks published on a lost connection, never confirmed: to publish again
	confirmed, republished int
	pace                   *time.Ticker // with -rate: one tick per publish
	connected              bool         // whether the current session got connected
	stdout                 io.Writer
}

// session publishes on one connection until every task is confirmed (nil) or the connection fails.
func (p *producer) session(ctx context.Context, url string) error {
	conn, err := broker.DialURL(url, "reliability/producer")
	if err != nil {
		var aerr *amqp.Error
		if errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused {
			return permanent{err}
		}
		return err
	}
	// A bounded close (amqp091-go's Close waits with no limit), and a broker short of memory or disk space
	// reported, as in every program of this collection.
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	p.connected = true
	fmt.Fprintf(p.stdout, " [*] Connected to %s\n", broker.Redact(url))

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// The queue as the Work Queues tutorial declares it: durable, quorum. A quorum queue keeps each
	// message on a majority of the cluster's nodes (two of three) before the broker confirms it, so a
	// confirmed task survives the loss of any one node.
	if _, err := ch.QueueDeclare(
		"task_queue", // name
		true,         // durable
		false,        // delete when unused
		false,        // exclusive
		false,        // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	); err != nil {
		return declareError("task_queue", err)
	}

	// Publisher confirms, on this channel. The sequence numbers of confirms belong to the channel: a new
	// channel starts again at 1, so what we keep across connections is the tasks, never the numbers.
	// PublishWithDeferredConfirm hands us one confirmation per message, tied to this channel: when the
	// channel closes, the library settles every pending one as not acknowledged.
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	// A mandatory task that no queue takes comes back (a return) just before its ack.
	returns := ch.NotifyReturn(make(chan amqp.Return, p.window))

	type inflight struct {
		task    int
		confirm *amqp.DeferredConfirmation
	}
	var pending []inflight
	// requeueAll puts every task in flight back to be published again: their confirms are lost with
	// the connection, and nothing tells whether the broker stored them. Publishing them again may make a
	// duplicate; not publishing them may lose them. At-least-once chooses the duplicate.
	requeueAll := func() {
		for _, f := range pending {
			p.retry = append(p.retry, f.task)
		}
		pending = nil
	}
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	for {
		// Fill the window: new tasks, and first of all the ones to publish again.
		for len(pending) < p.window && (len(p.retry) > 0 || p.next <= p.count) {
			task, again := p.next, len(p.retry) > 0
			if again {
				task = p.retry[0]
			}
			if p.pace != nil {
				select {
				case <-p.pace.C:
				case <-ctx.Done():
					requeueAll()
					return ctx.Err()
				}
			}
			confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx,
				"",           // exchange: the default exchange routes by queue name
				"task_queue", // routing key
				true,         // mandatory
				false,        // immediate
				amqp.Publishing{
					DeliveryMode: amqp.Persistent,
					MessageId:    p.run + "-" + strconv.Itoa(task),
					ContentType:  "text/plain",
					Body:         []byte(strconv.Itoa(task)),
				})
			if err != nil {
				requeueAll()
				return fmt.Errorf("publish: %w", err)
			}
			if again {
				p.retry = p.retry[1:]
				p.republished++
			} else {
				p.next++
			}
			pending = append(pending, inflight{task, confirm})
		}
		if len(pending) == 0 {
			return nil
		}

		// Wait for the oldest task's confirm, but not forever. The broker usually confirms in the order of
		// publishing, though it may not; a later task confirmed first is simply counted when its turn comes.
		timer.Reset(p.timeout)
		select {
		case <-pending[0].confirm.Done():
		case b, ok := <-blocked:
			// The library closes this channel when the connection closes.
			requeueAll()
			if !ok {
				return errors.New("connection lost")
			}
			return fmt.Errorf("the broker is blocking publishers (%s)", b.Reason)
		case <-timer.C:
			requeueAll()
			return fmt.Errorf("no confirm within %s", p.timeout)
		case <-ctx.Done():
			requeueAll()
			return ctx.Err()
		}
		done := pending[0]
		pending = pending[1:]
		if !done.confirm.Acked() {
			// A nack, or the channel closed before the confirm: the task may or may not be stored.
			p.retry = append(p.retry, done.task)
			continue
		}
		select {
		case r, ok := <-returns:
			if !ok {
				// The library closes the returns channel when the channel closes: the connection went
				// between the ack and now. The task is confirmed; the session is over.
				p.confirmed++
				requeueAll()
				return errors.New("connection lost")
			}
			return permanent{fmt.Errorf("task %s came back: no queue took it (%s): was task_queue deleted?", r.Body, r.ReplyText)}
		default:
		}
		p.confirmed++
	}
}

// failed is the error for a run that ends before every task is confirmed.
func (p *producer) failed(why string) error {
	return fmt.Errorf("%d of %d tasks not confirmed (%d republished): %s", p.count-p.confirmed, p.count, p.republished, why)
}
