package publisherconfirms_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

// The benchmarks run the programs as they are shipped: built without the race detector (the binaries of
// TestMain have it, which would measure the detector), as processes, against the broker at AMQP_URL.
//
//	go test -run '^$' -bench . -benchtime 1x -count 5 ./publisher-confirms/
//
// Add -cpu 1,2 to measure with the client (programs and baseline alike) on one core and on two.
//
// Each iteration measures the no-confirm baseline and the strategies side by side, on the same queue,
// so the ratios compare runs made under the same load. Take the medians over -count runs: the machine
// may be shared.

const benchCount = 50000

// individuallyCount is smaller: at one round trip per message its rate does not depend on the count,
// and 50,000 round trips would make the benchmark slow.
const individuallyCount = 10000

var (
	benchBinsOnce sync.Once
	benchBinsDir  string
	benchBinsErr  error
)

func benchBin(b *testing.B, name string) string {
	b.Helper()
	benchBinsOnce.Do(func() {
		benchBinsDir, benchBinsErr = os.MkdirTemp("", "pc-bench-")
		if benchBinsErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", benchBinsDir+"/", "./publisher-confirms/...")
		cmd.Dir = e2e.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			benchBinsErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if benchBinsErr != nil {
		b.Fatal(benchBinsErr)
	}
	return filepath.Join(benchBinsDir, name)
}

var elapsedMs = regexp.MustCompile(` in ([0-9,]+) ms `)

// runProgram runs a program to its end, requires success, and returns the time it printed (publishing
// and confirming only, not connecting) and its peak resident memory.
func runProgram(b *testing.B, name string, args ...string) (time.Duration, int64) {
	b.Helper()
	cmd := exec.Command(benchBin(b, name), args...)
	// The programs run with the benchmark's GOMAXPROCS, as the in-process baseline does, so that
	// -cpu 1,2 compares like with like. (On 2 cores shared with the broker, 1 is often faster.)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s %v: %v\nstdout: %s\nstderr: %s", name, args, err, out.String(), errOut.String())
	}
	m := elapsedMs.FindStringSubmatch(out.String())
	if m == nil {
		b.Fatalf("%s printed no time: %q", name, out.String())
	}
	ms, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if err != nil {
		b.Fatal(err)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
	return time.Duration(ms) * time.Millisecond, rss * 1024
}

// benchQueue declares (or empties) a queue for the benchmark, holding at most maxLen messages (the oldest
// are dropped, and still confirmed), so the broker's memory does not grow with the runs.
func benchQueue(b *testing.B, ch *amqp.Channel, name string, maxLen int) {
	b.Helper()
	if _, err := ch.QueueDeclare(name, false, false, false, false, amqp.Table{"x-max-length": maxLen}); err != nil {
		b.Fatalf("declare %s: %v", name, err)
	}
	if _, err := ch.QueuePurge(name, false); err != nil {
		b.Fatalf("purge %s: %v", name, err)
	}
}

// publishNoConfirm is the baseline: the same messages, the same publish call, on a channel not in
// confirm mode. It ends with a round trip on the channel (a passive declare), which the broker answers
// only after it has handled every publish before it, so the time covers the broker taking them all.
func publishNoConfirm(b *testing.B, queue string, count int) time.Duration {
	b.Helper()
	conn, err := broker.Dial("publisher-confirms/bench-baseline")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	for i := 1; i <= count; i++ {
		err := ch.PublishWithContext(ctx, "", queue, true, false, amqp.Publishing{
			ContentType: "text/plain",
			Body:        []byte(strconv.Itoa(i)),
		})
		if err != nil {
			b.Fatalf("publish: %v", err)
		}
	}
	if _, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil); err != nil {
		b.Fatalf("passive declare %s: %v", queue, err)
	}
	return time.Since(start)
}

// roundTrip is the median time of a synchronous call to the broker: the bound for publishing
// individually, which waits for one confirm per message.
func roundTrip(b *testing.B, ch *amqp.Channel, queue string) time.Duration {
	b.Helper()
	const n = 1001
	times := make([]time.Duration, n)
	for i := range times {
		start := time.Now()
		if _, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil); err != nil {
			b.Fatal(err)
		}
		times[i] = time.Since(start)
	}
	return median(times)
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s { // insertion sort: small slices
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

func perSecond(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// BenchmarkStrategies: the three strategies against the no-confirm baseline, 50,000 messages each
// (individually: 10,000), side by side in each iteration.
func BenchmarkStrategies(b *testing.B) {
	const queue = "pc-bench"
	ch := e2e.Channel(b)
	defer func() { _, _ = ch.QueueDelete(queue, false, false, false) }()
	count := strconv.Itoa(benchCount)
	for b.Loop() {
		// The baseline runs before and after the strategies; their mean is the reference.
		benchQueue(b, ch, queue, benchCount)
		base1 := publishNoConfirm(b, queue, benchCount)
		benchQueue(b, ch, queue, benchCount)
		async, _ := runProgram(b, "publish-async", "-count", count, "-queue", queue)
		benchQueue(b, ch, queue, benchCount)
		batches, _ := runProgram(b, "publish-batches", "-count", count, "-queue", queue)
		benchQueue(b, ch, queue, benchCount)
		base2 := publishNoConfirm(b, queue, benchCount)
		benchQueue(b, ch, queue, benchCount)
		indiv, _ := runProgram(b, "publish-individually", "-count", strconv.Itoa(individuallyCount), "-queue", queue)
		rtt := roundTrip(b, ch, queue)

		base := perSecond(benchCount, (base1+base2)/2)
		b.ReportMetric(base, "noconfirm_msg/s")
		b.ReportMetric(perSecond(benchCount, async), "async_msg/s")
		b.ReportMetric(perSecond(benchCount, batches), "batches_msg/s")
		b.ReportMetric(perSecond(individuallyCount, indiv), "individually_msg/s")
		b.ReportMetric(perSecond(benchCount, async)/base, "async/noconfirm")
		b.ReportMetric(perSecond(benchCount, batches)/base, "batches/noconfirm")
		b.ReportMetric(float64(indiv.Microseconds())/individuallyCount, "individually_µs/msg")
		b.ReportMetric(float64(rtt.Microseconds()), "roundtrip_µs")
	}
}

// BenchmarkAsyncMemory: peak resident memory of publish-async for 50,000 and 1,000,000 messages. The
// in-flight window bounds what it holds, so the two should be close.
func BenchmarkAsyncMemory(b *testing.B) {
	const queue = "pc-bench-memory"
	ch := e2e.Channel(b)
	defer func() { _, _ = ch.QueueDelete(queue, false, false, false) }()
	for b.Loop() {
		benchQueue(b, ch, queue, benchCount)
		_, small := runProgram(b, "publish-async", "-count", "50000", "-queue", queue)
		benchQueue(b, ch, queue, benchCount)
		_, large := runProgram(b, "publish-async", "-count", "1000000", "-queue", queue)
		b.ReportMetric(float64(small)/(1<<20), "maxrss_50k_MiB")
		b.ReportMetric(float64(large)/(1<<20), "maxrss_1M_MiB")
		b.ReportMetric(float64(large)/float64(small), "maxrss_1M/50k")
	}
}
