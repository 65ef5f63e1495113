// Command offset_tracking_send publishes a wave of messages to the stream "stream-offset-tracking-go"
// over AMQP 0-9-1, "hello" ones and a last one "marker": the producer of the stream tutorials'
// "Offset Tracking".
//
// Usage: go run ./streams/offset_tracking_send [-stream stream-offset-tracking-go] [-count 100] [-timeout 30s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

func main() { rabbit.Main("offset_tracking_send", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("offset_tracking_send", flag.ContinueOnError)
	stream := flags.String("stream", "stream-offset-tracking-go", "the stream to publish to")
	count := flags.Int("count", 100, "how many messages to send, the last one \"marker\"")
	timeout := flags.Duration("timeout", 30*time.Second, "how long to wait for the broker's confirms")
	if err := rabbit.Parse(flags, args, stdout, "offset_tracking_send [-stream NAME] [-count 100] [-timeout 30s]"); err != nil {
		return err
	} else if err := rabbit.Within("count", *count, 1, 10_000_000); err != nil {
		return err
	} else if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return err
	}

	// Connect, open a channel and declare the stream, as the Hello World send does.
	conn, err := rabbit.Dial("streams/offset_tracking_send")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	q, err := ch.QueueDeclare(
		*stream, // name
		true,    // durable
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeStream, // arguments
			amqp.StreamMaxLenBytesArg: int64(2_000_000_000), "x-queue-leader-locator": "least-leaders"},
	)
	if err != nil {
		return rabbit.DeclareError("queue", *stream, err)
	}
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	p := rabbit.NewPublisher(conn, ch)

	// Publish the whole wave, the last message "marker", keeping each one's deferred confirm.
	fmt.Fprintf(stdout, "Publishing %d messages...\n", *count)
	confirms := make([]*amqp.DeferredConfirmation, 0, *count)
	for i := range *count {
		body := "hello"
		if i == *count-1 {
			body = "marker"
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
			"",     // exchange
			q.Name, // routing key
			true,   // mandatory
			false,  // immediate
			amqp.Publishing{ContentType: "text/plain", Body: []byte(body)})
		if err != nil {
			return fmt.Errorf("publish message %d: %w", i+1, err)
		}
		confirms = append(confirms, dc)
	}

	// Then wait for every confirm, all within -timeout: only then is the whole wave in the stream.
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for i, dc := range confirms {
		if err := p.Wait(ctx, dc, "", *timeout); err != nil {
			return fmt.Errorf("message %d of %d: %w", i+1, *count, err)
		}
	}
	fmt.Fprintln(stdout, "Messages confirmed.")
	return rabbit.Close(conn)
}
