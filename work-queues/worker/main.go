// Command worker takes tasks from the "task_queue" queue, one at a time, and works on them.
// It is step two of the RabbitMQ tutorials ("Work Queues"): the consumer. Start several workers and the
// broker shares the tasks among them.
//
// Usage:
//
//	go run ./work-queues/worker [-prefetch 1] [-dot 1s] [-grace 20s]
//
// For each task it prints " [x] Received <task>" (" (redelivered)" added when the broker gave the task
// out before and it was not acknowledged), works one -dot per dot in the task, prints " [x] Done", and
// only then acknowledges the task. A task is never lost: if the worker dies first, the broker gives the
// task to another worker. It may be worked on twice, so tasks should be safe to repeat.
//
// Stopping:
//   - Ctrl+C (SIGINT) stops at once: the task in progress is handed back to the queue unfinished
//     (" [x] Interrupted, task requeued") for another worker. Exit status 0.
//   - SIGTERM, what service managers (systemd, Docker, Kubernetes) send to stop a program, stops taking
//     tasks and lets the task in progress finish within -grace, acknowledges it, and exits 0. If the
//     grace period runs out first, the task is handed back as with Ctrl+C.
//   - A second signal, of either kind, ends the worker at once. Nothing is lost: the broker gives the
//     unacknowledged task to another worker.
//
// If the broker closes the channel, the connection is lost, or the broker cancels the consumer (the
// queue was deleted, or, on RabbitMQ 4.3 and later, a task was held past the consumer timeout), the
// worker stops the task at once and exits 1 with the reason. The broker is taken from AMQP_URL (default
// amqp://guest:guest@localhost:5672/).
package main

import (
	"bytes"
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
	// Ctrl+C (SIGINT) cancels interrupt: stop now. SIGTERM cancels terminate: finish the task first.
	// The first signal also stops catching signals, so a second one ends the program at once.
	interrupt, stopNow := context.WithCancel(context.Background())
	terminate, finishFirst := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		signal.Stop(signals)
		if sig == syscall.SIGTERM {
			finishFirst()
		} else {
			stopNow()
		}
	}()
	if err := run(interrupt, terminate, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(interrupt, terminate context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("worker", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	prefetch := flags.Int("prefetch", 1, "how many unacknowledged tasks the broker may give this worker at once (1-65535)")
	dot := flags.Duration("dot", time.Second, "how long the work for one dot of a task takes (at most 1h)")
	grace := flags.Duration("grace", 20*time.Second, "after SIGTERM, how long the task in progress may take to finish (at most 1h)")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: worker [-prefetch 1] [-dot 1s] [-grace 20s]")
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	switch {
	case flags.NArg() > 0:
		return fmt.Errorf("worker takes no arguments (got %q)", flags.Args())
	case *prefetch < 1 || *prefetch > 65535:
		return fmt.Errorf("-prefetch must be between 1 and 65535 (got %d)", *prefetch)
	case *dot < 0 || *dot > time.Hour:
		return fmt.Errorf("-dot must be between 0 and 1h (got %s)", *dot)
	case *grace < 0 || *grace > time.Hour:
		return fmt.Errorf("-grace must be between 0 and 1h (got %s)", *grace)
	}

	// Connect and open a channel, as new_task does.
	conn, err := broker.Dial("work-queues/worker")
	if err != nil {
		return err
	}
	// amqp091-go's Close waits for the broker's answer with no time limit; CloseDeadline bounds the wait
	// (past the deadline, the library gives up at its next heartbeat: within 5 s more with the default
	// heartbeat). Closing the connection hands every task we did not acknowledge back to the queue.
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Ask to be told why the channel closes (the connection lost, the broker refusing something), and
	// when the broker cancels our consumer (its queue deleted, or a task held too long). The buffers of
	// one matter: the library waits only so long for us to take the news.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))

	// Declare the queue exactly as new_task does, since either may start first: a durable quorum queue.
	q, err := ch.QueueDeclare(
		"task_queue", // name
		true,         // durable: quorum queues always are
		false,        // delete when unused
		false,        // exclusive
		false,        // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	)
	if err != nil {
		return broker.DeclareError("queue", "task_queue", err)
	}

	// Fair dispatch. Without a limit the broker deals tasks out in turn (round-robin) as soon as they
	// arrive, however busy a worker is. With a prefetch count of 1 it gives this worker a new task only
	// once the previous one is acknowledged, so a worker stuck on a long task gets no more, and the idle
	// ones take them.
	if err := ch.Qos(
		*prefetch, // prefetch count
		0,         // prefetch size: no limit in bytes
		false,     // global: the limit applies to each consumer on this channel
	); err != nil {
		return fmt.Errorf("set prefetch count %d: %w", *prefetch, err)
	}

	// Consume with manual acknowledgements (auto-ack off): the broker keeps each task until we say it is
	// done. If this worker dies first (its channel or connection closes), the broker gives the task to
	// another worker. We name the consumer so that we can cancel it when we stop.
	const consumer = "work-queues/worker"
	msgs, err := ch.Consume(
		q.Name,   // queue
		consumer, // consumer tag
		false,    // auto-ack
		false,    // exclusive
		false,    // no-local
		false,    // no-wait
		nil,      // args
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %w", q.Name, err)
	}
	fmt.Fprintln(stdout, " [*] Waiting for messages. To exit press CTRL+C")

	// What cuts a task short: Ctrl+C at once, SIGTERM once the grace period has passed.
	hurry, cancelHurry := context.WithCancel(interrupt)
	defer cancelHurry()
	context.AfterFunc(terminate, func() { time.AfterFunc(*grace, cancelHurry) })

	// Work on one task at a time, until a signal or until the deliveries channel closes: the broker or
	// the network ended our consumer, an error to report.
	for {
		select {
		case <-interrupt.Done():
			return stopConsuming(ch, conn, consumer, nil, false)
		case <-terminate.Done():
			return stopConsuming(ch, conn, consumer, nil, false)
		case d, ok := <-msgs:
			if !ok {
				return consumerEnded(conn, q.Name, closed, cancelled)
			}
			redelivered := ""
			if d.Redelivered {
				redelivered = " (redelivered)"
			}
			fmt.Fprintf(stdout, " [x] Received %s%s\n", d.Body, redelivered)

			// Work on the task, one -dot per dot. Stop early if the broker ends our consumer: it gives
			// the task to another worker then, so finishing it would be wasted work.
			for range bytes.Count(d.Body, []byte(".")) {
				select {
				case <-time.After(*dot):
				case <-hurry.Done():
					// Stopped mid-task: hand the task back, unfinished, for another worker.
					if err := stopConsuming(ch, conn, consumer, &d, false); err != nil {
						return err
					}
					fmt.Fprintln(stdout, " [x] Interrupted, task requeued")
					return nil
				case reason := <-closed:
					return channelClosed(conn, reason)
				case _, ok := <-cancelled:
					if !ok {
						// The library closes cancelled too when the channel closes: the reason is in closed.
						return channelClosed(conn, <-closed)
					}
					return consumerCancelled(conn, q.Name)
				}
			}
			fmt.Fprintln(stdout, " [x] Done")

			// SIGTERM came during the task: acknowledge it and stop.
			if terminate.Err() != nil {
				return stopConsuming(ch, conn, consumer, &d, true)
			}
			// Acknowledge only now that the work is done: the broker deletes the task. If the ack cannot
			// be sent (the channel closed meanwhile), the broker gives the task out again.
			if err := d.Ack(
				false, // multiple: this task only
			); err != nil {
				return fmt.Errorf("acknowledge task: %w", err)
			}
		}
	}
}

// stopConsuming tells the broker to send no more tasks, settles the last task (an ack if it is done, a
// nack with requeue if not), and closes the connection. Cancelling first matters: a task handed back
// while we still consume could come straight back to us, and after an ack the broker would send the
// next one. A task handed back goes to the next worker, marked as redelivered (since RabbitMQ 4.3 a
// nack does not count towards a quorum queue's delivery limit; on 4.0 to 4.2 every return counts).
// Tasks received but not started (only with -prefetch above 1) go back when the connection closes.
func stopConsuming(ch *amqp.Channel, conn *amqp.Connection, consumer string, last *amqp.Delivery, done bool) error {
	// no-wait: the broker's answer is not worth waiting for (it may never come on a broken network).
	if err := ch.Cancel(consumer, true); err != nil {
		return fmt.Errorf("cancel consumer: %w", err)
	}
	switch {
	case last != nil && done:
		if err := last.Ack(
			false, // multiple: this task only
		); err != nil {
			return fmt.Errorf("acknowledge task: %w", err)
		}
	case last != nil:
		if err := last.Nack(
			false, // multiple: this task only
			true,  // requeue
		); err != nil {
			return fmt.Errorf("requeue unfinished task: %w", err)
		}
	}
	if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// consumerEnded says why the deliveries channel closed. The library passes on the channel's close
// reason, or the broker's cancel, before it closes the deliveries channel. When the channel closes, it
// closes cancelled too, so closed is looked at first.
func consumerEnded(conn *amqp.Connection, queue string, closed <-chan *amqp.Error, cancelled <-chan string) error {
	select {
	case reason := <-closed:
		return channelClosed(conn, reason)
	default:
	}
	select {
	case _, ok := <-cancelled:
		if ok {
			return consumerCancelled(conn, queue)
		}
		return channelClosed(conn, nil)
	default:
		return errors.New("the consumer stopped, and the broker gave no reason")
	}
}

// channelClosed tells a lost connection from a channel the broker closed (RabbitMQ before 4.3 closes
// the channel of a consumer that held a task past the consumer timeout, with a reason that says so).
func channelClosed(conn *amqp.Connection, reason *amqp.Error) error {
	if reason == nil {
		return errors.New("the channel was closed")
	}
	line, _, _ := strings.Cut(reason.Reason, "\n") // RabbitMQ 4.x explains some reasons over several lines
	if conn.IsClosed() {
		return fmt.Errorf("connection to the broker lost: %s", line)
	}
	return fmt.Errorf("the broker closed the channel: %s", line)
}

// consumerCancelled says why the broker cancelled our consumer. It does when the queue is deleted, and
// since RabbitMQ 4.3 when a quorum queue's consumer holds a task longer than the consumer timeout (30
// minutes by default); the broker then gives the task to another worker. A passive declare, on a new
// channel (a failed one closes its channel), tells the two apart. The broker cancels the consumers of a
// queue it deletes a moment before the queue is gone (tens of milliseconds), so we look for two seconds.
func consumerCancelled(conn *amqp.Connection, queue string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("the broker cancelled our consumer, and then: %w", err)
	}
	for range 20 {
		if _, err = ch.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var aerr *amqp.Error
	switch {
	case errors.As(err, &aerr) && aerr.Code == amqp.NotFound:
		return fmt.Errorf("the broker cancelled our consumer: queue %q was deleted", queue)
	case err != nil:
		return fmt.Errorf("the broker cancelled our consumer (queue %q: %w)", queue, err)
	}
	return fmt.Errorf("the broker cancelled our consumer, but queue %q is still there: a task was not "+
		"acknowledged within the broker's consumer timeout (consumer_timeout), or the queue became unavailable", queue)
}
