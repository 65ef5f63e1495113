// Command new_task puts one task in the "task_queue" queue, where workers pick it up: the producer of
// the RabbitMQ tutorials' second step, "Work Queues".
//
// Usage:
//
//	go run ./work-queues/new_task [-timeout 5s] [task words...]
//
// The task is "Hello World!" unless words are given; each dot in it is a second of a worker's work.
// " [x] Sent <task>" means the broker confirmed that task_queue holds it; else new_task exits 1 saying why.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("new_task", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("new_task", flag.ContinueOnError)
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker to confirm the task (at most 1h)")
	if err := rabbit.Parse(flags, args, stdout, "new_task [-timeout 5s] [task words...]"); err != nil {
		return err
	}
	if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return err
	}

	// Connect to the broker and open a channel, as in Hello World!.
	conn, err := rabbit.Dial("work-queues/new_task")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Ask the broker to confirm each message, so that " [x] Sent" means the task is in the queue.
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	p := rabbit.NewPublisher(conn, ch)

	// Message durability: task_queue must survive a broker restart. A quorum queue is always durable
	// and keeps its messages on disk. The worker declares it the same way: either may start first.
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

	// The task is the words after the flags ("--" ends them, so `new_task -- -h` sends "-h").
	body := "Hello World!"
	if flags.NArg() > 0 {
		body = strings.Join(flags.Args(), " ")
	}

	// Publish the task as persistent, as the tutorial does. Mandatory: a task no queue takes comes
	// back, told by its message id.
	id := rand.Text()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange: the default one routes by queue name
		q.Name, // routing key
		true,   // mandatory
		false,  // immediate
		amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			ContentType:  "text/plain",
			MessageId:    id,
			Body:         []byte(body),
		})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := p.Wait(ctx, dc, id, *timeout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, " [x] Sent %s\n", body)
	return rabbit.Close(conn)
}
