package publisherconfirms_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// The floors: for each strategy, the least code that uses amqp091-go correctly for it, with none of the
// programs' care (no message ids, no returns, no blocked or close notifications, no timeouts). Async
// keeps the program's default window (see floorAsync). Each runs in this process on a connection of its own, timed from its first publish
// to its last confirm, like the programs' own timing. A program at its floor spends nothing on its care.

// floorConn dials and opens a channel in confirm mode.
func floorConn(b *testing.B, name string) (*amqp.Connection, *amqp.Channel) {
	b.Helper()
	conn, err := rabbit.Dial(rabbit.URL(), name)
	ch := openChannel(b, conn, err)
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	return conn, ch
}

func floorPublishing(i int) amqp.Publishing {
	return amqp.Publishing{ContentType: "text/plain", Body: []byte(strconv.Itoa(i))}
}

// floorIndividually publishes each message with a deferred confirmation and waits for it.
func floorIndividually(b *testing.B, queue string, count int) measured {
	b.Helper()
	conn, ch := floorConn(b, "publisher-confirms/floor-individually")
	defer conn.Close()
	ctx := context.Background()
	client0, broker0 := selfCPU(b), brokerCPU(b)
	start := time.Now()
	for i := 1; i <= count; i++ {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, floorPublishing(i))
		if err != nil {
			b.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			b.Fatalf("message %d: acked %v, %v", i, ok, err)
		}
	}
	return measured{elapsed: time.Since(start), clientCPU: selfCPU(b) - client0, brokerCPU: brokerCPU(b) - broker0}
}

// floorBatches publishes batches of size messages with deferred confirmations, then waits for the
// batch's confirms.
func floorBatches(b *testing.B, queue string, count, size int) measured {
	b.Helper()
	conn, ch := floorConn(b, "publisher-confirms/floor-batches")
	defer conn.Close()
	ctx := context.Background()
	batch := make([]*amqp.DeferredConfirmation, 0, size)
	client0, broker0 := selfCPU(b), brokerCPU(b)
	start := time.Now()
	for i := 1; i <= count; i++ {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, floorPublishing(i))
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, dc)
		if len(batch) == size || i == count {
			for _, dc := range batch {
				if ok, err := dc.WaitContext(ctx); err != nil || !ok {
					b.Fatalf("acked %v, %v", ok, err)
				}
			}
			batch = batch[:0]
		}
	}
	return measured{elapsed: time.Since(start), clientCPU: selfCPU(b) - client0, brokerCPU: brokerCPU(b) - broker0}
}

// floorAsync publishes without waiting and, in the same loop, takes the confirms that have come from
// NotifyPublish, removing each from a map of outstanding sequence numbers, as the tutorial's async
// strategy does; at floorWindow messages in flight it waits for the next confirm first, and at the end
// for the rest. Two earlier floors cost more client CPU per message than the program they are a floor
// for, so they were not the least correct code: confirms taken in a goroutine of their own with a
// mutex around the map, as the official Go program does (13 µs a message against the program's 8 on
// 4.3.6), and then no bound on the messages in flight (12.6 µs: amqp091-go walks every pending
// confirmation for each multiple ack, and memory grows with the run).
const floorWindow = 1000

func floorAsync(b *testing.B, queue string, count int) measured {
	b.Helper()
	conn, ch := floorConn(b, "publisher-confirms/floor-async")
	defer conn.Close()
	ctx := context.Background()
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1024))
	outstanding := make(map[uint64]int)
	settle := func() {
		c, ok := <-confirms
		if !ok || !c.Ack {
			b.Fatalf("confirm %+v, ok=%v", c, ok)
		}
		delete(outstanding, c.DeliveryTag)
	}
	client0, broker0 := selfCPU(b), brokerCPU(b)
	start := time.Now()
	for i := 1; i <= count; i++ {
		outstanding[ch.GetNextPublishSeqNo()] = i
		if err := ch.PublishWithContext(ctx, "", queue, true, false, floorPublishing(i)); err != nil {
			b.Fatal(err)
		}
		for len(confirms) > 0 || len(outstanding) >= floorWindow {
			settle()
		}
	}
	for len(outstanding) > 0 {
		settle()
	}
	return measured{elapsed: time.Since(start), clientCPU: selfCPU(b) - client0, brokerCPU: brokerCPU(b) - broker0}
}
