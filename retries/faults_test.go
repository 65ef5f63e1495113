package retries_test

import (
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

// -h and --help print Go's flag usage and exit 0; a bad flag is the flag package's line, exit 2.
func TestFlags(t *testing.T) {
	e2e.CheckHelp(t, "new_task", "worker", "move_dead")
	e2e.CheckBadArgs(t,
		e2e.BadArgs{Program: "new_task", Args: []string{"-timeout", "soon"}, Want: `invalid value "soon" for flag -timeout`},
		e2e.BadArgs{Program: "worker", Args: []string{"-dot", "soon"}, Want: `invalid value "soon" for flag -dot`},
		e2e.BadArgs{Program: "move_dead", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
	)
}

// An AMQP_URL that cannot work is one line, without the password, for each program.
func TestBadURLs(t *testing.T) {
	e2e.CheckBadURLs(t, []string{"new_task", "worker", "move_dead"})
}

// declared has a worker declare the test's queues, then stops it.
func declared(t *testing.T) string {
	t.Helper()
	q := testQueue(t)
	stop(t, worker(t, q))
	return q
}

// The broker blocks publishers (the proxy plays a memory alarm): new_task names it as the reason, after
// its -timeout, and the queue holds nothing.
func TestNewTaskBlocked(t *testing.T) {
	q := declared(t)
	proxy := e2e.NewProxy(t)
	proxy.Block("low on memory")
	out, errOut, code := e2e.Run(t, "new_task", proxy.Env(), "-queue", q, "-timeout", "1s", "charge")
	e2e.CheckCleanError(t, errOut, code)
	if want := "new_task: the broker is blocking publishers (low on memory): no confirm within 1s\n"; out != "" || errOut != want {
		t.Errorf("stdout %q, stderr %q; want nothing, and %q", out, errOut, want)
	}
	if n := ready(t, q); n != 0 {
		t.Errorf("%s holds %d tasks, want 0", q, n)
	}
}

// new_task left waiting for its confirm (the task is in the queue, the broker's answers are held):
// no confirm within -timeout, Ctrl+C, or the connection lost, each in one line, exit 1, no " [x] Sent".
func TestNewTaskUnconfirmed(t *testing.T) {
	for _, c := range []struct {
		name, timeout string
		during        func(*e2e.Proc, *e2e.Proxy)
		want          string
	}{
		{"timeout", "1s", func(*e2e.Proc, *e2e.Proxy) {}, "no confirm from the broker within 1s (it may or may not be in the queue)"},
		{"interrupted", "1m", func(p *e2e.Proc, _ *e2e.Proxy) { p.Interrupt() }, "interrupted before the broker confirmed the message (it may or may not be in the queue)"},
		{"lost", "1m", func(p *e2e.Proc, proxy *e2e.Proxy) { e2e.CheckLostAtConfirm(t, p, proxy) }, "connection to the broker lost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := declared(t)
			proxy := e2e.NewProxy(t)
			p := e2e.Start(t, "new_task", e2e.StallAtConfirmSelect(t, proxy), "-queue", q, "-timeout", c.timeout, "charge")
			e2e.WaitFor(t, "the task in "+q, func() bool { return ready(t, q) == 1 })
			began := time.Now()
			c.during(p, proxy)
			code := p.Wait()
			if took := time.Since(began); took > 15*time.Second {
				t.Errorf("new_task exited %s later, want within its -timeout and its bounded close", took)
			}
			e2e.CheckCleanError(t, p.Stderr(), code)
			if !strings.HasPrefix(p.Stderr(), "new_task: "+c.want) || p.Stdout() != "" {
				t.Errorf("stdout %q, stderr %q; want nothing, and %q", p.Stdout(), p.Stderr(), "new_task: "+c.want)
			}
		})
	}
}

// The broker blocks publishers while move_dead moves a task (the proxy plays a memory alarm): it names
// the reason after its 5s wait for the confirm, exit 1; the dead task, never acknowledged, is back in
// QUEUE.dead once the connection is gone, and the work queue got nothing.
func TestMoveDeadBlocked(t *testing.T) {
	q := declared(t)
	if err := e2e.Channel(t).Publish("", q+".dead", true, false, amqpText("poison")); err != nil {
		t.Fatal(err)
	}
	e2e.WaitFor(t, "the task in "+q+".dead", func() bool { return ready(t, q+".dead") == 1 })
	proxy := e2e.NewProxy(t)
	proxy.Block("low on memory")
	out, errOut, code := e2e.Run(t, "move_dead", proxy.Env(), "-queue", q)
	e2e.CheckCleanError(t, errOut, code)
	if want := "move_dead: the broker is blocking publishers (low on memory): no confirm within 5s\n"; out != "" || errOut != want {
		t.Errorf("stdout %q, stderr %q; want nothing, and %q", out, errOut, want)
	}
	e2e.WaitFor(t, "the dead task back in "+q+".dead", func() bool { return ready(t, q+".dead") == 1 })
	if n := ready(t, q); n != 0 {
		t.Errorf("%s holds %d tasks, want 0", q, n)
	}
}

// The worker's connection is lost: one line, exit 1. Its queue deleted: the broker cancels the consumer,
// and the worker says so. A second Ctrl+C ends it at once, its close stalled.
func TestWorkerEnds(t *testing.T) {
	t.Run("connection lost", func(t *testing.T) {
		q := testQueue(t)
		proxy := e2e.NewProxy(t)
		w := e2e.Start(t, "worker", proxy.Env(), "-queue", q)
		w.WaitLine(" [*] Waiting for messages.")
		e2e.CheckConnectionLost(t, w, proxy)
	})
	t.Run("queue deleted", func(t *testing.T) {
		q := testQueue(t)
		w := worker(t, q)
		e2e.DeleteQueue(t, q)
		code := w.Wait()
		e2e.CheckCleanError(t, w.Stderr(), code)
		if want := `worker: the broker cancelled our consumer: queue "` + q + `" was deleted, or a task ran past the consumer timeout` + "\n"; w.Stderr() != want {
			t.Errorf("stderr %q, want %q", w.Stderr(), want)
		}
	})
	t.Run("second Ctrl+C", func(t *testing.T) {
		q := testQueue(t)
		proxy := e2e.NewProxy(t)
		w := e2e.Start(t, "worker", proxy.Env(), "-queue", q)
		w.WaitLine(" [*] Waiting for messages.")
		e2e.CheckSecondCtrlC(t, w, proxy)
	})
}

// A work queue declared earlier without the retry arguments: the worker says in one line how to fix it.
func TestWorkerQueueDeclaredOtherwise(t *testing.T) {
	q := testQueue(t)
	if _, err := e2e.Channel(t).QueueDeclare(q, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e2e.Run(t, "worker", nil, "-queue", q)
	e2e.CheckCleanError(t, errOut, code)
	if want := `worker: queue "` + q + `" exists with other properties (PRECONDITION_FAILED - inequivalent arg `; out != "" ||
		!strings.HasPrefix(errOut, want) || !strings.HasSuffix(errOut, "): delete it, or declare it as it was first declared\n") {
		t.Errorf("stdout %q, stderr %q; want nothing, and %q...", out, errOut, want)
	}
}

func amqpText(body string) amqp.Publishing {
	return amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "text/plain", Body: []byte(body)}
}

// Before 4.3 the worker parks a task out of tries itself, with a confirm. The broker blocking publishers
// then (the proxy plays a memory alarm): the worker names it in one line, exit 1, and the task, never
// acknowledged, is back in the work queue once the connection is gone; QUEUE.dead got nothing.
func TestWorkerParkBlocked(t *testing.T) {
	if b, version := brokerRetries(t); b {
		t.Skipf("RabbitMQ %s dead-letters the task itself: the worker publishes nothing", version)
	}
	q := declared(t)
	proxy := e2e.NewProxy(t)
	proxy.Block("low on memory")
	w := e2e.Start(t, "worker", proxy.Env(), "-queue", q, "-dot", "0")
	w.WaitLine(" [*] Waiting for messages.")
	send(t, q, "poison")
	w.WaitLine(" [!] Failed on delivery 4 of 5")
	code := w.Wait()
	e2e.CheckCleanError(t, w.Stderr(), code)
	if want := "worker: fail the task: the broker is blocking publishers (low on memory): no confirm within 5s\n"; w.Stderr() != want {
		t.Errorf("stderr %q, want %q", w.Stderr(), want)
	}
	e2e.WaitFor(t, "the task back in "+q, func() bool { return ready(t, q) == 1 })
	if n := ready(t, q+".dead"); n != 0 {
		t.Errorf("%s.dead holds %d tasks, want 0", q, n)
	}
}
