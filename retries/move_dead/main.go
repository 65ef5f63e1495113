// Command move_dead moves the tasks parked in "retry_queue.dead" back to "retry_queue", once what made
// them fail is fixed, and exits when the dead-letter queue is empty.
//
// Usage:
//
//	go run ./retries/move_dead [-queue retry_queue]
//
// Each task is published to the work queue and confirmed before the dead one is acknowledged, so that
// none is lost in the move; a crash in between leaves it in both queues, never in neither.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("move_dead", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("move_dead", flag.ContinueOnError)
	queue := flags.String("queue", "retry_queue", "the work queue (its dead letters are in QUEUE.dead)")
	if err := rabbit.Parse(flags, args, stdout, "move_dead [-queue retry_queue]"); err != nil {
		return err
	}

	conn, err := rabbit.Dial("retries/move_dead")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := declare(ch, *queue, atLeast(conn, 4, 3)); err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	publisher := rabbit.NewPublisher(conn, ch)

	moved := 0
	for ctx.Err() == nil {
		// Take one dead task, unacknowledged: if we stop before the ack, it stays in QUEUE.dead.
		d, ok, err := ch.Get(
			*queue+".dead", // queue
			false,          // auto-ack
		)
		if err != nil {
			return fmt.Errorf("get from %q: %w", *queue+".dead", err)
		}
		if !ok {
			break // empty
		}

		// A fresh message with the same body and id. The broker's x- headers (x-death,
		// x-delivery-count...) stay behind: the task starts its tries again.
		headers := amqp.Table{}
		for k, v := range d.Headers {
			if !strings.HasPrefix(k, "x-") {
				headers[k] = v
			}
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
			"",     // exchange
			*queue, // routing key
			true,   // mandatory
			false,  // immediate
			amqp.Publishing{
				Headers:      headers,
				DeliveryMode: amqp.Persistent,
				ContentType:  d.ContentType,
				MessageId:    d.MessageId,
				Body:         d.Body,
			})
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if err := publisher.Wait(ctx, dc, d.MessageId, 5*time.Second); err != nil {
			return err
		}

		// Only now that the work queue holds it: acknowledge, and the dead one is gone.
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("acknowledge the dead task: %w", err)
		}
		moved++
		fmt.Fprintf(stdout, " [x] Moved %s\n", d.Body)
	}
	fmt.Fprintf(stdout, " [x] %s.dead is empty: %d moved back to %s\n", *queue, moved, *queue)
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
