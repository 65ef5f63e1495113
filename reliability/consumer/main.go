// Command consumer does the tasks of the durable quorum queue "task_queue", acknowledging each once it
// is done, through lost connections and dead nodes: the consumer of the Reliability tutorial. AMQP_URL
// may list the nodes of a cluster, comma-separated. A task named by -fail always fails (for the
// dead-letter queue). Usage: go run ./reliability/consumer [-work 100ms] [-prefetch 1] [-fail TASK]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("consumer", run) }

// session consumes on one connection, to the node at url, until Ctrl+C (nil) or the connection fails.
func (c *consumer) session(ctx context.Context, url string) error {
	conn, err := rabbit.DialURL(url, "reliability/consumer")
	if err != nil {
		return classify(err, err)
	}
	defer rabbit.Close(conn)
	defer func() { c.lastUp = time.Now() }()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Declare the queue as the producer does (either may start first), and the dead-letter queue, where
	// a policy on the cluster (scripts/cluster.sh) moves a task handed back past the delivery limit.
	for _, name := range []string{"task_queue", "task_queue.dead"} {
		if _, err := ch.QueueDeclare(
			name,  // name
			true,  // durable
			false, // delete when unused
			false, // exclusive
			false, // no-wait
			amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
		); err != nil {
			return classify(err, rabbit.DeclareError("queue", name, err))
		}
	}

	// At most -prefetch unacknowledged tasks, and manual acknowledgements: the broker keeps each task
	// until we say it is done, and gives the unacknowledged ones out again when this channel closes.
	if err := ch.Qos(
		c.prefetch, // prefetch count
		0,          // prefetch size
		false,      // global: no, per consumer, the only limit a quorum queue has
	); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	consumer := rabbit.NewConsumer(conn, ch, "task_queue")
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	msgs, err := ch.Consume(
		"task_queue", // queue
		"",           // consumer tag
		false,        // auto-ack: no, each task is acknowledged once done
		false,        // exclusive
		false,        // no-local
		false,        // no-wait
		nil,          // args
	)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	if !c.waiting {
		fmt.Fprintln(c.stdout, " [*] Waiting for messages. To exit press CTRL+C")
		c.waiting = true
	} else {
		fmt.Fprintf(c.stdout, " [*] Consuming again, from %s\n", rabbit.Redact(url))
	}

	// Ctrl+C closes the connection: the deliveries end, and the broker takes back every task not
	// acknowledged, the one in progress too, and gives them out again.
	defer context.AfterFunc(ctx, func() { rabbit.Close(conn) })()
	for d := range msgs {
		// A task done before came back (its ack was lost with a connection, or the producer published it
		// again): the message id says it is the same task, so its work is not run again.
		mark := " (duplicate)"
		if !c.done[d.MessageId] {
			// Work on the task, unless Ctrl+C comes or the channel closes (its delivery tags with it).
			select {
			case <-ctx.Done():
				return nil
			case <-closed:
				return fmt.Errorf("during task %s: %w", d.Body, consumer.Ended())
			case <-time.After(c.work):
			}

			// A failed task goes back with a reject (requeue). A quorum queue counts the returns in
			// x-delivery-count (4.3: failed deliveries only) and past its delivery limit dead-letters the
			// task, or drops it. Not a nack: since 4.3 a nack with requeue means "not now" and is not
			// counted, and the task would come back forever.
			if c.fail != "" && string(d.Body) == c.fail {
				if err := d.Reject(true); err != nil { // requeue: yes
					return fmt.Errorf("hand back task %s: %w", d.Body, err)
				}
				n, _ := d.Headers["x-delivery-count"].(int64)
				fmt.Fprintf(c.stdout, " [!] Failed %s (delivery %d), handed back\n", d.Body, n+1)
				continue
			}
			c.done[d.MessageId] = true // remembered before the ack: a lost ack makes it a duplicate
			c.tasks, mark = c.tasks+1, ""
			if d.Redelivered {
				c.redelivered, mark = c.redelivered+1, " (redelivered)"
			}
		} else {
			c.duplicates++
		}

		// Acknowledge the task on the channel it came on, which d.Ack always does: a delivery tag means
		// nothing on another channel.
		if err := d.Ack(false); err != nil { // multiple: no
			return fmt.Errorf("acknowledge task %s: %w", d.Body, err)
		}
		fmt.Fprintf(c.stdout, " [x] Done %s%s\n", d.Body, mark)
	}
	if ctx.Err() != nil {
		return nil
	}
	return consumer.Ended() // the reconnect loop takes over
}

// consumer is what survives a connection: the ids of the tasks done, and the counts.
type consumer struct {
	work                           time.Duration
	prefetch                       int
	fail                           string
	done                           map[string]bool // message ids of the tasks done
	tasks, redelivered, duplicates int
	lastUp                         time.Time // when a session that got connected ended, or the start
	waiting                        bool
	stdout                         io.Writer
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("consumer", flag.ContinueOnError)
	work := flags.Duration("work", 100*time.Millisecond, "how long one task takes (at most 1h)")
	prefetch := flags.Int("prefetch", 1, "how many unacknowledged tasks the broker may give this consumer (1 to 1000)")
	fail := flags.String("fail", "", "a task that always fails (for the dead-letter queue)")
	giveUp := flags.Duration("give-up", 2*time.Minute, "how long to go on trying when no broker answers (at most 24h)")
	if err := rabbit.Parse(flags, args, stdout, "consumer [-work 100ms] [-prefetch 1] [-fail TASK] [-give-up 2m]"); err != nil {
		return err
	} else if err := errors.Join(rabbit.NoArgs(flags), rabbit.Within("work", *work, 0, time.Hour), rabbit.Within("prefetch", *prefetch, 1, 1000),
		rabbit.Within("give-up", *giveUp, time.Millisecond, 24*time.Hour)); err != nil {
		return err
	}
	c := &consumer{work: *work, prefetch: *prefetch, fail: *fail, done: map[string]bool{}, lastUp: time.Now(), stdout: stdout}

	// The reconnect loop: consume from the next node of the list until Ctrl+C. Delivery tags die with
	// their channel, so a new connection starts from what this consumer remembers: the ids of tasks done.
	urls := strings.Split(rabbit.URL(), ",")
	for attempt := 0; ; attempt++ {
		url := strings.TrimSpace(urls[attempt%len(urls)])
		start := time.Now()
		err := c.session(ctx, url)
		switch {
		case ctx.Err() != nil:
			fmt.Fprintf(stdout, " [x] Stopped: %d tasks done, %d redelivered, %d duplicates\n", c.tasks, c.redelivered, c.duplicates)
			return nil
		case errors.As(err, new(permanent)):
			return err
		case time.Since(c.lastUp) > *giveUp:
			return fmt.Errorf("no broker for %s (last error: %v)", *giveUp, err)
		case c.lastUp.After(start): // this session got connected
			fmt.Fprintf(stdout, " [!] Lost %s: %s\n", rabbit.Redact(url), rabbit.FirstLine(err.Error()))
		default:
			fmt.Fprintf(stdout, " [!] %s\n", rabbit.FirstLine(err.Error()))
		}
		if (attempt+1)%len(urls) == 0 { // a pause after each round of the list: no tight loop of dials
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

type permanent struct{ error }

// classify marks said permanent when err is a refusal (a wrong password, a queue declared otherwise), not a
// 541 INTERNAL_ERROR: RabbitMQ 4.3's answer after 30 s while its metadata store has no majority.
func classify(err, said error) error {
	var aerr *amqp.Error
	if errors.As(err, &aerr) && slices.Contains([]int{amqp.AccessRefused, amqp.NotAllowed, amqp.PreconditionFailed}, aerr.Code) {
		return permanent{said}
	}
	return said
}
