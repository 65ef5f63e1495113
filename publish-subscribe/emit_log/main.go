// Command emit_log publishes one log message to the "logs" exchange, a fanout exchange that gives a copy
// to every queue bound to it. It is step three of the RabbitMQ tutorials ("Publish/Subscribe"): the
// producer.
//
// Usage:
//
//	go run ./publish-subscribe/emit_log [-timeout 5s] [message words...]
//
// The message is "info: Hello World!" unless words are given. emit_log prints " [x] Sent <message>" only
// once the broker has confirmed it; otherwise it exits 1 saying why. When no queue is bound to "logs"
// (no receive_logs is running), the message reaches nobody: emit_log says so on stderr, as a warning,
// and still exits 0. The broker is taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"crypto/rand"
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
	// The first Ctrl+C (or SIGTERM) cancels ctx, and run gives up what it is waiting for. From then on the
	// signal is not caught any more, so a second Ctrl+C ends the program at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "emit_log:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The words after the flags are the message. "--" ends the flags, so `emit_log -- -h` sends "-h".
	flags := flag.NewFlagSet("emit_log", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker to take the message")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: emit_log [-timeout 5s] [message words...]")
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	if *timeout <= 0 || *timeout > time.Hour {
		return fmt.Errorf("-timeout must be more than 0 and at most 1h (got %s)", *timeout)
	}
	body := "info: Hello World!"
	if flags.NArg() > 0 {
		body = strings.Join(flags.Args(), " ")
	}

	// Connect to the broker. Our helper broker.Dial takes the URL from AMQP_URL, bounds the handshake with
	// a timeout and names the connection; the guide shows the plain amqp091-go it stands for.
	conn, err := broker.Dial("publish-subscribe/emit_log")
	if err != nil {
		return err
	}
	// amqp091-go's Close waits for the broker's answer with no time limit; CloseDeadline bounds the wait
	// (past the deadline, the library gives up at its next heartbeat: within 5 s more with the default
	// heartbeat). This deferred close is for the paths that return an error, which it would only hide.
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()

	// A broker short of memory or disk space stops reading from connections that publish, and says so
	// with connection.blocked. Listening for it lets us report it instead of waiting for nothing.
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Declare the exchange we publish to. A producer never sends to a queue: it sends to an exchange,
	// and the exchange decides which queues get the message. A fanout exchange ignores the routing key
	// and gives a copy to every queue bound to it. "logs" is declared as in every official tutorial:
	// not durable (it does not survive a broker restart, but every program declares it again) and not
	// deleted when its last queue is unbound. If "logs" exists with other properties (another type,
	// durable), the broker refuses (406 PRECONDITION_FAILED) and changes nothing.
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

	// A message that no queue takes is dropped by the exchange, silently, unless it is published as
	// mandatory: then the broker sends it back (basic.return) before confirming it. The library hands
	// returned messages to the channels registered with NotifyReturn.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))

	// Ask the broker to confirm each message we publish on this channel (publisher confirms), so that
	// " [x] Sent" means the broker took the message. The Publisher Confirms tutorial tells this in full.
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}

	// Publish to "logs". The routing key is empty: a fanout exchange does not look at it. The message
	// id is unique, so that a returned message can be told for ours. The timeout bounds the wait for
	// the confirm.
	id := rand.Text()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"logs", // exchange
		"",     // routing key
		true,   // mandatory: return the message if no queue takes it
		false,  // immediate
		amqp.Publishing{
			ContentType: "text/plain",
			MessageId:   id,
			Body:        []byte(body),
		})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// Wait for the broker's answer. The library reports a nack both when the broker refuses the message
	// and when the channel closes before the answer; when the connection is lost, it does that and closes
	// blocked too, so either case may come first, and only a connection still open means a refusal.
	select {
	case <-confirm.Done():
		if !confirm.Acked() && conn.IsClosed() {
			return errors.New("connection lost before the broker confirmed the message: it may or may not have been sent")
		}
		if !confirm.Acked() {
			return errors.New("the broker did not take the message (nack, or it closed the channel)")
		}
	case b, ok := <-blocked:
		if !ok {
			return errors.New("connection lost before the broker confirmed the message: it may or may not have been sent")
		}
		return fmt.Errorf("the broker is blocking publishers (%s): the message may or may not have been sent", b.Reason)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("no confirm from the broker within %s: the message may or may not have been sent", *timeout)
		}
		return errors.New("interrupted before the broker confirmed the message: it may or may not have been sent")
	}
	fmt.Fprintf(stdout, " [x] Sent %s\n", body)

	// The broker returns an unroutable mandatory message before it confirms it, and the library passes
	// the return on before the confirm, so by now a return for our message is waiting in returns, or
	// there is none. A message nobody receives is not an error for a log: we warn and exit 0.
	select {
	case r := <-returns:
		if r.MessageId == id {
			fmt.Fprintf(stderr, "emit_log: warning: no queue is bound to exchange %q, so nobody got the message "+
				"(the broker returned it: %s); start receive_logs first\n", "logs", r.ReplyText)
		}
	default:
	}

	// Close the connection, with its error checked this time (the deferred close then does nothing).
	if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}
