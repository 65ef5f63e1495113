// End-to-end tests of the Work Queues programs: real processes against the real broker. The workers
// run with a short -dot, so a task's duration is set by the test.
package workqueues_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

const queue = "task_queue"

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "work-queues/new_task", "work-queues/worker"))
}

// reset deletes task_queue, so a test starts from nothing (and the programs declare it afresh).
func reset(t *testing.T) {
	t.Helper()
	e2e.DeleteQueue(t, queue)
	t.Cleanup(func() { e2e.DeleteQueue(t, queue) })
}

// unique makes a task body no other test (or earlier run) has sent, ending in dots units of work.
func unique(t *testing.T, name string, dots int) string {
	return fmt.Sprintf("%s-%s-%d%s", t.Name(), name, time.Now().UnixNano(), strings.Repeat(".", dots))
}

// newTask runs new_task with body and requires it to report the task sent.
func newTask(t *testing.T, body string) {
	t.Helper()
	out, errOut, code := e2e.Run(t, "new_task", nil, body)
	if code != 0 || out != " [x] Sent "+body || errOut != "" {
		t.Fatalf("new_task: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// publish puts tasks in task_queue from the test itself, as new_task would (persistent, confirmed), but
// all within milliseconds: for the dispatch tests, where the order tasks meet the workers matters.
func publish(t *testing.T, bodies ...string) {
	t.Helper()
	ch := e2e.Channel(t)
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e2e.LineTimeout)
	defer cancel()
	for _, b := range bodies {
		c, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "text/plain", Body: []byte(b)})
		if err != nil {
			t.Fatalf("publish %q: %v", b, err)
		}
		if ok, err := c.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("publish %q: not confirmed (%v)", b, err)
		}
	}
}

// worker starts a worker with args and waits until it consumes.
func worker(t *testing.T, args ...string) *e2e.Proc {
	t.Helper()
	w := e2e.Start(t, "worker", nil, args...)
	w.WaitLine(" [*] Waiting for messages. To exit press CTRL+C")
	return w
}

// waitConsumers waits until task_queue has n consumers: every worker is ready before tasks arrive.
func waitConsumers(t *testing.T, n int) {
	t.Helper()
	e2e.WaitFor(t, fmt.Sprintf("%d consumers on %s", n, queue), func() bool {
		_, c := e2e.QueueCounts(t, queue)
		return c == n
	})
}

// counts returns task_queue's ready and unacknowledged message counts, from rabbitmqctl.
func counts(t *testing.T) (ready, unacked int) {
	t.Helper()
	out := e2e.Ctl(t, "list_queues", "name", "messages_ready", "messages_unacknowledged")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == queue {
			r, err1 := strconv.Atoi(f[1])
			u, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil {
				t.Fatalf("list_queues: cannot read %q", line)
			}
			return r, u
		}
	}
	t.Fatalf("list_queues does not list %s:\n%s", queue, out)
	return 0, 0
}

// waitCounts waits until task_queue holds ready and unacked messages.
func waitCounts(t *testing.T, ready, unacked int) {
	t.Helper()
	e2e.WaitFor(t, fmt.Sprintf("%s to hold %d ready and %d unacknowledged", queue, ready, unacked), func() bool {
		r, u := counts(t)
		return r == ready && u == unacked
	})
}

// stopClean sends Ctrl+C and requires exit 0 and nothing on stderr.
func stopClean(t *testing.T, w *e2e.Proc) {
	t.Helper()
	w.Interrupt()
	if code := w.Wait(); code != 0 || w.Stderr() != "" {
		t.Fatalf("worker after Ctrl+C: exit %d (want 0), stderr %q\nstdout:\n%s", code, w.Stderr(), w.Stdout())
	}
}

// received lists the task bodies a worker printed as received, in order.
func received(w *e2e.Proc) []string {
	var got []string
	for _, line := range strings.Split(w.Stdout(), "\n") {
		if b, ok := strings.CutPrefix(line, " [x] Received "); ok {
			got = append(got, b)
		}
	}
	return got
}

// waitDone waits until the workers together printed " [x] Done" n times.
func waitDone(t *testing.T, n int, ws ...*e2e.Proc) {
	t.Helper()
	e2e.WaitFor(t, fmt.Sprintf("%d tasks done", n), func() bool {
		done := 0
		for _, w := range ws {
			done += strings.Count(w.Stdout(), " [x] Done")
		}
		return done >= n
	})
}

// Round-robin: two idle workers, four equal tasks, each worker does two.
//
// Why this is deterministic: the four tasks are in the queue within milliseconds, and a task takes a
// second. With prefetch 1 the broker gives the first two tasks to the two idle workers, and the other
// two wait in the queue; each worker takes the next one when it acknowledges, so each does two unless
// one worker finishes two whole tasks before the other finishes one (a stall of a full second).
func TestTwoWorkersShareTasks(t *testing.T) {
	reset(t)
	w1 := worker(t, "-dot", "1s")
	w2 := worker(t, "-dot", "1s")
	waitConsumers(t, 2)

	var tasks []string
	for i := range 4 {
		tasks = append(tasks, unique(t, fmt.Sprint("task", i+1), 1))
	}
	publish(t, tasks...)
	waitDone(t, 4, w1, w2)
	waitCounts(t, 0, 0)
	stopClean(t, w1)
	stopClean(t, w2)

	got1, got2 := received(w1), received(w2)
	if len(got1) != 2 || len(got2) != 2 {
		t.Errorf("tasks were not shared two and two:\nworker 1: %q\nworker 2: %q", got1, got2)
	}
	all := strings.Join(append(got1, got2...), "\n")
	for _, task := range tasks {
		if strings.Count(all, task) != 1 {
			t.Errorf("task %q was received %d times, want once", task, strings.Count(all, task))
		}
	}
}

// Message acknowledgment: a worker killed mid-task never acknowledged it, so the broker gives the task
// to the other worker, marked as a redelivery, and that one finishes it.
func TestKilledWorkerTaskGoesToAnother(t *testing.T) {
	reset(t)
	w1 := worker(t, "-dot", "1h")
	waitConsumers(t, 1)
	task := unique(t, "crash", 1)
	newTask(t, task)
	w1.WaitLine(" [x] Received " + task)

	w2 := worker(t, "-dot", "10ms")
	waitConsumers(t, 2)
	if _, unacked := counts(t); unacked != 1 {
		t.Fatalf("the task in progress is not unacknowledged (%d unacked)", unacked)
	}
	w1.Kill()
	w1.Wait()

	w2.WaitLine(" [x] Received " + task + " (redelivered)")
	w2.WaitLine(" [x] Done")
	waitCounts(t, 0, 0)
	stopClean(t, w2)
	if strings.Contains(w1.Stdout(), "Done") {
		t.Errorf("the killed worker finished the task:\n%s", w1.Stdout())
	}
}

// Durability: tasks published with no worker to take them, and one task a worker had received but not
// acknowledged, survive a full broker restart (stop and start), and are then all done. The worker
// connected during the restart exits 1 with the reason.
func TestTasksSurviveBrokerRestart(t *testing.T) {
	e2e.EnsureBroker(t)
	reset(t)
	tasks := []string{unique(t, "a", 1), unique(t, "b", 1), unique(t, "c", 1)}
	for _, task := range tasks {
		newTask(t, task)
	}
	busy := worker(t, "-dot", "1h")
	busy.WaitLine(" [x] Received " + tasks[0])
	waitCounts(t, 2, 1)

	e2e.Broker(t, "restart")

	code := busy.Wait()
	e2e.CheckCleanError(t, busy.Stderr(), code)
	if !strings.HasPrefix(busy.Stderr(), "worker: connection to broker lost") {
		t.Errorf("worker stderr when the broker stopped = %q", busy.Stderr())
	}
	if n, _ := e2e.QueueCounts(t, queue); n != 3 {
		t.Fatalf("after the restart %s holds %d tasks, want 3", queue, n)
	}

	w := worker(t, "-dot", "10ms")
	waitDone(t, len(tasks), w)
	waitCounts(t, 0, 0)
	stopClean(t, w)
	// The task the stopped worker had received comes back marked as a redelivery; the others were
	// never delivered.
	checkReceived(t, w, tasks[0]+" (redelivered)", tasks[1], tasks[2])
}

// checkReceived checks that w printed " [x] Received " for exactly the wanted tasks (bodies, with the
// redelivery marker where wanted), each once, in any order.
func checkReceived(t *testing.T, w *e2e.Proc, want ...string) {
	t.Helper()
	got := received(w)
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("worker received %q, want %q; its output:\n%s", got, want, w.Stdout())
	}
}

// Ctrl+C mid-task: the worker exits 0 and the task is back in the queue, unfinished and unacknowledged,
// for the next worker, which sees it as a redelivery. With a prefetch above 1, the tasks received but
// not started go back too.
func TestCtrlCMidTask(t *testing.T) {
	for _, prefetch := range []int{1, 3} {
		t.Run(fmt.Sprint("prefetch=", prefetch), func(t *testing.T) {
			reset(t)
			var tasks []string
			for i := range prefetch {
				tasks = append(tasks, unique(t, fmt.Sprint("long", i+1), 3))
			}
			publish(t, tasks...)
			w := worker(t, "-dot", "1h", "-prefetch", fmt.Sprint(prefetch))
			w.WaitLine(" [x] Received " + tasks[0])
			waitCounts(t, 0, prefetch) // all handed to the worker, none acknowledged

			stopClean(t, w)
			if !strings.HasSuffix(w.Stdout(), " [x] Interrupted, task requeued") || strings.Contains(w.Stdout(), "Done") {
				t.Errorf("worker output:\n%s", w.Stdout())
			}
			waitCounts(t, prefetch, 0)

			next := worker(t, "-dot", "1ms")
			waitDone(t, len(tasks), next)
			waitCounts(t, 0, 0)
			stopClean(t, next)
			var want []string
			for _, task := range tasks {
				want = append(want, task+" (redelivered)")
			}
			checkReceived(t, next, want...)
		})
	}
}

// Ctrl+C between tasks, and SIGTERM likewise: a clean exit 0, nothing left unacknowledged.
func TestStopBetweenTasks(t *testing.T) {
	reset(t)
	w := worker(t, "-dot", "1ms")
	task := unique(t, "quick", 1)
	newTask(t, task)
	w.WaitLine(" [x] Received " + task)
	w.WaitLine(" [x] Done")
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(); code != 0 || w.Stderr() != "" {
		t.Fatalf("worker after SIGTERM: exit %d, stderr %q", code, w.Stderr())
	}
	waitCounts(t, 0, 0)
}

// Fair dispatch: odd tasks are heavy (20 units), even ones light (1 unit), two workers.
//
// With prefetch 1 the worker that got the light task 2 is free long before the other finishes heavy
// task 1, so it takes heavy task 3 too, and both workers end up with heavy and light tasks. (The margin
// is twenty units of work, a second.)
//
// With a large prefetch the broker deals the tasks out in turn as they arrive (round-robin), so one
// worker gets every heavy task and the other every light one, however idle it is: the behaviour the
// tutorial's prefetch count of 1 is there to fix.
func TestFairDispatch(t *testing.T) {
	tasks := func(t *testing.T) []string {
		var ts []string
		for i := 1; i <= 6; i++ {
			dots, kind := 1, "light"
			if i%2 == 1 {
				dots, kind = 20, "heavy"
			}
			ts = append(ts, unique(t, fmt.Sprint(kind, i), dots))
		}
		return ts
	}
	run := func(t *testing.T, prefetch int) (first, second []string, ts []string) {
		reset(t)
		args := []string{"-dot", "50ms", "-prefetch", fmt.Sprint(prefetch)}
		w1, w2 := worker(t, args...), worker(t, args...)
		waitConsumers(t, 2)
		ts = tasks(t)
		publish(t, ts...)
		waitDone(t, len(ts), w1, w2)
		stopClean(t, w1)
		stopClean(t, w2)
		// Call "first" the worker that received task 1.
		first, second = received(w1), received(w2)
		if len(second) > 0 && second[0] == ts[0] {
			first, second = second, first
		}
		return first, second, ts
	}
	kinds := func(got []string) (heavy, light int) {
		for _, b := range got {
			if strings.Contains(b, "heavy") {
				heavy++
			} else {
				light++
			}
		}
		return heavy, light
	}

	t.Run("prefetch=1", func(t *testing.T) {
		first, second, ts := run(t, 1)
		if len(first) == 0 || first[0] != ts[0] || len(second) < 2 || second[0] != ts[1] || second[1] != ts[2] {
			t.Errorf("the worker free after light task 2 did not take heavy task 3:\nworker 1: %q\nworker 2: %q", first, second)
		}
		h1, l1 := kinds(first)
		h2, l2 := kinds(second)
		if h1 == 0 || l1 == 0 || h2 == 0 || l2 == 0 {
			t.Errorf("a worker got only one kind of task:\nworker 1: %q\nworker 2: %q", first, second)
		}
	})

	t.Run("prefetch=10", func(t *testing.T) {
		first, second, ts := run(t, 10)
		want1, want2 := []string{ts[0], ts[2], ts[4]}, []string{ts[1], ts[3], ts[5]}
		if strings.Join(first, ",") != strings.Join(want1, ",") || strings.Join(second, ",") != strings.Join(want2, ",") {
			t.Errorf("not dealt out in turn:\nworker 1: %q\nworker 2: %q", first, second)
		}
	})
}

// freeURL is AMQP_URL pointing at a local port nothing listens on, with a password to look for.
func freeURL(t *testing.T, secret string) string {
	return e2e.BrokerURL(t, func(u *url.URL) {
		u.User = url.UserPassword("guest", secret)
		u.Host = e2e.FreeAddr(t)
	})
}

// Broker down: one clear line, non-zero exit, no password shown.
func TestBrokerDown(t *testing.T) {
	const secret = "s3cret-pw"
	for _, prog := range []string{"new_task", "worker"} {
		t.Run(prog, func(t *testing.T) {
			out, errOut, code := e2e.Run(t, prog, []string{"AMQP_URL=" + freeURL(t, secret)})
			e2e.CheckCleanError(t, errOut, code, secret)
			if !strings.HasPrefix(errOut, prog+": connect to ") || !strings.Contains(errOut, "connection refused") {
				t.Errorf("stderr = %q", errOut)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}

// Bad flags: one line, non-zero exit; -h prints the usage and exits 0.
func TestWorkerFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"-prefetch", "0"}, {"-dot", "soon"}, {"extra"}} {
		_, errOut, code := e2e.Run(t, "worker", nil, args...)
		e2e.CheckCleanError(t, errOut, code)
		if !strings.HasPrefix(errOut, "worker: ") {
			t.Errorf("worker %q: stderr %q", args, errOut)
		}
	}
	out, errOut, code := e2e.Run(t, "worker", nil, "-h")
	if code != 0 || !strings.Contains(out, "-prefetch") || errOut != "" {
		t.Errorf("worker -h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// A task_queue someone declared otherwise (a quorum queue, or a non-durable one) is refused by both
// programs in one line that names the mismatch and the fix.
func TestQueueDeclaredOtherwise(t *testing.T) {
	cases := []struct {
		name    string
		durable bool
		args    amqp.Table
		want    string
	}{
		{"quorum", true, amqp.Table{"x-queue-type": "quorum"}, "inequivalent arg 'x-queue-type'"},
		{"not durable", false, nil, "inequivalent arg 'durable'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reset(t)
			if _, err := e2e.Channel(t).QueueDeclare(queue, c.durable, false, false, false, c.args); err != nil {
				t.Fatal(err)
			}
			for _, prog := range []string{"new_task", "worker"} {
				out, errOut, code := e2e.Run(t, prog, nil)
				e2e.CheckCleanError(t, errOut, code)
				if !strings.HasPrefix(errOut, prog+`: queue "task_queue" already exists with other properties`) ||
					!strings.Contains(errOut, c.want) || !strings.Contains(errOut, "rabbitmqctl delete_queue task_queue") {
					t.Errorf("%s: stderr = %q", prog, errOut)
				}
				if out != "" {
					t.Errorf("%s: stdout = %q", prog, out)
				}
			}
		})
	}
}

// The tutorial's own Python programs (the seed's new_task.py and worker.py, with pika) and ours work
// together both ways: same queue, same properties, persistent plain bodies, acks.
func TestInteropWithPika(t *testing.T) {
	python := e2e.PythonWithPika(t)
	pyEnv := append(os.Environ(), "AMQP_URL="+broker.URL())

	t.Run("pika new_task.py to our worker", func(t *testing.T) {
		reset(t)
		w := worker(t, "-dot", "1ms")
		task := unique(t, "from-pika", 2)
		py := exec.Command(python, "-c", pikaNewTask, task)
		py.Env = pyEnv
		if out, err := py.CombinedOutput(); err != nil {
			t.Fatalf("pika new_task.py: %v\n%s", err, out)
		}
		w.WaitLine(" [x] Received " + task)
		w.WaitLine(" [x] Done")
		waitCounts(t, 0, 0)
		stopClean(t, w)
	})

	t.Run("our new_task to pika worker.py", func(t *testing.T) {
		reset(t)
		task := unique(t, "to-pika", 2)
		newTask(t, task)
		py := exec.Command(python, "-c", pikaWorkerOne)
		py.Env = pyEnv
		out, err := py.CombinedOutput()
		if err != nil {
			t.Fatalf("pika worker.py: %v\n%s", err, out)
		}
		want := " [x] Received " + task + "\n [x] Done\n persistent text/plain"
		if got := strings.TrimRight(string(out), "\n"); got != want {
			t.Errorf("pika printed %q, want %q", got, want)
		}
		waitCounts(t, 0, 0)
	})
}

// pikaNewTask is the seed's new_task.py, reading the URL from AMQP_URL.
const pikaNewTask = `
import os, sys, pika
conn = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
ch = conn.channel()
ch.queue_declare(queue="task_queue", durable=True)
message = " ".join(sys.argv[1:]) or "Hello World!"
ch.basic_publish(exchange="", routing_key="task_queue", body=message,
                 properties=pika.BasicProperties(delivery_mode=2))
print(" [x] Sent %s" % message)
conn.close()
`

// pikaWorkerOne is the seed's worker.py (without the sleep), stopping after one task, and printing the
// properties our new_task set.
const pikaWorkerOne = `
import os, pika
conn = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
ch = conn.channel()
ch.queue_declare(queue="task_queue", durable=True)
def callback(ch, method, properties, body):
    print(" [x] Received %s" % body.decode())
    print(" [x] Done")
    ch.basic_ack(delivery_tag=method.delivery_tag)
    print(" %s %s" % ("persistent" if properties.delivery_mode == 2 else "transient", properties.content_type))
    ch.stop_consuming()
ch.basic_qos(prefetch_count=1)
ch.basic_consume(queue="task_queue", on_message_callback=callback)
ch.start_consuming()
conn.close()
`

// The queue deleted under an idle worker: the broker cancels its consumer, and the worker exits 1
// saying so, rather than waiting forever for tasks that cannot come.
func TestQueueDeletedUnderWorker(t *testing.T) {
	reset(t)
	w := worker(t)
	e2e.DeleteQueue(t, queue)
	code := w.Wait()
	e2e.CheckCleanError(t, w.Stderr(), code)
	if !strings.Contains(w.Stderr(), "cancelled the consumer") {
		t.Errorf("stderr = %q", w.Stderr())
	}
}

// The connection closed under a worker mid-task (here by rabbitmqctl, as an operator or a network
// failure might): the worker stops at once and exits 1 with the reason, and the task, never
// acknowledged, is back in the queue.
func TestConnectionClosedMidTask(t *testing.T) {
	reset(t)
	w := worker(t, "-dot", "1h")
	task := unique(t, "orphan", 1)
	newTask(t, task)
	w.WaitLine(" [x] Received " + task)

	out := e2e.Ctl(t, "list_connections", "pid", "client_properties")
	closedAny := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "work-queues/worker") {
			pid := strings.Fields(line)[0]
			e2e.Ctl(t, "close_connection", pid, "closed by the test")
			closedAny = true
		}
	}
	if !closedAny {
		t.Fatalf("no worker connection in list_connections:\n%s", out)
	}
	code := w.Wait()
	e2e.CheckCleanError(t, w.Stderr(), code)
	if !strings.Contains(w.Stderr(), "connection to broker lost") || !strings.Contains(w.Stderr(), "closed by the test") {
		t.Errorf("stderr = %q", w.Stderr())
	}
	if strings.Contains(w.Stdout(), "Done") {
		t.Errorf("the worker finished the task after losing its connection:\n%s", w.Stdout())
	}
	waitCounts(t, 1, 0)
}

// A task the broker refuses is not "sent": with a policy that caps task_queue at zero messages and
// rejects what would not fit, the broker nacks the publish, and new_task exits 1 saying so.
func TestNewTaskNacked(t *testing.T) {
	reset(t)
	const policy = "workqueues-test-reject"
	e2e.Ctl(t, "set_policy", "--apply-to", "queues", policy, "^"+queue+"$", `{"max-length":0,"overflow":"reject-publish"}`)
	t.Cleanup(func() { e2e.Ctl(t, "clear_policy", policy) })
	// Declare the queue so the policy is in force before new_task publishes.
	if _, err := e2e.Channel(t).QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	e2e.WaitFor(t, "the policy to apply to "+queue, func() bool {
		return strings.Contains(e2e.Ctl(t, "list_queues", "name", "policy"), policy)
	})

	out, errOut, code := e2e.Run(t, "new_task", nil, unique(t, "refused", 1))
	e2e.CheckCleanError(t, errOut, code)
	if !strings.Contains(errOut, "new_task: publish: the broker refused the task (nack)") {
		t.Errorf("stderr = %q", errOut)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing: the task was not sent", out)
	}
}
