package workqueues_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// TestGuideOutput runs the guide's scenarios (README.md, README.zh-CN.md) with the real programs and checks
// that the output blocks the guides show are what the programs print. The workers run with a short -dot:
// it changes how long a task takes, not what is printed.
func TestGuideOutput(t *testing.T) {
	got := map[string]string{}
	e2e.FreshQueue(t, queue)

	// Two workers, five tasks of growing length sent one by one with new_task.
	w1 := worker(t, nil, "-dot", "200ms")
	w2 := worker(t, nil, "-dot", "200ms")
	waitConsumers(t, 2)
	var sent []string
	for _, task := range []string{"First message.", "Second message..", "Third message...", "Fourth message....", "Fifth message....."} {
		out, errOut, code := e2e.Run(t, "new_task", nil, strings.Fields(task)...)
		if code != 0 {
			t.Fatalf("new_task %s: exit %d, stderr %q", task, code, errOut)
		}
		sent = append(sent, out)
	}
	got["new_task"] = strings.Join(sent, "\n")
	waitDone(t, 5, w1, w2)
	stopClean(t, w1)
	stopClean(t, w2)
	out1, out2 := w1.Stdout(), w2.Stdout()
	// The guide's terminal 1 is the worker that got the first task (the guide says it may be either).
	if strings.Contains(out2, "First message.") {
		out1, out2 = out2, out1
	}
	got["worker-1"], got["worker-2"] = out1, out2

	// A long task, held unacknowledged, interrupted with Ctrl+C, then redelivered to a new worker.
	w := worker(t, nil, "-dot", "1h")
	if _, errOut, code := e2e.Run(t, "new_task", nil, "A", "long", "task.........."); code != 0 {
		t.Fatalf("new_task: exit %d, stderr %q", code, errOut)
	}
	w.WaitLine(" [x] Received A long task..........")
	// What `rabbitmqctl list_queues name messages_ready messages_unacknowledged` shows for task_queue
	// now, computed without rabbitmqctl: the ready count from a passive declare, and one unacknowledged
	// task, the one the worker printed as received and not done (it is ready again once the worker
	// stops, below).
	ready, _ := e2e.QueueCounts(t, queue)
	got["list-queues"] = fmt.Sprintf("task_queue\t%d\t%d", ready, 1)
	stopClean(t, w)
	got["worker-interrupted"] = w.Stdout()
	waitReady(t, 1)
	w = worker(t, nil, "-dot", "10ms")
	w.WaitLine(" [x] Done")
	stopClean(t, w)
	got["worker-redelivered"] = w.Stdout()

	// SIGTERM mid-task: the worker finishes the task, then exits.
	w = worker(t, nil, "-dot", "200ms")
	if _, errOut, code := e2e.Run(t, "new_task", nil, "Last", "task..."); code != 0 {
		t.Fatalf("new_task: exit %d, stderr %q", code, errOut)
	}
	w.WaitLine(" [x] Received Last task...")
	stop(t, w, syscall.SIGTERM)
	got["worker-sigterm"] = w.Stdout()

	// A task_queue that an older program declared classic.
	e2e.DeleteQueue(t, queue)
	if _, err := e2e.Channel(t).QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := e2e.Run(t, "new_task", nil)
	e2e.CheckCleanError(t, errOut, code)
	got["new_task-classic"] = errOut

	for _, err := range guide.CompareOutputs(".", got) {
		t.Error(err)
	}
}
