package reliability_test

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "reliability/producer", "reliability/consumer"))
}

// On one broker (AMQP_URL), two consumers share every task, each done once.
func TestAllTasksDone(t *testing.T) {
	e2e.FreshQueue(t, "task_queue")
	c1 := e2e.Start(t, "consumer", nil, "-work", "0")
	c2 := e2e.Start(t, "consumer", nil, "-work", "0")
	c1.WaitLine(" [*] Waiting for messages")
	c2.WaitLine(" [*] Waiting for messages")
	out, errOut, code := e2e.Run(t, "producer", nil, "-count", "300")
	if code != 0 || !strings.HasSuffix(out, " [x] Published 300 tasks: 300 confirmed, 0 republished") {
		t.Fatalf("producer: exit %d\n%s\n%s", code, out, errOut)
	}
	waitDone(t, 300, c1, c2)
	stopAll(t, c1, c2)
	runs := checkDone(t, 300, 0, c1, c2)
	if runs != 300 {
		t.Errorf("%d runs of 300 tasks with no fault, want 300", runs)
	}
	if n, _ := e2e.QueueCounts(t, "task_queue"); n != 0 {
		t.Errorf("task_queue holds %d messages at the end", n)
	}
}

// A connection cut under the producer and the consumers (the proxy stands for a node that dies): each
// moves to the next URL of its list, the producer republishes what was not confirmed, and every task is
// done at least once, every extra run explained.
func TestConnectionCutMidStream(t *testing.T) {
	e2e.FreshQueue(t, "task_queue")
	p1, p2 := e2e.NewProxy(t), e2e.NewProxy(t)
	list := []string{"AMQP_URL=" + p1.URL() + "," + p2.URL()}
	c1 := e2e.Start(t, "consumer", list, "-work", "2ms", "-prefetch", "5")
	c2 := e2e.Start(t, "consumer", list, "-work", "2ms", "-prefetch", "5")
	c1.WaitLine(" [*] Waiting for messages")
	c2.WaitLine(" [*] Waiting for messages")
	prod := e2e.Start(t, "producer", list, "-count", "1000", "-rate", "400", "-window", "50")
	prod.WaitLine(" [*] Connected to")
	waitDoneAtLeast(t, 150, c1, c2)
	p1.Cut()
	prod.WaitLine(" [!] ")
	if code := prod.Wait(); code != 0 {
		t.Fatalf("producer exit %d\n%s\n%s", code, prod.Stdout(), prod.Stderr())
	}
	republished := republishedOf(t, prod.Stdout())
	waitDone(t, 1000, c1, c2)
	stopAll(t, c1, c2)
	checkDone(t, 1000, republished, c1, c2)
	for _, c := range []*e2e.Proc{c1, c2} {
		if !strings.Contains(c.Stdout(), " [!] ") {
			t.Errorf("a consumer did not see the cut:\n%s", c.Stdout())
		}
	}
}

func TestBadInput(t *testing.T) {
	down := e2e.BrokerURL(t, func(u *url.URL) { u.Host = e2e.FreeAddr(t) })
	wrongPassword := e2e.BrokerURL(t, func(u *url.URL) { u.User = url.UserPassword(u.User.Username(), "not-the-password-x") })
	cases := []struct {
		name, prog string
		env        []string
		args       []string
		want       string
	}{
		{"broker down", "producer", []string{"AMQP_URL=" + down}, []string{"-give-up", "1s"}, "no broker confirmed anything"},
		{"broker down", "consumer", []string{"AMQP_URL=" + down}, []string{"-give-up", "1s"}, "no broker for 1s"},
		{"wrong password", "producer", []string{"AMQP_URL=" + wrongPassword}, nil, "access refused"},
		{"wrong password", "consumer", []string{"AMQP_URL=" + wrongPassword}, nil, "access refused"},
	}
	for _, c := range cases {
		t.Run(c.prog+" "+c.name, func(t *testing.T) {
			start := time.Now()
			_, errOut, code := e2e.Run(t, c.prog, c.env, c.args...)
			e2e.CheckCleanError(t, errOut, code, "not-the-password-x")
			if !strings.Contains(errOut, c.want) {
				t.Errorf("stderr %q, want it to contain %q", errOut, c.want)
			}
			if c.name == "wrong password" && time.Since(start) > 10*time.Second {
				t.Errorf("a wrong password took %s to refuse: it is no fault another try would cure", time.Since(start))
			}
		})
	}
	e2e.CheckHelp(t, "producer", "consumer")
	e2e.CheckBadArgs(t,
		e2e.BadArgs{Program: "consumer", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
		e2e.BadArgs{Program: "producer", Args: []string{"-count", "x"}, Want: "invalid value \"x\" for flag -count"})
}

// A connection lost while the producer waits for a confirm is told as lost, never as a blocked broker,
// and the task in flight is published again on the next URL of the list.
func TestLostAtConfirm(t *testing.T) {
	e2e.FreshQueue(t, "task_queue")
	p1, p2 := e2e.NewProxy(t), e2e.NewProxy(t)
	stalled := strings.TrimPrefix(e2e.StallAtConfirmSelect(t, p1)[0], "AMQP_URL=")
	prod := e2e.Start(t, "producer", []string{"AMQP_URL=" + stalled + "," + p2.URL()}, "-count", "1")
	prod.WaitLine(" [*] Connected to")
	ch := e2e.Channel(t)
	e2e.WaitFor(t, "the task in task_queue", func() bool {
		q, err := ch.QueueDeclarePassive("task_queue", false, false, false, false, nil)
		if err != nil { // not declared yet (a failed passive declare closes the channel)
			ch = e2e.Channel(t)
		}
		return err == nil && q.Messages == 1
	})
	p1.Cut()
	line := prod.WaitLine(" [!] Left ")
	if !strings.Contains(line, ": connection to the broker lost: ") || !strings.Contains(line, " before it confirmed the message (") ||
		!strings.HasSuffix(line, "; trying "+node(p2)+" (unconfirmed: 1)") || strings.Contains(line, "block") {
		t.Errorf("producer said %q, want the connection lost (rabbit's words), never blocked, and the next node", line)
	}
	if code := prod.Wait(); code != 0 || !strings.HasSuffix(prod.Stdout(), " [x] Published 1 tasks: 1 confirmed, 1 republished") {
		t.Fatalf("producer exit %d\n%s\n%s", code, prod.Stdout(), prod.Stderr())
	}
	if n, _ := e2e.QueueCounts(t, "task_queue"); n != 2 {
		t.Errorf("task_queue holds %d messages, want 2 (the task and the one published again)", n)
	}
}

// A broker that blocks publishers (a resource alarm) makes the producer leave it after -timeout without
// a confirm, saying so in rabbit's words, for the next URL of the list.
func TestBlockedBroker(t *testing.T) {
	e2e.FreshQueue(t, "task_queue")
	p1, p2 := e2e.NewProxy(t), e2e.NewProxy(t)
	p1.Block("low on memory")
	out, errOut, code := e2e.Run(t, "producer", []string{"AMQP_URL=" + p1.URL() + "," + p2.URL()}, "-count", "5", "-timeout", "1s")
	if code != 0 || !strings.Contains(out, " [!] Left "+node(p1)+": the broker is blocking publishers (low on memory): no confirm within 1s; trying "+node(p2)+" (unconfirmed: 5)\n") ||
		!strings.HasSuffix(out, " [x] Published 5 tasks: 5 confirmed, 5 republished") {
		t.Fatalf("producer: exit %d\n%s\n%s", code, out, errOut)
	}
}

// A node that stops confirming while the connection stays open (as a node cut off from the others by a
// network partition does) is left after -timeout, in one line that names it and the next node, and the
// task goes to the next node.
func TestNoConfirm(t *testing.T) {
	e2e.FreshQueue(t, "task_queue")
	p1, p2 := e2e.NewProxy(t), e2e.NewProxy(t)
	stalled := strings.TrimPrefix(e2e.StallAtConfirmSelect(t, p1)[0], "AMQP_URL=")
	start := time.Now()
	out, errOut, code := e2e.Run(t, "producer", []string{"AMQP_URL=" + stalled + "," + p2.URL()}, "-count", "1", "-timeout", "1s")
	want := " [!] Left " + node(p1) + ": no confirm from the broker within 1s (it may or may not be in the queue); trying " + node(p2) + " (unconfirmed: 1)\n"
	if code != 0 || !strings.Contains(out, want) || !strings.HasSuffix(out, " [x] Published 1 tasks: 1 confirmed, 1 republished") {
		t.Fatalf("producer: exit %d, want the line %q\n%s\n%s", code, want, out, errOut)
	}
	if took := time.Since(start); took > 15*time.Second { // 1s for the confirm, at most 5s to close
		t.Errorf("the producer took %s", took)
	}
}

// node is how the programs name the node behind proxy: host:port, without the password.
func node(p *e2e.Proxy) string {
	u, err := url.Parse(p.URL())
	if err != nil {
		panic(err)
	}
	return u.Host
}

// A consumer whose connection is cut says so in rabbit.Ended's words, and consumes again from
// the next URL of its list.
func TestConsumerConnectionLost(t *testing.T) {
	e2e.FreshQueue(t, "task_queue")
	p1, p2 := e2e.NewProxy(t), e2e.NewProxy(t)
	c := e2e.Start(t, "consumer", []string{"AMQP_URL=" + p1.URL() + "," + p2.URL()}, "-work", "0")
	c.WaitLine(" [*] Waiting for messages")
	p1.Cut() // the consumer may be on either (a first attempt can fail: 4.3 answers 541 while a queue is deleted)
	p2.Cut()
	if line := c.WaitLine(" [!] Lost "); !strings.Contains(line, ": connection to the broker lost: ") {
		t.Errorf("consumer said %q, want rabbit.Ended's words", line)
	}
	c.WaitLine(" [*] Consuming again, from ")
	if out, errOut, code := e2e.Run(t, "producer", nil, "-count", "3"); code != 0 {
		t.Fatalf("producer exit %d\n%s\n%s", code, out, errOut)
	}
	waitDone(t, 3, c)
	stopAll(t, c)
}

// The first Ctrl+C stops a program, which then closes its connection (here to a broker that does not
// answer); a second one ends it at once, with exit status 130.
func TestSecondCtrlC(t *testing.T) {
	e2e.FreshQueue(t, "task_queue")
	proxy := e2e.NewProxy(t)
	c := e2e.Start(t, "consumer", proxy.Env())
	c.WaitLine(" [*] Waiting for messages")
	e2e.CheckSecondCtrlC(t, c, proxy)
	proxy.Resume()
	prod := e2e.Start(t, "producer", proxy.Env(), "-count", "1000000", "-rate", "50")
	prod.WaitLine(" [*] Connected to")
	e2e.CheckSecondCtrlC(t, prod, proxy)
}

// waitDone waits until the consumers have done every task 1..n at least once.
func waitDone(t testing.TB, n int, procs ...*e2e.Proc) {
	t.Helper()
	e2e.WaitFor(t, fmt.Sprintf("all %d tasks done", n), func() bool {
		return len(doneTasks(procs...)) == n
	})
}

func waitDoneAtLeast(t testing.TB, n int, procs ...*e2e.Proc) {
	t.Helper()
	e2e.WaitFor(t, fmt.Sprintf("%d tasks done", n), func() bool { return len(doneTasks(procs...)) >= n })
}

// doneTasks counts the " [x] Done <task>" lines per task.
func doneTasks(procs ...*e2e.Proc) map[int]int {
	done := map[int]int{}
	for _, p := range procs {
		lines, _ := p.Lines()
		for _, line := range lines {
			if rest, ok := strings.CutPrefix(line, " [x] Done "); ok {
				task, _, _ := strings.Cut(rest, " ")
				if n, err := strconv.Atoi(task); err == nil {
					done[n]++
				}
			}
		}
	}
	return done
}

func stopAll(t testing.TB, procs ...*e2e.Proc) {
	t.Helper()
	for _, p := range procs {
		p.Interrupt()
		if code := p.Wait(); code != 0 {
			t.Errorf("consumer exit %d after Ctrl+C\n%s", code, p.Stderr())
		}
		if !strings.Contains(p.Stdout(), " [x] Stopped: ") {
			t.Errorf("consumer printed no summary:\n%s", p.Stdout())
		}
	}
}

// checkDone checks that every task 1..n was done, and that every extra run of a task is explained: by
// a redelivery (the broker gave it out again after a lost ack) or by the producer publishing it again
// (its confirm was lost). Lines marked "(duplicate)" are not runs: the consumer recognised the task.
// It returns the number of runs.
func checkDone(t testing.TB, n, republished int, procs ...*e2e.Proc) (runs int) {
	t.Helper()
	redelivered := 0
	for _, p := range procs {
		for _, line := range strings.Split(p.Stdout(), "\n") {
			switch {
			case strings.HasPrefix(line, " [x] Done ") && strings.HasSuffix(line, "(duplicate)"):
			case strings.HasPrefix(line, " [x] Done "):
				runs++
				if strings.HasSuffix(line, "(redelivered)") {
					redelivered++
				}
			}
		}
	}
	done := doneTasks(procs...)
	for task := 1; task <= n; task++ {
		if done[task] == 0 {
			t.Errorf("task %d was never done", task)
		}
	}
	if len(done) != n {
		t.Errorf("%d distinct tasks done, want %d", len(done), n)
	}
	if extra := runs - n; extra > redelivered+republished {
		t.Errorf("%d extra runs, but only %d redeliveries and %d republished tasks explain them", extra, redelivered, republished)
	}
	t.Logf("%d tasks: %d runs, %d redelivered, %d republished", n, runs, redelivered, republished)
	return runs
}

// republishedOf reads the producer's last line: " [x] Published N tasks: N confirmed, R republished".
func republishedOf(t testing.TB, stdout string) int {
	t.Helper()
	lines := strings.Split(stdout, "\n")
	last := lines[len(lines)-1]
	var n, confirmed, republished int
	if _, err := fmt.Sscanf(last, " [x] Published %d tasks: %d confirmed, %d republished", &n, &confirmed, &republished); err != nil {
		t.Fatalf("producer's last line %q: %v", last, err)
	}
	return republished
}
