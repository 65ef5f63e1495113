package rabbit_test

import (
	"net"
	"net/url"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// password is AMQP_URL's password: no error may print it.
func password(t *testing.T) string {
	u, err := url.Parse(e2e.URL())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := u.User.Password()
	if p == u.User.Username() {
		return "" // guest:guest: the user name is printed, and is the password too
	}
	return p
}

// oneLine checks that err is one line, holds want and none of secrets.
func oneLine(t *testing.T, what string, err error, want string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one saying %q", what, want)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("%s: error is not one line: %q", what, msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("%s: error = %q, want it to say %q", what, msg, want)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("%s: error reveals the password %q: %q", what, s, msg)
		}
	}
}

func TestURL(t *testing.T) {
	t.Setenv("AMQP_URL", "")
	if got := rabbit.URL(); got != "amqp://guest:guest@localhost:5672/" {
		t.Errorf("URL() with AMQP_URL empty = %q", got)
	}
	t.Setenv("AMQP_URL", "amqp://u:p@example:5673/v")
	if got := rabbit.URL(); got != "amqp://u:p@example:5673/v" {
		t.Errorf("URL() = %q", got)
	}
}

// A malformed URL is refused before any dial, in one line that starts with AMQP_URL and quotes no part
// of it: unencoded "/", "#", "?" and "@" in a password (base64 has them) would otherwise make the
// password a host, port or path, and print it.
func TestDialMalformedURL(t *testing.T) {
	for _, c := range []struct{ url, secret, want string }{
		{"amqp://svc:2024/Spring!@localhost:5673/", "2024/Spring!", "percent-encode the user name and password"},
		{"amqp://guest:hunter2#tail@localhost:5673/", "hunter2", "percent-encode"},
		{"amqp://guest:a?b=c@localhost:5673/", "a?b=c", "percent-encode"},
		{"amqp://guest:p@ss@localhost:5673/", "p@ss", "percent-encode"},
		{"amqp://guest:c2VjcmV0+/==@localhost:1/", "c2VjcmV0", "percent-encode"},
		{"amqp://guest:secret@host:notaport/", "secret", "not a valid AMQP URL: want amqp://user:password@host:5672/vhost"},
		{"amqp://guest:sec%zzret@host/", "sec", "not a valid AMQP URL"},
		{"http://guest:secret@host/", "secret", "not a valid AMQP URL"},
		{"amqp://guest:secret@host/ x", "secret", "not a valid AMQP URL"},
		{"amqp://guest:secret@[::1/", "secret", "not a valid AMQP URL"},
		{"amqp://guest:secret@host/?heartbeat=x", "secret", "not a valid AMQP URL"},
	} {
		_, err := rabbit.Dial(c.url, "test")
		oneLine(t, c.url, err, c.want, c.secret)
		if err != nil && !strings.HasPrefix(err.Error(), "AMQP_URL") {
			t.Errorf("Dial(%q) = %q, want it to start with AMQP_URL", c.url, err)
		}
	}
}

// Each way a dial fails for real: nothing listening, a server that never answers, one that is not
// RabbitMQ, the real broker refusing a password or a vhost. Each error is one line, names the broker
// without the password, and says what to do.
func TestDialFailures(t *testing.T) {
	silent := listen(t, func(c net.Conn) { buf := make([]byte, 64); _, _ = c.Read(buf); _, _ = c.Read(buf) })
	httpish := listen(t, func(c net.Conn) {
		buf := make([]byte, 512)
		_, _ = c.Read(buf)
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	})
	secret := "s3cr%2Ft" // a password that needs %-encoding, encoded
	wrongPassword := e2e.BrokerURL(t, func(u *url.URL) { u.User = url.UserPassword(u.User.Username(), "wr/ong?pass") })
	badVhost := e2e.BrokerURL(t, func(u *url.URL) { u.Path = "/" + e2e.UniqueName(t, "no-such-vhost") })
	for _, c := range []struct{ what, url, want string }{
		{"nothing listening", "amqp://guest:" + secret + "@" + e2e.FreeAddr(t) + "/",
			"connection refused: is the broker running? Start one with `make broker`"},
		{"no answer", "amqp://guest:" + secret + "@" + silent + "/?connection_timeout=300",
			"no answer within 300ms: is the host right, and is it a RabbitMQ broker?"},
		{"an HTTP server", "amqp://guest:" + secret + "@" + httpish + "/",
			"the connection closed during the handshake: is this a RabbitMQ AMQP port, and is TLS (amqps://) needed?"},
		{"a wrong password", wrongPassword, "access refused: wrong user name or password"},
		{"a vhost that does not exist", badVhost, "not allowed: the vhost does not exist, or the user may not use it"},
	} {
		_, err := rabbit.Dial(c.url, "test")
		oneLine(t, c.what, err, c.want, "s3cr", "wr/ong", "wr%2Fong", password(t))
		if err != nil && !strings.HasPrefix(err.Error(), "connect to amqp://") {
			t.Errorf("%s: %q does not say which broker", c.what, err)
		}
	}
}

// listen serves each connection with serve and returns the address.
func listen(t *testing.T, serve func(net.Conn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return l.Addr().String()
}

func TestDialAndClose(t *testing.T) {
	conn, err := rabbit.Dial(rabbit.URL(), "rabbit-test")
	if err != nil {
		t.Fatalf("no broker at AMQP_URL (start one with `make broker`): %v", err)
	}
	if err := rabbit.Close(conn); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := rabbit.Close(conn); err != nil {
		t.Errorf("a second Close: %v, want nil (closed already)", err)
	}
}

// Close is bounded even when the broker stops answering: no close-ok ever comes.
func TestCloseStalled(t *testing.T) {
	p := e2e.NewProxy(t)
	conn, err := rabbit.Dial(p.URL(), "rabbit-test")
	if err != nil {
		t.Fatal(err)
	}
	p.Stall()
	if err := rabbit.Close(conn); err == nil {
		t.Error("Close with the broker stalled returned nil, want the timeout")
	} else if strings.Contains(err.Error(), "\n") {
		t.Errorf("Close: %q is not one line", err)
	}
}

func TestDeclareError(t *testing.T) {
	ch := e2e.Channel(t)
	name := e2e.UniqueName(t, "declare")
	if _, err := ch.QueueDeclare(name, false, false, true, false, amqp.Table{"x-max-length": 10}); err != nil {
		t.Fatal(err)
	}
	// Declared again with another argument: 406, which closes the channel.
	_, err := ch.QueueDeclare(name, false, false, true, false, amqp.Table{"x-max-length": 20})
	oneLine(t, "redeclare", rabbit.DeclareError("queue", name, err), `queue "`+name+`" exists with other properties `+
		`(PRECONDITION_FAILED - inequivalent arg 'x-max-length'`)
	oneLine(t, "redeclare", rabbit.DeclareError("queue", name, err), "): delete it, or declare it as it was first declared")
	_, err = e2e.Channel(t).QueueDeclarePassive(name+".missing", false, false, false, false, nil)
	oneLine(t, "passive", rabbit.DeclareError("queue", name+".missing", err), `declare queue "`+name+`.missing": `)
	oneLine(t, "passive", rabbit.DeclareError("queue", name+".missing", err), `NOT_FOUND - no queue`)
}

func TestFirstLine(t *testing.T) {
	if got := rabbit.FirstLine("  PRECONDITION_FAILED - one\nand two\n"); got != "PRECONDITION_FAILED - one" {
		t.Errorf("FirstLine = %q", got)
	}
}
