// Command publish-async is strategy 3 of the tutorial "Publisher Confirms": settle confirms as they come.
// Usage: go run ./publisher-confirms/publish-async [-count 50000] [-window 1000] [-timeout 5s] [-queue NAME]
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
	window  = flag.Uint("window", 1000, "the most messages published and not yet confirmed")
	timeout = flag.Duration("timeout", 5*time.Second, "how long to wait for the next confirm")
	queue   = flag.String("queue", "", "publish to this existing queue (default: a fresh exclusive queue)")
)

func main() { rabbit.Main("publish-async", run) }

func run(ctx context.Context) error {
	// Connect and open a channel, as in every tutorial.
	conn, err := rabbit.Dial(rabbit.URL(), "publisher-confirms/publish-async")
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

	// Enable confirms. The library sends each confirm to confirms, in publishing order, and each return to
	// returns, before its confirm; both hold a window, so the library never waits for us.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, *window))
	returns := ch.NotifyReturn(make(chan amqp.Return, *window))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// Strategy 3: keep publishing; outstanding maps each unconfirmed message's sequence number to its MessageId.
	published, confirmed, nacked, returned, stop := 0, 0, 0, 0, "" // stop: why the run ended early
	outstanding := make(map[uint64]int, *window)
	bounced := 0 // a returned message whose confirm has not come yet (returns come in order too)
	// next waits at most -timeout for the next confirm and settles its message, or says why none came.
	next := func() string {
		var err error // nil if the channel closed
		select {
		case c, ok := <-confirms:
			if !ok {
				break // the channel closed
			}
			n := outstanding[c.DeliveryTag]
			delete(outstanding, c.DeliveryTag)
			if bounced == 0 && len(returns) > 0 {
				bounced, _ = strconv.Atoi((<-returns).MessageId)
			}
			if !c.Ack {
				nacked++
			} else if bounced == n {
				returned, bounced = returned+1, 0
			} else {
				confirmed++
			}
			return ""
		case <-time.After(*timeout):
			err = context.DeadlineExceeded
		case <-ctx.Done():
			err = ctx.Err()
		}
		return "; " + rabbit.Unconfirmed(err, *timeout, closed, blocked).Error()
	}
	start := time.Now()
	for ; published < *count && stop == ""; published++ {
		id := strconv.Itoa(published + 1)
		seq := ch.GetNextPublishSeqNo()
		err := ch.PublishWithContext(ctx,
			"",     // exchange: the default exchange routes by queue name
			q.Name, // routing key
			true,   // mandatory: if no queue takes it, return it to us
			false,  // immediate
			amqp.Publishing{MessageId: id, ContentType: "text/plain", Body: []byte(id)})
		if err != nil { // Ctrl+C (context canceled), or the channel closed
			stop = "; publish: " + err.Error()
			break
		}
		outstanding[seq] = published + 1
		// Settle the confirms that have come; with -window messages in flight, or all published, wait for the next.
		last := published+1 == *count
		for stop == "" && (len(confirms) > 0 || len(outstanding) >= int(*window) || last && len(outstanding) > 0) {
			stop = next()
		}
	}

	// Say how it went: all confirmed, or one line that says what became of the others.
	fmt.Printf("Published %d messages and handled confirms asynchronously in %d ms\n", published, time.Since(start).Milliseconds())
	if confirmed < *count {
		return fmt.Errorf("%d of %d messages not confirmed: %d nacked, %d returned, %d unconfirmed, %d not published%s",
			*count-confirmed, *count, nacked, returned, published-confirmed-nacked-returned, *count-published, stop)
	}
	return rabbit.Close(conn)
}
