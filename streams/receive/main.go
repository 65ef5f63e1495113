// Command receive prints the stream "hello-go-stream" over AMQP 0-9-1: the stream tutorials' consumer.
// Usage: go run ./streams/receive [-stream hello-go-stream] [-offset first] [-filter VALUES [-match-unfiltered]] [-prefetch 100]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	stream     = flag.String("stream", "hello-go-stream", "the stream to read")
	offset     = flag.String("offset", "first", "where to start: first, last, next, an offset (42), a time (RFC 3339) or an age (30s, 10m, 2h, 7D)")
	filter     = flag.String("filter", "", "only messages with one of these filter values, comma-separated")
	unfiltered = flag.Bool("match-unfiltered", false, "with -filter: messages without a filter value too")
	prefetch   = flag.Int("prefetch", 100, "how many unacknowledged messages the broker may send us")
)

func main() { rabbit.Main("receive", run) }

func run(ctx context.Context) error {
	// Connect, open a channel and declare the stream as send does: either may start first.
	conn, err := rabbit.Dial(rabbit.URL(), "streams/receive")
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

	// A stream consumer must set a prefetch limit (else 406) and ack, which hands credit back to the broker.
	if err := ch.Qos(*prefetch, 0, false /* prefetch count, size, global */); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}

	// x-stream-offset says where to start: an offset, a time, or a word (before 4.3 a bad one is a bare 541).
	// With x-stream-filter the broker skips chunks without the values, but delivers a chunk with one whole.
	var start any = *offset
	if n, err := strconv.ParseUint(*offset, 10, 63); err == nil {
		start = int64(n)
	} else if t, err := time.Parse(time.RFC3339, *offset); err == nil {
		start = t
	} else if !regexp.MustCompile(`^(first|last|next|[0-9]+[YMDhms])$`).MatchString(*offset) {
		return fmt.Errorf("-offset %q: want first, last, next, an offset (42), a time (RFC 3339) or an age (30s, 10m, 2h, 7D)", *offset)
	}
	consumerArgs, values := amqp.Table{"x-stream-offset": start}, []any(nil)
	if *filter != "" {
		for _, v := range strings.Split(*filter, ",") {
			values = append(values, v)
		}
		consumerArgs["x-stream-filter"], consumerArgs["x-stream-match-unfiltered"] = values, *unfiltered
		var major, minor int // the broker's version, from the properties it sent when we connected
		if _, err := fmt.Sscanf(fmt.Sprint(conn.Properties["version"]), "%d.%d", &major, &minor); err != nil || major == 3 && minor < 13 {
			fmt.Fprintf(os.Stderr, "receive: RabbitMQ %v has no stream filtering (3.13 and later): it sends every message, and we keep the ones that match\n", conn.Properties["version"])
		}
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
	msgs, err := ch.Consume(
		*stream, // queue
		"",      // consumer tag
		false,   // auto-ack: a stream refuses it (540, closing the connection)
		false,   // exclusive
		false,   // no-local
		false,   // no-wait
		consumerArgs,
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %s", *stream, rabbit.FirstLine(err.Error()))
	}
	fmt.Println(" [*] Waiting for messages. To exit press CTRL+C")

	// Print each message with its offset, its position in the stream, then ack it.
	for {
		select {
		case <-ctx.Done():
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				return rabbit.Ended(closed, cancelled, fmt.Sprintf("stream %q was deleted", *stream))
			}
			value, _ := d.Headers["x-stream-filter-value"].(string)
			if values == nil || slices.Contains(values, any(value)) || value == "" && *unfiltered {
				fmt.Printf("Stream: %s - Received message: %s (offset %v)\n", *stream, d.Body, d.Headers["x-stream-offset"])
			} else {
				fmt.Printf(" [-] Skipped offset %v (filter value %q)\n", d.Headers["x-stream-offset"], value)
			}
			if err := d.Ack(false /* multiple */); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		}
	}
}
