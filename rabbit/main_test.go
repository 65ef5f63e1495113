package rabbit_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// TestMain runs the test binary as a tiny program built on rabbit.Main when RABBIT_TEST_PROGRAM says
// which; otherwise it checks that a broker answers (failing loudly when none does) and runs the tests.
func TestMain(m *testing.M) {
	if prog := os.Getenv("RABBIT_TEST_PROGRAM"); prog != "" {
		rabbit.Main("prog", programs[prog])
		return
	}
	conn, err := e2e.Dial("rabbit-test-check")
	if err != nil {
		fmt.Fprintf(os.Stderr, "rabbit: no broker for the tests: %v\n"+
			"rabbit: start one with `make broker` (or set AMQP_URL to a broker that runs)\n", err)
		os.Exit(1)
	}
	_ = conn.Close()
	os.Exit(m.Run())
}

// n is the "flags" program's flag: Main parses the command line with Go's flag package.
var n = flag.Int("n", 1, "how many")

var programs = map[string]func(ctx context.Context) error{
	// waits: says when it is ready and when it was cancelled, then never ends on its own.
	"waits": func(ctx context.Context) error {
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("cancelled")
		select {}
	},
	// stops: returns once cancelled.
	"stops": func(ctx context.Context) error {
		fmt.Println("ready")
		<-ctx.Done()
		return nil
	},
	"fails": func(ctx context.Context) error {
		return errors.New("connect to amqp://guest@localhost:5672: PRECONDITION_FAILED - first line\nsecond line")
	},
	"flags": func(ctx context.Context) error {
		fmt.Println("n =", *n, flag.Args())
		return nil
	},
}

// proc is the test binary run as one of the programs, through sh with SIGINT ignored when ignoreINT
// (as a script's background job starts it).
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr strings.Builder
}

func start(t *testing.T, prog string, ignoreINT bool, args ...string) *proc {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	if ignoreINT {
		cmd = exec.Command("sh", append([]string{"-c", `trap '' INT; exec "$0" "$@"`, self}, args...)...)
	}
	cmd.Env = append(os.Environ(), "RABBIT_TEST_PROGRAM="+prog)
	p := &proc{cmd: cmd, lines: make(chan string, 100)}
	cmd.Stderr = &p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	return p
}

func (p *proc) waitLine(t *testing.T, want string) {
	t.Helper()
	select {
	case line := <-p.lines:
		if line != want {
			t.Fatalf("printed %q, want %q", line, want)
		}
	case <-time.After(e2e.LineTimeout):
		t.Fatalf("did not print %q", want)
	}
}

// exit waits for the end of the program (the lines read first) and returns its exit status.
func (p *proc) exit(t *testing.T) (stdout []string, code int) {
	t.Helper()
	for line := range p.lines {
		stdout = append(stdout, line)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(e2e.LineTimeout):
		t.Fatal("the program did not exit")
	}
	return stdout, p.cmd.ProcessState.ExitCode()
}

// The first signal cancels the context; a second ends the program at once, 130 for
// SIGINT, 143 for SIGTERM, also when it was started with SIGINT ignored.
func TestMainSecondSignal(t *testing.T) {
	for _, c := range []struct {
		name      string
		sig       syscall.Signal
		ignoreINT bool
		said      string
		code      int
	}{
		{"SIGINT", syscall.SIGINT, false, "cancelled", 130},
		{"SIGINT ignored at start", syscall.SIGINT, true, "cancelled", 130},
		{"SIGTERM", syscall.SIGTERM, false, "cancelled", 143},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, "waits", c.ignoreINT)
			p.waitLine(t, "ready")
			_ = p.cmd.Process.Signal(c.sig)
			p.waitLine(t, c.said)
			_ = p.cmd.Process.Signal(c.sig)
			if _, code := p.exit(t); code != c.code {
				t.Errorf("exit status %d, want %d", code, c.code)
			}
		})
	}
}

func TestMainExits(t *testing.T) {
	p := start(t, "stops", true)
	p.waitLine(t, "ready")
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	if _, code := p.exit(t); code != 0 || p.stderr.Len() != 0 {
		t.Errorf("a run that returns nil after Ctrl+C: exit %d, stderr %q; want 0 and nothing", code, p.stderr.String())
	}

	p = start(t, "fails", false)
	_, code := p.exit(t)
	if want := "prog: connect to amqp://guest@localhost:5672: PRECONDITION_FAILED - first line\n"; code != 1 || p.stderr.String() != want {
		t.Errorf("an error: exit %d, stderr %q; want 1 and %q", code, p.stderr.String(), want)
	}

	// Main parses the flags as every Go program does: -h prints the usage on stderr and exits 0; a bad
	// flag prints the flag package's error and the usage, and exits 2.
	p = start(t, "flags", false, "-h")
	if out, code := p.exit(t); code != 0 || len(out) != 0 || !strings.HasPrefix(p.stderr.String(), "Usage of ") ||
		!strings.Contains(p.stderr.String(), "how many") {
		t.Errorf("-h: exit %d, stdout %q, stderr %q; want 0, nothing, and the usage", code, out, p.stderr.String())
	}
	for args, want := range map[string]string{
		"-x":   "flag provided but not defined: -x\n",
		"-n x": `invalid value "x" for flag -n: parse error` + "\n",
	} {
		p = start(t, "flags", false, strings.Fields(args)...)
		if _, code := p.exit(t); code != 2 || !strings.HasPrefix(p.stderr.String(), want+"Usage of ") {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q, then the usage", args, code, p.stderr.String(), want)
		}
	}
	p = start(t, "flags", false, "-n", "3", "a", "b")
	if out, code := p.exit(t); code != 0 || strings.Join(out, "\n") != "n = 3 [a b]" {
		t.Errorf("-n 3 a b: exit %d, stdout %q", code, out)
	}
}
