// Command publish-batches is strategy 2 of the tutorial "Publisher Confirms": wait for a batch's confirms.
//
// Usage: go run ./publisher-confirms/publish-batches [-count 50000] [-batch-size 100] [-timeout 60s] [-queue NAME] [-body TEXT]
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

func main() { rabbit.Main("publish-batches", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("publish-batches", flag.ContinueOnError)
	count := flags.Int("count", 50000, "how many messages to publish")
	batchSize := flags.Int("batch-size", 100, "how many messages to publish before waiting for their confirms")
	timeout := flags.Duration("timeout", 60*time.Second, "how long to wait for a batch's confirms")
	queue := flags.String("queue", "", "publish to this existing queue (default: a fresh exclusive queue)")
	body := flags.String("body", "", "the body of every message (default: the message's number)")
	if err := rabbit.Parse(flags, args, stdout, "publish-batches [-count 50000] [-batch-size 100] [-timeout 60s] [-queue NAME] [-body TEXT]"); err != nil {
		return err
	} else if err := cmp.Or(rabbit.Within("count", *count, 1, 100_000_000), rabbit.Within("batch-size", *batchSize, 1, 10_000),
		rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour)); err != nil {
		return err
	} else if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}

	// Connect and open a channel, as in every tutorial.
	conn, err := rabbit.Dial("publisher-confirms/publish-batches")
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

	// Strategy 2: publish a batch of messages, then wait for all their confirms. MessageId numbers the
	// messages: a message returned because no queue took it is known by it.
	tally := rabbit.Tally{Count: *count}
	batch := make([]*amqp.DeferredConfirmation, 0, *batchSize)
	var stop error
	start := time.Now()
	for first := 1; first <= *count && stop == nil; first += *batchSize {
		for i := first; i < first+*batchSize && i <= *count; i++ {
			id := strconv.Itoa(i)
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
				"",     // exchange: the default exchange routes by queue name
				q.Name, // routing key
				true,   // mandatory: return the message if no queue takes it
				false,  // immediate
				amqp.Publishing{MessageId: id, ContentType: "text/plain", Body: []byte(cmp.Or(*body, id))})
			if err != nil {
				stop = p.PublishError(ctx, err)
				break
			}
			batch = append(batch, dc)
		}

		// Wait for the batch's confirms, in order, at most -timeout in all: nacked and returned messages
		// are counted, any other end of a wait (timeout, lost connection, blocked broker, Ctrl+C) ends
		// the run, and the batch's messages not confirmed by then are unconfirmed.
		batchCtx, cancel := context.WithTimeout(ctx, *timeout)
		for j, dc := range batch {
			stop = cmp.Or(stop, tally.Settle(first+j, p.Wait(batchCtx, dc, strconv.Itoa(first+j), *timeout)))
		}
		cancel()
		batch = batch[:0]
	}

	// Say how it went: anything but all confirmed is an error that names the messages.
	if err := tally.Report(stdout, "in batches", time.Since(start), stop); err != nil {
		return err
	}
	return rabbit.Close(conn)
}
