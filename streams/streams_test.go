// End-to-end tests of the stream tutorials over AMQP 0-9-1: real processes against the real broker at
// AMQP_URL. Every test uses streams of its own (e2e.Stream), passed by flag, and deletes them.
package streams_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "streams/send", "streams/receive", "streams/offset_tracking_send", "streams/offset_tracking_receive"))
}

const waiting = " [*] Waiting for messages. To exit press CTRL+C"

// outputs collects what the guide's scenarios print, for TestGuideOutput's check.
var outputs = map[string]string{}

func runOK(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, errOut, code := e2e.Run(t, name, nil, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("%s %v: exit %d, stdout %q, stderr %q", name, args, code, out, errOut)
	}
	return out
}

func interrupted(t *testing.T, p *e2e.Proc) {
	t.Helper()
	p.Interrupt()
	if code := p.Wait(); code != 0 || p.Stderr() != "" {
		t.Fatalf("after Ctrl+C: exit %d, stderr %q; want exit 0, nothing", code, p.Stderr())
	}
}

// version is the broker's major and minor version, as it gives them when we connect.
func version(t *testing.T) (major, minor int) {
	t.Helper()
	conn, err := rabbit.Dial(rabbit.URL(), "streams-test")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Sscanf(conn.Properties["version"].(string), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("broker version %q: %v", conn.Properties["version"], err)
	}
	return major, minor
}

func hasFiltering(t *testing.T) bool {
	major, minor := version(t)
	return major > 3 || major == 3 && minor >= 13
}

// publish puts messages in stream on the test's own channel, each with its filter value (none if ""),
// and waits for their confirms. together publishes them all before waiting, so the broker stores them
// in few chunks; otherwise each is confirmed before the next, so each is a chunk of its own.
func publish(t *testing.T, ch *amqp.Channel, stream string, together bool, values ...string) {
	t.Helper()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	var dcs []*amqp.DeferredConfirmation
	for i, v := range values {
		msg := amqp.Publishing{Body: []byte(fmt.Sprintf("%s-%d", v, i))}
		if v != "" {
			msg.Headers = amqp.Table{"x-stream-filter-value": v}
		}
		dc, err := ch.PublishWithDeferredConfirm("", stream, true, false, msg)
		if err != nil {
			t.Fatal(err)
		}
		dcs = append(dcs, dc)
		if !together {
			if ok, err := dc.WaitContext(t.Context()); !ok || err != nil {
				t.Fatalf("confirm: %v %v", ok, err)
			}
		}
	}
	for _, dc := range dcs {
		if ok, err := dc.WaitContext(t.Context()); !ok || err != nil {
			t.Fatalf("confirm: %v %v", ok, err)
		}
	}
}

// declared makes the test's stream as the programs declare it.
func declared(t *testing.T, stream string) *amqp.Channel {
	t.Helper()
	ch := e2e.Channel(t)
	if _, err := ch.QueueDeclare(stream, true, false, false, false, e2e.StreamArgs); err != nil {
		t.Fatal(err)
	}
	return ch
}

// Hello World: send twice, then receive from the first offset gets both, with their offsets; a stream
// keeps them, so a second receive gets them again.
func TestHelloWorld(t *testing.T) {
	stream := e2e.Stream(t, "hello-go-stream")
	named := func(s string) string { return strings.ReplaceAll(s, stream, "hello-go-stream") }
	outputs["send"] = runOK(t, "send", "-stream", stream)
	outputs["send-words"] = runOK(t, "send", "-stream", stream, "Hi", "there")
	for range 2 {
		recv := e2e.Start(t, "receive", nil, "-stream", stream)
		recv.WaitLine(waiting)
		recv.WaitLine("Received message: Hi there (offset 1)")
		interrupted(t, recv)
		outputs["receive"] = named(recv.Stdout())
	}
	// The stream is declared as the stream client declares it: the same arguments are accepted again
	// (any other x-max-length-bytes or x-queue-leader-locator would be a 406).
	if _, err := e2e.Channel(t).QueueDeclare(stream, true, false, false, false, e2e.StreamArgs); err != nil {
		t.Errorf("declare the stream as the official programs do: %v", err)
	}
}

// What AMQP 0-9-1 asks of a stream consumer, as the guide says, on the broker itself.
func TestConsumerRules(t *testing.T) {
	stream := e2e.Stream(t, "rules")
	ch := declared(t, stream)
	publish(t, ch, stream, true, make([]string, 2000)...)

	t.Run("prefetch required", func(t *testing.T) {
		ch := e2e.Channel(t)
		_, err := ch.Consume(stream, "", false, false, false, false, nil)
		var aerr *amqp.Error
		if !errors.As(err, &aerr) || aerr.Code != amqp.PreconditionFailed || !strings.Contains(aerr.Reason, "consumer prefetch count is not set") {
			t.Errorf("consume without prefetch: %v; want 406 consumer prefetch count is not set", err)
		}
	})
	t.Run("auto-ack refused, connection closed", func(t *testing.T) {
		ch := e2e.Channel(t)
		if err := ch.Qos(10, 0, false); err != nil {
			t.Fatal(err)
		}
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		_, err := ch.Consume(stream, "", true, false, false, false, nil)
		var aerr *amqp.Error
		if !errors.As(err, &aerr) || aerr.Code != amqp.NotImplemented || !strings.Contains(aerr.Reason, "automatic acknowledgement not supported") {
			t.Errorf("consume with auto-ack: %v; want 540 automatic acknowledgement not supported", err)
		}
		<-closed
		if _, err := ch.QueueDeclarePassive(stream, false, false, false, false, nil); !errors.Is(err, amqp.ErrClosed) {
			t.Errorf("after the 540, the channel answers (%v); want it closed with the connection", err)
		}
	})
	t.Run("no ack, no more messages", func(t *testing.T) {
		ch := e2e.Channel(t)
		if err := ch.Qos(5, 0, false); err != nil {
			t.Fatal(err)
		}
		msgs, err := ch.Consume(stream, "", false, false, false, false, amqp.Table{"x-stream-offset": "first"})
		if err != nil {
			t.Fatal(err)
		}
		// 4.x stops at exactly 5; 3.10 may go on to the end of the chunk it is reading, and stops there.
		got, last := 0, amqp.Delivery{}
		for stalled := false; !stalled; {
			select {
			case last = <-msgs:
				got++
			case <-time.After(time.Second):
				stalled = true
			}
		}
		if major, _ := version(t); got < 5 || got >= 2000 || major >= 4 && got != 5 {
			t.Fatalf("%d messages came with prefetch 5 and no ack; want 5 (3.10: up to a chunk's end)", got)
		}
		if err := last.Ack(true); err != nil {
			t.Fatal(err)
		}
		select {
		case <-msgs:
		case <-time.After(e2e.LineTimeout):
			t.Fatal("no more messages after the ack")
		}
	})
	t.Run("receive acks, so gets them all with prefetch 5", func(t *testing.T) {
		recv := e2e.Start(t, "receive", nil, "-stream", stream, "-prefetch", "5")
		recv.WaitLine("(offset 1999)")
		interrupted(t, recv)
	})
}

// Where to start: -offset first, an offset, last, next, a time, an age.
func TestOffsets(t *testing.T) {
	stream := e2e.Stream(t, "offsets")
	ch := declared(t, stream)
	publish(t, ch, stream, true, make([]string, 10)...)
	// Offset 10 is published after a whole second has begun that the first ten were stored before.
	at := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at) + 100*time.Millisecond) // the clock must pass a second boundary
	publish(t, ch, stream, false, "late")

	firstLine := func(t *testing.T, offset string) string {
		recv := e2e.Start(t, "receive", nil, "-stream", stream, "-offset", offset)
		recv.WaitLine(waiting)
		line := recv.WaitLine("Received message")
		interrupted(t, recv)
		return line
	}
	for _, c := range []struct{ offset, want string }{
		{"first", "(offset 0)"},
		{"7", "(offset 7)"},
		{at.UTC().Format(time.RFC3339), "(offset 10)"}, // the first chunk stored at or after that second
		{"1h", "(offset 0)"},
	} {
		if got := firstLine(t, c.offset); !strings.HasSuffix(got, c.want) {
			t.Errorf("-offset %s: first line %q, want %s", c.offset, got, c.want)
		}
	}
	// last: the start of the last chunk, which here holds only offset 10.
	if got := firstLine(t, "last"); !strings.HasSuffix(got, "(offset 10)") {
		t.Errorf("-offset last: first line %q, want offset 10", got)
	}
	// next: only what is published from now on.
	recv := e2e.Start(t, "receive", nil, "-stream", stream, "-offset", "next")
	recv.WaitLine(waiting)
	publish(t, ch, stream, false, "new")
	if got := recv.WaitLine("Received message"); !strings.HasSuffix(got, "(offset 11)") {
		t.Errorf("-offset next: first line %q, want offset 11", got)
	}
	interrupted(t, recv)

	// A word the broker would not know is refused in one line: 4.3 answers it with 406, 4.0 and 3.10
	// with a bare 541 INTERNAL_ERROR.
	for _, bad := range []string{"yesterday", "5x", "-3", "", "10 m"} {
		out, errOut, code := e2e.Run(t, "receive", nil, "-stream", stream, "-offset", bad)
		e2e.CheckCleanError(t, errOut, code)
		if want := fmt.Sprintf("receive: -offset %q: want first, last, next, an offset (42), a time", bad); out != "" || !strings.HasPrefix(errOut, want) {
			t.Errorf("-offset %q: stdout %q, stderr %q, want %q...", bad, out, errOut, want)
		}
	}
}

// Filtering: the broker skips chunks without the value (3.13 and later), and receive checks each
// message, since a chunk with one is delivered whole. 3.10 ignores the arguments, and receive says so.
func TestFiltering(t *testing.T) {
	stream := e2e.Stream(t, "filter")
	ch := declared(t, stream)
	publish(t, ch, stream, false, "blue", "blue", "red")       // offsets 0-2, a chunk each
	publish(t, ch, stream, true, "red", "blue", "red", "blue") // offsets 3-6, in one chunk or few
	publish(t, ch, stream, false, "red")                       // offset 7
	recv := e2e.Start(t, "receive", nil, "-stream", stream, "-filter", "red")
	recv.WaitLine(waiting)
	recv.WaitLine("(offset 7)")
	recv.Interrupt()
	filtering := hasFiltering(t)
	if code := recv.Wait(); code != 0 || filtering && recv.Stderr() != "" ||
		!filtering && (strings.Count(recv.Stderr(), "\n") != 1 || !strings.Contains(recv.Stderr(), "has no stream filtering (3.13 and later)")) {
		t.Fatalf("receive -filter: exit %d, stderr %q", code, recv.Stderr())
	}
	received, skipped := offsets(recv.Stdout())
	for _, off := range []string{"2", "3", "5", "7"} {
		if !received[off] {
			t.Errorf("red message at offset %s not received:\n%s", off, recv.Stdout())
		}
	}
	for _, off := range []string{"0", "1", "4", "6"} {
		if received[off] {
			t.Errorf("blue message at offset %s printed as received:\n%s", off, recv.Stdout())
		}
	}
	if filtering {
		// The blue messages alone in their chunks never reach the consumer.
		if skipped["0"] || skipped["1"] {
			t.Errorf("the broker delivered a chunk of blue only:\n%s", recv.Stdout())
		}
	} else if !skipped["0"] || !skipped["1"] {
		// 3.10 takes the filter arguments and ignores them: every message comes, and receive skips.
		t.Errorf("3.10 did not deliver the blue messages:\n%s", recv.Stdout())
	}
}

// On a broker without filtering, receive and send say so in one line and still work.
func TestFilteringUnsupported(t *testing.T) {
	if hasFiltering(t) {
		t.Skip("the broker filters streams (3.13 and later)")
	}
	stream := e2e.Stream(t, "nofilter")
	out, errOut, code := e2e.Run(t, "send", nil, "-stream", stream, "-filter", "red", "apple")
	if code != 0 || out != " [x] 'apple' Message sent" || !strings.Contains(errOut, "has no stream filtering (3.13 and later)") {
		t.Errorf("send -filter on 3.10: exit %d, %q, %q", code, out, errOut)
	}
	runOK(t, "send", "-stream", stream, "pear")
	recv := e2e.Start(t, "receive", nil, "-stream", stream, "-filter", "red")
	recv.WaitLine(waiting)
	recv.WaitLine(`Skipped offset 1 (filter value "")`)
	recv.Interrupt()
	if code := recv.Wait(); code != 0 || strings.Count(recv.Stderr(), "\n") != 1 || !strings.Contains(recv.Stderr(), "has no stream filtering") {
		t.Errorf("receive -filter on 3.10: exit %d, stderr %q", code, recv.Stderr())
	}
	if !strings.Contains(recv.Stdout(), "Received message: apple (offset 0)") {
		t.Errorf("receive -filter red on 3.10:\n%s", recv.Stdout())
	}
}

// Offset tracking: the first run reads 0-99; a second wave and run start right after the stored one.
func TestOffsetTracking(t *testing.T) {
	stream := e2e.Stream(t, "stream-offset-tracking-go")
	file := filepath.Join(t.TempDir(), "offset")
	args := []string{"-stream", stream, "-offset-file", file}
	outputs["offset_tracking_send"] = runOK(t, "offset_tracking_send", "-stream", stream)
	outputs["offset_tracking_receive"] = runOK(t, "offset_tracking_receive", args...)
	if got := stored(t, file); got != 99 {
		t.Errorf("stored offset %d after the first run, want 99", got)
	}
	runOK(t, "offset_tracking_send", "-stream", stream)
	outputs["offset_tracking_receive-2"] = runOK(t, "offset_tracking_receive", args...)
	if got := stored(t, file); got != 199 {
		t.Errorf("stored offset %d after the second run, want 199", got)
	}
	// -offset first reads the stream again from the start, up to the first marker.
	if out := runOK(t, "offset_tracking_receive", append(args, "-offset", "first")...); !strings.HasSuffix(out, "first offset 0, last offset 99.") {
		t.Errorf("-offset first:\n%s", out)
	}
	// -offset next waits for new messages, and so does a run started after the last marker.
	recv := e2e.Start(t, "offset_tracking_receive", nil, append(args, "-offset", "next")...)
	recv.WaitLine("Started consuming...")
	runOK(t, "offset_tracking_send", "-stream", stream, "-count", "3")
	recv.WaitLine("Done consuming, first offset 200, last offset 202.")
	if code := recv.Wait(); code != 0 {
		t.Errorf("exit %d", code)
	}
	// Ctrl+C stores the offset reached.
	recv = e2e.Start(t, "offset_tracking_receive", nil, args...)
	recv.WaitLine("Started consuming...")
	interrupted(t, recv)
	if got := stored(t, file); got != 202 {
		t.Errorf("stored offset %d after Ctrl+C, want 202", got)
	}
}

// A receiver killed mid-wave resumes right after the offset it stored: nothing skipped, and read twice
// at most what came after its last store.
func TestOffsetTrackingKilled(t *testing.T) {
	stream := e2e.Stream(t, "killed")
	file := filepath.Join(t.TempDir(), "offset")
	args := []string{"-stream", stream, "-offset-file", file, "-prefetch", "10"}
	declared(t, stream)
	// Storing after every message, so that the kill is likely to land in the middle of a store.
	recv := e2e.Start(t, "offset_tracking_receive", nil, append(args, "-store-every", "1")...)
	recv.WaitLine("Started consuming...")
	runOK(t, "offset_tracking_send", "-stream", stream, "-count", "5000")
	e2e.WaitFor(t, "an offset stored", func() bool {
		b, _ := os.ReadFile(file)
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && n >= 100
	})
	recv.Kill()
	if recv.Wait(); recv.Stdout() != "Started consuming...\nFirst message received." {
		t.Fatalf("the receiver was not mid-wave when killed:\n%s", recv.Stdout())
	}
	s := stored(t, file) // whole: the old offset or the new one
	out := runOK(t, "offset_tracking_receive", args...)
	if want := fmt.Sprintf("Done consuming, first offset %d, last offset 4999.", s+1); !strings.HasSuffix(out, want) {
		t.Errorf("after the kill (stored %d):\n%s\nwant %s", s, out, want)
	}
	if left, _ := filepath.Glob(file + ".tmp-*"); len(left) > 1 {
		t.Errorf("temporary files left: %v", left)
	}
}

// offsets are the offsets receive printed as received and as skipped.
func offsets(out string) (received, skipped map[string]bool) {
	received, skipped = map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, "(offset "); ok && strings.HasPrefix(line, "Stream: ") {
			received[strings.TrimSuffix(rest, ")")] = true
		} else if rest, ok := strings.CutPrefix(line, " [-] Skipped offset "); ok {
			off, _, _ := strings.Cut(rest, " ")
			skipped[off] = true
		}
	}
	return received, skipped
}

func stored(t *testing.T, file string) int64 {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || !strings.HasSuffix(string(b), "\n") {
		t.Fatalf("offset file holds %q: torn", b)
	}
	return n
}

// One-line errors: a corrupt offset file, a name taken by a queue of another type, no broker.
func TestErrors(t *testing.T) {
	stream := e2e.Stream(t, "errors")
	file := filepath.Join(t.TempDir(), "offset")
	if err := os.WriteFile(file, []byte("4x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e2e.Run(t, "offset_tracking_receive", nil, "-stream", stream, "-offset-file", file)
	e2e.CheckCleanError(t, errOut, code)
	if out != "" || !strings.Contains(errOut, "does not hold an offset") {
		t.Errorf("corrupt offset file: %q %q", out, errOut)
	}

	queue := e2e.Stream(t, "quorum")
	if _, err := e2e.Channel(t).QueueDeclare(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err != nil {
		t.Fatal(err)
	}
	down := []string{"AMQP_URL=amqp://guest:guest@" + e2e.FreeAddr(t) + "/"}
	for _, prog := range []string{"send", "receive", "offset_tracking_send", "offset_tracking_receive"} {
		args := func(name string) []string {
			if prog == "offset_tracking_receive" {
				return []string{"-stream", name, "-offset-file", filepath.Join(t.TempDir(), "offset")}
			}
			return []string{"-stream", name}
		}
		out, errOut, code := e2e.Run(t, prog, nil, args(queue)...)
		e2e.CheckCleanError(t, errOut, code)
		if out != "" || !strings.Contains(errOut, "exists with other properties") {
			t.Errorf("%s on a quorum queue: %q %q", prog, out, errOut)
		}
		out, errOut, code = e2e.Run(t, prog, down, args(stream)...)
		e2e.CheckCleanError(t, errOut, code)
		if out != "" || !strings.Contains(errOut, "connection refused") {
			t.Errorf("%s with no broker: %q %q", prog, out, errOut)
		}
	}
	e2e.CheckHelp(t, "send", "receive", "offset_tracking_send", "offset_tracking_receive")
}

// SIGTERM stops receive cleanly, as Ctrl+C does.
func TestReceiveSIGTERM(t *testing.T) {
	stream := e2e.Stream(t, "sigterm")
	recv := e2e.Start(t, "receive", nil, "-stream", stream)
	recv.WaitLine(waiting)
	recv.Signal(syscall.SIGTERM)
	if code := recv.Wait(); code != 0 || recv.Stderr() != "" {
		t.Fatalf("after SIGTERM: exit %d, stderr %q", code, recv.Stderr())
	}
}

// TestGuideOutput checks the output blocks of the guides against what the scenarios above printed
// (with the tests' stream names put back to the tutorial's).
func TestGuideOutput(t *testing.T) {
	if len(outputs) == 0 {
		t.Skip("run with the scenario tests (TestHelloWorld, TestOffsetTracking)")
	}
	for _, err := range guide.CompareOutputs(".", outputs) {
		t.Error(err)
	}
}
