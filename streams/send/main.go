// Command send publishes one message to the stream "hello-go-stream" over AMQP 0-9-1: the producer of
// the stream tutorials' "Hello World!".
//
// Usage: go run ./streams/send [-stream hello-go-stream] [-filter VALUE] [-timeout 5s] [message words...]
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

func main() { rabbit.Main("send", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("send", flag.ContinueOnError)
	stream := flags.String("stream", "hello-go-stream", "the stream to publish to")
	filter := flags.String("filter", "", "the message's filter value (x-stream-filter-value)")
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")
	if err := rabbit.Parse(flags, args, stdout, "send [-stream NAME] [-filter VALUE] [-timeout 5s] [message words...]"); err != nil {
		return err
	} else if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return err
	}

	// Connect to the broker (AMQP_URL) and open a channel, as in every tutorial.
	conn, err := rabbit.Dial("streams/send")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// Declare the stream: a queue of type stream, with the arguments the official programs' client
	// sends for MaxLengthBytes GB(2), so both share it. Past 2 GB the oldest messages go.
	q, err := ch.QueueDeclare(
		*stream, // name
		true,    // durable: a stream always is
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeStream, // arguments
			amqp.StreamMaxLenBytesArg: int64(2_000_000_000), "x-queue-leader-locator": "least-leaders"},
	)
	if err != nil {
		return rabbit.DeclareError("queue", *stream, err)
	}

	// Publish through the default exchange, as to any queue, in confirm mode, and wait for the confirm:
	// the stream has written the message (on a cluster, to a majority of its nodes).
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	p := rabbit.NewPublisher(conn, ch)
	body := cmp.Or(strings.Join(flags.Args(), " "), "Hello world")
	msg := amqp.Publishing{ContentType: "text/plain", Body: []byte(body)}
	if *filter != "" {
		msg.Headers = amqp.Table{"x-stream-filter-value": *filter}
		if !rabbit.AtLeast(conn, 3, 13) {
			fmt.Fprintf(os.Stderr, "send: RabbitMQ %s has no stream filtering (3.13 and later): the filter value is only a header\n", conn.Properties["version"])
		}
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange
		q.Name, // routing key
		true,   // mandatory: return it if the stream is gone
		false,  // immediate
		msg)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	} else if err := p.Wait(ctx, dc, "", *timeout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, " [x] '%s' Message sent\n", body)
	return rabbit.Close(conn)
}
