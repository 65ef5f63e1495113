package rabbit_test

import (
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// consumer dials url and consumes from a server-named exclusive queue; it returns the connection, the
// channel, the Consumer, its deliveries and the queue's name.
func consumer(t *testing.T, url string) (*amqp.Connection, *amqp.Channel, *rabbit.Consumer, <-chan amqp.Delivery, string) {
	t.Helper()
	conn, ch, queue := exclusiveQueue(t, url)
	c := rabbit.NewConsumer(conn, ch, queue)
	msgs, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, ch, c, msgs, queue
}

// ended waits for the deliveries to end and checks what Ended says, twice (the same both times).
func ended(t *testing.T, msgs <-chan amqp.Delivery, c *rabbit.Consumer, want string) {
	t.Helper()
	timeout := time.After(e2e.LineTimeout)
	for open := true; open; {
		select {
		case _, open = <-msgs:
		case <-timeout:
			t.Fatal("the deliveries did not end")
		}
	}
	for range 2 {
		err := c.Ended()
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Ended() = %v, want one line starting with %q", err, want)
		}
	}
}

// The queue deleted under the consumer: the broker cancels it, and Done is closed.
func TestEndedCancelled(t *testing.T) {
	conn, _, c, msgs, q := consumer(t, rabbit.URL())
	deleteQueue(t, conn, q)
	done(t, c)
	ended(t, msgs, c, `the broker cancelled our consumer: queue "`+q+`" was deleted, or a message waited past the broker's consumer timeout`)
}

// An auto-ack consumer cannot run past the consumer timeout: Ended does not name it.
func TestEndedCancelledAutoAck(t *testing.T) {
	conn, _, c, msgs, q := consumer(t, rabbit.URL())
	c.AutoAck() // the test's consumer acknowledges, but Ended only has the program's word for it
	deleteQueue(t, conn, q)
	ended(t, msgs, c, `the broker cancelled our consumer: queue "`+q+`" was deleted`)
	if err := c.Ended(); strings.Contains(err.Error(), "timeout") {
		t.Errorf("Ended() = %v, want no consumer timeout for an auto-ack consumer", err)
	}
}

// deleteQueue deletes the exclusive queue q on a channel of its own connection (the only one allowed to).
func deleteQueue(t *testing.T, conn *amqp.Connection, q string) {
	t.Helper()
	other, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.QueueDelete(q, false, false, false); err != nil {
		t.Fatal(err)
	}
}

// done waits for c.Done() to be closed and checks that Ended has its reason by then (not the answer
// for deliveries that ended with none).
func done(t *testing.T, c *rabbit.Consumer) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(e2e.LineTimeout):
		t.Fatal("Done() was not closed")
	}
	if err := c.Ended(); err == nil || strings.Contains(err.Error(), "gave no reason") {
		t.Errorf("Ended() once Done() is closed = %v, want the reason", err)
	}
}

// Done stays open while the consumer runs, and when the program cancels the consumer itself: that
// ending is the program's own.
func TestDoneOpenUntilEnded(t *testing.T) {
	conn, ch, queue := exclusiveQueue(t, rabbit.URL())
	c := rabbit.NewConsumer(conn, ch, queue)
	msgs, err := ch.Consume(queue, "own", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	open := func(when string) {
		t.Helper()
		// A round trip on the channel first: a notification would have come before its answer.
		if _, err := ch.QueueDeclarePassive(queue, false, false, true, false, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
			t.Errorf("Done() closed %s", when)
		default:
		}
	}
	open("while the consumer runs")
	if err := ch.Cancel("own", false); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-msgs; ok {
		t.Fatal("a delivery from an empty queue")
	}
	open("by the program's own cancel")
}

// An ack of a delivery tag the channel never had: the broker closes the channel (406).
func TestEndedChannelClosed(t *testing.T) {
	_, ch, c, msgs, _ := consumer(t, rabbit.URL())
	if err := ch.Ack(999, false); err != nil {
		t.Fatal(err)
	}
	done(t, c)
	ended(t, msgs, c, "the broker closed the channel: PRECONDITION_FAILED - unknown delivery tag 999")
}

func TestEndedConnectionLost(t *testing.T) {
	proxy := e2e.NewProxy(t)
	_, _, c, msgs, _ := consumer(t, proxy.URL())
	proxy.Cut()
	done(t, c)
	ended(t, msgs, c, "connection to the broker lost: ")
}

func TestEndedClosedByProgram(t *testing.T) {
	_, ch, c, msgs, _ := consumer(t, rabbit.URL())
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	done(t, c)
	ended(t, msgs, c, "the channel was closed by the program")
}

// Lost tells a channel closed by the broker from a lost connection.
func TestLost(t *testing.T) {
	conn, ch, _, _, _ := consumer(t, rabbit.URL())
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.Ack(7, false); err != nil {
		t.Fatal(err)
	}
	if err := rabbit.Lost(conn, <-closed); !strings.HasPrefix(err.Error(), "the broker closed the channel: PRECONDITION_FAILED - unknown delivery tag 7") {
		t.Errorf("Lost = %v", err)
	}
}
