// Command publish-individually is strategy 1 of the tutorial "Publisher Confirms": wait for each confirm.
//
// Usage: go run ./publisher-confirms/publish-individually [-count 50000] [-timeout 5s] [-queue NAME]
package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	count   = flag.Int("count", 50000, "how many messages to publish")
	timeout = flag.Duration("timeout", 5*time.Second, "how long to wait for each confirm")
	queue   = flag.String("queue", "", "publish to this existing queue (default: a fresh exclusive queue)")
)

func main() { rabbit.Main("publish-individually", run) }

func run(ctx context.Context) error {
	// Connect and open a channel, as in every tutorial.
	conn, err := rabbit.Dial(rabbit.URL(), "publisher-confirms/publish-individually")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// A queue of our own, as in the tutorial: the broker names it, exclusive to this connection. With
	// -queue, an existing queue, which a passive declare only checks.
	var q amqp.Queue
	if *queue == "" {
		q, err = ch.QueueDeclare(
			"",    // name: the broker chooses one
			false, // durable
			false, // delete when unused
			true,  // exclusive
			false, // no-wait
			nil,   // arguments
		)
	} else {
		q, err = ch.QueueDeclarePassive(*queue, false, false, false, false, nil)
	}
	if err != nil {
		return rabbit.DeclareError("queue", *queue, err)
	}

	// Enable publisher confirms, and listen for what can keep an ack from meaning "in the queue": a
	// return (no queue took the message), the channel's close, the broker blocking publishers.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// Strategy 1: publish a message, then wait at most -timeout for its confirm; MessageId names it if returned.
	var published, nacked, returned, unconfirmed int
	var stop string // why the run stopped early
	start := time.Now()
	for ; published < *count && stop == ""; published++ {
		id := strconv.Itoa(published + 1)
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
			"",     // exchange: the default exchange routes by queue name
			q.Name, // routing key
			true,   // mandatory: if no queue takes it, return it to us
			false,  // immediate
			amqp.Publishing{MessageId: id, ContentType: "text/plain", Body: []byte(id)})
		if err != nil { // Ctrl+C (context canceled), or the channel closed
			stop = "; publish: " + err.Error()
			break
		}
		wait, cancel := context.WithTimeout(ctx, *timeout)
		acked, err := dc.WaitContext(wait)
		cancel()
		if !acked && (err != nil || len(closed) > 0) { // not a nack: the wait ended without a confirm
			unconfirmed, stop = 1, "; "+rabbit.Unconfirmed(err, *timeout, closed, blocked).Error()
		} else if !acked {
			nacked++
		} else if len(returns) > 0 && (<-returns).MessageId == id {
			returned++
		}
	}

	// Say how it went: all confirmed, or one line that says what became of the others.
	fmt.Printf("Published %d messages and handled confirms individually in %d ms\n", published, time.Since(start).Milliseconds())
	if confirmed := published - nacked - returned - unconfirmed; confirmed < *count {
		return fmt.Errorf("%d of %d messages not confirmed: %d nacked, %d returned, %d unconfirmed, %d not published%s",
			*count-confirmed, *count, nacked, returned, unconfirmed, *count-published, stop)
	}
	return rabbit.Close(conn)
}
