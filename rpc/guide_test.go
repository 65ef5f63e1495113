package rpc_test

import (
	"testing"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// TestGuideOutput runs the guide's scenario (README.md, README.zh-CN.md) with the real programs and checks
// that the output blocks the guides show are what the programs print.
func TestGuideOutput(t *testing.T) {
	got := map[string]string{}
	e2e.FreshQueue(t, "rpc_queue")

	// Terminal 1: the server. Terminal 2: the client, with the default n, with 100, with three numbers
	// at once, and with a number the server refuses.
	s := server(t, nil)
	got["client"] = runOK(t)
	got["client-100"] = runOK(t, "100")
	got["client-many"] = runOK(t, "91", "92", "93")
	out, errOut, code := e2e.Run(t, "rpc_client", nil, "10001")
	e2e.CheckCleanError(t, errOut, code)
	got["client-refused"] = out + "\n" + errOut
	stop(t, s)
	got["server"] = s.Stdout()

	// No server: the queue is there, nobody answers.
	out, errOut, code = e2e.Run(t, "rpc_client", nil, "-timeout", "2s")
	e2e.CheckCleanError(t, errOut, code)
	got["client-timeout"] = out + "\n" + errOut

	// No queue at all: no server ever ran on this broker.
	e2e.DeleteQueue(t, "rpc_queue")
	out, errOut, code = e2e.Run(t, "rpc_client", nil)
	e2e.CheckCleanError(t, errOut, code)
	got["client-no-queue"] = out + "\n" + errOut

	for _, err := range guide.CompareOutputs(".", got) {
		t.Error(err)
	}
}

// runOK runs rpc_client with args and requires success.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := e2e.Run(t, "rpc_client", nil, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("rpc_client %q: exit %d, stderr %q", args, code, errOut)
	}
	return out
}
