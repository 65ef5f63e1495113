// Command offset_tracking_send publishes a wave of messages to the stream "stream-offset-tracking-go"
// over AMQP 0-9-1, "hello" ones and a last one "marker": the producer of the stream tutorials'
// "Offset Tracking".
// Usage: go run ./streams/offset_tracking_send [-stream stream-offset-tracking-go] [-count 100] [-timeout 30s]
package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	stream  = flag.String("stream", "stream-offset-tracking-go", "the stream to publish to")
	count   = flag.Int("count", 100, "how many messages to send, the last one \"marker\"")
	timeout = flag.Duration("timeout", 30*time.Second, "how long to wait for the broker's confirms")
)

func main() { rabbit.Main("offset_tracking_send", run) }

func run(ctx context.Context) error {
	// Connect, open a channel and declare the stream, as the Hello World send does.
	conn, err := rabbit.Dial(rabbit.URL(), "streams/offset_tracking_send")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	if _, err := ch.QueueDeclare(
		*stream, // name
		true,    // durable
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeStream, // arguments
			amqp.StreamMaxLenBytesArg: int64(2_000_000_000), "x-queue-leader-locator": "least-leaders"},
	); err != nil {
		return rabbit.DeclareError("queue", *stream, err)
	}
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1)) // any return: the stream is gone
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// Publish the whole wave, the last message "marker", keeping each one's deferred confirm.
	fmt.Printf("Publishing %d messages...\n", *count)
	confirms := make([]*amqp.DeferredConfirmation, 0, max(*count, 0))
	for i := range *count {
		body := "hello"
		if i == *count-1 {
			body = "marker"
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
			"",      // exchange
			*stream, // routing key
			true,    // mandatory
			false,   // immediate
			amqp.Publishing{ContentType: "text/plain", MessageId: strconv.Itoa(i + 1), Body: []byte(body)})
		if err != nil {
			return fmt.Errorf("publish message %d: %w", i+1, err)
		}
		confirms = append(confirms, dc)
	}

	// Then wait for every confirm, all within -timeout: only then is the whole wave in the stream.
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for i, dc := range confirms {
		if acked, err := dc.WaitContext(ctx); !acked {
			return fmt.Errorf("message %d of %d: %w", i+1, *count, rabbit.Unconfirmed(err, *timeout, closed, blocked))
		} else if len(returns) > 0 {
			r := <-returns
			return fmt.Errorf("message %s of %d: no queue took it (%s)", r.MessageId, *count, r.ReplyText)
		}
	}
	fmt.Println("Messages confirmed.")
	return rabbit.Close(conn)
}
