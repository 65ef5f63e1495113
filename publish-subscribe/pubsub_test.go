// End-to-end tests of the Publish/Subscribe programs: real processes against the real broker at AMQP_URL.
//
// The exchange name "logs" is fixed by the tutorial, so these tests share it with anyone else on the
// broker. They run one after another (no t.Parallel), tell their messages apart by unique bodies, and
// never delete "logs" on a broker that is not theirs.
package publishsubscribe_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "publish-subscribe/emit_log", "publish-subscribe/receive_logs"))
}

const waiting = " [*] Waiting for logs. To exit press CTRL+C"

// unique is a message body no other test, run or user sends.
func unique(t *testing.T, what string) string {
	return fmt.Sprintf("%s %s %d", what, t.Name(), time.Now().UnixNano())
}

// emit runs emit_log and requires a confirmed send with no warning: some queue took the message.
func emit(t *testing.T, env []string, body string) {
	t.Helper()
	out, errOut, code := e2e.Run(t, "emit_log", env, body)
	if code != 0 || out != " [x] Sent "+body || errOut != "" {
		t.Fatalf("emit_log %q: exit %d, stdout %q, stderr %q", body, code, out, errOut)
	}
}

// interrupt stops a receiver with Ctrl+C and requires a clean exit: 0, nothing on stderr.
func interrupt(t *testing.T, p *e2e.Proc) {
	t.Helper()
	p.Interrupt()
	if code := p.Wait(); code != 0 || p.Stderr() != "" {
		t.Fatalf("receive_logs after Ctrl+C: exit %d, stderr %q", code, p.Stderr())
	}
}

// queueState passive-declares queue on a new channel of conn: "exists", "gone" (404) or "locked" (405:
// another connection's exclusive queue, so it exists).
func queueState(t *testing.T, conn *amqp.Connection, queue string) string {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	_, err = ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	var aerr *amqp.Error
	switch {
	case err == nil:
		_ = ch.Close()
		return "exists"
	case errors.As(err, &aerr) && aerr.Code == amqp.NotFound:
		return "gone"
	case errors.As(err, &aerr) && aerr.Code == amqp.ResourceLocked:
		return "locked"
	}
	t.Fatalf("passive declare %q: %v", queue, err)
	return ""
}

func dial(t *testing.T) *amqp.Connection {
	t.Helper()
	conn, err := e2e.Dial("e2e-" + t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) })
	return conn
}

// Two receivers each get every message, in order, and no warning is printed: a queue took each one.
// Each receiver's queue is its own, server-named: the proxy sees two different names.
func TestTwoReceiversGetEveryMessage(t *testing.T) {
	p := e2e.NewProxy(t)
	r1 := e2e.Start(t, "receive_logs", p.Env())
	r2 := e2e.Start(t, "receive_logs", p.Env())
	r1.WaitLine(waiting)
	r2.WaitLine(waiting)

	var bodies []string
	for i := range 3 {
		body := unique(t, fmt.Sprintf("message %d:", i))
		emit(t, nil, body)
		bodies = append(bodies, body)
	}
	for _, r := range []*e2e.Proc{r1, r2} {
		r.WaitLine(" [x] " + bodies[len(bodies)-1])
	}
	interrupt(t, r1)
	interrupt(t, r2)
	for i, r := range []*e2e.Proc{r1, r2} {
		if got, want := ours(r.Stdout(), t.Name()), bodies; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("receiver %d got %q, want %q", i+1, got, want)
		}
		if first, _, _ := strings.Cut(r.Stdout(), "\n"); first != waiting {
			t.Errorf("receiver %d: first line %q, want %q", i+1, first, waiting)
		}
	}
	if qs := p.Queues(); len(qs) != 2 || qs[0] == qs[1] || !strings.HasPrefix(qs[0], "amq.gen-") {
		t.Errorf("queues declared by the receivers: %q, want two different server-named ones", qs)
	}
}

// ours is the messages of this test (by test name in the body) a receiver printed, in order.
func ours(stdout, test string) []string {
	var got []string
	for _, line := range strings.Split(stdout, "\n") {
		if body, ok := strings.CutPrefix(line, " [x] "); ok && strings.Contains(body, " "+test+" ") {
			got = append(got, body)
		}
	}
	return got
}

// A receiver started after a message was sent never sees it: its queue did not exist then.
func TestLateReceiverMissesEarlierMessages(t *testing.T) {
	early := e2e.Start(t, "receive_logs", nil)
	early.WaitLine(waiting)
	before := unique(t, "before:")
	emit(t, nil, before)
	early.WaitLine(" [x] " + before)

	late := e2e.Start(t, "receive_logs", nil)
	late.WaitLine(waiting)
	after := unique(t, "after:")
	emit(t, nil, after)
	late.WaitLine(" [x] " + after)
	early.WaitLine(" [x] " + after)
	interrupt(t, late)
	interrupt(t, early)
	if got := ours(late.Stdout(), t.Name()); len(got) != 1 || got[0] != after {
		t.Errorf("the late receiver got %q, want only %q", got, after)
	}
}

// Once every receiver has exited, however it ended (Ctrl+C, killed, connection cut), its server-named
// queue is gone from the broker: exclusive queues go away with their connection.
func TestNoQueueLeftBehind(t *testing.T) {
	p := e2e.NewProxy(t)
	stopped := e2e.Start(t, "receive_logs", p.Env())
	killed := e2e.Start(t, "receive_logs", p.Env())
	stopped.WaitLine(waiting)
	killed.WaitLine(waiting)
	queues := p.Queues()
	if len(queues) != 2 {
		t.Fatalf("the proxy saw queues %q, want two", queues)
	}
	conn := dial(t)
	for _, q := range queues {
		if s := queueState(t, conn, q); s != "locked" {
			t.Fatalf("queue %q of a running receiver: %s, want locked (exclusive to its connection)", q, s)
		}
	}
	interrupt(t, stopped)
	killed.Kill()
	killed.Wait()
	for _, q := range queues {
		e2e.WaitFor(t, "queue "+q+" to go away", func() bool { return queueState(t, conn, q) == "gone" })
	}

	// A receiver whose connection is lost exits 1 saying so in rabbit.Ended's words, in one
	// line, and its queue goes away too.
	cut := e2e.Start(t, "receive_logs", p.Env())
	cut.WaitLine(waiting)
	queues = p.Queues()
	e2e.CheckConnectionLost(t, cut, p)
	q := queues[len(queues)-1]
	e2e.WaitFor(t, "queue "+q+" to go away", func() bool { return queueState(t, conn, q) == "gone" })
}

// waitUnbound waits until nothing is bound to "logs": a mandatory publish of our own comes back. Queues
// of receivers that just exited may take a moment to go; a queue someone else bound stays, and then
// the test is skipped rather than deliver its message to someone else's queue.
func waitUnbound(t *testing.T) {
	t.Helper()
	conn := dial(t)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare("logs", "fanout", false, false, false, false, nil); err != nil {
		t.Fatalf("declare logs: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		id := unique(t, "probe")
		dc, err := ch.PublishWithDeferredConfirm("logs", "", true, false, amqp.Publishing{MessageId: id, Body: []byte(id)})
		if err != nil {
			t.Fatal(err)
		}
		if !dc.Wait() {
			t.Fatal("probe nacked")
		}
		select {
		case r := <-returns:
			if r.MessageId == id {
				return
			}
		default:
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Skipf("a queue these tests did not make is bound to exchange logs on %s: cannot test emit_log with no receiver",
		e2e.Redact(e2e.URL()))
}

// With no receiver, the message reaches nobody: emit_log still prints Sent (the broker took it), warns
// on stderr in one line that the broker returned it (NO_ROUTE is the broker's reply text of the
// basic.return, the proof that it was published mandatory), and exits 0.
func TestNoReceiverWarns(t *testing.T) {
	waitUnbound(t)
	body := unique(t, "nobody hears:")
	out, errOut, code := e2e.Run(t, "emit_log", nil, body)
	if code != 0 || out != " [x] Sent "+body {
		t.Fatalf("emit_log: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, `emit_log: warning: no queue is bound to exchange "logs"`) ||
		!strings.Contains(errOut, "NO_ROUTE") {
		t.Errorf("stderr = %q, want one warning line with the broker's NO_ROUTE", errOut)
	}
}

// With no words, the message is the tutorial's "info: Hello World!".
func TestDefaultMessageAndDashDash(t *testing.T) {
	r := e2e.Start(t, "receive_logs", nil)
	r.WaitLine(waiting)
	// "--" ends the flags: the message is "-h".
	if out, errOut, code := e2e.Run(t, "emit_log", nil, "--", "-h"); code != 0 || out != " [x] Sent -h" || errOut != "" {
		t.Fatalf("emit_log -- -h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code := e2e.Run(t, "emit_log", nil)
	if code != 0 || out != " [x] Sent info: Hello World!" || errOut != "" {
		t.Fatalf("emit_log: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	r.WaitLine(" [x] info: Hello World!")
	interrupt(t, r)
	if !strings.Contains(r.Stdout(), "\n [x] -h\n") {
		t.Errorf("receive_logs did not print the message -h:\n%s", r.Stdout())
	}
}

func TestHelpAndBadInput(t *testing.T) {
	e2e.CheckHelp(t, "emit_log", "receive_logs")
	e2e.CheckBadArgs(t,
		e2e.BadArgs{Program: "emit_log", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
		e2e.BadArgs{Program: "emit_log", Args: []string{"-timeout", "soon"}, Want: "invalid value"},
		e2e.BadArgs{Program: "receive_logs", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
		e2e.BadArgs{Program: "receive_logs", Args: []string{"-prefetch", "0"}, Want: "-prefetch must be from 1 to 65535"},
		e2e.BadArgs{Program: "receive_logs", Args: []string{"-prefetch", "65536"}, Want: "-prefetch must be from 1 to 65535"},
	)
	e2e.CheckBadURLs(t, []string{"emit_log", "receive_logs"})
}

// The connection is lost while emit_log waits for its confirm (its message has reached a receiver):
// it says so, and never that the broker blocks publishers.
func TestEmitLostAtConfirm(t *testing.T) {
	r := e2e.Start(t, "receive_logs", nil)
	r.WaitLine(waiting)
	proxy := e2e.NewProxy(t)
	body := unique(t, "confirm held:")
	p := e2e.Start(t, "emit_log", e2e.StallAtConfirmSelect(t, proxy), "-timeout", "1h", body)
	r.WaitLine(" [x] " + body)
	e2e.CheckLostAtConfirm(t, p, proxy)
	interrupt(t, r)
}

// The broker never confirms (the proxy holds all it sends after confirm.select-ok): emit_log gives up
// after -timeout, in one line that neither calls the broker blocking nor the connection lost, and exits 1.
func TestEmitTimeout(t *testing.T) {
	proxy := e2e.NewProxy(t)
	out, errOut, code := e2e.Run(t, "emit_log", e2e.StallAtConfirmSelect(t, proxy), "-timeout", "1s", unique(t, "unconfirmed:"))
	e2e.CheckCleanError(t, errOut, code)
	if want := "emit_log: no confirm from the broker within 1s (it may or may not be in the queue)\n"; code != 1 || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
}

// A second Ctrl+C ends a receiver whose close waits for a broker that does not answer.
func TestReceiverSecondCtrlC(t *testing.T) {
	proxy := e2e.NewProxy(t)
	r := e2e.Start(t, "receive_logs", proxy.Env())
	r.WaitLine(waiting)
	e2e.CheckSecondCtrlC(t, r, proxy)
}

// A broker under a resource alarm blocks publishers: no confirm comes, and once -timeout has passed
// emit_log names the block as the reason in one line, and exits 1.
func TestBlockedBroker(t *testing.T) {
	p := e2e.NewProxy(t)
	p.Block("low on memory")
	start := time.Now()
	out, errOut, code := e2e.Run(t, "emit_log", p.Env(), "-timeout", "2s", unique(t, "held:"))
	if took := time.Since(start); took < 2*time.Second || took > 20*time.Second {
		t.Errorf("emit_log exited after %s, want its -timeout (2s), then the bounded close", took)
	}
	e2e.CheckCleanError(t, errOut, code)
	if want := "emit_log: the broker is blocking publishers (low on memory): no confirm within 2s\n"; out != "" || errOut != want {
		t.Errorf("stdout %q, stderr %q; want nothing, and %q", out, errOut, want)
	}
}

// The official Python tutorial's programs (pika), declaring "logs" exactly as they do, work with ours
// both ways: same exchange name, type and properties, plain text bodies.
func TestInteropWithPika(t *testing.T) {
	python := e2e.PythonWithPika(t)
	pyEnv := append(os.Environ(), "AMQP_URL="+e2e.URL())

	t.Run("emit_log.py to our receive_logs", func(t *testing.T) {
		r := e2e.Start(t, "receive_logs", nil)
		r.WaitLine(waiting)
		body := unique(t, "from pika:")
		py := exec.Command(python, "-c", pikaEmitLog, body)
		py.Env = pyEnv
		out, err := py.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "[x] Sent "+body {
			t.Fatalf("pika emit_log: %v\n%s", err, out)
		}
		r.WaitLine(" [x] " + body)
		interrupt(t, r)
	})

	t.Run("our emit_log to receive_logs.py", func(t *testing.T) {
		py := exec.Command(python, "-u", "-c", pikaReceiveOne)
		py.Env = pyEnv
		var stderr strings.Builder
		py.Stderr = &stderr
		stdout, err := py.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := py.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = py.Process.Kill(); _ = py.Wait() })
		lines := make(chan string, 10)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		next := func() string {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("pika receive_logs exited early; stderr:\n%s", stderr.String())
				}
				return line
			case <-time.After(e2e.LineTimeout):
				t.Fatalf("pika receive_logs printed nothing within %s; stderr:\n%s", e2e.LineTimeout, stderr.String())
			}
			return ""
		}
		if line := next(); line != waiting {
			t.Fatalf("pika receive_logs printed %q, want %q", line, waiting)
		}
		body := unique(t, "to pika:")
		emit(t, nil, body)
		if line := next(); line != " [x] "+body {
			t.Errorf("pika receive_logs printed %q, want %q", line, " [x] "+body)
		}
	})
}

// pikaEmitLog is the official Python tutorial's emit_log.py, with the broker from AMQP_URL.
const pikaEmitLog = `
import os, sys, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()
channel.exchange_declare(exchange='logs', exchange_type='fanout')
message = ' '.join(sys.argv[1:]) or "info: Hello World!"
channel.basic_publish(exchange='logs', routing_key='', body=message)
print(f"[x] Sent {message}")
connection.close()
`

// pikaReceiveOne is the official Python tutorial's receive_logs.py, with the broker from AMQP_URL,
// printing the body as text and stopping after one message.
const pikaReceiveOne = `
import os, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()
channel.exchange_declare(exchange='logs', exchange_type='fanout')
result = channel.queue_declare(queue='', exclusive=True)
queue_name = result.method.queue
channel.queue_bind(exchange='logs', queue=queue_name)
print(' [*] Waiting for logs. To exit press CTRL+C')
def callback(ch, method, properties, body):
    print(f" [x] {body.decode()}")
    ch.stop_consuming()
channel.basic_consume(queue=queue_name, on_message_callback=callback, auto_ack=True)
channel.start_consuming()
connection.close()
`

// "logs" declared by someone else with other properties (durable, or another type): the broker refuses
// the programs' declaration (406) and changes nothing, and both programs say so in one line, with the
// fix. Making that situation means deleting "logs", so this runs only on a broker the tests own, and
// only when no queue is bound to "logs" (the delete is if-unused).
func TestExchangeDeclaredOtherwise(t *testing.T) {
	if !e2e.OwnBroker() {
		t.Skipf("the broker at %s was not started by scripts/broker.sh: not deleting its exchange logs to "+
			"declare it otherwise", e2e.Redact(e2e.URL()))
	}
	for _, c := range []struct {
		kind    string
		durable bool
		want    string
	}{
		{"fanout", true, "inequivalent arg 'durable'"},
		{"direct", false, "inequivalent arg 'type'"},
	} {
		redeclareLogs(t, c.kind, c.durable)
		for _, prog := range []string{"emit_log", "receive_logs"} {
			out, errOut, code := e2e.Run(t, prog, nil)
			e2e.CheckCleanError(t, errOut, code)
			if !strings.HasPrefix(errOut, prog+`: exchange "logs" exists with other properties (PRECONDITION_FAILED`) ||
				!strings.Contains(errOut, c.want) || !strings.HasSuffix(errOut, "): delete it, or declare it as it was first declared\n") || out != "" {
				t.Errorf("logs %s durable=%v, %s: stdout %q, stderr %q", c.kind, c.durable, prog, out, errOut)
			}
		}
	}
	// Leave no "logs" behind: the programs declare it again as the tutorial does.
	redeclareLogs(t, "", false)
}

// redeclareLogs deletes "logs" if no queue is bound to it (skipping the test otherwise) and, unless kind
// is "", declares it again as kind.
func redeclareLogs(t *testing.T, kind string, durable bool) {
	t.Helper()
	ch, err := dial(t).Channel()
	if err != nil {
		t.Fatal(err)
	}
	var aerr *amqp.Error
	if err := ch.ExchangeDelete("logs", true, false); errors.As(err, &aerr) && aerr.Code == amqp.PreconditionFailed {
		t.Skip("a queue is bound to exchange logs: leaving it alone")
	} else if err != nil {
		t.Fatalf("delete exchange logs: %v", err)
	}
	if kind != "" {
		if err := ch.ExchangeDeclare("logs", kind, durable, false, false, false, nil); err != nil {
			t.Fatalf("declare logs: %v", err)
		}
	}
}
