// Command receive prints the messages that arrive on the "hello" queue.
// It is step one of the RabbitMQ tutorials ("Hello World!"): the consumer.
//
// Usage:
//
//	go run ./hello-world/receive
//
// It runs until Ctrl+C (or SIGTERM), then exits 0. If the connection is lost or the broker ends its
// subscription (the queue deleted, say), it exits 1 saying why. The broker is taken from AMQP_URL
// (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"errors"
	"flag"
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
	// The first Ctrl+C (or SIGTERM) cancels ctx, and run stops. From then on the signal is not caught any
	// more, so a second Ctrl+C ends the program at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "receive:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	// receive has no flags and takes no words; -h prints its usage.
	flags := flag.NewFlagSet("receive", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: receive (prints the messages of the queue \"hello\" until Ctrl+C)")
		return nil
	} else if err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("receive takes no arguments (got %q)", flags.Args())
	}

	// Connect and open a channel, as send does. The deferred close, bounded, is for the error paths.
	conn, err := broker.Dial("hello-world/receive")
	if err != nil {
		return err
	}
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// A consumer runs for a long time, and its subscription can end under it: the connection lost, or
	// the consumer cancelled by the broker (it does when the queue is deleted). The library tells us
	// which on these Go channels before it closes the deliveries channel. The buffers of one matter: the
	// library waits at most 5s for us to take a notification, then drops it.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))

	// Declare the queue here too, exactly as send does: either program may start first, and consuming
	// from a queue that does not exist is an error.
	q, err := ch.QueueDeclare(
		"hello", // name
		true,    // durable: quorum queues always are
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	)
	if err != nil {
		return broker.DeclareError("queue", "hello", err)
	}

	// Ask the broker to push the queue's messages to us. With auto-ack the broker forgets a message as
	// soon as it has sent it, so a message is lost if we stop or crash before printing it. For a greeting
	// that is fine; the Work Queues tutorial acknowledges each message once its work is done, as code
	// whose messages matter should.
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

	// Print each message as it arrives, until Ctrl+C. A closed deliveries channel means our subscription
	// ended under us: that is an error to report, not a reason to exit quietly.
	for {
		select {
		case <-ctx.Done():
			if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil {
				return fmt.Errorf("close connection: %w", err)
			}
			return nil
		case d, ok := <-msgs:
			if !ok {
				return ended(conn, q.Name, closed, cancelled)
			}
			fmt.Fprintf(stdout, " [x] Received %s\n", d.Body)
		}
	}
}

// ended says why the deliveries channel closed. Before it closes it, the library puts the channel's close
// reason in closed, or the cancelled consumer's tag in cancelled. closed comes first: a closing channel
// also closes cancelled, which then reads as ready. RabbitMQ cancels the consumers of a queue that is
// deleted or becomes unavailable (a cluster node failing); which of the two, it does not say, and on
// RabbitMQ 4.x a passive declare right after the cancel can still find a queue being deleted.
func ended(conn *amqp.Connection, queue string, closed <-chan *amqp.Error, cancelled <-chan string) error {
	select {
	case reason, ok := <-closed:
		if !ok || reason == nil {
			return errors.New("the channel was closed")
		}
		line, _, _ := strings.Cut(reason.Reason, "\n")
		if conn.IsClosed() {
			return fmt.Errorf("connection to the broker lost: %s", line)
		}
		return fmt.Errorf("the broker closed the channel: %s", line)
	default:
	}
	select {
	case _, ok := <-cancelled:
		if ok {
			return fmt.Errorf("the broker cancelled our consumer: queue %q was deleted or became unavailable", queue)
		}
	default:
	}
	return errors.New("the subscription ended and the broker gave no reason")
}
