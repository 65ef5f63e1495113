package helloworld_test

import (
	"testing"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// TestGuideOutput runs the guide's scenario (README.md, README.zh-CN.md) with the real programs and checks
// that the output blocks the guides show are what the programs print.
func TestGuideOutput(t *testing.T) {
	got := map[string]string{}

	// Terminal 1: receive. Terminal 2: send, then send with words.
	e2e.FreshQueue(t, "hello")
	recv := e2e.Start(t, "receive", nil)
	recv.WaitLine(waiting)
	got["send"] = runOK(t, "send")
	got["send-words"] = runOK(t, "send", "Hi", "there")
	recv.WaitLine(" [x] Received Hi there")
	interrupted(t, recv)
	got["receive"] = recv.Stdout()

	// A "hello" that an older program declared as a classic queue: send refuses to use it, and says what
	// to do.
	e2e.FreshQueue(t, "hello")
	if _, err := e2e.Channel(t).QueueDeclare("hello", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e2e.Run(t, "send", nil)
	e2e.CheckCleanError(t, errOut, code)
	if out != "" {
		t.Errorf("send printed %q on stdout with a classic hello", out)
	}
	got["send-classic"] = errOut

	for _, err := range guide.CompareOutputs(".", got) {
		t.Error(err)
	}
}

func runOK(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, errOut, code := e2e.Run(t, name, nil, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("%s %v: exit %d, stderr %q", name, args, code, errOut)
	}
	return out
}
