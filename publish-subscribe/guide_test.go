package publishsubscribe_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// TestGuideOutput runs the guide's scenario (README.md, README.zh-CN.md) with the real programs and checks
// that the output blocks the guides show are what the programs print.
func TestGuideOutput(t *testing.T) {
	got := map[string]string{}

	// Terminal 1 saves the logs to a file, terminal 2 shows them.
	file := e2e.Start(t, "receive_logs", nil)
	console := e2e.Start(t, "receive_logs", nil)
	file.WaitLine(waiting)
	console.WaitLine(waiting)

	// Terminal 3.
	bodies := []string{"info: Hello World!", "warning: disk 91% full"}
	got["emit"] = emitOK(t) + "\n" + emitOK(t, bodies[1])
	for _, r := range []*e2e.Proc{file, console} {
		r.WaitLine(" [x] " + bodies[1])
		interrupt(t, r)
	}
	got["logs_from_rabbit.log"] = only(file.Stdout(), bodies)
	got["console"] = only(console.Stdout(), bodies)

	// No receiver left: the message is Sent, and returned.
	waitUnbound(t)
	out, errOut, code := e2e.Run(t, "emit_log", nil, "info: is anybody there?")
	if code != 0 {
		t.Fatalf("emit_log with no receiver: exit %d, stderr %q", code, errOut)
	}
	got["emit-nobody"] = out
	got["emit-nobody-stderr"] = errOut

	for _, err := range guide.CompareOutputs(".", got) {
		t.Error(err)
	}
}

func emitOK(t *testing.T, args ...string) string {
	t.Helper()
	return runOut(t, "emit_log", args...)
}

func runOut(t *testing.T, prog string, args ...string) string {
	t.Helper()
	out, errOut, code := e2e.Run(t, prog, nil, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("%s %q: exit %d, stderr %q", prog, args, code, errOut)
	}
	return out
}

// only is a receiver's output without the messages other publishers (on a shared broker) sent to logs
// meanwhile: the waiting line and the guide's messages.
func only(stdout string, bodies []string) string {
	return strings.Join(slices.DeleteFunc(strings.Split(stdout, "\n"), func(l string) bool {
		body, ok := strings.CutPrefix(l, " [x] ")
		return l != waiting && !(ok && slices.Contains(bodies, body))
	}), "\n")
}
