// Command rpc_server is the server of the RabbitMQ tutorials' step six, RPC: it answers each request in
// the queue "rpc_queue" with fib(n). Usage: go run ./rpc/rpc_server [-prefetch 1] [-timeout 5s]
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

func main() { rabbit.Main("rpc_server", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("rpc_server", flag.ContinueOnError)
	prefetch := flags.Int("prefetch", 1, "how many requests the broker may give this server at once")
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker to take each reply")
	if err := rabbit.Parse(flags, args, stdout, "rpc_server [-prefetch 1] [-timeout 5s]"); err != nil {
		return err
	} else if err := cmp.Or(rabbit.NoArgs(flags), rabbit.Within("prefetch", *prefetch, 1, 65535),
		rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour)); err != nil {
		return err
	}

	conn, err := rabbit.Dial("rpc/rpc_server")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// Declare the request queue as every official tutorial does today: durable, quorum.
	q, err := ch.QueueDeclare(
		"rpc_queue", // name
		true,        // durable
		false,       // delete when unused
		false,       // exclusive
		false,       // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	)
	if err != nil {
		return rabbit.DeclareError("queue", "rpc_queue", err)
	}

	// Fair dispatch, as in Work Queues: at most -prefetch requests (1) unacknowledged at a time.
	if err := ch.Qos(
		*prefetch, // prefetch count
		0,         // prefetch size
		false,     // global
	); err != nil {
		return fmt.Errorf("set the prefetch count: %w", err)
	}

	// The broker confirms each reply: a request is acknowledged only once its reply is taken.
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	publisher, consumer := rabbit.NewPublisher(conn, ch), rabbit.NewConsumer(conn, ch, q.Name)
	msgs, err := ch.Consume(
		q.Name, // queue
		"",     // consumer
		false,  // auto-ack
		false,  // exclusive
		false,  // no-local
		false,  // no-wait
		nil,    // args
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %w", q.Name, err)
	}
	fmt.Fprintln(stdout, " [*] Awaiting RPC requests")
	// Answer one request at a time, in full (reply, then acknowledge), before Ctrl+C is looked at again.
	for {
		select {
		case <-ctx.Done():
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				return consumer.Ended()
			} else if err := answer(ch, publisher, d, *timeout, stdout); err != nil {
				return err
			}
		}
	}
}

func answer(ch *amqp.Channel, p *rabbit.Publisher, d amqp.Delivery, timeout time.Duration, stdout io.Writer) error {
	count, _ := d.Headers["x-delivery-count"].(int64)
	reply := amqp.Publishing{ContentType: "text/plain", CorrelationId: d.CorrelationId}
	switch n, err := strconv.Atoi(string(d.Body)); {
	case count >= 5: // back 5 times unanswered: its servers died holding it, maybe because of it
		fmt.Fprintf(stdout, " [!] Dropped a request returned %d times unanswered (body %.20q)\n", count, d.Body)
		return d.Ack(false)
	case d.ReplyTo == "":
		fmt.Fprintf(stdout, " [!] Dropped a request with no reply_to (body %.20q)\n", d.Body)
		return d.Ack(false)
	case err != nil || n < 0 || n > 10000: // fib(10000) has 2,090 digits: every request stays cheap
		fmt.Fprintf(stdout, " [!] Refused %.20q: not a whole number from 0 to 10000\n", d.Body)
		reply.Type, reply.Body = "error", fmt.Appendf(nil, "n must be a whole number from 0 to 10000 (got %.20q)", d.Body)
	default:
		fmt.Fprintf(stdout, " [.] fib(%d)\n", n)
		reply.Body = []byte(fib(n).String())
	}

	// Reply to the queue named in reply_to, through the default exchange, with the request's correlation id.
	dc, err := ch.PublishWithDeferredConfirm(
		"",        // exchange
		d.ReplyTo, // routing key
		false,     // mandatory
		false,     // immediate
		reply,
	)
	if err != nil {
		return fmt.Errorf("publish the reply: %w", err)
	}

	// Wait for the confirm, Ctrl+C or not. A blocked broker is said, and waited out up to the timeout.
	if err := p.WaitThrough(context.Background(), dc, "", timeout, func(reason string) {
		fmt.Fprintf(stdout, " [!] The broker is blocking publishers (%s): replies wait\n", reason)
	}); err != nil {
		return fmt.Errorf("the reply: %w; the request stays in rpc_queue", err)
	}
	return d.Ack(false)
}

// fib is the n-th Fibonacci number, exact: an int would overflow past fib(92).
func fib(n int) *big.Int {
	a, b := big.NewInt(0), big.NewInt(1)
	for range n {
		a, b = b, a.Add(a, b)
	}
	return a
}
