package rabbit_test

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

// TLS against any broker: a proxy of the test's own terminates TLS with certificates the test makes, in
// front of the broker's plain port. Each certificate problem is one line that says what is wrong and
// what to set, and never any part of the password.
func TestTLSProxy(t *testing.T) {
	ca, other := e2e.NewCA(t, "tutorials test CA"), e2e.NewCA(t, "some other CA")
	now := time.Now()
	good := e2e.NewTLSProxy(t, ca.Server(t, []string{"localhost", "127.0.0.1"}, now.Add(-time.Hour), now.Add(time.Hour)))
	expired := e2e.NewTLSProxy(t, ca.Server(t, []string{"localhost", "127.0.0.1"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour)))
	elsewhere := e2e.NewTLSProxy(t, ca.Server(t, []string{"rabbit.example"}, now.Add(-time.Hour), now.Add(time.Hour)))
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nowhere", "ca.pem")

	for _, host := range []string{"localhost", "127.0.0.1"} {
		conn, err := rabbit.DialURL(good.URL(host, q("cacertfile", ca.File)), "rabbit-tls-test")
		if err != nil {
			t.Fatalf("amqps:// to %s with cacertfile: %v", host, err)
		}
		if err := rabbit.Close(conn); err != nil {
			t.Error(err)
		}
	}
	// server_name_indication= names the host the certificate must be valid for.
	conn, err := rabbit.DialURL(elsewhere.URL("127.0.0.1", q("cacertfile", ca.File, "server_name_indication", "rabbit.example")), "rabbit-tls-test")
	if err != nil {
		t.Fatalf("server_name_indication=rabbit.example: %v", err)
	}
	_ = rabbit.Close(conn)

	for _, c := range []struct{ what, url, want string }{
		{"an unknown CA", good.URL("localhost", q("cacertfile", other.File)),
			`the broker's TLS certificate is not signed by the CA in cacertfile=` + other.File +
				` (its issuer is "tutorials test CA"): point cacertfile= at the certificate of the CA that signed it`},
		{"no cacertfile", good.URL("localhost", nil),
			`the broker's TLS certificate is signed by a CA this system does not trust (its issuer is "tutorials test CA"): ` +
				`add cacertfile=/path/to/ca.pem to AMQP_URL's query, the certificate of the CA that signed it`},
		{"a wrong host name", elsewhere.URL("localhost", q("cacertfile", ca.File)),
			`the broker's TLS certificate is not valid for "localhost" (it names rabbit.example): connect by a name ` +
				`the certificate holds, or set server_name_indication= to one in AMQP_URL's query`},
		{"an expired certificate", expired.URL("localhost", q("cacertfile", ca.File)),
			"the broker's TLS certificate expired on " + now.Add(-24*time.Hour).UTC().Format(time.DateOnly) + ": the broker needs a new one"},
		{"a cacertfile that is not PEM", good.URL("localhost", q("cacertfile", notPEM)),
			"AMQP_URL: cacertfile=" + notPEM + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)"},
		{"a cacertfile that does not exist", good.URL("localhost", q("cacertfile", missing)),
			"AMQP_URL: cannot read cacertfile=" + missing + ": no such file or directory"},
		{"a certfile without keyfile", good.URL("localhost", q("cacertfile", ca.File, "certfile", ca.File)),
			"AMQP_URL: certfile= and keyfile= go together"},
		{"a keyfile that is not a key", good.URL("localhost", q("cacertfile", ca.File, "certfile", ca.File, "keyfile", ca.File)),
			"AMQP_URL: cannot load the client certificate (certfile=" + ca.File + ", keyfile=" + ca.File + "): tls: "},
		{"amqps:// to a plain port", e2e.BrokerURL(t, func(u *url.URL) { u.Scheme = "amqps"; u.RawQuery = q("cacertfile", ca.File).Encode() }),
			"the TLS handshake failed (first record does not look like a TLS handshake): is this port the broker's amqps:// port"},
	} {
		_, err := rabbit.DialURL(c.url, "rabbit-tls-test")
		oneLine(t, c.what, err, c.want, password(t))
		if err != nil && strings.Contains(err.Error(), "x509:") {
			t.Errorf("%s: %q shows x509 internals", c.what, err)
		}
	}
}

// TLS through the broker's own listener, and a login by client certificate (EXTERNAL), on a broker
// scripts/broker.sh started: it listens for TLS on 5671 for the node on 5672, on port+30000 for the
// others, with its CA and a client certificate for AMQP_URL's user in .broker/<port>/tls/.
func TestTLSOwnBroker(t *testing.T) {
	if !e2e.OwnBroker() {
		t.Skipf("the broker at %s was not started by scripts/broker.sh: its TLS port and certificates are unknown here",
			rabbit.Redact(rabbit.URL()))
	}
	u, err := url.Parse(rabbit.URL())
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5672"
	}
	tlsPort := "5671"
	if port != "5672" {
		n, _ := strconv.Atoi(port)
		tlsPort = strconv.Itoa(n + 30000)
	}
	dir := filepath.Join(e2e.RepoRoot(), ".broker", port, "tls")
	ca, cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	amqps := func(user *url.Userinfo, query url.Values) string {
		return e2e.BrokerURL(t, func(v *url.URL) {
			v.Scheme, v.User, v.Host, v.RawQuery = "amqps", user, net.JoinHostPort("localhost", tlsPort), query.Encode()
		})
	}
	// A user and password, over TLS.
	conn, err := rabbit.DialURL(amqps(u.User, url.Values{"cacertfile": {ca}}), "rabbit-tls-test")
	if err != nil {
		t.Fatalf("amqps:// with cacertfile: %v", err)
	}
	_ = rabbit.Close(conn)
	// The client certificate is the login: no user or password in the URL.
	external := url.Values{"cacertfile": {ca}, "certfile": {cert}, "keyfile": {key}, "auth_mechanism": {"external"}}
	conn, err = rabbit.DialURL(amqps(nil, external), "rabbit-tls-test")
	if err != nil {
		t.Fatalf("amqps:// with a client certificate and auth_mechanism=external: %v", err)
	}
	_ = rabbit.Close(conn)

	// A client certificate from a CA the broker does not know, and one for a user it does not have.
	stranger := e2e.NewCA(t, "a CA the broker does not know")
	sCert, sKey := stranger.Client(t, u.User.Username())
	_, err = rabbit.DialURL(amqps(nil, url.Values{"cacertfile": {ca}, "certfile": {sCert}, "keyfile": {sKey}, "auth_mechanism": {"external"}}), "rabbit-tls-test")
	oneLine(t, "a client certificate from an unknown CA", err, "the client certificate in certfile=")
	t.Logf("unknown client CA: %v", err)
}
