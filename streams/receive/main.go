// Command receive prints the messages of the stream "hello-go-stream", from its first one, over
// AMQP 0-9-1. It is step one of the RabbitMQ stream tutorials ("Hello World!"): the consumer.
//
// Usage:
//
//	go run ./streams/receive [-stream hello-go-stream] [-offset first] [-filter VALUES [-match-unfiltered]]
//
// It runs until Ctrl+C (or SIGTERM), then exits 0; if the connection is lost or the stream deleted, it
// exits 1 saying why. The broker is taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("receive", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("receive", flag.ContinueOnError)
	stream := flags.String("stream", "hello-go-stream", "the stream to read")
	offset := flags.String("offset", "first", "where to start: first, last, next, an offset (42), a time (RFC 3339) or an age (30s, 10m, 2h, 7D)")
	filter := flags.String("filter", "", "only messages with one of these filter values, comma-separated (RabbitMQ 3.13 and later)")
	unfiltered := flags.Bool("match-unfiltered", false, "with -filter: messages without a filter value too")
	prefetch := flags.Int("prefetch", 100, "how many unacknowledged messages the broker may send us")
	if err := rabbit.Parse(flags, args, stdout, "receive [-stream NAME] [-offset first] [-filter VALUES [-match-unfiltered]] [-prefetch 100]"); err != nil {
		return err
	}
	start, err := parseOffset(*offset)
	if err != nil {
		return err
	}
	if err := rabbit.Within("prefetch", *prefetch, 1, 65535); err != nil {
		return err
	}

	// Connect and open a channel, as send does.
	conn, err := rabbit.Dial("streams/receive")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Declare the stream exactly as send does: either program may start first.
	q, err := ch.QueueDeclare(
		*stream, // name
		true,    // durable
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{
			amqp.QueueTypeArg:         amqp.QueueTypeStream,
			amqp.StreamMaxLenBytesArg: int64(2_000_000_000),
			"x-queue-leader-locator":  "least-leaders",
		}, // arguments
	)
	if err != nil {
		return rabbit.DeclareError("queue", *stream, err)
	}

	// A stream consumer must set a prefetch limit: the broker refuses one without (406). Reading does
	// not remove messages from a stream; an ack only hands credit back, and a consumer that never
	// acks stops getting messages once it holds prefetch of them.
	if err := ch.Qos(
		*prefetch, // prefetch count
		0,         // prefetch size: no limit
		false,     // global: no, per consumer
	); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}

	// Where to start reading is the x-stream-offset consumer argument. With a filter, the broker skips
	// chunks (batches of messages it stores together) that hold none of the values; a chunk that holds
	// one is delivered whole, so we still check each message.
	consumerArgs := amqp.Table{"x-stream-offset": start}
	var values []string
	if *filter != "" {
		values = strings.Split(*filter, ",")
		consumerArgs["x-stream-filter"] = toAny(values)
		consumerArgs["x-stream-match-unfiltered"] = *unfiltered
		if !filtering(conn) {
			fmt.Fprintf(os.Stderr, "receive: RabbitMQ %s has no stream filtering (3.13 and later): it sends every message, and we keep the ones that match\n", conn.Properties["version"])
		}
	}
	c := rabbit.NewConsumer(conn, ch, q.Name)
	msgs, err := ch.Consume(
		q.Name, // queue
		"",     // consumer tag: let the library make one up
		false,  // auto-ack: a stream refuses it (540 NOT_IMPLEMENTED, closing the connection)
		false,  // exclusive
		false,  // no-local
		false,  // no-wait
		consumerArgs,
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %s", q.Name, rabbit.FirstLine(err.Error()))
	}
	fmt.Fprintln(stdout, " [*] Waiting for messages. To exit press CTRL+C")

	// Each delivery's x-stream-offset header is its position in the stream.
	for {
		select {
		case <-ctx.Done():
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				return c.Ended()
			}
			value, _ := d.Headers["x-stream-filter-value"].(string)
			if values == nil || slices.Contains(values, value) || value == "" && *unfiltered {
				fmt.Fprintf(stdout, "Stream: %s - Received message: %s (offset %v)\n", q.Name, d.Body, d.Headers["x-stream-offset"])
			} else {
				fmt.Fprintf(stdout, " [-] Skipped offset %v (filter value %q)\n", d.Headers["x-stream-offset"], value)
			}
			if err := d.Ack(
				false, // multiple
			); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		}
	}
}

var age = regexp.MustCompile(`^[0-9]+[YMDhms]$`)

// parseOffset turns -offset into the x-stream-offset value RabbitMQ takes: "first", "last" (the start
// of the last chunk), "next" (only messages published from now on), an offset (int64), a timestamp
// (sent in whole seconds: delivery starts at the first chunk stored at or after it) or an age ("10m").
func parseOffset(s string) (any, error) {
	if s == "first" || s == "last" || s == "next" || age.MatchString(s) {
		return s, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return nil, fmt.Errorf("-offset %q: want first, last, next, an offset (42), a time (2006-01-02T15:04:05Z) or an age (30s, 10m, 2h, 7D)", s)
}

func toAny(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
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
