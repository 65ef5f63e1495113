// Command rpc_client calls rpc_server: it asks for Fibonacci numbers and prints the answers. It is step
// six of the RabbitMQ tutorials ("RPC"): the client.
//
// Usage:
//
//	go run ./rpc/rpc_client [-timeout 10s] [-repeat 1] [n...]
//
// It asks for fib(30) unless numbers are given. For each call it prints " [x] Requesting fib(n)" and then
// " [.] Got <answer>". Given several numbers (or -repeat), it makes all the calls at once, over one
// connection and one callback queue, and prints the answers in the order of the numbers.
//
// It exits 1 with one line on stderr when a call fails: no answer within -timeout (is a server
// running?), no queue "rpc_queue" to take the request (no server ever started), an error reply from the
// server (n out of its range), the broker blocking publishers, or the connection lost. The broker is
// taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
)

func main() {
	// The first Ctrl+C (or SIGTERM) cancels ctx, and the calls give up waiting. From then on the signal is
	// not caught any more, so a second Ctrl+C ends the program at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rpc_client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	// The words after the flags are the numbers n to ask fib(n) for. "--" ends the flags.
	flags := flag.NewFlagSet("rpc_client", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	timeout := flags.Duration("timeout", 10*time.Second, "how long to wait for each answer")
	repeat := flags.Int("repeat", 1, "ask for each n this many times, all calls at once")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: rpc_client [-timeout 10s] [-repeat 1] [n...]")
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	if *timeout < time.Millisecond || *timeout > time.Hour {
		return fmt.Errorf("-timeout must be from 1ms to 1h (got %s)", *timeout)
	}
	words := flags.Args()
	if len(words) == 0 {
		words = []string{"30"}
	}
	if *repeat < 1 || *repeat > 10000 || len(words)*(*repeat) > 10000 {
		return fmt.Errorf("-repeat must be at least 1, and the calls at most 10000 (got %d numbers, -repeat %d)", len(words), *repeat)
	}
	// Check every number before calling anybody: a mistake of ours is not the server's to find.
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

	// Connect to the broker. Our helper broker.Dial takes the URL from AMQP_URL, bounds the handshake with
	// a timeout and names the connection; the guide shows the plain amqp091-go it stands for.
	conn, err := broker.Dial("rpc/rpc_client")
	if err != nil {
		return err
	}
	// amqp091-go's Close waits for the broker's answer with no time limit; CloseDeadline bounds the wait
	// (past the deadline, the library gives up at its next heartbeat: within 5 s more with the default
	// heartbeat). This deferred close is for the paths that return an error, which it would only hide.
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()

	// A broker short of memory or disk space stops reading from connections that publish, and says so
	// with connection.blocked: we listen, to report it instead of waiting for answers that cannot come.
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	// Ask to be told why the channel closes, if it does (the connection lost, the broker stopping).
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))

	// The callback queue, where the server sends the replies: our own, as in Publish/Subscribe. The
	// broker names it (amq.gen-...) and, exclusive, deletes it when our connection closes. We do not
	// declare "rpc_queue": the server does; if it never ran, our requests have nowhere to go, and the
	// broker tells us (below).
	q, err := ch.QueueDeclare(
		"",    // name: let the broker choose one
		false, // durable
		false, // delete when unused
		true,  // exclusive
		false, // no-wait
		nil,   // arguments
	)
	if err != nil {
		return fmt.Errorf("declare the callback queue: %w", err)
	}

	// Consume the replies with automatic acknowledgement: a reply is of use only to this process, and
	// only while it runs.
	replies, err := ch.Consume(
		q.Name, // queue
		"",     // consumer tag: let the library make one up
		true,   // auto-ack
		false,  // exclusive
		false,  // no-local
		false,  // no-wait
		nil,    // args
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %w", q.Name, err)
	}

	// Requests are published as mandatory: with no queue "rpc_queue" the broker returns them at once
	// (basic.return), rather than dropping them, and we fail at once rather than after the timeout. The
	// broker also confirms each request (publisher confirms): a request it cannot take (nack) fails at
	// once too.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}

	// The client: one goroutine reads every reply and return, and hands each to the call that waits
	// for it, found by correlation id.
	client := &rpcClient{conn: conn, ch: ch, replyTo: q.Name, timeout: *timeout,
		pending: map[string]chan result{}, failed: make(chan struct{})}
	go client.dispatch(replies, returns, blocked, closed)

	// Make all the calls at once, one goroutine each, as the handlers of a service would, and print the
	// answers in the order of the numbers.
	results := make([]result, len(calls))
	done := make([]chan struct{}, len(calls))
	for i, n := range calls {
		fmt.Fprintf(stdout, " [x] Requesting fib(%d)\n", n)
		done[i] = make(chan struct{})
		go func() {
			defer close(done[i])
			results[i].answer, results[i].err = client.Call(ctx, n)
		}()
	}
	for i, n := range calls {
		<-done[i]
		if results[i].err != nil {
			return fmt.Errorf("fib(%d): %w", n, results[i].err)
		}
		fmt.Fprintf(stdout, " [.] Got %s\n", results[i].answer)
	}

	// Close the connection, with its error checked this time (the deferred close then does nothing).
	if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// rpcClient makes calls to rpc_server over one channel, any number at a time, from any goroutine.
type rpcClient struct {
	conn    *amqp.Connection // to tell a lost connection from a closed channel
	ch      *amqp.Channel
	replyTo string        // the callback queue
	timeout time.Duration // how long a call waits for its answer

	// amqp091-go documents a Channel as not safe to share between goroutines: calls take turns to publish.
	publishing sync.Mutex

	mu      sync.Mutex
	pending map[string]chan result // the calls waiting for an answer, by correlation id

	failed chan struct{} // closed when no call can succeed any more, err saying why
	err    error
}

// result is the outcome of a call: the answer, or why there is none.
type result struct {
	answer string
	err    error
}

// Call asks the server for fib(n) and waits for the answer, at most c.timeout.
func (c *rpcClient) Call(ctx context.Context, n int) (string, error) {
	// A random correlation id of its own tells this call's reply from all others. Register it before
	// publishing: the reply may come back before Publish returns.
	id := rand.Text()
	answer := make(chan result, 1)
	c.mu.Lock()
	c.pending[id] = answer
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	// Publish the request to "rpc_queue" through the default exchange, with the callback queue in
	// reply_to. Its expiration (in milliseconds) is our timeout: a request still in the queue by then
	// expires there, so no server works for a caller that has given up.
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	c.publishing.Lock()
	confirm, err := c.ch.PublishWithDeferredConfirmWithContext(ctx,
		"",          // exchange
		"rpc_queue", // routing key
		true,        // mandatory: return the request if no queue takes it
		false,       // immediate
		amqp.Publishing{
			ContentType:   "text/plain",
			CorrelationId: id,
			ReplyTo:       c.replyTo,
			Expiration:    strconv.FormatInt(c.timeout.Milliseconds(), 10),
			Body:          []byte(strconv.Itoa(n)),
		})
	c.publishing.Unlock()
	if err != nil {
		return "", fmt.Errorf("publish the request: %w", err)
	}

	// Wait for the answer. The confirm comes first, or the answer does; the broker returns a request
	// that reached no queue before confirming it, so that shows here as an answer, an error one.
	confirmed := confirm.Done()
	for {
		select {
		case r := <-answer:
			return r.answer, r.err
		case <-confirmed:
			if !confirm.Acked() {
				return "", errors.New("no confirm for the request (a nack, or the channel closed first)")
			}
			confirmed = nil // taken: now wait for the answer
		case <-c.failed:
			return "", c.err
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", fmt.Errorf("no answer within %s: is rpc_server running?", c.timeout)
			}
			return "", errors.New("interrupted before the answer came")
		}
	}
}

// dispatch hands each reply to the call waiting for it. A reply whose correlation id no call waits for
// is dropped: it answers a call that gave up (timed out), or it is a second answer to a call already
// answered (a server died after replying and before acknowledging the request, so another server
// answered it again). Neither is an error. dispatch returns when no reply can come any more.
func (c *rpcClient) dispatch(replies <-chan amqp.Delivery, returns <-chan amqp.Return, blocked <-chan amqp.Blocking,
	closed <-chan *amqp.Error) {
	for {
		select {
		case d, ok := <-replies:
			if !ok {
				c.fail(c.lost(closed))
				return
			}
			c.deliver(d.CorrelationId, reply(d))
		case r, ok := <-returns:
			if ok {
				c.deliver(r.CorrelationId, result{err: fmt.Errorf(
					"no queue %q took the request (%s): start rpc_server, which declares it", r.RoutingKey, r.ReplyText)})
			} else {
				returns = nil // the channel closed; replies tells why
			}
		case b, ok := <-blocked:
			if ok && b.Active {
				c.fail(fmt.Errorf("the broker is blocking publishers (%s): no answer can come", b.Reason))
				return
			} else if !ok {
				blocked = nil // the connection closed; replies tells why
			}
		}
	}
}

// deliver gives r to the call waiting for correlation id, if one is.
func (c *rpcClient) deliver(id string, r result) {
	c.mu.Lock()
	answer, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ok {
		answer <- r // never blocks: room for one, and only one is ever sent
	}
}

// fail makes every waiting call, and every later one, fail with err.
func (c *rpcClient) fail(err error) {
	c.err = err
	close(c.failed)
}

// reply reads a reply: fib(n) in decimal, or, with type "error", the server's reason.
func reply(d amqp.Delivery) result {
	if d.Type == "error" {
		return result{err: fmt.Errorf("the server refused: %s", d.Body)}
	}
	if _, ok := new(big.Int).SetString(string(d.Body), 10); !ok {
		return result{err: fmt.Errorf("the server's answer is not a number: %.40q", d.Body)}
	}
	return result{answer: string(d.Body)}
}

// lost says why the replies stopped. When the channel or the connection closed, the library has put
// the reason in closed before closing the replies channel. Otherwise the broker cancelled our consumer:
// it does when the callback queue is deleted.
func (c *rpcClient) lost(closed <-chan *amqp.Error) error {
	select {
	case e, ok := <-closed:
		switch {
		case !ok || e == nil:
			return errors.New("the channel was closed")
		case c.conn.IsClosed():
			return fmt.Errorf("connection to the broker lost: %s", broker.FirstLine(e.Reason))
		default:
			return fmt.Errorf("the broker closed the channel: %s", broker.FirstLine(e.Reason))
		}
	default:
		return fmt.Errorf("the broker cancelled our consumer: was the callback queue %q deleted?", c.replyTo)
	}
}
