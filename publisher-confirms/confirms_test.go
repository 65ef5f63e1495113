// End-to-end tests of the Publisher Confirms programs: real processes against the real broker at
// AMQP_URL (any broker: faults are made by the test proxy, never with rabbitmqctl).
package publisherconfirms_test

import (
	"flag"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

func TestMain(m *testing.M) {
	// The three programs of a test run side by side (see eachProgram). They mostly wait on the broker or
	// on a fault, not on the CPU, so let all three run at once even where GOMAXPROCS (the default of
	// -parallel) is 2, unless -parallel was given.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit && runtime.GOMAXPROCS(0) < len(programs) {
		if err := flag.Set("test.parallel", strconv.Itoa(len(programs))); err != nil {
			panic(err)
		}
	}
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

// The result line, the same shape for the three strategies.
var summary = regexp.MustCompile(`^Published ([0-9]+) messages and handled confirms (individually|in batches|asynchronously) in [0-9]+ ms\n?$`)

// eachProgram runs f for each program, as parallel subtests: the programs wait on the broker, not on
// the CPU, and the package's tests stay short.
func eachProgram(t *testing.T, f func(t *testing.T, prog string)) {
	for _, prog := range programs {
		t.Run(prog, func(t *testing.T) {
			t.Parallel()
			f(t, prog)
		})
	}
}

// declareQueue declares a durable classic queue of the test's own (a unique name, deleted when the test
// ends) with args. Durable, so that it declares alike on every broker: our 4.0 node denies transient
// non-exclusive queues by configuration (4.3.6 still permits them by default).
func declareQueue(t *testing.T, args amqp.Table) string {
	t.Helper()
	name := e2e.UniqueName(t, "pc")
	if _, err := e2e.Channel(t).QueueDeclare(name, true, false, false, false, args); err != nil {
		t.Fatalf("declare %s: %v", name, err)
	}
	t.Cleanup(func() { e2e.DeleteQueue(t, name) })
	return name
}

// start runs prog with its strategy's flags and args, through env (nil, or a proxy's).
func start(t *testing.T, prog string, env []string, args ...string) *e2e.Proc {
	t.Helper()
	return e2e.Start(t, prog, env, append(append([]string{}, strategyArgs[prog]...), args...)...)
}

func run(t *testing.T, prog string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := start(t, prog, nil, args...)
	code = p.Wait()
	return p.Stdout(), p.Stderr(), code
}

// startPublishing starts prog on a queue of the test's with far more messages than it can publish
// before the test stops it, and returns once the queue holds some (the program is mid-run).
func startPublishing(t *testing.T, prog string, env []string, args ...string) (*e2e.Proc, string) {
	t.Helper()
	q := declareQueue(t, nil)
	p := start(t, prog, env, append([]string{"-count", "10000000", "-queue", q}, args...)...)
	waitForMessages(t, q)
	return p, q
}

// waitForMessages waits until queue q holds messages: the program publishing to it is past its start.
func waitForMessages(t *testing.T, q string) {
	t.Helper()
	e2e.WaitFor(t, "the first messages in "+q, func() bool {
		n, _ := e2e.QueueCounts(t, q)
		return n > 0
	})
}

// failed checks a failing run: one clean stderr line, prog's prefix, matching the pattern of what
// follows (regexp, anchored), and the summary line on stdout. It returns the pattern's submatches.
func failed(t *testing.T, prog string, p *e2e.Proc, code int, pattern string) []string {
	t.Helper()
	errOut := p.Stderr()
	e2e.CheckCleanError(t, errOut, code)
	m := regexp.MustCompile(`^` + prog + `: ` + pattern + `\n$`).FindStringSubmatch(errOut)
	if m == nil {
		t.Errorf("stderr = %q\nwant      %s", errOut, pattern)
	}
	if !summary.MatchString(p.Stdout()) {
		t.Errorf("stdout = %q, want the summary line", p.Stdout())
	}
	return m
}

// notConfirmed is how a run that stopped early begins its error line: N of total messages not
// confirmed, none nacked or returned, some unconfirmed (a submatch) and the rest not published.
func notConfirmed(total string) string {
	return `[0-9]+ of ` + total + ` messages not confirmed: 0 nacked, 0 returned, ([0-9]+) unconfirmed, [0-9]+ not published; `
}

func TestAllConfirmed(t *testing.T) {
	eachProgram(t, func(t *testing.T, prog string) {
		q := declareQueue(t, nil)
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
		// The bodies are the message numbers, in order, and so are the message ids.
		ch := e2e.Channel(t)
		for _, want := range []string{"1", "2", "3"} {
			msg, ok, err := ch.Get(q, true)
			if err != nil || !ok || string(msg.Body) != want || msg.MessageId != want {
				t.Fatalf("get from %s: body %q, message id %q, ok=%v err=%v, want %q", q, msg.Body, msg.MessageId, ok, err, want)
			}
		}
	})
}

// Without -queue each program publishes to a fresh server-named exclusive queue, as the tutorial does:
// it is gone once the program has exited.
func TestOwnQueue(t *testing.T) {
	eachProgram(t, func(t *testing.T, prog string) {
		proxy := e2e.NewProxy(t)
		p := start(t, prog, proxy.Env(), "-count", "200")
		code := p.Wait()
		if code != 0 || p.Stderr() != "" || !summary.MatchString(p.Stdout()) {
			t.Fatalf("exit %d, stderr %q, stdout %q", code, p.Stderr(), p.Stdout())
		}
		qs := proxy.Queues()
		if len(qs) != 1 || !strings.HasPrefix(qs[0], "amq.gen-") {
			t.Fatalf("declared queues %q, want one server-named queue", qs)
		}
		_, err := e2e.Channel(t).QueueDeclarePassive(qs[0], false, false, false, false, nil)
		if e, ok := err.(*amqp.Error); !ok || e.Code != amqp.NotFound {
			t.Errorf("queue %s after the program exited: %v, want NOT_FOUND", qs[0], err)
		}
	})
}

// A queue that holds at most 300 messages and rejects publishes beyond that (declared with arguments):
// the broker nacks the other 700, and each program says so, by message, and fails.
func TestRejectPublishNacks(t *testing.T) {
	eachProgram(t, func(t *testing.T, prog string) {
		q := declareQueue(t, amqp.Table{"x-max-length": 300, "x-overflow": "reject-publish"})
		p := start(t, prog, nil, "-count", "1000", "-queue", q)
		code := p.Wait()
		if m := failed(t, prog, p, code, `700 of 1000 messages not confirmed: 700 nacked, 0 returned, 0 unconfirmed, 0 not published`); m != nil {
			if s := summary.FindStringSubmatch(p.Stdout()); s == nil || s[1] != "1000" {
				t.Errorf("stdout = %q, want the summary for 1000 published messages", p.Stdout())
			}
		}
		if n, _ := e2e.QueueCounts(t, q); n != 300 {
			t.Errorf("queue %s holds %d messages, want 300", q, n)
		}
	})
}

// The queue is deleted mid-run: the default exchange has nowhere to route the messages after that, so
// the broker returns them (mandatory) and then acks them. They are reported as returned, not confirmed:
// every message not confirmed was returned (the programs know each return by its MessageId).
func TestQueueDeletedMidRunReturns(t *testing.T) {
	// Enough messages that the queue is deleted well before the end, few enough to end in seconds.
	counts := map[string]int{"publish-individually": 3000, "publish-batches": 20000, "publish-async": 20000}
	eachProgram(t, func(t *testing.T, prog string) {
		q := declareQueue(t, nil)
		count := counts[prog]
		p := start(t, prog, nil, "-count", strconv.Itoa(count), "-queue", q)
		waitForMessages(t, q)
		if _, err := e2e.Channel(t).QueueDelete(q, false, false, false); err != nil {
			t.Fatalf("delete %s: %v", q, err)
		}
		code := p.Wait()
		m := failed(t, prog, p, code, `([0-9]+) of `+strconv.Itoa(count)+` messages not confirmed: 0 nacked, ([0-9]+) returned, `+
			`0 unconfirmed, 0 not published`)
		if m == nil {
			return
		}
		if n, _ := strconv.Atoi(m[1]); m[1] != m[2] || n == 0 || n == count {
			t.Errorf("%s not confirmed, %s returned of %d: want some, and all of them returned", m[1], m[2], count)
		}
		if s := summary.FindStringSubmatch(p.Stdout()); s == nil || s[1] != strconv.Itoa(count) {
			t.Errorf("stdout = %q, want all %d published", p.Stdout(), count)
		}
	})
}

func TestBadInput(t *testing.T) {
	e2e.CheckBadURLs(t, programs)
	e2e.CheckHelp(t, programs...)
	missing := e2e.UniqueName(t, "pc-missing")
	for _, prog := range programs {
		e2e.CheckBadArgs(t,
			e2e.BadArgs{Program: prog, Args: []string{"-queue", missing}, Want: "no queue '" + missing + "'"},
			e2e.BadArgs{Program: prog, Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
			e2e.BadArgs{Program: prog, Args: []string{"-count", "many"}, Want: `invalid value "many" for flag -count`})
	}
	e2e.CheckBadArgs(t,
		e2e.BadArgs{Program: "publish-batches", Args: []string{"-batch-size", "-1"}, Want: `invalid value "-1" for flag -batch-size`},
		e2e.BadArgs{Program: "publish-async", Args: []string{"-window", "-1"}, Want: `invalid value "-1" for flag -window`})
}

// lost is how the programs say the connection was lost, in rabbit.Unconfirmed's words, or a publish
// call's own error.
const lost = `(connection to the broker lost: .+|publish: .+)`

// The connection is lost mid-run (the proxy cuts it, as a network failure or a broker crash would): the
// messages in flight are reported as unconfirmed, the rest as not published, and the program fails.
func TestConnectionLostMidRun(t *testing.T) {
	eachProgram(t, func(t *testing.T, prog string) {
		proxy := e2e.NewProxy(t)
		p, _ := startPublishing(t, prog, proxy.Env())
		proxy.Cut()
		code := p.Wait()
		failed(t, prog, p, code, notConfirmed("10000000")+lost)
	})
}

// The connection is lost while each program waits for confirms (e2e.StallAtConfirmSelect holds back
// all the broker sends once the channel is in confirm mode, and the proxy then cuts it): the messages
// waited for are unconfirmed, and the connection is reported lost, never as a broker blocking
// publishers (the library closes the blocked notifications when the connection goes).
func TestConnectionLostDuringConfirmWait(t *testing.T) {
	// What each program has published when it waits: one message, a batch, the window.
	inFlight := map[string]string{"publish-individually": "1", "publish-batches": "64", "publish-async": "128"}
	eachProgram(t, func(t *testing.T, prog string) {
		proxy := e2e.NewProxy(t)
		q := declareQueue(t, nil)
		p := start(t, prog, e2e.StallAtConfirmSelect(t, proxy), "-count", "1000", "-queue", q)
		e2e.WaitFor(t, inFlight[prog]+" messages in "+q, func() bool {
			n, _ := e2e.QueueCounts(t, q)
			return strconv.Itoa(n) == inFlight[prog]
		})
		proxy.Cut()
		code := p.Wait()
		m := failed(t, prog, p, code, `1000 of 1000 messages not confirmed: 0 nacked, 0 returned, ([0-9]+) unconfirmed, `+
			`[0-9]+ not published; `+lost)
		if m != nil && m[1] != inFlight[prog] {
			t.Errorf("%s unconfirmed, want %s", m[1], inFlight[prog])
		}
		if strings.Contains(p.Stderr(), "block") {
			t.Errorf("stderr = %q: a lost connection reported as a broker blocking publishers", p.Stderr())
		}
	})
}

// Ctrl+C mid-run: publishing stops at once, what was not confirmed is reported, and the exit status
// says so.
func TestInterrupted(t *testing.T) {
	eachProgram(t, func(t *testing.T, prog string) {
		p, _ := startPublishing(t, prog, nil)
		p.Interrupt()
		code := p.Wait()
		failed(t, prog, p, code, notConfirmed("10000000")+
			`(publish: context canceled|interrupted before the broker confirmed the message \(it may or may not be in the queue\))`)
	})
}

// The broker stops answering mid-run (the proxy holds back all it sends: confirms, heartbeats,
// close-ok), so the messages in flight get no confirm. After -timeout each program reports them as
// unconfirmed, the rest as not published, and fails, within its bounded close. The broker has them all
// the same: unconfirmed means "not known to be safe", not "lost", which is why publishing them again
// can make duplicates.
func TestNoConfirmWithinTimeout(t *testing.T) {
	// In flight when the broker stops answering: the one message waited for; the batch, part of which may
	// have been confirmed before; the window, always full (async keeps publishing until it is).
	inFlight := map[string][2]int{"publish-individually": {1, 1}, "publish-batches": {1, 64}, "publish-async": {128, 128}}
	eachProgram(t, func(t *testing.T, prog string) {
		proxy := e2e.NewProxy(t)
		p, q := startPublishing(t, prog, proxy.Env(), "-timeout", "1s")
		proxy.Stall()
		began := time.Now()
		code := p.Wait()
		if took := time.Since(began); took > 15*time.Second {
			t.Errorf("exited %s after the stall, want about 1s (timeout) + 5s (close)", took)
		}
		m := failed(t, prog, p, code, notConfirmed("10000000")+`no confirm from the broker within 1s \(it may or may not be in the queue\)`)
		if m == nil {
			return
		}
		if n, _ := strconv.Atoi(m[1]); n < inFlight[prog][0] || n > inFlight[prog][1] {
			t.Errorf("%d unconfirmed, want %d to %d", n, inFlight[prog][0], inFlight[prog][1])
		}
		// The queue holds every message published, the unconfirmed ones too.
		proxy.Resume()
		published := summary.FindStringSubmatch(p.Stdout())[1]
		e2e.WaitFor(t, published+" messages in "+q, func() bool {
			n, _ := e2e.QueueCounts(t, q)
			return strconv.Itoa(n) == published
		})
	})
}

// The broker blocks publishers (a memory or disk alarm, played by the proxy): each program says so when
// its -timeout (5s) ends, and exits with a bounded close although the broker reads nothing more.
// (The close takes 5 to 10s here, not 5: each heartbeat the broker still sends pushes amqp091-go's read
// deadline back, and the close ends when the library's next heartbeat write fails on the deadline.)
func TestBrokerBlockingPublishers(t *testing.T) {
	eachProgram(t, func(t *testing.T, prog string) {
		proxy := e2e.NewProxy(t)
		proxy.Block("low on memory")
		q := declareQueue(t, nil)
		began := time.Now()
		p := start(t, prog, proxy.Env(), "-count", "1000", "-queue", q)
		code := p.Wait()
		if took := time.Since(began); took > 20*time.Second {
			t.Errorf("exited after %s, want the -timeout (5s), then the close", took)
		}
		failed(t, prog, p, code, notConfirmed("1000")+`the broker is blocking publishers \(low on memory\): no confirm within 5s`)
	})
}

// A program stuck in a bounded wait (here its close, while the broker does not answer) ends at once on
// a second Ctrl+C, with exit status 130 (rabbit.Main; before, it was killed by the signal).
func TestSecondInterruptEndsAtOnce(t *testing.T) {
	eachProgram(t, func(t *testing.T, prog string) {
		proxy := e2e.NewProxy(t)
		p, _ := startPublishing(t, prog, proxy.Env())
		proxy.Stall()
		p.Interrupt()
		p.WaitLine("Published ") // reported: now in its close, which waits up to 5s for the broker
		// A second Ctrl+C: it must end the program at once. Pressed three times, 100ms apart, as a user
		// would: the first press may reach the program before it has stopped catching the signal.
		began := time.Now()
		for range 3 {
			p.Interrupt()
			time.Sleep(100 * time.Millisecond)
		}
		code := p.Wait()
		if took := time.Since(began); took > 3*time.Second || code != 130 || p.Stderr() != "" {
			t.Errorf("exit code %d after %s, stderr %q: want 130 at once, nothing printed",
				code, took, p.Stderr())
		}
	})
}
