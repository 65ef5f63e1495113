// Command receive_logs_topic is a subscriber of the RabbitMQ tutorial "Topics": until Ctrl+C, it prints
// " [x] <routing key>:<message>" for every message published to the topic exchange "topic_logs" whose
// routing key matches one of the binding keys it is given. Its queue goes away with it.
//
// Usage:
//
//	go run ./topics/receive_logs_topic [-prefetch 100] binding-key...
//
// For example `receive_logs_topic "kern.*" "*.critical"` (quoted, so that the shell leaves them alone).
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

func main() { rabbit.Main("receive_logs_topic", run) }

func run(ctx context.Context) error {
	bindingKeys := flag.Args()
	if len(bindingKeys) == 0 {
		return errors.New(`no binding key given. Usage: receive_logs_topic [-prefetch 100] binding-key... ` +
			`(such as: "kern.*" "*.critical")`)
	} else if *prefetch < 1 || *prefetch > 65535 {
		return errors.New("-prefetch must be from 1 to 65535")
	}

	// Connect and open a channel, as emit_log_topic does.
	conn, err := rabbit.Dial(rabbit.URL(), "topics/receive_logs_topic")
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
	// arrives once. A binding key is at most 255 bytes; amqp091-go would close the connection on a
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

	// Print each message with its routing key, until Ctrl+C.
	for {
		select {
		case <-ctx.Done():
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				return rabbit.Ended(closed, cancelled, fmt.Sprintf("queue %q was deleted", q.Name))
			}
			fmt.Printf(" [x] %s:%s\n", d.RoutingKey, d.Body)
			if err := d.Ack(false); err != nil { // false: this message only, not all before it
				return fmt.Errorf("acknowledge: %w", err)
			}
		}
	}
}
