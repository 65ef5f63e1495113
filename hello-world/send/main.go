// Command send publishes one message to the "hello" queue.
// It is step one of the RabbitMQ tutorials ("Hello World!"): the producer.
//
// Usage:
//
//	go run ./hello-world/send [-timeout 5s] [message words...]
//
// The message is "Hello World!" unless words are given. send prints " [x] Sent <message>" only once the
// broker has confirmed that the queue holds the message; otherwise it exits 1 saying why. The broker is
// taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
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
	// The first Ctrl+C (or SIGTERM) cancels ctx, which ends the waits that watch it. From then on the
	// signal is not caught any more, so a second Ctrl+C ends the program at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "send:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	// The words after the flags are the message. "--" ends the flags, so `send -- -h` sends "-h".
	flags := flag.NewFlagSet("send", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker to confirm the message (at most 1h)")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: send [-timeout 5s] [message words...]")
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	if *timeout <= 0 || *timeout > time.Hour {
		return fmt.Errorf("-timeout must be more than 0 and at most 1h (got %s)", *timeout)
	}
	body := "Hello World!"
	if flags.NArg() > 0 {
		body = strings.Join(flags.Args(), " ")
	}

	// Connect to the broker: a TCP connection with the AMQP handshake done. Our helper broker.Dial takes
	// the URL from AMQP_URL, bounds the handshake with a timeout and names the connection; the guide shows
	// the few lines of plain amqp091-go it stands for.
	conn, err := broker.Dial("hello-world/send")
	if err != nil {
		return err
	}
	// Closing the connection tells the broker we are done. amqp091-go's Close waits for the broker's
	// answer with no time limit, and a broker that is blocking us does not answer: CloseDeadline bounds
	// the wait (past the deadline, the library gives up at its next heartbeat: within 5 s more with the
	// default heartbeat). This deferred close is for the paths that return an error, which it would only
	// hide.
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()

	// A broker short of memory or disk space stops reading from connections that publish (a resource
	// alarm) and tells them so with connection.blocked. We listen for it, so that instead of waiting for
	// nothing we can say what is going on.
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))

	// Almost all work happens on a channel: a light-weight session multiplexed over the connection.
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Ask the broker to confirm each message we publish on this channel (publisher confirms). A publish
	// that returned no error has only been written to the network: the broker may still refuse the
	// message. The Publisher Confirms tutorial tells this in full.
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	// A message published as mandatory that no queue takes comes back to us (basic.return) instead of
	// being dropped. A message the broker refuses (too large, no permission to write) makes it close the
	// channel, with a reason. The buffers of one matter: the library waits at most 5s for us to take a
	// notification, then drops it.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))

	// Declare the queue we send to. Declaring is idempotent: the queue is created only if it does not exist
	// yet. "hello" is a quorum queue, durable, as the official tutorials declare it today in every
	// language, so this program works with theirs. A queue that exists with other properties is refused
	// (406 PRECONDITION_FAILED), never changed.
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

	// Publish to the default exchange (""), which routes a message to the queue named by the routing
	// key. The timeout bounds the wait for the confirm.
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange
		q.Name, // routing key
		true,   // mandatory: return it to us if no queue takes it (say "hello" was just deleted)
		false,  // immediate
		amqp.Publishing{
			ContentType: "text/plain",
			Body:        []byte(body),
		})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// Wait for the broker's answer. An ack means the broker has the message, in the queue or, if no queue
	// took it, returned to us: RabbitMQ sends the return before the ack, and the library hands it to us
	// before it marks the message acked, so a return that is not there now is not coming.
	select {
	case <-confirm.Done():
		if !confirm.Acked() {
			return notConfirmed(closed)
		}
		select {
		case r, ok := <-returns:
			if ok {
				return fmt.Errorf("no queue took the message (%d %s): it is not in the queue", r.ReplyCode, r.ReplyText)
			}
		default:
		}
	case b, ok := <-blocked:
		if !ok { // the connection closed
			return notConfirmed(closed)
		}
		return fmt.Errorf("the broker is blocking publishers (%s): the message may or may not be in the queue", b.Reason)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("no confirm from the broker within %s: the message may or may not be in the queue", *timeout)
		}
		return errors.New("interrupted before the broker confirmed the message: it may or may not be in the queue")
	}
	fmt.Fprintf(stdout, " [x] Sent %s\n", body)

	// Close the connection before exiting, with its error checked this time (the deferred close then
	// does nothing).
	if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// notConfirmed says why a message got no ack. When the channel closes, the library nacks the message
// still waiting for its confirm, after it has put the reason in closed; otherwise the nack is the
// broker's own: it refused the message.
func notConfirmed(closed <-chan *amqp.Error) error {
	select {
	case e, ok := <-closed:
		reason := "closed"
		if ok && e != nil {
			reason, _, _ = strings.Cut(e.Reason, "\n")
		}
		return fmt.Errorf("the channel closed before the broker confirmed the message (%s): it may or may not be in the queue", reason)
	default:
		return errors.New("the broker refused the message (nack): it is not in the queue")
	}
}
