package rabbit_test

import (
	"errors"
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
	u, err := url.Parse(rabbit.URL())
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
	t.Setenv("AMQP_URL", " amqp://u:p@example:5673/v ")
	if got := rabbit.URL(); got != "amqp://u:p@example:5673/v" {
		t.Errorf("URL() = %q", got)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://guest:guest@localhost:5672/":                 `amqp://guest@localhost:5672 (vhost "/")`,
		"amqp://guest@localhost:5672/":                       `amqp://guest@localhost:5672 (vhost "/")`,
		"amqp://localhost/":                                  `amqp://localhost:5672 (vhost "/")`,
		"amqps://me:p%40ss@rabbit.example/prod":              `amqps://me@rabbit.example:5671 (vhost "prod")`,
		"amqps://localhost:5671/?cacertfile=/etc/ca.pem&x=1": `amqps://localhost:5671 (vhost "/")`,
		"amqp://guest:secret@host:notaport/":                 "the broker in AMQP_URL",
		"not a url at all, secret":                           "the broker in AMQP_URL",
	} {
		if got := rabbit.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// A malformed URL is refused before any dial, in one line that starts with AMQP_URL and quotes no part
// of it: unencoded "/", "#", "?" and "@" in a password (base64 has them) would otherwise make the
// password a host, port or path, and print it.
func TestDialMalformedURL(t *testing.T) {
	for _, c := range []struct{ url, secret, want string }{
		{"amqp://svc:2024/Spring!@localhost:5673/", "2024/Spring!", "must be percent-encoded"},
		{"amqp://guest:hunter2#tail@localhost:5673/", "hunter2", "must be percent-encoded"},
		{"amqp://guest:a?b=c@localhost:5673/", "a?b=c", "must be percent-encoded"},
		{"amqp://guest:p@ss@localhost:5673/", "p@ss", "must be percent-encoded"},
		{"amqp://guest:c2VjcmV0+/==@localhost:1/", "c2VjcmV0", "must be percent-encoded"},
		{"amqp://guest:secret@host:notaport/", "secret", "invalid port"},
		{"amqp://guest:sec%zzret@host/", "sec", "invalid % escape"},
		{"http://guest:secret@host/", "secret", "must start with amqp:// or amqps://"},
		{"amqp://guest:secret@host/ x", "secret", "it contains a space"},
		{"amqp://guest:secret@[::1/", "secret", "not a valid AMQP URL"},
		{"amqp://guest:secret@host/?heartbeat=x", "secret", "invalid heartbeat"},
		{"amqp://guest:secret@host/?cacertfile=/tmp/ca.pem", "secret", "need TLS: start the URL with amqps://"},
		{"amqp://guest:secret@host/?auth_mechanism=external", "secret", "over TLS"},
		{"amqps://guest:secret@host/?auth_mechanism=kerberos", "secret", "unknown auth_mechanism=kerberos"},
	} {
		_, err := rabbit.DialURL(c.url, "test")
		oneLine(t, c.url, err, c.want, c.secret)
		if err != nil && !strings.HasPrefix(err.Error(), "AMQP_URL") {
			t.Errorf("DialURL(%q) = %q, want it to start with AMQP_URL", c.url, err)
		}
		if r := rabbit.Redact(c.url); strings.Contains(r, c.secret) {
			t.Errorf("Redact(%q) = %q reveals the password", c.url, r)
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
			"the server does not speak AMQP 0-9-1: is this port a RabbitMQ broker's AMQP port (5672)?"},
		{"a wrong password", wrongPassword, "access refused: wrong user name or password"},
		{"a vhost that does not exist", badVhost, "not allowed: the virtual host does not exist or the user has no access to it"},
	} {
		_, err := rabbit.DialURL(c.url, "test")
		oneLine(t, c.what, err, c.want, "s3cr", "wr/ong", "wr%2Fong", password(t))
		if err != nil && !strings.HasPrefix(err.Error(), "connect to amqp://") {
			t.Errorf("%s: %q does not say which broker", c.what, err)
		}
	}
	// The error unwraps to the library's, for programs that look at the code.
	_, err := rabbit.DialURL(wrongPassword, "test")
	var aerr *amqp.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp.AccessRefused {
		t.Errorf("a wrong password: %v does not unwrap to an *amqp.Error with code 403", err)
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
	conn, err := rabbit.Dial("rabbit-test")
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
	conn, err := rabbit.DialURL(p.URL(), "rabbit-test")
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
	oneLine(t, "redeclare", rabbit.DeclareError("queue", name, err),
		`queue "`+name+`" already exists with other properties (PRECONDITION_FAILED - inequivalent arg 'x-max-length'`)
	if rabbit.DeclareError("queue", name, nil) != nil {
		t.Error("DeclareError(nil) is not nil")
	}
	_, err = e2e.Channel(t).QueueDeclarePassive(name+".missing", false, false, false, false, nil)
	oneLine(t, "passive", rabbit.DeclareError("queue", name+".missing", err), `does not exist (NOT_FOUND - no queue`)
	oneLine(t, "closed", rabbit.DeclareError("exchange", "x", amqp.ErrClosed), `declare exchange "x": `)
}

func TestFirstLine(t *testing.T) {
	if got := rabbit.FirstLine("  PRECONDITION_FAILED - one\nand two\n"); got != "PRECONDITION_FAILED - one" {
		t.Errorf("FirstLine = %q", got)
	}
}
