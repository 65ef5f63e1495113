package main

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// Before RabbitMQ 4.3 (4.0, 3.10) a queue neither delays a retry nor keeps the count the worker reads:
// the work queue dead-letters a rejected task to QUEUE.wait, whose message TTL dead-letters it back
// after retryMin, and each trip adds to the task's x-death header. Out of tries, the worker itself
// parks the task in QUEUE.dead: the work queue has one dead-letter target, the wait queue.
type waitQueue struct {
	ch      *amqp.Channel
	queue   string
	returns chan amqp.Return
	closed  chan *amqp.Error
	blocked chan amqp.Blocking
}

// newWaitQueue declares QUEUE.wait, points the work queue's dead letters (work) at it, and turns on
// publisher confirms for parking, with listeners for what can keep an ack from meaning "parked".
func newWaitQueue(conn *amqp.Connection, ch *amqp.Channel, queue string, work amqp.Table) (*waitQueue, error) {
	work["x-dead-letter-routing-key"] = queue + ".wait"
	wait := deadLetterTo(queue)
	wait["x-message-ttl"] = retryMin.Milliseconds()
	if err := declare(ch, queue+".wait", wait); err != nil {
		return nil, err
	}
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return nil, fmt.Errorf("enable publisher confirms: %w", err)
	}
	// Room for many alarms' blocked and unblocked, read only when a park fails: the worker runs long.
	returns, closed := ch.NotifyReturn(make(chan amqp.Return, 1)), ch.NotifyClose(make(chan *amqp.Error, 1))
	return &waitQueue{ch, queue, returns, closed, conn.NotifyBlocked(make(chan amqp.Blocking, 64))}, nil
}

// failures is how many times the work queue dead-lettered the task, from its x-death header, which the
// broker keeps: one entry per queue and reason, with a count.
func (w *waitQueue) failures(d amqp.Delivery) int64 {
	deaths, _ := d.Headers["x-death"].([]any)
	n := int64(0)
	for _, death := range deaths {
		if t, ok := death.(amqp.Table); ok && t["queue"] == w.queue {
			c, _ := t["count"].(int64)
			n += c
		}
	}
	return n
}

// fail fails the task on the given delivery and says what happens next.
func (w *waitQueue) fail(ctx context.Context, d amqp.Delivery, delivery int) (string, error) {
	// With tries left: reject without requeue, so the queue dead-letters it to QUEUE.wait.
	if delivery <= deliveryLimit {
		return fmt.Sprintf("retry in %s (via %s.wait)", retryMin, w.queue), d.Reject(false /* requeue */)
	}

	// Out of tries: publish it to QUEUE.dead, and ack it once the broker confirmed that copy (within 5s,
	// Ctrl+C or not): a crash in between leaves it in both queues, never in neither.
	const timeout = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	dc, err := w.ch.PublishWithDeferredConfirmWithContext(ctx,
		"",              // exchange
		w.queue+".dead", // routing key
		true,            // mandatory
		false,           // immediate
		amqp.Publishing{Headers: d.Headers, DeliveryMode: amqp.Persistent, ContentType: d.ContentType,
			MessageId: d.MessageId, Body: d.Body})
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	if acked, err := dc.WaitContext(ctx); !acked {
		return "", rabbit.Unconfirmed(err, timeout, w.closed, w.blocked)
	} else if len(w.returns) > 0 {
		return "", fmt.Errorf("no queue took it (%s): is %s.dead deleted?", (<-w.returns).ReplyText, w.queue)
	}
	return "parked in " + w.queue + ".dead", d.Ack(false)
}

// deadLetterTo is a quorum queue's arguments for dead letters routed to queue through the default
// exchange, kept until queue has confirmed them (at-least-once, which needs reject-publish).
func deadLetterTo(queue string) amqp.Table {
	return amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum, "x-dead-letter-exchange": "",
		"x-dead-letter-routing-key": queue, "x-dead-letter-strategy": "at-least-once",
		"x-overflow": "reject-publish"}
}

// declare declares the durable queue name; args give its type.
func declare(ch *amqp.Channel, name string, args amqp.Table) error {
	if _, err := ch.QueueDeclare(
		name,  // name
		true,  // durable
		false, // delete when unused
		false, // exclusive
		false, // no-wait
		args,  // arguments
	); err != nil {
		return rabbit.DeclareError("queue", name, err)
	}
	return nil
}
