package rabbit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// exclusiveQueue dials url (closed when the test ends), opens a channel and declares a server-named
// exclusive queue (gone with the connection), whose name it returns.
func exclusiveQueue(t *testing.T, url string) (*amqp.Connection, *amqp.Channel, string) {
	t.Helper()
	conn, err := rabbit.DialURL(url, "rabbit-test-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, false, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, ch, q.Name
}

// publisher is exclusiveQueue with the channel in confirm mode and a Publisher on it.
func publisher(t *testing.T, url string) (*amqp.Connection, *amqp.Channel, *rabbit.Publisher, string) {
	t.Helper()
	conn, ch, queue := exclusiveQueue(t, url)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	return conn, ch, rabbit.NewPublisher(conn, ch), queue
}

func publish(t *testing.T, ch *amqp.Channel, exchange, key, id string) *amqp.DeferredConfirmation {
	t.Helper()
	dc, err := ch.PublishWithDeferredConfirm(exchange, key, true, false, amqp.Publishing{MessageId: id, Body: []byte(id)})
	if err != nil {
		t.Fatalf("publish %s: %v", id, err)
	}
	return dc
}

// outcome checks that err is a *rabbit.ConfirmError with the outcome want, in one line, and returns it.
func outcome(t *testing.T, err error, want rabbit.Outcome, says string) *rabbit.ConfirmError {
	t.Helper()
	var ce *rabbit.ConfirmError
	if !errors.As(err, &ce) {
		t.Fatalf("Wait = %v, want a *rabbit.ConfirmError with outcome %d", err, want)
	}
	if ce.Outcome != want {
		t.Fatalf("Wait = %q (outcome %d), want outcome %d", err, ce.Outcome, want)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, says) {
		t.Errorf("Wait = %q, want one line saying %q", msg, says)
	}
	return ce
}

const wait = 30 * time.Second

func TestWaitAcked(t *testing.T) {
	_, ch, p, q := publisher(t, rabbit.URL())
	if err := p.Wait(context.Background(), publish(t, ch, "", q, "1"), "1", wait); err != nil {
		t.Errorf("Wait = %v, want nil", err)
	}
	if got, err := ch.QueueDeclarePassive(q, false, false, true, false, nil); err != nil || got.Messages != 1 {
		t.Errorf("the queue holds %d messages (%v), want 1", got.Messages, err)
	}
}

// Returns are told apart by MessageId with several messages in flight: only the one to a queue that
// does not exist is returned.
func TestWaitReturned(t *testing.T) {
	_, ch, p, q := publisher(t, rabbit.URL())
	missing := e2e.UniqueName(t, "missing")
	dcs := []*amqp.DeferredConfirmation{
		publish(t, ch, "", q, "1"), publish(t, ch, "", missing, "2"), publish(t, ch, "", q, "3"),
	}
	if err := p.Wait(context.Background(), dcs[0], "1", wait); err != nil {
		t.Errorf("message 1: Wait = %v, want nil", err)
	}
	ce := outcome(t, p.Wait(context.Background(), dcs[1], "2", wait), rabbit.Returned,
		"no queue took the message (312 NO_ROUTE): it is not in the queue")
	if !ce.Known() {
		t.Error("a returned message: Known() = false")
	}
	if err := p.Wait(context.Background(), dcs[2], "3", wait); err != nil {
		t.Errorf("message 3: Wait = %v, want nil", err)
	}
}

// A queue that refuses what it cannot hold (x-overflow reject-publish) nacks.
func TestWaitNacked(t *testing.T) {
	_, ch, p, _ := publisher(t, rabbit.URL())
	q, err := ch.QueueDeclare("", false, false, true, false, amqp.Table{"x-max-length": 0, "x-overflow": "reject-publish"})
	if err != nil {
		t.Fatal(err)
	}
	ce := outcome(t, p.Wait(context.Background(), publish(t, ch, "", q.Name, "1"), "1", wait), rabbit.Nacked,
		"the broker refused the message (nack): it is not in the queue")
	if !ce.Known() {
		t.Error("a nacked message: Known() = false")
	}
}

// A publish to an exchange that does not exist: the broker closes the channel (404) and the library
// nacks the message; the outcome is the close, with the broker's reason.
func TestWaitChannelClosed(t *testing.T) {
	conn, ch, p, _ := publisher(t, rabbit.URL())
	dc := publish(t, ch, e2e.UniqueName(t, "no-such-exchange"), "", "1")
	outcome(t, p.Wait(context.Background(), dc, "1", wait), rabbit.ChannelClosed,
		"the broker closed the channel before it confirmed the message (NOT_FOUND - no exchange")
	if conn.IsClosed() {
		t.Error("the connection closed too")
	}
}

// The connection cut while Wait waits (the broker stalled, so no confirm came first).
func TestWaitConnectionLost(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, ch, p, q := publisher(t, proxy.URL())
	proxy.Stall()
	dc := publish(t, ch, "", q, "1")
	done := make(chan error, 1)
	go func() { done <- p.Wait(context.Background(), dc, "1", wait) }()
	proxy.Cut()
	ce := outcome(t, <-done, rabbit.ConnectionLost, "connection to the broker lost before it confirmed the message (")
	if ce.Known() {
		t.Error("a lost connection: Known() = true, but the broker may hold the message")
	}
}

// Issue 19's drift bug: a connection the broker had blocked, then lost, is a lost connection, never a
// blocked broker. (A Wait that starts while the connection is still blocked says Blocked at once.)
func TestWaitBlockedThenLostIsLost(t *testing.T) {
	proxy := e2e.NewProxy(t)
	conn, ch, p, q := publisher(t, proxy.URL())
	proxy.Block("low on memory")
	dc := publish(t, ch, "", q, "1")
	outcome(t, p.Wait(context.Background(), dc, "1", wait), rabbit.Blocked, "the broker is blocking publishers (low on memory)")
	proxy.Cut()
	e2e.WaitFor(t, "the connection to close", conn.IsClosed)
	outcome(t, p.Wait(context.Background(), dc, "1", wait), rabbit.ConnectionLost, "connection to the broker lost")
	if b := p.Blocked(); b != "" {
		t.Errorf("Blocked() = %q after the connection closed, want \"\"", b)
	}
}

// A broker under a resource alarm ends the wait at once, within the timeout; once it unblocks, the
// message is confirmed.
func TestWaitBlocked(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, ch, p, q := publisher(t, proxy.URL())
	proxy.Block("low on disk")
	dc := publish(t, ch, "", q, "1")
	ce := outcome(t, p.Wait(context.Background(), dc, "1", wait), rabbit.Blocked,
		"the broker is blocking publishers (low on disk): the message may or may not be in the queue")
	if ce.Reason != "low on disk" || p.Blocked() != "low on disk" {
		t.Errorf("Reason = %q, Blocked() = %q, want the broker's reason", ce.Reason, p.Blocked())
	}
	proxy.Resume()
	e2e.WaitFor(t, "connection.unblocked", func() bool { return p.Blocked() == "" })
	if err := p.Wait(context.Background(), dc, "1", wait); err != nil {
		t.Errorf("after the broker unblocked: Wait = %v, want nil", err)
	}
}

func TestWaitTimedOut(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, ch, p, q := publisher(t, proxy.URL())
	proxy.Stall()
	ce := outcome(t, p.Wait(context.Background(), publish(t, ch, "", q, "1"), "1", 300*time.Millisecond), rabbit.TimedOut,
		"no confirm from the broker within 300ms: the message may or may not be in the queue")
	if ce.Timeout != 300*time.Millisecond {
		t.Errorf("Timeout = %v", ce.Timeout)
	}
	proxy.Resume()
}

func TestWaitInterrupted(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, ch, p, q := publisher(t, proxy.URL())
	proxy.Stall()
	ctx, cancel := context.WithCancel(context.Background())
	dc := publish(t, ch, "", q, "1")
	done := make(chan error, 1)
	go func() { done <- p.Wait(ctx, dc, "1", wait) }()
	cancel()
	outcome(t, <-done, rabbit.Interrupted, "interrupted before the broker confirmed the message: the message may or may not be in the queue")
	proxy.Resume()
}

func TestWaitWithoutConfirmMode(t *testing.T) {
	conn, err := rabbit.Dial("rabbit-test")
	if err != nil {
		t.Fatal(err)
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	dc, err := ch.PublishWithDeferredConfirm("", e2e.UniqueName(t, "nowhere"), false, false, amqp.Publishing{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rabbit.NewPublisher(conn, ch).Wait(context.Background(), dc, "", wait); err == nil ||
		!strings.Contains(err.Error(), "ch.Confirm") {
		t.Errorf("Wait without confirm mode = %v, want it to name ch.Confirm", err)
	}
}

// Unroutable tells a returned mandatory message from every other outcome.
func TestUnroutable(t *testing.T) {
	_, ch, p, q := publisher(t, rabbit.URL())
	err := p.Wait(context.Background(), publish(t, ch, "", e2e.UniqueName(t, "missing"), "1"), "1", wait)
	if reason, ok := rabbit.Unroutable(err); !ok || reason != "312 NO_ROUTE" {
		t.Errorf("Unroutable(%v) = %q, %v; want 312 NO_ROUTE, true", err, reason, ok)
	}
	if err := p.Wait(context.Background(), publish(t, ch, "", q, "2"), "2", wait); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{nil, errors.New("publish: boom"), &rabbit.ConfirmError{Outcome: rabbit.Nacked},
		&rabbit.ConfirmError{Outcome: rabbit.TimedOut, Timeout: time.Second}} {
		if reason, ok := rabbit.Unroutable(err); ok || reason != "" {
			t.Errorf("Unroutable(%v) = %q, %v; want \"\", false", err, reason, ok)
		}
	}
}
