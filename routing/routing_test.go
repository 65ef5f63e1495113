// End-to-end tests of the Routing programs: real processes against the real broker at AMQP_URL.
//
// The exchange name "direct_logs" is fixed by the tutorial, so these tests share it with anyone else on
// the broker. They run one after another (no t.Parallel), bind and publish with routing keys no one
// else uses (unique per test), and never delete "direct_logs" while anything is bound to it.
package routing_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "routing/emit_log_direct", "routing/receive_logs_direct"))
}

const waiting = " [*] Waiting for logs. To exit press CTRL+C"

// keys returns routing keys that no other test, run or user binds: each name with a unique prefix.
func keys(names ...string) []string {
	prefix := fmt.Sprintf("t%d.", rand.Int64())
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// receive starts receive_logs_direct bound with keys and waits until it is ready.
func receive(t *testing.T, env []string, keys ...string) *e2e.Proc {
	t.Helper()
	p := e2e.Start(t, "receive_logs_direct", env, keys...)
	p.WaitLine(waiting)
	return p
}

// emit runs emit_log_direct and requires a confirmed send with no warning: some queue took the message.
func emit(t *testing.T, key, body string) {
	t.Helper()
	out, errOut, code := e2e.Run(t, "emit_log_direct", nil, key, body)
	if want := " [x] Sent " + key + ":" + body; code != 0 || out != want || errOut != "" {
		t.Fatalf("emit_log_direct %q %q: exit %d, stdout %q, stderr %q; want %q", key, body, code, out, errOut, want)
	}
}

// interrupt stops a receiver with Ctrl+C, requires a clean exit (0, nothing on stderr), and returns
// the messages it printed (" [x] " lines), in order.
func interrupt(t *testing.T, p *e2e.Proc) []string {
	t.Helper()
	p.Interrupt()
	if code := p.Wait(); code != 0 || p.Stderr() != "" {
		t.Fatalf("receive_logs_direct after Ctrl+C: exit %d, stderr %q", code, p.Stderr())
	}
	lines := strings.Split(p.Stdout(), "\n")
	if lines[0] != waiting {
		t.Errorf("first line %q, want %q", lines[0], waiting)
	}
	return lines[1:]
}

// The tutorial's scenario: a receiver for warning and error (the one that writes a log file), one for
// every severity (the console), and one for info alone. Each gets exactly the severities it bound, in
// order; a message with a severity nobody bound reaches nobody. The last message, sent with a key all
// three bound, marks the end: routing into each queue keeps the order of the confirmed sends.
func TestEachReceiverGetsItsSeverities(t *testing.T) {
	k := keys("info", "warning", "error", "debug", "end")
	info, warning, errorKey, debug, end := k[0], k[1], k[2], k[3], k[4]
	file := receive(t, nil, warning, errorKey, end)
	console := receive(t, nil, info, warning, errorKey, end)
	infoOnly := receive(t, nil, info, end)

	emit(t, info, "an info message")
	emit(t, warning, "a warning")
	emit(t, errorKey, "Run. Run. Or it will explode.")
	out, errOut, code := e2e.Run(t, "emit_log_direct", nil, debug, "nobody listens")
	if code != 0 || out != " [x] Sent "+debug+":nobody listens" ||
		errOut != fmt.Sprintf("emit_log_direct: warning: no queue is bound to \"direct_logs\" with key %q, "+
			"so nobody got the message (312 NO_ROUTE)\n", debug) {
		t.Errorf("emit_log_direct with a key nobody bound: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	emit(t, end, "end")

	want := map[string][]string{
		"warning error":      {" [x] " + warning + ":a warning", " [x] " + errorKey + ":Run. Run. Or it will explode."},
		"info warning error": {" [x] " + info + ":an info message", " [x] " + warning + ":a warning", " [x] " + errorKey + ":Run. Run. Or it will explode."},
		"info":               {" [x] " + info + ":an info message"},
	}
	for name, p := range map[string]*e2e.Proc{"warning error": file, "info warning error": console, "info": infoOnly} {
		p.WaitLine(" [x] " + end + ":end")
		got := interrupt(t, p)
		if w := append(want[name], " [x] "+end+":end"); !slices.Equal(got, w) {
			t.Errorf("receiver bound with %s printed\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}
}

// Multiple bindings: two queues bound with the same key both get the message, as with a fanout
// exchange; a key only one of them bound goes to that one alone. Binding one queue twice with the same
// key is one binding: the message arrives once.
func TestSameKeyOnTwoQueues(t *testing.T) {
	k := keys("black", "green")
	black, green := k[0], k[1]
	q1 := receive(t, nil, black, black)
	q2 := receive(t, nil, black, green)

	emit(t, green, "green")
	emit(t, black, "black")
	q1.WaitLine(" [x] " + black + ":black")
	q2.WaitLine(" [x] " + black + ":black")
	if got, want := interrupt(t, q1), []string{" [x] " + black + ":black"}; !slices.Equal(got, want) {
		t.Errorf("Q1 (black, black) printed %q, want %q", got, want)
	}
	if got, want := interrupt(t, q2), []string{" [x] " + green + ":green", " [x] " + black + ":black"}; !slices.Equal(got, want) {
		t.Errorf("Q2 (black, green) printed %q, want %q", got, want)
	}
}

// Each receiver's queue is server-named and exclusive: it exists while the receiver runs, and the
// broker deletes it when the receiver exits (Ctrl+C here).
func TestReceiverQueueGoesAway(t *testing.T) {
	p := e2e.NewProxy(t)
	r := receive(t, p.Env(), keys("info")...)
	qs := p.Queues()
	if len(qs) != 1 || !strings.HasPrefix(qs[0], "amq.gen-") {
		t.Fatalf("queues declared by the receiver: %q, want one server-named queue", qs)
	}
	if s := queueState(t, qs[0]); s != "locked" {
		t.Fatalf("queue %s of a running receiver: %s, want locked (exclusive to its connection)", qs[0], s)
	}
	interrupt(t, r)
	e2e.WaitFor(t, "queue "+qs[0]+" to go away", func() bool { return queueState(t, qs[0]) == "gone" })
}

// queueState passive-declares queue on a new channel: "exists", "gone" (404) or "locked" (405: another
// connection's exclusive queue, so it exists).
func queueState(t *testing.T, queue string) string {
	t.Helper()
	_, err := e2e.Channel(t).QueueDeclarePassive(queue, false, false, false, false, nil)
	var aerr *amqp.Error
	switch {
	case err == nil:
		return "exists"
	case errors.As(err, &aerr) && aerr.Code == amqp.NotFound:
		return "gone"
	case errors.As(err, &aerr) && aerr.Code == amqp.ResourceLocked:
		return "locked"
	}
	t.Fatalf("passive declare %q: %v", queue, err)
	return ""
}

// The defaults: severity info, message "Hello World!". "--" ends the flags, so "-h" can be a severity.
func TestDefaultsAndDashDash(t *testing.T) {
	// Only the default key needs "info" itself: on a broker where others listen to info, they get our
	// Hello World! too, as they would from the tutorial's program.
	r := receive(t, nil, "info", "-h")
	out, errOut, code := e2e.Run(t, "emit_log_direct", nil)
	if code != 0 || out != " [x] Sent info:Hello World!" || errOut != "" {
		t.Fatalf("emit_log_direct: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	body := fmt.Sprintf("dash %d", rand.Int64())
	out, errOut, code = e2e.Run(t, "emit_log_direct", nil, "--", "-h", body)
	if code != 0 || out != " [x] Sent -h:"+body || errOut != "" {
		t.Fatalf("emit_log_direct -- -h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	r.WaitLine(" [x] -h:" + body)
	got := interrupt(t, r)
	if !slices.Contains(got, " [x] info:Hello World!") {
		t.Errorf("receive_logs_direct info -h printed %q, want the default message among them", got)
	}
}

func TestHelpUsageAndBadArguments(t *testing.T) {
	e2e.CheckHelp(t, "emit_log_direct", "receive_logs_direct")
	long := strings.Repeat("k", 256)
	e2e.CheckBadArgs(t,
		e2e.BadArgs{Program: "receive_logs_direct", Want: "no severity given. Usage: receive_logs_direct [-prefetch 100] severity..."},
		e2e.BadArgs{Program: "receive_logs_direct", Args: []string{"-prefetch", "5"}, Want: "no severity given"},
		e2e.BadArgs{Program: "receive_logs_direct", Args: []string{"info", long}, Want: "a severity is 256 bytes long: a binding key is at most 255 bytes"},
		e2e.BadArgs{Program: "emit_log_direct", Args: []string{long, "too long"}, Want: "the severity is 256 bytes long: a routing key is at most 255 bytes"},
		e2e.BadArgs{Program: "emit_log_direct", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
		e2e.BadArgs{Program: "emit_log_direct", Args: []string{"-timeout", "soon"}, Want: "invalid value"},
		e2e.BadArgs{Program: "receive_logs_direct", Args: []string{"-bogus", "info"}, Want: "flag provided but not defined: -bogus"},
		e2e.BadArgs{Program: "receive_logs_direct", Args: []string{"-prefetch", "0", "info"}, Want: "-prefetch must be from 1 to 65535"},
		e2e.BadArgs{Program: "receive_logs_direct", Args: []string{"-prefetch", "65536", "info"}, Want: "-prefetch must be from 1 to 65535"},
	)
	// A key of exactly 255 bytes is fine.
	longest := keys(strings.Repeat("k", 200))[0]
	longest += strings.Repeat("k", 255-len(longest))
	r := receive(t, nil, longest)
	emit(t, longest, "longest key")
	r.WaitLine(" [x] " + longest + ":longest key")
	interrupt(t, r)
}

func TestBadInput(t *testing.T) {
	e2e.CheckBadURLs(t, []string{"emit_log_direct", "receive_logs_direct"}, "info")
}

// A "direct_logs" declared with other properties (here: durable) is refused by the broker, and both
// programs say so in one line, naming the exchange and the property. The test only ever deletes a
// "direct_logs" declared as the tutorial declares it with nothing bound to it, which any program
// recreates as it was; otherwise it leaves the exchange alone and skips.
func TestExchangeDeclaredOtherwise(t *testing.T) {
	e2e.FreshExchange(t, "direct_logs", "direct")
	if err := e2e.Channel(t).ExchangeDeclare("direct_logs", "direct", true, false, false, false, nil); err != nil {
		t.Fatalf("declare a durable direct_logs: %v", err)
	}
	for _, prog := range []string{"emit_log_direct", "receive_logs_direct"} {
		out, errOut, code := e2e.Run(t, prog, nil, "info")
		e2e.CheckCleanError(t, errOut, code)
		if !strings.HasPrefix(errOut, prog+`: exchange "direct_logs" exists with other properties`) ||
			!strings.HasSuffix(errOut, "): delete it, or declare it as it was first declared\n") ||
			!strings.Contains(errOut, "inequivalent arg 'durable'") || out != "" {
			t.Errorf("%s: stdout %q, stderr %q", prog, out, errOut)
		}
	}
}

// A broker under a resource alarm blocks publishers: no confirm comes, and once -timeout has passed
// emit_log_direct names the block as the reason in one line, and exits 1.
func TestBlockedBroker(t *testing.T) {
	p := e2e.NewProxy(t)
	p.Block("low on memory")
	start := time.Now()
	out, errOut, code := e2e.Run(t, "emit_log_direct", p.Env(), "-timeout", "2s", keys("info")[0], "held")
	if took := time.Since(start); took < 2*time.Second || took > 20*time.Second {
		t.Errorf("emit_log_direct exited after %s, want its -timeout (2s), then the bounded close", took)
	}
	e2e.CheckCleanError(t, errOut, code)
	if want := "emit_log_direct: the broker is blocking publishers (low on memory): no confirm within 2s\n"; out != "" || errOut != want {
		t.Errorf("stdout %q, stderr %q; want nothing, and %q", out, errOut, want)
	}
}

// A receiver whose connection is lost exits 1 saying so in one line, in rabbit.Ended's words.
func TestReceiverConnectionLost(t *testing.T) {
	p := e2e.NewProxy(t)
	r := receive(t, p.Env(), keys("info")...)
	e2e.CheckConnectionLost(t, r, p)
}

// The connection is lost while emit_log_direct waits for its confirm (its message has reached a
// receiver): it says so, and never that the broker blocks publishers.
func TestEmitLostAtConfirm(t *testing.T) {
	key := keys("held")[0]
	r := receive(t, nil, key)
	proxy := e2e.NewProxy(t)
	p := e2e.Start(t, "emit_log_direct", e2e.StallAtConfirmSelect(t, proxy), "-timeout", "1h", key, "confirm held")
	r.WaitLine(" [x] " + key + ":confirm held")
	e2e.CheckLostAtConfirm(t, p, proxy)
	interrupt(t, r)
}

// The broker never confirms (the proxy holds all it sends after confirm.select-ok): emit_log_direct gives
// up after -timeout, in one line that neither calls the broker blocking nor the connection lost, and exits 1.
func TestEmitTimeout(t *testing.T) {
	proxy := e2e.NewProxy(t)
	out, errOut, code := e2e.Run(t, "emit_log_direct", e2e.StallAtConfirmSelect(t, proxy), "-timeout", "1s", keys("info")[0], "unconfirmed")
	e2e.CheckCleanError(t, errOut, code)
	if want := "emit_log_direct: no confirm from the broker within 1s (it may or may not be in the queue)\n"; code != 1 || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
}

// A second Ctrl+C ends a receiver whose close waits for a broker that does not answer.
func TestReceiverSecondCtrlC(t *testing.T) {
	proxy := e2e.NewProxy(t)
	r := receive(t, proxy.Env(), keys("info")...)
	e2e.CheckSecondCtrlC(t, r, proxy)
}

// The official Python tutorial's programs (pika), declaring "direct_logs" exactly as they do, work with
// ours both ways: same exchange name, type and properties, plain text bodies.
func TestInteropWithPika(t *testing.T) {
	python := e2e.PythonWithPika(t)
	pyEnv := append(os.Environ(), "AMQP_URL="+e2e.URL())

	t.Run("emit_log_direct.py to our receive_logs_direct", func(t *testing.T) {
		k := keys("warning", "error")
		r := receive(t, nil, k...)
		for _, key := range []string{k[0], keys("info")[0], k[1]} {
			py := exec.Command(python, "-c", pikaEmitLogDirect, key, "from", "pika")
			py.Env = pyEnv
			if out, err := py.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "[x] Sent "+key+":from pika" {
				t.Fatalf("pika emit_log_direct: %v\n%s", err, out)
			}
		}
		r.WaitLine(" [x] " + k[1] + ":from pika")
		if got, want := interrupt(t, r), []string{" [x] " + k[0] + ":from pika", " [x] " + k[1] + ":from pika"}; !slices.Equal(got, want) {
			t.Errorf("receive_logs_direct printed %q, want %q", got, want)
		}
	})

	t.Run("our emit_log_direct to receive_logs_direct.py", func(t *testing.T) {
		k := keys("warning", "error", "info")
		next := e2e.StartPython(t, python, pyEnv, pikaReceiveLogsDirect, "2", k[0], k[1])
		if line := next(); line != waiting {
			t.Fatalf("pika receive_logs_direct printed %q, want %q", line, waiting)
		}
		// info is not bound: warned about, and not received.
		if _, errOut, code := e2e.Run(t, "emit_log_direct", nil, k[2], "to pika"); code != 0 || !strings.Contains(errOut, "warning: no queue is bound") {
			t.Fatalf("emit_log_direct %s: exit %d, stderr %q", k[2], code, errOut)
		}
		emit(t, k[1], "to pika")
		emit(t, k[0], "to pika")
		for _, key := range []string{k[1], k[0]} {
			if line, want := next(), " [x] "+key+":to pika"; line != want {
				t.Errorf("pika receive_logs_direct printed %q, want %q", line, want)
			}
		}
	})
}

// pikaEmitLogDirect is the official Python tutorial's emit_log_direct.py, with the broker from AMQP_URL.
const pikaEmitLogDirect = `
import os, sys, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()
channel.exchange_declare(exchange="direct_logs", exchange_type="direct")
severity = sys.argv[1] if len(sys.argv) > 2 else "info"
message = " ".join(sys.argv[2:]) or "Hello World!"
channel.basic_publish(exchange="direct_logs", routing_key=severity, body=message)
print(f"[x] Sent {severity}:{message}")
connection.close()
`

// pikaReceiveLogsDirect is the official Python tutorial's receive_logs_direct.py, with the broker from
// AMQP_URL, stopping after the number of messages given first.
const pikaReceiveLogsDirect = `
import os, sys, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()
channel.exchange_declare(exchange="direct_logs", exchange_type="direct")
result = channel.queue_declare(queue="", exclusive=True)
queue_name = result.method.queue
count, severities = int(sys.argv[1]), sys.argv[2:]
for severity in severities:
    channel.queue_bind(exchange="direct_logs", queue=queue_name, routing_key=severity)
print(" [*] Waiting for logs. To exit press CTRL+C")
received = 0
def callback(ch, method, properties, body):
    global received
    print(f" [x] {method.routing_key}:{body.decode()}")
    received += 1
    if received == count:
        ch.stop_consuming()
channel.basic_consume(queue=queue_name, on_message_callback=callback, auto_ack=True)
channel.start_consuming()
connection.close()
`
