package rabbit_test

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

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
