// Command publish-async is strategy 3 of the tutorial "Publisher Confirms": settle confirms as they come.
//
// Usage: go run ./publisher-confirms/publish-async [-count 50000] [-window 1000] [-timeout 60s] [-queue NAME] [-body TEXT]
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

func main() { rabbit.Main("publish-async", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("publish-async", flag.ContinueOnError)
	count := flags.Int("count", 50000, "how many messages to publish")
	window := flags.Int("window", 1000, "the most messages published and not yet confirmed")
	timeout := flags.Duration("timeout", 60*time.Second, "how long to wait for the next confirm")
	queue := flags.String("queue", "", "publish to this existing queue (default: a fresh exclusive queue)")
	body := flags.String("body", "", "the body of every message (default: the message's number)")
	if err := rabbit.Parse(flags, args, stdout, "publish-async [-count 50000] [-window 1000] [-timeout 60s] [-queue NAME] [-body TEXT]"); err != nil {
		return err
	} else if err := cmp.Or(rabbit.Within("count", *count, 1, 100_000_000), rabbit.Within("window", *window, 1, 10_000),
		rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour)); err != nil {
		return err
	} else if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}

	// Connect and open a channel, as in every tutorial.
	conn, err := rabbit.Dial("publisher-confirms/publish-async")
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

	// Enable publisher confirms on the channel: the broker now acks each message once it has taken
	// responsibility for it, or nacks it when it could not.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	p := rabbit.NewPublisher(conn, ch)
	// The library sends the confirms to this Go channel: one per message, in publishing order.
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, *window))

	// Strategy 3: keep publishing, and settle each message when its confirm comes. outstanding maps the
	// sequence number of each message published and not yet confirmed to the message's number, which
	// is its MessageId too: a message returned because no queue took it is known by it.
	tally := rabbit.Tally{Count: *count}
	outstanding := make(map[uint64]int, *window)
	var stop error
	settle := func(c amqp.Confirmation, err error) error {
		if err != nil {
			return err
		}
		n := outstanding[c.DeliveryTag]
		delete(outstanding, c.DeliveryTag)
		return tally.Settle(n, p.Settled(c, strconv.Itoa(n)))
	}
	start := time.Now()
	for i := 1; i <= *count && stop == nil; i++ {
		id := strconv.Itoa(i)
		seq := ch.GetNextPublishSeqNo()
		err := ch.PublishWithContext(ctx,
			"",     // exchange: the default exchange routes by queue name
			q.Name, // routing key
			true,   // mandatory: return the message if no queue takes it
			false,  // immediate
			amqp.Publishing{MessageId: id, ContentType: "text/plain", Body: []byte(cmp.Or(*body, id))})
		if err != nil {
			stop = p.PublishError(ctx, err)
			break
		}
		outstanding[seq] = i
		// Settle the confirms that have come; at -window messages in flight, wait for the next one, at
		// most -timeout.
		for stop == nil && (len(confirms) > 0 || len(outstanding) >= *window) {
			stop = settle(p.Next(ctx, confirms, *timeout))
		}
	}
	// Then wait for the confirms still to come (once one fails to, those already here still count).
	// The messages whose confirm never came are unconfirmed.
	for len(outstanding) > 0 && (stop == nil || len(confirms) > 0) {
		stop = cmp.Or(stop, settle(p.Next(ctx, confirms, *timeout)))
	}
	for _, seq := range slices.Sorted(maps.Keys(outstanding)) {
		tally.Settle(outstanding[seq], stop)
	}

	// Say how it went: anything but all confirmed is an error that names the messages.
	if err := tally.Report(stdout, "asynchronously", time.Since(start), stop); err != nil {
		return err
	}
	return rabbit.Close(conn)
}
