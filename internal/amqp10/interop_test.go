package amqp10_test

import (
	"strings"
	"testing"
)

// Hello World: the queue hello is a durable quorum queue on both sides, the body a plain data section,
// so each side receives what the other sends, whichever declared the queue first.
func TestHelloWorld(t *testing.T) {
	needAMQP10(t)
	t.Run("their send, our receive", func(t *testing.T) {
		freshQueue(t, "hello")
		body := unique(t, "hello")
		mustRun(t, " [x] Sent "+body, "peer", "send", body)
		recv := start(t, "receive")
		recv.waitLine(" [*] Waiting for messages. To exit press CTRL+C")
		recv.waitLine(" [x] Received " + body)
		recv.stop()
		if n := messages(t, "hello"); n != 0 {
			t.Errorf("hello holds %d messages, want 0", n)
		}
	})
	t.Run("our send, their receive", func(t *testing.T) {
		freshQueue(t, "hello")
		body := unique(t, "hello")
		mustRun(t, " [x] Sent "+body, "send", body)
		recv := start(t, "peer", "receive")
		recv.waitLine(" [*] Waiting for messages. To exit press CTRL+C")
		recv.waitLine(" [x] Received " + body)
		recv.stop()
		if n := messages(t, "hello"); n != 0 {
			t.Errorf("hello holds %d messages, want 0", n)
		}
	})
}

// Work Queues: task_queue is a durable quorum queue on both sides; each worker takes a task, works a
// second for its dot, and settles it, so nothing is left in the queue.
func TestWorkQueues(t *testing.T) {
	needAMQP10(t)
	for _, c := range []struct{ name, newTask, worker string }{
		{"their new_task, our worker", "peer", "worker"},
		{"our new_task, their worker", "new_task", "peer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			freshQueue(t, "task_queue")
			task := unique(t, "task") + "."
			mustRun(t, " [x] Sent "+task, c.newTask, args(c.newTask, "new_task", task)...)
			w := start(t, c.worker, args(c.worker, "worker")...)
			w.waitLine(" [*] Waiting for messages. To exit press CTRL+C")
			w.waitLine(" [x] Received " + task)
			w.waitLine(" [x] Done")
			w.stop()
			if n := messages(t, "task_queue"); n != 0 {
				t.Errorf("task_queue holds %d messages, want 0", n)
			}
		})
	}
}

// args is the command line of a program: the peer takes the official program's name first.
func args(bin, prog string, rest ...string) []string {
	if bin == "peer" {
		return append([]string{prog}, rest...)
	}
	return rest
}

// RPC: an AMQP 1.0 requester puts its request id in the message-id and matches the reply's
// correlation-id; an AMQP 0-9-1 caller (ours, the official ones in other languages) sets both. So the
// AMQP 1.0 responder answers ours, and our server answers an AMQP 1.0 requester when it replies with the
// request's correlation_id, or its message_id when it has none. The broker carries the id across both
// ways: a string as the same string, an AMQP 1.0 uuid as "urn:uuid:<uuid>" in AMQP 0-9-1 and back as
// the uuid.
//
// The reply goes to the request's reply-to. RabbitMQ 4.2 and later turn an AMQP 1.0 reply-to address
// (/queues/<name>) into the queue name for AMQP 0-9-1 and back; 4.0 hands each side the other's form,
// which neither can send to, so on 4.0 and 4.1 no answer comes either way, and the tests check just that.
func TestRPC(t *testing.T) {
	needAMQP10(t)
	converted, err := versionAtLeast(4, 2)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("our client, their server", func(t *testing.T) {
		freshQueue(t, "rpc_queue")
		server := start(t, "peer", "rpc_server")
		server.waitLine(" [*] Awaiting RPC requests")
		client, code := run(t, "rpc_client", "30")
		server.waitLine(" [.] fib(30)")
		server.stop()
		switch {
		case converted && (code != 0 || !strings.Contains(client.stdout(), " [.] Got 832040")):
			t.Errorf("rpc_client 30: exit %d, want 0 and the answer\n%s\nthe server's %s", code, client.output(), server.output())
		case !converted && (code == 0 || !strings.Contains(server.output(), "invalid destination address")):
			t.Errorf("on RabbitMQ %s the AMQP 1.0 responder cannot reply to our reply_to (a queue name, not "+
				"/queues/<name>), yet: rpc_client exit %d\n%s\nthe server's %s", version, code, client.output(), server.output())
		}
	})

	for _, id := range []string{"string", "uuid"} {
		t.Run("their client ("+id+" ids), our server", func(t *testing.T) {
			freshQueue(t, "rpc_queue")
			server := start(t, "rpc_server")
			server.waitLine(" [*] Awaiting RPC requests")
			clientArgs := []string{"rpc_client", "-timeout", "10s", "30"}
			if id == "uuid" {
				clientArgs = []string{"rpc_client", "-uuid", "-timeout", "10s", "30"}
			}
			client, code := run(t, "peer", clientArgs...)
			server.waitLine(" [.] fib(30)")
			server.stop()
			switch {
			case converted && (code != 0 || !strings.Contains(client.stdout(), " [.] Got 832040")):
				t.Errorf("their rpc_client: exit %d, want 0 and the answer (our server must reply with the "+
					"request's message_id as correlation_id when it has no correlation_id)\n%s\nthe server's %s",
					code, client.output(), server.output())
			case !converted && code == 0:
				t.Errorf("on RabbitMQ %s our reply to /queues/<name> cannot reach the requester, yet it did:\n%s",
					version, client.output())
			}
		})
	}
}

// Publish/Subscribe: the AMQP 1.0 tutorials declare logs durable, the AMQP 0-9-1 tutorials in every
// language non-durable. Whichever runs first declares it; the broker refuses the other's declaration
// (406 PRECONDITION_FAILED, inequivalent arg 'durable') and changes nothing, so the first side keeps
// working and the other says so in one line.
func TestLogs(t *testing.T) {
	needAMQP10(t)

	t.Run("theirs first, ours refused", func(t *testing.T) {
		noLogs(t)
		theirs := start(t, "peer", "receive_logs")
		theirs.waitLine(" [*] Waiting for logs. To exit press CTRL+C")
		for _, prog := range []string{"emit_log", "receive_logs"} {
			var words []string
			if prog == "emit_log" {
				words = []string{unique(t, "log")}
			}
			p, code := run(t, prog, words...)
			// One line that names the exchange and the broker's reason (the wording is the program's).
			errOut := strings.TrimRight(p.stderrText(), "\n")
			if code == 0 || strings.Contains(errOut, "\n") || !strings.HasPrefix(errOut, prog+`: exchange "logs" `) ||
				!strings.Contains(errOut, "PRECONDITION_FAILED - inequivalent arg 'durable'") || p.stdout() != "" {
				t.Errorf("our %s with logs durable: exit %d, want non-zero and one line naming exchange logs and the "+
					"inequivalent arg 'durable'\n%s", prog, code, p.output())
			}
		}
		if !logsDurable(t) {
			t.Error("logs is no longer durable")
		}
		body := unique(t, "log")
		mustRun(t, " [x] Sent "+body, "peer", "emit_log", body)
		theirs.waitLine(" [x] " + body)
		theirs.stop()
	})

	t.Run("ours first, theirs refused", func(t *testing.T) {
		noLogs(t)
		recv := start(t, "receive_logs")
		recv.waitLine(" [*] Waiting for logs. To exit press CTRL+C")
		for _, prog := range []string{"emit_log", "receive_logs"} {
			p, code := run(t, "peer", prog)
			if code == 0 || !strings.Contains(p.stderrText(), "declare exchange logs: precondition Failed") {
				t.Errorf("their %s with logs non-durable: exit %d, want the declaration refused\n%s", prog, code, p.output())
			}
		}
		if logsDurable(t) {
			t.Error("logs is durable now")
		}
		body := unique(t, "log")
		mustRun(t, " [x] Sent "+body, "emit_log", body)
		recv.waitLine(" [x] " + body)
		recv.stop()
	})
}
