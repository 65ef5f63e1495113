// Command producer publishes the tasks 1..N to the durable quorum queue "task_queue" and does not stop
// until the broker has confirmed every one, whatever happens to the node it is connected to: the
// producer of the Reliability tutorial. AMQP_URL may list the nodes of a cluster, comma-separated.
// Usage: go run ./reliability/producer [-count 1000] [-window 100] [-rate 0] [-timeout 30s] [-give-up 2m]
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("producer", run) }

// session publishes on one connection, to the node at url, until every task is confirmed (nil) or it fails.
func (p *producer) session(ctx context.Context, url string) error {
	conn, err := rabbit.DialURL(url, "reliability/producer")
	if err != nil {
		return classify(err, err)
	}
	defer rabbit.Close(conn)
	p.connected = true
	fmt.Fprintf(p.stdout, " [*] Connected to %s\n", rabbit.Redact(url))
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
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

	// Publisher confirms. Their sequence numbers belong to the channel and start at 1 on each new one,
	// so what we keep across connections is the tasks, never the numbers.
	if err := ch.Confirm(false); err != nil { // no-wait: false
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	pub := rabbit.NewPublisher(conn, ch)

	// The tasks in flight. Those not confirmed when the session ends go back to be published again: they
	// may or may not be stored, and at-least-once prefers a possible duplicate to a possible loss.
	type inflight struct {
		task int
		id   string
		dc   *amqp.DeferredConfirmation
	}
	var pending []inflight
	defer func() {
		for _, f := range pending {
			p.retry = append(p.retry, f.task)
		}
	}()
	for len(pending) > 0 || len(p.retry) > 0 || p.next <= p.count {
		// Fill the window: the tasks to publish again first, then new ones.
		if len(pending) < p.window && (len(p.retry) > 0 || p.next <= p.count) {
			if p.pace != nil {
				<-p.pace.C // with -rate: one publish a tick
			}
			task := p.next
			if len(p.retry) > 0 {
				task, p.retry, p.republished = p.retry[0], p.retry[1:], p.republished+1
			} else {
				p.next++
			}
			// The message id is the run's and the task's: a consumer that sees it twice knows it holds
			// a duplicate, which the body alone could not tell.
			id := p.run + "-" + strconv.Itoa(task)
			pending = append(pending, inflight{task: task, id: id})
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
				"",           // exchange: the default exchange routes by queue name
				"task_queue", // routing key
				true,         // mandatory: a task no queue takes comes back
				false,        // immediate
				amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: id, ContentType: "text/plain", Body: []byte(strconv.Itoa(task))})
			if err != nil {
				return pub.PublishError(ctx, err) // the task goes back with those in flight
			}
			pending[len(pending)-1].dc = dc
			continue
		}

		// Wait for the oldest task's confirm, at most -timeout (a later one confirmed first counts in its
		// turn). A nack, a lost connection, a blocked broker or a timeout ends the session.
		var ce *rabbit.ConfirmError
		switch err := pub.Wait(ctx, pending[0].dc, pending[0].id, p.timeout); {
		case err == nil:
			p.confirmed, p.last = p.confirmed+1, time.Now()
		case errors.As(err, &ce) && ce.Outcome == rabbit.Returned:
			return permanent{fmt.Errorf("task %d came back, %s: was task_queue deleted?", pending[0].task, ce.Why())}
		default:
			return err
		}
		pending = pending[1:]
	}
	return nil
}

// producer is what survives a connection: which tasks are still to publish or to confirm, and the counts.
type producer struct {
	run                    string // this run's random id, in every message id
	count, window, next    int    // next: the next task never published yet
	retry                  []int  // tasks published on a lost connection, never confirmed: to publish again
	confirmed, republished int
	timeout                time.Duration
	last                   time.Time    // the last confirm, or the start
	pace                   *time.Ticker // with -rate: a tick per publish
	connected              bool         // whether the current session got connected
	stdout                 io.Writer
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("producer", flag.ContinueOnError)
	count := flags.Int("count", 1000, "how many tasks to publish (1 to 10,000,000)")
	window := flags.Int("window", 100, "the most tasks published but not yet confirmed (1 to 10,000)")
	rate := flags.Int("rate", 0, "publish at most this many tasks a second (0: as fast as confirms allow)")
	timeout := flags.Duration("timeout", 30*time.Second, "how long to wait for a confirm before leaving a connection (at most 1h)")
	giveUp := flags.Duration("give-up", 2*time.Minute, "how long to go on trying when no broker confirms anything (at most 24h)")
	if err := rabbit.Parse(flags, args, stdout, "producer [-count 1000] [-window 100] [-rate 0] [-timeout 30s] [-give-up 2m]"); err != nil {
		return err
	} else if err := errors.Join(rabbit.NoArgs(flags), rabbit.Within("count", *count, 1, 10_000_000), rabbit.Within("window", *window, 1, 10_000),
		rabbit.Within("rate", *rate, 0, 1_000_000), rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour),
		rabbit.Within("give-up", *giveUp, time.Millisecond, 24*time.Hour)); err != nil {
		return err
	}
	p := &producer{run: rand.Text()[:8], count: *count, window: *window, next: 1, timeout: *timeout, last: time.Now(), stdout: stdout}
	if *rate > 0 {
		p.pace = time.NewTicker(time.Second / time.Duration(*rate))
		defer p.pace.Stop()
	}

	// The reconnect loop: a session on the next node of the list, until every task is confirmed. It
	// stops for what another node would not cure, and after -give-up without a confirm.
	urls := strings.Split(rabbit.URL(), ",")
	for attempt := 0; p.confirmed < p.count; attempt++ {
		url := strings.TrimSpace(urls[attempt%len(urls)])
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
			fmt.Fprintf(stdout, " [!] Left %s: %s\n", rabbit.Redact(url), rabbit.FirstLine(err.Error()))
		default:
			fmt.Fprintf(stdout, " [!] %s\n", rabbit.FirstLine(err.Error()))
		}
		// After a round of the list without a confirm, a pause: no tight loop of dials.
		if err != nil && (attempt+1)%len(urls) == 0 && p.confirmed == before {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	fmt.Fprintf(stdout, " [x] Published %d tasks: %d confirmed, %d republished\n", p.count, p.confirmed, p.republished)
	return nil
}

func (p *producer) failed(why string) error {
	return fmt.Errorf("%d of %d tasks not confirmed (%d republished): %s", p.count-p.confirmed, p.count, p.republished, why)
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
