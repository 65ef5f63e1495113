// End-to-end tests of the Topics programs: real processes against the real broker at AMQP_URL.
//
// The exchange name "topic_logs" is fixed by the tutorial, and so are the worked example's keys, so
// these tests share them with anyone else on the broker. They run one after another (no t.Parallel),
// tell their own messages apart by a unique tag in the body, use unique keys wherever the tutorial
// does not fix them, and never delete "topic_logs" while anything is bound to it.
package topics_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "topics/emit_log_topic", "topics/receive_logs_topic"))
}

const waiting = " [*] Waiting for logs. To exit press CTRL+C"

// newTag is a word no other test, run or user puts in a message body or a key.
func newTag() string { return fmt.Sprintf("t%d", rand.Int64()) }

// receive starts receive_logs_topic bound with keys and waits until it is ready.
func receive(t *testing.T, env []string, keys ...string) *e2e.Proc {
	t.Helper()
	p := e2e.Start(t, "receive_logs_topic", env, keys...)
	p.WaitLine(waiting)
	return p
}

// emit runs emit_log_topic and requires a confirmed send; whether some queue took the message is not
// checked (on a shared broker, someone may listen with "#").
func emit(t *testing.T, key, body string) {
	t.Helper()
	out, errOut, code := e2e.Run(t, "emit_log_topic", nil, key, body)
	if want := " [x] Sent " + key + ":" + body; code != 0 || out != want {
		t.Fatalf("emit_log_topic %q %q: exit %d, stdout %q, stderr %q; want %q", key, body, code, out, errOut, want)
	}
}

// interrupt stops a receiver with Ctrl+C, requires a clean exit (0, nothing on stderr), and returns
// the messages it printed (the " [x] " lines, without the prefix), in order.
func interrupt(t *testing.T, p *e2e.Proc) []string {
	t.Helper()
	p.Interrupt()
	if code := p.Wait(); code != 0 || p.Stderr() != "" {
		t.Fatalf("receive_logs_topic after Ctrl+C: exit %d, stderr %q", code, p.Stderr())
	}
	lines := strings.Split(p.Stdout(), "\n")
	if lines[0] != waiting {
		t.Errorf("first line %q, want %q", lines[0], waiting)
	}
	var got []string
	for _, l := range lines[1:] {
		got = append(got, strings.TrimPrefix(l, " [x] "))
	}
	return got
}

// keysWithBody are the routing keys of the messages whose body is body, in the order printed.
func keysWithBody(messages []string, body string) []string {
	var keys []string
	for _, m := range messages {
		if key, ok := strings.CutSuffix(m, ":"+body); ok {
			keys = append(keys, key)
		}
	}
	return keys
}

// The tutorial's animals: "<speed>.<colour>.<species>" keys, in the order the tutorial discusses them.
var animalKeys = []string{
	"quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox", "lazy.brown.fox", "lazy.pink.rabbit",
	"quick.brown.fox", "orange", "quick.orange.new.rabbit", "lazy.orange.new.rabbit",
}

// The tutorial's queues: Q1 bound with "*.orange.*", Q2 with "*.*.rabbit" and "lazy.#".
var (
	q1Bindings = []string{"*.orange.*"}
	q2Bindings = []string{"*.*.rabbit", "lazy.#"}
)

// workedExample runs the tutorial's example: Q1 and Q2 are two receive_logs_topic, and one probe queue
// per binding key (the test's own) tells which binding keys match each routing key. It sends each
// animal key once (tagged body) and returns what Q1 and Q2 got and the table the guide shows: per
// key and queue, the binding keys that match, or "-" when the queue did not get the message.
func workedExample(t *testing.T) (q1, q2 []string, table string) {
	t.Helper()
	tag := newTag()
	r1 := receive(t, nil, q1Bindings...)
	r2 := receive(t, nil, q2Bindings...)
	probes := probeQueues(t, append(slices.Clone(q1Bindings), q2Bindings...)...)

	for _, key := range animalKeys {
		emit(t, key, tag)
	}
	// The end mark, sent with a key both queues bind: each queue gets messages in the order the
	// (confirmed) sends were made, so once it is printed, all the others have been.
	emit(t, "lazy.orange.elephant", tag+" end")
	r1.WaitLine(":" + tag + " end")
	r2.WaitLine(":" + tag + " end")
	q1 = keysWithBody(interrupt(t, r1), tag)
	q2 = keysWithBody(interrupt(t, r2), tag)
	matches := probes.take(t, tag)

	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "routing key\tQ1 (%s)\tQ2 (%s)\n", strings.Join(q1Bindings, ", "), strings.Join(q2Bindings, ", "))
	for _, key := range animalKeys {
		fmt.Fprintf(w, "%s\t%s\t%s\n", key, cell(q1, key, q1Bindings, matches), cell(q2, key, q2Bindings, matches))
	}
	_ = w.Flush()
	return q1, q2, strings.TrimRight(b.String(), "\n")
}

// cell says what a queue bound with bindings did with the message sent with key: "-" if it did not
// get it, else the binding keys that match it (by the probes), and how many times it arrived when more
// than one binding matches.
func cell(got []string, key string, bindings []string, matches map[string][]string) string {
	n := 0
	for _, k := range got {
		if k == key {
			n++
		}
	}
	var matching []string
	for _, b := range bindings {
		if slices.Contains(matches[b], key) {
			matching = append(matching, b)
		}
	}
	switch {
	case n == 0 && len(matching) == 0:
		return "-"
	case n == 0:
		return "- (but " + strings.Join(matching, ", ") + " match)"
	case len(matching) > 1 && n == 1:
		return strings.Join(matching, ", ") + " (arrives once)"
	case n > 1:
		return fmt.Sprintf("%s (arrives %d times)", strings.Join(matching, ", "), n)
	}
	return strings.Join(matching, ", ")
}

// probes are queues of the test's own, one per binding key, bound to topic_logs.
type probes struct {
	ch     *amqp.Channel
	queues map[string]string // binding key to queue name
}

// probeQueues declares a server-named exclusive queue per binding key and binds it to topic_logs
// (declared as the tutorial does).
func probeQueues(t *testing.T, bindingKeys ...string) probes {
	t.Helper()
	ch := e2e.Channel(t)
	if err := ch.ExchangeDeclare("topic_logs", "topic", false, false, false, false, nil); err != nil {
		t.Fatalf("declare topic_logs: %v", err)
	}
	p := probes{ch: ch, queues: map[string]string{}}
	for _, b := range bindingKeys {
		q, err := ch.QueueDeclare("", false, false, true, false, nil)
		if err != nil {
			t.Fatalf("declare a probe queue: %v", err)
		}
		if err := ch.QueueBind(q.Name, b, "topic_logs", false, nil); err != nil {
			t.Fatalf("bind a probe queue with %q: %v", b, err)
		}
		p.queues[b] = q.Name
	}
	return p
}

// take empties the probe queues and returns, per binding key, the routing keys of the messages with
// body tag it got. Call it once the messages are confirmed: then they are in the queues.
func (p probes) take(t *testing.T, tag string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for b, q := range p.queues {
		for {
			m, ok, err := p.ch.Get(q, true)
			if err != nil {
				t.Fatalf("get from the probe queue for %q: %v", b, err)
			}
			if !ok {
				break
			}
			if string(m.Body) == tag {
				out[b] = append(out[b], m.RoutingKey)
			}
		}
	}
	return out
}

// The tutorial's worked example, exactly: where each of its nine keys ends up.
func TestWorkedExample(t *testing.T) {
	q1, q2, table := workedExample(t)
	if want := []string{"quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"}; !slices.Equal(q1, want) {
		t.Errorf("Q1 (*.orange.*) got %q, want %q", q1, want)
	}
	// lazy.pink.rabbit matches both of Q2's bindings, and arrives once.
	if want := []string{"quick.orange.rabbit", "lazy.orange.elephant", "lazy.brown.fox", "lazy.pink.rabbit", "lazy.orange.new.rabbit"}; !slices.Equal(q2, want) {
		t.Errorf("Q2 (*.*.rabbit, lazy.#) got %q, want %q", q2, want)
	}
	want := strings.Join([]string{
		"routing key              Q1 (*.orange.*)  Q2 (*.*.rabbit, lazy.#)",
		"quick.orange.rabbit      *.orange.*       *.*.rabbit",
		"lazy.orange.elephant     *.orange.*       lazy.#",
		"quick.orange.fox         *.orange.*       -",
		"lazy.brown.fox           -                lazy.#",
		"lazy.pink.rabbit         -                *.*.rabbit, lazy.# (arrives once)",
		"quick.brown.fox          -                -",
		"orange                   -                -",
		"quick.orange.new.rabbit  -                -",
		"lazy.orange.new.rabbit   -                lazy.#",
	}, "\n")
	if table != want {
		t.Errorf("the broker routes\n%s\nwant (the tutorial's text)\n%s", table, want)
	}
}

// A queue bound with "#" gets every message, whatever its key, the empty key included: the topic
// exchange then acts like a fanout exchange.
func TestHashGetsEverything(t *testing.T) {
	tag := newTag()
	r := receive(t, nil, "#")
	sent := append(slices.Clone(animalKeys), "", "kern.critical", tag+".a.b.c.d.e")
	for _, key := range sent {
		emit(t, key, tag)
	}
	emit(t, tag, tag+" end")
	r.WaitLine(" [x] " + tag + ":" + tag + " end")
	if got := keysWithBody(interrupt(t, r), tag); !slices.Equal(got, sent) {
		t.Errorf("the receiver bound with # got %q, want %q", got, sent)
	}
}

// Without "*" or "#", a topic exchange acts like a direct one; a message that matches two bindings of
// one queue arrives once; a key that matches no binding is dropped, and emit_log_topic warns on stderr.
func TestBindingsOfOneQueue(t *testing.T) {
	tag := newTag()
	r := receive(t, nil, tag+".kern.critical", tag+".kern.*", tag+".*.critical")
	emit(t, tag+".kern.critical", "all three match")
	emit(t, tag+".kern.info", "kern.* matches")
	emit(t, tag+".cron.critical", "*.critical matches")
	out, errOut, code := e2e.Run(t, "emit_log_topic", nil, tag+".cron.info", "none match")
	if code != 0 || out != " [x] Sent "+tag+".cron.info:none match" ||
		errOut != fmt.Sprintf("emit_log_topic: warning: no binding of \"topic_logs\" matches key %q, "+
			"so nobody got the message (312 NO_ROUTE)\n", tag+".cron.info") {
		t.Errorf("emit_log_topic with a key nobody bound: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	emit(t, tag+".kern.end", "end")
	r.WaitLine(":end")
	want := []string{
		tag + ".kern.critical:all three match", tag + ".kern.info:kern.* matches",
		tag + ".cron.critical:*.critical matches", tag + ".kern.end:end",
	}
	if got := interrupt(t, r); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// tutorialQuestions answers the questions the tutorial ends with, by asking the broker: a probe queue
// per binding key, and a message (tagged) per routing key. It returns the table the guide shows.
func tutorialQuestions(t *testing.T) string {
	t.Helper()
	cases := []struct{ binding, key string }{
		{"*", ""}, {"#.*", ".."}, {"#.*", "word"}, {"a.*.#", "a"}, {"a.#", "a"}, {"a.*.#", "a.b.c"}, {"a.#", "a.b.c"},
	}
	var bindings, keys []string
	for _, c := range cases {
		if !slices.Contains(bindings, c.binding) {
			bindings = append(bindings, c.binding)
		}
		if !slices.Contains(keys, c.key) {
			keys = append(keys, c.key)
		}
	}
	tag := newTag()
	probes := probeQueues(t, bindings...)
	for _, key := range keys {
		emit(t, key, tag)
	}
	got := probes.take(t, tag)

	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "binding key\trouting key\tdelivered?")
	for _, c := range cases {
		key, answer := c.key, "no"
		if key == "" {
			key = `"" (empty)`
		}
		if slices.Contains(got[c.binding], c.key) {
			answer = "yes"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", c.binding, key, answer)
	}
	_ = w.Flush()
	return strings.TrimRight(b.String(), "\n")
}

func TestTutorialQuestions(t *testing.T) {
	table := tutorialQuestions(t)
	want := strings.Join([]string{
		`binding key  routing key  delivered?`,
		`*            "" (empty)   no`,
		`#.*          ..           yes`,
		`#.*          word         yes`,
		`a.*.#        a            no`,
		`a.#          a            yes`,
		`a.*.#        a.b.c        yes`,
		`a.#          a.b.c        yes`,
	}, "\n")
	if table != want {
		t.Errorf("the broker answers\n%s\nwant\n%s", table, want)
	}
}

// The defaults: routing key anonymous.info, message "Hello World!". "--" ends the flags.
func TestDefaultsAndDashDash(t *testing.T) {
	// The default key is shared: on a broker where others listen to it, they get our Hello World! too,
	// as they would from the tutorial's program.
	r := receive(t, nil, "anonymous.info", "-h")
	out, errOut, code := e2e.Run(t, "emit_log_topic", nil)
	if code != 0 || out != " [x] Sent anonymous.info:Hello World!" || errOut != "" {
		t.Fatalf("emit_log_topic: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	body := "dash " + newTag()
	out, errOut, code = e2e.Run(t, "emit_log_topic", nil, "--", "-h", body)
	if code != 0 || out != " [x] Sent -h:"+body || errOut != "" {
		t.Fatalf("emit_log_topic -- -h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	r.WaitLine(" [x] -h:" + body)
	if got := interrupt(t, r); !slices.Contains(got, "anonymous.info:Hello World!") {
		t.Errorf("receive_logs_topic anonymous.info -h printed %q, want the default message among them", got)
	}
}

func TestHelpUsageAndBadArguments(t *testing.T) {
	e2e.CheckHelp(t, "emit_log_topic", "receive_logs_topic")
	long := strings.Repeat("k.", 128)
	e2e.CheckBadArgs(t,
		e2e.BadArgs{Program: "receive_logs_topic", Want: `no binding key given. Usage: receive_logs_topic [-prefetch 100] binding-key...`},
		e2e.BadArgs{Program: "receive_logs_topic", Args: []string{"-prefetch", "5"}, Want: "no binding key given"},
		e2e.BadArgs{Program: "receive_logs_topic", Args: []string{"#", long}, Want: "a binding key is 256 bytes long: it may be at most 255 bytes"},
		e2e.BadArgs{Program: "emit_log_topic", Args: []string{long, "too long"}, Want: "the routing key is 256 bytes long: it may be at most 255 bytes"},
		e2e.BadArgs{Program: "emit_log_topic", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
		e2e.BadArgs{Program: "emit_log_topic", Args: []string{"-timeout", "soon"}, Want: "invalid value"},
		e2e.BadArgs{Program: "receive_logs_topic", Args: []string{"-bogus", "#"}, Want: "flag provided but not defined: -bogus"},
		e2e.BadArgs{Program: "receive_logs_topic", Args: []string{"-prefetch", "0", "#"}, Want: "-prefetch must be from 1 to 65535"},
		e2e.BadArgs{Program: "receive_logs_topic", Args: []string{"-prefetch", "65536", "#"}, Want: "-prefetch must be from 1 to 65535"},
	)
	// A key of exactly 255 bytes is fine.
	longest := newTag() + "." + strings.Repeat("k.", 100)
	longest += strings.Repeat("k", 255-len(longest))
	r := receive(t, nil, longest)
	emit(t, longest, "longest key")
	r.WaitLine(" [x] " + longest + ":longest key")
	interrupt(t, r)
}

func TestBadInput(t *testing.T) {
	e2e.CheckBadURLs(t, []string{"emit_log_topic", "receive_logs_topic"}, "kern.*")
}

// A "topic_logs" declared with other properties (here: a direct exchange) is refused by the broker, and
// both programs say so in one line, naming the exchange and the property. The test only ever deletes
// a "topic_logs" declared as the tutorial declares it with nothing bound to it, which any program
// recreates as it was; otherwise it leaves the exchange alone and skips.
func TestExchangeDeclaredOtherwise(t *testing.T) {
	e2e.FreshExchange(t, "topic_logs", "topic")
	if err := e2e.Channel(t).ExchangeDeclare("topic_logs", "direct", false, false, false, false, nil); err != nil {
		t.Fatalf("declare a direct topic_logs: %v", err)
	}
	for _, prog := range []string{"emit_log_topic", "receive_logs_topic"} {
		out, errOut, code := e2e.Run(t, prog, nil, "kern.*")
		e2e.CheckCleanError(t, errOut, code)
		if !strings.HasPrefix(errOut, prog+`: exchange "topic_logs" exists with other properties`) ||
			!strings.HasSuffix(errOut, "): delete it, or declare it as it was first declared\n") ||
			!strings.Contains(errOut, "inequivalent arg 'type'") || out != "" {
			t.Errorf("%s: stdout %q, stderr %q", prog, out, errOut)
		}
	}
}

// A broker under a resource alarm blocks publishers: no confirm comes, and once -timeout has passed
// emit_log_topic names the block as the reason in one line, and exits 1.
func TestBlockedBroker(t *testing.T) {
	p := e2e.NewProxy(t)
	p.Block("low on memory")
	start := time.Now()
	out, errOut, code := e2e.Run(t, "emit_log_topic", p.Env(), "-timeout", "2s", newTag()+".info", "held")
	if took := time.Since(start); took < 2*time.Second || took > 20*time.Second {
		t.Errorf("emit_log_topic exited after %s, want its -timeout (2s), then the bounded close", took)
	}
	e2e.CheckCleanError(t, errOut, code)
	if want := "emit_log_topic: the broker is blocking publishers (low on memory): no confirm within 2s\n"; out != "" || errOut != want {
		t.Errorf("stdout %q, stderr %q; want nothing, and %q", out, errOut, want)
	}
}

// A receiver whose connection is lost exits 1 saying so in one line, in rabbit.Ended's words;
// its queue goes away.
func TestReceiverConnectionLost(t *testing.T) {
	p := e2e.NewProxy(t)
	r := receive(t, p.Env(), newTag()+".#")
	e2e.CheckConnectionLost(t, r, p)
	q := p.Queues()[0]
	e2e.WaitFor(t, "queue "+q+" to go away", func() bool {
		_, err := e2e.Channel(t).QueueDeclarePassive(q, false, false, false, false, nil)
		var aerr *amqp.Error
		return errors.As(err, &aerr) && aerr.Code == amqp.NotFound
	})
}

// The connection is lost while emit_log_topic waits for its confirm (its message has reached a
// receiver): it says so, and never that the broker blocks publishers.
func TestEmitLostAtConfirm(t *testing.T) {
	key := newTag() + ".held"
	r := receive(t, nil, key)
	proxy := e2e.NewProxy(t)
	p := e2e.Start(t, "emit_log_topic", e2e.StallAtConfirmSelect(t, proxy), "-timeout", "1h", key, "confirm held")
	r.WaitLine(" [x] " + key + ":confirm held")
	e2e.CheckLostAtConfirm(t, p, proxy)
	interrupt(t, r)
}

// The broker never confirms (the proxy holds all it sends after confirm.select-ok): emit_log_topic gives
// up after -timeout, in one line that neither calls the broker blocking nor the connection lost, and exits 1.
func TestEmitTimeout(t *testing.T) {
	proxy := e2e.NewProxy(t)
	out, errOut, code := e2e.Run(t, "emit_log_topic", e2e.StallAtConfirmSelect(t, proxy), "-timeout", "1s", newTag()+".info", "unconfirmed")
	e2e.CheckCleanError(t, errOut, code)
	if want := "emit_log_topic: no confirm from the broker within 1s (it may or may not be in the queue)\n"; code != 1 || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
}

// A second Ctrl+C ends a receiver whose close waits for a broker that does not answer.
func TestReceiverSecondCtrlC(t *testing.T) {
	proxy := e2e.NewProxy(t)
	r := receive(t, proxy.Env(), newTag()+".#")
	e2e.CheckSecondCtrlC(t, r, proxy)
}

// The official Python tutorial's programs (pika), declaring "topic_logs" exactly as they do, work with
// ours both ways: same exchange name, type and properties, plain text bodies.
func TestInteropWithPika(t *testing.T) {
	python := e2e.PythonWithPika(t)
	pyEnv := append(os.Environ(), "AMQP_URL="+e2e.URL())

	t.Run("emit_log_topic.py to our receive_logs_topic", func(t *testing.T) {
		tag := newTag()
		r := receive(t, nil, tag+".kern.*", "*."+tag+".critical")
		for _, key := range []string{tag + ".kern.critical", tag + ".cron.critical", "x." + tag + ".critical"} {
			py := exec.Command(python, "-c", pikaEmitLogTopic, key, "from", "pika")
			py.Env = pyEnv
			if out, err := py.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "[x] Sent "+key+":from pika" {
				t.Fatalf("pika emit_log_topic: %v\n%s", err, out)
			}
		}
		r.WaitLine(" [x] x." + tag + ".critical:from pika")
		want := []string{tag + ".kern.critical:from pika", "x." + tag + ".critical:from pika"}
		if got := interrupt(t, r); !slices.Equal(got, want) {
			t.Errorf("receive_logs_topic printed %q, want %q", got, want)
		}
	})

	t.Run("our emit_log_topic to receive_logs_topic.py", func(t *testing.T) {
		tag := newTag()
		next := e2e.StartPython(t, python, pyEnv, pikaReceiveLogsTopic, "2", tag+".#", "*."+tag)
		if line := next(); line != waiting {
			t.Fatalf("pika receive_logs_topic printed %q, want %q", line, waiting)
		}
		emit(t, "x.y."+tag, "to pika") // matches neither binding
		emit(t, tag+".kern.critical", "to pika")
		emit(t, "kern."+tag, "to pika")
		for _, key := range []string{tag + ".kern.critical", "kern." + tag} {
			if line, want := next(), " [x] "+key+":to pika"; line != want {
				t.Errorf("pika receive_logs_topic printed %q, want %q", line, want)
			}
		}
	})
}

// pikaEmitLogTopic is the official Python tutorial's emit_log_topic.py, with the broker from AMQP_URL.
const pikaEmitLogTopic = `
import os, sys, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()
channel.exchange_declare(exchange="topic_logs", exchange_type="topic")
routing_key = sys.argv[1] if len(sys.argv) > 2 else "anonymous.info"
message = " ".join(sys.argv[2:]) or "Hello World!"
channel.basic_publish(exchange="topic_logs", routing_key=routing_key, body=message)
print(f"[x] Sent {routing_key}:{message}")
connection.close()
`

// pikaReceiveLogsTopic is the official Python tutorial's receive_logs_topic.py, with the broker from
// AMQP_URL, stopping after the number of messages given first.
const pikaReceiveLogsTopic = `
import os, sys, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()
channel.exchange_declare(exchange="topic_logs", exchange_type="topic")
result = channel.queue_declare(queue="", exclusive=True)
queue_name = result.method.queue
count, binding_keys = int(sys.argv[1]), sys.argv[2:]
for binding_key in binding_keys:
    channel.queue_bind(exchange="topic_logs", queue=queue_name, routing_key=binding_key)
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
