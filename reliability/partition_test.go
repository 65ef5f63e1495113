package reliability_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// The partition tests cut one node of the local cluster off from the other two (scripts/cluster.sh
// partition N: every packet between them dropped, while clients on this machine still reach every
// node), with a producer and two consumers running, then heal. Each starts from a whole cluster, heals
// in a cleanup even when it fails, and checks that no task was lost and that every extra run of a task
// is explained.

// partitionRate is the producer's pace in the partition tests, in tasks a second.
const partitionRate = 200

// split is one partition test: which node is cut off, for how long, and where the programs start.
type split struct {
	leader    int                             // the node that holds task_queue's leader (it is declared there first)
	cut       int                             // the node cut off (1-3)
	length    time.Duration                   // how long it stays cut off
	producer  int                             // the node the producer starts on
	consumers [2]int                          // the nodes the two consumers start on
	slow      bool                            // the first consumer works 20 ms a task, so that it always holds 10 unacknowledged
	during    func(t testing.TB, r *splitRun) // checks made while the node is cut off, if any
}

// splitRun is what a partition test saw.
type splitRun struct {
	prod               *e2e.Proc
	cons               [2]*e2e.Proc
	cutAt, healAt      time.Time
	tasks, republished int
	redelivered, dups  int           // runs marked (redelivered), and deliveries marked (duplicate)
	stallDuring        time.Duration // the longest time without a finished task from the cut to the heal
	stallAfter         time.Duration // ... from the heal to 5 s after it
	declareAfter       time.Duration // from the heal until a declaration works through every node
	wholeAfter         time.Duration // ... until rabbitmqctl also says every node runs and the queue has its 3 members
	detected           []time.Time   // when a node logged another as down (net_tick_timeout), after the cut
	elected            []time.Time   // when a node logged itself task_queue's new leader, after the cut
	upAgain            []time.Time   // when a node logged another as up, after the heal
}

// figures is the one line of figures a partition test logs (and the guide quotes).
func (r *splitRun) figures() string {
	return fmt.Sprintf("%d tasks, %d republished, %d redelivered, %d duplicates; longest time without a finished task: "+
		"%s during the partition, %s after the heal; after the cut: nodes down %s, new leader %s; after the heal: "+
		"nodes up %s, declarations through every node %s, whole for rabbitmqctl %s",
		r.tasks, r.republished, r.redelivered, r.dups, r.stallDuring.Round(10*time.Millisecond), r.stallAfter.Round(10*time.Millisecond),
		since(r.cutAt, r.detected, false), since(r.cutAt, r.elected, false), since(r.healAt, r.upAgain, true),
		r.declareAfter.Round(10*time.Millisecond), r.wholeAfter.Round(100*time.Millisecond))
}

// since is how long after from the first (or last) of at came, "never" if none did.
func since(from time.Time, at []time.Time, last bool) string {
	if len(at) == 0 {
		return "never"
	} else if last {
		return at[len(at)-1].Sub(from).Round(10 * time.Millisecond).String()
	}
	return at[0].Sub(from).Round(10 * time.Millisecond).String()
}

// partitionScenario runs s: a fresh task_queue, two consumers and a producer at partitionRate; after 3 s
// of tasks the node s.cut is cut off for s.length, then healed; the run goes on 10 s after the heal, and
// must end with every task done and the cluster whole.
func partitionScenario(t testing.TB, s split) *splitRun {
	t.Helper()
	needCluster(t)
	healthyCluster(t)
	freshClusterQueues(t)
	declareOn(t, s.leader)
	if n, said := leaderSeenBy(s.leader); n != s.leader {
		t.Fatalf("task_queue, declared through node %d, has its leader elsewhere (%s): is queue_leader_locator client-local?", s.leader, said)
	}
	r := &splitRun{}
	for i, n := range s.consumers {
		args := []string{"-work", "1ms", "-prefetch", "10"}
		if i == 0 && s.slow {
			args[1] = "20ms"
		}
		r.cons[i] = e2e.Start(t, "consumer", []string{"AMQP_URL=" + rotate(n)}, args...)
		r.cons[i].WaitLine(" [*] Waiting for messages")
	}
	n := partitionRate * int((3*time.Second + s.length + 10*time.Second).Seconds())
	r.prod = e2e.Start(t, "producer", []string{"AMQP_URL=" + rotate(s.producer)},
		"-count", strconv.Itoa(n), "-rate", strconv.Itoa(partitionRate), "-window", "50")
	r.prod.WaitLine(" [*] Connected to")
	waitDoneAtLeast(t, 3*partitionRate, r.cons[0], r.cons[1])

	r.cutAt = partition(t, s.cut)
	if s.during != nil {
		s.during(t, r)
	}
	if left := time.Until(r.cutAt.Add(s.length)); left > 0 {
		time.Sleep(left) // the partition's length: a fault that lasts, not a wait for a state
	}
	r.healAt = heal(t)
	r.declareAfter, r.wholeAfter = waitWhole(t, s.cut)
	r.detected = logged(t, r.cutAt, r.healAt, func(line string) bool { return strings.Contains(line, "down: net_tick_timeout") })
	r.elected = logged(t, r.cutAt, time.Now(), func(line string) bool {
		return strings.Contains(line, "queue 'task_queue' in vhost '/': candidate -> leader")
	})
	r.upAgain = logged(t, r.healAt, time.Now(), func(line string) bool {
		return strings.Contains(line, " rabbit on node 'tutorials-c") && strings.HasSuffix(line, "' up")
	})

	// Tasks go on after the heal: the stall after it is measured while the producer still publishes.
	waitUntil(t, r.healAt.Add(5*time.Second))
	if _, at, ok := lineAt(r.prod, " [x] Published "); ok && at.Before(r.healAt.Add(5*time.Second)) {
		t.Fatalf("the producer ended less than 5 s after the heal: the test needs more tasks\n%s", r.prod.Stdout())
	}
	r.stallDuring = stall(r.cutAt, r.healAt, r.cons[:]...)
	r.stallAfter = stall(r.healAt, r.healAt.Add(5*time.Second), r.cons[:]...)

	if code := r.prod.Wait(); code != 0 {
		t.Fatalf("producer exit %d\n%s\n%s", code, r.prod.Stdout(), r.prod.Stderr())
	}
	r.tasks, r.republished = n, republishedOf(t, r.prod.Stdout())
	waitAllDone(t, n, r.cons[0], r.cons[1])
	e2e.WaitFor(t, "task_queue empty", func() bool { return queueLen(t, "task_queue") == 0 })
	stopAll(t, r.cons[0], r.cons[1])
	checkDone(t, n, r.republished, r.cons[0], r.cons[1])
	for _, c := range r.cons {
		r.redelivered += strings.Count(c.Stdout(), " (redelivered)")
		r.dups += strings.Count(c.Stdout(), " (duplicate)")
	}
	t.Logf("node %d cut off at %s for %s, healed at %s; %s", s.cut, r.cutAt.Format("15:04:05.000"), s.length,
		r.healAt.Format("15:04:05.000"), r.figures())
	return r
}

// declareOn declares task_queue and task_queue.dead through node n, as the programs do: a new quorum
// queue's leader is on the node the client declares it through (queue_leader_locator client-local).
func declareOn(t testing.TB, n int) {
	t.Helper()
	ch, done := channelOn(t, nodeURLs[n-1])
	defer done()
	for _, q := range []string{"task_queue", "task_queue.dead"} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err != nil {
			t.Fatalf("declare %s through node %d: %v", q, n, err)
		}
	}
}

// partition cuts node n off, and heals in a cleanup should the test end first.
func partition(t testing.TB, n int) time.Time {
	t.Helper()
	t.Cleanup(func() {
		if out, err := exec.Command("bash", clusterScript(), "heal").CombinedOutput(); err != nil {
			t.Errorf("heal: %v\n%s", err, out)
		}
	})
	at := time.Now()
	cluster(t, "partition", strconv.Itoa(n))
	return at
}

func heal(t testing.TB) time.Time {
	t.Helper()
	at := time.Now()
	cluster(t, "heal")
	return at
}

func clusterScript() string { return filepath.Join(e2e.RepoRoot(), "scripts", "cluster.sh") }

func waitUntil(t testing.TB, at time.Time) {
	t.Helper()
	e2e.WaitFor(t, "until "+at.Format("15:04:05.000"), func() bool { return !time.Now().Before(at) })
}

// healthyCluster heals any partition a test before may have left, and waits until a declaration works
// through every node.
func healthyCluster(t testing.TB) {
	t.Helper()
	cluster(t, "heal")
	if failed := declareEverywhere(t, time.Now().Add(60*time.Second)); failed != "" {
		t.Fatalf("the cluster is not whole: %s", failed)
	}
}

// waitWhole waits until the cluster is whole, with no manual step: a declaration works through every
// node, then rabbitmqctl on node cut, the one that was cut off, says the three nodes run and task_queue
// has its three members online. It returns how long each took.
func waitWhole(t testing.TB, cut int) (declare, whole time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	if failed := declareEverywhere(t, deadline); failed != "" {
		t.Fatalf("60 s after the heal, %s", failed)
	}
	declare = time.Since(start)
	var why, said string
	for time.Now().Before(deadline) {
		if why = ctlWhole(cut); why == "" {
			return declare, time.Since(start)
		} else if why != said {
			t.Logf("%s after the heal, not whole yet: %s", time.Since(start).Round(100*time.Millisecond), why)
			said = why
		}
	}
	t.Fatalf("60 s after the heal, %s", why)
	return
}

// declareEverywhere declares through every node at once, each until it works or deadline passes; it
// logs how long each took, and says what failed ("" if nothing did).
func declareEverywhere(t testing.TB, deadline time.Time) string {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed, took []string
	for _, u := range nodeURLs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := declareThrough(u, deadline)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, err.Error())
			}
			took = append(took, fmt.Sprintf("%s %s", u[strings.LastIndex(u, ":")+1:len(u)-1], time.Since(start).Round(10*time.Millisecond)))
		}()
	}
	wg.Wait()
	if time.Since(start) > time.Second {
		t.Logf("declarations through every node took: %s", strings.Join(took, ", "))
	}
	return strings.Join(failed, "; ")
}

// declareThrough declares a server-named exclusive queue through the node at u (a metadata change, which
// needs a majority of the nodes), again until it works or deadline passes.
func declareThrough(u string, deadline time.Time) error {
	var err error
	for time.Now().Before(deadline) {
		var conn *amqp.Connection
		if conn, err = rabbit.Dial(u, "cluster-whole-check"); err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		done := make(chan error, 1)
		go func() {
			ch, err := conn.Channel()
			if err == nil {
				_, err = ch.QueueDeclare("", false, true, true, false, nil)
			}
			done <- err
		}()
		select {
		case err = <-done:
		case <-time.After(time.Until(deadline)):
			err = errors.New("no answer")
		}
		go func() { _ = rabbit.Close(conn) }()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("a declaration through %s: %v", u, err)
}

// ctlWhole asks node n, with rabbitmqctl, which nodes run and where task_queue's members are online;
// it says what is missing, or "".
func ctlWhole(n int) string {
	var wg sync.WaitGroup
	var status, queues string
	wg.Add(2)
	go func() { defer wg.Done(); status = nodesRunning(n) }()
	go func() { defer wg.Done(); queues = membersOnline(n) }()
	wg.Wait()
	return strings.Trim(status+"; "+queues, "; ")
}

// nodesRunning says, unless node n sees the three nodes running and no partition, what it sees.
func nodesRunning(n int) string {
	out, err := exec.Command("bash", clusterScript(), "ctl", strconv.Itoa(n), "-q", "cluster_status", "--formatter", "json").Output()
	if err != nil {
		return fmt.Sprintf("node %d: cluster_status: %v", n, err)
	}
	var status struct {
		Running    []string       `json:"running_nodes"`
		Partitions map[string]any `json:"partitions"`
	}
	if err := json.Unmarshal(out, &status); err != nil {
		return fmt.Sprintf("node %d: cluster_status: %v", n, err)
	}
	if len(status.Running) != 3 || len(status.Partitions) != 0 {
		return fmt.Sprintf("node %d sees running %v, partitions %v", n, status.Running, status.Partitions)
	}
	return ""
}

// membersOnline says, unless node n sees task_queue's three members online, what it sees.
func membersOnline(n int) string {
	out, err := exec.Command("bash", clusterScript(), "ctl", strconv.Itoa(n), "-q", "list_queues", "name", "members", "online", "--formatter", "json").Output()
	if err != nil {
		return fmt.Sprintf("node %d: list_queues: %v", n, err)
	}
	var queues []struct {
		Name            string
		Members, Online []string
	}
	if err := json.Unmarshal(out, &queues); err != nil {
		return fmt.Sprintf("node %d: list_queues: %v", n, err)
	}
	for _, q := range queues {
		if q.Name == "task_queue" && (len(q.Members) != 3 || len(q.Online) != 3) {
			return fmt.Sprintf("node %d sees task_queue with members %v, online %v", n, q.Members, q.Online)
		}
	}
	return ""
}

// logged is when a line of the nodes' logs that match says came, between from and to.
func logged(t testing.TB, from, to time.Time, match func(line string) bool) []time.Time {
	t.Helper()
	var at []time.Time
	for n := 1; n <= 3; n++ {
		path := filepath.Join(e2e.RepoRoot(), ".broker", "forky-root", "var", "lib", "tutorials-cluster",
			"c"+strconv.Itoa(n), "log", "tutorials-c"+strconv.Itoa(n)+"@node"+strconv.Itoa(n)+".log")
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("node %d's log: %v", n, err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if len(line) < 32 || !match(line) {
				continue
			}
			if when, err := time.Parse("2006-01-02 15:04:05.999999-07:00", line[:32]); err == nil && when.After(from) && when.Before(to) {
				at = append(at, when)
			}
		}
		_ = f.Close()
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	return at
}

// stall is the longest time without a " [x] Done" line of any consumer between from and to, the ends
// included: the pause a user sees.
func stall(from, to time.Time, procs ...*e2e.Proc) time.Duration {
	at := []time.Time{from, to}
	for _, p := range procs {
		lines, times := p.Lines()
		for i, line := range lines {
			if strings.HasPrefix(line, " [x] Done ") && times[i].After(from) && times[i].Before(to) {
				at = append(at, times[i])
			}
		}
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	for i := 1; i < len(at); i++ {
		gap = max(gap, at[i].Sub(at[i-1]))
	}
	return gap
}

// others are the two nodes that are not n, in order.
func others(n int) [2]int { return [2]int{n%3 + 1, (n+1)%3 + 1} }

// lineAt is the first line of p containing substr, and when the test read it.
func lineAt(p *e2e.Proc, substr string) (string, time.Time, bool) {
	lines, times := p.Lines()
	for i, line := range lines {
		if strings.Contains(line, substr) {
			return line, times[i], true
		}
	}
	return "", time.Time{}, false
}

// leaderSeenBy is the node (1-3) that node n names as task_queue's leader, or 0 and what it said.
func leaderSeenBy(n int) (int, string) {
	out, err := exec.Command("bash", clusterScript(), "ctl", strconv.Itoa(n), "-q", "list_queues", "name", "leader").CombinedOutput()
	if err != nil {
		return 0, fmt.Sprintf("%v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "task_queue" && strings.HasPrefix(f[1], "tutorials-c") {
			m, _ := strconv.Atoi(f[1][len("tutorials-c"):strings.Index(f[1], "@")])
			return m, line
		}
	}
	return 0, string(out)
}

// The producer's node cut off while it publishes, for 20 s (longer than failure detection). Its
// publishes get no confirm and nothing closes: after -timeout (15 s) it leaves the node itself, says so
// in one line, and republishes what was not confirmed on the next node, on the majority side.
func TestClusterPartitionProducerNode(t *testing.T) { cutProducerNode(t) }

func cutProducerNode(t testing.TB) *splitRun {
	const p = 1 // the producer's node; the queue's leader is elsewhere, and keeps its place
	r := partitionScenario(t, split{leader: 3, cut: p, length: 20 * time.Second, producer: p, consumers: [2]int{2, 3},
		during: func(t testing.TB, r *splitRun) {
			line := r.prod.WaitLine(" [!] Left ")
			took := time.Since(r.cutAt)
			want := fmt.Sprintf(" [!] Left localhost:%d: no confirm from the broker within 15s (it may or may not be in the queue); trying localhost:%d (unconfirmed: ",
				5699+p, 5699+p%3+1)
			if !strings.HasPrefix(line, want) {
				t.Errorf("the producer said %q, want %q...", line, want)
			}
			// 15 s for the confirm, at most 5 s for the close of a connection to a node cut off, and the
			// oldest publish in flight went out up to a quarter of a second before the cut.
			if took > 23*time.Second {
				t.Errorf("the producer left its node %s after the cut, want at most 15 s + 5 s + slack", took)
			}
			t.Logf("the producer left node %d %s after the cut: %s", p, took.Round(10*time.Millisecond), line)
		}})
	if r.republished == 0 {
		t.Errorf("the producer republished nothing after it left node %d", p)
	}
	if len(r.detected) == 0 {
		t.Errorf("no node logged another as down (net_tick_timeout): the partition was not a long one")
	}
	return r
}

// The queue leader's node cut off for 20 s: the majority elects a new leader, the producer and the
// consumers on the majority side wait for it (6 to 10 s here, less than the producer's -timeout) and go on.
func TestClusterPartitionLeaderNode(t *testing.T) { cutLeaderNode(t) }

func cutLeaderNode(t testing.TB) *splitRun {
	const l = 2
	m := others(l)
	r := partitionScenario(t, split{leader: l, cut: l, length: 20 * time.Second, producer: m[0], consumers: m,
		during: func(t testing.TB, r *splitRun) {
			// Tasks are done again on the majority side: it has a new leader, which rabbitmqctl names there
			// (asked again until the partition ends: during one, a query of every node can fail).
			waitDoneAtLeast(t, len(doneTasks(r.cons[0], r.cons[1]))+partitionRate, r.cons[0], r.cons[1])
			for {
				n, said := leaderSeenBy(m[0])
				if n != 0 && n != l {
					break
				} else if time.Now().After(r.cutAt.Add(18 * time.Second)) {
					t.Errorf("node %d does not name a new leader for task_queue (node %d's was cut off): %s", m[0], l, said)
					break
				}
			}
		}})
	if len(r.elected) == 0 {
		t.Errorf("no node logged itself task_queue's new leader")
	}
	if strings.Contains(r.prod.Stdout(), " [!] ") {
		t.Errorf("the producer on the majority side left its node: the election took longer than -timeout?\n%s", r.prod.Stdout())
	}
	if len(r.detected) == 0 {
		t.Errorf("no node logged another as down (net_tick_timeout): the partition was not a long one")
	}
	return r
}

// A consumer's node cut off for 25 s. The consumer is told nothing: its deliveries stop. After -idle
// (10 s) without a task, its get has no answer within -idle either: it leaves the node and consumes
// from the next one. The tasks it held unacknowledged go to the other consumer once the majority has
// seen its node down and consumer_disconnected_timeout (5 s on this cluster) has passed; its late
// acks do no harm.
func TestClusterPartitionConsumerNode(t *testing.T) { cutConsumerNode(t) }

func cutConsumerNode(t testing.TB) *splitRun {
	const x = 2 // the cut-off consumer's node, which it leaves for node 3; the rest is on node 1
	r := partitionScenario(t, split{leader: 3, cut: x, length: 25 * time.Second, producer: 1, consumers: [2]int{x, 1}, slow: true,
		during: func(t testing.TB, r *splitRun) {
			// Its get has no answer until its node sees the others as down (7.5-12.5 s after the cut), then
			// fails at once: which comes first depends on when the consumer's last task was done.
			line := r.cons[0].WaitLine(" [!] Lost ")
			took := time.Since(r.cutAt)
			lost := fmt.Sprintf(" [!] Lost localhost:%d: ", 5699+x)
			if line != lost+"no task for 10s, then no answer to a get within 10s: cut off from the other nodes?" &&
				line != lost+"connection to the broker lost: INTERNAL_ERROR - Cannot get a message from queue 'queue 'task_queue' in vhost '/'': nodedown" {
				t.Errorf("the consumer on node %d said %q, want that its get had no answer, or that its node is down", x, line)
			}
			r.cons[0].WaitLine(fmt.Sprintf(" [*] Consuming again, from localhost:%d", 5699+x%3+1))
			t.Logf("the consumer on node %d left it %s after the cut: %s", x, took.Round(10*time.Millisecond), line)
		}})
	// The cut-off consumer works again, on another node; its late acks broke nothing.
	_, again, _ := lineAt(r.cons[0], " [*] Consuming again")
	lines, times := r.cons[0].Lines()
	worked := 0
	for i, line := range lines {
		if strings.HasPrefix(line, " [x] Done ") && times[i].After(again) {
			worked++
		}
	}
	if worked == 0 {
		t.Errorf("the consumer that was cut off did no task after it moved:\n%s", r.cons[0].Stdout())
	}
	if n := strings.Count(r.cons[0].Stdout(), " [!] "); n != 1 || r.cons[0].Stderr() != "" || strings.Contains(r.cons[1].Stdout(), " [!] ") {
		t.Errorf("want one line from the consumer that was cut off and none from the other:\n%s\n%s\n%s", r.cons[0].Stdout(), r.cons[0].Stderr(), r.cons[1].Stdout())
	}
	// Its unacknowledged tasks were given to the other consumer, marked redelivered.
	if !strings.Contains(r.cons[1].Stdout(), " (redelivered)") {
		t.Errorf("no task came back to the other consumer as redelivered")
	}
	if _, at, ok := lineAt(r.cons[1], " (redelivered)"); ok {
		t.Logf("first redelivery to the other consumer %s after the cut", at.Sub(r.cutAt).Round(100*time.Millisecond))
	}
	if len(r.detected) == 0 {
		t.Errorf("no node logged another as down (net_tick_timeout): the partition was not a long one")
	}
	return r
}

// A partition of 4 s, shorter than failure detection (7.5-12.5 s with net_ticktime 10): of the node
// that holds the queue's leader, the producer and a consumer. The nodes never see each other as down;
// the programs see a pause, and nothing is redelivered.
func TestClusterPartitionShort(t *testing.T) { cutShort(t) }

func cutShort(t testing.TB) *splitRun {
	const l = 1
	r := partitionScenario(t, split{leader: l, cut: l, length: 4 * time.Second, producer: l, consumers: [2]int{l, 2}})
	if len(r.detected) != 0 {
		t.Errorf("a node logged another as down at %v: the partition was not a short one", r.detected)
	}
	if r.redelivered != 0 {
		t.Errorf("%d tasks redelivered after a partition shorter than failure detection, want 0", r.redelivered)
	}
	for _, p := range []*e2e.Proc{r.prod, r.cons[0], r.cons[1]} {
		if line, _, ok := lineAt(p, " [!] "); ok {
			t.Logf("a program noticed the short partition: %s", line)
		}
	}
	return r
}
