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
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

var timeout = flag.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")

func main() { rabbit.Main("emit_log_direct", run) }

func run(ctx context.Context) error {
	// Connect and open a channel, as before.
	conn, err := rabbit.Dial(rabbit.URL(), "routing/emit_log_direct")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// A direct exchange gives a message to the queues bound with a binding key equal to its routing key,
	// and to no other. "direct_logs" is declared as the AMQP 0-9-1 tutorials declare it: not durable.
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

	// Publish in confirm mode, and listen for what an ack alone does not tell: a return, the channel's
	// close, the broker blocking publishers.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// The severity is the first word ("info" by default), the message the others. A routing key is
	// at most 255 bytes: amqp091-go would close the connection on a longer one.
	severity, body := "info", "Hello World!"
	if flag.NArg() > 0 {
		severity = flag.Arg(0)
	}
	if flag.NArg() > 1 {
		body = strings.Join(flag.Args()[1:], " ")
	}
	if len(severity) > 255 {
		return fmt.Errorf("the severity is %d bytes long: a routing key is at most 255 bytes", len(severity))
	}

	// Publish with the severity as the routing key. Mandatory: the broker returns the message when no
	// queue is bound with that key, instead of dropping it in silence.
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"direct_logs", // exchange
		severity,      // routing key
		true,          // mandatory
		false,         // immediate
		amqp.Publishing{ContentType: "text/plain", Body: []byte(body)},
	)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// Wait at most -timeout for the confirm. A return comes before its ack; a log nobody hears is no
	// error: we warn, and exit 0.
	wait, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if acked, err := dc.WaitContext(wait); !acked {
		return rabbit.Unconfirmed(err, *timeout, closed, blocked)
	}
	fmt.Printf(" [x] Sent %s:%s\n", severity, body)
	if len(returns) > 0 {
		r := <-returns
		fmt.Fprintf(os.Stderr, "emit_log_direct: warning: no queue is bound to \"direct_logs\" with key %q, "+
			"so nobody got the message (%d %s)\n", severity, r.ReplyCode, r.ReplyText)
	}
	return rabbit.Close(conn)
}
