// Command receive prints the messages that arrive on the "hello" queue.
// It is step one of the RabbitMQ tutorials ("Hello World!"): the consumer.
//
// Usage:
//
//	go run ./hello-world/receive
//
// It runs until Ctrl+C (or SIGTERM), then exits 0. If the broker closes the connection under it, it
// exits 1 with the broker's reason. The broker is taken from AMQP_URL
// (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
)

func main() {
	// Ctrl+C (SIGINT) or SIGTERM cancels ctx, which is how run knows to stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "receive:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("receive takes no arguments (got %q)", args)
	}

	// region connect
	// Connect and open a channel, as the sender does.
	conn, err := broker.Dial("hello-world/receive")
	if err != nil {
		return err
	}
	defer conn.Close()

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()

	// Ask to be told why the channel closes, if it does (the broker stopping, the connection lost).
	// The buffer of one matters: the library sends the reason without waiting for us to read it.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	// endregion connect

	// region declare
	// Declare the queue here too. We may start before the sender, and consuming from a queue that
	// does not exist is an error. Same properties as the sender, so either may create it.
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

	// region consume
	// Ask the broker to push the queue's messages to us. With auto-ack the broker forgets a message as
	// soon as it has sent it: simple, but a message is lost if we crash before printing it. The Work
	// Queues tutorial switches to manual acknowledgements, as real code should.
	msgs, err := ch.Consume(
		q.Name, // queue
		"",     // consumer tag: let the library make one up
		true,   // auto-ack
		false,  // exclusive
		false,  // no-local
		false,  // no-wait
		nil,    // args
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %w", q.Name, err)
	}
	fmt.Fprintln(stdout, " [*] Waiting for messages. To exit press CTRL+C")
	// endregion consume

	// region loop
	// Print each message as it arrives, until we are told to stop or the deliveries channel closes.
	// A closed deliveries channel means the broker or the network ended our channel: that is an
	// error to report, not a reason to exit quietly.
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-msgs:
			if !ok {
				return closedError(closed)
			}
			fmt.Fprintf(stdout, " [x] Received %s\n", d.Body)
		}
	}
	// endregion loop
}

// closedError says why the deliveries channel closed. When the channel itself was closed, the library
// has already put the reason in closed; when it is still open, the broker cancelled our consumer (for
// example, the queue was deleted).
func closedError(closed <-chan *amqp.Error) error {
	select {
	case reason, ok := <-closed:
		if ok && reason != nil {
			return fmt.Errorf("connection to broker lost: %s", reason.Reason)
		}
		return errors.New("connection to broker lost: the channel was closed")
	default:
		return errors.New("the broker cancelled the consumer: was the queue deleted?")
	}
}
