package publisherconfirms_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// The floors: for each strategy, the least code that uses amqp091-go correctly for it, with none of the
// programs' care (no message ids, no mandatory flag and so no returns, no blocked or close notifications,
// no timeouts): the official Go program's calls, less its timeouts. Async keeps the program's default
// window (see floorAsync). Each runs in this process on a connection of its own, timed from its first
// publish to its last confirm, like the programs' own timing. A program at its floor spends nothing on
// its care; a floor slower than the official program would not be a floor.

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
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, floorPublishing(i))
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
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, floorPublishing(i))
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

// floorAsync publishes without waiting, and a goroutine of its own takes the confirms from NotifyPublish
// as they come, removing each from a map of outstanding sequence numbers (a sync.Map: two goroutines use
// it), as the official Go program does, with no bound on the messages in flight. The programs' in-loop
// design with a window of 1,000 spends less client CPU a message, but on 2 shared cores this one was as
// fast or faster (4.3.6: 1,674 ms against 1,817 for 50,000 messages, medians of 5 rounds): a floor must
// be no slower than the official program.
func floorAsync(b *testing.B, queue string, count int) measured {
	b.Helper()
	conn, ch := floorConn(b, "publisher-confirms/floor-async")
	defer conn.Close()
	ctx := context.Background()
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 100))
	var outstanding sync.Map
	done := make(chan error, 1)
	client0, broker0 := selfCPU(b), brokerCPU(b)
	start := time.Now()
	go func() {
		for range count {
			c, ok := <-confirms
			if !ok || !c.Ack {
				done <- fmt.Errorf("confirm %+v, ok=%v", c, ok)
				return
			}
			outstanding.Delete(c.DeliveryTag)
		}
		done <- nil
	}()
	for i := 1; i <= count; i++ {
		outstanding.Store(ch.GetNextPublishSeqNo(), i)
		if err := ch.PublishWithContext(ctx, "", queue, false, false, floorPublishing(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return measured{elapsed: time.Since(start), clientCPU: selfCPU(b) - client0, brokerCPU: brokerCPU(b) - broker0}
}
