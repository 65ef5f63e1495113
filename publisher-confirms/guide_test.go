package publisherconfirms_test

import (
	"testing"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// TestGuideOutput runs the three programs as the guide does (README.md, README.zh-CN.md), with fewer
// messages to keep the test short, and checks the guide's output blocks against what they print. The
// blocks hold <n> placeholders for the figures, which vary from run to run.
func TestGuideOutput(t *testing.T) {
	got := map[string]string{}
	for _, prog := range programs {
		out, errOut, code := e2e.Run(t, prog, nil, "-count", "300")
		if code != 0 || errOut != "" {
			t.Fatalf("%s: exit %d, stderr %q", prog, code, errOut)
		}
		got[prog] = out
	}

	// Ctrl+C during a run of publish-async with the default count and window, with confirms in flight
	// (the proxy holds back the broker's, so that what it prints has the same shape every time). It
	// publishes to a queue of the test's, so that the test can see it publishing (another connection
	// cannot look into the program's exclusive queue); what it prints is the same.
	q := declareQueue(t, nil)
	proxy := e2e.NewProxy(t)
	p := e2e.Start(t, "publish-async", proxy.Env(), "-queue", q)
	waitForMessages(t, q)
	proxy.Stall()
	// The broker's confirms are held back: the program publishes until its window is full, then waits
	// for the next confirm (under -timeout, 5s). Interrupt it there: the queue has stopped growing.
	last, same := -1, 0
	e2e.WaitFor(t, "a full window of messages in "+q, func() bool {
		n, _ := e2e.QueueCounts(t, q)
		if n == last {
			same++
		} else {
			last, same = n, 0
		}
		return same == 3 // 150 ms without a new message
	})
	p.Interrupt()
	code := p.Wait()
	proxy.Resume()
	e2e.CheckCleanError(t, p.Stderr(), code)
	got["publish-async-interrupted"] = p.Stderr()

	for _, err := range guide.CompareOutputs(".", got) {
		t.Error(err)
	}
}
