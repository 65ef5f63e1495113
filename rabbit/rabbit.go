// Package rabbit is the connection care every tutorial program needs, in plain amqp091-go. It never
// declares, publishes, consumes or waits for the program. rabbit/README.md explains it.
package rabbit

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Main parses the flags, then runs run with a context that the first Ctrl+C or SIGTERM cancels; a second
// one exits at once (130; 143 for SIGTERM), even where SIGINT was inherited as ignored (a script's `cmd &`).
// An error from run is printed as "name: error" on one line, exit 1.
func Main(name string, run func(ctx context.Context) error) {
	flag.Parse()
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		cancel()
		os.Exit(map[os.Signal]int{os.Interrupt: 130, syscall.SIGTERM: 143}[<-signals])
	}()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s\n", name, FirstLine(err.Error()))
		os.Exit(1)
	}
}

// URL is the broker's URL: AMQP_URL, or the guest user on localhost.
func URL() string { return cmp.Or(os.Getenv("AMQP_URL"), "amqp://guest:guest@localhost:5672/") }

// Dial connects to url within 10 s (amqp091-go's default: 30 s), named in the management UI. Its errors
// are one line that names the broker without the password and says what to do.
func Dial(url, name string) (*amqp.Connection, error) {
	scheme, rest, _ := strings.Cut(url, "://")
	// Never quote url: an unencoded / ? # or @ in a password would make the rest of it the host.
	if at := strings.LastIndex(rest, "@"); at >= 0 && strings.ContainsAny(rest[:at], "/?#@") {
		return nil, errors.New("AMQP_URL: percent-encode the user name and password: @ as %40, / as %2F, ? as %3F, # as %23")
	}
	uri, err := amqp.ParseURI(url)
	if err != nil {
		return nil, errors.New("AMQP_URL is not a valid AMQP URL: want amqp://user:password@host:5672/vhost")
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	timeout := cmp.Or(time.Duration(uri.ConnectionTimeout)*time.Millisecond, 10*time.Second) // connection_timeout=
	conn, err := amqp.DialConfig(url, amqp.Config{Properties: props, Dial: amqp.DefaultDial(timeout)})
	if err != nil {
		return nil, fmt.Errorf("connect to %s://%s@%s:%d (vhost %q): %s", scheme, uri.Username, uri.Host, uri.Port, uri.Vhost, explain(err, timeout))
	}
	return conn, nil
}

// explain is what a dial error means, with the fix where there is one.
func explain(err error, timeout time.Duration) string {
	var aerr *amqp.Error
	var unknownCA x509.UnknownAuthorityError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: is the broker running? Start one with `make broker`"
	case errors.As(err, &unknownCA):
		return "the broker's TLS certificate is signed by an unknown CA: add cacertfile=/path/to/ca.pem to AMQP_URL's query"
	case errors.As(err, &netErr) && netErr.Timeout() || strings.Contains(err.Error(), "i/o timeout"):
		return fmt.Sprintf("no answer within %s: is the host right, and is it a RabbitMQ broker?", timeout)
	case errors.Is(err, amqp.ErrVhost) || errors.As(err, &aerr) && aerr.Code == amqp.NotAllowed:
		return "not allowed: the vhost does not exist, or the user may not use it"
	case errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused:
		return "access refused: wrong user name or password"
	case errors.As(err, &aerr) && aerr.Code == amqp.FrameError:
		return "the connection closed during the handshake: is this a RabbitMQ AMQP port, and is TLS (amqps://) needed?"
	}
	return err.Error()
}

// Close closes conn within 5 s (nil if it was closed already); deferred after Dial, it covers early returns.
func Close(conn *amqp.Connection) error {
	if err := conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("close the connection: %w", err)
	}
	return nil
}

// FirstLine is the first line of s: RabbitMQ 4.x explains some refusals over several lines.
func FirstLine(s string) string { return strings.Split(strings.TrimSpace(s), "\n")[0] }

// DeclareError says in one line why declaring the queue or exchange (kind) name failed. RabbitMQ never
// changes an existing one to match a declaration: other properties are refused with 406.
func DeclareError(kind, name string, err error) error {
	var aerr *amqp.Error
	if errors.As(err, &aerr) && aerr.Code == amqp.PreconditionFailed {
		return fmt.Errorf("%s %q exists with other properties (%s): delete it, or declare it as it was first declared", kind, name, FirstLine(aerr.Reason))
	}
	return fmt.Errorf("declare %s %q: %w", kind, name, err)
}

// Lost says why a channel closed, from its NotifyClose reason: the connection lost, or the broker closed it.
func Lost(reason *amqp.Error) error {
	if !reason.Recover {
		return fmt.Errorf("connection to the broker lost: %s", FirstLine(reason.Reason))
	}
	return fmt.Errorf("the broker closed the channel: %s", FirstLine(reason.Reason))
}

// Ended says why a consumer's deliveries channel closed, from the channel's NotifyClose and NotifyCancel
// listeners (made before Consume); why is what a cancel means for this consumer. The library tells its
// listeners before it closes the deliveries; a closing channel closes both, so the close comes first.
func Ended(closed <-chan *amqp.Error, cancelled <-chan string, why string) error {
	if len(closed) > 0 {
		return Lost(<-closed)
	} else if len(cancelled) > 0 {
		return errors.New("the broker cancelled our consumer: " + why)
	}
	return errors.New("the deliveries ended and the broker gave no reason")
}

// Unconfirmed says in one line why a publisher confirm did not come as an ack: err is WaitContext's
// (nil for a nack), closed and blocked the channel's NotifyClose and the connection's NotifyBlocked
// listeners. Only a nack says the message is not in a queue; otherwise it may or may not be.
func Unconfirmed(err error, timeout time.Duration, closed <-chan *amqp.Error, blocked <-chan amqp.Blocking) error {
	const maybe = " (it may or may not be in the queue)"
	var latest amqp.Blocking
	for len(blocked) > 0 {
		latest = <-blocked
	}
	switch {
	case len(closed) > 0: // the library tells a close before it nacks the messages still waiting
		return fmt.Errorf("%w before it confirmed the message"+maybe, Lost(<-closed))
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted before the broker confirmed the message" + maybe)
	case err == nil:
		return errors.New("the broker refused the message (nack): it is not in the queue")
	case latest.Active:
		return fmt.Errorf("the broker is blocking publishers (%s): no confirm within %s", latest.Reason, timeout)
	}
	return fmt.Errorf("no confirm from the broker within %s"+maybe, timeout)
}
