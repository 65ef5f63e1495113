package streams_test

// Benchmarks for the guide's figures, on one node, over AMQP 0-9-1 (not in CI):
//
//	go test -run '^$' -bench . -benchtime 5x ./streams/
//
// Each figure is the median of the iterations (-benchtime Nx).
// STREAMS_BENCH_MESSAGES (default 100000) sets the messages of BenchmarkPublishConsume,
// STREAMS_BENCH_SEEK (default 1000000) the length of BenchmarkSeek's stream; it reads from 90% of it.

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

func benchSize(b *testing.B, env string, def int) int {
	if s := os.Getenv(env); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			b.Fatalf("%s=%q: want a number of messages, at least 10", env, s)
		}
		return n
	}
	return def
}

// publishAll publishes n 100-byte messages with confirms, at most window unconfirmed at a time.
func publishAll(b *testing.B, ch *amqp.Channel, queue string, n int) {
	const window = 1000
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 100)
	pending := make([]*amqp.DeferredConfirmation, 0, window)
	wait := func(dcs []*amqp.DeferredConfirmation) {
		for _, dc := range dcs {
			if ok, err := dc.WaitContext(b.Context()); !ok || err != nil {
				b.Fatalf("confirm: %v %v", ok, err)
			}
		}
	}
	for range n {
		dc, err := ch.PublishWithDeferredConfirm("", queue, false, false, amqp.Publishing{Body: body})
		if err != nil {
			b.Fatal(err)
		}
		if pending = append(pending, dc); len(pending) == window {
			wait(pending[:window/2])
			pending = append(pending[:0], pending[window/2:]...)
		}
	}
	wait(pending)
}

// consumeUntil consumes from queue with args, acking each message, until until(delivery) holds.
func consumeUntil(b *testing.B, ch *amqp.Channel, queue string, args amqp.Table, until func(amqp.Delivery) bool) {
	if err := ch.Qos(1000, 0, false); err != nil {
		b.Fatal(err)
	}
	msgs, err := ch.Consume(queue, "", false, false, false, false, args)
	if err != nil {
		b.Fatal(err)
	}
	for {
		select {
		case d, ok := <-msgs:
			if !ok {
				b.Fatal("deliveries ended")
			}
			if err := d.Ack(false); err != nil {
				b.Fatal(err)
			}
			if until(d) {
				return
			}
		case <-time.After(e2e.LineTimeout):
			b.Fatal("no delivery within", e2e.LineTimeout)
		}
	}
}

// Publish n messages with confirms, then consume them, into a stream and into a quorum queue.
func BenchmarkPublishConsume(b *testing.B) {
	n := benchSize(b, "STREAMS_BENCH_MESSAGES", 100_000)
	for _, kind := range []string{"stream", "quorum"} {
		b.Run(kind, func(b *testing.B) {
			var pub, con []float64
			for b.Loop() {
				queue := e2e.Stream(b, "bench-"+kind)
				args := amqp.Table{amqp.QueueTypeArg: kind}
				var consumerArgs amqp.Table
				if kind == "stream" {
					args, consumerArgs = e2e.StreamArgs, amqp.Table{"x-stream-offset": "first"}
				}
				ch := e2e.Channel(b)
				if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				publishAll(b, ch, queue, n)
				pub = append(pub, float64(n)/time.Since(start).Seconds())
				start, got := time.Now(), 0
				consumeUntil(b, e2e.Channel(b), queue, consumerArgs, func(amqp.Delivery) bool { got++; return got == n })
				con = append(con, float64(n)/time.Since(start).Seconds())
			}
			b.ReportMetric(median(pub), "published/s")
			b.ReportMetric(median(con), "consumed/s")
		})
	}
}

// The time for a consumer to reach offset 90% of a stream: reading from the first offset, and
// attaching at that offset.
func BenchmarkSeek(b *testing.B) {
	n := benchSize(b, "STREAMS_BENCH_SEEK", 1_000_000)
	target := int64(n) * 9 / 10
	stream := e2e.Stream(b, "bench-seek")
	ch := e2e.Channel(b)
	if _, err := ch.QueueDeclare(stream, true, false, false, false, e2e.StreamArgs); err != nil {
		b.Fatal(err)
	}
	publishAll(b, ch, stream, n)
	b.ResetTimer()
	for _, from := range []any{"first", target} {
		b.Run(fmt.Sprintf("from=%v", from), func(b *testing.B) {
			var took []float64
			for b.Loop() {
				start := time.Now()
				ch := e2e.Channel(b)
				consumeUntil(b, ch, stream, amqp.Table{"x-stream-offset": from}, func(d amqp.Delivery) bool {
					return d.Headers["x-stream-offset"].(int64) >= target
				})
				took = append(took, time.Since(start).Seconds())
				if err := ch.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(median(took), "median-s")
		})
	}
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}
