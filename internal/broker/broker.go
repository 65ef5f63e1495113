// Package broker is the one piece of code the tutorial programs share: where the broker is, and how to
// dial it so that a failure reads as one line a user can act on.
//
// It deliberately does nothing else. Channels, declarations, publishing and consuming stay in each
// program, because they are what a reader came to learn.
package broker

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultURL is the broker every tutorial assumes: a local RabbitMQ with its default guest user.
const DefaultURL = "amqp://guest:guest@localhost:5672/"

// DialTimeout bounds the TCP connect and the AMQP handshake, so a broker that does not answer is reported
// instead of waited on forever.
const DialTimeout = 10 * time.Second

// URL returns the broker's address: AMQP_URL when it is set, DefaultURL otherwise.
func URL() string {
	if u := strings.TrimSpace(os.Getenv("AMQP_URL")); u != "" {
		return u
	}
	return DefaultURL
}

// Dial connects to URL() with a bounded timeout, naming the connection so it can be told apart in the
// management UI and in `rabbitmqctl list_connections name client_properties`.
//
// Its errors are one line: which broker (password masked) and what to do about it.
func Dial(name string) (*amqp.Connection, error) {
	return DialURL(URL(), name)
}

// DialURL is Dial for a given URL.
func DialURL(rawURL, name string) (*amqp.Connection, error) {
	if _, err := amqp.ParseURI(rawURL); err != nil {
		return nil, fmt.Errorf("AMQP_URL is not a valid AMQP URL (%s): want amqp://user:password@host:5672/vhost", parseReason(err))
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err := amqp.DialConfig(rawURL, amqp.Config{
		Properties: props,
		Dial:       amqp.DefaultDial(DialTimeout),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %s", Redact(rawURL), explain(err))
	}
	return conn, nil
}

// Redact returns the URL with its password replaced by "****", safe to print. A URL that does not parse
// is not printed at all, since there is no telling where its password is.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "the broker in AMQP_URL"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "****")
	}
	// url.URL.String would escape the asterisks; put them back as written.
	return strings.Replace(u.String(), "%2A%2A%2A%2A", "****", 1)
}

// parseReason keeps the reason from a URL parse error but drops the URL it quotes (it may hold a password).
func parseReason(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	var eerr url.EscapeError
	if errors.As(err, &eerr) {
		return "invalid escape in URL"
	}
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 && strings.Contains(msg[i:], "@") {
		return "malformed URL"
	}
	return msg
}

// explain turns a dial error into what happened and, where there is one, the fix.
func explain(err error) string {
	var aerr *amqp.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: is the broker running? Start one with `make broker`"
	case isTimeout(err):
		return fmt.Sprintf("no answer within %s: is the host right, and is it a RabbitMQ broker?", DialTimeout)
	case errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused:
		return "access refused: wrong user name or password (" + aerr.Reason + ")"
	case errors.As(err, &aerr) && aerr.Code == amqp.NotAllowed:
		return "not allowed: the virtual host does not exist or the user has no access to it (" + aerr.Reason + ")"
	case errors.As(err, &aerr):
		return aerr.Reason
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "unknown host " + dnsErr.Name
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}
