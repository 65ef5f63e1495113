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
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

var timeout = flag.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm")

func main() { rabbit.Main("emit_log_topic", run) }

func run(ctx context.Context) error {
	// Connect and open a channel, as before.
	conn, err := rabbit.Dial(rabbit.URL(), "topics/emit_log_topic")
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
	// as the AMQP 0-9-1 tutorials declare it: not durable.
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

	// Publish in confirm mode, and listen for what an ack alone does not tell: a return, the channel's
	// close, the broker blocking publishers.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// The routing key is the first word ("anonymous.info" by default), the message the others. A
	// routing key is at most 255 bytes: amqp091-go would close the connection on a longer one.
	key, body := "anonymous.info", "Hello World!"
	if flag.NArg() > 0 {
		key = flag.Arg(0)
	}
	if flag.NArg() > 1 {
		body = strings.Join(flag.Args()[1:], " ")
	}
	if len(key) > 255 {
		return fmt.Errorf("the routing key is %d bytes long: it may be at most 255 bytes", len(key))
	}

	// Publish with our routing key. Mandatory: the broker returns the message when no binding matches
	// it, instead of dropping it in silence.
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"topic_logs", // exchange
		key,          // routing key
		true,         // mandatory
		false,        // immediate
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
	fmt.Printf(" [x] Sent %s:%s\n", key, body)
	if len(returns) > 0 {
		r := <-returns
		fmt.Fprintf(os.Stderr, "emit_log_topic: warning: no binding of \"topic_logs\" matches key %q, so "+
			"nobody got the message (%d %s)\n", key, r.ReplyCode, r.ReplyText)
	}
	return rabbit.Close(conn)
}
