// Command publish-batches is strategy 2 of the tutorial "Publisher Confirms": wait for a batch's confirms.
// Usage: go run ./publisher-confirms/publish-batches [-count 50000] [-batch-size 100] [-timeout 5s] [-queue NAME]
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
	count     = flag.Int("count", 50000, "how many messages to publish")
	batchSize = flag.Uint("batch-size", 100, "how many messages to publish before waiting for their confirms")
	timeout   = flag.Duration("timeout", 5*time.Second, "how long to wait for a batch's confirms")
	queue     = flag.String("queue", "", "publish to this existing queue (default: a fresh exclusive queue)")
)

func main() { rabbit.Main("publish-batches", run) }

func run(ctx context.Context) error {
	// Connect and open a channel, as in every tutorial.
	conn, err := rabbit.Dial(rabbit.URL(), "publisher-confirms/publish-batches")
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

	// Enable confirms, and listen for what keeps an ack from meaning "in the queue": a return, a close, a block.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, *batchSize))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// Strategy 2: publish a batch, then wait at most -timeout in all for its confirms; MessageId names a returned message.
	published, confirmed, nacked, returned, stop := 0, 0, 0, 0, "" // stop: why the run ended early
	batch := make([]*amqp.DeferredConfirmation, 0, *batchSize)
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
		if batch = append(batch, dc); len(batch) < int(*batchSize) && published+1 < *count {
			continue
		}

		// Wait for the batch's confirms. A return comes before its ack: the acked messages' returns are in.
		wait, cancel := context.WithTimeout(ctx, *timeout)
		for _, dc := range batch {
			if ok, err := dc.WaitContext(wait); ok {
				confirmed++
			} else if err == nil && len(closed) == 0 {
				nacked++
			} else { // not a nack: the wait ended without a confirm
				stop = "; " + rabbit.Unconfirmed(err, *timeout, closed, blocked).Error()
				break
			}
		}
		cancel()
		for len(returns) > 0 {
			if n, _ := strconv.Atoi((<-returns).MessageId); n <= confirmed+nacked+returned {
				confirmed, returned = confirmed-1, returned+1
			}
		}
		batch = batch[:0]
	}

	// Say how it went: all confirmed, or one line that says what became of the others.
	fmt.Printf("Published %d messages and handled confirms in batches in %d ms\n", published, time.Since(start).Milliseconds())
	if confirmed < *count {
		return fmt.Errorf("%d of %d messages not confirmed: %d nacked, %d returned, %d unconfirmed, %d not published%s",
			*count-confirmed, *count, nacked, returned, published-confirmed-nacked-returned, *count-published, stop)
	}
	return rabbit.Close(conn)
}
