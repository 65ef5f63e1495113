// Command worker does the tasks in "task_queue" one at a time, the consumer of the RabbitMQ tutorial
// "Work Queues". Usage: go run ./work-queues/worker [-prefetch 1] [-dot 1s] [-grace 20s]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

func main() { rabbit.Main("worker", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("worker", flag.ContinueOnError)
	prefetch := flags.Int("prefetch", 1, "how many unacknowledged tasks the broker may give this worker (1-65535)")
	dot := flags.Duration("dot", time.Second, "how long one dot of a task takes (at most 1h)")
	grace := flags.Duration("grace", 20*time.Second, "after SIGTERM, how long the task in progress may take (at most 1h)")
	if err := rabbit.Parse(flags, args, stdout, "worker [-prefetch 1] [-dot 1s] [-grace 20s]"); err != nil {
		return err
	} else if err := errors.Join(rabbit.NoArgs(flags), rabbit.Within("prefetch", *prefetch, 1, 65535),
		rabbit.Within("dot", *dot, 0, time.Hour), rabbit.Within("grace", *grace, 0, time.Hour)); err != nil {
		return err
	}

	conn, err := rabbit.Dial("work-queues/worker")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Declare task_queue exactly as new_task does: a durable quorum queue.
	q, err := ch.QueueDeclare(
		"task_queue", // name
		true,         // durable
		false,        // delete when unused
		false,        // exclusive
		false,        // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	)
	if err != nil {
		return rabbit.DeclareError("queue", "task_queue", err)
	}

	// Fair dispatch: no new task for this worker until it has acknowledged the one it has.
	if err := ch.Qos(
		*prefetch, // prefetch count
		0,         // prefetch size: no limit in bytes
		false,     // global: no, a count for each consumer
	); err != nil {
		return fmt.Errorf("set prefetch count: %w", err)
	}

	// Consume with auto-ack off: the broker keeps each task until we acknowledge it.
	consumer := rabbit.NewConsumer(conn, ch, q.Name)
	msgs, err := ch.Consume(
		q.Name,   // queue
		"worker", // consumer tag
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

	// A signal cancels our consumer, and cuts the task short: at once on Ctrl+C, -grace after SIGTERM.
	hurry, cancel := context.WithCancel(context.Background())
	context.AfterFunc(ctx, func() {
		if ch.Cancel("worker", true) != nil || rabbit.Signal(ctx) != syscall.SIGTERM {
			cancel() // at once: Ctrl+C, or the channel is closed (which ends the loop too)
		}
		time.AfterFunc(*grace, cancel) // SIGTERM: the task in progress has -grace to finish
	})

	for d := range msgs {
		if ctx.Err() != nil {
			continue // not started: back to the queue when the connection closes
		}
		fmt.Fprintf(stdout, " [x] Received %s%s\n", d.Body, map[bool]string{true: " (redelivered)"}[d.Redelivered])

		// Fake the work: a -dot for each dot in the task, unless the task is cut short.
		select {
		case <-time.After(time.Duration(bytes.Count(d.Body, []byte("."))) * *dot):
		case <-hurry.Done(): // hand the task back to the queue, unfinished, for another worker
			if err := d.Nack(false, true); err != nil { // multiple: this task only; requeue: yes
				return fmt.Errorf("hand the task back: %w", err)
			}
			fmt.Fprintln(stdout, " [x] Interrupted, task requeued")
			continue
		case <-consumer.Done(): // the broker ended our consumer, or the channel closed
			return consumer.Ended()
		}
		fmt.Fprintln(stdout, " [x] Done")

		// Acknowledge only now that the work is done: the broker deletes the task.
		if err := d.Ack(false); err != nil { // multiple: this task only
			return fmt.Errorf("acknowledge task: %w", err)
		}
	}
	if ctx.Err() != nil {
		return rabbit.Close(conn) // we cancelled the consumer
	}
	return consumer.Ended()
}
