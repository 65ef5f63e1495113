// Command send publishes one message to the stream "hello-go-stream", over AMQP 0-9-1.
// It is step one of the RabbitMQ stream tutorials ("Hello World!"): the producer.
//
// Usage:
//
//	go run ./streams/send [-stream hello-go-stream] [-filter VALUE] [-timeout 5s] [message words...]
//
// The message is "Hello world" unless words are given. send prints " [x] '<message>' Message sent"
// only once the broker has confirmed that the stream holds it; otherwise it exits 1 saying why. The
// broker is taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("send", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("send", flag.ContinueOnError)
	stream := flags.String("stream", "hello-go-stream", "the stream to publish to")
	filter := flags.String("filter", "", "the message's filter value (x-stream-filter-value), for consumers that filter")
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")
	if err := rabbit.Parse(flags, args, stdout, "send [-stream NAME] [-filter VALUE] [-timeout 5s] [message words...]"); err != nil {
		return err
	}
	if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return err
	}
	body := "Hello world"
	if flags.NArg() > 0 {
		body = strings.Join(flags.Args(), " ")
	}

	// Connect to the broker and open a channel, as in every tutorial (the helper's page tells what
	// rabbit.Dial and rabbit.Close take care of).
	conn, err := rabbit.Dial("streams/send")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// A stream is a queue of type "stream": an append-only log that keeps its messages after they are
	// read, until its retention limit (here 2 GB) drops the oldest. These are the arguments the stream
	// client's DeclareStream sends for the official tutorial's MaxLengthBytes: GB(2), so this program
	// and the official ones (stream protocol, port 5552) share one stream.
	q, err := ch.QueueDeclare(
		*stream, // name
		true,    // durable: streams always are
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{
			amqp.QueueTypeArg:         amqp.QueueTypeStream,
			amqp.StreamMaxLenBytesArg: int64(2_000_000_000), // stream.ByteCapacity{}.GB(2)
			"x-queue-leader-locator":  "least-leaders",      // the stream client always sends it
		}, // arguments
	)
	if err != nil {
		return rabbit.DeclareError("queue", *stream, err)
	}
	if *filter != "" && !filtering(conn) {
		fmt.Fprintf(os.Stderr, "send: RabbitMQ %s has no stream filtering (3.13 and later): the filter value is only a header\n", conn.Properties["version"])
	}

	// Publish through the default exchange, as to any queue, and wait for the broker's confirm: a
	// stream confirms a message once it is written (and replicated, on a cluster).
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	p := rabbit.NewPublisher(conn, ch)
	msg := amqp.Publishing{ContentType: "text/plain", Body: []byte(body)}
	if *filter != "" {
		msg.Headers = amqp.Table{"x-stream-filter-value": *filter}
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange
		q.Name, // routing key
		true,   // mandatory: return it if the stream is gone
		false,  // immediate
		msg)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := p.Wait(ctx, dc, "", *timeout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, " [x] '%s' Message sent\n", body)
	return rabbit.Close(conn)
}

// filtering reports whether the broker filters streams (RabbitMQ 3.13 and later), from the version it
// gives when we connect: an older broker takes the filter arguments without a word and ignores them.
func filtering(conn *amqp.Connection) bool {
	var major, minor int
	v, _ := conn.Properties["version"].(string)
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		return true // not RabbitMQ's numbering: assume a recent broker
	}
	return major > 3 || major == 3 && minor >= 13
}
