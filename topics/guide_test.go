package topics_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// TestGuideOutput runs the guide's scenarios (README.md, README.zh-CN.md) with the real programs and
// checks that the output blocks the guides show are what the programs print, and that the guide's
// tables are what the broker does.
func TestGuideOutput(t *testing.T) {
	got := map[string]string{}

	// Terminal 1 gets every log, terminal 2 the kernel's and the critical ones; terminal 3 emits.
	all := receive(t, nil, "#")
	kernOrCritical := receive(t, nil, "kern.*", "*.critical")
	sends := [][]string{
		{"kern.critical", "A critical kernel error"},
		{"kern.info", "Kernel module loaded"},
		{"cron.critical", "Cron daemon stopped"},
		{"cron.info", "Nightly backup done"},
		{}, // the defaults: anonymous.info, Hello World!
	}
	var emitted, bodies []string
	for _, args := range sends {
		out, errOut, code := e2e.Run(t, "emit_log_topic", nil, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("emit_log_topic %q: exit %d, stderr %q", args, code, errOut)
		}
		emitted = append(emitted, out)
		if len(args) == 2 {
			bodies = append(bodies, args[1])
		}
	}
	bodies = append(bodies, "Hello World!")
	got["emit"] = strings.Join(emitted, "\n")
	all.WaitLine(" [x] anonymous.info:Hello World!")
	kernOrCritical.WaitLine(" [x] cron.critical:Cron daemon stopped")
	got["receive-all"] = ours(t, all, bodies)
	got["receive-kern-critical"] = ours(t, kernOrCritical, bodies)

	_, _, got["worked-example"] = workedExample(t)
	got["questions"] = tutorialQuestions(t)

	_, errOut, code := e2e.Run(t, "receive_logs_topic", nil)
	e2e.CheckCleanError(t, errOut, code)
	got["receive-no-binding-key"] = errOut

	for _, err := range guide.CompareOutputs(".", got) {
		t.Error(err)
	}
}

// ours stops a receiver with Ctrl+C and returns what it printed, without the messages other publishers
// (on a shared broker) sent: those whose body is not one of the guide's.
func ours(t *testing.T, p *e2e.Proc, bodies []string) string {
	t.Helper()
	lines := []string{waiting}
	for _, m := range interrupt(t, p) {
		if _, body, _ := strings.Cut(m, ":"); slices.Contains(bodies, body) {
			lines = append(lines, " [x] "+m)
		}
	}
	return strings.Join(lines, "\n")
}
