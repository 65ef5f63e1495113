package rabbit_test

import (
	"net"
	"net/url"
	"path/filepath"
	"strconv"
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
	for _, host := range []string{"localhost", "127.0.0.1"} {
		conn, err := rabbit.Dial(good.URL(host, q("cacertfile", ca.File)), "rabbit-tls-test")
		if err != nil {
			t.Fatalf("amqps:// to %s with cacertfile: %v", host, err)
		}
		if err := rabbit.Close(conn); err != nil {
			t.Error(err)
		}
	}
	// server_name_indication= names the host the certificate must be valid for.
	conn, err := rabbit.Dial(elsewhere.URL("127.0.0.1", q("cacertfile", ca.File, "server_name_indication", "rabbit.example")), "rabbit-tls-test")
	if err != nil {
		t.Fatalf("server_name_indication=rabbit.example: %v", err)
	}
	_ = rabbit.Close(conn)

	// Go's TLS errors are one line already; an unknown CA, the usual mistake, says what to set.
	for _, c := range []struct{ what, url, want string }{
		{"an unknown CA", good.URL("localhost", q("cacertfile", other.File)),
			"the broker's TLS certificate is signed by an unknown CA: add cacertfile=/path/to/ca.pem to AMQP_URL's query"},
		{"no cacertfile", good.URL("localhost", nil), "signed by an unknown CA: add cacertfile="},
		{"a wrong host name", elsewhere.URL("localhost", q("cacertfile", ca.File)), "certificate is valid for rabbit.example, not localhost"},
		{"an expired certificate", expired.URL("localhost", q("cacertfile", ca.File)), "certificate has expired"},
		{"amqps:// to a plain port", e2e.BrokerURL(t, func(u *url.URL) { u.Scheme = "amqps"; u.RawQuery = q("cacertfile", ca.File).Encode() }),
			"first record does not look like a TLS handshake"},
	} {
		_, err := rabbit.Dial(c.url, "rabbit-tls-test")
		oneLine(t, c.what, err, c.want, password(t))
	}
}

// TLS through the broker's own listener, and a login by client certificate (EXTERNAL), on a broker
// scripts/broker.sh started: it listens for TLS on 5671 for the node on 5672, on port+30000 for the
// others, with its CA and a client certificate for AMQP_URL's user in .broker/<port>/tls/.
func TestTLSOwnBroker(t *testing.T) {
	if !e2e.OwnBroker() {
		t.Skipf("the broker at %s was not started by scripts/broker.sh: its TLS port and certificates are unknown here",
			e2e.Redact(e2e.URL()))
	}
	u, err := url.Parse(e2e.URL())
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
	conn, err := rabbit.Dial(amqps(u.User, url.Values{"cacertfile": {ca}}), "rabbit-tls-test")
	if err != nil {
		t.Fatalf("amqps:// with cacertfile: %v", err)
	}
	_ = rabbit.Close(conn)
	// The client certificate is the login: no user or password in the URL.
	external := url.Values{"cacertfile": {ca}, "certfile": {cert}, "keyfile": {key}, "auth_mechanism": {"external"}}
	conn, err = rabbit.Dial(amqps(nil, external), "rabbit-tls-test")
	if err != nil {
		t.Fatalf("amqps:// with a client certificate and auth_mechanism=external: %v", err)
	}
	_ = rabbit.Close(conn)

	// A client certificate from a CA the broker does not know, and one for a user it does not have.
	stranger := e2e.NewCA(t, "a CA the broker does not know")
	sCert, sKey := stranger.Client(t, u.User.Username())
	_, err = rabbit.Dial(amqps(nil, url.Values{"cacertfile": {ca}, "certfile": {sCert}, "keyfile": {sKey}, "auth_mechanism": {"external"}}), "rabbit-tls-test")
	oneLine(t, "a client certificate from an unknown CA", err, "connect to amqps://")
	t.Logf("unknown client CA: %v", err)
}
