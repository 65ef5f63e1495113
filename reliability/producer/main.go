// Command producer publishes the tasks 1..N to the durable quorum queue "task_queue" and does not stop
// until the broker has confirmed every one, whatever happens to the node it is connected to: the
// producer of the Reliability tutorial. AMQP_URL may list the nodes of a cluster, comma-separated.
// Usage: go run ./reliability/producer [-count 1000] [-window 100] [-rate 0] [-timeout 15s] [-give-up 2m]
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

var (
	count   = flag.Int("count", 1000, "how many tasks to publish")
	window  = flag.Int("window", 100, "the most tasks published but not yet confirmed (at least 1)")
	rate    = flag.Int("rate", 0, "publish at most this many tasks a second (0: as fast as confirms allow)")
	timeout = flag.Duration("timeout", 15*time.Second, "how long to wait for a confirm before trying the next node")
	giveUp  = flag.Duration("give-up", 2*time.Minute, "how long to go on trying when no broker confirms anything")
)

func main() { rabbit.Main("producer", run) }

// session publishes on one connection, to the node at url, until every task is confirmed (nil) or it fails.
func (p *producer) session(ctx context.Context, url string) error {
	conn, err := rabbit.Dial(url, "reliability/producer")
	if err != nil {
		return classify(err, err)
	}
	defer rabbit.Close(conn)
	p.connected = true
	fmt.Printf(" [*] Connected to %s\n", node(url))
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// The queue as the Work Queues tutorial declares it. A quorum queue has each message on a majority of
	// the nodes (two of three) before the broker confirms it: a confirmed task survives any one node.
	if _, err := ch.QueueDeclare(
		"task_queue", // name
		true,         // durable
		false,        // delete when unused
		false,        // exclusive
		false,        // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	); err != nil {
		return classify(err, rabbit.DeclareError("queue", "task_queue", err))
	}

	// Publisher confirms: their sequence numbers start at 1 on each new channel, so what we keep across
	// connections is the tasks, never the numbers. Room for a return per task in flight.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, *window))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// The tasks in flight. Those not confirmed when the session ends go back to be published again: they
	// may or may not be stored, and at-least-once prefers a possible duplicate to a possible loss.
	var tasks []int                      // in flight, oldest first
	var dcs []*amqp.DeferredConfirmation // their confirms
	defer func() { p.retry = append(p.retry, tasks...) }()
	for len(tasks) > 0 || len(p.retry) > 0 || p.next <= *count {
		// Fill the window: the tasks to publish again first, then new ones.
		if len(tasks) < *window && (len(p.retry) > 0 || p.next <= *count) {
			if p.pace != nil {
				<-p.pace // with -rate: one publish a tick
			}
			task := p.next
			if len(p.retry) > 0 {
				task, p.retry, p.republished = p.retry[0], p.retry[1:], p.republished+1
			} else {
				p.next++
			}
			// The message id is the run's and the task's: a consumer that sees it twice knows it holds
			// a duplicate, which the body alone could not tell.
			tasks = append(tasks, task)
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
				"",           // exchange: the default exchange routes by queue name
				"task_queue", // routing key
				true,         // mandatory: a task no queue takes comes back
				false,        // immediate
				amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: p.run + "-" + strconv.Itoa(task),
					ContentType: "text/plain", Body: []byte(strconv.Itoa(task))})
			if err != nil {
				return fmt.Errorf("publish task %d: %w", task, err) // it goes back with those in flight
			}
			dcs = append(dcs, dc)
			continue
		}

		// Wait at most -timeout for the oldest task's confirm (a later one confirmed first counts in its
		// turn). A nack, a lost connection, a blocked broker, or no confirm in time ends the session, and its
		// deferred Close the connection: the next node gets the tasks. A node cut off from the others by a
		// network partition says nothing: -timeout is the only sign (15 s: above a leader election, 6-10 s).
		wait, cancel := context.WithTimeout(ctx, *timeout)
		acked, err := dcs[0].WaitContext(wait)
		cancel()
		if !acked {
			return rabbit.Unconfirmed(err, *timeout, closed, blocked)
		} else if len(returns) > 0 { // the library hands a return over before the ack of its task
			r := <-returns
			return permanent{fmt.Errorf("task %s came back (%s): was task_queue deleted?", r.Body, r.ReplyText)}
		}
		p.confirmed, p.last = p.confirmed+1, time.Now()
		tasks, dcs = tasks[1:], dcs[1:]
	}
	return nil
}

// producer is what survives a connection: which tasks are still to publish or to confirm, and the counts.
type producer struct {
	run                    string           // this run's random id, in every message id
	next                   int              // the next task never published yet
	retry                  []int            // tasks published on a lost connection, never confirmed: to publish again
	confirmed, republished int              // tasks confirmed; publishes of a task again
	last                   time.Time        // the last confirm, or the start
	pace                   <-chan time.Time // with -rate: a tick per publish
	connected              bool             // whether the current session got connected
}

func run(ctx context.Context) error {
	*window = max(*window, 1) // at least one task in flight
	p := &producer{run: rand.Text()[:8], next: 1, last: time.Now()}
	if *rate > 0 {
		p.pace = time.Tick(time.Second / time.Duration(*rate))
	}

	// The reconnect loop: a session on the next node of the list, until every task is confirmed. It
	// stops for what another node would not cure, and after -give-up without a confirm.
	urls := strings.Split(rabbit.URL(), ",")
	for attempt := 0; p.confirmed < *count; attempt++ {
		url, next := strings.TrimSpace(urls[attempt%len(urls)]), node(urls[(attempt+1)%len(urls)])
		before := p.confirmed
		p.connected = false
		err := p.session(ctx, url)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return p.failed("interrupted")
		case errors.As(err, new(permanent)):
			return p.failed(err.Error())
		case time.Since(p.last) > *giveUp:
			return p.failed(fmt.Sprintf("no broker confirmed anything for %s (last error: %v)", *giveUp, err))
		case p.connected:
			fmt.Printf(" [!] Left %s: %s; trying %s (unconfirmed: %d)\n", node(url), rabbit.FirstLine(err.Error()), next, len(p.retry))
		default:
			fmt.Printf(" [!] %s; trying %s\n", rabbit.FirstLine(err.Error()), next)
		}
		// After a round of the list without a confirm, a pause: no tight loop of dials.
		if err != nil && (attempt+1)%len(urls) == 0 && p.confirmed == before {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	fmt.Printf(" [x] Published %d tasks: %d confirmed, %d republished\n", *count, p.confirmed, p.republished)
	return nil
}

func (p *producer) failed(why string) error {
	return fmt.Errorf("%d of %d tasks not confirmed (%d republished): %s", *count-p.confirmed, *count, p.republished, why)
}

type permanent struct{ error }

// classify marks said permanent for a refusal every node repeats (a wrong password or vhost, which rabbit.Dial
// says in words; a queue declared otherwise), not for 4.3's 541 while its metadata store has no majority.
func classify(err, said error) error {
	var aerr *amqp.Error
	if errors.As(err, &aerr) && slices.Contains([]int{amqp.AccessRefused, amqp.NotAllowed, amqp.PreconditionFailed}, aerr.Code) ||
		strings.Contains(err.Error(), ": access refused: ") || strings.Contains(err.Error(), ": not allowed: ") {
		return permanent{said}
	}
	return said
}

// node names the node at url without the password: host:port.
func node(url string) string {
	if uri, err := amqp.ParseURI(strings.TrimSpace(url)); err == nil {
		return fmt.Sprintf("%s:%d", uri.Host, uri.Port)
	}
	return "a node of AMQP_URL"
}
