// Command new_task puts one task in the queue "task_queue", where workers pick it up: the producer of
// the second RabbitMQ tutorial, "Work Queues".
//
// Usage: go run ./work-queues/new_task [-timeout 5s] [task words...] (the broker: $AMQP_URL)
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

var timeout = flag.Duration("timeout", 5*time.Second, "how long to wait for the broker to confirm the task")

func main() { rabbit.Main("new_task", run) }

func run(ctx context.Context) error {
	// Connect to the broker and open a channel, as in Hello World!.
	conn, err := rabbit.Dial(rabbit.URL(), "work-queues/new_task")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

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
	body := cmp.Or(strings.Join(flag.Args(), " "), "Hello World!")

	// Ask the broker to confirm the task, so that " [x] Sent" means it is in the queue, and listen for
	// what can keep the ack from meaning that: a return, the channel's close, the broker blocking us.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// Publish the task as persistent, as the tutorial does, with an id a worker can tell it by.
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange: the default one routes by queue name
		q.Name, // routing key
		true,   // mandatory: if no queue takes it, return it to us
		false,  // immediate
		amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			ContentType:  "text/plain",
			MessageId:    rand.Text(),
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
		return fmt.Errorf("no queue took the task (%s)", (<-returns).ReplyText)
	}
	fmt.Printf(" [x] Sent %s\n", body)
	return rabbit.Close(conn)
}
