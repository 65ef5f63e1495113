// End-to-end tests of the Hello World programs: real processes against the real broker at AMQP_URL (any
// broker, vhost and user: faults are made by the test proxy, never with rabbitmqctl).
package helloworld_test

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "hello-world/send", "hello-world/receive"))
}

const waiting = " [*] Waiting for messages. To exit press CTRL+C"

// quorum is how the tutorials declare "hello" today, in every language.
var quorum = amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}

// unique makes a message body no other test (or earlier run) has sent.
func unique(t *testing.T) string {
	return fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
}

// sent runs send with args and checks that it printed " [x] Sent <want>" and nothing else.
func sent(t *testing.T, env []string, want string, args ...string) {
	t.Helper()
	out, errOut, code := e2e.Run(t, "send", env, args...)
	if code != 0 || out != " [x] Sent "+want || errOut != "" {
		t.Fatalf("send %q: exit %d, stdout %q, stderr %q; want exit 0, %q", args, code, out, errOut, " [x] Sent "+want)
	}
}

// messages is the number of ready messages in "hello".
func messages(t *testing.T) int {
	t.Helper()
	n, _ := e2e.QueueCounts(t, "hello")
	return n
}

// interrupted sends Ctrl+C to a running receive and checks the clean stop: exit 0, nothing on stderr.
func interrupted(t *testing.T, recv *e2e.Proc) {
	t.Helper()
	recv.Interrupt()
	if code := recv.Wait(); code != 0 || recv.Stderr() != "" {
		t.Fatalf("receive after Ctrl+C: exit %d, stderr %q; want exit 0, nothing", code, recv.Stderr())
	}
}

func TestSendThenReceive(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	recv := e2e.Start(t, "receive", nil)
	recv.WaitLine(waiting)

	body := unique(t)
	sent(t, nil, "Hello World!")
	sent(t, nil, body+" and more words", body, "and", "more", "words")
	recv.WaitLine(" [x] Received Hello World!")
	recv.WaitLine(" [x] Received " + body + " and more words")
	interrupted(t, recv)

	// Auto-ack: the messages left the queue when they were delivered. And "hello" is what the tutorials
	// declare today: declaring it durable and quorum again is accepted (a mismatch would be a 406).
	if n := messages(t); n != 0 {
		t.Errorf("hello holds %d messages after receive, want 0", n)
	}
	if _, err := e2e.Channel(t).QueueDeclare("hello", true, false, false, false, quorum); err != nil {
		t.Errorf("hello is not a durable quorum queue: %v", err)
	}
}

// The messages sent while no receive runs wait in the queue, and a receive started later gets them all,
// in order.
func TestReceiveAfterSend(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	base := unique(t)
	bodies := []string{base + "-1", base + "-2", base + "-3"}
	for _, b := range bodies {
		sent(t, nil, b, b)
	}
	if n := messages(t); n != len(bodies) {
		t.Fatalf("hello holds %d messages, want %d", n, len(bodies))
	}

	recv := e2e.Start(t, "receive", nil)
	recv.WaitLine(waiting)
	for _, b := range bodies {
		recv.WaitLine(" [x] Received " + b)
	}
	interrupted(t, recv)
	if got := recv.Stdout(); strings.Count(got, " [x] Received ") != len(bodies) {
		t.Errorf("receive printed:\n%s\nwant each message once", got)
	}
}

func TestReceiveSIGTERMExitsZero(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	recv := e2e.Start(t, "receive", nil)
	recv.WaitLine(waiting)
	recv.Signal(syscall.SIGTERM)
	if code := recv.Wait(); code != 0 || recv.Stderr() != "" {
		t.Fatalf("exit code after SIGTERM = %d, stderr %q; want 0, nothing", code, recv.Stderr())
	}
}

// The official tutorial's Python programs (pika), as they are today, and ours work together both ways:
// same queue, same properties (durable, quorum), plain bodies. The only change to them: the broker's URL
// comes from AMQP_URL instead of localhost, and receive.py stops after one message.
func TestInteropWithPython(t *testing.T) {
	python := e2e.PythonWithPika(t)
	pyEnv := append(os.Environ(), "AMQP_URL="+rabbit.URL())

	t.Run("send.py then our receive", func(t *testing.T) {
		e2e.FreshQueue(t, "hello")
		body := unique(t)
		py := exec.Command(python, "-c", pySend, body)
		py.Env = pyEnv
		if out, err := py.CombinedOutput(); err != nil || string(out) != " [x] Sent '"+body+"'\n" {
			t.Fatalf("send.py: %v\n%s", err, out)
		}
		recv := e2e.Start(t, "receive", nil)
		recv.WaitLine(waiting)
		recv.WaitLine(" [x] Received " + body)
		interrupted(t, recv)
	})

	t.Run("our send then receive.py", func(t *testing.T) {
		e2e.FreshQueue(t, "hello")
		body := unique(t)
		sent(t, nil, body, body)
		py := exec.Command(python, "-c", pyReceiveOne)
		py.Env = pyEnv
		out, err := py.CombinedOutput()
		if want := waiting + "\n [x] Received b'" + body + "'\n"; err != nil || string(out) != want {
			t.Errorf("receive.py: %v; printed\n%s\nwant\n%s", err, out, want)
		}
	})
}

// pySend is the official tutorial's send.py, today, with the URL from AMQP_URL and the body from argv.
const pySend = `
import os, sys, pika

connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()

channel.queue_declare(queue="hello", durable=True, arguments={"x-queue-type": "quorum"})

channel.basic_publish(exchange="", routing_key="hello", body=sys.argv[1])
print(" [x] Sent %r" % sys.argv[1])

connection.close()
`

// pyReceiveOne is the official tutorial's receive.py, today, with the URL from AMQP_URL, stopping after
// one message.
const pyReceiveOne = `
import os, pika

connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()

channel.queue_declare(queue="hello", durable=True, arguments={"x-queue-type": "quorum"})

def callback(ch, method, properties, body):
    print(" [x] Received %r" % body)
    ch.stop_consuming()

channel.basic_consume(queue="hello", on_message_callback=callback, auto_ack=True)

print(" [*] Waiting for messages. To exit press CTRL+C")
channel.start_consuming()
connection.close()
`

// -h and --help print Go's flag usage and exit 0, publishing nothing; a bad flag or value is the flag
// package's error and exit 2, publishing nothing; "--" ends the flags, so `send -- --help` sends "--help".
func TestFlags(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	if _, err := e2e.Channel(t).QueueDeclare("hello", true, false, false, false, quorum); err != nil {
		t.Fatal(err)
	}
	e2e.CheckHelp(t, "send", "receive")
	if out, errOut, code := e2e.Run(t, "send", nil, "-timeout", "1s", "-help", "words"); code != 0 || out != "" ||
		!strings.HasPrefix(errOut, "Usage of ") || !strings.Contains(errOut, "-timeout duration") {
		t.Errorf("send -timeout 1s -help words: exit %d, stdout %q, stderr %q; want exit 0 and the usage", code, out, errOut)
	}
	e2e.CheckBadArgs(t,
		e2e.BadArgs{Program: "send", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
		e2e.BadArgs{Program: "send", Args: []string{"-timeout", "soon"}, Want: `invalid value "soon" for flag -timeout`},
		e2e.BadArgs{Program: "receive", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
	)
	if n := messages(t); n != 0 {
		t.Fatalf("hello holds %d messages after -h, --help and bad flags, want 0", n)
	}

	sent(t, nil, "--help", "--", "--help")
	msg, ok, err := e2e.Channel(t).Get("hello", true)
	if err != nil || !ok || string(msg.Body) != "--help" || msg.ContentType != "text/plain" {
		t.Errorf("after send -- --help, hello holds: ok %v, err %v, body %q, content type %q", ok, err, msg.Body, msg.ContentType)
	}
}

// Every bad setting is one line on stderr, exit 1, no stack trace, and never any part of the password:
// a broker that is down, a malformed URL, another scheme, a wrong password (e2e.CheckBadURLs), and a
// vhost that does not exist.
func TestBadInput(t *testing.T) {
	e2e.CheckBadURLs(t, []string{"send", "receive"})
	for _, prog := range []string{"send", "receive"} {
		url := e2e.BrokerURL(t, func(u *url.URL) { u.Path = "/no-such-vhost" })
		out, errOut, code := e2e.Run(t, prog, []string{"AMQP_URL=" + url})
		e2e.CheckCleanError(t, errOut, code)
		if want := "not allowed: the vhost does not exist"; !strings.HasPrefix(errOut, prog+": ") || !strings.Contains(errOut, want) || out != "" {
			t.Errorf("%s with a missing vhost: stdout %q, stderr %q; want nothing, and %q", prog, out, errOut, want)
		}
	}
}

// A "hello" that an older program (or an older version of these) declared as a classic queue cannot be
// declared as a quorum queue: RabbitMQ refuses (406) and changes nothing. Both programs say so in one
// line, with the fix. The queue is made durable: RabbitMQ 4.3 refuses a transient one outright.
func TestQueueDeclaredClassic(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	if _, err := e2e.Channel(t).QueueDeclare("hello", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{"send", "receive"} {
		out, errOut, code := e2e.Run(t, prog, nil)
		e2e.CheckCleanError(t, errOut, code)
		if out != "" || !strings.HasPrefix(errOut, prog+`: queue "hello" exists with other properties (PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'hello' in vhost '`) ||
			!strings.HasSuffix(errOut, "): delete it, or declare it as it was first declared\n") {
			t.Errorf("%s: stdout %q, stderr %q", prog, out, errOut)
		}
	}
	if n := messages(t); n != 0 {
		t.Errorf("the classic hello holds %d messages, want 0", n)
	}
}

// The broker blocks publishers (a memory or disk alarm, played by the proxy: it sends connection.blocked
// and reads nothing more). send waits its -timeout for the confirm, then names the block as the reason,
// publishes nothing, and exits with a bounded close although the broker never answers it. (The close
// takes 5 to 10s, not 5: each heartbeat the broker still sends pushes amqp091-go's read deadline back,
// and the close ends when the library's next heartbeat write fails on the deadline.)
func TestSendBlocked(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	proxy := e2e.NewProxy(t)
	proxy.Block("low on memory")
	began := time.Now()
	out, errOut, code := e2e.Run(t, "send", proxy.Env(), "-timeout", "2s")
	if took := time.Since(began); took < 2*time.Second || took > 20*time.Second {
		t.Errorf("send exited after %s, want its -timeout (2s), then the bounded close", took)
	}
	e2e.CheckCleanError(t, errOut, code)
	if want := "send: the broker is blocking publishers (low on memory): no confirm within 2s\n"; out != "" || errOut != want {
		t.Errorf("stdout %q, stderr %q; want nothing, and %q", out, errOut, want)
	}
	if n := messages(t); n != 0 {
		t.Errorf("hello holds %d messages, want 0 (the publish was held)", n)
	}
}

// atConfirm starts send with args, left waiting for its confirm (e2e.StallAtConfirmSelect: what the
// broker sends after confirm.select-ok is held), waits until its message is in hello, then calls during,
// waits for send to exit and returns its exit code and how long that took.
func atConfirm(t *testing.T, during func(*e2e.Proc, *e2e.Proxy), args ...string) (p *e2e.Proc, proxy *e2e.Proxy, code int, took time.Duration) {
	t.Helper()
	proxy = e2e.NewProxy(t)
	p = e2e.Start(t, "send", e2e.StallAtConfirmSelect(t, proxy), args...)
	e2e.WaitFor(t, "send to declare hello", func() bool { return slices.Contains(proxy.Queues(), "hello") })
	e2e.WaitFor(t, "the message in hello", func() bool { return messages(t) == 1 })
	began := time.Now()
	during(p, proxy)
	code = p.Wait()
	return p, proxy, code, time.Since(began)
}

// The broker stops answering (the proxy holds back all it sends, confirms and close-ok included): send
// gives up after its -timeout, says the message may or may not be in the queue, and exits within its
// bounded close. The queue does hold it: the broker got it, only its confirm was lost.
func TestSendNoConfirm(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	p, proxy, code, took := atConfirm(t, func(*e2e.Proc, *e2e.Proxy) {}, "-timeout", "1s")
	if took > 15*time.Second {
		t.Errorf("send exited %s after the stall, want about 1s (-timeout) + 5s (close)", took)
	}
	e2e.CheckCleanError(t, p.Stderr(), code)
	if want := "send: no confirm from the broker within 1s (it may or may not be in the queue)\n"; p.Stdout() != "" || p.Stderr() != want {
		t.Fatalf("stdout %q, stderr %q; want nothing, and %q", p.Stdout(), p.Stderr(), want)
	}
	proxy.Resume()
	if n := messages(t); n != 1 {
		t.Errorf("hello holds %d messages, want 1", n)
	}
}

// Ctrl+C while send waits for its confirm: it stops waiting at once, says so, and exits within its
// bounded close (the broker still does not answer), not after its -timeout.
func TestSendInterrupted(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	p, _, code, took := atConfirm(t, func(p *e2e.Proc, _ *e2e.Proxy) { p.Interrupt() }, "-timeout", "1m")
	if took > 15*time.Second {
		t.Errorf("send exited %s after Ctrl+C, want about 5s (its close)", took)
	}
	e2e.CheckCleanError(t, p.Stderr(), code)
	if want := "send: interrupted before the broker confirmed the message (it may or may not be in the queue)\n"; p.Stdout() != "" || p.Stderr() != want {
		t.Errorf("stdout %q, stderr %q; want nothing, and %q", p.Stdout(), p.Stderr(), want)
	}
}

// The connection is lost while send waits for its confirm (the proxy cuts it, as a network failure or a
// broker crash would): send says the connection was lost, with the library's reason, and that the
// message may or may not be in the queue; never that the broker blocks publishers (the library closes
// the blocked notifications with the connection). Five times: which of the closes send sees first
// varies.
func TestSendConnectionLost(t *testing.T) {
	for try := range 5 {
		t.Run(fmt.Sprint(try), func(t *testing.T) {
			e2e.FreshQueue(t, "hello")
			p, _, _, _ := atConfirm(t, func(p *e2e.Proc, proxy *e2e.Proxy) { e2e.CheckLostAtConfirm(t, p, proxy) }, "-timeout", "1m")
			if !strings.HasSuffix(p.Stderr(), " before it confirmed the message (it may or may not be in the queue)\n") {
				t.Errorf("stderr %q, want the message may or may not be in the queue", p.Stderr())
			}
		})
	}
}

// send stuck connecting to a broker that does not answer (amqp091-go's dial takes no context, so the
// first Ctrl+C cannot end it; it ends at the dial timeout, 10s): a second Ctrl+C ends it at once, with
// exit status 130.
func TestSendSecondCtrlC(t *testing.T) {
	proxy := e2e.NewProxy(t)
	proxy.Stall()
	p := e2e.Start(t, "send", proxy.Env())
	e2e.WaitFor(t, "a connection through the proxy", func() bool { return proxy.Connections() > 0 })
	e2e.CheckSecondCtrlC(t, p, proxy)
}

// receive stopping on Ctrl+C while the broker does not answer: its close waits up to 5s for the broker.
// A second Ctrl+C ends it at once, with exit status 130.
func TestReceiveSecondCtrlC(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	proxy := e2e.NewProxy(t)
	recv := e2e.Start(t, "receive", proxy.Env())
	recv.WaitLine(waiting)
	e2e.CheckSecondCtrlC(t, recv, proxy)
}

// The connection is lost under receive (the proxy cuts it, as a network failure or a broker crash
// would): receive exits 1 and says so in one line.
func TestReceiveConnectionLost(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	proxy := e2e.NewProxy(t)
	recv := e2e.Start(t, "receive", proxy.Env())
	recv.WaitLine(waiting)
	e2e.CheckConnectionLost(t, recv, proxy)
}

// The queue is deleted under receive: the broker cancels the consumer, and receive exits 1 saying so.
func TestReceiveQueueDeleted(t *testing.T) {
	e2e.FreshQueue(t, "hello")
	recv := e2e.Start(t, "receive", nil)
	recv.WaitLine(waiting)
	e2e.DeleteQueue(t, "hello")
	code := recv.Wait()
	e2e.CheckCleanError(t, recv.Stderr(), code)
	// An auto-ack consumer holds no message waiting for its acknowledgement: the consumer timeout,
	// which the worker of Work Queues names too, cannot be why.
	if want := "receive: the broker cancelled our consumer: queue \"hello\" was deleted\n"; recv.Stderr() != want {
		t.Errorf("stderr %q, want %q", recv.Stderr(), want)
	}
}
