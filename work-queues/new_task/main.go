// Command new_task puts one task in the "task_queue" queue, where workers pick it up.
// It is step two of the RabbitMQ tutorials ("Work Queues"): the producer.
//
// Usage:
//
//	go run ./work-queues/new_task [-timeout 5s] [task words...]
//
// The task is "Hello World!" unless words are given; each dot in it stands for one unit of work for the
// worker ("A hard task....." takes five). new_task prints " [x] Sent <task>" only once the broker has
// confirmed that task_queue holds the task; otherwise it exits 1 saying why. The broker is taken from
// AMQP_URL (default amqp://guest:guest@localhost:5672/).
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
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "new_task:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	// The words after the flags are the task. "--" ends the flags, so `new_task -- --help` sends "--help".
	flags := flag.NewFlagSet("new_task", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker to take the task")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: new_task [-timeout 5s] [task words...]")
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

	// Connect to the broker. Our helper broker.Dial takes the URL from AMQP_URL, bounds the handshake with
	// a timeout and names the connection; the guide shows the plain amqp091-go it stands for.
	conn, err := broker.Dial("work-queues/new_task")
	if err != nil {
		return err
	}
	// amqp091-go's Close waits for the broker's answer with no time limit; CloseDeadline bounds the wait
	// (past the deadline, the library gives up at its next heartbeat: within 5 s more with the default
	// heartbeat). This deferred close is for the paths that return an error, which it would only hide.
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()

	// A broker short of memory or disk space stops reading from connections that publish (a resource
	// alarm) and says so with connection.blocked. Listening for it lets us report it instead of waiting.
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	// If the broker closes the channel (it refuses something we sent), the reason comes here.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))

	// Declare the queue, exactly as the worker does, since either may start first. It is a quorum queue,
	// as the official tutorials declare it today in every language: replicated when the broker is a
	// cluster, always durable (it survives a broker restart), and every message in it is written to
	// disk. A queue that exists with other properties (say, a classic task_queue an older program
	// declared) is refused with 406 PRECONDITION_FAILED, never changed.
	q, err := ch.QueueDeclare(
		"task_queue", // name
		true,         // durable: quorum queues always are
		false,        // delete when unused
		false,        // exclusive
		false,        // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	)
	if err != nil {
		return broker.DeclareError("queue", "task_queue", err)
	}

	// A mandatory message that no queue takes (task_queue deleted a moment ago) comes back to us as a
	// basic.return, just before its confirm. The library passes it on before the confirm, and waits at
	// most 5 seconds for us to take it: the buffer of one means it never waits.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))

	// Ask the broker to confirm each message we publish on this channel (publisher confirms), so that
	// " [x] Sent" means the task is in the queue. The Publisher Confirms tutorial tells this in full.
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}

	// Publish to the default exchange (""), which routes a message to the queue named by the routing key.
	// Persistent is what the official tutorials set: a quorum queue writes every message to disk anyway,
	// and the task keeps the mark if it ever moves on (dead-lettered to another queue). The message id is
	// unique, so that a returned message can be told for ours. The timeout bounds the wait for the confirm.
	id := rand.Text()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange
		q.Name, // routing key
		true,   // mandatory: return the task if no queue takes it
		false,  // immediate
		amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			ContentType:  "text/plain",
			MessageId:    id,
			Body:         []byte(body),
		})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// Wait for the broker's answer. Only an ack means the queue holds the task. The library reports a
	// nack both when the broker refuses the task and when the channel closes before the answer.
	select {
	case <-confirm.Done():
		if !confirm.Acked() {
			return notTaken(closed)
		}
	case b := <-blocked:
		return fmt.Errorf("the broker is blocking publishers (%s): the task may or may not be in the queue", b.Reason)
	case <-ctx.Done():
		return fmt.Errorf("no confirm from the broker within %s (%w): the task may or may not be in the queue",
			*timeout, context.Cause(ctx))
	}
	// An unroutable message is acked too, once returned: the return, if any, is waiting in returns now.
	select {
	case r := <-returns:
		if r.MessageId == id {
			return fmt.Errorf("no queue took the task (%s): was %q deleted meanwhile? Try again", r.ReplyText, q.Name)
		}
	default:
	}
	fmt.Fprintf(stdout, " [x] Sent %s\n", body)

	// Close the connection, with its error checked this time (the deferred close then does nothing).
	if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// notTaken says why the broker did not take the task: the channel's close reason when it closed (a task
// too large, no permission to write), or a nack (a queue that is full and rejects new tasks).
func notTaken(closed <-chan *amqp.Error) error {
	select {
	case reason, ok := <-closed:
		if ok && reason != nil {
			line, _, _ := strings.Cut(reason.Reason, "\n") // RabbitMQ 4.x explains some reasons over several lines
			return fmt.Errorf("the broker did not take the task: %s", line)
		}
		return errors.New("the broker did not take the task: the channel closed")
	default:
		return errors.New("the broker refused the task (nack): it is not in the queue")
	}
}
