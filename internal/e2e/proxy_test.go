package e2e

import (
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The proxy's faults, as amqp091-go sees them through a real broker: a block reaches NotifyBlocked, a
// stall holds confirms back until Resume, a cut closes the connection, and declared queues are named.
func TestProxy(t *testing.T) {
	p := NewProxy(t)
	conn, err := amqp.Dial(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Queues(); len(got) != 1 || got[0] != q.Name {
		t.Errorf("Queues() = %q, want [%q]", got, q.Name)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}

	p.Block("low on memory")
	held, err := ch.PublishWithDeferredConfirm("", q.Name, false, false, amqp.Publishing{Body: []byte("held")})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-blocked:
		if !b.Active || b.Reason != "low on memory" {
			t.Errorf("blocked notification %+v", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection.blocked within 10s")
	}
	p.Resume()
	select {
	case b := <-blocked:
		if b.Active {
			t.Errorf("unblocked notification %+v", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection.unblocked within 10s")
	}
	select {
	case <-held.Done():
		if !held.Acked() {
			t.Error("the publish held while blocked was nacked after Resume")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the publish held while blocked was not confirmed within 10s of Resume")
	}

	p.Stall()
	dc, err := ch.PublishWithDeferredConfirm("", q.Name, false, false, amqp.Publishing{Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-dc.Done():
		t.Fatal("confirmed while the proxy stalls the broker's frames")
	case <-time.After(500 * time.Millisecond):
	}
	p.Resume()
	select {
	case <-dc.Done():
		if !dc.Acked() {
			t.Error("nacked after Resume")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no confirm within 10s of Resume")
	}

	p.Cut()
	select {
	case err := <-closed:
		if err == nil {
			t.Error("connection closed without an error after a cut")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection not closed within 10s of a cut")
	}
	if err := conn.Close(); !errors.Is(err, amqp.ErrClosed) {
		t.Errorf("Close after a cut: %v, want ErrClosed", err)
	}
}

// StallAfterConfirmSelect lets confirm.select-ok through, then holds the broker's side: the publish
// reaches the queue, its confirm waits for Resume.
func TestStallAfterConfirmSelect(t *testing.T) {
	p := NewProxy(t)
	conn, err := amqp.Dial(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare(UniqueName(t, "stall"), true, true, false, false, nil) // durable: 4.x deprecates transient shared queues
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DeleteQueue(t, q.Name) })
	p.StallAfterConfirmSelect()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	dc, err := ch.PublishWithDeferredConfirm("", q.Name, false, false, amqp.Publishing{Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "the message in the queue", func() bool { n, _ := QueueCounts(t, q.Name); return n == 1 })
	select {
	case <-dc.Done():
		t.Fatal("the confirm came through a stalled proxy")
	case <-time.After(300 * time.Millisecond):
	}
	p.Resume()
	select {
	case <-dc.Done():
		if !dc.Acked() {
			t.Error("nacked after Resume")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no confirm after Resume")
	}
}
