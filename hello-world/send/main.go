// Command send publishes one message to the queue "hello": the producer of the first RabbitMQ tutorial.
//
// Usage: go run ./hello-world/send [-timeout 5s] [message words...] (the broker: $AMQP_URL)
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

var timeout = flag.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")

func main() { rabbit.Main("send", run) }

func run(ctx context.Context) error {
	// Connect to the broker: AMQP_URL, or the guest user on localhost.
	conn, err := rabbit.Dial(rabbit.URL(), "hello-world/send")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)

	// Open a channel: most of the API lives there.
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// Declare the queue: created only if it does not exist yet.
	q, err := ch.QueueDeclare(
		"hello", // name
		true,    // durable
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	)
	if err != nil {
		return rabbit.DeclareError("queue", "hello", err)
	}

	// Publish in confirm mode, and listen for what can keep the ack from meaning "in the queue": a
	// return (no queue took the message), the channel's close, the broker blocking publishers.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))
	body := cmp.Or(strings.Join(flag.Args(), " "), "Hello World!")
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange: the default exchange routes by queue name
		q.Name, // routing key
		true,   // mandatory: if no queue takes it, return it to us
		false,  // immediate
		amqp.Publishing{ContentType: "text/plain", Body: []byte(body)})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// Wait at most -timeout for the confirm: only an ack for a message not returned means the queue has it.
	wait, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if acked, err := dc.WaitContext(wait); !acked {
		return rabbit.Unconfirmed(err, *timeout, closed, blocked)
	} else if len(returns) > 0 {
		return fmt.Errorf("no queue took the message (%s)", (<-returns).ReplyText)
	}
	fmt.Printf(" [x] Sent %s\n", body)
	return rabbit.Close(conn)
}
