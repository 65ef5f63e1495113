// Command new_task puts one task in the quorum queue "retry_queue", where retries/worker picks it up:
// Work Queues' new_task, on a queue that retries what fails. Usage:
//
//	go run ./retries/new_task [-timeout 5s] [-queue retry_queue] [task words...]
//
// Each dot in the task is a second of work, each "!" at its end a failure; "poison" always fails.
// " [x] Sent <task>" means the broker confirmed that the queue holds it.
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
	queue := flags.String("queue", "retry_queue", "the work queue, which the worker declares")
	if err := rabbit.Parse(flags, args, stdout, "new_task [-timeout 5s] [-queue retry_queue] [task words...]"); err != nil {
		return err
	} else if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return err
	}

	conn, err := rabbit.Dial("retries/new_task")
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

	// The task is the words after the flags ("--" ends them, so `new_task -- -h` sends "-h").
	body := "Hello World!"
	if flags.NArg() > 0 {
		body = strings.Join(flags.Args(), " ")
	}

	// No declare here: the worker declares retry_queue with its retry arguments, and a queue declared
	// without them would never retry. Mandatory: with no such queue yet, the task comes back.
	id := rand.Text()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange: the default one routes by queue name
		*queue, // routing key
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
		if reason, ok := rabbit.Unroutable(err); ok {
			return fmt.Errorf("no queue took the task (%s): start a worker first, it declares %s", reason, *queue)
		}
		return err
	}
	fmt.Fprintf(stdout, " [x] Sent %s\n", body)
	return rabbit.Close(conn)
}
