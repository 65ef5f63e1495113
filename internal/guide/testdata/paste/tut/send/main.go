// Command send publishes one message to the "hello" queue.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "send:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	// Connect to the broker.
	conn, err := rabbit.Dial("send")
	if err != nil {
		return err
	}
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()

	// Open a channel.
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}

	// Declare the queue.
	q, err := ch.QueueDeclare("hello", true, false, false, false,
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
	if err != nil {
		return rabbit.DeclareError("queue", "hello", err)
	}

	// Publish the message.
	err = ch.PublishWithContext(ctx, "", q.Name, false, false, amqp.Publishing{Body: []byte("Hello World!")})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	fmt.Println(" [x] Sent Hello World!")
	return conn.CloseDeadline(time.Now().Add(5 * time.Second))
}
