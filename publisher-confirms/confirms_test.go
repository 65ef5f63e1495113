// End-to-end tests of the Publisher Confirms programs: real processes against the real broker.
package publisherconfirms_test

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m,
		"publisher-confirms/publish-individually",
		"publisher-confirms/publish-batches",
		"publisher-confirms/publish-async"))
}

var programs = []string{"publish-individually", "publish-batches", "publish-async"}

// strategyArgs are the extra flags each strategy gets in the tests: small batches and windows, so a
// few hundred messages still make several of them.
var strategyArgs = map[string][]string{
	"publish-batches": {"-batch-size", "64"},
	"publish-async":   {"-window", "128"},
}

var summary = regexp.MustCompile(`^Published ([0-9,]+) messages (individually|in batch|and handled confirms asynchronously) in [0-9,]+ ms \([0-9,]+ msg/s\)$`)

// declareQueue declares a fresh queue named after the test and program, with args, deleted at the end.
func declareQueue(t *testing.T, prog string, args amqp.Table) string {
	t.Helper()
	name := "pc-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + prog
	e2e.DeleteQueue(t, name)
	if _, err := e2e.Channel(t).QueueDeclare(name, false, false, false, false, args); err != nil {
		t.Fatalf("declare %s: %v", name, err)
	}
	t.Cleanup(func() { e2e.DeleteQueue(t, name) })
	return name
}

func run(t *testing.T, prog string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return e2e.Run(t, prog, nil, append(append([]string{}, strategyArgs[prog]...), args...)...)
}

func TestAllConfirmed(t *testing.T) {
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			q := declareQueue(t, prog, nil)
			out, errOut, code := run(t, prog, "-count", "500", "-queue", q)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q, stdout %q", code, errOut, out)
			}
			if m := summary.FindStringSubmatch(out); m == nil || m[1] != "500" {
				t.Errorf("stdout = %q, want one summary line for 500 messages", out)
			}
			if n, _ := e2e.QueueCounts(t, q); n != 500 {
				t.Errorf("queue %s holds %d messages, want 500", q, n)
			}
			// The bodies are the message numbers, in order.
			ch := e2e.Channel(t)
			for _, want := range []string{"1", "2", "3"} {
				msg, ok, err := ch.Get(q, true)
				if err != nil || !ok || string(msg.Body) != want {
					t.Fatalf("get from %s: body %q ok=%v err=%v, want %q", q, msg.Body, ok, err, want)
				}
			}
		})
	}
}

// Without -queue each program publishes to a fresh exclusive queue of its own, as the tutorial does.
func TestOwnQueue(t *testing.T) {
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			out, errOut, code := run(t, prog, "-count", "200")
			if code != 0 || errOut != "" || !summary.MatchString(out) {
				t.Fatalf("exit %d, stderr %q, stdout %q", code, errOut, out)
			}
		})
	}
}

// A queue that holds at most 300 messages and rejects publishes beyond that: the broker nacks the other
// 700, and each program says so, by message, and fails.
func TestRejectPublishNacks(t *testing.T) {
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			q := declareQueue(t, prog, amqp.Table{"x-max-length": 300, "x-overflow": "reject-publish"})
			out, errOut, code := run(t, prog, "-count", "1000", "-queue", q)
			e2e.CheckCleanError(t, errOut, code)
			want := prog + ": 700 of 1,000 messages not confirmed: 700 nacked (messages 301, 302, 303, 304, 305, ...)\n"
			if errOut != want {
				t.Errorf("stderr = %q\nwant     %q", errOut, want)
			}
			if m := summary.FindStringSubmatch(out); m == nil || m[1] != "1,000" {
				t.Errorf("stdout = %q, want the summary for 1,000 published messages", out)
			}
			if n, _ := e2e.QueueCounts(t, q); n != 300 {
				t.Errorf("queue %s holds %d messages, want 300", q, n)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	const secret = "s3cret-pw"
	u, err := url.Parse(broker.URL())
	if err != nil {
		t.Fatal(err)
	}
	down := *u
	down.User = url.UserPassword("guest", secret)
	down.Host = e2e.FreeAddr(t)
	wrongPW := *u
	wrongPW.User = url.UserPassword("guest", secret)
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"broker down", []string{"AMQP_URL=" + down.String()}, nil, "connection refused"},
		{"malformed url", []string{"AMQP_URL=amqp://guest:" + secret + "@localhost:notaport/"}, nil, "not a valid AMQP URL"},
		{"wrong password", []string{"AMQP_URL=" + wrongPW.String()}, nil, "wrong user name or password"},
		{"missing queue", nil, []string{"-queue", "pc-no-such-queue"}, `queue "pc-no-such-queue" does not exist`},
		{"bad flag", nil, []string{"-count", "0"}, "at least 1"},
	}
	for _, c := range cases {
		for _, prog := range programs {
			t.Run(c.name+"/"+prog, func(t *testing.T) {
				out, errOut, code := e2e.Run(t, prog, c.env, c.args...)
				e2e.CheckCleanError(t, errOut, code, secret)
				if !strings.HasPrefix(errOut, prog+": ") || !strings.Contains(errOut, c.want) {
					t.Errorf("stderr = %q, want %q prefix and %q", errOut, prog+": ", c.want)
				}
				if out != "" {
					t.Errorf("stdout = %q, want nothing", out)
				}
			})
		}
	}
}

// startPublishing starts prog on a queue of the test's with far more messages than it can publish
// before the test stops it, and returns once the queue has received some (the program is mid-run).
func startPublishing(t *testing.T, prog string, args ...string) (*e2e.Proc, string) {
	t.Helper()
	q := declareQueue(t, prog, nil)
	p := e2e.Start(t, prog, nil, append(append([]string{}, strategyArgs[prog]...),
		append([]string{"-count", "10000000", "-queue", q}, args...)...)...)
	waitForMessages(t, q)
	return p, q
}

// waitForMessages waits until queue q holds messages: the program publishing to it is past its start.
func waitForMessages(t *testing.T, q string) {
	t.Helper()
	ch := e2e.Channel(t)
	e2e.WaitFor(t, "the first messages in "+q, func() bool {
		qi, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
		if err != nil {
			t.Fatalf("passive declare %s: %v", q, err)
		}
		return qi.Messages > 0
	})
}

// The broker closes the program's connection mid-run (as when a node goes down or an operator closes
// it): the messages in flight are reported as unconfirmed, the rest as not published, and it fails.
func TestConnectionClosedMidRun(t *testing.T) {
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			p, _ := startPublishing(t, prog)

			// broker.Dial names the connection after the program; find it and close it.
			var pid string
			for _, line := range strings.Split(e2e.Ctl(t, "list_connections", "-q", "pid", "client_properties"), "\n") {
				if strings.Contains(line, `"publisher-confirms/`+prog+`"`) {
					pid = strings.Fields(line)[0]
				}
			}
			if pid == "" {
				t.Fatalf("no connection named publisher-confirms/%s", prog)
			}
			e2e.Ctl(t, "close_connection", pid, "closed by the test")

			code := p.Wait()
			errOut := p.Stderr()
			e2e.CheckCleanError(t, errOut, code)
			if !regexp.MustCompile(`^` + prog + `: [0-9,]+ of 10,000,000 messages not confirmed: .*not published: ` +
				`channel closed by the broker or connection lost: CONNECTION_FORCED - closed by the test\n$`).MatchString(errOut) {
				t.Errorf("stderr = %q", errOut)
			}
			if !summary.MatchString(p.Stdout()) {
				t.Errorf("stdout = %q, want the summary line", p.Stdout())
			}
		})
	}
}

// Ctrl+C mid-run: publishing stops, what was not confirmed is reported, and the exit status says so.
func TestInterrupted(t *testing.T) {
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			p, _ := startPublishing(t, prog)
			p.Interrupt()
			code := p.Wait()
			errOut := p.Stderr()
			e2e.CheckCleanError(t, errOut, code)
			if !regexp.MustCompile(`^` + prog + `: [0-9,]+ of 10,000,000 messages not confirmed: .*not published: interrupted\n$`).MatchString(errOut) {
				t.Errorf("stderr = %q", errOut)
			}
		})
	}
}

// The queue is deleted mid-run: the default exchange has nowhere to route the messages after that, so
// the broker returns them (mandatory) and then acks them. They are reported as returned, not confirmed.
func TestQueueDeletedMidRunReturns(t *testing.T) {
	// Enough messages that the queue is deleted well before the end, few enough to end in seconds.
	counts := map[string]string{"publish-individually": "20,000", "publish-batches": "200,000", "publish-async": "200,000"}
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			q := declareQueue(t, prog, nil)
			count := counts[prog]
			p := e2e.Start(t, prog, nil, append(append([]string{}, strategyArgs[prog]...),
				"-count", strings.ReplaceAll(count, ",", ""), "-queue", q)...)
			waitForMessages(t, q)
			if _, err := e2e.Channel(t).QueueDelete(q, false, false, false); err != nil {
				t.Fatalf("delete %s: %v", q, err)
			}
			code := p.Wait()
			errOut := p.Stderr()
			e2e.CheckCleanError(t, errOut, code)
			m := regexp.MustCompile(`^` + prog + `: ([0-9,]+) of ` + count + ` messages not confirmed: ([0-9,]+) returned as unroutable \(messages [0-9]+, [0-9]+, [0-9]+, [0-9]+, [0-9]+, \.\.\.\)\n$`).FindStringSubmatch(errOut)
			if m == nil || m[1] != m[2] {
				t.Errorf("stderr = %q", errOut)
			}
			if !strings.HasPrefix(p.Stdout(), "Published "+count+" messages") {
				t.Errorf("stdout = %q", p.Stdout())
			}
		})
	}
}

// The broker stops confirming: the queue process is suspended mid-run (as a queue stuck behind a slow
// disk or a busy node would be), so the messages in flight get no confirm. After -timeout each program
// reports them as unconfirmed, the rest as not published, and fails. When the queue runs again it takes
// them all: unconfirmed means "not known to be safe", not "lost", which is why republishing them can
// make duplicates.
func TestNoConfirmWithinTimeout(t *testing.T) {
	// In flight when the queue stops, at most: the one message waited for, the batch (part of it may have
	// been confirmed before), the window (always full: async keeps publishing until it is).
	inFlight := map[string][2]int{"publish-individually": {1, 1}, "publish-batches": {1, 64}, "publish-async": {128, 128}}
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			// Suspend the queue only once the program has checked it (a passive declare asks the queue
			// process, and would wait for it) and is publishing.
			p, q := startPublishing(t, prog, "-timeout", "2s")
			queueProcess(t, q, "suspend")
			resumed := false
			t.Cleanup(func() {
				if !resumed {
					queueProcess(t, q, "resume")
				}
			})

			code := p.Wait()
			errOut := p.Stderr()
			e2e.CheckCleanError(t, errOut, code)
			e := regexp.MustCompile(`^` + prog + `: [0-9,]+ of 10,000,000 messages not confirmed: ([0-9]+)` +
				` unconfirmed \(messages [0-9, .]+\), [0-9,]+ not published: no confirm within 2s\n$`).FindStringSubmatch(errOut)
			if e == nil {
				t.Errorf("stderr = %q", errOut)
			} else if n, _ := strconv.Atoi(e[1]); n < inFlight[prog][0] || n > inFlight[prog][1] {
				t.Errorf("%d unconfirmed, want %d to %d: stderr = %q", n, inFlight[prog][0], inFlight[prog][1], errOut)
			}
			m := summary.FindStringSubmatch(p.Stdout())
			if m == nil {
				t.Fatalf("stdout = %q, want the summary line", p.Stdout())
			}

			// Once the queue runs again, it holds every message published, the unconfirmed ones too.
			queueProcess(t, q, "resume")
			resumed = true
			published, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
			e2e.WaitFor(t, m[1]+" messages in "+q, func() bool {
				n, _ := e2e.QueueCounts(t, q)
				return n == published
			})
		})
	}
}

// queueProcess suspends or resumes the Erlang process of a classic queue on the test's broker, with
// sys:suspend/1 or sys:resume/1. A suspended queue takes messages into its mailbox but neither stores
// nor confirms them, and answers nothing (not even a passive declare) until it is resumed.
func queueProcess(t *testing.T, queue, fn string) {
	t.Helper()
	out := e2e.Ctl(t, "eval", fmt.Sprintf(
		`{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(<<"/">>, queue, <<"%s">>)), sys:%s(amqqueue:get_pid(Q)).`,
		queue, fn))
	if strings.TrimSpace(out) != "ok" {
		t.Fatalf("%s queue %s: %s", fn, queue, out)
	}
}
