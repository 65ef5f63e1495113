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
	"io"
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
	dead := *queue + ".dead"

	conn, err := rabbit.Dial("retries/move_dead")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	p := rabbit.NewPublisher(conn, ch)

	moved := 0
	for ctx.Err() == nil {
		// Take one dead task, unacknowledged: if we stop before the ack, it stays in QUEUE.dead.
		d, ok, err := ch.Get(
			dead,  // queue
			false, // auto-ack
		)
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
		if err := p.Wait(ctx, dc, d.MessageId, 5*time.Second); err != nil {
			return err
		}

		// Only now that the work queue holds it: acknowledge, and the dead one is gone.
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("acknowledge the dead task: %w", err)
		}
		moved++
		fmt.Fprintf(stdout, " [x] Moved %s\n", d.Body)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %d moved back to %s", moved, *queue)
	}
	fmt.Fprintf(stdout, " [x] %s is empty: %d moved back to %s\n", dead, moved, *queue)
	return rabbit.Close(conn)
}
