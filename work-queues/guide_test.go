package workqueues_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// TestGuideOutput runs the guide's scenarios (README.md, README.zh-CN.md) with the real programs and checks
// that the output blocks the guides show are what the programs print. The workers run with a short -dot:
// it changes how long a task takes, not what is printed.
func TestGuideOutput(t *testing.T) {
	got := map[string]string{}
	e2e.DeleteQueue(t, "task_queue")
	t.Cleanup(func() { e2e.DeleteQueue(t, "task_queue") })

	// Two workers, five tasks of growing length sent one by one with new_task.
	w1 := guideWorker(t, "-dot", "200ms")
	w2 := guideWorker(t, "-dot", "200ms")
	e2e.WaitFor(t, "2 consumers on task_queue", func() bool {
		_, c := e2e.QueueCounts(t, "task_queue")
		return c == 2
	})
	var sent []string
	for _, task := range []string{"First message.", "Second message..", "Third message...", "Fourth message....", "Fifth message....."} {
		out, errOut, code := e2e.Run(t, "new_task", nil, strings.Fields(task)...)
		if code != 0 {
			t.Fatalf("new_task %s: exit %d, stderr %q", task, code, errOut)
		}
		sent = append(sent, out)
	}
	got["new_task"] = strings.Join(sent, "\n")
	e2e.WaitFor(t, "5 tasks done", func() bool {
		return strings.Count(w1.Stdout()+"\n"+w2.Stdout(), " [x] Done") == 5
	})
	out1, out2 := guideStop(t, w1), guideStop(t, w2)
	// The guide's terminal 1 is the worker that got the first task (the guide says it may be either).
	if strings.Contains(out2, "First message.") {
		out1, out2 = out2, out1
	}
	got["worker-1"], got["worker-2"] = out1, out2

	// A long task, seen unacknowledged, interrupted, then redelivered to a new worker.
	w := guideWorker(t, "-dot", "1h")
	if _, errOut, code := e2e.Run(t, "new_task", nil, "A", "long", "task.........."); code != 0 {
		t.Fatalf("new_task: exit %d, stderr %q", code, errOut)
	}
	w.WaitLine(" [x] Received A long task..........")
	got["list-queues"] = guideListQueues(t)
	got["worker-interrupted"] = guideStop(t, w)
	w = guideWorker(t, "-dot", "10ms")
	w.WaitLine(" [x] Done")
	got["worker-redelivered"] = guideStop(t, w)

	for _, err := range guide.CompareOutputs(".", got) {
		t.Error(err)
	}
}

func guideWorker(t *testing.T, args ...string) *e2e.Proc {
	t.Helper()
	w := e2e.Start(t, "worker", nil, args...)
	w.WaitLine(" [*] Waiting for messages")
	return w
}

// guideStop presses Ctrl+C, requires a clean exit, and returns all the worker printed.
func guideStop(t *testing.T, w *e2e.Proc) string {
	t.Helper()
	w.Interrupt()
	if code := w.Wait(); code != 0 || w.Stderr() != "" {
		t.Fatalf("worker after Ctrl+C: exit %d, stderr %q", code, w.Stderr())
	}
	return w.Stdout()
}

// guideListQueues is rabbitmqctl list_queues as the guide shows it, once task_queue holds the long task
// unacknowledged, with the lines of other queues (other tests' queues) left out, as the guide says.
func guideListQueues(t *testing.T) string {
	t.Helper()
	var out string
	deadline := time.Now().Add(e2e.LineTimeout)
	for {
		out = e2e.Ctl(t, "list_queues", "name", "messages_ready", "messages_unacknowledged")
		if slices.Contains(strings.Split(out, "\n"), "task_queue\t0\t1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task_queue does not hold 0 ready and 1 unacknowledged message; list_queues says:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var keep []string
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if i < 3 || strings.HasPrefix(line, "task_queue\t") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
