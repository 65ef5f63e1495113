// Command send publishes one message to the stream "hello-go-stream" over AMQP 0-9-1: the producer of
// the stream tutorials' "Hello World!".
// Usage: go run ./streams/send [-stream hello-go-stream] [-filter VALUE] [-timeout 5s] [message words...]
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	stream  = flag.String("stream", "hello-go-stream", "the stream to publish to")
	filter  = flag.String("filter", "", "the message's filter value (x-stream-filter-value)")
	timeout = flag.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")
)

func main() { rabbit.Main("send", run) }

func run(ctx context.Context) error {
	// Connect to the broker (AMQP_URL) and open a channel, as in every tutorial.
	conn, err := rabbit.Dial(rabbit.URL(), "streams/send")
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
	if _, err := ch.QueueDeclare(
		*stream, // name
		true,    // durable: a stream always is
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeStream, // arguments
			amqp.StreamMaxLenBytesArg: int64(2_000_000_000), "x-queue-leader-locator": "least-leaders"},
	); err != nil {
		return rabbit.DeclareError("queue", *stream, err)
	}

	// Publish through the default exchange, as to any queue, in confirm mode, and wait for the confirm:
	// the stream has written the message (on a cluster, to a majority of its nodes).
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))
	msg := amqp.Publishing{ContentType: "text/plain", Body: []byte(cmp.Or(strings.Join(flag.Args(), " "), "Hello world"))}
	if *filter != "" {
		msg.Headers = amqp.Table{"x-stream-filter-value": *filter}
		var major, minor int // the broker's version, from the properties it sent when we connected
		if _, err := fmt.Sscanf(fmt.Sprint(conn.Properties["version"]), "%d.%d", &major, &minor); err != nil || major == 3 && minor < 13 {
			fmt.Fprintf(os.Stderr, "send: RabbitMQ %v has no stream filtering (3.13 and later): the filter value is only a header\n", conn.Properties["version"])
		}
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",      // exchange
		*stream, // routing key
		true,    // mandatory: return it if the stream is gone
		false,   // immediate
		msg)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	wait, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if acked, err := dc.WaitContext(wait); !acked {
		return rabbit.Unconfirmed(err, *timeout, closed, blocked)
	} else if len(returns) > 0 {
		return fmt.Errorf("no queue took the message (%s)", (<-returns).ReplyText)
	}
	fmt.Printf(" [x] '%s' Message sent\n", msg.Body)
	return rabbit.Close(conn)
}
