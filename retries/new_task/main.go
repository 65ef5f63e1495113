// Command new_task puts one task in the quorum queue "retry_queue", where retries/worker picks it up.
// It is Work Queues' new_task, on a queue that retries what fails.
//
// Usage:
//
//	go run ./retries/new_task [-timeout 5s] [-queue retry_queue] [task words...]
//
// Each dot in the task is a second of work, each "!" at its end a failure; a task containing "poison"
// always fails. new_task prints " [x] Sent <task>" once the broker has confirmed the queue holds it.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("new_task", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("new_task", flag.ContinueOnError)
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker to take the task")
	queue := flags.String("queue", "retry_queue", "the work queue (its dead letters go to QUEUE.dead)")
	if err := rabbit.Parse(flags, args, stdout, "new_task [-timeout 5s] [-queue retry_queue] [task words...]"); err != nil {
		return err
	}
	if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return err
	}
	body := "Hello World!"
	if flags.NArg() > 0 {
		body = strings.Join(flags.Args(), " ")
	}

	conn, err := rabbit.Dial("retries/new_task")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Declare the queues as the worker does. Which arguments depends on the broker's version.
	if err := declare(ch, *queue, atLeast(conn, 4, 3)); err != nil {
		return err
	}

	// Publish with a confirm, as Work Queues' new_task does: " [x] Sent" means the queue holds it.
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	publisher := rabbit.NewPublisher(conn, ch)
	id := rand.Text()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",     // exchange
		*queue, // routing key
		true,   // mandatory
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
	if err := publisher.Wait(ctx, dc, id, *timeout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, " [x] Sent %s\n", body)
	return rabbit.Close(conn)
}

// The retry policy. A queue's arguments cannot change once it is declared: new_task, worker and
// move_dead declare the queues alike.
const (
	retryMin      = 500 * time.Millisecond // the first retry's wait; before 4.3, every retry's
	retryMax      = 4 * time.Second        // the longest wait (4.3)
	deliveryLimit = 4                      // retries: a task is delivered at most 5 times
)

// declare declares the work queue, its dead-letter queue QUEUE.dead and, before RabbitMQ 4.3, its wait
// queue QUEUE.wait. All are durable quorum queues; dead-lettering is at-least-once (which needs
// x-overflow reject-publish): the broker keeps a dead letter until the target queue has confirmed it.
func declare(ch *amqp.Channel, queue string, brokerRetries bool) error {
	atLeastOnce := amqp.Table{
		amqp.QueueTypeArg:        amqp.QueueTypeQuorum,
		"x-dead-letter-strategy": "at-least-once",
		"x-overflow":             "reject-publish",
		"x-dead-letter-exchange": "",
	}
	work := maps.Clone(atLeastOnce)
	work["x-delivery-limit"] = deliveryLimit
	work["x-dead-letter-routing-key"] = queue + ".dead"
	queues := []struct {
		name string
		args amqp.Table
	}{{queue + ".dead", amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}}, {queue, work}}
	if brokerRetries {
		work["x-delayed-retry-type"] = "failed" // delay rejected tasks, not those nacked
		work["x-delayed-retry-min"] = retryMin.Milliseconds()
		work["x-delayed-retry-max"] = retryMax.Milliseconds()
	} else {
		work["x-dead-letter-routing-key"] = queue + ".wait"
		wait := maps.Clone(atLeastOnce)
		wait["x-message-ttl"] = retryMin.Milliseconds()
		wait["x-dead-letter-routing-key"] = queue
		queues = append(queues, struct {
			name string
			args amqp.Table
		}{queue + ".wait", wait})
	}
	for _, q := range queues {
		if _, err := ch.QueueDeclare(
			q.name, // name
			true,   // durable
			false,  // delete when unused
			false,  // exclusive
			false,  // no-wait
			q.args, // arguments
		); err != nil {
			return rabbit.DeclareError("queue", q.name, err)
		}
	}
	return nil
}

// atLeast reports whether the broker is RabbitMQ major.minor or later, from the version it gave in the
// connection's server properties.
func atLeast(conn *amqp.Connection, major, minor int) bool {
	var ma, mi int
	v, _ := conn.Properties["version"].(string)
	if _, err := fmt.Sscanf(v, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
