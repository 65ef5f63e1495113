// Command receive prints the messages that arrive on the queue "hello" until Ctrl+C: the consumer of
// the first RabbitMQ tutorial. If its subscription ends (the connection lost, the queue deleted), it
// says why in one line and exits 1.
//
// Usage: go run ./hello-world/receive (the broker: $AMQP_URL)
package main

import (
	"context"
	"fmt"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

func main() { rabbit.Main("receive", run) }

func run(ctx context.Context) error {
	// Connect and open a channel, as send does.
	conn, err := rabbit.Dial(rabbit.URL(), "hello-world/receive")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// Declare the queue here too, as send does: either program may start first.
	q, err := ch.QueueDeclare(
		"hello", // name
		true,    // durable
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}, // arguments
	)
	if err != nil {
		return rabbit.DeclareError("queue", "hello", err)
	}

	// Ask the broker to push the queue's messages to us, listening first for why it may stop. With
	// auto-ack it forgets each message once sent: one not printed when we stop is lost (see Work Queues).
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
	msgs, err := ch.Consume(
		q.Name, // queue
		"",     // consumer tag: the library makes one up
		true,   // auto-ack
		false,  // exclusive
		false,  // no-local
		false,  // no-wait
		nil,    // args
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %w", q.Name, err)
	}
	fmt.Println(" [*] Waiting for messages. To exit press CTRL+C")

	// Print each message as it arrives, until Ctrl+C. Deliveries that end are an error, not a quiet
	// exit: rabbit.Ended says why.
	for {
		select {
		case <-ctx.Done():
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				return rabbit.Ended(closed, cancelled, fmt.Sprintf("queue %q was deleted", q.Name))
			}
			fmt.Printf(" [x] Received %s\n", d.Body)
		}
	}
}
