// Command emit_log_topic is the producer of the RabbitMQ tutorial "Topics": it publishes one log message
// to the topic exchange "topic_logs" with a routing key of words and dots ("<facility>.<severity>",
// such as "kern.critical"), prints " [x] Sent <routing key>:<message>" once the broker has confirmed
// it, and warns on stderr when no binding matches the key: nobody got it then.
//
// Usage:
//
//	go run ./topics/emit_log_topic [-timeout 5s] [routing key] [message words...]
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

func main() { rabbit.Main("emit_log_topic", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("emit_log_topic", flag.ContinueOnError)
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")
	if err := rabbit.Parse(flags, args, stdout, "emit_log_topic [-timeout 5s] [routing key] [message words...]"); err != nil {
		return err
	}
	if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return err
	}

	conn, err := rabbit.Dial("topics/emit_log_topic")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// A topic exchange gives a message to the queues bound with a binding key that matches its routing
	// key, word by word: "*" stands for exactly one word, "#" for zero or more. "topic_logs" is declared
	// as every official tutorial declares it: not durable.
	if err := ch.ExchangeDeclare(
		"topic_logs", // name
		"topic",      // type
		false,        // durable
		false,        // auto-deleted
		false,        // internal
		false,        // no-wait
		nil,          // arguments
	); err != nil {
		return rabbit.DeclareError("exchange", "topic_logs", err)
	}

	// Publisher confirms: " [x] Sent" only once the broker has the message.
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	publisher := rabbit.NewPublisher(conn, ch)

	// The routing key is the first word ("anonymous.info" by default), the message the others. A
	// routing key is at most 255 bytes: amqp091-go would close the whole connection on a longer one.
	key, body := "anonymous.info", "Hello World!"
	if flags.NArg() > 0 {
		key = flags.Arg(0)
	}
	if flags.NArg() > 1 {
		body = strings.Join(flags.Args()[1:], " ")
	}
	if len(key) > 255 {
		return fmt.Errorf("the routing key is %d bytes long: it may be at most 255 bytes", len(key))
	}

	// Publish with our routing key. Mandatory: the broker returns the message when no binding matches
	// it, instead of dropping it in silence.
	confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"topic_logs", // exchange
		key,          // routing key
		true,         // mandatory
		false,        // immediate
		amqp.Publishing{ContentType: "text/plain", Body: []byte(body)},
	)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// Wait for the confirm. A log message nobody hears is no error: we warn, and exit 0.
	err = publisher.Wait(ctx, confirm, "", *timeout)
	reason, unrouted := rabbit.Unroutable(err)
	if err != nil && !unrouted {
		return err
	}
	fmt.Fprintf(stdout, " [x] Sent %s:%s\n", key, body)
	if unrouted {
		fmt.Fprintf(os.Stderr, "emit_log_topic: warning: no binding of \"topic_logs\" matches key %q, so "+
			"nobody got the message (%s)\n", key, reason)
	}
	return rabbit.Close(conn)
}
