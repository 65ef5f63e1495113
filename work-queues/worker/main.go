// Command worker takes tasks from the "task_queue" queue, one at a time, and works on them.
// It is step two of the RabbitMQ tutorials ("Work Queues"): the consumer. Start several workers and the
// broker shares the tasks among them.
//
// Usage:
//
//	go run ./work-queues/worker [-prefetch 1] [-dot 1s]
//
// For each task it prints " [x] Received <task>" (with " (redelivered)" when the broker had given the
// task to a worker before, which did not acknowledge it), works for one -dot per dot in the task,
// prints " [x] Done" and only then acknowledges the task. A worker that dies mid-task never
// acknowledges it, so the broker gives it to another worker: no task is lost.
//
// Ctrl+C (or SIGTERM) stops the worker at once, exiting 0. A task in progress is not finished: the
// worker prints " [x] Interrupted, task requeued", hands the task back to the broker (a negative
// acknowledgement with requeue), and closes its channel, which also returns any task received but not
// started (with -prefetch above 1). Another worker, or this one started again, receives it marked as a
// redelivery. So a task is acknowledged only when done, and never lost; it may be worked on twice,
// which is why tasks should be safe to repeat.
//
// If the broker closes the channel under it (broker stopped, connection lost), or cancels its consumer
// (queue deleted), the worker exits 1 with the reason. When the channel closes mid-task, the task is
// dropped at once, not finished: the worker could not acknowledge it any more, and the broker gives it
// to another worker.
//
// The broker is taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
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
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
)

func main() {
	// Ctrl+C (SIGINT) or SIGTERM cancels ctx: the worker stops consuming and leaves.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("worker", flag.ContinueOnError)
	var usage bytes.Buffer
	flags.SetOutput(&usage)
	prefetch := flags.Int("prefetch", 1, "how many unacknowledged tasks the broker may give this worker at once")
	dot := flags.Duration("dot", time.Second, "how long the work for one dot of a task takes")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, "Usage: worker [-prefetch N] [-dot DURATION]\n")
			flags.SetOutput(stdout)
			flags.PrintDefaults()
			return nil
		}
		return err
	}
	switch {
	case flags.NArg() > 0:
		return fmt.Errorf("worker takes no arguments (got %q)", flags.Args())
	case *prefetch < 1 || *prefetch > 65535:
		return fmt.Errorf("-prefetch must be between 1 and 65535 (got %d)", *prefetch)
	case *dot < 0:
		return fmt.Errorf("-dot must not be negative (got %s)", *dot)
	}

	// region connect
	// Connect and open a channel, as new_task does.
	conn, err := broker.Dial("work-queues/worker")
	if err != nil {
		return err
	}
	defer conn.Close()

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	// Closing the channel returns to the queue every task it received and did not acknowledge.
	defer ch.Close()

	// Ask to be told why the channel closes, if it does (the broker stopping, the connection lost).
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	// endregion connect

	// region declare
	// Declare the queue exactly as new_task does (durable), since either may start first.
	q, err := ch.QueueDeclare(
		"task_queue", // name
		true,         // durable
		false,        // delete when unused
		false,        // exclusive
		false,        // no-wait
		nil,          // arguments
	)
	if err != nil {
		return broker.DeclareError("queue", "task_queue", err)
	}
	// endregion declare

	// region qos
	// Fair dispatch: without a limit the broker deals tasks out in turn (round-robin) as soon as they
	// arrive, however busy a worker is. With a prefetch count of 1 it gives this worker a new task
	// only once the previous one is acknowledged, so a worker stuck on a long task gets no more and
	// the others take them.
	if err := ch.Qos(
		*prefetch, // prefetch count
		0,         // prefetch size: no limit in bytes
		false,     // global: the limit applies to each consumer on this channel
	); err != nil {
		return fmt.Errorf("set prefetch count %d: %w", *prefetch, err)
	}
	// endregion qos

	// region consume
	// Consume with manual acknowledgements (auto-ack off): the broker keeps each task until we say it
	// is done. If this worker dies first (its channel or connection closes), the broker gives the task
	// to another worker. The consumer tag names this worker so we can cancel it on exit.
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
	// endregion consume

	// region loop
	// Work on one task at a time, until we are told to stop or the deliveries channel closes (an
	// error: the broker or the network ended our channel).
	for {
		select {
		case <-ctx.Done():
			return stopConsuming(ch, conn, consumer, nil)
		case d, ok := <-msgs:
			if !ok {
				return closedError(closed)
			}
			redelivered := ""
			if d.Redelivered {
				redelivered = " (redelivered)"
			}
			fmt.Fprintf(stdout, " [x] Received %s%s\n", d.Body, redelivered)

			if err := work(ctx, closed, d.Body, *dot); errors.Is(err, context.Canceled) {
				// Told to stop mid-task: hand the task back, unfinished, for another worker.
				if err := stopConsuming(ch, conn, consumer, &d); err != nil {
					return err
				}
				fmt.Fprintln(stdout, " [x] Interrupted, task requeued")
				return nil
			} else if err != nil {
				// The channel closed mid-task: we could not acknowledge the task any more, and the
				// broker gives it to another worker, so there is no point finishing it.
				return err
			}
			fmt.Fprintln(stdout, " [x] Done")

			// Acknowledge only now that the work is done: the broker deletes the task. An ack that
			// fails (the channel closed meanwhile) means the broker will give the task out again.
			if err := d.Ack(
				false, // multiple: this task only
			); err != nil {
				return fmt.Errorf("acknowledge task: %w", err)
			}
		}
	}
	// endregion loop
}

// region work
// work stands for a real, time-consuming task: one dot of work per dot in the body. It stops early
// when ctx is cancelled (returning ctx's error), or when the channel closes (returning why).
func work(ctx context.Context, closed <-chan *amqp.Error, body []byte, dot time.Duration) error {
	timer := time.NewTimer(time.Duration(bytes.Count(body, []byte("."))) * dot)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case reason, ok := <-closed:
		return lostError(reason, ok)
	case <-timer.C:
		return nil
	}
}

// endregion work

// region stop
// stopConsuming tells the broker to send no more tasks, hands an unfinished task back (a negative
// acknowledgement with requeue: the broker gives it to the next worker, marked as redelivered), then
// closes the channel and the connection. Tasks received but not started (only possible with -prefetch
// above 1) go back to the queue when the channel closes. Cancelling first matters: a task handed back
// while we still consume could come straight back to us.
func stopConsuming(ch *amqp.Channel, conn *amqp.Connection, consumer string, unfinished *amqp.Delivery) error {
	if err := ch.Cancel(
		consumer, // consumer tag
		false,    // no-wait
	); err != nil {
		return fmt.Errorf("cancel consumer: %w", err)
	}
	if unfinished != nil {
		if err := unfinished.Nack(
			false, // multiple: this task only
			true,  // requeue
		); err != nil {
			return fmt.Errorf("requeue unfinished task: %w", err)
		}
	}
	if err := conn.Close(); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// endregion stop

// closedError says why the deliveries channel closed. When the channel itself was closed, the library
// has already put the reason in closed; when it is still open, the broker cancelled our consumer (for
// example, the queue was deleted).
func closedError(closed <-chan *amqp.Error) error {
	select {
	case reason, ok := <-closed:
		return lostError(reason, ok)
	default:
		return errors.New("the broker cancelled the consumer: was the queue deleted?")
	}
}

// lostError is the error for a channel that closed, with the broker's reason when there is one.
func lostError(reason *amqp.Error, ok bool) error {
	if ok && reason != nil {
		return fmt.Errorf("connection to broker lost: %s", reason.Reason)
	}
	return errors.New("connection to broker lost: the channel was closed")
}
