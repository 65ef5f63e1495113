// Command rpc_client is the client of the RabbitMQ tutorials' step six, RPC: it asks rpc_server for
// fib(n), all calls at once, and prints the answers in order; fib(30) unless numbers are given. Usage:
//
//	go run ./rpc/rpc_client [-timeout 10s] [-repeat 1] [n...]
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

var timeout = flag.Duration("timeout", 10*time.Second, "how long to wait for the answers")
var repeat = flag.Int("repeat", 1, "ask for each n this many times, all calls at once")

func main() { rabbit.Main("rpc_client", run) }

func run(ctx context.Context) error {
	words := flag.Args()
	if len(words) == 0 {
		words = []string{"30"}
	}
	var calls []int
	for range *repeat {
		for _, w := range words {
			n, err := strconv.Atoi(w)
			if err != nil || n < 0 {
				return fmt.Errorf("n must be a whole number, 0 or more (got %q)", w)
			}
			calls = append(calls, n)
		}
	}

	conn, err := rabbit.Dial(rabbit.URL(), "rpc/rpc_client")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// The callback queue, where the server sends the replies: named by the broker, exclusive to us,
	// gone when we close. rpc_queue is the server's to declare.
	q, err := ch.QueueDeclare(
		"",    // name
		false, // durable
		false, // delete when unused
		true,  // exclusive
		false, // no-wait
		nil,   // arguments
	)
	if err != nil {
		return fmt.Errorf("declare the callback queue: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
	replies, err := ch.Consume(
		q.Name, // queue
		"",     // consumer
		true,   // auto-ack
		false,  // exclusive
		false,  // no-local
		false,  // no-wait
		nil,    // args
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %w", q.Name, err)
	}

	// The broker confirms each request, or returns it if no queue took it (no server ever ran): room
	// for every return, told apart by MessageId.
	if err := ch.Confirm(false /* no-wait */); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, len(calls)))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))

	// Send every request to rpc_queue, with our callback queue in reply_to and a correlation id of its
	// own. It expires with our patience: no server works for a caller that has given up.
	wait, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	waiting := map[string]int{} // the calls, by correlation id
	confirms := make([]*amqp.DeferredConfirmation, len(calls))
	for i, n := range calls {
		fmt.Printf(" [x] Requesting fib(%d)\n", n)
		id := rand.Text()
		waiting[id] = i
		confirms[i], err = ch.PublishWithDeferredConfirmWithContext(wait,
			"",          // exchange
			"rpc_queue", // routing key
			true,        // mandatory: if no queue takes it, return it to us
			false,       // immediate
			amqp.Publishing{
				ContentType:   "text/plain",
				CorrelationId: id,
				MessageId:     id, // what tells a returned request apart; an AMQP 1.0 server answers it
				ReplyTo:       q.Name,
				Expiration:    strconv.FormatInt(timeout.Milliseconds(), 10),
				Body:          []byte(strconv.Itoa(n)),
			})
		if err != nil {
			return fmt.Errorf("fib(%d): publish: %w", n, err)
		}
	}
	// Only an ack for a request not returned means rpc_queue has it.
	for i, dc := range confirms {
		if acked, err := dc.WaitContext(wait); !acked {
			return fmt.Errorf("fib(%d): %w", calls[i], rabbit.Unconfirmed(err, *timeout, closed, blocked))
		}
	}
	if len(returns) > 0 {
		r := <-returns
		return fmt.Errorf(`fib(%d): no queue "rpc_queue" took the request (%s): start rpc_server, which declares it`,
			calls[waiting[r.MessageId]], r.ReplyText)
	}

	// Wait for the replies, within the same -timeout, and print them in the order of the calls. A reply
	// whose correlation id no call waits for (an answer to a call that gave up, or a second one) is dropped.
	answers := map[int]amqp.Delivery{}
	for next := 0; next < len(calls); {
		select {
		case d, ok := <-replies:
			if !ok {
				why := fmt.Sprintf("queue %q was deleted", q.Name)
				return fmt.Errorf("fib(%d): %w", calls[next], rabbit.Ended(closed, cancelled, why))
			}
			if i, ok := waiting[d.CorrelationId]; ok {
				delete(waiting, d.CorrelationId)
				answers[i] = d
			}
		case <-wait.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("fib(%d): interrupted before the answer came", calls[next])
			}
			return fmt.Errorf("fib(%d): no answer within %s: is rpc_server running?", calls[next], *timeout)
		}
		for d, ok := answers[next]; ok; d, ok = answers[next] {
			switch _, isNumber := new(big.Int).SetString(string(d.Body), 10); {
			case d.Type == "error":
				return fmt.Errorf("fib(%d): the server refused: %s", calls[next], d.Body)
			case !isNumber:
				return fmt.Errorf("fib(%d): the server's answer is not a number: %.40q", calls[next], d.Body)
			}
			fmt.Printf(" [.] Got %s\n", d.Body)
			next++
		}
	}
	return rabbit.Close(conn)
}
