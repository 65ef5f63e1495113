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
	"io"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("receive_logs", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("receive_logs", flag.ContinueOnError)
	prefetch := flags.Int("prefetch", 100, "how many messages the broker may send ahead of our acknowledgements (1-65535)")
	if err := rabbit.Parse(flags, args, stdout, "receive_logs [-prefetch 100]"); err != nil {
		return err
	}
	if err := errors.Join(rabbit.Within("prefetch", *prefetch, 1, 65535), rabbit.NoArgs(flags)); err != nil {
		return err
	}

	conn, err := rabbit.Dial("publish-subscribe/receive_logs")
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

	// At most -prefetch messages unacknowledged (a slow receiver's backlog waits in the queue, not in
	// our memory). Then consume, and say we are ready only once the broker has the consumer.
	if err := ch.Qos(
		*prefetch, // prefetch count
		0,         // prefetch size: no limit in bytes
		false,     // global: per consumer
	); err != nil {
		return fmt.Errorf("set the prefetch count: %w", err)
	}
	consumer := rabbit.NewConsumer(conn, ch, q.Name)
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
	fmt.Fprintln(stdout, " [*] Waiting for logs. To exit press CTRL+C")

	// Print and acknowledge each message until Ctrl+C.
	for {
		select {
		case <-ctx.Done():
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				return consumer.Ended()
			}
			fmt.Fprintf(stdout, " [x] %s\n", d.Body)
			if err := d.Ack(false); err != nil { // false: this message only, not all before it
				return fmt.Errorf("acknowledge: %w", err)
			}
		}
	}
}
