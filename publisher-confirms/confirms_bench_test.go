package publisherconfirms_test

import (
	"context"
	"fmt"
	"net"
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

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
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

var elapsedMs = regexp.MustCompile(` in ([0-9,]+) ms\n`)

// measured is one run: the time it printed (publishing and confirming only, not connecting), the CPU
// time of the publisher (user and system, connecting included) and of the broker over the whole run
// (0 when the broker's process cannot be read), and the publisher's peak resident memory.
type measured struct {
	elapsed, clientCPU, brokerCPU time.Duration
	maxRSS                        int64
}

// runProgram runs a program to its end, requires success, and returns what it measured.
func runProgram(b *testing.B, name string, args ...string) measured {
	b.Helper()
	cmd := exec.Command(benchBin(b, name), args...)
	// The programs run with the benchmark's GOMAXPROCS, as the in-process baseline does, so that
	// -cpu 1,2 compares like with like. (On 2 cores shared with the broker, 1 is often faster.)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	broker0 := brokerCPU(b)
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
	return measured{
		elapsed:   time.Duration(ms) * time.Millisecond,
		clientCPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		brokerCPU: brokerCPU(b) - broker0,
		maxRSS:    cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024, // KiB on Linux
	}
}

var (
	brokerStatOnce sync.Once
	brokerStat     string // /proc/PID/stat of the broker's process, or "" when it cannot be read
)

// brokerCPU is the CPU time (user and system) the broker's process has used so far, read from /proc:
// the broker's OS process id comes from the broker itself (rabbitmqctl eval 'os:getpid().'). It is 0
// unless scripts/broker.sh started the broker (only then may the benchmark use rabbitmqctl on it) and
// its process is a beam.smp of this machine: the CPU metrics are then left out.
func brokerCPU(b *testing.B) time.Duration {
	b.Helper()
	brokerStatOnce.Do(func() {
		if !e2e.OwnBroker() {
			b.Logf("broker CPU not measured: the broker at AMQP_URL was not started by scripts/broker.sh")
			return
		}
		cmd := exec.Command("bash", "scripts/broker.sh", "ctl", "eval", "os:getpid().")
		cmd.Dir = e2e.RepoRoot()
		out, err := cmd.Output()
		if err != nil {
			b.Logf("broker CPU not measured: rabbitmqctl eval: %v", err)
			return
		}
		pid := strings.Trim(strings.TrimSpace(string(out)), `"`)
		if comm, err := os.ReadFile("/proc/" + pid + "/comm"); err != nil || strings.TrimSpace(string(comm)) != "beam.smp" {
			b.Logf("broker CPU not measured: process %s is not the broker's beam.smp here", pid)
			return
		}
		brokerStat = "/proc/" + pid + "/stat"
	})
	if brokerStat == "" {
		return 0
	}
	stat, err := os.ReadFile(brokerStat)
	if err != nil {
		b.Fatalf("broker CPU: %v", err)
	}
	// Fields 14 and 15 are utime and stime, in clock ticks (100 a second on Linux); the process name
	// before them is in parentheses and may hold spaces, so count from the closing one.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("broker CPU: cannot parse %s", brokerStat)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// selfCPU is the CPU time this test process has used so far: the publisher's, for the in-process
// baseline.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchQueue declares (or empties) a queue for the benchmark, holding at most maxLen messages (the oldest
// are dropped, and still confirmed), so the broker's memory does not grow with the runs. It is a durable
// classic queue, declared alike on every broker (our 4.0 node denies transient non-exclusive queues by
// configuration; 4.3.6 still permits them); the messages are not persistent, as the programs publish them.
func benchQueue(b *testing.B, ch *amqp.Channel, name string, maxLen int) {
	b.Helper()
	if _, err := ch.QueueDeclare(name, true, false, false, false, amqp.Table{"x-max-length": maxLen}); err != nil {
		b.Fatalf("declare %s: %v", name, err)
	}
	if _, err := ch.QueuePurge(name, false); err != nil {
		b.Fatalf("purge %s: %v", name, err)
	}
}

// publishNoConfirm is the baseline: the same messages, the same publish call, on a channel not in
// confirm mode. It ends with a round trip on the channel (a passive declare), which the broker answers
// only after it has handled every publish before it, so the time covers the broker taking them all.
func publishNoConfirm(b *testing.B, queue string, count int) measured {
	b.Helper()
	client0, broker0 := selfCPU(b), brokerCPU(b)
	conn, err := rabbit.Dial(rabbit.URL(), "publisher-confirms/bench-baseline")
	ch := openChannel(b, conn, err)
	defer conn.Close()
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
	elapsed := time.Since(start)
	return measured{elapsed: elapsed, clientCPU: selfCPU(b) - client0, brokerCPU: brokerCPU(b) - broker0}
}

// corkedConn holds back what the client writes while corked, and sends it in one write when uncorked.
type corkedConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkedConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

func (c *corkedConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// batchSettle is the broker's share of one batch: the median time from the moment a batch of size
// messages reaches the socket, all of it in one write, to its last confirm. The client's work is all
// done before the clock starts, so this is the least time a batch of that size can take here, whatever
// the client: no batch strategy can publish more than size messages per batchSettle.
func batchSettle(b *testing.B, queue string, size, batches int) time.Duration {
	b.Helper()
	var cc *corkedConn
	conn, err := amqp.DialConfig(rabbit.URL(), amqp.Config{Dial: func(network, addr string) (net.Conn, error) {
		c, err := net.DialTimeout(network, addr, 10*time.Second)
		if err != nil {
			return nil, err
		}
		cc = &corkedConn{Conn: c}
		return cc, nil
	}})
	ch := openChannel(b, conn, err)
	defer conn.Close()
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, size))
	ctx := context.Background()
	times := make([]time.Duration, batches)
	for i := range times {
		cc.cork()
		for j := 1; j <= size; j++ {
			err := ch.PublishWithContext(ctx, "", queue, true, false, amqp.Publishing{
				ContentType: "text/plain",
				Body:        []byte(strconv.Itoa(i*size + j)),
			})
			if err != nil {
				b.Fatalf("publish: %v", err)
			}
		}
		start := time.Now()
		if err := cc.uncork(); err != nil {
			b.Fatal(err)
		}
		for range size {
			if c, ok := <-confirms; !ok || !c.Ack {
				b.Fatalf("confirm %+v, ok=%v", c, ok)
			}
		}
		times[i] = time.Since(start)
	}
	return median(times)
}

// openChannel fails the benchmark if the connection could not be made (err), else opens a channel on it.
func openChannel(b *testing.B, conn *amqp.Connection, err error) *amqp.Channel {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	return ch
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

// BenchmarkStrategies: the three strategies against the no-confirm limit and against their floors (the
// least correct code for each strategy: floors_bench_test.go), 50,000 messages each (individually:
// 10,000), side by side in each iteration, on the same queue.
//
// Each program's rate is reported as a fraction of the limit (X/noconfirm) and of its floor (X/floor);
// so is each floor's (floor_X/noconfirm). Where the broker is a process of this machine it reports where
// the CPU goes too: µs of CPU per message for the broker and for the publisher, program and floor alike,
// and two ceilings, estimates of the best ratio any client could reach against this broker here:
//   - async_bound: the async rate if every core were busy all the time (all runtime.NumCPU of them) and
//     confirms cost the publisher nothing, so that a message cost the broker's CPU for a confirmed
//     message plus the no-confirm publisher's CPU; over the no-confirm rate.
//   - batches_bound: 100 messages per batch_settle (see batchSettle), over the no-confirm rate: the
//     broker's own time per batch, with the publisher's time taken as zero.
func BenchmarkStrategies(b *testing.B) {
	queue := e2e.UniqueName(b, "pc-bench")
	ch := e2e.Channel(b)
	defer func() { _, _ = ch.QueueDelete(queue, false, false, false) }()
	count := strconv.Itoa(benchCount)
	perMsg := func(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }
	cores := func(m measured) float64 {
		return float64((m.clientCPU + m.brokerCPU).Nanoseconds()) / float64(m.elapsed.Nanoseconds())
	}
	// run empties the queue, then measures one run.
	run := func(f func() measured) measured {
		benchQueue(b, ch, queue, benchCount)
		return f()
	}
	round := 0
	for b.Loop() {
		// The limit runs before and after the rest; their mean is the reference. Each program and its
		// floor run one after the other, the program first in even rounds and the floor first in odd
		// ones, so that neither always follows the same run (a purge, the limit's burst).
		round++
		pair := func(program, floor func() measured) (measured, measured) {
			if round%2 == 1 {
				f := run(floor)
				return run(program), f
			}
			p := run(program)
			return p, run(floor)
		}
		base1 := run(func() measured { return publishNoConfirm(b, queue, benchCount) })
		async, asyncFloor := pair(
			func() measured { return runProgram(b, "publish-async", "-count", count, "-queue", queue) },
			func() measured { return floorAsync(b, queue, benchCount) })
		batches, batchesFloor := pair(
			func() measured { return runProgram(b, "publish-batches", "-count", count, "-queue", queue) },
			func() measured { return floorBatches(b, queue, benchCount, 100) })
		base2 := run(func() measured { return publishNoConfirm(b, queue, benchCount) })
		settle := batchSettle(b, queue, 100, 200)
		indiv, indivFloor := pair(
			func() measured {
				return runProgram(b, "publish-individually", "-count", strconv.Itoa(individuallyCount), "-queue", queue)
			},
			func() measured { return floorIndividually(b, queue, individuallyCount) })
		rtt := roundTrip(b, ch, queue)

		base := perSecond(benchCount, (base1.elapsed+base2.elapsed)/2)
		rates := []struct {
			name           string
			n              int
			program, floor measured
		}{
			{"async", benchCount, async, asyncFloor},
			{"batches", benchCount, batches, batchesFloor},
			{"individually", individuallyCount, indiv, indivFloor},
		}
		b.ReportMetric(base, "noconfirm_msg/s")
		for _, r := range rates {
			program, floor := perSecond(r.n, r.program.elapsed), perSecond(r.n, r.floor.elapsed)
			b.ReportMetric(program, r.name+"_msg/s")
			b.ReportMetric(program/base, r.name+"/noconfirm")
			b.ReportMetric(floor/base, "floor_"+r.name+"/noconfirm")
			b.ReportMetric(program/floor, r.name+"/floor")
		}
		b.ReportMetric(float64(indiv.elapsed.Microseconds())/individuallyCount, "individually_µs/msg")
		b.ReportMetric(float64(rtt.Microseconds()), "roundtrip_µs")
		b.ReportMetric(float64(settle.Microseconds()), "batch_settle_µs")
		b.ReportMetric(100/settle.Seconds()/base, "batches_bound")
		if base1.brokerCPU > 0 {
			baseClient := perMsg(base1.clientCPU+base2.clientCPU, 2*benchCount)
			baseBroker := perMsg(base1.brokerCPU+base2.brokerCPU, 2*benchCount)
			asyncBroker := perMsg(async.brokerCPU, benchCount)
			b.ReportMetric(baseClient, "noconfirm_client_µs/msg")
			b.ReportMetric(baseBroker, "noconfirm_broker_µs/msg")
			for _, r := range rates {
				b.ReportMetric(perMsg(r.program.clientCPU, r.n), r.name+"_client_µs/msg")
				b.ReportMetric(perMsg(r.program.brokerCPU, r.n), r.name+"_broker_µs/msg")
				b.ReportMetric(perMsg(r.floor.clientCPU, r.n), "floor_"+r.name+"_client_µs/msg")
				b.ReportMetric(perMsg(r.floor.brokerCPU, r.n), "floor_"+r.name+"_broker_µs/msg")
			}
			b.ReportMetric((cores(base1)+cores(base2))/2, "noconfirm_cores")
			b.ReportMetric(cores(async), "async_cores")
			b.ReportMetric(float64(runtime.NumCPU())*1e6/(asyncBroker+baseClient)/base, "async_bound")
		}
	}
}

// BenchmarkMemory: peak resident memory of publish-async and publish-batches for 50,000 and 1,000,000
// messages. What they hold is bounded by the window or the batch, so the two sizes should be close.
func BenchmarkMemory(b *testing.B) {
	queue := e2e.UniqueName(b, "pc-bench-memory")
	ch := e2e.Channel(b)
	defer func() { _, _ = ch.QueueDelete(queue, false, false, false) }()
	for b.Loop() {
		for _, program := range []string{"publish-async", "publish-batches"} {
			benchQueue(b, ch, queue, benchCount)
			small := runProgram(b, program, "-count", "50000", "-queue", queue).maxRSS
			benchQueue(b, ch, queue, benchCount)
			large := runProgram(b, program, "-count", "1000000", "-queue", queue).maxRSS
			name := strings.TrimPrefix(program, "publish-")
			b.ReportMetric(float64(small)/(1<<20), name+"_maxrss_50k_MiB")
			b.ReportMetric(float64(large)/(1<<20), name+"_maxrss_1M_MiB")
			b.ReportMetric(float64(large)/float64(small), name+"_maxrss_1M/50k")
		}
	}
}
