// Command consumer does the tasks of the durable quorum queue "task_queue", acknowledging each once done,
// through lost connections and dead nodes: the Reliability tutorial's consumer (AMQP_URL may list the
// nodes of a cluster, comma-separated). Usage: go run ./reliability/consumer [-work 100ms] [-prefetch 1] [-idle 10s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

var (
	work     = flag.Duration("work", 100*time.Millisecond, "how long one task takes")
	prefetch = flag.Int("prefetch", 1, "how many unacknowledged tasks the broker may give this consumer")
	fail     = flag.String("fail", "", "a task that always fails (for the dead-letter queue)")
	giveUp   = flag.Duration("give-up", 2*time.Minute, "how long to go on trying when no broker answers")
	idle     = flag.Duration("idle", 10*time.Second, "after this long without a task, ask for one; no answer as long again: next node")
)

func main() { rabbit.Main("consumer", run) }

// session consumes on one connection, to the node at url, until Ctrl+C (nil) or the connection fails.
func (c *consumer) session(ctx context.Context, url string) error {
	conn, err := rabbit.Dial(url, "reliability/consumer")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	defer func() { c.lastUp = time.Now() }()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
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
			return rabbit.DeclareError("queue", name, err)
		}
	}

	// At most -prefetch unacknowledged tasks, and manual acknowledgements: the broker keeps each task
	// until we say it is done, and gives the unacknowledged ones out again when this channel closes.
	if err := ch.Qos(
		*prefetch, // prefetch count
		0,         // prefetch size
		false,     // global: no, per consumer, the only limit a quorum queue has
	); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
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
		fmt.Println(" [*] Waiting for messages. To exit press CTRL+C")
		c.waiting = true
	} else {
		fmt.Printf(" [*] Consuming again, from %s\n", node(url))
	}

	// Ctrl+C ends the session, and its deferred Close the connection: the broker takes back every task
	// not acknowledged, the one in progress too, and gives them out again.
	for {
		d, ok := amqp.Delivery{}, false
		select {
		case <-ctx.Done():
			return nil
		case d, ok = <-msgs:
		case <-time.After(*idle):
			// No task for -idle: ask for one. A node cut off by a network partition delivers nothing and says
			// nothing, but a get needs the queue's leader: no answer within -idle, and a timer closes the connection.
			timer := time.AfterFunc(*idle, func() { rabbit.Close(conn) })
			if d, ok, err = ch.Get("task_queue", false /* auto-ack */); !timer.Stop() {
				return fmt.Errorf("no task for %s, then no answer to a get within %s: cut off from the other nodes?", *idle, *idle)
			} else if err == nil && !ok {
				continue // the node answered: no task waits
			}
		}
		if !ok { // the deliveries ended, or the get failed: the reconnect loop takes over
			return rabbit.Ended(closed, cancelled, "queue \"task_queue\" was deleted")
		}

		// A task done before came back (its ack was lost with a connection, or the producer published it
		// again): the message id says it is the same task, so its work is not run again.
		mark := " (duplicate)"
		if !c.done[d.MessageId] {
			// Work on the task, unless Ctrl+C comes or the channel closes (its delivery tags with it).
			select {
			case <-ctx.Done():
				return nil
			case reason := <-closed:
				return fmt.Errorf("during task %s: %w", d.Body, rabbit.Lost(reason))
			case <-time.After(*work):
			}

			// A failed task goes back with a reject (requeue), which x-delivery-count counts: past the delivery limit
			// the queue dead-letters or drops it. Not a nack: since 4.3 a nack with requeue is not counted (it loops).
			if *fail != "" && string(d.Body) == *fail {
				if err := d.Reject(true); err != nil { // requeue: yes
					return fmt.Errorf("hand back task %s: %w", d.Body, err)
				}
				n, _ := d.Headers["x-delivery-count"].(int64)
				fmt.Printf(" [!] Failed %s (delivery %d), handed back\n", d.Body, n+1)
				continue
			}
			c.done[d.MessageId] = true // remembered before the ack: a lost ack makes it a duplicate
			mark = map[bool]string{true: " (redelivered)"}[d.Redelivered]
		}
		c.marks[mark]++ // for the summary

		// Acknowledge on the channel the task came on, as d.Ack does: a delivery tag means nothing on another.
		if err := d.Ack(false); err != nil { // multiple: no
			return fmt.Errorf("acknowledge task %s: %w", d.Body, err)
		}
		fmt.Printf(" [x] Done %s%s\n", d.Body, mark)
	}
}

// consumer is what survives a connection: the ids of the tasks done, and the counts.
type consumer struct {
	done    map[string]bool // message ids of the tasks done
	marks   map[string]int  // how many tasks were done with each mark: "", " (redelivered)", " (duplicate)"
	lastUp  time.Time       // when a session that got connected ended, or the start
	waiting bool            // whether a session got as far as consuming
}

func run(ctx context.Context) error {
	c := &consumer{done: map[string]bool{}, marks: map[string]int{}, lastUp: time.Now()}

	// The reconnect loop: consume from the next node of the list until Ctrl+C. Delivery tags die with
	// their channel, so a new connection starts from what this consumer remembers: the ids of tasks done.
	urls := strings.Split(rabbit.URL(), ",")
	for attempt := 0; ; attempt++ {
		url := strings.TrimSpace(urls[attempt%len(urls)])
		start := time.Now()
		err := c.session(ctx, url)
		switch {
		case ctx.Err() != nil:
			fmt.Printf(" [x] Stopped: %d tasks done, %d redelivered, %d duplicates\n", len(c.done), c.marks[" (redelivered)"], c.marks[" (duplicate)"])
			return nil
		case permanent(err):
			return err
		case time.Since(c.lastUp) > *giveUp:
			return fmt.Errorf("no broker for %s (last error: %v)", *giveUp, err)
		case c.lastUp.After(start): // this session got connected
			fmt.Printf(" [!] Lost %s: %s\n", node(url), rabbit.FirstLine(err.Error()))
		default:
			fmt.Printf(" [!] %s\n", rabbit.FirstLine(err.Error()))
		}
		if (attempt+1)%len(urls) == 0 { // a pause after each round of the list: no tight loop of dials
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// permanent says whether err is a refusal every node repeats, not 4.3's 541 while its metadata store has no
// majority: a wrong password or vhost (rabbit.Dial's words), no permission, a queue declared otherwise.
func permanent(err error) bool {
	var aerr *amqp.Error
	return errors.As(err, &aerr) && (aerr.Code == amqp.AccessRefused || aerr.Code == amqp.NotAllowed) ||
		regexp.MustCompile(`: (access refused|not allowed): | exists with other properties \(`).MatchString(err.Error())
}

// node names the node at url without the password: host:port. (url was dialled, so it parses.)
func node(url string) string {
	uri, _ := amqp.ParseURI(strings.TrimSpace(url))
	return fmt.Sprintf("%s:%d", uri.Host, uri.Port)
}
