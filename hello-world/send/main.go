// Command send publishes one message to the "hello" queue.
// It is step one of the RabbitMQ tutorials ("Hello World!"): the producer.
//
// Usage:
//
//	go run ./hello-world/send [message words...]
//
// The message is "Hello World!" unless words are given. The broker is taken from AMQP_URL
// (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
)

func main() {
	// Ctrl+C (SIGINT) or SIGTERM cancels ctx, so a publish that is stuck waiting gives up cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "send:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	body := "Hello World!"
	if len(args) > 0 {
		body = strings.Join(args, " ")
	}

	// region connect
	// Connect to the broker. The connection is a TCP connection with the AMQP handshake done; the
	// helper adds a timeout, a connection name and a readable error (password masked).
	conn, err := broker.Dial("hello-world/send")
	if err != nil {
		return err
	}
	defer conn.Close()

	// Almost all work happens on a channel: a light-weight session multiplexed over the connection.
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	// endregion connect

	// region declare
	// Declare the queue we send to. Declaring is idempotent: the queue is created only if it does not
	// exist yet. Its properties must match what every other "hello" program declares, in any
	// language, or the broker refuses the declaration.
	q, err := ch.QueueDeclare(
		"hello", // name
		false,   // durable
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		nil,     // arguments
	)
	if err != nil {
		return broker.DeclareError("queue", "hello", err)
	}
	// endregion declare

	// region publish
	// Publish to the default exchange (""), which routes a message to the queue named by the routing
	// key. The timeout bounds the publish if the broker is blocking publishers (low memory or disk).
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = ch.PublishWithContext(ctx,
		"",     // exchange
		q.Name, // routing key
		false,  // mandatory
		false,  // immediate
		amqp.Publishing{
			ContentType: "text/plain",
			Body:        []byte(body),
		})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintf(stdout, " [x] Sent %s\n", body)
	// endregion publish

	// region close
	// Close the connection before exiting: this flushes what was written and tells the broker we are
	// done. The deferred Close calls above are for the error paths.
	if err := conn.Close(); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
	// endregion close
}
