package rabbit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// publisher is what a tutorial publisher has before it publishes: a channel in confirm mode with its
// NotifyReturn, NotifyClose and NotifyBlocked listeners, and a queue of the test's own.
type publisher struct {
	conn    *amqp.Connection
	ch      *amqp.Channel
	queue   string
	returns chan amqp.Return
	closed  chan *amqp.Error
	blocked chan amqp.Blocking
}

func newPublisher(t *testing.T, url string, args amqp.Table) *publisher {
	t.Helper()
	conn, err := rabbit.Dial(url, "rabbit-test-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare(e2e.UniqueName(t, "unconfirmed"), true, true, false, false, args) // durable: 4.x deprecates transient shared queues
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e2e.DeleteQueue(t, q.Name) })
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	return &publisher{conn, ch, q.Name,
		ch.NotifyReturn(make(chan amqp.Return, 1)), ch.NotifyClose(make(chan *amqp.Error, 1)),
		conn.NotifyBlocked(make(chan amqp.Blocking, 2))}
}

// publish publishes one mandatory message to exchange with key, as hello-world/send does, and starts
// its wait for the confirm: the result comes on the channel, nil for an ack of a message not returned.
func (p *publisher) publish(t *testing.T, ctx context.Context, exchange, key string, timeout time.Duration) <-chan error {
	t.Helper()
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, amqp.Publishing{Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		wait, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if acked, err := dc.WaitContext(wait); !acked {
			done <- rabbit.Unconfirmed(err, timeout, p.closed, p.blocked)
		} else if len(p.returns) > 0 {
			done <- &amqp.Error{Reason: "returned: " + (<-p.returns).ReplyText}
		} else {
			done <- nil
		}
	}()
	return done
}

// outcome waits for a publish's result and checks that it is one line holding want and none of not.
func outcome(t *testing.T, done <-chan error, want string, not ...string) {
	t.Helper()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("acked, want %q", want)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, want) {
			t.Errorf("= %q, want one line saying %q", msg, want)
		}
		for _, n := range not {
			if strings.Contains(msg, n) {
				t.Errorf("= %q, must not say %q", msg, n)
			}
		}
	case <-time.After(e2e.LineTimeout):
		t.Fatalf("the wait did not end, want %q", want)
	}
}

const wait = 30 * time.Second

func TestConfirmAckedAndReturned(t *testing.T) {
	p := newPublisher(t, e2e.URL(), nil)
	if err := <-p.publish(t, context.Background(), "", p.queue, wait); err != nil {
		t.Errorf("a message the queue took: %v", err)
	}
	// No queue is bound by that name: the broker returns the message, then acks it.
	outcome(t, p.publish(t, context.Background(), "", p.queue+".nowhere", wait), "returned: NO_ROUTE")
}

func TestUnconfirmedNacked(t *testing.T) {
	p := newPublisher(t, e2e.URL(), amqp.Table{"x-max-length": 0, "x-overflow": "reject-publish"})
	outcome(t, p.publish(t, context.Background(), "", p.queue, wait),
		"the broker refused the message (nack): it is not in the queue")
}

func TestUnconfirmedChannelClosed(t *testing.T) {
	p := newPublisher(t, e2e.URL(), nil)
	outcome(t, p.publish(t, context.Background(), e2e.UniqueName(t, "no-such-exchange"), "x", wait),
		"the broker closed the channel: NOT_FOUND - no exchange", "connection")
}

func TestUnconfirmedConnectionLost(t *testing.T) {
	proxy := e2e.NewProxy(t)
	proxy.StallAfterConfirmSelect()
	p := newPublisher(t, proxy.URL(), nil)
	done := p.publish(t, context.Background(), "", p.queue, wait)
	e2e.WaitFor(t, "the message in the queue", func() bool { n, _ := e2e.QueueCounts(t, p.queue); return n == 1 })
	proxy.Cut()
	outcome(t, done, "connection to the broker lost", "block")
}

func TestUnconfirmedBlocked(t *testing.T) {
	proxy := e2e.NewProxy(t)
	p := newPublisher(t, proxy.URL(), nil)
	t.Cleanup(proxy.Cut) // first: a blocked connection's close would wait for its close-ok
	proxy.Block("low on memory")
	outcome(t, p.publish(t, context.Background(), "", p.queue, time.Second),
		"the broker is blocking publishers (low on memory): no confirm within 1s")
}

// Blocked, then the connection lost: the library closes the blocked listener with the connection, and
// the close comes first. A lost connection is never called blocked.
func TestUnconfirmedBlockedThenLost(t *testing.T) {
	proxy := e2e.NewProxy(t)
	p := newPublisher(t, proxy.URL(), nil)
	proxy.Block("low on memory")
	done := p.publish(t, context.Background(), "", p.queue, wait)
	e2e.WaitFor(t, "the blocked notification", func() bool { return len(p.blocked) > 0 })
	proxy.Cut()
	outcome(t, done, "connection to the broker lost", "block")
}

func TestUnconfirmedTimedOutAndInterrupted(t *testing.T) {
	proxy := e2e.NewProxy(t)
	proxy.StallAfterConfirmSelect()
	p := newPublisher(t, proxy.URL(), nil)
	t.Cleanup(proxy.Cut) // first: a stalled connection's close would wait for its close-ok
	outcome(t, p.publish(t, context.Background(), "", p.queue, 500*time.Millisecond),
		"no confirm from the broker within 500ms (it may or may not be in the queue)", "block")
	ctx, cancel := context.WithCancel(context.Background())
	done := p.publish(t, ctx, "", p.queue, wait)
	time.AfterFunc(200*time.Millisecond, cancel)
	outcome(t, done, "interrupted before the broker confirmed the message")
}
