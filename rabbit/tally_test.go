package rabbit_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 50000: "50,000", 10000000: "10,000,000", -1234: "-1,234"} {
		if got := rabbit.Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// Every message ends confirmed, nacked, returned or unconfirmed, by number; the report names them in
// runs, at most five of each kind, and says why the run ended in one line.
func TestTally(t *testing.T) {
	tally := rabbit.Tally{Count: 10_000_000}
	nack := &rabbit.ConfirmError{Outcome: rabbit.Nacked}
	ret := &rabbit.ConfirmError{Outcome: rabbit.Returned, Reason: "312 NO_ROUTE"}
	stop := &rabbit.ConfirmError{Outcome: rabbit.TimedOut, Timeout: time.Second}
	for n := 1; n <= 2000; n++ {
		var err error
		switch {
		case n == 7 || n >= 1000 && n <= 1002:
			err = nack
		case n%100 == 0 && n < 1000:
			err = ret
		case n > 1500:
			err = stop
		}
		if got := tally.Settle(n, err); (got != nil) != (n > 1500) {
			t.Fatalf("Settle(%d, %v) = %v: want the error back only for an unconfirmed message", n, err, got)
		}
	}
	var out strings.Builder
	err := tally.Report(&out, "in batches", 1234*time.Millisecond, stop)
	if want := "Published 2,000 messages and handled confirms in batches in 1,234 ms\n"; out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
	want := "9,998,513 of 10,000,000 messages not confirmed: 4 nacked (messages 7, 1,000 to 1,002), " +
		"9 returned as unroutable (messages 100, 200, 300, 400, 500, ...), 500 unconfirmed (messages 1,501 to 2,000), " +
		"9,998,000 not published: no confirm from the broker within 1s"
	if err == nil || err.Error() != want {
		t.Errorf("Report = %v\nwant     %s", err, want)
	}
	if tally.Published() != 2000 || tally.Confirmed != 1487 {
		t.Errorf("Published() = %d, Confirmed = %d, want 2000 and 1487", tally.Published(), tally.Confirmed)
	}

	all := rabbit.Tally{Count: 3}
	for n := 1; n <= 3; n++ {
		_ = all.Settle(n, nil)
	}
	if err := all.Report(&strings.Builder{}, "individually", 0, nil); err != nil {
		t.Errorf("all confirmed: Report = %v, want nil", err)
	}
	other := rabbit.Tally{Count: 2}
	_ = other.Settle(1, errors.New("publish: write: broken pipe\nmore"))
	if err := other.Report(&strings.Builder{}, "asynchronously", 0, errors.New("publish: write: broken pipe\nmore")); err == nil ||
		err.Error() != "2 of 2 messages not confirmed: 1 unconfirmed (messages 1), 1 not published: publish: write: broken pipe" {
		t.Errorf("Report = %v, want the error's first line", err)
	}
}

func TestWhy(t *testing.T) {
	for _, c := range []struct {
		e    rabbit.ConfirmError
		want string
	}{
		{rabbit.ConfirmError{Outcome: rabbit.Nacked}, "the broker refused the message (nack)"},
		{rabbit.ConfirmError{Outcome: rabbit.Returned, Reason: "312 NO_ROUTE"}, "no queue took the message (312 NO_ROUTE)"},
		{rabbit.ConfirmError{Outcome: rabbit.ChannelClosed, Reason: "NOT_FOUND"}, "the broker closed the channel (NOT_FOUND)"},
		{rabbit.ConfirmError{Outcome: rabbit.ConnectionLost, Reason: "EOF"}, "connection to the broker lost (EOF)"},
		{rabbit.ConfirmError{Outcome: rabbit.Blocked, Reason: "low on memory"}, "the broker is blocking publishers (low on memory)"},
		{rabbit.ConfirmError{Outcome: rabbit.TimedOut, Timeout: 2 * time.Second}, "no confirm from the broker within 2s"},
		{rabbit.ConfirmError{Outcome: rabbit.Interrupted}, "interrupted"},
	} {
		if got := c.e.Why(); got != c.want {
			t.Errorf("Why() = %q, want %q", got, c.want)
		}
	}
}

// asyncPublisher is publisher with the confirms on a NotifyPublish channel.
func asyncPublisher(t *testing.T, url string) (*amqp.Connection, *amqp.Channel, *rabbit.Publisher, string, chan amqp.Confirmation) {
	t.Helper()
	conn, ch, p, q := publisher(t, url)
	return conn, ch, p, q, ch.NotifyPublish(make(chan amqp.Confirmation, 16))
}

// Next and Settled tell an ack, a return (by MessageId, with others in flight) and a nack apart.
func TestNextSettled(t *testing.T) {
	_, ch, p, q, confirms := asyncPublisher(t, rabbit.URL())
	full, err := ch.QueueDeclare("", false, false, true, false, amqp.Table{"x-max-length": 0, "x-overflow": "reject-publish"})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, ch, "", q, "1")
	publish(t, ch, "", e2e.UniqueName(t, "missing"), "2")
	publish(t, ch, "", full.Name, "3")
	publish(t, ch, "", q, "4")
	want := []rabbit.Outcome{0, rabbit.Returned, rabbit.Nacked, 0}
	for i, w := range want {
		c, err := p.Next(context.Background(), confirms, wait)
		if err != nil || c.DeliveryTag != uint64(i+1) {
			t.Fatalf("Next = %+v, %v; want confirmation %d", c, err, i+1)
		}
		err = p.Settled(c, strconv.Itoa(i+1))
		if w == 0 {
			if err != nil {
				t.Errorf("message %d: Settled = %v, want nil", i+1, err)
			}
			continue
		}
		outcome(t, err, w, map[rabbit.Outcome]string{rabbit.Returned: "312 NO_ROUTE", rabbit.Nacked: "nack"}[w])
	}
}

// The connection cut while Next waits, also after the broker blocked it: lost, never blocked.
func TestNextConnectionLost(t *testing.T) {
	for _, block := range []bool{false, true} {
		proxy := e2e.NewProxy(t)
		conn, ch, p, q, confirms := asyncPublisher(t, proxy.URL())
		if block {
			proxy.Block("low on memory")
		} else {
			proxy.Stall()
		}
		publish(t, ch, "", q, "1")
		if block {
			_, err := p.Next(context.Background(), confirms, wait)
			outcome(t, err, rabbit.Blocked, "the broker is blocking publishers (low on memory)")
		}
		done := make(chan error, 1)
		if block { // a Next while the connection is blocked says Blocked at once
			proxy.Cut()
			e2e.WaitFor(t, "the connection to close", conn.IsClosed)
		}
		go func() { _, err := p.Next(context.Background(), confirms, wait); done <- err }()
		proxy.Cut()
		ce := outcome(t, <-done, rabbit.ConnectionLost, "connection to the broker lost")
		if strings.Contains(ce.Error(), "block") {
			t.Errorf("Next = %q after a block then a cut: want lost, not blocked", ce)
		}
	}
}

func TestNextTimedOutInterrupted(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, ch, p, q, confirms := asyncPublisher(t, proxy.URL())
	proxy.Stall()
	publish(t, ch, "", q, "1")
	_, err := p.Next(context.Background(), confirms, 300*time.Millisecond)
	if ce := outcome(t, err, rabbit.TimedOut, "no confirm from the broker within 300ms"); ce.Why() != "no confirm from the broker within 300ms" {
		t.Errorf("Why() = %q", ce.Why())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Next(ctx, confirms, wait)
	outcome(t, err, rabbit.Interrupted, "interrupted")
	proxy.Resume()
	// A confirmation that has come wins over a cancelled context.
	e2e.WaitFor(t, "the confirmation", func() bool { return len(confirms) == 1 })
	if c, err := p.Next(ctx, confirms, wait); err != nil || !c.Ack {
		t.Errorf("Next with the confirmation there = %+v, %v; want the ack", c, err)
	}
}

// A publish on a channel the broker closed says so, with the broker's reason; one on a cancelled
// context is Interrupted.
func TestPublishError(t *testing.T) {
	_, ch, p, q := publisher(t, rabbit.URL())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q, true, false, amqp.Publishing{})
	outcome(t, p.PublishError(ctx, err), rabbit.Interrupted, "interrupted")
	publish(t, ch, e2e.UniqueName(t, "no-such-exchange"), "", "1")
	e2e.WaitFor(t, "the channel to close", ch.IsClosed)
	_, err = ch.PublishWithDeferredConfirmWithContext(context.Background(), "", q, true, false, amqp.Publishing{})
	if err == nil {
		t.Fatal("publish on a closed channel: no error")
	}
	outcome(t, p.PublishError(context.Background(), err), rabbit.ChannelClosed, "NOT_FOUND - no exchange")
}

// More returns in flight than the Publisher's buffer holds (1,024): Wait makes room while it waits, so
// the library never drops one, and every message is told returned. After the channel closes, Returned
// answers at once (the library closes the returns channel).
func TestWaitManyReturns(t *testing.T) {
	_, ch, p, _ := publisher(t, rabbit.URL())
	missing := e2e.UniqueName(t, "missing")
	const n = 3000
	dcs := make([]*amqp.DeferredConfirmation, n)
	for i := range dcs {
		dcs[i] = publish(t, ch, "", missing, strconv.Itoa(i+1))
	}
	began := time.Now()
	for i, dc := range dcs {
		outcome(t, p.Wait(context.Background(), dc, strconv.Itoa(i+1), wait), rabbit.Returned, "312 NO_ROUTE")
	}
	if took := time.Since(began); took > 4*time.Second {
		t.Errorf("%d returns took %s: the library waited for room (5s) before it dropped a return", n, took)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() { _, ok := p.Returned("1"); done <- ok }()
	select {
	case ok := <-done:
		if ok {
			t.Error("Returned after close: a return nobody sent")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Returned after the channel closed did not answer")
	}
}
