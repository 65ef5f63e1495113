// Command new_task puts one task in the quorum queue "retry_queue", where retries/worker picks it up:
// Work Queues' new_task, on a queue that retries what fails. Usage:
//
//	go run ./retries/new_task [-timeout 5s] [-queue retry_queue] [task words...]
//
// Each dot in the task is a second of work, each "!" at its end a failure; "poison" always fails.
// " [x] Sent <task>" means the broker confirmed that the queue holds it.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

var (
	timeout = flag.Duration("timeout", 5*time.Second, "how long to wait for the broker to confirm the task")
	queue   = flag.String("queue", "retry_queue", "the work queue, which the worker declares")
)

func main() { rabbit.Main("new_task", run) }

func run(ctx context.Context) error {
	conn, err := rabbit.Dial(rabbit.URL(), "retries/new_task")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Ask the broker to confirm each message, and listen for what can keep the ack from meaning "in the
	// queue": a return (no queue took the task), the channel's close, the broker blocking publishers.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// The task is the words after the flags ("--" ends them, so `new_task -- -h` sends "-h").
	body := cmp.Or(strings.Join(flag.Args(), " "), "Hello World!")

	// No declare here: the worker declares retry_queue with its retry arguments, and a queue declared
	// without them would never retry. Mandatory: with no such queue yet, the task comes back.
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange: the default one routes by queue name
		*queue, // routing key
		true,   // mandatory
		false,  // immediate
		amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			ContentType:  "text/plain",
			Body:         []byte(body),
		})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// Wait at most -timeout for the confirm: only an ack for a task not returned means the queue has it.
	wait, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if acked, err := dc.WaitContext(wait); !acked {
		return rabbit.Unconfirmed(err, *timeout, closed, blocked)
	} else if len(returns) > 0 {
		return fmt.Errorf("no queue took the task (%s): start a worker first, it declares %s", (<-returns).ReplyText, *queue)
	}
	fmt.Printf(" [x] Sent %s\n", body)
	return rabbit.Close(conn)
}
