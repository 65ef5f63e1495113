// End-to-end tests of the Work Queues programs: real processes against the real broker at AMQP_URL. The
// workers run with a short -dot, so a task's duration is set by the test. Faults are made with the test
// proxy (e2e.NewProxy), never with rabbitmqctl, so the tests run against any broker.
//
// The broker does not tell a client how many messages a worker holds unacknowledged (a passive declare
// counts the ready ones only). The tests learn it from what the workers print and from the ready count:
// a task a worker received and did not finish is not ready; once the worker's connection closes, it is
// ready again.
package workqueues_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

const queue = "task_queue"

// quorum is task_queue's arguments, as both programs and the official tutorials declare it.
var quorum = amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "work-queues/new_task", "work-queues/worker"))
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
	if _, err := ch.QueueDeclare(queue, true, false, false, false, quorum); err != nil {
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

// worker starts a worker with env and args and waits until it consumes.
func worker(t *testing.T, env []string, args ...string) *e2e.Proc {
	t.Helper()
	w := e2e.Start(t, "worker", env, args...)
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

// waitReady waits until task_queue holds n tasks ready for a worker.
func waitReady(t *testing.T, n int) {
	t.Helper()
	e2e.WaitFor(t, fmt.Sprintf("%s to hold %d ready tasks", queue, n), func() bool {
		r, _ := e2e.QueueCounts(t, queue)
		return r == n
	})
}

// stop sends sig and requires exit 0 and nothing on stderr.
func stop(t *testing.T, w *e2e.Proc, sig os.Signal) {
	t.Helper()
	w.Signal(sig)
	if code := w.Wait(); code != 0 || w.Stderr() != "" {
		t.Fatalf("worker after %v: exit %d (want 0), stderr %q\nstdout:\n%s", sig, code, w.Stderr(), w.Stdout())
	}
}

// stopClean presses Ctrl+C and requires a clean exit.
func stopClean(t *testing.T, w *e2e.Proc) { t.Helper(); stop(t, w, syscall.SIGINT) }

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

// drain starts a worker that finishes every ready task, checks that it received exactly want, stops
// it, and checks that the queue is empty: every task done and acknowledged.
func drain(t *testing.T, want ...string) {
	t.Helper()
	w := worker(t, nil, "-dot", "1ms")
	waitDone(t, len(want), w)
	stopClean(t, w)
	checkReceived(t, w, want...)
	waitReady(t, 0)
}

// Round-robin: two idle workers, four equal tasks, each worker does two.
//
// Why this is deterministic: the four tasks are in the queue within milliseconds, and a task takes a
// second. With prefetch 1 the broker gives the first two tasks to the two idle workers, and the other
// two wait in the queue; each worker takes the next one when it acknowledges, so each does two unless
// one worker finishes two whole tasks before the other finishes one (a stall of a full second).
func TestTwoWorkersShareTasks(t *testing.T) {
	e2e.FreshQueue(t, queue)
	w1 := worker(t, nil, "-dot", "1s")
	w2 := worker(t, nil, "-dot", "1s")
	waitConsumers(t, 2)

	var tasks []string
	for i := range 4 {
		tasks = append(tasks, unique(t, fmt.Sprint("task", i+1), 1))
	}
	publish(t, tasks...)
	waitDone(t, 4, w1, w2)
	stopClean(t, w1)
	stopClean(t, w2)
	// Both workers are gone: a task not acknowledged would be ready again.
	waitReady(t, 0)

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

// Message acknowledgment: a worker killed mid-task (SIGKILL: no chance to clean up) never acknowledged
// it, so the broker gives the task to the other worker, marked as a redelivery, and that one finishes it.
func TestKilledWorkerTaskGoesToAnother(t *testing.T) {
	e2e.FreshQueue(t, queue)
	w1 := worker(t, nil, "-dot", "1h")
	waitConsumers(t, 1)
	task := unique(t, "crash", 1)
	newTask(t, task)
	w1.WaitLine(" [x] Received " + task)

	w2 := worker(t, nil, "-dot", "10ms")
	waitConsumers(t, 2)
	if r, _ := e2e.QueueCounts(t, queue); r != 0 {
		t.Fatalf("the task in progress is ready in the queue (%d ready): it should be held by worker 1", r)
	}
	w1.Kill()
	w1.Wait()

	w2.WaitLine(" [x] Received " + task + " (redelivered)")
	w2.WaitLine(" [x] Done")
	stopClean(t, w2)
	waitReady(t, 0)
	if strings.Contains(w1.Stdout(), "Done") {
		t.Errorf("the killed worker finished the task:\n%s", w1.Stdout())
	}
}

// Durability: tasks published with no worker to take them, and one task a worker had received but not
// acknowledged, survive a full broker restart, and are then all done. The worker connected during the
// restart exits 1 with the reason. Only a broker that scripts/broker.sh started can be restarted.
func TestTasksSurviveBrokerRestart(t *testing.T) {
	if !e2e.OwnBroker() {
		t.Skipf("the broker at %s was not started by scripts/broker.sh: this test cannot restart it",
			e2e.Redact(e2e.URL()))
	}
	e2e.EnsureBroker(t)
	e2e.FreshQueue(t, queue)
	tasks := []string{unique(t, "a", 1), unique(t, "b", 1), unique(t, "c", 1)}
	for _, task := range tasks {
		newTask(t, task)
	}
	busy := worker(t, nil, "-dot", "1h")
	busy.WaitLine(" [x] Received " + tasks[0])
	waitReady(t, 2)

	e2e.Broker(t, "restart")

	code := busy.Wait()
	e2e.CheckCleanError(t, busy.Stderr(), code)
	if !strings.HasPrefix(busy.Stderr(), "worker: connection to the broker lost") {
		t.Errorf("worker stderr when the broker stopped = %q", busy.Stderr())
	}
	waitReady(t, 3)
	// The task the stopped worker had received comes back marked as a redelivery; the others were
	// never delivered.
	drain(t, tasks[0]+" (redelivered)", tasks[1], tasks[2])
}

// Ctrl+C mid-task: the worker exits 0 and the task is back in the queue, unfinished, for the next
// worker, which sees it as a redelivery. With a prefetch above 1, the tasks received but not started go
// back too.
func TestCtrlCMidTask(t *testing.T) {
	for _, prefetch := range []int{1, 3} {
		t.Run(fmt.Sprint("prefetch=", prefetch), func(t *testing.T) {
			e2e.FreshQueue(t, queue)
			var tasks []string
			for i := range prefetch {
				tasks = append(tasks, unique(t, fmt.Sprint("long", i+1), 3))
			}
			publish(t, tasks...)
			w := worker(t, nil, "-dot", "1h", "-prefetch", fmt.Sprint(prefetch))
			w.WaitLine(" [x] Received " + tasks[0])
			waitReady(t, 0) // all handed to the worker, none acknowledged

			stopClean(t, w)
			if !strings.HasSuffix(w.Stdout(), " [x] Interrupted, task requeued") || strings.Contains(w.Stdout(), "Done") {
				t.Errorf("worker output:\n%s", w.Stdout())
			}
			waitReady(t, prefetch)

			var want []string
			for _, task := range tasks {
				want = append(want, task+" (redelivered)")
			}
			drain(t, want...)
		})
	}
}

// Ctrl+C between tasks, and SIGTERM likewise: a clean exit 0 at once, nothing left unacknowledged.
func TestStopBetweenTasks(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			e2e.FreshQueue(t, queue)
			w := worker(t, nil, "-dot", "1ms")
			task := unique(t, "quick", 1)
			newTask(t, task)
			w.WaitLine(" [x] Received " + task)
			w.WaitLine(" [x] Done")
			stop(t, w, sig)
			waitReady(t, 0)
		})
	}
}

// SIGTERM mid-task: the worker takes no further task, finishes the one in progress, acknowledges it and
// exits 0. The next task, waiting in the queue, was never given to it: another worker receives it as a
// first delivery.
func TestSIGTERMFinishesTask(t *testing.T) {
	e2e.FreshQueue(t, queue)
	first, next := unique(t, "first", 5), unique(t, "next", 1)
	publish(t, first, next)
	w := worker(t, nil, "-dot", "200ms")
	w.WaitLine(" [x] Received " + first)
	stop(t, w, syscall.SIGTERM)
	if want := " [*] Waiting for messages. To exit press CTRL+C\n [x] Received " + first + "\n [x] Done"; w.Stdout() != want {
		t.Errorf("worker after SIGTERM printed:\n%s\nwant:\n%s", w.Stdout(), want)
	}
	waitReady(t, 1)
	drain(t, next)
}

// SIGTERM mid-task with a task longer than -grace: when the grace period runs out the task is handed
// back, as with Ctrl+C, and the worker exits 0.
func TestSIGTERMGraceRunsOut(t *testing.T) {
	e2e.FreshQueue(t, queue)
	task := unique(t, "endless", 1)
	newTask(t, task)
	w := worker(t, nil, "-dot", "1h", "-grace", "300ms")
	w.WaitLine(" [x] Received " + task)
	stop(t, w, syscall.SIGTERM)
	if !strings.HasSuffix(w.Stdout(), " [x] Interrupted, task requeued") || strings.Contains(w.Stdout(), "Done") {
		t.Errorf("worker output:\n%s", w.Stdout())
	}
	waitReady(t, 1)
	drain(t, task+" (redelivered)")
}

// signalUntilGone sends sig every 100ms until the program exits, and returns its exit code. The first
// signal starts the program's stop; one sent before the program stopped catching signals is absorbed,
// so repeating it is how a test knows that "a second one" arrived at the right time.
func signalUntilGone(t *testing.T, p *e2e.Proc, sig os.Signal) int {
	t.Helper()
	exited := make(chan int, 1)
	go func() { exited <- p.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		p.Signal(sig)
		select {
		case code := <-exited:
			return code
		case <-tick.C:
		}
	}
}

// A second signal ends a program at once, whatever it is waiting for, with exit status 130 after
// Ctrl+C and 143 after SIGTERM (rabbit.Main; the programs used to be killed by it, exit code -1 here);
// one that finished its own stop would exit 0 or 1, and only after its wait.
func TestSecondSignalEndsAtOnce(t *testing.T) {
	t.Run("worker finishing a task after SIGTERM", func(t *testing.T) {
		e2e.FreshQueue(t, queue)
		task := unique(t, "endless", 1)
		newTask(t, task)
		w := worker(t, nil, "-dot", "1h", "-grace", "1h")
		w.WaitLine(" [x] Received " + task)
		if code := signalUntilGone(t, w, syscall.SIGTERM); code != 143 {
			t.Fatalf("worker exit code %d, want 143 (a second SIGTERM); stdout:\n%s\nstderr: %s", code, w.Stdout(), w.Stderr())
		}
		// The task was not acknowledged: the broker has it ready again for another worker.
		waitReady(t, 1)
		drain(t, task+" (redelivered)")
	})

	t.Run("worker whose broker stopped answering, Ctrl+C", func(t *testing.T) {
		e2e.FreshQueue(t, queue)
		p := e2e.NewProxy(t)
		w := worker(t, p.Env(), "-dot", "1h")
		p.Stall() // the worker's close now waits (5 s at most) for an answer that does not come
		if code := signalUntilGone(t, w, syscall.SIGINT); code != 130 {
			t.Fatalf("worker exit code %d, want 130 (a second Ctrl+C); stderr: %s", code, w.Stderr())
		}
	})

	t.Run("new_task whose broker stopped answering, Ctrl+C", func(t *testing.T) {
		p := e2e.NewProxy(t)
		p.Stall() // the handshake now waits (10 s at most) for an answer that does not come
		nt := e2e.Start(t, "new_task", p.Env(), unique(t, "stuck", 0))
		e2e.WaitFor(t, "new_task to connect to the proxy", func() bool { return p.Connections() == 1 })
		if code := signalUntilGone(t, nt, syscall.SIGINT); code != 130 {
			t.Fatalf("new_task exit code %d, want 130 (a second Ctrl+C); stderr: %s", code, nt.Stderr())
		}
	})
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
		e2e.FreshQueue(t, queue)
		args := []string{"-dot", "50ms", "-prefetch", fmt.Sprint(prefetch)}
		w1, w2 := worker(t, nil, args...), worker(t, nil, args...)
		waitConsumers(t, 2)
		ts = tasks(t)
		publish(t, ts...)
		waitDone(t, len(ts), w1, w2)
		stopClean(t, w1)
		stopClean(t, w2)
		waitReady(t, 0)
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
		if !slices.Equal(first, want1) || !slices.Equal(second, want2) {
			t.Errorf("not dealt out in turn:\nworker 1: %q\nworker 2: %q", first, second)
		}
	})
}

// The connection cut under a worker mid-task (a network failure, a broker that dies): the worker stops
// at once and exits 1 with one line, and the task, never acknowledged, goes to the next worker.
func TestConnectionCutMidTask(t *testing.T) {
	e2e.FreshQueue(t, queue)
	p := e2e.NewProxy(t)
	w := worker(t, p.Env(), "-dot", "1h")
	task := unique(t, "orphan", 1)
	newTask(t, task)
	w.WaitLine(" [x] Received " + task)

	p.Cut()
	code := w.Wait()
	e2e.CheckCleanError(t, w.Stderr(), code)
	if !strings.HasPrefix(w.Stderr(), "worker: connection to the broker lost") {
		t.Errorf("stderr = %q", w.Stderr())
	}
	if strings.Contains(w.Stdout(), "Done") {
		t.Errorf("the worker finished the task after losing its connection:\n%s", w.Stdout())
	}
	waitReady(t, 1)
	drain(t, task+" (redelivered)")
}

// The queue deleted under a worker, idle or mid-task: the broker cancels its consumer, and the worker
// exits 1 saying the queue was deleted, rather than waiting forever for tasks that cannot come.
func TestQueueDeletedUnderWorker(t *testing.T) {
	for _, busy := range []bool{false, true} {
		t.Run(map[bool]string{false: "idle", true: "mid-task"}[busy], func(t *testing.T) {
			e2e.FreshQueue(t, queue)
			w := worker(t, nil, "-dot", "1h")
			if busy {
				task := unique(t, "doomed", 1)
				newTask(t, task)
				w.WaitLine(" [x] Received " + task)
			}
			e2e.DeleteQueue(t, queue)
			code := w.Wait()
			e2e.CheckCleanError(t, w.Stderr(), code)
			// The worker cannot tell the two causes of a basic.cancel apart, so it names both.
			want := `worker: the broker cancelled our consumer: queue "task_queue" was deleted, or a task ` +
				`waited past the consumer timeout for our ack`
			if strings.TrimSpace(w.Stderr()) != want {
				t.Errorf("stderr = %q, want %q", w.Stderr(), want)
			}
		})
	}
}

// A broker under a memory or disk alarm blocks publishers: new_task names the block as the reason when
// its -timeout runs out, exits 1 with one line, and its close is bounded too (the proxy plays the
// alarm). (The words are rabbit.Unconfirmed's, shared by every publisher.)
func TestNewTaskBlocked(t *testing.T) {
	e2e.FreshQueue(t, queue)
	p := e2e.NewProxy(t)
	p.Block("low on memory")
	began := time.Now()
	out, errOut, code := e2e.Run(t, "new_task", p.Env(), "-timeout", "2s", unique(t, "blocked", 1))
	if took := time.Since(began); took < 2*time.Second || took > 20*time.Second {
		t.Errorf("new_task exited after %s, want its -timeout (2s), then the bounded close", took)
	}
	e2e.CheckCleanError(t, errOut, code)
	if want := "new_task: the broker is blocking publishers (low on memory): no confirm within 2s"; strings.TrimSpace(errOut) != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing: the task was not sent", out)
	}
}

// The connection is lost while new_task waits for its confirm (the proxy holds what the broker sends
// after confirm.select-ok, then cuts the connection once the task is in the queue): new_task says the
// connection was lost, never that the broker blocks publishers (the library closes the blocked
// notifications when the connection closes), and that the task may or may not be in the queue.
func TestNewTaskConnectionLostAtConfirm(t *testing.T) {
	e2e.FreshQueue(t, queue)
	p := e2e.NewProxy(t)
	nt := e2e.Start(t, "new_task", e2e.StallAtConfirmSelect(t, p), "-timeout", "1m", unique(t, "cut", 1))
	e2e.WaitFor(t, "new_task to declare task_queue", func() bool { return slices.Contains(p.Queues(), queue) })
	waitReady(t, 1)
	e2e.CheckLostAtConfirm(t, nt, p)
	if !strings.HasSuffix(nt.Stderr(), " before it confirmed the message (it may or may not be in the queue)\n") {
		t.Errorf("stderr %q, want the task may or may not be in the queue", nt.Stderr())
	}
}

// Bad input: one clear line, non-zero exit, no password shown, nothing on stdout.
func TestBadInput(t *testing.T) {
	const secret = "s3cret-pw"
	cases := []struct {
		name string
		url  string
		want string
	}{
		{"broker down", e2e.BrokerURL(t, func(u *url.URL) {
			u.User = url.UserPassword("guest", secret)
			u.Host = e2e.FreeAddr(t)
		}), "connection refused"},
		{"malformed url", "amqp://guest:" + secret + "@localhost:notaport/", "not a valid AMQP URL"},
		{"wrong password", e2e.BrokerURL(t, func(u *url.URL) {
			u.User = url.UserPassword(u.User.Username(), secret)
		}), "wrong user name or password"},
		{"missing vhost", e2e.BrokerURL(t, func(u *url.URL) { u.Path = "/no-such-vhost" }), "the vhost does not exist"},
	}
	for _, c := range cases {
		for _, prog := range []string{"new_task", "worker"} {
			t.Run(c.name+"/"+prog, func(t *testing.T) {
				out, errOut, code := e2e.Run(t, prog, []string{"AMQP_URL=" + c.url})
				e2e.CheckCleanError(t, errOut, code, secret)
				if !strings.HasPrefix(errOut, prog+": ") || !strings.Contains(errOut, c.want) {
					t.Errorf("stderr = %q, want %q prefix and %q", errOut, prog+": ", c.want)
				}
				if out != "" {
					t.Errorf("stdout = %q, want nothing", out)
				}
			})
		}
	}
}

// A task_queue that an older program (an earlier version of this tutorial, or of the official ones)
// declared as a classic queue cannot be used as a quorum queue: both programs refuse it in one line that
// names the mismatch and the fix, and change nothing.
func TestQueueDeclaredClassic(t *testing.T) {
	e2e.FreshQueue(t, queue)
	if _, err := e2e.Channel(t).QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{"new_task", "worker"} {
		out, errOut, code := e2e.Run(t, prog, nil)
		e2e.CheckCleanError(t, errOut, code)
		if !strings.HasPrefix(errOut, prog+`: queue "task_queue" exists with other properties`) ||
			!strings.Contains(errOut, "inequivalent arg 'x-queue-type'") || !strings.HasSuffix(errOut, "): delete it, or declare it as it was first declared\n") {
			t.Errorf("%s: stderr = %q", prog, errOut)
		}
		if out != "" {
			t.Errorf("%s: stdout = %q", prog, out)
		}
	}
	if r, _ := e2e.QueueCounts(t, queue); r != 0 {
		t.Errorf("the classic task_queue holds %d messages, want 0", r)
	}
}

// Flags: -h and --help print Go's flag usage and exit 0 (new_task publishes nothing); an unknown flag or
// a bad value is the flag package's error and exit 2 (new_task publishes nothing: not "-bogus" as a
// task); "--" ends the flags, so `new_task -- --help` sends the task "--help".
func TestFlags(t *testing.T) {
	e2e.FreshQueue(t, queue)
	e2e.CheckHelp(t, "new_task", "worker")
	e2e.CheckBadArgs(t,
		e2e.BadArgs{Program: "new_task", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
		e2e.BadArgs{Program: "new_task", Args: []string{"-timeout", "soon"}, Want: `invalid value "soon" for flag -timeout`},
		e2e.BadArgs{Program: "worker", Args: []string{"-nope"}, Want: "flag provided but not defined: -nope"},
		e2e.BadArgs{Program: "worker", Args: []string{"-prefetch", "many"}, Want: `invalid value "many" for flag -prefetch`},
		e2e.BadArgs{Program: "worker", Args: []string{"-dot", "soon"}, Want: `invalid value "soon" for flag -dot`},
		e2e.BadArgs{Program: "worker", Args: []string{"-grace", "soon"}, Want: `invalid value "soon" for flag -grace`},
	)
	// Nothing of the above declared task_queue, let alone put a task in it.
	var aerr *amqp.Error
	if _, err := e2e.Channel(t).QueueDeclarePassive(queue, true, false, false, false, nil); !errors.As(err, &aerr) || aerr.Code != amqp.NotFound {
		t.Fatalf("task_queue exists after -h and bad flags (passive declare: %v)", err)
	}

	if out, errOut, code := e2e.Run(t, "new_task", nil, "--", "--help"); code != 0 || out != " [x] Sent --help" {
		t.Fatalf("new_task -- --help: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	msg, ok, err := e2e.Channel(t).Get(queue, true)
	if err != nil || !ok || string(msg.Body) != "--help" {
		t.Errorf("task_queue after `new_task -- --help`: ok %v, err %v, body %q", ok, err, msg.Body)
	}
}

// What new_task stores: a persistent plain-text task with a unique message id, in a quorum task_queue
// (declaring it as the official tutorials do succeeds).
func TestNewTaskStores(t *testing.T) {
	e2e.FreshQueue(t, queue)
	out, errOut, code := e2e.Run(t, "new_task", nil)
	if code != 0 || out != " [x] Sent Hello World!" {
		t.Fatalf("new_task: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	ch := e2e.Channel(t)
	if _, err := ch.QueueDeclare(queue, true, false, false, false, quorum); err != nil {
		t.Fatalf("task_queue is not declared as the tutorials declare it: %v", err)
	}
	msg, ok, err := ch.Get(queue, true)
	if err != nil || !ok {
		t.Fatalf("get from task_queue: ok=%v err=%v", ok, err)
	}
	if string(msg.Body) != "Hello World!" || msg.ContentType != "text/plain" ||
		msg.DeliveryMode != amqp.Persistent || msg.MessageId == "" {
		t.Errorf("stored task: body %q, content type %q, delivery mode %d, message id %q",
			msg.Body, msg.ContentType, msg.DeliveryMode, msg.MessageId)
	}
}

// The official tutorial's Python programs (new_task.py and worker.py, with pika, as they are today:
// durable quorum task_queue, persistent tasks, prefetch 1, manual acks) and ours work together both ways.
func TestInteropWithPika(t *testing.T) {
	python := e2e.PythonWithPika(t)
	pyEnv := append(os.Environ(), "AMQP_URL="+e2e.URL())

	t.Run("pika new_task.py to our worker", func(t *testing.T) {
		e2e.FreshQueue(t, queue)
		w := worker(t, nil, "-dot", "1ms")
		task := unique(t, "from-pika", 2)
		py := exec.Command(python, "-c", pikaNewTask, task)
		py.Env = pyEnv
		if out, err := py.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "[x] Sent "+task {
			t.Fatalf("pika new_task.py: %v\n%s", err, out)
		}
		w.WaitLine(" [x] Received " + task)
		w.WaitLine(" [x] Done")
		stopClean(t, w)
		waitReady(t, 0)
	})

	t.Run("our new_task to pika worker.py", func(t *testing.T) {
		e2e.FreshQueue(t, queue)
		task := unique(t, "to-pika", 2)
		newTask(t, task)
		py := exec.Command(python, "-c", pikaWorkerOne)
		py.Env = pyEnv
		out, err := py.CombinedOutput()
		if err != nil {
			t.Fatalf("pika worker.py: %v\n%s", err, out)
		}
		want := " [*] Waiting for messages. To exit press CTRL+C\n [x] Received " + task + "\n [x] Done\n persistent text/plain"
		if got := strings.TrimRight(string(out), "\n"); got != want {
			t.Errorf("pika printed %q, want %q", got, want)
		}
		waitReady(t, 0)
	})
}

// pikaNewTask is the official new_task.py, reading the URL from AMQP_URL.
const pikaNewTask = `
import os, sys, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()
channel.queue_declare(queue="task_queue", durable=True, arguments={"x-queue-type": "quorum"})
message = " ".join(sys.argv[1:]) or "Hello World!"
# delivery_mode=2 is pika.DeliveryMode.Persistent, which pika 1.2 (Debian 12) does not have yet.
channel.basic_publish(exchange="", routing_key="task_queue", body=message,
                      properties=pika.BasicProperties(delivery_mode=2))
print(f" [x] Sent {message}")
connection.close()
`

// pikaWorkerOne is the official worker.py (without the sleep), stopping after one task, and printing the
// properties our new_task set.
const pikaWorkerOne = `
import os, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()
channel.queue_declare(queue="task_queue", durable=True, arguments={"x-queue-type": "quorum"})
print(" [*] Waiting for messages. To exit press CTRL+C")
def callback(ch, method, properties, body):
    print(f" [x] Received {body.decode()}")
    print(" [x] Done")
    ch.basic_ack(delivery_tag=method.delivery_tag)
    print(" %s %s" % ("persistent" if properties.delivery_mode == 2 else "transient", properties.content_type))
    ch.stop_consuming()
channel.basic_qos(prefetch_count=1)
channel.basic_consume(queue="task_queue", on_message_callback=callback)
channel.start_consuming()
connection.close()
`

// serverVersion is the broker's RabbitMQ version, as major and minor numbers.
func serverVersion(t *testing.T) (major, minor int) {
	t.Helper()
	conn, err := e2e.Dial("e2e-version")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, _ := conn.Properties["version"].(string)
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("broker version %q: %v", v, err)
	}
	return major, minor
}

// The guides' facts about a task that keeps failing, checked on the broker under test. A quorum queue
// counts failed deliveries of a message in its x-delivery-count header. RabbitMQ 4.x drops the message
// (or dead-letters it, if the queue has a dead-letter exchange) when a delivery that already carries
// x-delivery-count 20 is returned once more: a task is delivered at most 21 times. RabbitMQ 3.x has no
// such limit. Since 4.3 only failures count: a reject does, a nack (what the worker sends on Ctrl+C)
// does not; before 4.3 both do. (A unique quorum queue, so task_queue is left alone.)
func TestDeliveryLimit(t *testing.T) {
	major, minor := serverVersion(t)
	for _, how := range []string{"reject", "nack"} {
		t.Run(how, func(t *testing.T) {
			q := e2e.UniqueName(t, "workqueues")
			ch := e2e.Channel(t)
			if _, err := ch.QueueDeclare(q, true, false, false, false, quorum); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e2e.DeleteQueue(t, q) })
			if err := ch.Publish("", q, false, false, amqp.Publishing{Body: []byte("poison")}); err != nil {
				t.Fatal(err)
			}
			// get waits a little for the message: a returned message takes a moment to be ready again.
			get := func() (amqp.Delivery, bool) {
				for deadline := time.Now().Add(2 * time.Second); ; {
					d, ok, err := ch.Get(q, false)
					if err != nil {
						t.Fatalf("get: %v", err)
					}
					if ok || time.Now().After(deadline) {
						return d, ok
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			deliveries, lastCount := 0, int64(-1)
			for range 25 {
				d, ok := get()
				if !ok {
					break
				}
				deliveries++
				if n, ok := d.Headers["x-delivery-count"]; ok {
					lastCount, _ = n.(int64)
				}
				var err error
				if how == "reject" {
					err = d.Reject(true)
				} else {
					err = d.Nack(false, true)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			limited := major >= 4 && (how == "reject" || minor < 3)
			switch {
			case limited && (deliveries != 21 || lastCount != 20):
				t.Errorf("RabbitMQ %d.%d, %s: delivered %d times (last x-delivery-count %d), want 21 times (last 20), then dropped",
					major, minor, how, deliveries, lastCount)
			case !limited && deliveries != 25:
				t.Errorf("RabbitMQ %d.%d, %s: delivered %d times, want no limit (25 of 25)", major, minor, how, deliveries)
			}
		})
	}
}

// A worker holding a task past the consumer timeout, on a quorum queue. Seen on 3.10.8, 4.0.5 and 4.3.6:
// before 4.3 the broker closes the worker's channel (406 PRECONDITION_FAILED "delivery acknowledgement
// on channel 1 timed out"), checking once a minute; from 4.3 it cancels the consumer (basic.cancel) when
// the timeout is up. Either way the task is ready again, and the worker exits 1 saying why.
//
// The timeout is set for task_queue alone. 3.12 to 4.2 take the x-consumer-timeout queue argument and
// do not check it when the programs redeclare the queue without it; 4.3 does (406 "inequivalent arg
// 'x-consumer-timeout'"), so there a consumer-timeout policy sets it, with rabbitmqctl, on a broker that
// scripts/broker.sh started. 3.10 has only the node's consumer_timeout: skipped. On 4.3 the test takes
// seconds; before, one to two minutes, so it runs only with TUTORIALS_SLOW_TESTS=1.
func TestConsumerTimeout(t *testing.T) {
	major, minor := serverVersion(t)
	since43 := major > 4 || major == 4 && minor >= 3
	switch {
	case major < 3 || major == 3 && minor < 12:
		t.Skipf("RabbitMQ %d.%d has no per-queue consumer timeout (3.12 and later)", major, minor)
	case !since43 && os.Getenv("TUTORIALS_SLOW_TESTS") == "":
		t.Skip("takes one to two minutes before RabbitMQ 4.3; set TUTORIALS_SLOW_TESTS=1 to run it")
	case since43 && !e2e.OwnBroker():
		t.Skip("RabbitMQ 4.3 takes a consumer timeout for task_queue from a policy only, and the broker " +
			"at AMQP_URL was not started by scripts/broker.sh: rabbitmqctl cannot reach it")
	}
	e2e.FreshQueue(t, queue)
	if since43 {
		uri, err := amqp.ParseURI(e2e.URL())
		if err != nil {
			t.Fatal(err)
		}
		ctl(t, "set_policy", "-p", uri.Vhost, "--apply-to", "quorum_queues", "--priority", "100",
			"tutorials-consumer-timeout", "^task_queue$", `{"consumer-timeout":1000}`)
		t.Cleanup(func() { ctl(t, "clear_policy", "-p", uri.Vhost, "tutorials-consumer-timeout") })
	} else {
		args := amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum, "x-consumer-timeout": int32(1000)}
		if _, err := e2e.Channel(t).QueueDeclare(queue, true, false, false, false, args); err != nil {
			t.Fatal(err)
		}
	}
	task := unique(t, "slow", 1)
	newTask(t, task)
	w := worker(t, nil, "-dot", "1h")
	w.WaitLine(" [x] Received " + task)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if r, _ := e2e.QueueCounts(t, queue); r == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task did not come back to the queue within 3 minutes")
		}
	}
	code := w.Wait()
	e2e.CheckCleanError(t, w.Stderr(), code)
	want := "worker: the broker closed the channel: PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out"
	if since43 {
		want = `worker: the broker cancelled our consumer: queue "task_queue" was deleted, or a task waited ` +
			`past the consumer timeout for our ack`
	}
	if !strings.HasPrefix(w.Stderr(), want) {
		t.Errorf("stderr = %q, want it to start with %q", w.Stderr(), want)
	}
	drain(t, task+" (redelivered)")
}

// ctl runs rabbitmqctl with args on the broker scripts/broker.sh started at AMQP_URL.
func ctl(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(e2e.RepoRoot(), "scripts", "broker.sh"), append([]string{"ctl", "-q"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/broker.sh ctl %q: %v\n%s", args, err, out)
	}
}

// What RabbitMQ 4.3 does when a consumer holds a quorum queue's message past its consumer timeout, on
// a queue and a consumer of the test's own (the x-consumer-timeout consumer argument, 4.3 and later):
// it cancels the consumer, the channel stays open, the message is ready again and marked redelivered,
// and the timeout does not count as a failed delivery (x-delivery-count stays as it was, 4.3.6).
// A classic queue refuses the argument: 4.3 has no consumer timeout for classic queues.
func TestConsumerTimeoutCancels(t *testing.T) {
	if major, minor := serverVersion(t); major < 4 || major == 4 && minor < 3 {
		t.Skipf("RabbitMQ %d.%d closes the channel instead (TestConsumerTimeout)", major, minor)
	}
	timeout := amqp.Table{"x-consumer-timeout": int64(500)}
	ch := e2e.Channel(t)
	classic := e2e.UniqueName(t, "workqueues-classic")
	if _, err := ch.QueueDeclare(classic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e2e.DeleteQueue(t, classic) })
	var aerr *amqp.Error
	if _, err := ch.Consume(classic, "", false, false, false, false, timeout); !errors.As(err, &aerr) ||
		aerr.Code != amqp.PreconditionFailed {
		t.Errorf("consume from a classic queue with x-consumer-timeout: %v, want 406 PRECONDITION_FAILED", err)
	}

	q := e2e.UniqueName(t, "workqueues")
	ch = e2e.Channel(t)
	if _, err := ch.QueueDeclare(q, true, false, false, false, quorum); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e2e.DeleteQueue(t, q) })
	if err := ch.Publish("", q, false, false, amqp.Publishing{Body: []byte("held")}); err != nil {
		t.Fatal(err)
	}
	cancelled := ch.NotifyCancel(make(chan string, 1))
	msgs, err := ch.Consume(q, "held", false, false, false, false, timeout)
	if err != nil {
		t.Fatal(err)
	}
	<-msgs
	select {
	case tag := <-cancelled:
		if tag != "held" {
			t.Errorf("cancelled consumer %q, want %q", tag, "held")
		}
	case <-time.After(e2e.LineTimeout):
		t.Fatal("no basic.cancel after the consumer timeout")
	}
	get := e2e.Channel(t)
	var d amqp.Delivery
	e2e.WaitFor(t, "the message to be ready again", func() bool {
		var ok bool
		d, ok, err = get.Get(q, false)
		return err == nil && ok
	})
	if ch.IsClosed() || !d.Redelivered || d.Headers["x-delivery-count"] != nil {
		t.Errorf("after the timeout: channel closed %v, redelivered %v, x-delivery-count %v; want open, true, none",
			ch.IsClosed(), d.Redelivered, d.Headers["x-delivery-count"])
	}
}
