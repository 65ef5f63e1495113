// Package broker is the tutorials' connection helper in a few lines of plain amqp091-go, for your own
// module: save it as broker/broker.go and import it as "<your module>/broker". The tutorial programs use
// a fuller version (internal/broker) with the same functions, which also explains each kind of failure
// (refused, no answer, not RabbitMQ, a password that needs percent-encoding...).
package broker

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// URL is the broker's URL: AMQP_URL, or a local broker with the guest user.
func URL() string {
	return cmp.Or(os.Getenv("AMQP_URL"), "amqp://guest:guest@localhost:5672/")
}

// Dial connects to the broker at URL(). The timeout bounds the TCP connect and the AMQP handshake; the
// name shows in the management UI.
func Dial(name string) (*amqp.Connection, error) {
	return DialURL(URL(), name)
}

// DialURL is Dial for a given URL.
func DialURL(url, name string) (*amqp.Connection, error) {
	if Redact(url) == unknown {
		// Do not print the error: it may quote the URL, password and all.
		return nil, errors.New("AMQP_URL is not a valid amqp://user:password@host:port/vhost URL " +
			"(percent-encode @ / ? # in a password: %40 %2F %3F %23)")
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err := amqp.DialConfig(url, amqp.Config{
		Properties: props,
		Dial:       amqp.DefaultDial(10 * time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", Redact(url), err)
	}
	return conn, nil
}

// unknown is what Redact says of a URL it cannot show safely.
const unknown = "the broker in AMQP_URL"

// Redact is the broker's address without the password, for messages: host, port and vhost. A password
// with an unencoded "/", "?", "#" or "@" would be read as part of the host or vhost, so such a URL is not
// shown at all.
func Redact(url string) string {
	uri, err := amqp.ParseURI(url)
	_, rest, _ := strings.Cut(url, "://")
	at := strings.LastIndex(rest, "@")
	if err != nil || (at >= 0 && strings.ContainsAny(rest[:at], "/?#@")) {
		return unknown
	}
	return fmt.Sprintf("%s:%d (vhost %q)", uri.Host, uri.Port, uri.Vhost)
}

// DeclareError says in one line why declaring the queue or exchange name failed (kind is "queue" or
// "exchange"). RabbitMQ refuses (406) to redeclare one with other properties: it never changes it.
func DeclareError(kind, name string, err error) error {
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) && amqpErr.Code == amqp.PreconditionFailed {
		return fmt.Errorf("%s %q already exists with other properties (%s): delete it, or declare it as it was first declared",
			kind, name, FirstLine(amqpErr.Reason))
	}
	return fmt.Errorf("declare %s %q: %w", kind, name, err)
}

// FirstLine is the first line of a broker's reason: RabbitMQ 4.x explains some refusals over several
// lines, and a program reports each error in one.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}
