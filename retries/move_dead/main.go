// Command move_dead moves the tasks parked in "retry_queue.dead" back to "retry_queue", once what made
// them fail is fixed, and exits when the dead-letter queue is empty. Usage:
//
//	go run ./retries/move_dead [-queue retry_queue]
//
// Each task is published to the work queue and confirmed before the dead one is acknowledged: a crash
// in between leaves it in both queues, never in neither. The worker declares both queues.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

var queue = flag.String("queue", "retry_queue", "the work queue (its dead letters are in QUEUE.dead)")

// timeout bounds the wait for the broker's confirm of each task moved.
const timeout = 5 * time.Second

func main() { rabbit.Main("move_dead", run) }

func run(ctx context.Context) error {
	dead := *queue + ".dead"
	conn, err := rabbit.Dial(rabbit.URL(), "retries/move_dead")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Publish in confirm mode, and listen for what can keep an ack from meaning "in the work queue": a
	// return, the channel's close, the broker blocking publishers.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	moved := 0
	for ctx.Err() == nil {
		// Take one dead task, unacknowledged: if we stop before the ack, it stays in QUEUE.dead.
		d, ok, err := ch.Get(dead, false /* auto-ack */)
		var aerr *amqp.Error
		if errors.As(err, &aerr) && aerr.Code == amqp.NotFound {
			return fmt.Errorf("no queue %q: start a worker first, it declares the queues", dead)
		} else if err != nil {
			return fmt.Errorf("get from %q: %w", dead, err)
		} else if !ok {
			break // empty
		}

		// A fresh message with the same body and id. The broker's x- headers (x-death,
		// x-delivery-count...) stay behind: the task starts its tries again.
		headers := maps.Clone(d.Headers)
		maps.DeleteFunc(headers, func(k string, _ any) bool { return strings.HasPrefix(k, "x-") })
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
		wait, cancel := context.WithTimeout(ctx, timeout)
		acked, err := dc.WaitContext(wait)
		cancel()
		if !acked {
			return rabbit.Unconfirmed(err, timeout, closed, blocked)
		} else if len(returns) > 0 {
			return fmt.Errorf("no queue took the task (%s): start a worker, it declares %s", (<-returns).ReplyText, *queue)
		}

		// Only now that the work queue holds it: acknowledge, and the dead one is gone.
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("acknowledge the dead task: %w", err)
		}
		moved++
		fmt.Printf(" [x] Moved %s\n", d.Body)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %d moved back to %s", moved, *queue)
	}
	fmt.Printf(" [x] %s is empty: %d moved back to %s\n", dead, moved, *queue)
	return rabbit.Close(conn)
}
