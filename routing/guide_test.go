package routing_test

import (
	"slices"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// TestGuideOutput runs the guide's scenario (README.md, README.zh-CN.md) with the real programs and checks
// that the output blocks the guides show are what the programs print.
func TestGuideOutput(t *testing.T) {
	skipIfBound(t, "debug")
	got := map[string]string{}

	// Terminal 1 saves warnings and errors to a file; terminal 2 shows every severity.
	file := receive(t, nil, "warning", "error")
	console := receive(t, nil, "info", "warning", "error")

	// Terminal 3.
	bodies := []string{"Run. Run. Or it will explode.", "Disk 91% full.", "All systems nominal."}
	emitted := []string{runOK(t, "error", bodies[0]), runOK(t, "warning", bodies[1]), runOK(t, "info", bodies[2])}
	out, errOut, code := e2e.Run(t, "emit_log_direct", nil, "debug", "Nobody listens.")
	if code != 0 {
		t.Fatalf("emit_log_direct debug: exit %d, stderr %q", code, errOut)
	}
	got["emit"] = strings.Join(append(emitted, out), "\n")
	got["emit-debug-stderr"] = errOut

	file.WaitLine(" [x] warning:" + bodies[1])
	console.WaitLine(" [x] info:" + bodies[2])
	got["logs_from_rabbit.log"] = ours(t, file, bodies)
	got["console"] = ours(t, console, bodies)

	// Mistakes: no severity, a severity longer than a routing key may be.
	_, errOut, code = e2e.Run(t, "receive_logs_direct", nil)
	e2e.CheckCleanError(t, errOut, code)
	got["receive-no-severity"] = errOut
	_, errOut, code = e2e.Run(t, "emit_log_direct", nil, strings.Repeat("x", 300))
	e2e.CheckCleanError(t, errOut, code)
	got["emit-long-severity"] = errOut

	for _, err := range guide.CompareOutputs(".", got) {
		t.Error(err)
	}
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := e2e.Run(t, "emit_log_direct", nil, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("emit_log_direct %q: exit %d, stderr %q", args, code, errOut)
	}
	return out
}

// ours stops a receiver with Ctrl+C and returns what it printed, without the messages other publishers
// (on a shared broker) sent with the same severities: those whose body is not one of the guide's.
func ours(t *testing.T, p *e2e.Proc, bodies []string) string {
	t.Helper()
	lines := append([]string{waiting}, interrupt(t, p)...)
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool {
		_, body, _ := strings.Cut(l, ":")
		return l != waiting && !slices.Contains(bodies, body)
	}), "\n")
}

// skipIfBound skips the test when a queue someone else declared is bound to direct_logs with key: then
// a message sent with that key is not returned, and the guide's warning is not printed. It asks with a
// mandatory publish of an empty message (nobody's queue gets it, or the test skips).
func skipIfBound(t *testing.T, key string) {
	t.Helper()
	ch := e2e.Channel(t)
	if err := ch.ExchangeDeclare("direct_logs", "direct", false, false, false, false, nil); err != nil {
		t.Fatalf("declare direct_logs: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	dc, err := ch.PublishWithDeferredConfirm("direct_logs", key, true, false, amqp.Publishing{MessageId: "probe"})
	if err != nil || !dc.Wait() {
		t.Fatalf("probe publish: %v", err)
	}
	select {
	case <-returns:
	default:
		t.Skipf("a queue these tests did not make is bound to direct_logs with key %q on %s: the guide's warning cannot be shown",
			key, e2e.Redact(e2e.URL()))
	}
}
