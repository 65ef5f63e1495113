package retries_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "retries/new_task", "retries/worker", "retries/move_dead"))
}

// The programs' retry policy, as the tests expect it.
const (
	retryMin = 500 * time.Millisecond
	retryMax = 4 * time.Second
	limit    = 4
)

// brokerRetries reports whether the broker is RabbitMQ 4.3 or later, where the queue delays retries.
func brokerRetries(t *testing.T) (bool, string) {
	t.Helper()
	conn, err := e2e.Dial("retries-test-version")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, _ := conn.Properties["version"].(string)
	var major, minor int
	fmt.Sscanf(v, "%d.%d", &major, &minor)
	return major > 4 || major == 4 && minor >= 3, v
}

// testQueue is a work queue name of the test's own; it, its .dead and its .wait are deleted after.
func testQueue(t *testing.T) string {
	t.Helper()
	q := e2e.UniqueName(t, "retry_queue")
	t.Cleanup(func() {
		conn, err := e2e.Dial("retries-test-cleanup")
		if err != nil {
			t.Errorf("delete the test's queues: %v", err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Errorf("delete the test's queues: %v", err)
			return
		}
		for _, name := range []string{q, q + ".wait", q + ".dead"} {
			_, _ = ch.QueueDelete(name, false, false, false)
		}
	})
	return q
}

func send(t *testing.T, queue string, words ...string) {
	t.Helper()
	out, errOut, code := e2e.Run(t, "new_task", nil, append([]string{"-queue", queue}, words...)...)
	if code != 0 || errOut != "" {
		t.Fatalf("new_task %v: exit %d, stderr %q", words, code, errOut)
	}
	if want := " [x] Sent " + strings.Join(words, " ") + "\n"; out+"\n" != want && out != want {
		t.Fatalf("new_task printed %q, want %q", out, want)
	}
}

func worker(t *testing.T, queue string, args ...string) *e2e.Proc {
	t.Helper()
	w := e2e.Start(t, "worker", nil, append([]string{"-queue", queue}, args...)...)
	w.WaitLine(" [*] Waiting for messages.")
	return w
}

func stop(t *testing.T, w *e2e.Proc) {
	t.Helper()
	w.Interrupt()
	if code := w.Wait(); code != 0 {
		t.Fatalf("worker exited %d after Ctrl+C\nstdout:\n%s\nstderr:\n%s", code, w.Stdout(), w.Stderr())
	}
}

// received is when the worker printed each " [x] Received" line.
func received(w *e2e.Proc) []time.Time {
	lines, times := w.Lines()
	var at []time.Time
	for i, l := range lines {
		if strings.HasPrefix(l, " [x] Received") {
			at = append(at, times[i])
		}
	}
	return at
}

// delay is the wait before delivery n+1 after a failure on delivery n.
func delay(brokerRetries bool, n int) time.Duration {
	if !brokerRetries {
		return retryMin
	}
	return min(time.Duration(n)*retryMin, retryMax)
}

func ready(t *testing.T, queue string) int {
	t.Helper()
	n, _ := e2e.QueueCounts(t, queue)
	return n
}

// A task that fails twice is done on its third delivery, and each retry comes no sooner than its delay.
func TestFailsTwiceThenDone(t *testing.T) {
	b, version := brokerRetries(t)
	q := testQueue(t)
	w := worker(t, q, "-dot", "10ms")
	send(t, q, "charge.!!")
	for n := 1; n <= 2; n++ {
		w.WaitLine(" [x] Received charge.!!")
		w.WaitLine(fmt.Sprintf(" [!] Failed on delivery %d of %d: retry in %s", n, limit+1, delay(b, n)))
	}
	w.WaitLine(" [x] Received charge.!!")
	w.WaitLine(" [x] Done")
	stop(t, w)
	at := received(w)
	if len(at) != 3 {
		t.Fatalf("%d deliveries, want 3:\n%s", len(at), w.Stdout())
	}
	for n := 1; n <= 2; n++ {
		gap := at[n].Sub(at[n-1])
		t.Logf("RabbitMQ %s: delivery %d came %s after delivery %d", version, n+1, gap.Round(10*time.Millisecond), n)
		if gap < delay(b, n)-20*time.Millisecond { // 20 ms for when the test reads the lines
			t.Errorf("delivery %d came %s after delivery %d, sooner than the %s delay", n+1, gap, n, delay(b, n))
		}
	}
	if n := ready(t, q); n != 0 {
		t.Errorf("%s holds %d tasks, want 0", q, n)
	}
	if n := ready(t, q+".dead"); n != 0 {
		t.Errorf("%s.dead holds %d tasks, want 0", q, n)
	}
}

// A task that always fails is delivered exactly limit+1 times, then lies in the dead-letter queue with
// the reason it died.
func TestPoisonDeadLettered(t *testing.T) {
	b, version := brokerRetries(t)
	q := testQueue(t)
	w := worker(t, q, "-dot", "10ms")
	send(t, q, "poison")
	for n := 1; n <= limit; n++ {
		w.WaitLine(fmt.Sprintf(" [!] Failed on delivery %d of %d: retry in", n, limit+1))
	}
	if b {
		w.WaitLine(" [!] Failed on delivery 5 of 5: dead-lettered to " + q + ".dead by the broker")
	} else {
		w.WaitLine(" [!] Failed on delivery 5 of 5: parked in " + q + ".dead")
	}
	d := deadTask(t, q)
	stop(t, w)
	if got := len(received(w)); got != limit+1 {
		t.Errorf("%d deliveries, want %d:\n%s", got, limit+1, w.Stdout())
	}
	if string(d.Body) != "poison" {
		t.Errorf("dead task %q, want poison", d.Body)
	}
	t.Logf("RabbitMQ %s: the dead task's headers: %v", version, d.Headers)
	deaths, _ := d.Headers["x-death"].([]any)
	if b {
		if r := d.Headers["x-first-death-reason"]; r != "delivery_limit" {
			t.Errorf("x-first-death-reason %v, want delivery_limit", r)
		}
		if n := d.Headers["x-delivery-count"]; n != int64(limit+1) {
			t.Errorf("x-delivery-count %v (%T), want %d", n, n, limit+1)
		}
	} else if !hasDeath(deaths, q, "rejected", limit) || !hasDeath(deaths, q+".wait", "expired", limit) {
		t.Errorf("x-death %v, want %s rejected and %s.wait expired %d times each", deaths, q, q, limit)
	}
	if n := ready(t, q); n != 0 {
		t.Errorf("%s holds %d tasks, want 0", q, n)
	}
}

func hasDeath(deaths []any, queue, reason string, count int64) bool {
	for _, d := range deaths {
		if t, ok := d.(amqp.Table); ok && t["queue"] == queue && t["reason"] == reason && t["count"] == count {
			return true
		}
	}
	return false
}

// A worker killed (SIGKILL) mid-retry loses nothing: another worker finishes the task. The task's first
// delivery fails as the worker fails it (the test rejects it); a worker is killed during the retry's
// work; the next worker gets it. On RabbitMQ 4.3 the kill counts as a failed delivery.
func TestKilledMidRetry(t *testing.T) {
	b, version := brokerRetries(t)
	q := testQueue(t)
	w0 := worker(t, q, "-dot", "1h") // declares the queues
	send(t, q, "charge..!")
	w0.WaitLine(" [x] Received charge..!")
	w0.Interrupt() // hands it back (a nack: not a failure)
	w0.Wait()
	ch := e2e.Channel(t)
	var d amqp.Delivery
	e2e.WaitFor(t, "the task back in "+q, func() bool {
		var ok bool
		var err error
		d, ok, err = ch.Get(q, false)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	if err := d.Reject(b); err != nil { // 4.3: requeue, counted; before: to the wait queue
		t.Fatal(err)
	}

	w := worker(t, q, "-dot", "1h")
	w.WaitLine(" [x] Received charge..!") // the retry, now in the hour-long work
	w.Kill()
	w.Wait()

	w2 := worker(t, q, "-dot", "10ms")
	w2.WaitLine(" [x] Received charge..!")
	w2.WaitLine(" [x] Done")
	stop(t, w2)
	t.Logf("RabbitMQ %s (delayed retry %v): after the kill:\n%s", version, b, w2.Stdout())
	if n := strings.Count(w2.Stdout(), "Received"); n != 1 {
		t.Errorf("the last worker got the task %d times, want once", n)
	}
	if n := ready(t, q); n != 0 {
		t.Errorf("%s holds %d tasks, want 0", q, n)
	}
	if n := ready(t, q+".dead"); n != 0 {
		t.Errorf("%s.dead holds %d tasks, want 0", q, n)
	}
}

// move_dead moves each parked task back to the work queue once, and empties the dead-letter queue.
func TestMoveDead(t *testing.T) {
	q := testQueue(t)
	w := worker(t, q, "-dot", "0")
	tasks := []string{"poison one", "poison two", "poison three"}
	for _, task := range tasks {
		send(t, q, strings.Fields(task)...)
	}
	for range tasks {
		w.WaitLine(" [!] Failed on delivery 5 of 5")
	}
	stop(t, w)
	e2e.WaitFor(t, "three tasks in "+q+".dead", func() bool { return ready(t, q+".dead") == 3 })

	out, errOut, code := e2e.Run(t, "move_dead", nil, "-queue", q)
	if code != 0 || errOut != "" {
		t.Fatalf("move_dead: exit %d, stderr %q", code, errOut)
	}
	if !strings.HasSuffix(out, " [x] "+q+".dead is empty: 3 moved back to "+q) {
		t.Errorf("move_dead printed:\n%s", out)
	}
	if n := ready(t, q+".dead"); n != 0 {
		t.Errorf("%s.dead holds %d tasks after the move, want 0", q, n)
	}
	ch := e2e.Channel(t)
	var got []string
	for {
		d, ok, err := ch.Get(q, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if _, ok := d.Headers["x-death"]; ok {
			t.Errorf("moved task %q still has x-death: %v", d.Body, d.Headers)
		}
		got = append(got, string(d.Body))
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(tasks))
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q after the move, want each task once: %q", q, got, want)
	}
}

// The worker alone declares the queues: new_task and move_dead, run before any worker, say so in one
// line, and create nothing.
func TestWorkerFirst(t *testing.T) {
	q := testQueue(t)
	_, errOut, code := e2e.Run(t, "new_task", nil, "-queue", q, "charge")
	if want := "new_task: no queue took the task (NO_ROUTE): start a worker first, it declares " + q + "\n"; code != 1 || errOut != want {
		t.Errorf("new_task before a worker: exit %d, stderr %q, want 1, %q", code, errOut, want)
	}
	_, errOut, code = e2e.Run(t, "move_dead", nil, "-queue", q)
	if want := fmt.Sprintf("move_dead: no queue %q: start a worker first, it declares the queues\n", q+".dead"); code != 1 || errOut != want {
		t.Errorf("move_dead before a worker: exit %d, stderr %q, want 1, %q", code, errOut, want)
	}
	ch := e2e.Channel(t)
	for _, name := range []string{q, q + ".dead", q + ".wait"} {
		if _, err := ch.QueueDeclarePassive(name, true, false, false, false, nil); err == nil {
			t.Errorf("queue %s exists: only the worker declares it", name)
		}
		ch = e2e.Channel(t) // a failed passive declare closes the channel
	}
}

// deadTask waits for a task in q's dead-letter queue and takes it, unacknowledged, on a channel of the
// test's own: the test settles it.
func deadTask(t *testing.T, q string) amqp.Delivery {
	t.Helper()
	ch := e2e.Channel(t)
	var d amqp.Delivery
	e2e.WaitFor(t, "the task in "+q+".dead", func() bool {
		var ok bool
		var err error
		d, ok, err = ch.Get(q+".dead", false)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	return d
}
