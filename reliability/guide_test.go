package reliability_test

import (
	"testing"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// TestGuideOutput runs the guide's first scenario on one broker (AMQP_URL) and checks the output blocks
// of README.md and README.zh-CN.md against what the programs print.
func TestGuideOutput(t *testing.T) {
	e2e.FreshQueue(t, "task_queue")
	got := map[string]string{}
	c := e2e.Start(t, "consumer", nil)
	c.WaitLine(" [*] Waiting for messages")
	out, errOut, code := e2e.Run(t, "producer", nil, "-count", "3")
	if code != 0 {
		t.Fatalf("producer exit %d: %s", code, errOut)
	}
	got["producer"] = out
	c.WaitLine(" [x] Done 3")
	c.Interrupt()
	if code := c.Wait(); code != 0 {
		t.Fatalf("consumer exit %d: %s", code, c.Stderr())
	}
	got["consumer"] = c.Stdout()
	for _, err := range guide.CompareOutputs(".", got) {
		t.Error(err)
	}
}
