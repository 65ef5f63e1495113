// Command rpc_server answers remote procedure calls: it takes requests from the "rpc_queue" queue and
// sends each caller the Fibonacci number it asked for. It is step six of the RabbitMQ tutorials ("RPC"):
// the server. Start several and the broker shares the requests among them.
//
// Usage:
//
//	go run ./rpc/rpc_server [-prefetch 1] [-timeout 5s]
//
// A request's body is n, in decimal, from 0 to 10000; the reply, sent to the queue named by the
// request's reply_to with the request's correlation_id, is fib(n) in decimal, exact (fib(10000) has
// 2,090 digits and takes under a millisecond; the bound keeps every request that cheap). A body
// that is not such a number is answered with an error reply: type "error", the reason as the body. A
// request with no reply_to cannot be answered: it is dropped, saying so. Either way it is
// acknowledged, so it never comes back. A request that has come back 5 times unanswered (the servers
// that took it died, or stopped, before answering it) is dropped too: it may be what kills them.
//
// It prints " [*] Awaiting RPC requests", then " [.] fib(n)" for each request, and a line starting with
// " [!] " for each request it refuses or drops. It acknowledges a request only once the broker has
// confirmed that it took the reply: a server that dies before that leaves the request in the queue,
// and another server answers it.
//
// Ctrl+C (or SIGTERM) stops it, exiting 0: it finishes and answers the request in progress (that takes
// at most -timeout), stops consuming, and requests it had received but not started go back to the
// queue. If the connection is lost, or the queue is deleted, it exits 1 with the reason. The broker is
// taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
)

// maxN is the largest n the server computes fib(n) for. fib(10000) has 2,090 digits and takes under a
// millisecond: a request never holds the server long, and a reply is at most 2 kB.
const maxN = 10000

// maxDeliveries is how many times a request may come back unanswered (its server died, or closed its
// channel, holding it) before the server drops it: a request that keeps coming back is likely one that
// kills the servers that take it.
const maxDeliveries = 5

func main() {
	// The first Ctrl+C (or SIGTERM) cancels ctx, and run stops. From then on the signal is not caught
	// any more, so a second Ctrl+C ends the program at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rpc_server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	// No positional arguments, two flags. "--" ends the flags.
	const usage = "Usage: rpc_server [-prefetch 1] [-timeout 5s]"
	flags := flag.NewFlagSet("rpc_server", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	prefetch := flags.Int("prefetch", 1, "how many requests the broker may give this server at once (1-65535)")
	timeout := flags.Duration("timeout", 5*time.Second, "how long to wait for the broker to take each reply")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, usage)
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return nil
	} else if err != nil {
		return err
	}
	switch {
	case flags.NArg() > 0:
		return fmt.Errorf("rpc_server takes no arguments (got %q). %s", flags.Args(), usage)
	case *prefetch < 1 || *prefetch > 65535:
		return fmt.Errorf("-prefetch must be between 1 and 65535 (got %d)", *prefetch)
	case *timeout <= 0 || *timeout > time.Hour:
		return fmt.Errorf("-timeout must be more than 0 and at most 1h (got %s)", *timeout)
	}

	// Connect to the broker. Our helper broker.Dial takes the URL from AMQP_URL, bounds the handshake with
	// a timeout and names the connection; the guide shows the plain amqp091-go it stands for.
	conn, err := broker.Dial("rpc/rpc_server")
	if err != nil {
		return err
	}
	// amqp091-go's Close waits for the broker's answer with no time limit; CloseDeadline bounds the wait
	// (past the deadline, the library gives up at its next heartbeat: within 5 s more with the default
	// heartbeat). This deferred close is for the paths that return an error, which it would only hide.
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()

	// The server publishes (its replies), so it listens for connection.blocked: a broker short of memory
	// or disk stops reading from publishing connections, and the server says why replies wait.
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	// Ask to be told why the channel closes, if it does (the connection lost, the broker stopping). The
	// buffer of one matters: the library waits only so long for us to take the news.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))

	// Declare the request queue as the official tutorials declare it today in every language: durable,
	// quorum. A request in it survives a broker restart, and, on a cluster, the loss of a node. A
	// queue "rpc_queue" that exists with other properties is refused (406 PRECONDITION_FAILED).
	q, err := ch.QueueDeclare(
		"rpc_queue", // name
		true,        // durable: quorum queues always are
		false,       // delete when unused
		false,       // exclusive
		false,       // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	)
	if err != nil {
		return broker.DeclareError("queue", "rpc_queue", err)
	}

	// Fair dispatch, as in Work Queues: with a prefetch count of 1 the broker gives this server a new
	// request only once it has acknowledged the last one, so the requests go to the servers that are
	// free, instead of queueing behind a busy one.
	if err := ch.Qos(
		*prefetch, // prefetch count
		0,         // prefetch size: no limit in bytes
		false,     // global: the limit applies to each consumer on this channel
	); err != nil {
		return fmt.Errorf("set prefetch count %d: %w", *prefetch, err)
	}

	// Replies are published as mandatory: when the caller's queue is gone (it gave up and left), the
	// broker returns the reply instead of dropping it silently, and we can say so. And the broker
	// confirms each reply (publisher confirms), so that we acknowledge a request only once the broker
	// has taken its reply.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	if err := ch.Confirm(
		false, // no-wait
	); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}

	// Consume with manual acknowledgements: the broker keeps each request until we acknowledge it, and
	// gives it to another server if this one dies first. Say we are ready only now.
	msgs, err := ch.Consume(
		q.Name, // queue
		"",     // consumer tag: let the library make one up
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

	// Answer one request at a time until told to stop. A request is answered in full (reply published,
	// confirmed, request acknowledged) before we look at ctx again: that is how Ctrl+C finishes the
	// request in progress. Closing the connection then hands back to the queue any request we received
	// and did not start.
	for {
		select {
		case <-ctx.Done():
			return closeConnection(conn)
		case b, ok := <-blocked:
			blocked = noteBlocked(stdout, blocked, b, ok)
		case d, ok := <-msgs:
			if !ok {
				return consumerEnded(conn, closed, q.Name)
			}
			if ctx.Err() != nil {
				// Told to stop just as a request came: leave it unacknowledged, for another server.
				return closeConnection(conn)
			}
			if err := answer(ch, d, returns, blocked, *timeout, stdout); err != nil {
				return err
			}
		}
	}
}

// answer replies to one request and then acknowledges it. Every request is acknowledged in the end,
// whatever its body: a bad request is answered with an error, not requeued to fail again and again.
// Its deadline is its own: a fresh timeout for each reply, never one shared by all requests, which
// would expire for every request once the server has run that long.
func answer(ch *amqp.Channel, d amqp.Delivery, returns <-chan amqp.Return, blocked chan amqp.Blocking,
	timeout time.Duration, stdout io.Writer) error {
	// A request that has come back maxDeliveries times has been taken by servers that went away before
	// answering it: quorum queues count in x-delivery-count the times a message came back because the
	// channel that held it closed. Something in it may kill them. Drop it.
	if count, _ := d.Headers["x-delivery-count"].(int64); count >= maxDeliveries {
		fmt.Fprintf(stdout, " [!] Dropped a request returned %d times unanswered (body %.20q)\n", count, d.Body)
		return ack(d)
	}

	// A request with no reply_to cannot be answered: nobody would get the reply.
	if d.ReplyTo == "" {
		fmt.Fprintf(stdout, " [!] Dropped a request with no reply_to (body %.20q)\n", d.Body)
		return ack(d)
	}

	// The reply carries the request's correlation id, so the caller can tell which call it answers. A body
	// that is not a whole number from 0 to maxN gets an error reply: type "error", the reason as the body.
	reply := amqp.Publishing{
		ContentType:   "text/plain",
		CorrelationId: d.CorrelationId,
	}
	n, err := strconv.Atoi(string(d.Body))
	if err != nil || n < 0 || n > maxN {
		fmt.Fprintf(stdout, " [!] Refused %.20q: not a whole number from 0 to %d\n", d.Body, maxN)
		reply.Type = "error"
		reply.Body = fmt.Appendf(nil, "n must be a whole number from 0 to %d (got %.20q)", maxN, d.Body)
	} else {
		fmt.Fprintf(stdout, " [.] fib(%d)\n", n)
		reply.Body = []byte(fib(n).String())
	}

	// Publish the reply through the default exchange (""), which routes it to the queue named by the
	// routing key: the request's reply_to.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",        // exchange
		d.ReplyTo, // routing key
		true,      // mandatory: return the reply if no queue takes it
		false,     // immediate
		reply)
	if err != nil {
		return fmt.Errorf("publish reply: %w", err)
	}

	// Wait until the broker has taken the reply. If it does not within the timeout, we give up: exiting
	// without acknowledging leaves the request in the queue for another server. The caller may then
	// get two replies; it takes the first and ignores the other.
	for done := false; !done; {
		select {
		case <-confirm.Done():
			if !confirm.Acked() {
				return errors.New("no confirm for the reply (a nack, or the channel closed first): the request stays in the queue")
			}
			done = true
		case b, ok := <-blocked:
			blocked = noteBlocked(stdout, blocked, b, ok)
		case <-ctx.Done():
			return fmt.Errorf("no confirm for the reply within %s: the request stays in the queue", timeout)
		}
	}

	// The broker returns an unroutable mandatory reply before it confirms it, and the library passes the
	// return on before the confirm: a return for this reply is waiting now, or there is none.
	select {
	case r := <-returns:
		if r.CorrelationId == d.CorrelationId {
			fmt.Fprintf(stdout, " [!] The reply reached no queue: the caller has gone (%s)\n", r.ReplyText)
		}
	default:
	}

	// Only now acknowledge the request: the broker deletes it.
	return ack(d)
}

// fib returns the n-th Fibonacci number, exactly. A Go int would overflow silently past fib(92);
// a big.Int grows as needed.
func fib(n int) *big.Int {
	a, b := big.NewInt(0), big.NewInt(1)
	for range n {
		a.Add(a, b)
		a, b = b, a
	}
	return a
}

func ack(d amqp.Delivery) error {
	if err := d.Ack(
		false, // multiple: this request only
	); err != nil {
		return fmt.Errorf("acknowledge request: %w", err)
	}
	return nil
}

// closeConnection closes the connection, with its error checked (the deferred close then does nothing).
func closeConnection(conn *amqp.Connection) error {
	if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// noteBlocked says when the broker starts and stops blocking publishers, and returns the channel to
// listen to from then on: none once the library has closed it (the connection closed, which the
// deliveries channel reports).
func noteBlocked(stdout io.Writer, blocked chan amqp.Blocking, b amqp.Blocking, ok bool) chan amqp.Blocking {
	switch {
	case !ok:
		return nil
	case b.Active:
		fmt.Fprintf(stdout, " [!] The broker is blocking publishers (%s): replies wait\n", b.Reason)
	default:
		fmt.Fprintln(stdout, " [*] The broker no longer blocks publishers")
	}
	return blocked
}

// consumerEnded says why the deliveries channel closed. When the channel or the connection closed, the
// library has put the reason in closed before closing the deliveries channel. Otherwise the broker
// cancelled our consumer: it does when the queue is deleted and, since RabbitMQ 4.3, when a consumer
// holds a request past the consumer timeout (3.10 closes the channel then).
func consumerEnded(conn *amqp.Connection, closed <-chan *amqp.Error, queue string) error {
	select {
	case reason, ok := <-closed:
		switch {
		case !ok || reason == nil:
			return errors.New("the channel was closed")
		case conn.IsClosed():
			return fmt.Errorf("connection to the broker lost: %s", broker.FirstLine(reason.Reason))
		default:
			return fmt.Errorf("the broker closed the channel: %s", broker.FirstLine(reason.Reason))
		}
	default:
		return fmt.Errorf("the broker cancelled our consumer: queue %q was deleted, or a request waited past "+
			"the broker's consumer timeout for our acknowledgement", queue)
	}
}
