// Command receive_logs is a subscriber of the RabbitMQ tutorial "Publish/Subscribe": until Ctrl+C, it
// prints " [x] <message>" for every message published to the fanout exchange "logs" (each receive_logs
// gets its own copy). Its queue goes away with it.
//
// Usage:
//
//	go run ./publish-subscribe/receive_logs [-prefetch 100] [> logs_from_rabbit.log]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

var prefetch = flag.Int("prefetch", 100, "how many messages the broker may send ahead of our acknowledgements (1-65535)")

func main() { rabbit.Main("receive_logs", run) }

func run(ctx context.Context) error {
	if *prefetch < 1 || *prefetch > 65535 {
		return errors.New("-prefetch must be from 1 to 65535")
	}

	// Connect and open a channel, as emit_log does.
	conn, err := rabbit.Dial(rabbit.URL(), "publish-subscribe/receive_logs")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// Declare the exchange exactly as emit_log does: either may start first, and a queue cannot be
	// bound to an exchange that does not exist.
	if err := ch.ExchangeDeclare(
		"logs",   // name
		"fanout", // type
		false,    // durable
		false,    // auto-deleted
		false,    // internal
		false,    // no-wait
		nil,      // arguments
	); err != nil {
		return rabbit.DeclareError("exchange", "logs", err)
	}

	// A temporary queue: a fresh one of our own, for the messages sent from now on. With no name, the
	// broker names it (amq.gen-...); exclusive, it is deleted when our connection closes.
	q, err := ch.QueueDeclare(
		"",    // name
		false, // durable
		false, // delete when unused
		true,  // exclusive
		false, // no-wait
		nil,   // arguments
	)
	if err != nil {
		return fmt.Errorf("declare a temporary queue: %w", err)
	}

	// Bind the queue to the exchange: from now on "logs" gives it a copy of every message.
	if err := ch.QueueBind(
		q.Name, // queue name
		"",     // routing key: a fanout exchange ignores it
		"logs", // exchange
		false,  // no-wait
		nil,    // arguments
	); err != nil {
		return fmt.Errorf("bind queue %s to exchange logs: %w", q.Name, err)
	}

	// At most -prefetch messages unacknowledged: a slow receiver's backlog waits in the queue, not in
	// our memory (Qos takes 0 as no limit). Listen for what ends deliveries, then consume.
	if err := ch.Qos(
		*prefetch, // prefetch count
		0,         // prefetch size: no limit in bytes
		false,     // global: per consumer
	); err != nil {
		return fmt.Errorf("set the prefetch count: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
	msgs, err := ch.Consume(
		q.Name, // queue
		"",     // consumer
		false,  // auto-ack
		false,  // exclusive
		false,  // no-local
		false,  // no-wait
		nil,    // args
	)
	if err != nil {
		return fmt.Errorf("consume from %s: %w", q.Name, err)
	}
	fmt.Println(" [*] Waiting for logs. To exit press CTRL+C")

	// Print and acknowledge each message until Ctrl+C.
	for {
		select {
		case <-ctx.Done():
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				return rabbit.Ended(closed, cancelled, fmt.Sprintf("queue %q was deleted", q.Name))
			}
			fmt.Printf(" [x] %s\n", d.Body)
			if err := d.Ack(false); err != nil { // false: this message only, not all before it
				return fmt.Errorf("acknowledge: %w", err)
			}
		}
	}
}
