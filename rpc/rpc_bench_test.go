package rpc_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// BenchmarkRPC measures RPC calls against rpc_server as shipped (built without the race detector, run
// as processes) on the broker at AMQP_URL:
//
//	go test -run '^$' -bench . -benchtime 1x -count 5 ./rpc/
//
// The callers are goroutines of this process sharing one connection and one channel, as in rpc_client:
// each makes calls one after another, and every call is matched to its reply by correlation id. The
// replies come back either through a callback queue (server-named, exclusive: the tutorial's way) or
// through direct reply-to (amq.rabbitmq.reply-to: no queue, the broker hands each reply straight to
// the caller's channel). Each iteration measures both, one after the other, against the same servers,
// so that they compare under the same load. Each call asks for fib(30): the figures are those of the
// messaging, not of the arithmetic.
//
// It reports, for each way, calls/s and the latency of one call (publish to reply): the median (p50-ms)
// and the 99th percentile (p99-ms). Take the medians over -count runs: the machine may be shared.
func BenchmarkRPC(b *testing.B) {
	for _, c := range []struct {
		servers, prefetch, callers, calls int
	}{
		{1, 1, 1, 300},
		{1, 1, 50, 2000},
		{1, 20, 50, 2000},
		{2, 1, 50, 2000},
	} {
		name := fmt.Sprintf("servers=%d/prefetch=%d/callers=%d", c.servers, c.prefetch, c.callers)
		b.Run(name, func(b *testing.B) {
			e2e.FreshQueue(b, "rpc_queue")
			for range c.servers {
				startBenchServer(b, "-prefetch", strconv.Itoa(c.prefetch))
			}
			for b.Loop() {
				for _, direct := range []bool{false, true} {
					way := "callback"
					if direct {
						way = "direct"
					}
					m := measureCalls(b, direct, c.callers, c.calls)
					b.ReportMetric(m.perSecond, way+"-calls/s")
					b.ReportMetric(m.p50, way+"-p50-ms")
					b.ReportMetric(m.p99, way+"-p99-ms")
				}
			}
		})
	}
}

var (
	benchBinOnce sync.Once
	benchBinDir  string
	benchBinErr  error
)

// startBenchServer starts rpc_server, built without the race detector, and waits until it consumes. It
// is stopped (Ctrl+C) when the benchmark ends.
func startBenchServer(b *testing.B, args ...string) {
	b.Helper()
	benchBinOnce.Do(func() {
		benchBinDir, benchBinErr = os.MkdirTemp("", "rpc-bench-")
		if benchBinErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", benchBinDir+"/", "./rpc/rpc_server")
		cmd.Dir = e2e.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			benchBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if benchBinErr != nil {
		b.Fatal(benchBinErr)
	}
	cmd := exec.Command(filepath.Join(benchBinDir, "rpc_server"), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	r := bufio.NewReader(out)
	if line, err := r.ReadString('\n'); err != nil || line != awaiting+"\n" {
		b.Fatalf("rpc_server printed %q (%v)", line, err)
	}
	go func() { _, _ = r.WriteTo(io.Discard) }()
}

type callFigures struct {
	perSecond, p50, p99 float64
}

// measureCalls makes calls calls, callers at a time, and returns the rate and latencies.
func measureCalls(b *testing.B, direct bool, callers, calls int) callFigures {
	b.Helper()
	c := dialBenchClient(b, direct)
	defer func() { _ = c.conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()

	latencies := make([]time.Duration, calls)
	var next sync.Mutex
	taken := 0
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := time.Now()
	for range callers {
		wg.Go(func() {
			for {
				next.Lock()
				i := taken
				taken++
				next.Unlock()
				if i >= calls {
					return
				}
				t0 := time.Now()
				answer, err := c.call(30)
				if err != nil {
					errs <- err
					return
				}
				if answer != "832040" {
					errs <- fmt.Errorf("fib(30) = %q", answer)
					return
				}
				latencies[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return callFigures{
		perSecond: float64(calls) / elapsed.Seconds(),
		p50:       ms(latencies[calls/2]),
		p99:       ms(latencies[calls*99/100]),
	}
}

// benchClient is rpc_client's client (confirms, mandatory requests, a pending call per correlation id),
// with its replies from a callback queue or from direct reply-to.
type benchClient struct {
	conn       *amqp.Connection
	ch         *amqp.Channel
	publishing sync.Mutex
	replyTo    string
	mu         sync.Mutex
	pending    map[string]chan string
}

func dialBenchClient(b *testing.B, direct bool) *benchClient {
	b.Helper()
	conn, err := rabbit.Dial(rabbit.URL(), "rpc/bench")
	if err != nil {
		b.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	// Direct reply-to: consume from the pseudo-queue amq.rabbitmq.reply-to (automatic acknowledgement
	// is required) and name it in reply_to; the broker puts the channel's own address there.
	replyTo := "amq.rabbitmq.reply-to"
	if !direct {
		q, err := ch.QueueDeclare("", false, false, true, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		replyTo = q.Name
	}
	replies, err := ch.Consume(replyTo, "", true, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	c := &benchClient{conn: conn, ch: ch, replyTo: replyTo, pending: map[string]chan string{}}
	go func() {
		for d := range replies {
			c.mu.Lock()
			answer, ok := c.pending[d.CorrelationId]
			delete(c.pending, d.CorrelationId)
			c.mu.Unlock()
			if ok {
				answer <- string(d.Body)
			}
		}
	}()
	return c
}

func (c *benchClient) call(n int) (string, error) {
	id := rand.Text()
	answer := make(chan string, 1)
	c.mu.Lock()
	c.pending[id] = answer
	c.mu.Unlock()
	c.publishing.Lock()
	confirm, err := c.ch.PublishWithDeferredConfirm("", "rpc_queue", true, false, amqp.Publishing{
		ContentType:   "text/plain",
		CorrelationId: id,
		ReplyTo:       c.replyTo,
		Expiration:    "10000",
		Body:          []byte(strconv.Itoa(n)),
	})
	c.publishing.Unlock()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case a := <-answer:
		return a, nil
	case <-ctx.Done():
		if confirm.Acked() {
			return "", errors.New("no answer within 10s")
		}
		return "", errors.New("no answer within 10s, nor a confirm of the request")
	}
}
