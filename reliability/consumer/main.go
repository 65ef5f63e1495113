// Command consumer works on the tasks of the durable quorum queue "task_queue", acknowledging each only
// once it is done, and goes on through lost connections and dead nodes. It is the consumer of the
// Reliability tutorial: at-least-once delivery on a cluster.
//
// Usage:
//
//	go run ./reliability/consumer [-work 100ms] [-prefetch 1] [-fail TASK]
//
// AMQP_URL may list several brokers (the nodes of a cluster), separated by commas; when the connection is
// lost, the consumer moves to the next. For each task it prints " [x] Done <task>", marked
// "(redelivered)" when the broker had given it out before, and "(duplicate)" when this consumer had
// already done a task with the same message id (its work is not run again). A task named by -fail always
// fails, and is rejected with requeue each time: past the quorum queue's delivery limit (20 unless set,
// since RabbitMQ 4.0; none on 3.x unless set), the broker moves it to the dead-letter queue where the
// queue has one, or drops it. Ctrl+C (or
// SIGTERM) stops it with exit status 0 and a summary line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
)

func main() {
	// The first Ctrl+C (or SIGTERM) cancels ctx: the consumer hands back the task in progress and stops.
	// From then on the signal is not caught any more, so a second Ctrl+C ends the program at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("consumer", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	work := flags.Duration("work", 100*time.Millisecond, "how long one task takes (0 to 1h)")
	prefetch := flags.Int("prefetch", 1, "how many unacknowledged tasks the broker may give this consumer (1 to 1000)")
	fail := flags.String("fail", "", "a task that always fails (for the dead-letter queue)")
	giveUp := flags.Duration("give-up", 2*time.Minute, "how long to go on trying when no broker answers")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: consumer [-work 100ms] [-prefetch 1] [-fail TASK] [-give-up 2m]")
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	switch {
	case flags.NArg() > 0:
		return fmt.Errorf("consumer takes no arguments (got %q)", flags.Args())
	case *work < 0 || *work > time.Hour:
		return fmt.Errorf("-work must be between 0 and 1h (got %s)", *work)
	case *prefetch < 1 || *prefetch > 1000:
		return fmt.Errorf("-prefetch must be between 1 and 1000 (got %d)", *prefetch)
	case *giveUp <= 0:
		return errors.New("-give-up must be positive")
	}
	c := &consumer{work: *work, prefetch: *prefetch, fail: *fail, done: map[string]bool{}, stdout: stdout}

	// The reconnect loop: consume from the next broker of the list until Ctrl+C or the connection
	// fails. Deliveries belong to the channel they came on: when it is gone, so are their delivery tags,
	// and the broker gives their tasks out again. So a new connection starts from nothing but what this
	// consumer remembers: the message ids of the tasks it has done.
	urls := strings.Split(broker.URL(), ",")
	lastUp := time.Now()
	for attempt := 0; ; attempt++ {
		url := strings.TrimSpace(urls[attempt%len(urls)])
		err := c.session(ctx, url)
		wasConnected := c.connected
		if c.connected {
			lastUp, c.connected = time.Now(), false
		}
		switch {
		case ctx.Err() != nil:
			fmt.Fprintf(stdout, " [x] Stopped: %d tasks done, %d redelivered, %d duplicates\n", c.tasks, c.redelivered, c.duplicates)
			return nil
		case errors.As(err, new(permanent)):
			return err
		case time.Since(lastUp) > *giveUp:
			return fmt.Errorf("no broker for %s (last error: %v)", *giveUp, err)
		}
		if wasConnected {
			fmt.Fprintf(stdout, " [!] Lost %s: %v\n", broker.Redact(url), err)
		} else {
			fmt.Fprintf(stdout, " [!] %v\n", err)
		}
		if (attempt+1)%len(urls) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// consumer is what survives a connection: the ids of the tasks done, and the counts.
type consumer struct {
	work                           time.Duration
	prefetch                       int
	fail                           string
	done                           map[string]bool // message ids of the tasks done
	tasks, redelivered, duplicates int
	connected, waiting             bool
	stdout                         io.Writer
}

// permanent marks a failure that another broker of the list would not cure.
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

// session consumes on one connection until ctx is cancelled (nil) or the connection fails.
func (c *consumer) session(ctx context.Context, url string) error {
	conn, err := broker.DialURL(url, "reliability/consumer")
	if err != nil {
		var aerr *amqp.Error
		if errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused {
			return permanent{err}
		}
		return err
	}
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()
	c.connected = true
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))

	// Declare the queue as the producer does: either may start first.
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

	// The dead-letter queue: where a policy on the cluster (scripts/cluster.sh) sends a task that was
	// handed back more times than the delivery limit, instead of dropping it.
	if _, err := ch.QueueDeclare(
		"task_queue.dead", // name
		true,              // durable
		false,             // delete when unused
		false,             // exclusive
		false,             // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	); err != nil {
		return declareError("task_queue.dead", err)
	}

	// At most -prefetch tasks unacknowledged at a time, and manual acknowledgements: the broker keeps
	// each task until we say it is done, and gives the unacknowledged ones to another consumer when this
	// channel closes, whatever the reason.
	if err := ch.Qos(
		c.prefetch, // prefetch count
		0,          // prefetch size
		false,      // global: per consumer, the only kind of limit a quorum queue supports
	); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	msgs, err := ch.Consume(
		"task_queue", // queue
		"",           // consumer tag
		false,        // auto-ack: no, we acknowledge each task once it is done
		false,        // exclusive
		false,        // no-local
		false,        // no-wait
		nil,          // args
	)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}

	// The first time, the tutorial's line; after a reconnect, which broker we consume from now.
	if !c.waiting {
		fmt.Fprintln(c.stdout, " [*] Waiting for messages. To exit press CTRL+C")
		c.waiting = true
	} else {
		fmt.Fprintf(c.stdout, " [*] Consuming again, from %s\n", broker.Redact(url))
	}

	// One task at a time, until Ctrl+C or until the deliveries channel closes: the connection or the
	// channel is gone, or the broker cancelled our consumer (the queue was deleted, say), and the
	// reconnect loop takes over.
	for {
		var d amqp.Delivery
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case d, ok = <-msgs:
		}
		if !ok {
			return lost(closed)
		}

		// A task this consumer has done before came back: its ack was lost with a connection, or the
		// producer published it again because its confirm was lost. Its work is not run again: the
		// message id says it is the same task.
		if c.done[d.MessageId] {
			c.duplicates++
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("acknowledge: %w", err)
			}
			fmt.Fprintf(c.stdout, " [x] Done %s (duplicate)\n", d.Body)
			continue
		}

		// Work on the task. If the channel closes meanwhile, stop: its delivery tag died with the channel,
		// so no ack could reach the broker, which gives the task to another consumer.
		timer := time.NewTimer(c.work)
		select {
		case <-ctx.Done():
			timer.Stop()
			// Hand the task back: the broker gives it to another consumer, marked redelivered.
			if err := d.Nack(false, true); err != nil {
				return fmt.Errorf("hand back task %s: %w", d.Body, err)
			}
			return nil
		case <-closed:
			timer.Stop()
			return fmt.Errorf("the channel closed during task %s", d.Body)
		case <-timer.C:
		}
		if c.fail != "" && string(d.Body) == c.fail {
			// A task that fails goes back to the queue: a reject with requeue. A quorum queue counts such
			// returns; past its delivery limit (20 by default since RabbitMQ 4.0, none on 3.x unless set)
			// it dead-letters the task, or drops it where no dead-letter target is set. Reject, not Nack:
			// since RabbitMQ 4.3 a nack with requeue no longer counts against the limit (it means "not
			// now", not "failed"), and the task would come back forever.
			if err := d.Reject(true); err != nil {
				return fmt.Errorf("hand back task %s: %w", d.Body, err)
			}
			fmt.Fprintf(c.stdout, " [!] Failed %s (delivery %v), handed back\n", d.Body, deliveryCount(d)+1)
			continue
		}

		// Only now that the work is done: remember it, then acknowledge it on the channel it came on (a
		// delivery carries its channel: d.Ack never acks on another one). If the ack fails, the broker
		// gives the task out again, and the id we remember makes it a duplicate, not a second run.
		c.done[d.MessageId] = true
		c.tasks++
		mark := ""
		if d.Redelivered {
			c.redelivered++
			mark = " (redelivered)"
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("acknowledge task %s: %w", d.Body, err)
		}
		fmt.Fprintf(c.stdout, " [x] Done %s%s\n", d.Body, mark)
	}
}

// deliveryCount is how many times the message came back to the quorum queue before this delivery: its
// x-delivery-count header, which RabbitMQ adds from the second delivery on (0 without it). Up to 4.2 it
// counts every return; 4.3 counts only failed deliveries there (a reject with requeue, a lost
// connection), and every return in x-acquired-count.
func deliveryCount(d amqp.Delivery) int64 {
	n, _ := d.Headers["x-delivery-count"].(int64)
	return n
}

// lost says why the deliveries channel closed: the channel's close reason, or a consumer cancelled by the
// broker (the queue deleted or, from RabbitMQ 4.3 on, a task held past the consumer timeout; a quorum
// queue that loses its leader keeps its consumers).
func lost(closed <-chan *amqp.Error) error {
	select {
	case reason, ok := <-closed:
		if ok && reason != nil {
			return fmt.Errorf("connection lost: %w", reason)
		}
		return errors.New("connection lost")
	default:
		return errors.New("the broker cancelled the consumer")
	}
}
