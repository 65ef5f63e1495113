// Command rpc_server is the server of the RabbitMQ tutorials' step six, RPC: it answers each request in
// the queue "rpc_queue" with fib(n). Usage: go run ./rpc/rpc_server [-prefetch 1] [-timeout 5s]
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

var prefetch = flag.Int("prefetch", 1, "how many requests the broker may give this server at once")
var timeout = flag.Duration("timeout", 5*time.Second, "how long to wait for the broker's confirm of each reply")

func main() { rabbit.Main("rpc_server", run) }

func run(ctx context.Context) error {
	conn, err := rabbit.Dial(rabbit.URL(), "rpc/rpc_server")
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
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))
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
	fmt.Println(" [*] Awaiting RPC requests")
	// Answer one request at a time, in full (reply, then acknowledge), before Ctrl+C is looked at again.
	for {
		select {
		case <-ctx.Done():
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				return rabbit.Ended(closed, cancelled, `queue "rpc_queue" was deleted, or a request waited past the consumer timeout`)
			} else if err := answer(ch, d, closed, blocked); err != nil {
				return err
			}
		}
	}
}

func answer(ch *amqp.Channel, d amqp.Delivery, closed <-chan *amqp.Error, blocked chan amqp.Blocking) error {
	// The reply carries the request's correlation_id, or its message_id when it has none: AMQP 1.0
	// requesters put their id in message-id (RabbitMQ gives a uuid to us as "urn:uuid:...", and turns
	// that string back into the uuid on the way out).
	reply := amqp.Publishing{ContentType: "text/plain", CorrelationId: cmp.Or(d.CorrelationId, d.MessageId)}
	count, _ := d.Headers["x-delivery-count"].(int64)
	switch n, err := strconv.Atoi(string(d.Body)); {
	case count >= 5: // back 5 times unanswered: its servers died holding it, maybe because of it
		fmt.Printf(" [!] Dropped a request returned %d times unanswered (body %.20q)\n", count, d.Body)
		return d.Ack(false)
	case d.ReplyTo == "":
		fmt.Printf(" [!] Dropped a request with no reply_to (body %.20q)\n", d.Body)
		return d.Ack(false)
	case err != nil || n < 0 || n > 10000: // fib(10000) has 2,090 digits: every request stays cheap
		fmt.Printf(" [!] Refused %.20q: not a whole number from 0 to 10000\n", d.Body)
		reply.Type, reply.Body = "error", fmt.Appendf(nil, "n must be a whole number from 0 to 10000 (got %.20q)", d.Body)
	default:
		fmt.Printf(" [.] fib(%d)\n", n)
		reply.Body = []byte(fib(n).String())
	}

	// Reply to the queue named in reply_to, through the default exchange, within -timeout, Ctrl+C or not.
	wait, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	for len(blocked) > 1 { // keep the latest blocking notification only: the library waits for room
		<-blocked
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(wait,
		"",        // exchange
		d.ReplyTo, // routing key
		false,     // mandatory: no, a caller gone is no failure of ours
		false,     // immediate
		reply)
	if err != nil {
		return fmt.Errorf("publish the reply: %w", err)
	}

	// Acknowledge the request only once the broker confirms the reply. Unconfirmed, it is not acknowledged:
	// we stop, and our connection's close hands it back to rpc_queue for a server to answer.
	if acked, err := dc.WaitContext(wait); !acked {
		return fmt.Errorf("the reply: %w; the request goes back to rpc_queue", rabbit.Unconfirmed(err, *timeout, closed, blocked))
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
