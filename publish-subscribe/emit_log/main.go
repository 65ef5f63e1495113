// Command emit_log is the producer of the RabbitMQ tutorial "Publish/Subscribe": it publishes one log
// message (by default "info: Hello World!") to the fanout exchange "logs", prints " [x] Sent <message>"
// once the broker has confirmed it, and warns on stderr when no queue is bound: nobody got it then.
//
// Usage:
//
//	go run ./publish-subscribe/emit_log [-timeout 5s] [message words...]
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

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("emit_log", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("emit_log", flag.ContinueOnError)
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")
	if err := rabbit.Parse(flags, args, stdout, "emit_log [-timeout 5s] [message words...]"); err != nil {
		return err
	}
	if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return err
	}

	conn, err := rabbit.Dial("publish-subscribe/emit_log")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// A producer never sends to a queue, but to an exchange, which decides where the message goes: a
	// fanout exchange gives a copy to every queue bound to it. Not durable, as in every official tutorial.
	if err := ch.ExchangeDeclare(
		"logs",   // name
		"fanout", // type
		false,    // durable
		false,    // auto-deleted
		false,    // internal
		false,    // no-wait
		nil,      // arguments
	); err != nil {
		return rabbit.DeclareError("exchange", "logs", err)
	}

	// With publisher confirms on, the broker tells us when it has the message: " [x] Sent" means it does.
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	publisher := rabbit.NewPublisher(conn, ch)

	// Publish to "logs". A fanout exchange ignores the routing key, so it is empty. Mandatory asks the
	// broker to return the message when no queue is bound, instead of dropping it in silence.
	body := cmp.Or(strings.Join(flags.Args(), " "), "info: Hello World!")
	confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"logs", // exchange
		"",     // routing key
		true,   // mandatory
		false,  // immediate
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
	fmt.Fprintf(stdout, " [x] Sent %s\n", body)
	if unrouted {
		fmt.Fprintf(os.Stderr, "emit_log: warning: no queue is bound to exchange \"logs\", so nobody got the "+
			"message (%s): start receive_logs first\n", reason)
	}
	return rabbit.Close(conn)
}
