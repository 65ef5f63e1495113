package rabbit_test

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// waitThrough runs p.WaitThrough in the background; blocked receives each reason it is told.
func waitThrough(ctx context.Context, p *rabbit.Publisher, dc *amqp.DeferredConfirmation, timeout time.Duration) (done chan error, blocked chan string) {
	done, blocked = make(chan error, 1), make(chan string, 10)
	go func() {
		done <- p.WaitThrough(ctx, dc, "1", timeout, func(reason string) { blocked <- reason })
	}()
	return done, blocked
}

// A broker that blocks publishers, then unblocks: WaitThrough says so once and waits for the confirm.
func TestWaitThroughBlockedThenUnblocked(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, ch, p, q := publisher(t, proxy.URL())
	proxy.Block("low on disk")
	done, blocked := waitThrough(context.Background(), p, publish(t, ch, "", q, "1"), wait)
	if reason := <-blocked; reason != "low on disk" {
		t.Errorf("blocked(%q), want the broker's reason", reason)
	}
	proxy.Resume()
	if err := <-done; err != nil {
		t.Errorf("after the broker unblocked: WaitThrough = %v, want nil", err)
	}
	if len(blocked) != 0 {
		t.Errorf("blocked called %d more times, want once", len(blocked))
	}
}

// Blocked for the whole timeout: the outcome is Blocked, with the broker's reason.
func TestWaitThroughBlockedPastTimeout(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, ch, p, q := publisher(t, proxy.URL())
	proxy.Block("low on memory")
	done, blocked := waitThrough(context.Background(), p, publish(t, ch, "", q, "1"), 300*time.Millisecond)
	outcome(t, <-done, rabbit.Blocked, "the broker is blocking publishers (low on memory): the message may or may not be in the queue")
	if len(blocked) != 1 {
		t.Errorf("blocked called %d times, want once", len(blocked))
	}
	proxy.Resume()
}

// The connection lost while WaitThrough waits out a blocked broker: a lost connection, never Blocked.
func TestWaitThroughBlockedThenLostIsLost(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, ch, p, q := publisher(t, proxy.URL())
	proxy.Block("low on memory")
	done, blocked := waitThrough(context.Background(), p, publish(t, ch, "", q, "1"), wait)
	<-blocked
	proxy.Cut()
	outcome(t, <-done, rabbit.ConnectionLost, "connection to the broker lost before it confirmed the message")
}

// Ctrl+C while WaitThrough waits out a blocked broker: Interrupted.
func TestWaitThroughBlockedThenInterrupted(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, ch, p, q := publisher(t, proxy.URL())
	proxy.Block("low on memory")
	ctx, cancel := context.WithCancel(context.Background())
	done, blocked := waitThrough(ctx, p, publish(t, ch, "", q, "1"), wait)
	<-blocked
	cancel()
	outcome(t, <-done, rabbit.Interrupted, "interrupted before the broker confirmed the message")
	proxy.Resume()
}

// No confirm and no block: TimedOut, naming the whole timeout; blocked is never called.
func TestWaitThroughTimedOut(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, ch, p, q := publisher(t, proxy.URL())
	proxy.Stall()
	done, blocked := waitThrough(context.Background(), p, publish(t, ch, "", q, "1"), 300*time.Millisecond)
	ce := outcome(t, <-done, rabbit.TimedOut, "no confirm from the broker within 300ms")
	if ce.Timeout != 300*time.Millisecond || len(blocked) != 0 {
		t.Errorf("Timeout = %v, blocked called %d times; want 300ms, never", ce.Timeout, len(blocked))
	}
	proxy.Resume()
}

// An acked message: nil, and blocked is never called.
func TestWaitThroughAcked(t *testing.T) {
	_, ch, p, q := publisher(t, rabbit.URL())
	done, blocked := waitThrough(context.Background(), p, publish(t, ch, "", q, "1"), wait)
	if err := <-done; err != nil || len(blocked) != 0 {
		t.Errorf("WaitThrough = %v, blocked called %d times; want nil, never", err, len(blocked))
	}
}
