// Command new_task sends one task to the "task_queue" queue, where workers pick it up.
// It is step two of the RabbitMQ tutorials ("Work Queues"): the producer.
//
// Usage:
//
//	go run ./work-queues/new_task [task words...]
//
// The task is "Hello World!" unless words are given; each dot in it stands for one unit of work for the
// worker ("A hard task....." takes five). The queue is durable and the message persistent, so a task
// survives a broker restart. new_task prints " [x] Sent <task>" only once the broker has confirmed it
// holds the task (a publisher confirm); when the broker refuses it or does not answer in time, new_task
// exits 1 saying why.
//
// The broker is taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"errors"
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

// confirmTimeout bounds the wait for the broker's confirm. A persistent message is confirmed once it is
// written to disk, which usually takes a few hundred milliseconds at most.
const confirmTimeout = 10 * time.Second

func main() {
	// Ctrl+C (SIGINT) or SIGTERM cancels ctx, so a publish stuck waiting for its confirm gives up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "new_task:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	body := "Hello World!"
	if len(args) > 0 {
		body = strings.Join(args, " ")
	}

	// region connect
	// Connect and open a channel, as in Hello World.
	conn, err := broker.Dial("work-queues/new_task")
	if err != nil {
		return err
	}
	defer conn.Close()

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()

	// Ask to be told why the channel closes, if it does while we wait for the confirm.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	// endregion connect

	// region declare
	// Declare the queue durable, so that the queue itself survives a broker restart. Every program
	// using "task_queue" (the worker, and this tutorial's programs in other languages) declares it
	// exactly so: a queue that already exists with other properties is refused, never changed.
	q, err := ch.QueueDeclare(
		"task_queue", // name
		true,         // durable
		false,        // delete when unused
		false,        // exclusive
		false,        // no-wait
		nil,          // arguments
	)
	if err != nil {
		return broker.DeclareError("queue", "task_queue", err)
	}
	// endregion declare

	// region confirm
	// Put the channel in confirm mode: from now on the broker acknowledges every message we publish,
	// once it has taken responsibility for it (for a persistent message in a durable queue: once it is
	// on disk). Without confirms, a publish that returned without error may still be lost.
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("put channel in confirm mode: %w", err)
	}

	// A mandatory message that no queue takes (say, task_queue was deleted a moment ago) comes back to
	// us as a "return", just before its confirm. The buffer of one matters: the library hands it over
	// without waiting for us.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	// endregion confirm

	// region publish
	// Publish to the default exchange, routed to task_queue by its name. Persistent delivery mode asks
	// the broker to write the message to disk: together with the durable queue, the task survives a
	// broker restart.
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange
		q.Name, // routing key
		true,   // mandatory: return it to us if no queue takes it
		false,  // immediate
		amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			ContentType:  "text/plain",
			Body:         []byte(body),
		})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// Wait for the broker's answer: an ack means the task is stored; a nack means the broker could not
	// take it. Only then do we say it was sent.
	acked, err := confirm.WaitContext(ctx)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("publish: no confirm from the broker within %s: the task may or may not be stored", confirmTimeout)
	case err != nil:
		return fmt.Errorf("publish: stopped waiting for the confirm (%w): the task may or may not be stored", err)
	case !acked:
		return nackError(closed)
	}
	select {
	case r := <-returns:
		return fmt.Errorf("publish: no queue took the task (%d %s): was %q deleted?", r.ReplyCode, r.ReplyText, q.Name)
	default:
	}
	fmt.Fprintf(stdout, " [x] Sent %s\n", body)
	// endregion publish

	// region close
	// Close the connection, telling the broker we are done.
	if err := conn.Close(); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
	// endregion close
}

// nackError says why the broker did not acknowledge the task. The library also reports a pending
// confirm as a nack when the channel closes under it; then closed holds the reason.
func nackError(closed <-chan *amqp.Error) error {
	select {
	case reason, ok := <-closed:
		if ok && reason != nil {
			return fmt.Errorf("publish: the channel closed before the broker confirmed the task: %s", reason.Reason)
		}
		return errors.New("publish: the channel closed before the broker confirmed the task")
	default:
		return errors.New("publish: the broker refused the task (nack): it is not stored")
	}
}
