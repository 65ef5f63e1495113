package retries_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// TestGuideOutput runs the guide's scenario (README.md, README.zh-CN.md) on a queue of the test's own,
// named retry_queue in what is compared, and checks the output blocks of the broker's series: "-4.3"
// on RabbitMQ 4.3 and later, "-4.0" before (4.0 and 3.10 print the same).
func TestGuideOutput(t *testing.T) {
	b, _ := brokerRetries(t)
	series, other := "-4.0", "-4.3"
	if b {
		series, other = other, series
	}
	q := testQueue(t)
	named := func(s string) string { return strings.ReplaceAll(s, q, "retry_queue") }
	got := map[string]string{}

	w := worker(t, q, "-dot", "10ms")
	send(t, q, "charge.!!")
	w.WaitLine(" [x] Done")
	send(t, q, "poison")
	w.WaitLine(" [!] Failed on delivery 5 of 5")
	d := deadTask(t, q)
	if err := d.Nack(false, true); err != nil { // leave it there for move_dead
		t.Fatal(err)
	}
	stop(t, w)
	got["worker"+series] = named(w.Stdout())
	if !b {
		for _, k := range []string{"x-last-death-exchange", "x-last-death-queue", "x-last-death-reason"} {
			delete(d.Headers, k) // 4.0 has them, 3.10 not
		}
	}
	got["dead-headers"+series] = named(headers(d.Headers))

	out, errOut, code := e2e.Run(t, "move_dead", nil, "-queue", q)
	if code != 0 || errOut != "" {
		t.Fatalf("move_dead: exit %d, stderr %q", code, errOut)
	}
	got["move_dead"] = named(out)

	for _, err := range guide.CompareOutputs(".", got) {
		if !strings.Contains(err.Error(), fmt.Sprintf("output %q is shown but no test captures it", "worker"+other)) &&
			!strings.Contains(err.Error(), fmt.Sprintf("output %q is shown but no test captures it", "dead-headers"+other)) {
			t.Error(err)
		}
	}
}

// headers prints a dead letter's headers one a line, sorted, x-death's entries indented.
func headers(h amqp.Table) string {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if deaths, ok := h[k].([]any); ok {
			lines = append(lines, k+":")
			for _, death := range deaths {
				e, _ := death.(amqp.Table)
				lines = append(lines, fmt.Sprintf("  - queue: %v, reason: %v, count: %v", e["queue"], e["reason"], e["count"]))
			}
			continue
		}
		if h[k] == "" {
			h[k] = `""`
		}
		lines = append(lines, fmt.Sprintf("%s: %v", k, h[k]))
	}
	return strings.Join(lines, "\n")
}
