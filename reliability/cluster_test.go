package reliability_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// The local 3-node cluster that `make cluster` (scripts/cluster.sh) starts, on ports 5700-5702.
var nodeURLs = []string{
	"amqp://guest:guest@localhost:5700/",
	"amqp://guest:guest@localhost:5701/",
	"amqp://guest:guest@localhost:5702/",
}

// needCluster skips the test, saying how to run it, unless the cluster of scripts/cluster.sh runs (the
// test kills its nodes, so it must be ours) and, for a test, AMQP_URL names one of its nodes, as `make
// test-cluster` sets it: `make test` (the broker at port 5672) leaves alone a cluster someone else is using.
// (`make bench` runs the cluster's benchmarks whenever it runs.)
func needCluster(t testing.TB) {
	t.Helper()
	if _, bench := t.(*testing.B); !bench && !slices.ContainsFunc(nodeURLs, func(u string) bool { return strings.HasPrefix(e2e.URL(), u) }) {
		t.Skip("the cluster tests kill nodes of the local cluster and cut them off: they run with `make cluster`, then `make test-cluster`")
	}
	pid := filepath.Join(e2e.RepoRoot(), ".broker", "forky-root", "var", "lib", "tutorials-cluster", "c1", "rabbit.pid")
	if _, err := os.Stat(pid); err != nil {
		t.Skip("no local cluster: start it with `make cluster` (these tests kill its nodes), then `make test-cluster`")
	}
	for _, u := range nodeURLs {
		conn, err := rabbit.Dial(u, "cluster-check")
		if err != nil {
			t.Skipf("the local cluster is not all up (%v): `make cluster`", err)
		}
		_ = conn.Close()
	}
}

// cluster runs scripts/cluster.sh with args.
func cluster(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("bash", append([]string{filepath.Join(e2e.RepoRoot(), "scripts", "cluster.sh")}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// leader is the number (1-3) of the node that holds task_queue's leader, asked of a node that runs.
func leader(t testing.TB) int {
	t.Helper()
	for n := 1; n <= 3; n++ {
		out, err := exec.Command("bash", filepath.Join(e2e.RepoRoot(), "scripts", "cluster.sh"),
			"ctl", strconv.Itoa(n), "-q", "list_queues", "name", "leader").CombinedOutput()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "task_queue" {
				for m := 1; m <= 3; m++ {
					if strings.HasPrefix(f[1], "tutorials-c"+strconv.Itoa(m)+"@") {
						return m
					}
				}
			}
		}
	}
	t.Fatal("no node says where task_queue's leader is")
	return 0
}

// rotate is the node list starting at node first (1-3), comma-separated, for AMQP_URL.
func rotate(first int) string {
	urls := append(slices.Clone(nodeURLs[first-1:]), nodeURLs[:first-1]...)
	return strings.Join(urls, ",")
}

// freshClusterQueues deletes task_queue and task_queue.dead on the cluster (ours: needCluster checked).
func freshClusterQueues(t testing.TB) {
	t.Helper()
	ch, done := channelOn(t, nodeURLs[0])
	defer done()
	for _, q := range []string{"task_queue", "task_queue.dead"} {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			t.Fatalf("delete %s: %v", q, err)
		}
	}
}

// channelOn opens a connection and a channel of the test's own to the node at u, with amqp091-go
// itself (not the code under test); done closes them.
func channelOn(t testing.TB, u string) (ch *amqp.Channel, done func()) {
	t.Helper()
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatalf("connect to %s: %v", u, err)
	}
	if ch, err = conn.Channel(); err != nil {
		_ = conn.Close()
		t.Fatalf("open a channel on %s: %v", u, err)
	}
	return ch, func() { _ = conn.Close() }
}

// queueLen is the number of ready messages in queue, asked of the first node that answers.
func queueLen(t testing.TB, queue string) int {
	t.Helper()
	for _, u := range nodeURLs {
		conn, err := rabbit.Dial(u, "cluster-test")
		if err != nil {
			continue
		}
		ch, err := conn.Channel()
		if err == nil {
			q, err := ch.QueueDeclarePassive(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
			_ = conn.Close()
			if err == nil {
				return q.Messages
			}
			t.Fatalf("passive declare %s: %v", queue, err)
		}
		_ = conn.Close()
	}
	t.Fatal("no node answers")
	return 0
}

// fault is one thing done to the cluster mid-stream, and the longest gap between two finished tasks
// (any consumer) around it: the stall a user sees.
type fault struct {
	name  string
	do    func(t testing.TB) (restart func())
	stall time.Duration
}

// scenario runs n tasks through the cluster, from a producer that starts on node 1 and two consumers that
// start on nodes 2 and 3, and does each fault once the consumers have done about n/(faults+1) more tasks.
// It checks that every task was done, each extra run explained, the queue empty at the end.
func scenario(t testing.TB, n int, faults []*fault) {
	freshClusterQueues(t)
	c1 := e2e.Start(t, "consumer", []string{"AMQP_URL=" + rotate(2)}, "-work", "1ms", "-prefetch", "10")
	c2 := e2e.Start(t, "consumer", []string{"AMQP_URL=" + rotate(3)}, "-work", "1ms", "-prefetch", "10")
	c1.WaitLine(" [*] Waiting for messages")
	c2.WaitLine(" [*] Waiting for messages")
	rate := 300 // tasks a second: publishing lasts n/300 seconds, long enough for every fault and restart
	prod := e2e.Start(t, "producer", []string{"AMQP_URL=" + rotate(1)},
		"-count", strconv.Itoa(n), "-rate", strconv.Itoa(rate), "-window", "50")
	prod.WaitLine(" [*] Connected to")
	step := n / (len(faults) + 1)
	for i, f := range faults {
		waitDoneAtLeast(t, step*(i+1), c1, c2)
		from := time.Now()
		if strings.Contains(prod.Stdout(), " [x] Published ") { // else the stall measured would be none
			t.Fatalf("the producer had confirmed every task before the fault %q: the test needs more tasks", f.name)
		}
		restart := f.do(t)
		// Let the programs notice and move on before the node comes back.
		waitDoneAtLeast(t, step*(i+1)+step/4, c1, c2)
		f.stall = longestGap(from, time.Now(), c1, c2)
		restart()
	}
	if code := prod.Wait(); code != 0 {
		t.Fatalf("producer exit %d\n%s\n%s", code, prod.Stdout(), prod.Stderr())
	}
	republished := republishedOf(t, prod.Stdout())
	waitAllDone(t, n, c1, c2)
	e2e.WaitFor(t, "task_queue empty", func() bool { return queueLen(t, "task_queue") == 0 })
	stopAll(t, c1, c2)
	checkDone(t, n, republished, c1, c2)
}

// waitAllDone waits until the consumers have done tasks 1..n; if they do not, it says which tasks are
// missing, what the queues hold and what the consumers said besides " [x] Done", before it fails.
func waitAllDone(t testing.TB, n int, procs ...*e2e.Proc) {
	t.Helper()
	deadline := time.Now().Add(e2e.LineTimeout)
	for len(doneTasks(procs...)) != n {
		if time.Now().After(deadline) {
			done := doneTasks(procs...)
			var missing []string
			for task := 1; task <= n && len(missing) < 20; task++ {
				if done[task] == 0 {
					missing = append(missing, strconv.Itoa(task))
				}
			}
			var said []string
			for i, p := range procs {
				lines, times := p.Lines()
				for j, line := range lines {
					if !strings.HasPrefix(line, " [x] Done ") {
						said = append(said, "consumer "+strconv.Itoa(i+1)+" "+times[j].Format("15:04:05.000")+line)
					}
				}
				said = append(said, "consumer "+strconv.Itoa(i+1)+" stderr: "+p.Stderr())
			}
			t.Fatalf("after %s, %d of %d tasks done (missing, up to 20: %s); task_queue holds %d, task_queue.dead %d\n%s",
				e2e.LineTimeout, len(done), n, strings.Join(missing, " "), queueLen(t, "task_queue"), queueLen(t, "task_queue.dead"),
				strings.Join(said, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// longestGap is the longest time without a " [x] Done" line of any consumer, from from (the fault) to
// to (when the programs have done a good number of tasks more).
func longestGap(from, to time.Time, procs ...*e2e.Proc) time.Duration {
	var at []time.Time
	for _, p := range procs {
		lines, times := p.Lines()
		for i, line := range lines {
			if strings.HasPrefix(line, " [x] Done ") && !times[i].Before(from) && !times[i].After(to) {
				at = append(at, times[i])
			}
		}
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	at = append([]time.Time{from}, at...)
	var gap time.Duration
	for i := 1; i < len(at); i++ {
		gap = max(gap, at[i].Sub(at[i-1]))
	}
	return gap
}

// The faults of the issue: kill -9 of the producer's node, then kill -9 of the queue leader's node, then
// a clean stop of a node; each node started again.
func clusterFaults() []*fault {
	return []*fault{
		{name: "kill -9 of the producer's node", do: func(t testing.TB) func() {
			cluster(t, "kill", "1")
			return func() { cluster(t, "start-node", "1") }
		}},
		{name: "kill -9 of the queue leader's node", do: func(t testing.TB) func() {
			n := leader(t)
			cluster(t, "kill", strconv.Itoa(n))
			return func() { cluster(t, "start-node", strconv.Itoa(n)) }
		}},
		{name: "clean stop of the queue leader's node", do: func(t testing.TB) func() {
			n := leader(t)
			cluster(t, "stop-node", strconv.Itoa(n))
			return func() { cluster(t, "start-node", strconv.Itoa(n)) }
		}},
	}
}

func TestClusterNodeFailures(t *testing.T) {
	needCluster(t)
	faults := clusterFaults()
	scenario(t, 9000, faults)
	for _, f := range faults {
		t.Logf("%s: longest gap between finished tasks %s", f.name, f.stall.Round(time.Millisecond))
	}
}

// A task that always fails is handed back until the delivery limit (5, set by the cluster's policy),
// then dead-lettered to task_queue.dead: it ends somewhere visible, not dropped and not retried forever.
func TestClusterPoisonTask(t *testing.T) {
	needCluster(t)
	freshClusterQueues(t)
	c := e2e.Start(t, "consumer", []string{"AMQP_URL=" + rotate(2)}, "-work", "0", "-fail", "7")
	c.WaitLine(" [*] Waiting for messages")
	if out, errOut, code := e2e.Run(t, "producer", []string{"AMQP_URL=" + rotate(1)}, "-count", "10"); code != 0 {
		t.Fatalf("producer exit %d\n%s\n%s", code, out, errOut)
	}
	waitDone(t, 9, c)
	e2e.WaitFor(t, "task 7 dead-lettered", func() bool { return queueLen(t, "task_queue.dead") == 1 })
	stopAll(t, c)
	if n := strings.Count(c.Stdout(), " [!] Failed 7 "); n < 5 {
		t.Errorf("task 7 failed %d times before it was dead-lettered, want at least the delivery limit, 5:\n%s", n, c.Stdout())
	}
	if n := queueLen(t, "task_queue"); n != 0 {
		t.Errorf("task_queue holds %d messages", n)
	}
}
