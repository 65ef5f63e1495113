// Package e2e runs the tutorial programs as real processes against a real RabbitMQ broker, for the
// end-to-end tests. It never fakes the broker: when none answers, the tests fail and say how to start one.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

// URL is the broker the tests use: AMQP_URL, or the guest user on localhost, as the programs read it.
func URL() string {
	if u := os.Getenv("AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@localhost:5672/"
}

// Redact is url without its password, for the tests' messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the broker in AMQP_URL"
	}
	return u.Redacted()
}

// Dial connects to the broker with amqp091-go itself (not the code under test), named in the management UI.
func Dial(name string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	return amqp.DialConfig(URL(), amqp.Config{Properties: props, Dial: amqp.DefaultDial(10 * time.Second)})
}

// LineTimeout is how long WaitLine waits for a line before failing the test. It is generous: the
// machines are shared and noisy, and a wait ends as soon as the line appears.
const LineTimeout = 60 * time.Second

// RepoRoot is the module's root folder (where go.mod is).
func RepoRoot() string {
	root, err := guide.Root()
	if err != nil {
		panic("e2e: " + err.Error())
	}
	return root
}

// brokerScript is scripts/broker.sh with args; it acts on the broker at the AMQP_URL the tests see.
func brokerScript(args ...string) *exec.Cmd {
	return exec.Command("bash", append([]string{filepath.Join(RepoRoot(), "scripts", "broker.sh")}, args...)...)
}

// Main is a TestMain body: it checks that a broker answers (failing loudly when none does), builds the
// given programs (import paths relative to the module, like "hello-world/send") into a temporary folder
// with the race detector, runs the tests, and cleans up. bins maps a program's last path element to its
// binary.
func Main(m *testing.M, programs ...string) (code int) {
	conn, err := Dial("e2e-check")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: no broker for the end-to-end tests: %v\n"+
			"e2e: start one with `make broker` (or set AMQP_URL to a broker that runs)\n", err)
		return 1
	}
	_ = conn.Close()

	dir, err := os.MkdirTemp("", "tutorial-bins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root := RepoRoot()
	// The programs are built with the race detector, except for a run of benchmarks alone (-bench with
	// -run '^$'), whose figures the detector would distort several times over.
	flag.Parse()
	race := !(flagValue("test.bench") != "" && flagValue("test.run") == "^$")
	for _, p := range programs {
		out := filepath.Join(dir, filepath.Base(p))
		cmd := exec.Command("go", "build", "-o", out, "./"+p)
		if race {
			cmd.Args = slices.Insert(cmd.Args, 2, "-race")
		}
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n%s", p, err, b)
			return 1
		}
		bins[filepath.Base(p)] = out
	}
	return m.Run()
}

var bins = map[string]string{}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// Bin is the path of a program built by Main, by its last path element ("send").
func Bin(t testing.TB, name string) string {
	t.Helper()
	b, ok := bins[name]
	if !ok {
		t.Fatalf("program %q was not built by e2e.Main", name)
	}
	return b
}

// Proc is a running program whose output is read line by line.
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout []string
	times  []time.Time // when each stdout line was read
	stderr bytes.Buffer
	read   int           // how many stdout lines WaitLine has looked at
	more   chan struct{} // gets a value when a line was added (never blocks the reader)
	done   chan struct{}
	err    error
}

// Start runs a built program with args and env (added to the test's environment; AMQP_URL is passed
// through). The process is killed when the test ends if it is still running.
func Start(t testing.TB, name string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, more: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd = exec.Command(Bin(t, name), args...)
	// Race-built programs sleep a second at exit unless told not to; a race still fails the program.
	p.cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0 halt_on_error=1"), env...)
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stdout = append(p.stdout, line)
			p.times = append(p.times, time.Now())
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// WaitLine waits until the program prints a line containing substr and returns it, failing the test
// (with all the program printed) if the program exits first or LineTimeout passes. Each call looks at
// the lines after the one the previous call returned. Lines are kept whether or not anybody waits for
// them, so a program that prints a lot never blocks on its output.
func (p *Proc) WaitLine(substr string) string {
	p.t.Helper()
	timer := time.NewTimer(LineTimeout)
	defer timer.Stop()
	for {
		p.mu.Lock()
		for p.read < len(p.stdout) {
			line := p.stdout[p.read]
			p.read++
			if strings.Contains(line, substr) {
				p.mu.Unlock()
				return line
			}
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-p.done:
			p.mu.Lock()
			unread := p.read < len(p.stdout)
			p.mu.Unlock()
			if !unread {
				p.t.Fatalf("%s exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s",
					p.name, p.err, substr, p.Stdout(), p.Stderr())
			}
		case <-timer.C:
			p.t.Fatalf("%s did not print %q within %s\nstdout:\n%s\nstderr:\n%s",
				p.name, substr, LineTimeout, p.Stdout(), p.Stderr())
		}
	}
}

// Signal sends sig to the program.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// Interrupt sends SIGINT, as Ctrl+C does.
func (p *Proc) Interrupt() { p.Signal(syscall.SIGINT) }

// Kill sends SIGKILL: the program gets no chance to clean up, as in a crash.
func (p *Proc) Kill() { p.Signal(syscall.SIGKILL) }

// Wait waits for the program to exit (failing after LineTimeout) and returns its exit code.
func (p *Proc) Wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(LineTimeout):
		p.t.Fatalf("%s did not exit within %s\nstdout:\n%s\nstderr:\n%s", p.name, LineTimeout, p.Stdout(), p.Stderr())
	}
	return p.cmd.ProcessState.ExitCode()
}

// Stdout is all the program printed on stdout so far, one line each.
func (p *Proc) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stdout, "\n")
}

// Lines is every stdout line so far with the time the test read it: for measuring gaps (a stall).
func (p *Proc) Lines() ([]string, []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stdout...), append([]time.Time(nil), p.times...)
}

// Stderr is all the program printed on stderr so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Run runs a program to its end and returns its stdout, stderr and exit code.
func Run(t testing.TB, name string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := Start(t, name, env, args...)
	code = p.Wait()
	return p.Stdout(), p.Stderr(), code
}

// CheckCleanError checks what every failing program must give: a non-zero exit, exactly one line on
// stderr, no panic or stack trace, and no password from AMQP_URL.
func CheckCleanError(t testing.TB, stderr string, code int, secrets ...string) {
	t.Helper()
	if code == 0 {
		t.Errorf("exit code 0, want non-zero; stderr: %q", stderr)
	}
	if n := strings.Count(strings.TrimRight(stderr, "\n"), "\n"); n != 0 || strings.TrimSpace(stderr) == "" {
		t.Errorf("stderr should be exactly one line, got:\n%s", stderr)
	}
	for _, bad := range []string{"panic", "goroutine ", ".go:"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr contains %q (a panic or stack trace):\n%s", bad, stderr)
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(stderr, s) {
			t.Errorf("stderr reveals the password %q:\n%s", s, stderr)
		}
	}
}

// Channel opens a connection and channel of the test's own, for checking and preparing what the broker
// holds. Both are closed when the test ends.
func Channel(t testing.TB) *amqp.Channel {
	t.Helper()
	conn, err := Dial("e2e-" + t.Name())
	if err != nil {
		t.Fatalf("%v (start a broker with `make broker`)", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	return ch
}

// QueueCounts returns the number of ready messages and consumers of an existing queue, from a passive
// declare on a fresh channel (a failed passive declare closes its channel).
func QueueCounts(t testing.TB, queue string) (messages, consumers int) {
	t.Helper()
	q, err := Channel(t).QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("passive declare %q: %v", queue, err)
	}
	return q.Messages, q.Consumers
}

// DeleteQueue deletes a queue the test made (a unique name, see UniqueName) if it exists.
func DeleteQueue(t testing.TB, queue string) {
	t.Helper()
	if _, err := Channel(t).QueueDelete(queue, false, false, false); err != nil {
		t.Fatalf("delete queue %q: %v", queue, err)
	}
}

// FreshQueue makes sure the tutorial queue with a fixed name ("hello", "task_queue", "rpc_queue") does
// not exist when the test starts, so the programs declare it as the tutorial does, and deletes it again
// when the test ends. Tests never destroy what they did not make: on a broker that scripts/broker.sh did
// not start, a queue that holds messages or has consumers is left alone and the test is skipped, saying
// so. (A queue with no consumer and no message ready is deleted and declared again. The count a passive
// declare gives leaves out messages delivered and not yet acknowledged, which a channel may still hold
// with no consumer left, after a basic.get or a cancel: a rare loss, on a broker that is not ours.)
func FreshQueue(t testing.TB, queue string) {
	t.Helper()
	ch := Channel(t)
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	var aerr *amqp.Error
	switch {
	case errors.As(err, &aerr) && aerr.Code == amqp.NotFound:
		// Not there: nothing to clear.
	case err != nil:
		t.Fatalf("passive declare %q: %v", queue, err)
	case (q.Messages > 0 || q.Consumers > 0) && !OwnBroker():
		t.Skipf("queue %q on %s holds %d messages and has %d consumers that these tests did not put there: "+
			"leaving it alone (run the tests against a broker of their own: `make broker` on another port)",
			queue, Redact(URL()), q.Messages, q.Consumers)
	default:
		if _, err := Channel(t).QueueDelete(queue, false, false, false); err != nil {
			t.Fatalf("delete queue %q: %v", queue, err)
		}
	}
	cleanUp(t, fmt.Sprintf("delete queue %q after the test", queue), func(ch *amqp.Channel) error {
		_, _ = ch.QueueDelete(queue, false, false, false) // gone already is fine
		return nil
	})
}

// FreshExchange makes sure the tutorial exchange name ("direct_logs", "topic_logs") does not exist, so
// that the test may declare it otherwise, and deletes the test's version when the test ends. It deletes
// only an exchange declared as the tutorial declares it (non-durable, kind) with no binding (if-unused),
// and skips otherwise.
func FreshExchange(t testing.TB, name, kind string) {
	t.Helper()
	if err := Channel(t).ExchangeDeclare(name, kind, false, false, false, false, nil); err != nil {
		t.Skipf("exchange %q exists with other properties on %s, and these tests did not make it: leaving it alone (%v)",
			name, Redact(URL()), err)
	}
	if err := Channel(t).ExchangeDelete(name, true, false); err != nil {
		t.Skipf("queues are bound to exchange %q on %s: leaving it alone (%v)", name, Redact(URL()), err)
	}
	cleanUp(t, fmt.Sprintf("delete exchange %q after the test", name), func(ch *amqp.Channel) error {
		return ch.ExchangeDelete(name, true, false)
	})
}

// cleanUp runs do on a channel of its own when the test ends (the test's own channels may be closed by
// then), failing the test with what when it cannot connect or do returns an error.
func cleanUp(t testing.TB, what string, do func(ch *amqp.Channel) error) {
	t.Cleanup(func() {
		conn, err := Dial("e2e-cleanup")
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			if err := do(ch); err != nil {
				t.Errorf("%s: %v", what, err)
			}
		}
	})
}

// UniqueName is a name no other test or run uses: prefix, the test's name and a random suffix. Tests use
// it for every queue and exchange whose name the tutorial does not fix, so they never meet a user's.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return fmt.Sprintf("%s.%s.%d", prefix, name, rand.Int64())
}

// WaitFor polls cond every 50ms until it holds or LineTimeout passes, for a broker state that follows an
// event with no line to wait on (a consumer gone, a queue drained).
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), LineTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// Broker runs scripts/broker.sh with a command ("stop", "start", "restart"): the durability tests stop
// the whole broker. It fails the test if the broker was not started by the script (it cannot be stopped
// from here then).
func Broker(t testing.TB, command string) {
	t.Helper()
	if !OwnBroker() {
		t.Skipf("the broker at %s was not started by scripts/broker.sh, so this test cannot stop it; "+
			"run the tests with `make test` on a machine with no broker running", Redact(URL()))
	}
	if out, err := brokerScript(command).CombinedOutput(); err != nil {
		t.Fatalf("scripts/broker.sh %s: %v\n%s", command, err, out)
	}
}

// BrokerURL returns AMQP_URL changed by edit: for the bad-input cases (a wrong password, a missing
// vhost, a broker that is down).
func BrokerURL(t testing.TB, edit func(u *url.URL)) string {
	t.Helper()
	u, err := url.Parse(URL())
	if err != nil {
		t.Fatalf("AMQP_URL: %v", err)
	}
	edit(u)
	return u.String()
}

// FreeAddr is a local address (127.0.0.1:port) that nothing listens on: a broker that is down.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// PythonWithPika returns a Python interpreter that can import pika (the seed texts' client), for the
// interoperability tests, or skips the test saying how to install it. Debian's python3-pika lives in
// /usr/bin/python3, which another python3 on PATH (pyenv, a virtualenv) may hide.
func PythonWithPika(t testing.TB) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import pika").Run() == nil {
			return py
		}
	}
	t.Skip("no python3 with pika (apt-get install python3-pika); .ci/run installs it")
	return ""
}

// OwnBroker reports whether scripts/broker.sh started the broker at AMQP_URL (it leaves an owner file
// in .broker/<port>/): only then may a test stop it, or clear a tutorial queue that holds messages.
func OwnBroker() bool {
	u, err := url.Parse(URL())
	if err != nil {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "5672"
	}
	_, err = os.Stat(filepath.Join(RepoRoot(), ".broker", port, "owner"))
	return err == nil
}

// EnsureBroker starts the broker again if a test stopped it and failed before starting it again.
func EnsureBroker(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		_ = brokerScript("start").Run()
	})
}
