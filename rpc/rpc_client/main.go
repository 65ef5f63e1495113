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
	"io"
	"math/big"
	"strconv"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

func main() { rabbit.Main("rpc_client", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	calls, timeout, err := callsFrom(args, stdout)
	if err != nil {
		return err
	}

	conn, err := rabbit.Dial("rpc/rpc_client")
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
	consumer := rabbit.NewConsumer(conn, ch, q.Name).AutoAck()
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

	// The broker confirms each request, or returns it if no queue took it (no server ever ran).
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	publisher := rabbit.NewPublisher(conn, ch)

	// Send every request to rpc_queue, with our callback queue in reply_to and a correlation id of its
	// own. It expires with our patience: no server works for a caller that has given up.
	ids, waiting := make([]string, len(calls)), map[string]int{} // waiting: the calls, by correlation id
	confirms := make([]*amqp.DeferredConfirmation, len(calls))
	for i, n := range calls {
		fmt.Fprintf(stdout, " [x] Requesting fib(%d)\n", n)
		id := rand.Text()
		ids[i], waiting[id] = id, i
		confirms[i], err = ch.PublishWithDeferredConfirm(
			"",          // exchange
			"rpc_queue", // routing key
			true,        // mandatory
			false,       // immediate
			amqp.Publishing{
				ContentType:   "text/plain",
				CorrelationId: id,
				MessageId:     id, // what tells a returned request apart
				ReplyTo:       q.Name,
				Expiration:    strconv.FormatInt(timeout.Milliseconds(), 10),
				Body:          []byte(strconv.Itoa(n)),
			})
		if err != nil { // the channel or the connection is closed
			return fmt.Errorf("fib(%d): %w", n, rabbit.Lost(conn, amqp.ErrClosed))
		}
	}
	for i, id := range ids {
		err := publisher.Wait(ctx, confirms[i], id, timeout)
		if cerr, ok := err.(*rabbit.ConfirmError); ok && cerr.Outcome == rabbit.Returned {
			return fmt.Errorf(`fib(%d): no queue "rpc_queue" took the request (%s): start rpc_server, which declares it`, calls[i], cerr.Reason)
		} else if err != nil {
			return fmt.Errorf("fib(%d): %w", calls[i], err)
		}
	}

	// Wait for the replies, at most the timeout, and print them in the order of the calls. A reply whose
	// correlation id no call waits for (an answer to a call that gave up, or a second one) is dropped.
	answers := map[int]amqp.Delivery{}
	deadline := time.After(timeout)
	for next := 0; next < len(calls); {
		select {
		case d, ok := <-replies:
			if !ok {
				return fmt.Errorf("fib(%d): %w", calls[next], consumer.Ended())
			}
			if i, ok := waiting[d.CorrelationId]; ok {
				delete(waiting, d.CorrelationId)
				answers[i] = d
			}
		case <-deadline:
			return fmt.Errorf("fib(%d): no answer within %s: is rpc_server running?", calls[next], timeout)
		case <-ctx.Done():
			return fmt.Errorf("fib(%d): interrupted before the answer came", calls[next])
		}
		for d, ok := answers[next]; ok; d, ok = answers[next] {
			switch _, isNumber := new(big.Int).SetString(string(d.Body), 10); {
			case d.Type == "error":
				return fmt.Errorf("fib(%d): the server refused: %s", calls[next], d.Body)
			case !isNumber:
				return fmt.Errorf("fib(%d): the server's answer is not a number: %.40q", calls[next], d.Body)
			}
			fmt.Fprintf(stdout, " [.] Got %s\n", d.Body)
			next++
		}
	}
	return rabbit.Close(conn)
}

// callsFrom reads the flags, and the numbers n to ask fib(n) for, each -repeat times.
func callsFrom(args []string, stdout io.Writer) ([]int, time.Duration, error) {
	flags := flag.NewFlagSet("rpc_client", flag.ContinueOnError)
	timeout := flags.Duration("timeout", 10*time.Second, "how long to wait for each answer")
	repeat := flags.Int("repeat", 1, "ask for each n this many times, all calls at once")
	if err := rabbit.Parse(flags, args, stdout, "rpc_client [-timeout 10s] [-repeat 1] [n...]"); err != nil {
		return nil, 0, err
	}
	words := flags.Args()
	if len(words) == 0 {
		words = []string{"30"}
	}
	if err := rabbit.Within("timeout", *timeout, time.Millisecond, time.Hour); err != nil {
		return nil, 0, err
	} else if *repeat < 1 || *repeat > 10000 || len(words)*(*repeat) > 10000 {
		return nil, 0, fmt.Errorf("-repeat must be at least 1, and the calls at most 10000 (got %d numbers, -repeat %d)", len(words), *repeat)
	}
	var calls []int
	for range *repeat {
		for _, w := range words {
			n, err := strconv.Atoi(w)
			if err != nil || n < 0 {
				return nil, 0, fmt.Errorf("n must be a whole number, 0 or more (got %q)", w)
			}
			calls = append(calls, n)
		}
	}
	return calls, *timeout, nil
}
