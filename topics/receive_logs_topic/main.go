// Command receive_logs_topic is a subscriber of the RabbitMQ tutorial "Topics": until Ctrl+C, it prints
// " [x] <routing key>:<message>" for every message published to the topic exchange "topic_logs" whose
// routing key matches one of the binding keys it is given. Its queue goes away with it.
//
// Usage:
//
//	go run ./topics/receive_logs_topic [-prefetch 100] binding-key...
//
// For example `receive_logs_topic "kern.*" "*.critical"`: in a binding key, "*" stands for exactly one
// word and "#" for zero or more (quote them, so that the shell leaves them alone).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("receive_logs_topic", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("receive_logs_topic", flag.ContinueOnError)
	prefetch := flags.Int("prefetch", 100, "how many messages the broker may send ahead of our acknowledgements (1-65535)")
	const usage = `receive_logs_topic [-prefetch 100] binding-key... (such as: "kern.*" "*.critical")`
	if err := rabbit.Parse(flags, args, stdout, usage); err != nil {
		return err
	}
	if err := rabbit.Within("prefetch", *prefetch, 1, 65535); err != nil {
		return err
	}
	bindingKeys := flags.Args()
	if len(bindingKeys) == 0 {
		return errors.New("no binding key given. Usage: " + usage)
	}

	conn, err := rabbit.Dial("topics/receive_logs_topic")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}

	// Declare the exchange exactly as emit_log_topic does: either may start first.
	if err := ch.ExchangeDeclare(
		"topic_logs", // name
		"topic",      // type
		false,        // durable
		false,        // auto-deleted
		false,        // internal
		false,        // no-wait
		nil,          // arguments
	); err != nil {
		return rabbit.DeclareError("exchange", "topic_logs", err)
	}

	// A temporary queue of our own, as in Publish/Subscribe: server-named, exclusive.
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

	// Bind the queue once per binding key. A message whose routing key matches several of them still
	// arrives once. A binding key is at most 255 bytes; amqp091-go would close the whole connection on a
	// longer one.
	for _, bindingKey := range bindingKeys {
		if len(bindingKey) > 255 {
			return fmt.Errorf("a binding key is %d bytes long: it may be at most 255 bytes", len(bindingKey))
		}
		if err := ch.QueueBind(
			q.Name,       // queue name
			bindingKey,   // binding key
			"topic_logs", // exchange
			false,        // no-wait
			nil,          // arguments
		); err != nil {
			return fmt.Errorf("bind queue %s with key %q: %w", q.Name, bindingKey, err)
		}
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

	// Print each message with its routing key, until Ctrl+C.
	for {
		select {
		case <-ctx.Done():
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				return consumer.Ended()
			}
			fmt.Fprintf(stdout, " [x] %s:%s\n", d.RoutingKey, d.Body)
			if err := d.Ack(false); err != nil { // false: this message only, not all before it
				return fmt.Errorf("acknowledge: %w", err)
			}
		}
	}
}
