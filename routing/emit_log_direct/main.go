// Command emit_log_direct is the producer of the RabbitMQ tutorial "Routing": it publishes one log
// message to the direct exchange "direct_logs", with its severity as the routing key, prints
// " [x] Sent <severity>:<message>" once the broker has confirmed it, and warns on stderr when no queue
// is bound with that severity: nobody got it then.
//
// Usage:
//
//	go run ./routing/emit_log_direct [-timeout 5s] [severity] [message words...]
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

func main() { rabbit.Main("emit_log_direct", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("emit_log_direct", flag.ContinueOnError)
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")
	if err := rabbit.Parse(flags, args, stdout, "emit_log_direct [-timeout 5s] [severity] [message words...]"); err != nil {
		return err
	}
	if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return err
	}

	conn, err := rabbit.Dial("routing/emit_log_direct")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// A direct exchange gives a message to the queues bound with a binding key equal to its routing key,
	// and to no other. "direct_logs" is declared as every official tutorial declares it: not durable.
	if err := ch.ExchangeDeclare(
		"direct_logs", // name
		"direct",      // type
		false,         // durable
		false,         // auto-deleted
		false,         // internal
		false,         // no-wait
		nil,           // arguments
	); err != nil {
		return rabbit.DeclareError("exchange", "direct_logs", err)
	}

	// Publisher confirms: " [x] Sent" only once the broker has the message.
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	publisher := rabbit.NewPublisher(conn, ch)

	// The severity is the first word ("info" by default), the message the others. A routing key is
	// at most 255 bytes: amqp091-go would close the whole connection on a longer one.
	severity, body := "info", "Hello World!"
	if flags.NArg() > 0 {
		severity = flags.Arg(0)
	}
	if flags.NArg() > 1 {
		body = strings.Join(flags.Args()[1:], " ")
	}
	if len(severity) > 255 {
		return fmt.Errorf("the severity is %d bytes long: a routing key is at most 255 bytes", len(severity))
	}

	// Publish with the severity as the routing key. Mandatory: the broker returns the message when no
	// queue is bound with that key, instead of dropping it in silence.
	confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"direct_logs", // exchange
		severity,      // routing key
		true,          // mandatory
		false,         // immediate
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
	fmt.Fprintf(stdout, " [x] Sent %s:%s\n", severity, body)
	if unrouted {
		fmt.Fprintf(os.Stderr, "emit_log_direct: warning: no queue is bound to \"direct_logs\" with key %q, "+
			"so nobody got the message (%s)\n", severity, reason)
	}
	return rabbit.Close(conn)
}
