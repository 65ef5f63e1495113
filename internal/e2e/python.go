package e2e

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// StartPython runs a Python program (the source text, with pika for the interoperability tests) with
// env and args, and returns a function that waits for its next stdout line (failing the test if it exits
// first or LineTimeout passes). The program is killed when the test ends.
func StartPython(t testing.TB, python string, env []string, program string, args ...string) (next func() string) {
	t.Helper()
	py := exec.Command(python, append([]string{"-u", "-c", program}, args...)...)
	py.Env = env
	var stderr strings.Builder
	py.Stderr = &stderr
	stdout, err := py.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() { _ = py.Process.Kill(); _ = py.Wait() })
	return func() string {
		t.Helper()
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the Python program exited early; stderr:\n%s", stderr.String())
			}
			return line
		case <-time.After(LineTimeout):
			t.Fatalf("the Python program printed nothing within %s; stderr:\n%s", LineTimeout, stderr.String())
		}
		return ""
	}
}
