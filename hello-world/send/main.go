// Command send publishes one message to the queue "hello": the producer of the first RabbitMQ tutorial.
//
// Usage: go run ./hello-world/send [-timeout 5s] [message words...] (the broker: $AMQP_URL)
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

func main() { rabbit.Main("send", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("send", flag.ContinueOnError)
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")
	if err := rabbit.Parse(flags, args, stdout, "send [-timeout 5s] [message words...]"); err != nil {
		return err
	} else if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return err
	}

	// Connect to the broker: AMQP_URL, or the guest user on localhost.
	conn, err := rabbit.Dial("hello-world/send")
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

	// Publish in confirm mode to the default exchange (""), which routes to the queue the key names.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	p := rabbit.NewPublisher(conn, ch)
	body := cmp.Or(strings.Join(flags.Args(), " "), "Hello World!")
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange
		q.Name, // routing key
		true,   // mandatory: if no queue takes it, return it to us
		false,  // immediate
		amqp.Publishing{ContentType: "text/plain", Body: []byte(body)})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// Wait for the broker's confirm: only an ack for a message not returned means it is in the queue.
	if err := p.Wait(ctx, dc, "", *timeout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, " [x] Sent %s\n", body)
	return rabbit.Close(conn)
}
