// Command worker does the tasks in "task_queue" one at a time, the consumer of the RabbitMQ tutorial
// "Work Queues". Usage: go run ./work-queues/worker [-prefetch 1] [-dot 1s] [-grace 20s]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

var prefetch = flag.Int("prefetch", 1, "how many unacknowledged tasks the broker may give this worker")
var dot = flag.Duration("dot", time.Second, "how long one dot of a task takes")
var grace = flag.Duration("grace", 20*time.Second, "after SIGTERM, how long the task in progress may take")

func main() { rabbit.Main("worker", run) }

func run(ctx context.Context) error {
	conn, err := rabbit.Dial(rabbit.URL(), "work-queues/worker")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
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

	// Consume with auto-ack off: the broker keeps each task until we acknowledge it. Listen first for
	// why the deliveries may end; a third listener, told after those two, stops a task in progress.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
	ended := ch.NotifyCancel(make(chan string, 1))
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
	fmt.Println(" [*] Waiting for messages. To exit press CTRL+C")
	why := fmt.Sprintf("queue %q was deleted, or a task waited past the consumer timeout for our ack", q.Name)

	// A signal cancels our consumer, and cuts the task short: at once on Ctrl+C, -grace after SIGTERM.
	// rabbit.Main cancels ctx on both; we listen too, to tell which.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	hurry, cancel := context.WithCancel(context.Background())
	context.AfterFunc(ctx, func() {
		if ch.Cancel("worker", true) != nil || <-signals != syscall.SIGTERM {
			cancel() // at once: Ctrl+C, or the channel is closed (which ends the loop too)
		}
		time.AfterFunc(*grace, cancel) // SIGTERM: the task in progress has -grace to finish
	})

	for d := range msgs {
		if ctx.Err() != nil {
			continue // not started: back to the queue when the connection closes
		}
		fmt.Printf(" [x] Received %s%s\n", d.Body, map[bool]string{true: " (redelivered)"}[d.Redelivered])

		// Fake the work: a -dot for each dot in the task, unless the task is cut short.
		select {
		case <-time.After(time.Duration(bytes.Count(d.Body, []byte("."))) * *dot):
		case <-hurry.Done(): // hand the task back to the queue, unfinished, for another worker
			if err := d.Nack(false, true); err != nil { // multiple: this task only; requeue: yes
				return fmt.Errorf("hand the task back: %w", err)
			}
			fmt.Println(" [x] Interrupted, task requeued")
			continue
		case <-ended: // the broker cancelled our consumer, or the channel closed
			return rabbit.Ended(closed, cancelled, why)
		}
		fmt.Println(" [x] Done")

		// Acknowledge only now that the work is done: the broker deletes the task.
		if err := d.Ack(false); err != nil { // multiple: this task only
			return fmt.Errorf("acknowledge task: %w", err)
		}
	}
	if ctx.Err() != nil {
		return rabbit.Close(conn) // we cancelled the consumer
	}
	return rabbit.Ended(closed, cancelled, why)
}
