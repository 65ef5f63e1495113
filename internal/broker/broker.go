// Package broker is the one piece of code the tutorial programs share: where the broker is, how to dial
// it, and how to say in one line what went wrong, so that a failure reads as something a user can act on.
//
// It deliberately does nothing else. Channels, declarations, publishing, consuming and closing stay in
// each program, because they are what a reader came to learn. The guides show, once each, the same
// functions written in a few lines of plain amqp091-go (internal/paste/broker), for readers to paste.
package broker

import (
	"errors"
	"fmt"
	"io"
	"net"
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
// Its errors are one line: which broker (never any part of the password) and what to do about it.
func Dial(name string) (*amqp.Connection, error) {
	return DialURL(URL(), name)
}

// DialURL is Dial for a given URL.
func DialURL(rawURL, name string) (*amqp.Connection, error) {
	where, err := check(rawURL)
	if err != nil {
		return nil, err
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err := amqp.DialConfig(rawURL, amqp.Config{
		Properties: props,
		Dial:       amqp.DefaultDial(DialTimeout),
	})
	if err != nil {
		return nil, &dialError{msg: fmt.Sprintf("connect to %s: %s", where, explain(err)), err: err}
	}
	return conn, nil
}

// dialError reads as one line a person can act on, and unwraps to the library's error, so a program can
// still tell, say, an *amqp.Error with code 403 (access refused) from a network failure.
type dialError struct {
	msg string
	err error
}

func (e *dialError) Error() string { return e.msg }
func (e *dialError) Unwrap() error { return e.err }

// Redact returns the broker's address from a URL with no part of its password: the scheme, the user
// name, the host and port and the vhost. It is what error messages print.
func Redact(rawURL string) string {
	where, err := check(rawURL)
	if err != nil {
		return "the broker in AMQP_URL"
	}
	return where
}

// check makes sure rawURL can be dialed as its writer meant it, and returns it with the password left
// out. It never quotes the URL in an error: whatever stands before its last "@" may be a password.
//
// A password often holds "/", "?", "#" or "@" (base64 does). Unencoded, they end the URL's user part
// early, and the password ends up read as a host, a port or a path, and then printed in a dial error.
// So they are refused here, with the fix.
func check(rawURL string) (string, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || (scheme != "amqp" && scheme != "amqps") {
		return "", errors.New("AMQP_URL must start with amqp:// or amqps:// (want amqp://user:password@host:5672/vhost)")
	}
	user := ""
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		if strings.ContainsAny(userinfo, "/?#@") {
			return "", errors.New("AMQP_URL: the user name or password holds a character that must be " +
				"percent-encoded: write @ as %40, / as %2F, ? as %3F, # as %23, : in a user name as %3A")
		}
		user, _, _ = strings.Cut(userinfo, ":")
		user += "@"
	}
	uri, err := amqp.ParseURI(rawURL)
	if err != nil {
		// amqp.ParseURI's errors may quote the URL; say only what is wrong with it.
		return "", fmt.Errorf("AMQP_URL is not a valid AMQP URL (%s): want amqp://user:password@host:5672/vhost",
			parseReason(err))
	}
	return fmt.Sprintf("%s://%s%s:%d (vhost %q)", scheme, user, uri.Host, uri.Port, uri.Vhost), nil
}

// parseReason keeps what is wrong with a URL from a parse error, without the URL it quotes.
func parseReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "invalid port"):
		return "invalid port"
	case strings.Contains(msg, "invalid URL escape"):
		return "invalid % escape"
	case strings.Contains(msg, "whitespace"):
		return "it contains a space"
	case strings.Contains(msg, "invalid character"):
		return "invalid character in host name"
	}
	return "malformed URL"
}

// explain turns a dial error into what happened and, where there is one, the fix.
func explain(err error) string {
	var aerr *amqp.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: is the broker running? Start one with `make broker`"
	case isTimeout(err):
		return fmt.Sprintf("no answer within %s: is the host right, and is it a RabbitMQ broker?", DialTimeout)
	case closedEarly(err):
		return "the server closed the connection during the AMQP handshake: is it a RabbitMQ broker (AMQP 0-9-1), and is TLS (amqps://) needed?"
	case errors.As(err, &aerr) && (aerr.Code == amqp.FrameError || aerr.Code == amqp.SyntaxError):
		return "the server does not speak AMQP 0-9-1: is this port a RabbitMQ broker's AMQP port (5672)?"
	case errors.As(err, &aerr) && aerr.Reason == amqp.ErrVhost.Reason:
		return "not allowed: the virtual host does not exist or the user has no access to it"
	case errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused:
		return "access refused: wrong user name or password (" + FirstLine(aerr.Reason) + ")"
	case errors.As(err, &aerr) && aerr.Code == amqp.NotAllowed:
		return "not allowed: the virtual host does not exist or the user has no access to it (" + FirstLine(aerr.Reason) + ")"
	case errors.As(err, &aerr):
		return FirstLine(aerr.Reason)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "unknown host " + dnsErr.Name
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return FirstLine(opErr.Err.Error())
	}
	return FirstLine(err.Error())
}

// isTimeout and closedEarly look at the network error, and at the reason of a FrameError too: the
// library's reader turns a failed read into a FrameError whose reason is the read's error.
func isTimeout(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout() || frameReason(err, "i/o timeout")
}

func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		frameReason(err, "EOF") || frameReason(err, "connection reset")
}

// frameReason reports whether err is a FrameError whose reason holds s.
func frameReason(err error, s string) bool {
	var aerr *amqp.Error
	return errors.As(err, &aerr) && aerr.Code == amqp.FrameError && strings.Contains(aerr.Reason, s)
}

// FirstLine is the first line of a broker's reason: RabbitMQ 4.x explains some refusals over several
// lines (a deprecated feature, say), and the programs report every error in one.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}
