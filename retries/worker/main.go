// Command worker takes tasks from the quorum queue "retry_queue" and works on them, as the Work Queues
// worker does, and retries a task that fails: a few times, later each time, then parks it in
// "retry_queue.dead" for a person to look at.
//
// Usage:
//
//	go run ./retries/worker [-dot 1s] [-queue retry_queue]
//
// Each dot in a task is one -dot of work. Each "!" at the end of a task is one failure ("charge!!"
// fails on its first two deliveries, then is done); a task containing "poison" always fails. On
// RabbitMQ 4.3 and later the queue itself waits before each retry and counts the tries; before 4.3 a
// wait queue, "retry_queue.wait", does the waiting. Ctrl+C hands the task in progress back unfinished.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("worker", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("worker", flag.ContinueOnError)
	dot := flags.Duration("dot", time.Second, "how long the work for one dot of a task takes")
	queue := flags.String("queue", "retry_queue", "the work queue (its dead letters go to QUEUE.dead)")
	if err := rabbit.Parse(flags, args, stdout, "worker [-dot 1s] [-queue retry_queue]"); err != nil {
		return err
	}
	if err := rabbit.Within("dot", *dot, 0, time.Hour); err != nil {
		return err
	}

	conn, err := rabbit.Dial("retries/worker")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// The queues are declared as new_task declares them: which arguments depends on the broker.
	brokerRetries := atLeast(conn, 4, 3)
	if err := declare(ch, *queue, brokerRetries); err != nil {
		return err
	}

	// Before 4.3 the worker itself parks a task that ran out of tries, with a confirm.
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	publisher := rabbit.NewPublisher(conn, ch)

	// One task at a time, acknowledged only when done, as in Work Queues.
	if err := ch.Qos(
		1,     // prefetch count
		0,     // prefetch size
		false, // global
	); err != nil {
		return fmt.Errorf("set prefetch count: %w", err)
	}
	consumer := rabbit.NewConsumer(conn, ch, *queue)
	msgs, err := ch.Consume(
		*queue, // queue
		"",     // consumer tag
		false,  // auto-ack
		false,  // exclusive
		false,  // no-local
		false,  // no-wait
		nil,    // args
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %w", *queue, err)
	}
	fmt.Fprintln(stdout, " [*] Waiting for messages. To exit press CTRL+C")

	for {
		var d amqp.Delivery
		var ok bool
		select {
		case <-ctx.Done():
			return rabbit.Close(conn)
		case d, ok = <-msgs:
			if !ok {
				return consumer.Ended()
			}
		}
		fmt.Fprintf(stdout, " [x] Received %s\n", d.Body)

		// The work: one -dot per dot. Ctrl+C hands the task back unfinished. A nack with requeue is
		// not a failure on RabbitMQ 4.3: it is not counted and comes back at once.
		select {
		case <-time.After(time.Duration(bytes.Count(d.Body, []byte("."))) * *dot):
		case <-ctx.Done():
			if err := d.Nack(false, true); err != nil {
				return fmt.Errorf("hand back the task: %w", err)
			}
			fmt.Fprintln(stdout, " [x] Interrupted, task requeued")
			return rabbit.Close(conn)
		}

		// Which delivery this is: the broker counts the failed ones.
		delivery := failures(d, *queue, brokerRetries) + 1
		bangs := len(d.Body) - len(bytes.TrimRight(d.Body, "!"))
		if delivery > bangs && !bytes.Contains(d.Body, []byte("poison")) {
			fmt.Fprintln(stdout, " [x] Done")
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("acknowledge task: %w", err)
			}
			continue
		}

		switch {
		// RabbitMQ 4.3: reject with requeue. The queue counts it (x-delivery-count), waits
		// delivery × 500 ms (at most 4 s) before it gives the task out again, and dead-letters it to
		// QUEUE.dead once the count passes the delivery limit.
		case brokerRetries:
			next := fmt.Sprintf("retry in %s", min(time.Duration(delivery)*retryMin, retryMax))
			if delivery > deliveryLimit {
				next = "dead-lettered to " + *queue + ".dead by the broker"
			}
			fmt.Fprintf(stdout, " [!] Failed on delivery %d of %d: %s\n", delivery, deliveryLimit+1, next)
			err = d.Reject(
				true, // requeue
			)

		// Before 4.3, with tries left: reject without requeue. The queue dead-letters the task to
		// QUEUE.wait, whose message TTL dead-letters it back after retryMin; x-death counts the trips.
		case delivery <= deliveryLimit:
			fmt.Fprintf(stdout, " [!] Failed on delivery %d of %d: retry in %s (via %s.wait)\n",
				delivery, deliveryLimit+1, retryMin, *queue)
			err = d.Reject(
				false, // requeue
			)

		// Before 4.3, out of tries: publish the task to QUEUE.dead, wait for the confirm, then ack.
		default:
			if err = park(ctx, ch, publisher, d, *queue+".dead"); err == nil {
				fmt.Fprintf(stdout, " [!] Failed on delivery %d of %d: parked in %s.dead\n",
					delivery, deliveryLimit+1, *queue)
			}
		}
		if err != nil {
			return err
		}
	}
}

// failures is how many times the task failed before: on 4.3 the queue's x-delivery-count header; before
// 4.3 how many times the work queue dead-lettered it, from the x-death header.
func failures(d amqp.Delivery, queue string, brokerRetries bool) int {
	if brokerRetries {
		return count(d.Headers["x-delivery-count"])
	}
	deaths, _ := d.Headers["x-death"].([]any)
	n := 0
	for _, death := range deaths {
		if t, ok := death.(amqp.Table); ok && t["queue"] == queue {
			n += count(t["count"])
		}
	}
	return n
}

// park moves a task that ran out of tries to the dead-letter queue: published and confirmed first, then
// acknowledged, so that it is never lost (at worst, after a crash in between, it is in both queues).
// Ctrl+C does not cut it short: the wait for the confirm is bounded.
func park(ctx context.Context, ch *amqp.Channel, p *rabbit.Publisher, d amqp.Delivery, dead string) error {
	ctx = context.WithoutCancel(ctx)
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",    // exchange
		dead,  // routing key
		true,  // mandatory
		false, // immediate
		amqp.Publishing{
			Headers:      d.Headers,
			DeliveryMode: amqp.Persistent,
			ContentType:  d.ContentType,
			MessageId:    d.MessageId,
			Body:         d.Body,
		})
	if err != nil {
		return fmt.Errorf("park the task: %w", err)
	}
	if err := p.Wait(ctx, dc, d.MessageId, 5*time.Second); err != nil {
		return fmt.Errorf("park the task: %w", err)
	}
	return d.Ack(false)
}

// count is a header's number, which the broker sends as a long (int64), or 0.
func count(v any) int {
	switch n := v.(type) {
	case int64:
		return int(n)
	case int32:
		return int(n)
	}
	return 0
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
