package rabbit_test

import (
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func TestAtLeast(t *testing.T) {
	for _, c := range []struct {
		version      any
		major, minor int
		want         bool
	}{
		{"3.13.0", 3, 13, true},
		{"3.12.14", 3, 13, false},
		{"3.10.8", 3, 9, true},
		{"4.0.5", 3, 13, true},
		{"4.3.6", 4, 3, true},
		{"4.2.1", 4, 3, false},
		{"10.0.0", 4, 3, true},
		{"", 3, 9, false},
		{"unknown", 3, 9, false},
		{nil, 3, 9, false},
	} {
		conn := &amqp.Connection{Properties: amqp.Table{"version": c.version}}
		if got := rabbit.AtLeast(conn, c.major, c.minor); got != c.want {
			t.Errorf("version %v, AtLeast(%d, %d) = %v, want %v", c.version, c.major, c.minor, got, c.want)
		}
	}
	// The broker under test: every series we test streams on has them (3.9 and later).
	conn, err := rabbit.Dial("rabbit-test")
	if err != nil {
		t.Fatal(err)
	}
	defer rabbit.Close(conn)
	if !rabbit.AtLeast(conn, 3, 9) || rabbit.AtLeast(conn, 99, 0) {
		t.Errorf("RabbitMQ %v: AtLeast(3, 9) %v, AtLeast(99, 0) %v", conn.Properties["version"],
			rabbit.AtLeast(conn, 3, 9), rabbit.AtLeast(conn, 99, 0))
	}
}

// StreamOffset's values, and the broker taking each as x-stream-offset.
func TestStreamOffset(t *testing.T) {
	at := "2026-01-02T15:04:05Z"
	when, _ := time.Parse(time.RFC3339, at)
	stream := e2e.Stream(t, "offset")
	if _, err := e2e.Channel(t).QueueDeclare(stream, true, false, false, false, e2e.StreamArgs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    string
		want any
	}{
		{"first", "first"}, {"last", "last"}, {"next", "next"}, {"0", int64(0)}, {"42", int64(42)},
		{at, when}, {"30s", "30s"}, {"10m", "10m"}, {"2h", "2h"}, {"7D", "7D"}, {"1M", "1M"}, {"1Y", "1Y"},
	} {
		got, err := rabbit.StreamOffset("offset", c.s)
		if err != nil || got != c.want {
			t.Errorf("StreamOffset(%q) = %v, %v; want %v", c.s, got, err, c.want)
			continue
		}
		ch := e2e.Channel(t)
		if err := ch.Qos(1, 0, false); err != nil {
			t.Fatal(err)
		}
		if _, err := ch.Consume(stream, "", false, false, false, false, amqp.Table{"x-stream-offset": got}); err != nil {
			t.Errorf("x-stream-offset %v: %v", got, err)
		}
	}
	for _, s := range []string{"", "yesterday", "-1", "s", "10x", "1.5h", "2006-01-02"} {
		if _, err := rabbit.StreamOffset("offset", s); err == nil || !strings.HasPrefix(err.Error(), "-offset ") {
			t.Errorf("StreamOffset(%q): %v; want an error naming -offset", s, err)
		}
	}
}
