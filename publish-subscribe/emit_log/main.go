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
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

var timeout = flag.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")

func main() { rabbit.Main("emit_log", run) }

func run(ctx context.Context) error {
	// Connect and open a channel, as before.
	conn, err := rabbit.Dial(rabbit.URL(), "publish-subscribe/emit_log")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// A producer never sends to a queue, but to an exchange, which decides where the message goes: a
	// fanout exchange gives a copy to every queue bound to it. Not durable, as in the AMQP 0-9-1 tutorials.
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

	// Publish in confirm mode, and listen for what an ack alone does not tell: a return, the channel's
	// close, the broker blocking publishers.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// Publish to "logs". A fanout exchange ignores the routing key, so it is empty. Mandatory asks the
	// broker to return the message when no queue is bound, instead of dropping it in silence.
	body := cmp.Or(strings.Join(flag.Args(), " "), "info: Hello World!")
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"logs", // exchange
		"",     // routing key
		true,   // mandatory
		false,  // immediate
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
	fmt.Printf(" [x] Sent %s\n", body)
	if len(returns) > 0 {
		r := <-returns
		fmt.Fprintf(os.Stderr, "emit_log: warning: no queue is bound to exchange \"logs\", so nobody got the "+
			"message (%d %s): start receive_logs first\n", r.ReplyCode, r.ReplyText)
	}
	return rabbit.Close(conn)
}
