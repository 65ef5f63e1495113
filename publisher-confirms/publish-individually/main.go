// Command publish-individually is strategy 1 of the tutorial "Publisher Confirms": wait for each confirm.
//
// Usage: go run ./publisher-confirms/publish-individually [-count 50000] [-timeout 60s] [-queue NAME] [-body TEXT]
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

func main() { rabbit.Main("publish-individually", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("publish-individually", flag.ContinueOnError)
	count := flags.Int("count", 50000, "how many messages to publish")
	timeout := flags.Duration("timeout", 60*time.Second, "how long to wait for each confirm")
	queue := flags.String("queue", "", "publish to this existing queue (default: a fresh exclusive queue)")
	body := flags.String("body", "", "the body of every message (default: the message's number)")
	if err := rabbit.Parse(flags, args, stdout, "publish-individually [-count 50000] [-timeout 60s] [-queue NAME] [-body TEXT]"); err != nil {
		return err
	} else if err := cmp.Or(rabbit.Within("count", *count, 1, 100_000_000),
		rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour)); err != nil {
		return err
	} else if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}

	// Connect and open a channel, as in every tutorial.
	conn, err := rabbit.Dial("publisher-confirms/publish-individually")
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

	// Strategy 1: publish a message, then wait for its confirm before publishing the next. MessageId
	// numbers the messages: a message returned because no queue took it is known by it.
	tally := rabbit.Tally{Count: *count}
	var stop error
	start := time.Now()
	for i := 1; i <= *count && stop == nil; i++ {
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
		// Wait for its confirm, at most -timeout: nacked and returned messages are counted, any other
		// end of the wait (timeout, lost connection, blocked broker, Ctrl+C) ends the run.
		stop = tally.Settle(i, p.Wait(ctx, dc, id, *timeout))
	}

	// Say how it went: anything but all confirmed is an error that names the messages.
	if err := tally.Report(stdout, "individually", time.Since(start), stop); err != nil {
		return err
	}
	return rabbit.Close(conn)
}
