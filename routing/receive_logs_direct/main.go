// Command receive_logs_direct prints the log messages published to the "direct_logs" exchange with the
// severities it is given. It is step four of the RabbitMQ tutorials ("Routing"): a subscriber that
// binds its queue once per severity.
//
// Usage:
//
//	go run ./routing/receive_logs_direct [-prefetch 100] severity...
//
// For example `receive_logs_direct warning error`. It prints " [*] Waiting for logs. To exit press
// CTRL+C", then " [x] <severity>:<message>" for each message, on stdout, so `receive_logs_direct warning
// error > logs_from_rabbit.log` saves those logs; errors go to stderr. It runs until Ctrl+C (or SIGTERM),
// then exits 0; its queue goes away with it. If the connection is lost, it exits 1 with the reason. The
// broker is taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
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
		fmt.Fprintln(os.Stderr, "receive_logs_direct:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	// The words after the flags are the severities to receive: at least one. "--" ends the flags.
	const usage = "Usage: receive_logs_direct [-prefetch 100] severity... (such as: info warning error)"
	flags := flag.NewFlagSet("receive_logs_direct", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	prefetch := flags.Int("prefetch", 100, "how many messages the broker may send ahead of our acknowledgements (1-65535)")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, usage)
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	if *prefetch < 1 || *prefetch > 65535 {
		return fmt.Errorf("-prefetch must be between 1 and 65535 (got %d)", *prefetch)
	}
	severities := flags.Args()
	if len(severities) == 0 {
		return errors.New("no severity given. " + usage)
	}
	// A binding key is an AMQP short string: at most 255 bytes. amqp091-go would fail to write a longer
	// one and close the whole connection, so we check them first.
	for _, s := range severities {
		if len(s) > 255 {
			return fmt.Errorf("a severity is %d bytes long: a binding key is at most 255 bytes", len(s))
		}
	}

	// Connect and open a channel, as emit_log_direct does.
	conn, err := broker.Dial("routing/receive_logs_direct")
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
	// broker cancels our consumer (our queue deleted). The buffers of one matter: the library waits at
	// most 5 s for room to hand us a cancel, and not at all for the reason a channel closed.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))

	// Declare the exchange here too, exactly as emit_log_direct does: either program may start first,
	// and binding a queue to an exchange that does not exist is an error.
	if err := ch.ExchangeDeclare(
		"direct_logs", // name
		"direct",      // type
		false,         // durable
		false,         // auto-deleted
		false,         // internal
		false,         // no-wait
		nil,           // arguments
	); err != nil {
		return broker.DeclareError("exchange", "direct_logs", err)
	}

	// A temporary queue of our own, as in Publish/Subscribe: the broker names it (amq.gen-...), and,
	// exclusive, it is deleted when our connection closes, however the program ends.
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

	// Bind the queue once per severity. The binding key is what a direct exchange compares with each
	// message's routing key: our queue gets the messages whose severity is one of ours, and no others.
	// Binding twice with the same key changes nothing.
	for _, severity := range severities {
		if err := ch.QueueBind(
			q.Name,        // queue
			severity,      // binding key
			"direct_logs", // exchange
			false,         // no-wait
			nil,           // arguments
		); err != nil {
			return fmt.Errorf("bind queue %q to exchange %q with key %q: %w", q.Name, "direct_logs", severity, err)
		}
	}

	// Limit how many messages the broker sends before we acknowledge them. amqp091-go keeps the
	// messages it has received and we have not read yet in memory, with no limit; this way a backlog
	// stays in our queue on the broker.
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

	// Print each message with the routing key it was published with, then acknowledge it, until we are
	// told to stop or the deliveries channel closes: the broker or the network ended our consumer, an
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
			if _, err := fmt.Fprintf(stdout, " [x] %s:%s\n", d.RoutingKey, d.Body); err != nil {
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

// consumerEnded says why the deliveries channel closed. When the channel or the connection closed, the
// library has put the reason in closed before closing the deliveries channel. Otherwise the broker
// cancelled our consumer, and cancelled holds its tag (the library also closes cancelled when the
// channel closes: hence the order of the checks). The broker cancels a consumer when its queue is
// deleted; a passive declare (on a new channel: a failed one closes its channel) tells if it was.
func consumerEnded(conn *amqp.Connection, closed <-chan *amqp.Error, cancelled <-chan string, queue string) error {
	select {
	case reason, ok := <-closed:
		if ok && reason != nil {
			return fmt.Errorf("connection to the broker lost: %s", reason.Reason)
		}
		return errors.New("connection to the broker lost")
	default:
	}
	select {
	case _, ok := <-cancelled:
		if !ok {
			return errors.New("connection to the broker lost")
		}
	default:
		return errors.New("the consumer stopped for no reason given by the broker")
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("the broker cancelled our consumer, and then: %w", err)
	}
	var aerr *amqp.Error
	if _, err := ch.QueueDeclarePassive(queue, false, false, true, false, nil); errors.As(err, &aerr) && aerr.Code == amqp.NotFound {
		return fmt.Errorf("the broker cancelled our consumer: our queue %q was deleted", queue)
	}
	return fmt.Errorf("the broker cancelled our consumer (queue %q)", queue)
}
