// Command emit_log_topic publishes one log message to the "topic_logs" exchange, with a routing key made
// of words and dots, such as "kern.critical" (<facility>.<severity>). A topic exchange gives the message
// to the queues bound with a pattern that matches the key. It is step five of the RabbitMQ tutorials
// ("Topics"): the producer.
//
// Usage:
//
//	go run ./topics/emit_log_topic [-timeout 5s] [routing key] [message words...]
//
// The routing key is "anonymous.info" and the message "Hello World!" unless given. emit_log_topic prints
// " [x] Sent <routing key>:<message>" only once the broker has confirmed it; otherwise it exits 1 saying
// why. When no binding matches the key, the message reaches nobody: emit_log_topic says so on stderr,
// as a warning, and still exits 0. The broker is taken from AMQP_URL
// (default amqp://guest:guest@localhost:5672/).
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
		fmt.Fprintln(os.Stderr, "emit_log_topic:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The first word after the flags is the routing key, the others the message. "--" ends the flags.
	flags := flag.NewFlagSet("emit_log_topic", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker to take the message")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: emit_log_topic [-timeout 5s] [routing key] [message words...]")
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	if *timeout <= 0 || *timeout > time.Hour {
		return fmt.Errorf("-timeout must be more than 0 and at most 1h (got %s)", *timeout)
	}
	key, body := "anonymous.info", "Hello World!"
	if flags.NArg() > 0 {
		key = flags.Arg(0)
	}
	if flags.NArg() > 1 {
		body = strings.Join(flags.Args()[1:], " ")
	}
	// A routing key is an AMQP short string: at most 255 bytes. amqp091-go would fail to write a longer
	// one and close the whole connection, so we check it first.
	if len(key) > 255 {
		return fmt.Errorf("the routing key is %d bytes long: it may be at most 255 bytes", len(key))
	}

	// Connect to the broker. Our helper broker.Dial takes the URL from AMQP_URL, bounds the handshake with
	// a timeout and names the connection; the guide shows the plain amqp091-go it stands for.
	conn, err := broker.Dial("topics/emit_log_topic")
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
	// If the broker refuses what we do on the channel, it closes the channel and says why. The buffer of
	// one matters: the library hands the reason over without waiting for us.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))

	// Declare the exchange. A topic exchange gives a message to every queue bound to it with a binding
	// key that matches the message's routing key, word by word: in a binding key, "*" stands for exactly
	// one word and "#" for zero or more. A queue gets the message once, however many of its bindings
	// match. "topic_logs" is declared as the official tutorials declare it (Python, Java, .NET...): not
	// durable, not deleted when unused. If it exists with other properties (another type, durable), the
	// broker refuses and changes nothing.
	if err := ch.ExchangeDeclare(
		"topic_logs", // name
		"topic",      // type
		false,        // durable
		false,        // auto-deleted
		false,        // internal
		false,        // no-wait
		nil,          // arguments
	); err != nil {
		return broker.DeclareError("exchange", "topic_logs", err)
	}

	// A message that no queue takes (no binding matches its routing key) is dropped by the exchange,
	// silently, unless it is published as mandatory: then the broker sends it back (basic.return)
	// before confirming it. The library hands returned messages to the channels given to NotifyReturn.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))

	// Ask the broker to confirm each message we publish on this channel (publisher confirms), so that
	// " [x] Sent" means the broker took the message. The Publisher Confirms tutorial tells this in full.
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}

	// Publish to "topic_logs" with our routing key. The message id is unique, so that a returned
	// message can be told for ours. The timeout bounds the wait for the confirm.
	id := rand.Text()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"topic_logs", // exchange
		key,          // routing key
		true,         // mandatory: return the message if no queue takes it
		false,        // immediate
		amqp.Publishing{
			ContentType: "text/plain",
			MessageId:   id,
			Body:        []byte(body),
		})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// Wait for the broker's answer. The library reports a nack both when the broker refuses the message
	// and when the channel closes first; it closes blocked when the connection closes.
	select {
	case <-confirm.Done():
		if !confirm.Acked() {
			return notTaken(closed)
		}
	case b := <-blocked:
		if !b.Active {
			return notTaken(closed)
		}
		return fmt.Errorf("the broker is blocking publishers (%s): the message may or may not have been sent", b.Reason)
	case <-ctx.Done():
		return fmt.Errorf("no confirm from the broker within %s (%w): the message may or may not have been sent",
			*timeout, context.Cause(ctx))
	}
	fmt.Fprintf(stdout, " [x] Sent %s:%s\n", key, body)

	// The broker returns an unroutable mandatory message before it confirms it, and the library passes
	// the return on before the confirm, so by now a return for our message is waiting in returns, or
	// there is none. A log message nobody receives is not an error: we warn and exit 0.
	select {
	case r := <-returns:
		if r.MessageId == id {
			fmt.Fprintf(stderr, "emit_log_topic: warning: no binding of %q matches key %q, so nobody got "+
				"the message (the broker returned it: %s)\n", "topic_logs", key, r.ReplyText)
		}
	default:
	}

	// Close the connection, with its error checked this time (the deferred close then does nothing).
	if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// notTaken says why the broker did not confirm the message. The library puts the reason a channel
// closed in closed before it nacks what was waiting for a confirm. A channel-level error from the broker
// (403 ACCESS_REFUSED, 404 NOT_FOUND, 406 PRECONDITION_FAILED...) means it refused the message;
// otherwise the connection closed, and the message may or may not have reached the broker.
func notTaken(closed <-chan *amqp.Error) error {
	select {
	case e, ok := <-closed:
		switch {
		case ok && e != nil && e.Server && e.Recover:
			return fmt.Errorf("the broker refused the message: %s", e.Reason)
		case ok && e != nil:
			return fmt.Errorf("the connection closed before the broker confirmed the message (%s): "+
				"it may or may not have been sent", e.Reason)
		}
		return errors.New("the channel closed before the broker confirmed the message")
	default:
	}
	return errors.New("the broker did not take the message (nack)")
}
