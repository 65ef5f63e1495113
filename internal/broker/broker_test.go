package broker

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestURL(t *testing.T) {
	t.Setenv("AMQP_URL", "")
	if got := URL(); got != DefaultURL {
		t.Errorf("URL() with AMQP_URL empty = %q, want %q", got, DefaultURL)
	}
	t.Setenv("AMQP_URL", " amqp://u:p@example:5673/v ")
	if got := URL(); got != "amqp://u:p@example:5673/v" {
		t.Errorf("URL() = %q", got)
	}
}

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"amqp://guest:guest@localhost:5672/":    `amqp://guest@localhost:5672 (vhost "/")`,
		"amqp://guest@localhost:5672/":          `amqp://guest@localhost:5672 (vhost "/")`,
		"amqp://localhost/":                     `amqp://localhost:5672 (vhost "/")`,
		"amqps://me:p%40ss@rabbit.example/prod": `amqps://me@rabbit.example:5671 (vhost "prod")`,
		"amqp://guest:secret@host:notaport/":    "the broker in AMQP_URL",
		"not a url at all, secret":              "the broker in AMQP_URL",
	}
	for in, want := range cases {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// No error path prints any part of a password, whatever the URL looks like: unencoded "/", "#", "?" and
// "@" in a password (base64 passwords hold them) would otherwise make the password a host, port or path.
func TestAwkwardPasswordsNeverPrinted(t *testing.T) {
	for _, c := range []struct{ url, secret string }{
		{"amqp://svc:2024/Spring!@localhost:5673/", "2024/Spring!"},
		{"amqp://guest:hunter2#tail@localhost:5673/", "hunter2"},
		{"amqp://guest:a?b=c@localhost:5673/", "a?b=c"},
		{"amqp://guest:p@ss@localhost:5673/", "p@ss"},
		{"amqp://guest:secret@host:notaport/", "secret"},
		{"amqp://guest:sec%zzret@host/", "sec"},
		{"http://guest:secret@host/", "secret"},
		{"amqp://guest:secret@host/ x", "secret"},
		{"amqp://guest:c2VjcmV0+/==@localhost:1/", "c2VjcmV0"},
		{"amqp://guest:secret@[::1/", "secret"},
	} {
		_, err := DialURL(c.url, "test")
		if err == nil {
			t.Fatalf("DialURL(%q) succeeded", c.url)
		}
		msg := err.Error()
		if strings.Contains(msg, c.secret) || strings.Contains(msg, "\n") {
			t.Errorf("DialURL(%q) error reveals the password or is not one line: %q", c.url, msg)
		}
		if r := Redact(c.url); strings.Contains(r, c.secret) {
			t.Errorf("Redact(%q) = %q reveals the password", c.url, r)
		}
	}
}

func TestDialURLMalformedHidesPassword(t *testing.T) {
	for _, u := range []string{
		"amqp://guest:secret@host:notaport/",
		"amqp://guest:sec%zzret@host/",
		"http://guest:secret@host/",
		"amqp://guest:secret@host/ x",
	} {
		_, err := DialURL(u, "test")
		if err == nil {
			t.Fatalf("DialURL(%q) succeeded", u)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "AMQP_URL") || strings.Contains(msg, "secret") ||
			strings.Contains(msg, "\n") {
			t.Errorf("DialURL(%q) error = %q", u, msg)
		}
	}
}

func TestExplain(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: errors.New("x")}, "x"},
		{amqp.ErrCredentials, "wrong user name or password"},
		{&amqp.Error{Code: amqp.NotAllowed, Reason: "NOT_ALLOWED - vhost v not found"}, "virtual host does not exist"},
		{&net.DNSError{Name: "nohost", Err: "no such host"}, "unknown host nohost"},
	}
	for _, c := range cases {
		if got := explain(c.err); !strings.Contains(got, c.want) {
			t.Errorf("explain(%v) = %q, want it to contain %q", c.err, got, c.want)
		}
	}
}

// The cases that need a real listener: nothing listening, and the real broker refusing a password.
func TestDialRealFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = DialURL("amqp://guest:secret@"+addr+"/", "test")
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "make broker") ||
		strings.Contains(err.Error(), "secret") {
		t.Errorf("dial with nothing listening: %v", err)
	}

	conn, err := Dial("broker-test")
	if err != nil {
		t.Fatalf("no broker at AMQP_URL (start one with `make broker`): %v", err)
	}
	conn.Close()
	parsed, err := url.Parse(URL())
	if err != nil {
		t.Fatal(err)
	}
	parsed.User = url.UserPassword(parsed.User.Username(), "definitely-wrong")
	u := parsed.String()
	_, err = DialURL(u, "test")
	if err == nil || !strings.Contains(err.Error(), "access refused") || strings.Contains(err.Error(), "definitely-wrong") {
		t.Errorf("dial with a wrong password: %v", err)
	}
}

func TestDeclareError(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&amqp.Error{Code: amqp.PreconditionFailed, Reason: "PRECONDITION_FAILED - inequivalent arg 'durable'"},
			`queue "q" already exists with other properties (PRECONDITION_FAILED - inequivalent arg 'durable'): delete it (rabbitmqctl delete_queue q)`},
		{&amqp.Error{Code: amqp.NotFound, Reason: "NOT_FOUND - no queue 'q'"}, `queue "q" does not exist`},
		{amqp.ErrClosed, `declare queue "q": channel/connection is not open`},
		{errors.New("boom"), `declare queue "q": boom`},
	}
	for _, c := range cases {
		if got := DeclareError("queue", "q", c.err).Error(); !strings.HasPrefix(got, c.want) {
			t.Errorf("DeclareError(%v) = %q, want prefix %q", c.err, got, c.want)
		}
	}
}

// A server that is not RabbitMQ: one that accepts and never answers, and an HTTP server. Each failure
// says what the user needs to know, not the library's wording ("i/o timeout", "frame_max").
func TestDialNotRabbitMQ(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	httpish, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer httpish.Close()
	go func() {
		for {
			c, err := httpish.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 512)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}()
		}
	}()
	for _, c := range []struct {
		addr, want string
	}{
		{httpish.Addr().String(), "does not speak AMQP"},
		{silent.Addr().String(), "no answer within"},
	} {
		_, err := DialURL("amqp://guest:secret@"+c.addr+"/", "test")
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("dial %s: got %v, want it to say %q", c.addr, err, c.want)
		}
	}
}
