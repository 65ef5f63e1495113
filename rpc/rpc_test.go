// End-to-end tests of the RPC programs: real processes against the real broker at AMQP_URL.
//
// The queue name "rpc_queue" is fixed by the tutorial: every test that uses it starts with
// e2e.FreshQueue, which deletes it only when it holds nothing of anyone else's, and the tests run one
// after another.
package rpc_test

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func TestMain(m *testing.M) {
	os.Exit(e2e.Main(m, "rpc/rpc_server", "rpc/rpc_client"))
}

const awaiting = " [*] Awaiting RPC requests"

// fib is the n-th Fibonacci number, computed here with math/big, independently of the server.
func fib(n int) string {
	a, b := big.NewInt(0), big.NewInt(1)
	for i := 0; i < n; i++ {
		a.Add(a, b)
		a, b = b, a
	}
	return a.String()
}

// server starts rpc_server and waits until it consumes.
func server(t *testing.T, env []string, args ...string) *e2e.Proc {
	t.Helper()
	p := e2e.Start(t, "rpc_server", env, args...)
	p.WaitLine(awaiting)
	return p
}

// stop stops a server with Ctrl+C and requires a clean exit: 0, nothing on stderr.
func stop(t *testing.T, p *e2e.Proc) {
	t.Helper()
	p.Interrupt()
	if code := p.Wait(); code != 0 || p.Stderr() != "" {
		t.Fatalf("rpc_server after Ctrl+C: exit %d, stderr %q\nstdout:\n%s", code, p.Stderr(), p.Stdout())
	}
}

// expected is what rpc_client prints for the calls ns when every one is answered right.
func expected(ns []int) string {
	var lines []string
	for _, n := range ns {
		lines = append(lines, fmt.Sprintf(" [x] Requesting fib(%d)", n))
	}
	for _, n := range ns {
		lines = append(lines, " [.] Got "+fib(n))
	}
	return strings.Join(lines, "\n")
}

// call runs rpc_client for ns and requires every answer right.
func call(t *testing.T, env []string, ns ...int) {
	t.Helper()
	out, errOut, code := e2e.Run(t, "rpc_client", env, words(ns)...)
	if len(ns) == 0 {
		ns = []int{30} // the default
	}
	if want := expected(ns); code != 0 || out != want || errOut != "" {
		t.Fatalf("rpc_client %v: exit %d, stderr %q\nstdout:\n%s\nwant:\n%s", ns, code, errOut, out, want)
	}
}

func words(ns []int) []string {
	var w []string
	for _, n := range ns {
		w = append(w, strconv.Itoa(n))
	}
	return w
}

func span(from, to int) []int {
	var ns []int
	for n := from; n <= to; n++ {
		ns = append(ns, n)
	}
	return ns
}

// served is the numbers n a server printed " [.] fib(n)" for.
func served(p *e2e.Proc) []int {
	var ns []int
	for _, line := range strings.Split(p.Stdout(), "\n") {
		if s, ok := strings.CutPrefix(line, " [.] fib("); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(s, ")"))
			ns = append(ns, n)
		}
	}
	return ns
}

// The tutorial's scenario, and exactness: fib(0) to fib(100), far past fib(92), the last that fits in
// an int64, each compared with math/big here. The client makes the 101 calls at once.
func TestFibExact(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s := server(t, nil)
	call(t, nil)
	call(t, nil, span(0, 100)...)
	if got := served(s); len(got) != 102 {
		t.Errorf("the server served %d requests, want 102", len(got))
	}
	stop(t, s)
	if n, _ := e2e.QueueCounts(t, "rpc_queue"); n != 0 {
		t.Errorf("rpc_queue holds %d requests after all were answered", n)
	}
}

// Several clients at once, 100 calls in all, each client with numbers of its own: every answer is the
// one for its own call (a reply given to the wrong call would show as a wrong number).
func TestManyConcurrentCalls(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s1, s2 := server(t, nil), server(t, nil)
	var clients []*e2e.Proc
	var asked [][]int
	for i := range 4 {
		ns := span(i*25, i*25+24)
		slices.Reverse(ns)
		asked = append(asked, ns)
		clients = append(clients, e2e.Start(t, "rpc_client", nil, words(ns)...))
	}
	for i, c := range clients {
		if code := c.Wait(); code != 0 || c.Stdout() != expected(asked[i]) || c.Stderr() != "" {
			t.Errorf("client %d: exit %d, stderr %q\nstdout:\n%s", i, code, c.Stderr(), c.Stdout())
		}
	}
	stop(t, s1)
	stop(t, s2)
	if got := len(served(s1)) + len(served(s2)); got != 100 {
		t.Errorf("the servers served %d requests, want 100", got)
	}
}

// One client with many calls at once (-repeat), over one connection and one callback queue.
func TestRepeat(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s := server(t, nil)
	out, errOut, code := e2e.Run(t, "rpc_client", nil, "-repeat", "50", "7", "8")
	var ns []int
	for range 50 {
		ns = append(ns, 7, 8)
	}
	if code != 0 || out != expected(ns) || errOut != "" {
		t.Errorf("rpc_client -repeat 50 7 8: exit %d, stderr %q\nstdout:\n%s", code, errOut, out)
	}
	stop(t, s)
}

// Two servers share the requests: with a prefetch of 1, both get some.
func TestTwoServersBothServe(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s1, s2 := server(t, nil), server(t, nil)
	call(t, nil, span(1, 20)...)
	stop(t, s1)
	stop(t, s2)
	a, b := served(s1), served(s2)
	if len(a) == 0 || len(b) == 0 || len(a)+len(b) != 20 {
		t.Errorf("server 1 served %v, server 2 %v: want both some, 20 in all", a, b)
	}
}

// A server killed while it holds a request (it has computed the answer, and the broker has not taken
// its reply yet: the proxy holds it back) never acknowledged the request: the broker gives it to
// another server, which answers. The call is not lost.
func TestServerKilledHoldingRequest(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	p := e2e.NewProxy(t)
	p.Block("held by the test")
	doomed := server(t, p.Env(), "-timeout", "1h")
	client := e2e.Start(t, "rpc_client", nil, "77")
	doomed.WaitLine(" [.] fib(77)")
	holding(t, p)

	doomed.Kill()
	doomed.Wait()
	// A killed process's connections close; the proxy, holding what the server sent, does not notice
	// until it is told to let go. Cut is what the broker would have seen.
	p.Cut()
	other := server(t, nil)
	other.WaitLine(" [.] fib(77)")
	if code := client.Wait(); code != 0 || client.Stdout() != expected([]int{77}) {
		t.Fatalf("rpc_client: exit %d, stderr %q\nstdout:\n%s", code, client.Stderr(), client.Stdout())
	}
	stop(t, other)
}

// Ctrl+C while the server holds a request (its reply not yet taken by the broker): the server finishes
// it, replying and acknowledging, before it exits 0.
func TestServerInterruptedFinishesRequest(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	p := e2e.NewProxy(t)
	p.Block("held by the test")
	s := server(t, p.Env(), "-timeout", "1h")
	client := e2e.Start(t, "rpc_client", nil, "12")
	holding(t, p)
	s.Interrupt()
	p.Resume()
	if code := s.Wait(); code != 0 || s.Stderr() != "" {
		t.Fatalf("rpc_server: exit %d, stderr %q", code, s.Stderr())
	}
	if code := client.Wait(); code != 0 || client.Stdout() != expected([]int{12}) {
		t.Fatalf("rpc_client: exit %d, stderr %q\nstdout:\n%s", code, client.Stderr(), client.Stdout())
	}
	if n, _ := e2e.QueueCounts(t, "rpc_queue"); n != 0 {
		t.Errorf("rpc_queue holds %d requests: the request was not acknowledged", n)
	}
}

// No server running (the queue exists, nobody consumes): the client gives up after -timeout, in one
// line, and its request, which expires with the client's patience, leaves the queue.
func TestNoServerTimesOut(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	declareRPCQueue(t)
	out, errOut, code := e2e.Run(t, "rpc_client", nil, "-timeout", "1s", "5")
	e2e.CheckCleanError(t, errOut, code)
	if errOut != "rpc_client: fib(5): no answer within 1s: is rpc_server running?\n" || out != " [x] Requesting fib(5)" {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	e2e.WaitFor(t, "the expired request to leave rpc_queue", func() bool {
		n, _ := e2e.QueueCounts(t, "rpc_queue")
		return n == 0
	})
}

// declareRPCQueue declares rpc_queue as the tutorial does, as a server would.
func declareRPCQueue(t *testing.T) {
	t.Helper()
	if _, err := e2e.Channel(t).QueueDeclare("rpc_queue", true, false, false, false,
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err != nil {
		t.Fatal(err)
	}
}

// No queue "rpc_queue" at all (no server ever ran): the broker returns the mandatory request, and the
// client says so at once. The timeout is far longer than the test may take.
func TestNoQueueFailsAtOnce(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	out, errOut, code := e2e.Run(t, "rpc_client", nil, "-timeout", "1h", "5")
	e2e.CheckCleanError(t, errOut, code)
	want := `rpc_client: fib(5): no queue "rpc_queue" took the request (NO_ROUTE): start rpc_server, which declares it` + "\n"
	if errOut != want || out != " [x] Requesting fib(5)" {
		t.Errorf("stdout %q, stderr %q, want %q", out, errOut, want)
	}
}

// A request the broker refuses (a nack: here rpc_queue is full and refuses publishes) fails at once, in
// one line, not after the timeout.
func TestRequestNackedFailsAtOnce(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	ch := e2e.Channel(t)
	if _, err := ch.QueueDeclare("rpc_queue", true, false, false, false, amqp.Table{
		amqp.QueueTypeArg: amqp.QueueTypeQuorum, "x-max-length": 0, "x-overflow": "reject-publish"}); err != nil {
		t.Fatal(err)
	}
	// A quorum queue may take a message past its limit before it refuses: fill it until it does.
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		dc, err := ch.PublishWithDeferredConfirm("", "rpc_queue", false, false, amqp.Publishing{Body: []byte("filler")})
		if err != nil {
			t.Fatal(err)
		}
		if !dc.Wait() {
			break
		}
		if i == 10 {
			t.Fatal("rpc_queue with x-max-length 0 and reject-publish still takes messages")
		}
	}
	out, errOut, code := e2e.Run(t, "rpc_client", nil, "-timeout", "1h", "5")
	e2e.CheckCleanError(t, errOut, code)
	want := "rpc_client: fib(5): the broker refused the message (nack): it is not in the queue\n"
	if errOut != want || out != " [x] Requesting fib(5)" {
		t.Errorf("stdout %q, stderr %q, want %q", out, errOut, want)
	}
}

// Bad requests (not numbers, out of range, no reply_to) are answered with an error reply where they
// can be, acknowledged, and never stop the server: it answers the next call.
func TestPoisonRequests(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s := server(t, nil)
	ch := e2e.Channel(t)
	replies := replyQueue(t, ch)

	for _, body := range []string{"abc", "-1", "10001", "99999999999999999999999", "", " 5"} {
		id := rand.Text()
		publish(t, ch, "rpc_queue", amqp.Publishing{CorrelationId: id, ReplyTo: replies.name, Body: []byte(body)})
		d := replies.next(t)
		want := fmt.Sprintf("n must be a whole number from 0 to 10000 (got %.20q)", body)
		if d.CorrelationId != id || d.Type != "error" || string(d.Body) != want {
			t.Errorf("reply to %q: correlation id %q (want %q), type %q, body %q, want %q", body, d.CorrelationId, id, d.Type, d.Body, want)
		}
		s.WaitLine(fmt.Sprintf(" [!] Refused %.20q: not a whole number from 0 to 10000", body))
	}
	publish(t, ch, "rpc_queue", amqp.Publishing{CorrelationId: rand.Text(), Body: []byte("8")})
	s.WaitLine(` [!] Dropped a request with no reply_to (body "8")`)

	// A good request on the same queue: answered, with the correlation id, as the client expects.
	id := rand.Text()
	publish(t, ch, "rpc_queue", amqp.Publishing{CorrelationId: id, ReplyTo: replies.name, Body: []byte("10000")})
	if d := replies.next(t); d.CorrelationId != id || d.Type != "" || string(d.Body) != fib(10000) {
		t.Errorf("reply to 10000: correlation id %q, type %q, body %.30q...", d.CorrelationId, d.Type, d.Body)
	}
	call(t, nil, 3)
	stop(t, s)
	if n, _ := e2e.QueueCounts(t, "rpc_queue"); n != 0 {
		t.Errorf("rpc_queue holds %d requests: a bad request was not acknowledged", n)
	}
}

// A request with a message_id and no correlation_id (as an AMQP 1.0 requester sends it: RabbitMQ gives
// its uuid message-id to AMQP 0-9-1 as "urn:uuid:...") is answered with that id as correlation_id; a
// request with both is answered with its correlation_id.
func TestReplyCorrelatesByMessageID(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s := server(t, nil)
	ch := e2e.Channel(t)
	replies := replyQueue(t, ch)
	uuid, id := "urn:uuid:6f1c2a9e-3b4d-4c5e-8f70-123456789abc", rand.Text()
	for _, c := range []struct{ messageID, correlationID, want string }{
		{uuid, "", uuid},
		{id, "", id},
		{"not-this-one", "this-one", "this-one"},
	} {
		publish(t, ch, "rpc_queue", amqp.Publishing{MessageId: c.messageID, CorrelationId: c.correlationID, ReplyTo: replies.name, Body: []byte("6")})
		if d := replies.next(t); d.CorrelationId != c.want || string(d.Body) != "8" {
			t.Errorf("message_id %q, correlation_id %q: reply with correlation_id %q, body %q; want %q, 8", c.messageID, c.correlationID, d.CorrelationId, d.Body, c.want)
		}
	}
	stop(t, s)
}

// The client's error reply path: a number the server refuses (out of its range) is printed as the
// server's reason, in one line, exit 1.
func TestClientPrintsErrorReply(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s := server(t, nil)
	out, errOut, code := e2e.Run(t, "rpc_client", nil, "10001")
	e2e.CheckCleanError(t, errOut, code)
	want := `rpc_client: fib(10001): the server refused: n must be a whole number from 0 to 10000 (got "10001")` + "\n"
	if errOut != want || out != " [x] Requesting fib(10001)" {
		t.Errorf("stdout %q, stderr %q, want %q", out, errOut, want)
	}
	stop(t, s)
}

// forgedReplyTo names a direct reply-to address whose encoded pid is forged: RabbitMQ 3.10 and 4.0 close
// the connection of whoever publishes to it (541 INTERNAL_ERROR); 4.3 takes the message and drops it.
const forgedReplyTo = "amq.rabbitmq.reply-to.g2gCZAAPcmFiYml0QGxvY2FsaG9zdAAAAAAAAAAAAAAAAA==.abc"

// A request that kills every server that takes it (on 3.10 and 4.0: its reply_to makes the broker close
// the server's connection) would do so forever if servers always took it again. Each time, it goes back
// to the queue, which counts the returns in x-delivery-count; after 5, the next server drops it, and goes
// on serving. On 4.3, where the broker drops a reply to such an address, the server answers it as any
// other request and goes on.
func TestRequestThatKillsServers(t *testing.T) {
	ch := e2e.Channel(t)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	dc, err := ch.PublishWithDeferredConfirm("", forgedReplyTo, false, false, amqp.Publishing{})
	deadly := err != nil || !dc.Wait()

	e2e.FreshQueue(t, "rpc_queue")
	declareRPCQueue(t)
	publish(t, e2e.Channel(t), "rpc_queue", amqp.Publishing{CorrelationId: rand.Text(), ReplyTo: forgedReplyTo, Body: []byte("9")})
	if !deadly {
		s := server(t, nil)
		s.WaitLine(" [.] fib(9)")
		call(t, nil, 9)
		stop(t, s)
		if n, _ := e2e.QueueCounts(t, "rpc_queue"); n != 0 || strings.Contains(s.Stdout(), " [!] ") {
			t.Errorf("rpc_queue holds %d requests; server printed:\n%s", n, s.Stdout())
		}
		return
	}
	for start := 1; start <= 5; start++ {
		s := server(t, nil)
		s.WaitLine(" [.] fib(9)")
		code := s.Wait()
		e2e.CheckCleanError(t, s.Stderr(), code)
	}
	s := server(t, nil)
	s.WaitLine(` [!] Dropped a request returned 5 times unanswered (body "9")`)
	call(t, nil, 9)
	stop(t, s)
}

// A caller that uses direct reply-to (amq.rabbitmq.reply-to, no callback queue) gets its answer, and the
// server says nothing about it: it does not publish replies as mandatory, which 3.10 and 4.0 would
// return although they deliver them.
func TestDirectReplyToCaller(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s := server(t, nil)
	ch := e2e.Channel(t)
	msgs, err := ch.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := rand.Text()
	publish(t, ch, "rpc_queue", amqp.Publishing{CorrelationId: id, ReplyTo: "amq.rabbitmq.reply-to", Body: []byte("50")})
	d := replies{msgs: msgs}.next(t)
	if d.CorrelationId != id || string(d.Body) != fib(50) {
		t.Errorf("reply: correlation id %q (want %q), body %q", d.CorrelationId, id, d.Body)
	}
	stop(t, s)
	if strings.Contains(s.Stdout(), " [!] ") {
		t.Errorf("server printed:\n%s", s.Stdout())
	}
}

// A caller gone before its answer (its callback queue deleted): the broker drops the reply, and the
// server acknowledges the request all the same and goes on.
func TestCallerGone(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	declareRPCQueue(t)
	publish(t, e2e.Channel(t), "rpc_queue", amqp.Publishing{CorrelationId: rand.Text(), ReplyTo: "amq.gen-nobody-" + rand.Text(), Body: []byte("11")})
	s := server(t, nil)
	s.WaitLine(" [.] fib(11)")
	call(t, nil, 12)
	stop(t, s)
	if n, _ := e2e.QueueCounts(t, "rpc_queue"); n != 0 {
		t.Errorf("rpc_queue holds %d requests", n)
	}
}

// The connection lost while the server waits for the confirm of a reply, held back by a broker that
// blocks publishers: the server says the connection was lost, not that the broker blocks.
func TestConnectionLostWhileServerWaitsForConfirm(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	p := e2e.NewProxy(t)
	p.Block("held by the test")
	s := server(t, p.Env(), "-timeout", "1h")
	client := e2e.Start(t, "rpc_client", nil, "-timeout", "1h", "13")
	holding(t, p)
	p.Cut()
	code := s.Wait()
	e2e.CheckCleanError(t, s.Stderr(), code)
	if errOut := s.Stderr(); !strings.HasPrefix(errOut, "rpc_server: the reply: connection to the broker lost: ") ||
		!strings.HasSuffix(errOut, " before it confirmed the message (it may or may not be in the queue); the request goes back to rpc_queue\n") {
		t.Errorf("stderr %q", s.Stderr())
	}
	other := server(t, nil)
	if code := client.Wait(); code != 0 || client.Stdout() != expected([]int{13}) {
		t.Fatalf("rpc_client: exit %d, stderr %q\nstdout:\n%s", code, client.Stderr(), client.Stdout())
	}
	stop(t, other)
}

// The connection lost while the client waits for the broker's confirms (many requests in flight): the
// client says the connection was lost, never that the broker blocks publishers.
func TestConnectionLostWhileClientWaitsForConfirm(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	declareRPCQueue(t)
	p := e2e.NewProxy(t)
	client := e2e.Start(t, "rpc_client", p.Env(), "-timeout", "1h", "-repeat", "10000", "1")
	e2e.WaitFor(t, "requests in rpc_queue", func() bool {
		n, _ := e2e.QueueCounts(t, "rpc_queue")
		return n > 0
	})
	// From now on no confirm reaches the client; once all its requests are in the queue, it waits for one.
	p.Stall()
	e2e.WaitFor(t, "every request in rpc_queue", func() bool {
		n, _ := e2e.QueueCounts(t, "rpc_queue")
		return n == 10000
	})
	p.Cut()
	code := client.Wait()
	e2e.CheckCleanError(t, client.Stderr(), code)
	if errOut := client.Stderr(); !strings.HasPrefix(errOut, "rpc_client: fib(1): connection to the broker lost: ") ||
		!strings.Contains(errOut, " before it confirmed the message") || strings.Contains(errOut, "block") {
		t.Errorf("stderr %q", client.Stderr())
	}
}

// A second Ctrl+C ends a server at once (exit status 130), even while it waits for a reply's confirm.
func TestServerSecondInterrupt(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	p := e2e.NewProxy(t)
	p.Block("held by the test")
	s := server(t, p.Env(), "-timeout", "1h")
	e2e.Start(t, "rpc_client", nil, "-timeout", "1h", "14")
	holding(t, p)
	e2e.CheckSecondCtrlC(t, s, p)
}

// holding waits until the broker behind p (blocking publishers) holds a publish: a reply whose confirm
// the server waits for.
func holding(t *testing.T, p *e2e.Proxy) {
	t.Helper()
	e2e.WaitFor(t, "a reply held by the blocked broker", func() bool { return p.Holding() == 1 })
}

// A broker that blocks publishers longer than the server's -timeout: the server gives up on the reply
// in one line naming the block, exit 1, without acknowledging the request, which another server answers.
func TestServerGivesUpOnBlockedBroker(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	p := e2e.NewProxy(t)
	p.Block("low on disk")
	s := server(t, p.Env(), "-timeout", "1s")
	client := e2e.Start(t, "rpc_client", nil, "-timeout", "1h", "15")
	code := s.Wait()
	e2e.CheckCleanError(t, s.Stderr(), code)
	want := "rpc_server: the reply: the broker is blocking publishers (low on disk): no confirm within 1s; the request goes back to rpc_queue\n"
	if code != 1 || s.Stderr() != want {
		t.Errorf("exit %d, stderr %q, want %q", code, s.Stderr(), want)
	}
	p.Cut() // what the broker sees of a closed connection, once it reads again
	other := server(t, nil)
	other.WaitLine(" [.] fib(15)")
	if code := client.Wait(); code != 0 || client.Stdout() != expected([]int{15}) {
		t.Fatalf("rpc_client: exit %d, stderr %q\nstdout:\n%s", code, client.Stderr(), client.Stdout())
	}
	stop(t, other)
}

// Replies that answer no waiting call (a stray correlation id, an error reply for another call) are
// ignored: the client waits for its own.
func TestUnknownCorrelationIDIgnored(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	declareRPCQueue(t)
	p := e2e.NewProxy(t)
	client := e2e.Start(t, "rpc_client", p.Env(), "21")
	client.WaitLine(" [x] Requesting fib(21)")
	e2e.WaitFor(t, "the client's callback queue", func() bool { return len(p.Queues()) == 1 })
	callback := p.Queues()[0]
	ch := e2e.Channel(t)
	publish(t, ch, callback, amqp.Publishing{CorrelationId: rand.Text(), Body: []byte("666")})
	publish(t, ch, callback, amqp.Publishing{CorrelationId: "", Body: []byte("667")})
	publish(t, ch, callback, amqp.Publishing{CorrelationId: rand.Text(), Type: "error", Body: []byte("not yours")})
	s := server(t, nil)
	if code := client.Wait(); code != 0 || client.Stdout() != expected([]int{21}) || client.Stderr() != "" {
		t.Fatalf("rpc_client: exit %d, stderr %q\nstdout:\n%s", code, client.Stderr(), client.Stdout())
	}
	stop(t, s)
}

// The broker blocking publishers (a resource alarm): when no confirm comes within -timeout, the client
// names the block as the reason, in one line.
func TestBlockedBroker(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s := server(t, nil)
	p := e2e.NewProxy(t)
	p.Block("low on memory")
	out, errOut, code := e2e.Run(t, "rpc_client", p.Env(), "-timeout", "2s", "4")
	e2e.CheckCleanError(t, errOut, code)
	if errOut != "rpc_client: fib(4): the broker is blocking publishers (low on memory): no confirm within 2s\n" ||
		out != " [x] Requesting fib(4)" {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	stop(t, s)
}

// The connection lost: a waiting client and a waiting server each exit 1 with one line saying so.
func TestConnectionLost(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	declareRPCQueue(t)
	p := e2e.NewProxy(t)
	client := e2e.Start(t, "rpc_client", p.Env(), "-timeout", "1h", "2")
	e2e.WaitFor(t, "the request in rpc_queue", func() bool {
		n, _ := e2e.QueueCounts(t, "rpc_queue")
		return n == 1
	})
	if _, err := e2e.Channel(t).QueuePurge("rpc_queue", false); err != nil { // nothing for the server to answer
		t.Fatal(err)
	}
	s := server(t, p.Env())
	p.Cut()
	for _, proc := range []*e2e.Proc{s, client} {
		code := proc.Wait()
		e2e.CheckCleanError(t, proc.Stderr(), code)
		if !strings.Contains(proc.Stderr(), "connection to the broker lost") {
			t.Errorf("stderr after a cut: %q", proc.Stderr())
		}
	}
}

// rpc_queue deleted under a running server: it exits 1 saying so.
func TestQueueDeletedUnderServer(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s := server(t, nil)
	e2e.DeleteQueue(t, "rpc_queue")
	code := s.Wait()
	e2e.CheckCleanError(t, s.Stderr(), code)
	if s.Stderr() != "rpc_server: the broker cancelled our consumer: queue \"rpc_queue\" was deleted, "+
		"or a request waited past the consumer timeout\n" {
		t.Errorf("stderr %q", s.Stderr())
	}
}

// An rpc_queue declared otherwise (a classic queue) is refused: the server says so in one line.
func TestQueueDeclaredOtherwise(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	if _, err := e2e.Channel(t).QueueDeclare("rpc_queue", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e2e.Run(t, "rpc_server", nil)
	e2e.CheckCleanError(t, errOut, code)
	if !strings.HasPrefix(errOut, `rpc_server: queue "rpc_queue" exists with other properties`) ||
		!strings.Contains(errOut, "x-queue-type") || out != "" {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
}

func TestSIGTERM(t *testing.T) {
	e2e.FreshQueue(t, "rpc_queue")
	s := server(t, nil)
	s.Signal(syscall.SIGTERM)
	if code := s.Wait(); code != 0 || s.Stderr() != "" {
		t.Fatalf("rpc_server after SIGTERM: exit %d, stderr %q", code, s.Stderr())
	}
}

func TestHelpUsageAndBadArguments(t *testing.T) {
	e2e.CheckHelp(t, "rpc_server", "rpc_client")
	e2e.CheckBadArgs(t,
		e2e.BadArgs{Program: "rpc_client", Args: []string{"abc"}, Want: `n must be a whole number, 0 or more (got "abc")`},
		e2e.BadArgs{Program: "rpc_client", Args: []string{"--", "-1"}, Want: `n must be a whole number, 0 or more (got "-1")`},
		e2e.BadArgs{Program: "rpc_client", Args: []string{"5", "1.5"}, Want: `n must be a whole number, 0 or more (got "1.5")`},
		e2e.BadArgs{Program: "rpc_client", Args: []string{"99999999999999999999"}, Want: "n must be a whole number"},
		e2e.BadArgs{Program: "rpc_client", Args: []string{"-timeout", "soon"}, Want: "invalid value"},
		e2e.BadArgs{Program: "rpc_client", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
		e2e.BadArgs{Program: "rpc_server", Args: []string{"-prefetch", "many"}, Want: "invalid value"},
		e2e.BadArgs{Program: "rpc_server", Args: []string{"-bogus"}, Want: "flag provided but not defined: -bogus"},
	)
}

func TestBadInput(t *testing.T) {
	e2e.CheckBadURLs(t, []string{"rpc_server", "rpc_client"})
}

// The official Python tutorial's programs (pika), declaring rpc_queue exactly as they do, work with
// ours both ways. Python's integers are exact, so fib(100) must agree to the last digit.
func TestInteropWithPika(t *testing.T) {
	python := e2e.PythonWithPika(t)
	pyEnv := append(os.Environ(), "AMQP_URL="+rabbit.URL())

	t.Run("our rpc_client to rpc_server.py", func(t *testing.T) {
		e2e.FreshQueue(t, "rpc_queue")
		next := e2e.StartPython(t, python, pyEnv, pikaRPCServer)
		if line := next(); line != " [x] Awaiting RPC requests" {
			t.Fatalf("pika rpc_server printed %q", line)
		}
		call(t, nil)
		call(t, nil, 100, 0, 1, 93)
		var got []string
		for range 5 {
			got = append(got, next())
		}
		slices.Sort(got[1:]) // the last four calls were made at once
		if want := []string{" [.] fib(0)", " [.] fib(1)", " [.] fib(100)", " [.] fib(93)"}; got[0] != " [.] fib(30)" || !slices.Equal(got[1:], want) {
			t.Errorf("pika rpc_server printed %q", got)
		}
	})

	t.Run("rpc_client.py to our rpc_server", func(t *testing.T) {
		e2e.FreshQueue(t, "rpc_queue")
		s := server(t, nil)
		for _, n := range []int{30, 100} {
			next := e2e.StartPython(t, python, pyEnv, pikaRPCClient, strconv.Itoa(n))
			for _, want := range []string{fmt.Sprintf(" [x] Requesting fib(%d)", n), " [.] Got " + fib(n)} {
				if line := next(); line != want {
					t.Errorf("pika rpc_client printed %q, want %q", line, want)
				}
			}
			s.WaitLine(fmt.Sprintf(" [.] fib(%d)", n))
		}
		stop(t, s)
	})
}

// pikaRPCServer is the official Python tutorial's rpc_server.py, with the broker from AMQP_URL.
const pikaRPCServer = `
import os, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()
channel.queue_declare(queue="rpc_queue", durable=True, arguments={"x-queue-type": "quorum"})

def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

def on_request(ch, method, props, body):
    n = int(body)
    print(f" [.] fib({n})")
    response = fib(n)
    ch.basic_publish(
        exchange="",
        routing_key=props.reply_to,
        properties=pika.BasicProperties(correlation_id=props.correlation_id),
        body=str(response),
    )
    ch.basic_ack(delivery_tag=method.delivery_tag)

channel.basic_qos(prefetch_count=1)
channel.basic_consume(queue="rpc_queue", on_message_callback=on_request)
print(" [x] Awaiting RPC requests")
channel.start_consuming()
`

// pikaRPCClient is the official Python tutorial's rpc_client.py, with the broker from AMQP_URL and n
// from its argument.
const pikaRPCClient = `
import os, sys, uuid, pika

class FibonacciRpcClient(object):
    def __init__(self):
        self.connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
        self.channel = self.connection.channel()
        result = self.channel.queue_declare(queue="", exclusive=True)
        self.callback_queue = result.method.queue
        self.channel.basic_consume(
            queue=self.callback_queue,
            on_message_callback=self.on_response,
            auto_ack=True,
        )
        self.response = None
        self.corr_id = None

    def on_response(self, ch, method, props, body):
        if self.corr_id == props.correlation_id:
            self.response = body

    def call(self, n):
        self.response = None
        self.corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange="",
            routing_key="rpc_queue",
            properties=pika.BasicProperties(
                reply_to=self.callback_queue,
                correlation_id=self.corr_id,
            ),
            body=str(n),
        )
        self.connection.process_data_events(time_limit=None)
        return int(self.response)

n = int(sys.argv[1])
fibonacci_rpc = FibonacciRpcClient()
print(f" [x] Requesting fib({n})")
response = fibonacci_rpc.call(n)
print(f" [.] Got {response}")
`

// replies is a queue of the test's own (server-named, exclusive) that reads what the server replies.
type replies struct {
	name string
	msgs <-chan amqp.Delivery
}

func replyQueue(t *testing.T, ch *amqp.Channel) replies {
	t.Helper()
	q, err := ch.QueueDeclare("", false, false, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := ch.Consume(q.Name, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return replies{name: q.Name, msgs: msgs}
}

func (r replies) next(t *testing.T) amqp.Delivery {
	t.Helper()
	select {
	case d := <-r.msgs:
		return d
	case <-time.After(e2e.LineTimeout):
		t.Fatal("no reply")
	}
	return amqp.Delivery{}
}

// publish publishes m to the queue named key, mandatory, and waits for the broker's confirm.
func publish(t *testing.T, ch *amqp.Channel, key string, m amqp.Publishing) {
	t.Helper()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	dc, err := ch.PublishWithDeferredConfirm("", key, true, false, m)
	if err != nil {
		t.Fatal(err)
	}
	if !dc.Wait() {
		t.Fatal("publish nacked")
	}
}
