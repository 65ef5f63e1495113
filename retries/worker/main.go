// Command worker takes tasks from the quorum queue "retry_queue", as Work Queues' worker does, and
// retries a task that fails: later each time, a few times, then parks it in "retry_queue.dead". It
// declares the lesson's queues, which new_task and move_dead use. Usage:
//
//	go run ./retries/worker [-dot 1s] [-queue retry_queue]
//
// Each dot in a task is one -dot of work, each "!" at its end one failure; "poison" always fails.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

var (
	dot   = flag.Duration("dot", time.Second, "how long the work for one dot of a task takes")
	queue = flag.String("queue", "retry_queue", "the work queue (its dead letters go to QUEUE.dead)")
)

func main() { rabbit.Main("worker", run) }

func run(ctx context.Context) error {
	conn, err := rabbit.Dial(rabbit.URL(), "retries/worker")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// The dead-letter queue, where a task that ran out of tries waits for a person.
	if err := declare(ch, *queue+".dead", amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err != nil {
		return err
	}

	// The work queue. RabbitMQ 4.3 delays a rejected task retryMin × its delivery count (at most
	// retryMax) and dead-letters it to QUEUE.dead past the delivery limit. Before 4.3 (the version the
	// broker gave as we connected; one that does not read counts as before), waitqueue.go.
	work := deadLetterTo(*queue + ".dead")
	work["x-delivery-limit"] = deliveryLimit
	var major, minor int
	version, _ := conn.Properties["version"].(string)
	_, err = fmt.Sscanf(version, "%d.%d", &major, &minor)
	var before43 *waitQueue
	if err == nil && (major > 4 || major == 4 && minor >= 3) {
		work["x-delayed-retry-type"] = "failed" // rejected (not nacked) tasks
		work["x-delayed-retry-min"] = retryMin.Milliseconds()
		work["x-delayed-retry-max"] = retryMax.Milliseconds()
	} else if before43, err = newWaitQueue(conn, ch, *queue, work); err != nil {
		return err
	}
	if err := declare(ch, *queue, work); err != nil {
		return err
	}

	// One task at a time, acknowledged only when done, as in Work Queues.
	if err := ch.Qos(1 /* prefetch count */, 0 /* prefetch size */, false /* global */); err != nil {
		return fmt.Errorf("set prefetch count: %w", err)
	}
	// Listen, before consuming, for why the deliveries could end: the channel's close, a cancel.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
	msgs, err := ch.Consume(
		*queue,   // queue
		"worker", // consumer tag
		false,    // auto-ack
		false,    // exclusive
		false,    // no-local
		false,    // no-wait
		nil,      // args
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %w", *queue, err)
	}
	fmt.Println(" [*] Waiting for messages. To exit press CTRL+C")

	for {
		select {
		case <-ctx.Done(): // Ctrl+C between tasks: the close cancels our consumer
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				why := fmt.Sprintf("queue %q was deleted, or a task ran past the consumer timeout", *queue)
				return rabbit.Ended(closed, cancelled, why)
			}
			fmt.Printf(" [x] Received %s\n", d.Body)

			// The work: one -dot per dot. Ctrl+C hands the task back with a nack: not its failure.
			select {
			case <-time.After(time.Duration(bytes.Count(d.Body, []byte("."))) * *dot):
			case <-ctx.Done():
				if err := d.Nack(false, true); err != nil {
					return fmt.Errorf("hand back the task: %w", err)
				}
				fmt.Println(" [x] Interrupted, task requeued")
				return rabbit.Close(conn)
			}

			// Which delivery this is: on 4.3 the queue counts the failed ones in x-delivery-count.
			failed, _ := d.Headers["x-delivery-count"].(int64)
			if before43 != nil {
				failed = before43.failures(d)
			}
			delivery := int(failed) + 1
			if bangs := len(d.Body) - len(bytes.TrimRight(d.Body, "!")); delivery > bangs &&
				!bytes.Contains(d.Body, []byte("poison")) {
				fmt.Println(" [x] Done")
				if err := d.Ack(false); err != nil {
					return fmt.Errorf("acknowledge task: %w", err)
				}
				continue
			}

			// RabbitMQ 4.3: a failure is a reject with requeue; the queue waits, retries, dead-letters.
			next := fmt.Sprint("retry in ", min(time.Duration(delivery)*retryMin, retryMax))
			if delivery > deliveryLimit {
				next = "dead-lettered to " + *queue + ".dead by the broker"
			}
			if before43 == nil {
				err = d.Reject(true /* requeue */)
			} else {
				next, err = before43.fail(ctx, d, delivery)
			}
			if err != nil {
				return fmt.Errorf("fail the task: %w", err)
			}
			fmt.Printf(" [!] Failed on delivery %d of %d: %s\n", delivery, deliveryLimit+1, next)
		}
	}
}

// The retry policy: the first retry's wait (before 4.3 every retry's), the longest, and how many
// retries a task gets: it is delivered at most deliveryLimit+1 times.
const (
	retryMin      = 500 * time.Millisecond
	retryMax      = 4 * time.Second
	deliveryLimit = 4
)
