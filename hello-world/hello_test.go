// End-to-end tests of the Hello World programs: real processes against the real broker.
package helloworld_test

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "hello-world/send", "hello-world/receive"))
}

// unique makes a message body no other test (or earlier run) has sent.
func unique(t *testing.T) string {
	return fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
}

func TestSendThenReceive(t *testing.T) {
	e2e.DeleteQueue(t, "hello")

	recv := e2e.Start(t, "receive", nil)
	recv.WaitLine(" [*] Waiting for messages. To exit press CTRL+C")

	body := unique(t)
	out, errOut, code := e2e.Run(t, "send", nil, body)
	if code != 0 || out != " [x] Sent "+body {
		t.Fatalf("send: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	recv.WaitLine(" [x] Received " + body)

	// Ctrl+C: a clean stop, exit 0, nothing on stderr.
	recv.Interrupt()
	if code := recv.Wait(); code != 0 {
		t.Fatalf("receive exit code after SIGINT = %d, want 0; stderr: %s", code, recv.Stderr())
	}
	if s := recv.Stderr(); s != "" {
		t.Errorf("receive wrote to stderr: %q", s)
	}
	// auto-ack: the message left the queue when it was delivered.
	if n, _ := e2e.QueueCounts(t, "hello"); n != 0 {
		t.Errorf("queue hello holds %d messages after receive, want 0", n)
	}
}

func TestSendDefaultBodyIsStored(t *testing.T) {
	e2e.DeleteQueue(t, "hello")

	out, errOut, code := e2e.Run(t, "send", nil)
	if code != 0 || out != " [x] Sent Hello World!" {
		t.Fatalf("send: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Declaring "hello" the tutorial's way (not durable, no arguments) must succeed: send declared it so.
	ch := e2e.Channel(t)
	if _, err := ch.QueueDeclare("hello", false, false, false, false, nil); err != nil {
		t.Fatalf("hello is not declared as the tutorial declares it: %v", err)
	}
	msg, ok, err := ch.Get("hello", true)
	if err != nil || !ok {
		t.Fatalf("get from hello: ok=%v err=%v", ok, err)
	}
	if string(msg.Body) != "Hello World!" || msg.ContentType != "text/plain" {
		t.Errorf("stored message: body %q, content type %q", msg.Body, msg.ContentType)
	}
}

func TestReceiveSIGTERMExitsZero(t *testing.T) {
	recv := e2e.Start(t, "receive", nil)
	recv.WaitLine(" [*] Waiting for messages")
	recv.Signal(syscall.SIGTERM)
	if code := recv.Wait(); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0; stderr: %s", code, recv.Stderr())
	}
}

func TestReceiveQueueDeletedUnderIt(t *testing.T) {
	recv := e2e.Start(t, "receive", nil)
	recv.WaitLine(" [*] Waiting for messages")
	e2e.DeleteQueue(t, "hello")
	code := recv.Wait()
	e2e.CheckCleanError(t, recv.Stderr(), code)
	if !strings.Contains(recv.Stderr(), "cancelled the consumer") {
		t.Errorf("stderr does not say the consumer was cancelled: %q", recv.Stderr())
	}
}

func TestReceiveBrokerStoppedUnderIt(t *testing.T) {
	e2e.EnsureBroker(t)
	recv := e2e.Start(t, "receive", nil)
	recv.WaitLine(" [*] Waiting for messages")

	e2e.Broker(t, "stop")
	code := recv.Wait()
	e2e.Broker(t, "start")

	e2e.CheckCleanError(t, recv.Stderr(), code)
	if !strings.Contains(recv.Stderr(), "connection to broker lost") {
		t.Errorf("stderr does not give the reason: %q", recv.Stderr())
	}
}

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
		{"not amqp", "http://guest:" + secret + "@localhost/", "not a valid AMQP URL"},
		{"wrong password", e2e.BrokerURL(t, func(u *url.URL) { u.User = url.UserPassword("guest", secret) }),
			"wrong user name or password"},
		{"missing vhost", e2e.BrokerURL(t, func(u *url.URL) { u.Path = "/no-such-vhost" }), "virtual host does not exist"},
	}
	for _, c := range cases {
		for _, prog := range []string{"send", "receive"} {
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

// The tutorial's own Python programs (pika, as in the seed text) and ours must work together both ways:
// same queue name and properties, plain bodies.
func TestInteropWithPika(t *testing.T) {
	python := e2e.PythonWithPika(t)
	u, err := url.Parse(broker.URL())
	if err != nil {
		t.Fatal(err)
	}
	pyEnv := []string{"AMQP_URL=" + u.String()}

	t.Run("pika send.py to our receive", func(t *testing.T) {
		e2e.DeleteQueue(t, "hello")
		recv := e2e.Start(t, "receive", nil)
		recv.WaitLine(" [*] Waiting for messages")
		body := unique(t)
		py := exec.Command(python, "-c", pikaSend, body)
		py.Env = append(os.Environ(), pyEnv...)
		if out, err := py.CombinedOutput(); err != nil {
			t.Fatalf("pika send: %v\n%s", err, out)
		}
		recv.WaitLine(" [x] Received " + body)
		recv.Interrupt()
		if code := recv.Wait(); code != 0 {
			t.Fatalf("receive exit %d", code)
		}
	})

	t.Run("our send to pika receive.py", func(t *testing.T) {
		e2e.DeleteQueue(t, "hello")
		body := unique(t)
		if _, errOut, code := e2e.Run(t, "send", nil, body); code != 0 {
			t.Fatalf("send: %s", errOut)
		}
		py := exec.Command(python, "-c", pikaReceiveOne)
		py.Env = append(os.Environ(), pyEnv...)
		out, err := py.CombinedOutput()
		if err != nil {
			t.Fatalf("pika receive: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "[x] Received "+body {
			t.Errorf("pika printed %q", got)
		}
	})
}

// pikaSend is the seed's send.py, reading the URL from AMQP_URL.
const pikaSend = `
import os, sys, pika
conn = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
ch = conn.channel()
ch.queue_declare(queue="hello")
ch.basic_publish(exchange="", routing_key="hello", body=sys.argv[1])
conn.close()
`

// pikaReceiveOne is the seed's receive.py, stopping after one message.
const pikaReceiveOne = `
import os, pika
conn = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
ch = conn.channel()
ch.queue_declare(queue="hello")
def callback(ch, method, properties, body):
    print("[x] Received " + body.decode())
    ch.stop_consuming()
ch.basic_consume(queue="hello", on_message_callback=callback, auto_ack=True)
ch.start_consuming()
conn.close()
`

// A "hello" queue that someone declared otherwise (here: durable) cannot be used as the tutorial
// declares it: both programs say so in one line, with the fix.
func TestQueueDeclaredOtherwise(t *testing.T) {
	e2e.DeleteQueue(t, "hello")
	if _, err := e2e.Channel(t).QueueDeclare("hello", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e2e.DeleteQueue(t, "hello") })
	for _, prog := range []string{"send", "receive"} {
		_, errOut, code := e2e.Run(t, prog, nil)
		e2e.CheckCleanError(t, errOut, code)
		if !strings.Contains(errOut, `queue "hello" already exists with other properties`) ||
			!strings.Contains(errOut, "inequivalent arg 'durable'") || !strings.Contains(errOut, "rabbitmqctl delete_queue hello") {
			t.Errorf("%s: stderr = %q", prog, errOut)
		}
	}
}
