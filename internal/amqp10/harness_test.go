// Interoperability tests between the tutorials' AMQP 0-9-1 programs and the official AMQP 1.0 tutorial
// programs, played by ./peer on the official AMQP 1.0 Go client: real processes against the real broker
// at AMQP_URL, no mock. This is a module of its own, so the tutorials' module keeps amqp091-go as its
// only dependency; `make test` runs it after the tutorials' tests.
//
// RabbitMQ speaks AMQP 1.0 natively from 4.0 on: on an older broker every test is skipped, saying so. A
// missing broker fails the run, saying how to start one.
package amqp10_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// lineTimeout bounds every wait for a line or an exit: generous, as the machines are shared.
const lineTimeout = 60 * time.Second

// ours are the tutorial programs these tests run, by import path relative to the repository.
var ours = []string{
	"hello-world/send", "hello-world/receive",
	"work-queues/new_task", "work-queues/worker",
	"publish-subscribe/emit_log", "publish-subscribe/receive_logs",
	"rpc/rpc_server", "rpc/rpc_client",
}

var (
	brokerURL  = "amqp://guest:guest@localhost:5672/"
	version    string // the broker's, e.g. "4.3.6"
	skipReason string // why every test is skipped, on a broker without native AMQP 1.0
	bins       = map[string]string{}
	repoRoot   string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if u := os.Getenv("AMQP_URL"); u != "" {
		brokerURL = u
	}
	conn, err := amqp.Dial(brokerURL)
	if err != nil {
		fmt.Fprintf(os.Stderr, "amqp10: no broker at %s for the interoperability tests: %v\n"+
			"amqp10: start one with `make broker` (or set AMQP_URL to a broker that runs)\n", redact(brokerURL), err)
		return 1
	}
	version, _ = conn.Properties["version"].(string)
	_ = conn.Close()
	if native, err := versionAtLeast(4, 0); err != nil {
		fmt.Fprintln(os.Stderr, "amqp10:", err)
		return 1
	} else if !native {
		skipReason = fmt.Sprintf("RabbitMQ %s has no native AMQP 1.0 (it came with 4.0), so the official "+
			"AMQP 1.0 tutorial programs cannot connect to it", version)
		return m.Run()
	}

	if repoRoot, err = filepath.Abs("../.."); err != nil {
		fmt.Fprintln(os.Stderr, "amqp10:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "amqp10-bins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "amqp10:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	builds := map[string]string{"peer": "."} // name: the folder to build in
	for _, p := range ours {
		builds[p] = repoRoot
	}
	for p, in := range builds {
		out := filepath.Join(dir, filepath.Base(p))
		cmd := exec.Command("go", "build", "-o", out, "./"+p)
		cmd.Dir = in
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "amqp10: build %s: %v\n%s", p, err, b)
			return 1
		}
		bins[filepath.Base(p)] = out
	}
	return m.Run()
}

// needAMQP10 skips the test on a broker without native AMQP 1.0.
func needAMQP10(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// versionAtLeast reports whether the broker's version is at least major.minor.
func versionAtLeast(major, minor int) (bool, error) {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false, fmt.Errorf("broker version %q", version)
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err := errors.Join(err1, err2); err != nil {
		return false, fmt.Errorf("broker version %q: %w", version, err)
	}
	return ma > major || ma == major && mi >= minor, nil
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "AMQP_URL"
	}
	return u.Redacted()
}

// proc is a running program whose stdout is read line by line.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	read   int
	stderr bytes.Buffer
	more   chan struct{}
	done   chan struct{}
}

// start runs a built program ("send", "peer", ...) with args against AMQP_URL; it is killed when the
// test ends if it still runs.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, more: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd = exec.Command(bins[name], args...)
	p.cmd.Env = append(os.Environ(), "AMQP_URL="+brokerURL)
	p.cmd.Stderr = &lockedWriter{&p.mu, &p.stderr}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
		_ = p.cmd.Wait()
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
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// waitLine waits for a line containing s, after the line the previous call returned, and returns it.
func (p *proc) waitLine(s string) string {
	p.t.Helper()
	timer := time.NewTimer(lineTimeout)
	defer timer.Stop()
	for {
		p.mu.Lock()
		for p.read < len(p.lines) {
			line := p.lines[p.read]
			p.read++
			if strings.Contains(line, s) {
				p.mu.Unlock()
				return line
			}
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-p.done:
			p.mu.Lock()
			unread := p.read < len(p.lines)
			p.mu.Unlock()
			if !unread {
				p.t.Fatalf("%s exited before printing %q\n%s", p.name, s, p.output())
			}
		case <-timer.C:
			p.t.Fatalf("%s did not print %q within %s\n%s", p.name, s, lineTimeout, p.output())
		}
	}
}

// wait waits for the program's exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(lineTimeout):
		p.t.Fatalf("%s did not exit within %s\n%s", p.name, lineTimeout, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop sends SIGINT (Ctrl+C) and requires exit status 0.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(); code != 0 {
		p.t.Errorf("%s after Ctrl+C: exit %d\n%s", p.name, code, p.output())
	}
}

func (p *proc) stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// stderrText is what the program printed on stderr, without the AMQP 1.0 client's own log lines.
func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(p.stderr.String(), "\n"), "\n") {
		if !strings.Contains(l, " WARN ") && !strings.Contains(l, " ERROR ") && !strings.Contains(l, " INFO ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func (p *proc) output() string {
	p.mu.Lock()
	stderr := p.stderr.String()
	p.mu.Unlock()
	return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", p.stdout(), stderr)
}

// run runs a program to its end: its stdout, its stderr (without the AMQP 1.0 client's log lines) and
// its exit code.
func run(t *testing.T, name string, args ...string) (*proc, int) {
	t.Helper()
	p := start(t, name, args...)
	return p, p.wait()
}

// mustRun runs a program that must exit 0 having printed want.
func mustRun(t *testing.T, want string, name string, args ...string) {
	t.Helper()
	p, code := run(t, name, args...)
	if code != 0 || !strings.Contains(p.stdout(), want) {
		t.Fatalf("%s %q: exit %d, want 0 and %q\n%s", name, args, code, want, p.output())
	}
}

// unique is a message body no other test or run sends (no dots: a worker sleeps a second for each).
func unique(t *testing.T, what string) string {
	return fmt.Sprintf("%s-%s-%d", what, strings.ReplaceAll(t.Name(), "/", "-"), rand.Uint32())
}

// channel is a channel of the test's own on a connection closed when the test ends.
func channel(t *testing.T) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(brokerURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", redact(brokerURL), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// ownBroker reports whether scripts/broker.sh started the broker at AMQP_URL: only then do the tests
// delete a tutorial queue that holds something, or the exchange logs.
func ownBroker() bool {
	u, err := url.Parse(brokerURL)
	if err != nil {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "5672"
	}
	_, err = os.Stat(filepath.Join(repoRoot, ".broker", port, "owner"))
	return err == nil
}

// freshQueue deletes a tutorial queue ("hello", "task_queue", "rpc_queue") before and after the test, so
// that the programs declare it as they do. On a broker not started by scripts/broker.sh, a queue that
// holds messages or has consumers is left alone and the test skipped.
func freshQueue(t *testing.T, name string) {
	t.Helper()
	q, err := channel(t).QueueDeclarePassive(name, false, false, false, false, nil)
	var aerr *amqp.Error
	switch {
	case errors.As(err, &aerr) && aerr.Code == amqp.NotFound:
	case err != nil:
		t.Fatalf("passive declare %q: %v", name, err)
	case (q.Messages > 0 || q.Consumers > 0) && !ownBroker():
		t.Skipf("queue %q on %s holds %d messages and has %d consumers that these tests did not put there: leaving it alone",
			name, redact(brokerURL), q.Messages, q.Consumers)
	}
	deleteQueue := func() {
		if _, err := channel(t).QueueDelete(name, false, false, false); err != nil {
			t.Errorf("delete queue %q: %v", name, err)
		}
	}
	deleteQueue()
	t.Cleanup(deleteQueue)
}

// messages is how many messages are ready in a queue.
func messages(t *testing.T, queue string) int {
	t.Helper()
	q, err := channel(t).QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("passive declare %q: %v", queue, err)
	}
	return q.Messages
}

// noLogs deletes the exchange logs, if no queue is bound to it, before and after the test. It runs only
// on a broker that scripts/broker.sh started, and skips the test when a queue is bound to logs.
func noLogs(t *testing.T) {
	t.Helper()
	if !ownBroker() {
		t.Skipf("the broker at %s was not started by scripts/broker.sh: not deleting its exchange logs", redact(brokerURL))
	}
	var aerr *amqp.Error
	if err := channel(t).ExchangeDelete("logs", true, false); errors.As(err, &aerr) && aerr.Code == amqp.PreconditionFailed {
		t.Skip("a queue is bound to exchange logs: leaving it alone")
	} else if err != nil {
		t.Fatalf("delete exchange logs: %v", err)
	}
	t.Cleanup(func() {
		if err := channel(t).ExchangeDelete("logs", true, false); err != nil {
			t.Errorf("delete exchange logs after the test: %v", err)
		}
	})
}

// logsDurable reports whether logs exists as a durable fanout exchange (false: as a non-durable one),
// by declaring it again on a channel of its own: the broker refuses a declaration that differs.
func logsDurable(t *testing.T) bool {
	t.Helper()
	for _, durable := range []bool{true, false} {
		if channel(t).ExchangeDeclare("logs", "fanout", durable, false, false, false, nil) == nil {
			return durable
		}
	}
	t.Fatal("exchange logs is neither a durable nor a non-durable fanout exchange")
	return false
}
