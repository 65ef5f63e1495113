// Command receive_logs prints every log message published to the "logs" exchange while it runs. It is
// step three of the RabbitMQ tutorials ("Publish/Subscribe"): a subscriber. Each receive_logs gets its
// own copy of every message.
//
// Usage:
//
//	go run ./publish-subscribe/receive_logs [-prefetch 100]
//
// It prints " [*] Waiting for logs. To exit press CTRL+C", then " [x] <message>" for each message, on
// stdout, so `receive_logs > logs_from_rabbit.log` saves the logs; errors go to stderr. It runs until
// Ctrl+C (or SIGTERM), then exits 0; its queue goes away with it. If the connection is lost, it exits 1
// with the reason. The broker is taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
)

func main() {
	// The first Ctrl+C (or SIGTERM) cancels ctx, and run stops. From then on the signal is not caught
	// any more, so a second Ctrl+C ends the program at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "receive_logs:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	// One flag, -prefetch (see the Qos step below), and no words.
	flags := flag.NewFlagSet("receive_logs", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	prefetch := flags.Int("prefetch", 100, "how many messages the broker may send ahead of our acknowledgements (1-65535)")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: receive_logs [-prefetch 100]")
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("receive_logs takes no arguments (got %q)", flags.Args())
	}
	if *prefetch < 1 || *prefetch > 65535 {
		return fmt.Errorf("-prefetch must be between 1 and 65535 (got %d)", *prefetch)
	}

	// Connect and open a channel, as emit_log does.
	conn, err := broker.Dial("publish-subscribe/receive_logs")
	if err != nil {
		return err
	}
	// amqp091-go's Close waits for the broker's answer with no time limit; CloseDeadline bounds the wait
	// (past the deadline, the library gives up at its next heartbeat: within 5 s more with the default
	// heartbeat).
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Ask to be told why the channel closes (the connection lost, the broker stopping), and whether the
	// broker cancels our consumer (our queue deleted). The buffers of one matter: the library waits
	// only so long for us to take the news.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))

	// Declare the exchange here too, exactly as emit_log does: either program may start first, and
	// binding a queue to an exchange that does not exist is an error.
	if err := ch.ExchangeDeclare(
		"logs",   // name
		"fanout", // type
		false,    // durable
		false,    // auto-deleted
		false,    // internal
		false,    // no-wait
		nil,      // arguments
	); err != nil {
		return broker.DeclareError("exchange", "logs", err)
	}

	// A temporary queue, for this program alone. We want every log message sent from now on, not the
	// old ones, and no other receiver's share: so a fresh, empty queue of our own. With an empty name,
	// the broker makes one up (amq.gen-...); exclusive means only this connection may use it and the
	// broker deletes it when the connection closes, however the program ends.
	q, err := ch.QueueDeclare(
		"",    // name: let the broker choose one
		false, // durable
		false, // delete when unused
		true,  // exclusive
		false, // no-wait
		nil,   // arguments
	)
	if err != nil {
		return fmt.Errorf("declare a temporary queue: %w", err)
	}

	// Bind the queue to the exchange: from now on "logs" gives it a copy of every message. A fanout
	// exchange ignores the binding's routing key, so it is empty.
	if err := ch.QueueBind(
		q.Name, // queue
		"",     // routing key
		"logs", // exchange
		false,  // no-wait
		nil,    // arguments
	); err != nil {
		return fmt.Errorf("bind queue %q to exchange %q: %w", q.Name, "logs", err)
	}

	// Limit how many messages the broker sends before we acknowledge them. amqp091-go keeps the
	// messages it has received and we have not read yet in memory, with no limit; with auto-ack and no
	// limit, a receiver slower than the senders would grow without bound. This way the backlog stays
	// in our queue on the broker.
	if err := ch.Qos(
		*prefetch, // prefetch count
		0,         // prefetch size: no limit in bytes
		false,     // global: the limit applies to each consumer on this channel
	); err != nil {
		return fmt.Errorf("set prefetch count %d: %w", *prefetch, err)
	}

	// Consume from our queue with manual acknowledgements, and say we are ready only now.
	msgs, err := ch.Consume(
		q.Name, // queue
		"",     // consumer tag: let the library make one up
		false,  // auto-ack
		false,  // exclusive
		false,  // no-local
		false,  // no-wait
		nil,    // args
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %w", q.Name, err)
	}
	fmt.Fprintln(stdout, " [*] Waiting for logs. To exit press CTRL+C")

	// Print each message, then acknowledge it, until we are told to stop or the deliveries channel
	// closes. A closed deliveries channel means the broker or the network ended our consumer: an
	// error to report, not a reason to exit quietly.
	for {
		select {
		case <-ctx.Done():
			// Closing the connection deletes our exclusive queue, and with it the messages that were
			// still on their way to us: nobody else would ever read them.
			if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil {
				return fmt.Errorf("close connection: %w", err)
			}
			return nil
		case d, ok := <-msgs:
			if !ok {
				return consumerEnded(conn, closed, cancelled, q.Name)
			}
			if _, err := fmt.Fprintf(stdout, " [x] %s\n", d.Body); err != nil {
				return fmt.Errorf("write the message: %w", err)
			}
			if err := d.Ack(
				false, // multiple: this message only
			); err != nil {
				return fmt.Errorf("acknowledge message: %w", err)
			}
		}
	}
}

// consumerEnded says why the deliveries channel closed. The library passes on the channel's close
// reason (closed) or the broker's cancel (cancelled) before it closes the deliveries channel. RabbitMQ
// cancels the consumers of a queue that is deleted or becomes unavailable and, since 4.3, a consumer
// that held a message past the consumer timeout (3.10 closes the channel then); it does not say which.
// When the connection closes, the library also closes cancelled: closed is looked at first.
func consumerEnded(conn *amqp.Connection, closed <-chan *amqp.Error, cancelled <-chan string, queue string) error {
	select {
	case reason, ok := <-closed:
		if !ok || reason == nil {
			return errors.New("the channel was closed")
		}
		if conn.IsClosed() {
			return fmt.Errorf("connection to the broker lost: %s", broker.FirstLine(reason.Reason))
		}
		return fmt.Errorf("the broker closed the channel: %s", broker.FirstLine(reason.Reason))
	default:
	}
	select {
	case _, ok := <-cancelled:
		if ok {
			return fmt.Errorf("the broker cancelled our consumer: queue %q was deleted or became unavailable, "+
				"or a message waited past the broker's consumer timeout for our acknowledgement", queue)
		}
		return errors.New("the channel was closed")
	default:
		return errors.New("the consumer stopped and the broker gave no reason")
	}
}
