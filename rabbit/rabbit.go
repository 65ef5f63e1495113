// Package rabbit is the care that every tutorial program needs in the same way, in one file of plain
// amqp091-go and the standard library: run a program with Ctrl+C handled, parse its flags, dial the
// broker with a bound and clear errors, close within a bound, wait for one publisher confirm and tell
// its outcomes apart, and say why a consumer's deliveries ended.
//
// It never declares, publishes or consumes: those are the tutorials' lessons, and they stay in the
// programs. Copy this file into your module as rabbit/rabbit.go and import it as "<module>/rabbit".
// rabbit/README.md explains it.
package rabbit

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// --- running a program ---------------------------------------------------------------------------

// Main runs a program's run function and exits. The context run gets is cancelled by the first Ctrl+C
// (SIGINT) or SIGTERM; a second one ends the program at once, with exit status 130 (143 for SIGTERM),
// even where it was started with SIGINT ignored (a script's background job). An error from run is
// printed as "name: error" on one line, with exit status 1; flag.ErrHelp (from Parse) exits 0.
func Main(name string, run func(ctx context.Context, args []string, stdout io.Writer) error) {
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		cancel(&SignalError{Signal: sig})
		sig = <-signals
		code := 130
		if sig == syscall.SIGTERM {
			code = 143
		}
		os.Exit(code)
	}()
	err := run(ctx, os.Args[1:], os.Stdout)
	cancel(nil)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %s\n", name, FirstLine(err.Error()))
		os.Exit(1)
	}
}

// SignalError is the cause of a context that Main cancelled: which signal came.
type SignalError struct{ Signal os.Signal }

func (e *SignalError) Error() string { return "interrupted by " + e.Signal.String() }

// Signal is the signal that cancelled ctx (os.Interrupt for Ctrl+C, syscall.SIGTERM), or nil.
func Signal(ctx context.Context) os.Signal {
	var s *SignalError
	if errors.As(context.Cause(ctx), &s) {
		return s.Signal
	}
	return nil
}

// Parse parses args with flags. -h or --help prints "Usage: usage" and the flags to stdout and returns
// flag.ErrHelp, which Main takes as a clean exit. Other errors are the flag package's one line.
func Parse(flags *flag.FlagSet, args []string, stdout io.Writer, usage string) error {
	flags.SetOutput(io.Discard)
	err := flags.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage:", usage)
		flags.SetOutput(stdout)
		flags.PrintDefaults()
	}
	return err
}

// NoArgs says, as an error, that a program that takes only flags got arguments too: "worker takes no
// arguments (got ["x"])", with the name flags was made with.
func NoArgs(flags *flag.FlagSet) error {
	if flags.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments (got %q)", flags.Name(), flags.Args())
	}
	return nil
}

// Within says, as an error, that flag's value v is out of the range lo..hi.
func Within[T cmp.Ordered](flag string, v, lo, hi T) error {
	if v < lo || v > hi {
		return fmt.Errorf("-%s must be from %v to %v (got %v)", flag, lo, hi, v)
	}
	return nil
}

// --- the connection --------------------------------------------------------------------------------

// DialTimeout bounds the TCP connect, the TLS handshake and the AMQP handshake of Dial, unless the
// URL sets connection_timeout= (in milliseconds).
const DialTimeout = 10 * time.Second

// CloseTimeout bounds Close: amqp091-go puts it on the socket as a deadline. A frame read just then can
// move the read deadline on; the close then ends at the library's next heartbeat send (every half
// heartbeat: 5 s with the default 10 s), up to 5 s later.
const CloseTimeout = 5 * time.Second

// URL is the broker's URL: AMQP_URL, or a local broker with the guest user.
func URL() string {
	return cmp.Or(strings.TrimSpace(os.Getenv("AMQP_URL")), "amqp://guest:guest@localhost:5672/")
}

// Dial connects to the broker at URL(). The name shows in the management UI's connections.
func Dial(name string) (*amqp.Connection, error) {
	return DialURL(URL(), name)
}

// DialURL is Dial for a given URL. Its errors are one line: the broker (never any part of the
// password), what went wrong, and what to do about it.
func DialURL(url, name string) (*amqp.Connection, error) {
	where, err := check(url)
	if err != nil {
		return nil, err
	}
	uri, _ := amqp.ParseURI(url) // check parsed it already
	if err := checkTLS(uri); err != nil {
		return nil, err
	}
	timeout := DialTimeout
	if uri.ConnectionTimeout > 0 {
		timeout = time.Duration(uri.ConnectionTimeout) * time.Millisecond
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	// The dialer's deadline covers the TLS and AMQP handshakes too; the library clears it once open.
	conn, err := amqp.DialConfig(url, amqp.Config{
		Properties: props,
		Dial:       amqp.DefaultDial(timeout),
	})
	if err != nil {
		return nil, &dialError{fmt.Sprintf("connect to %s: %s", where, explain(err, uri, timeout)), err}
	}
	return conn, nil
}

// checkTLS reads the files the URL's query names, as the library will, so that a wrong one is told
// apart from a broker that refuses: the library ignores a cacertfile with no certificate in it (every
// broker then looks unknown), a certfile without a keyfile, and all of them under amqp://.
func checkTLS(uri amqp.URI) error {
	for _, m := range uri.AuthMechanism {
		if !slices.Contains([]string{"plain", "amqplain", "external"}, strings.ToLower(m)) {
			return fmt.Errorf("AMQP_URL: unknown auth_mechanism=%s (the library knows plain, amqplain and external)", m)
		}
	}
	external := external(uri)
	switch {
	case uri.Scheme != "amqps" && (uri.CACertFile != "" || uri.CertFile != "" || uri.KeyFile != "" || uri.ServerName != ""):
		return errors.New("AMQP_URL: cacertfile=, certfile=, keyfile= and server_name_indication= need TLS: " +
			"start the URL with amqps:// (the broker's TLS port, 5671 by default)")
	case uri.Scheme != "amqps" && external:
		return errors.New("AMQP_URL: auth_mechanism=external logs in with a client certificate, over TLS: " +
			"start the URL with amqps:// and set certfile= and keyfile=")
	case (uri.CertFile == "") != (uri.KeyFile == ""):
		return errors.New("AMQP_URL: certfile= and keyfile= go together (the client certificate and its key): set both")
	case external && uri.CertFile == "":
		return errors.New("AMQP_URL: auth_mechanism=external logs in with a client certificate: set certfile= and keyfile=")
	}
	if uri.CACertFile != "" {
		pem, err := os.ReadFile(uri.CACertFile)
		if err != nil {
			return fmt.Errorf("AMQP_URL: cannot read cacertfile=%s: %w", uri.CACertFile, errors.Unwrap(err))
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fmt.Errorf("AMQP_URL: cacertfile=%s holds no PEM certificate (-----BEGIN CERTIFICATE-----): "+
				"point it at the certificate of the CA that signed the broker's", uri.CACertFile)
		}
	}
	if uri.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(uri.CertFile, uri.KeyFile); err != nil {
			return fmt.Errorf("AMQP_URL: cannot load the client certificate (certfile=%s, keyfile=%s): %s",
				uri.CertFile, uri.KeyFile, FirstLine(err.Error()))
		}
	}
	return nil
}

// dialError reads as one line a person can act on, and unwraps to the library's error (an *amqp.Error
// with code 403 for a wrong password, say).
type dialError struct {
	msg string
	err error
}

func (e *dialError) Error() string { return e.msg }
func (e *dialError) Unwrap() error { return e.err }

// Close closes conn, bounded by CloseTimeout, and returns the error a program should report. Deferred
// right after Dial, it is the close of the paths that return early.
func Close(conn *amqp.Connection) error {
	if err := conn.CloseDeadline(time.Now().Add(CloseTimeout)); err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("close the connection: %w", err)
	}
	return nil
}

// Redact is the broker's address in url without the password: scheme, user, host, port and vhost.
func Redact(url string) string {
	where, err := check(url)
	if err != nil {
		return "the broker in AMQP_URL"
	}
	return where
}

// check makes sure url can be dialed as its writer meant it, and returns it without the password. It
// never quotes the URL: whatever stands before its last "@" may be a password. An unencoded "/", "?",
// "#" or "@" in a password (base64 has them) would end the user part early and be read as the host.
func check(url string) (string, error) {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok || (scheme != "amqp" && scheme != "amqps") {
		return "", errors.New("AMQP_URL must start with amqp:// or amqps:// (want amqp://user:password@host:5672/vhost)")
	}
	user := ""
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if strings.ContainsAny(rest[:at], "/?#@") {
			return "", errors.New("AMQP_URL: the user name or password holds a character that must be " +
				"percent-encoded: write @ as %40, / as %2F, ? as %3F, # as %23, : in a user name as %3A")
		}
		user, _, _ = strings.Cut(rest[:at], ":")
		user += "@"
	}
	uri, err := amqp.ParseURI(url)
	if err != nil {
		return "", fmt.Errorf("AMQP_URL is not a valid AMQP URL (%s): want amqp://user:password@host:5672/vhost", parseReason(err))
	}
	return fmt.Sprintf("%s://%s%s:%d (vhost %q)", scheme, user, uri.Host, uri.Port, uri.Vhost), nil
}

// parseReason keeps what is wrong with a URL from amqp.ParseURI's error, which may quote the URL.
func parseReason(err error) string {
	msg := err.Error()
	for _, r := range [][2]string{
		{"invalid port", "invalid port"}, {"invalid URL escape", "invalid % escape"},
		{"whitespace", "it contains a space"}, {"invalid character", "invalid character in host name"},
		{"heartbeat", "invalid heartbeat"}, {"auth_mechanism", "unknown auth_mechanism"},
	} {
		if strings.Contains(msg, r[0]) {
			return r[1]
		}
	}
	return "malformed URL"
}

// external reports whether the URL asks to log in with the client certificate.
func external(uri amqp.URI) bool {
	return slices.ContainsFunc(uri.AuthMechanism, func(m string) bool { return strings.EqualFold(m, "external") })
}

// explain turns a dial error into what happened and, where there is one, the fix.
func explain(err error, uri amqp.URI, timeout time.Duration) string {
	var aerr *amqp.Error
	var unknownCA x509.UnknownAuthorityError
	var wrongHost x509.HostnameError
	var invalid x509.CertificateInvalidError
	var dnsErr *net.DNSError
	var pathErr *os.PathError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: is the broker running? Start one with `make broker`"
	case errors.As(err, &unknownCA) && uri.CACertFile != "":
		return fmt.Sprintf("the broker's TLS certificate is not signed by the CA in cacertfile=%s (its issuer is %q): "+
			"point cacertfile= at the certificate of the CA that signed it", uri.CACertFile, issuer(unknownCA.Cert))
	case errors.As(err, &unknownCA):
		return fmt.Sprintf("the broker's TLS certificate is signed by a CA this system does not trust (its issuer is %q): "+
			"add cacertfile=/path/to/ca.pem to AMQP_URL's query, the certificate of the CA that signed it", issuer(unknownCA.Cert))
	case errors.As(err, &wrongHost):
		return fmt.Sprintf("the broker's TLS certificate is not valid for %q (it names %s): connect by a name "+
			"the certificate holds, or set server_name_indication= to one in AMQP_URL's query", wrongHost.Host, certNames(wrongHost.Certificate))
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired && time.Now().Before(invalid.Cert.NotBefore):
		return fmt.Sprintf("the broker's TLS certificate is not valid yet (valid from %s): check this machine's clock",
			invalid.Cert.NotBefore.UTC().Format(time.RFC3339))
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Sprintf("the broker's TLS certificate expired on %s: the broker needs a new one (or check this machine's clock)",
			invalid.Cert.NotAfter.UTC().Format(time.DateOnly))
	case errors.As(err, &invalid):
		return "the broker's TLS certificate is not accepted: " + FirstLine(invalid.Error())
	case strings.Contains(err.Error(), "remote error: tls"):
		return "the broker refused the TLS handshake (" + tlsReason(err) + "): does its CA accept the client " +
			"certificate in certfile=, and is it still valid?"
	case strings.Contains(err.Error(), "tls: "):
		return "the TLS handshake failed (" + tlsReason(err) + "): is this port the broker's amqps:// port (5671 by default)?"
	case errors.As(err, &pathErr):
		return fmt.Sprintf("cannot read %s (%s): check cacertfile=, certfile= and keyfile= in AMQP_URL", pathErr.Path, pathErr.Err)
	case isTimeout(err):
		return fmt.Sprintf("no answer within %s: is the host right, and is it a RabbitMQ broker?", timeout)
	case closedEarly(err):
		return "the server closed the connection during the AMQP handshake: is it a RabbitMQ broker (AMQP 0-9-1), and is TLS (amqps://) needed?"
	case errors.As(err, &aerr) && (aerr.Code == amqp.FrameError || aerr.Code == amqp.SyntaxError):
		return "the server does not speak AMQP 0-9-1: is this port a RabbitMQ broker's AMQP port (5672)?"
	case errors.Is(err, amqp.ErrSASL):
		return fmt.Sprintf("the broker offers none of the login mechanisms asked for (auth_mechanism=%s): "+
			"EXTERNAL needs the rabbitmq_auth_mechanism_ssl plugin and auth_mechanisms.N = EXTERNAL in rabbitmq.conf",
			cmp.Or(strings.Join(uri.AuthMechanism, ","), "plain"))
	case errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused && external(uri):
		return "access refused: the broker did not take the client certificate in certfile= as a login: " +
			"is it signed by a CA the broker trusts, and does its subject name a user on the broker?"
	case errors.As(err, &aerr) && aerr.Reason == amqp.ErrVhost.Reason:
		return "not allowed: the virtual host does not exist or the user has no access to it"
	case errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused:
		return "access refused: wrong user name or password (" + FirstLine(aerr.Reason) + ")"
	case errors.As(err, &aerr) && aerr.Code == amqp.NotAllowed:
		return "not allowed: the virtual host does not exist or the user has no access to it (" + FirstLine(aerr.Reason) + ")"
	case errors.As(err, &aerr):
		return FirstLine(aerr.Reason)
	case errors.As(err, &dnsErr):
		return "unknown host " + dnsErr.Name
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return FirstLine(opErr.Err.Error())
	}
	return FirstLine(err.Error())
}

// issuer is the name of the CA that signed c, as the certificate says.
func issuer(c *x509.Certificate) string {
	if c == nil {
		return "unknown"
	}
	return cmp.Or(c.Issuer.CommonName, c.Issuer.String())
}

// tlsReason is the TLS error without Go's "tls: failed to verify certificate: x509:" prefixes.
func tlsReason(err error) string {
	msg := FirstLine(err.Error())
	if i := strings.LastIndex(msg, "tls: "); i >= 0 {
		msg = msg[i+len("tls: "):]
	}
	return msg
}

// certNames lists the host names and addresses a certificate is valid for.
func certNames(c *x509.Certificate) string {
	if c == nil {
		return "other names"
	}
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no host names"
	}
	return strings.Join(names, ", ")
}

// isTimeout and closedEarly look at the network error, and at a FrameError's reason too: the library's
// reader turns a failed read into a FrameError whose reason is the read's error.
func isTimeout(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout() || frameReason(err, "i/o timeout")
}

func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		frameReason(err, "EOF") || frameReason(err, "connection reset")
}

func frameReason(err error, s string) bool {
	var aerr *amqp.Error
	return errors.As(err, &aerr) && aerr.Code == amqp.FrameError && strings.Contains(aerr.Reason, s)
}

// FirstLine is the first line of a broker's reason: RabbitMQ 4.x explains some refusals over several
// lines, and the programs report every error in one.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}

// DeclareError says in one line why declaring (or binding) the queue or exchange name failed; kind is
// "queue" or "exchange". RabbitMQ never changes an existing queue or exchange to match a declaration:
// one declared with other properties is refused with 406 PRECONDITION_FAILED.
func DeclareError(kind, name string, err error) error {
	if err == nil {
		return nil
	}
	var aerr *amqp.Error
	if !errors.As(err, &aerr) {
		return fmt.Errorf("declare %s %q: %w", kind, name, err)
	}
	reason := FirstLine(aerr.Reason)
	switch aerr.Code {
	case amqp.PreconditionFailed:
		fix := "rabbitmqctl delete_queue " + name
		if kind != "queue" {
			fix = "rabbitmqadmin delete exchange name=" + name + ", or the management UI"
		}
		return fmt.Errorf("%s %q already exists with other properties (%s): "+
			"delete it (%s) or declare it as it was first declared", kind, name, reason, fix)
	case amqp.NotFound:
		return fmt.Errorf("%s %q does not exist (%s): declare it first", kind, name, reason)
	case amqp.AccessRefused:
		return fmt.Errorf("%s %q: access refused (%s): the user lacks permission for it", kind, name, reason)
	case amqp.ResourceLocked:
		return fmt.Errorf("%s %q is exclusive to another connection (%s)", kind, name, reason)
	}
	return fmt.Errorf("declare %s %q: %s", kind, name, reason)
}

// Lost says in one line why a channel or connection closed, from its NotifyClose reason: the
// connection lost, or the broker closing the channel.
func Lost(conn *amqp.Connection, reason *amqp.Error) error {
	why := "no reason given"
	if reason != nil {
		why = FirstLine(reason.Reason)
	}
	if conn.IsClosed() {
		return fmt.Errorf("connection to the broker lost: %s", why)
	}
	return fmt.Errorf("the broker closed the channel: %s", why)
}

// --- publishing with confirms -------------------------------------------------------------------------

// Publisher listens for what can keep a publisher confirm from coming, or make an ack mean less than
// "in a queue": the channel's close, the broker blocking the connection (a resource alarm), and
// mandatory messages returned. Make it right after ch.Confirm, before the first publish.
type Publisher struct {
	conn    *amqp.Connection
	closed  <-chan *amqp.Error
	returns <-chan amqp.Return

	mu       sync.Mutex
	blocked  string        // the broker's reason, while it blocks the connection
	changed  chan struct{} // a receive after each change of blocked
	returned map[string]amqp.Return
}

// NewPublisher starts listening on conn and ch.
func NewPublisher(conn *amqp.Connection, ch *amqp.Channel) *Publisher {
	p := &Publisher{
		conn:   conn,
		closed: ch.NotifyClose(make(chan *amqp.Error, 1)),
		// The library hands a return over before the ack of the same message, and waits at most 5 s
		// for room: the buffer holds the returns between two waits.
		returns:  ch.NotifyReturn(make(chan amqp.Return, 1024)),
		changed:  make(chan struct{}, 1),
		returned: map[string]amqp.Return{},
	}
	// Blocked and unblocked notifications come at any time, waited for or not: a goroutine keeps the
	// latest, so that the library never waits for us to take one.
	// The library closes blocking when the connection closes: a blocked state that ended with the
	// connection is no longer the broker's alarm.
	blocking := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	go func() {
		defer func() {
			p.mu.Lock()
			p.blocked = ""
			p.mu.Unlock()
		}()
		for b := range blocking {
			p.mu.Lock()
			p.blocked = ""
			if b.Active {
				p.blocked = cmp.Or(b.Reason, "no reason given")
			}
			p.mu.Unlock()
			select {
			case p.changed <- struct{}{}:
			default:
			}
		}
	}()
	return p
}

// Blocked is the broker's reason while it blocks the connection's publishes, or "" (also once the
// connection has closed).
func (p *Publisher) Blocked() string {
	if p.conn.IsClosed() {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blocked
}

// Returned reports whether the broker returned the mandatory message with this MessageId (no queue
// took it), once an ack for it has come, and forgets it. Messages without a MessageId all match "".
func (p *Publisher) Returned(messageID string) (amqp.Return, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.returns != nil {
		r, ok, more := p.nextReturn()
		if !more {
			break
		}
		if ok {
			p.returned[r.MessageId] = r
		}
	}
	r, ok := p.returned[messageID]
	delete(p.returned, messageID)
	return r, ok
}

// nextReturn takes a return that has come, if any (more). The library closes the returns channel when
// the channel closes: from then on there are none to wait for (ok false, returns nil). p.mu is held.
func (p *Publisher) nextReturn() (r amqp.Return, ok, more bool) {
	select {
	case r, ok = <-p.returns:
		if !ok {
			p.returns = nil
		}
		return r, ok, ok
	default:
		return r, false, false
	}
}

// waitReturns is the returns channel for a wait's select, nil once it has closed.
func (p *Publisher) waitReturns() <-chan amqp.Return {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.returns
}

// keep holds a return a wait received (ok), until Returned is asked about its message; a closed
// returns channel (not ok) is not waited on again.
func (p *Publisher) keep(r amqp.Return, ok bool) <-chan amqp.Return {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ok {
		p.returns = nil
	} else {
		p.returned[r.MessageId] = r
	}
	return p.returns
}

// Outcome is how a wait for a publisher confirm ended, other than acked.
type Outcome int

const (
	Nacked         Outcome = iota + 1 // the broker refused the message: it is not in a queue
	Returned                          // no queue took the mandatory message
	ChannelClosed                     // the broker closed the channel first (a message too large, no permission...)
	ConnectionLost                    // the connection closed first
	Blocked                           // the broker blocks publishers (a resource alarm) and the wait ended
	TimedOut                          // no confirm within the timeout
	Interrupted                       // Ctrl+C came first
)

// ConfirmError is a message that was not confirmed as in a queue.
type ConfirmError struct {
	Outcome Outcome
	Reason  string        // the broker's, one line: the close or return reason, or the blocking reason
	Timeout time.Duration // for TimedOut
}

// Known reports whether the message is known not to be in a queue; otherwise it may or may not be.
func (e *ConfirmError) Known() bool { return e.Outcome == Nacked || e.Outcome == Returned }

// Unroutable reports whether err is a *ConfirmError with Outcome Returned: the broker returned the
// mandatory message because no queue is bound that takes it. reason is the return's: "312 NO_ROUTE". A
// program for which that is no failure (a log message nobody listens to) warns and carries on.
func Unroutable(err error) (reason string, ok bool) {
	var ce *ConfirmError
	if errors.As(err, &ce) && ce.Outcome == Returned {
		return ce.Reason, true
	}
	return "", false
}

func (e *ConfirmError) Error() string {
	fate := "the message may or may not be in the queue"
	if e.Known() {
		fate = "it is not in the queue"
	}
	switch e.Outcome {
	case Nacked:
		return "the broker refused the message (nack): " + fate
	case Returned:
		return fmt.Sprintf("no queue took the message (%s): %s", e.Reason, fate)
	case ChannelClosed:
		return fmt.Sprintf("the broker closed the channel before it confirmed the message (%s): %s", e.Reason, fate)
	case ConnectionLost:
		return fmt.Sprintf("connection to the broker lost before it confirmed the message (%s): %s", e.Reason, fate)
	case Blocked:
		return fmt.Sprintf("the broker is blocking publishers (%s): %s", e.Reason, fate)
	case TimedOut:
		return fmt.Sprintf("no confirm from the broker within %s: %s", e.Timeout, fate)
	}
	return "interrupted before the broker confirmed the message: " + fate
}

// Wait waits for the confirm of one message, published as mandatory with the given MessageId ("" if
// none), for at most timeout. It returns nil when the broker acked it and did not return it; otherwise
// a *ConfirmError. A broker that blocks publishers ends the wait at once: a resource alarm can last.
// A lost connection ends it too: the library nacks what waits for a confirm when the channel closes.
// A closed connection is never reported as Blocked, even when the broker had blocked it.
func (p *Publisher) Wait(ctx context.Context, dc *amqp.DeferredConfirmation, messageID string, timeout time.Duration) error {
	if dc == nil {
		return errors.New("rabbit: Publisher.Wait needs a deferred confirmation: call ch.Confirm(false) before publishing")
	}
	select { // a confirm that has come needs no timer
	case <-dc.Done():
		return p.Confirmed(dc, messageID)
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	returns := p.waitReturns()
	for {
		select {
		case <-dc.Done(): // a confirm that has come wins over the rest
			return p.Confirmed(dc, messageID)
		default:
		}
		// Blocked checks the connection first: the library marks it closed before it nacks the
		// messages waiting, so a lost connection waits here the moment until dc is done.
		if reason := p.Blocked(); reason != "" {
			return &ConfirmError{Outcome: Blocked, Reason: reason}
		}
		select {
		case <-dc.Done():
		case r, ok := <-returns: // room for the next return: the library hands it over before the ack
			returns = p.keep(r, ok)
		case <-p.changed:
		case <-ctx.Done():
			select {
			case <-dc.Done():
				continue
			default:
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return &ConfirmError{Outcome: TimedOut, Timeout: timeout}
			}
			return &ConfirmError{Outcome: Interrupted}
		}
	}
}

// WaitThrough is Wait for a program that may wait out a blocked broker (a resource alarm), as a server
// holding a request does: it calls blocked (if not nil) once, with the broker's reason, and waits on
// until the confirm comes, for at most timeout in all. It ends as Wait does; a wait that runs out while
// the broker still blocks is Blocked, one that runs out otherwise TimedOut.
func (p *Publisher) WaitThrough(ctx context.Context, dc *amqp.DeferredConfirmation, messageID string, timeout time.Duration, blocked func(reason string)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	end := time.Now().Add(timeout)
	for said := false; ; said = true {
		err := p.Wait(ctx, dc, messageID, time.Until(end))
		var ce *ConfirmError
		if !errors.As(err, &ce) || ce.Outcome != Blocked {
			if ce != nil && ce.Outcome == TimedOut {
				ce.Timeout = timeout
			}
			return err
		}
		if !said && blocked != nil {
			blocked(ce.Reason)
		}
		select {
		case <-p.changed: // unblocked, or blocked for another reason: Wait looks again
			continue
		case <-dc.Done(): // the confirm, or the library's nack when the connection closes
		case <-ctx.Done():
			err = &ConfirmError{Outcome: Interrupted}
		case <-deadline.C:
		}
		select {
		case <-dc.Done(): // a confirm that has come wins over the rest
			return p.Confirmed(dc, messageID)
		default:
			return err
		}
	}
}

// Confirmed is the outcome of a confirm that has come (dc.Done() is closed): nil for an ack of a message
// that was not returned, else a *ConfirmError. When the channel closes, the library nacks every message
// still waiting after it has put the reason in the close notification: a nack with a reason there is
// not the broker's refusal.
func (p *Publisher) Confirmed(dc *amqp.DeferredConfirmation, messageID string) error {
	if !dc.Acked() {
		if p.conn.IsClosed() {
			// The library marks the connection closed before it tells the channels: wait for the
			// close notification, which comes before the nack, so that the reason is the close's.
			return p.closedOr(ConnectionLost)
		}
		return p.closedOr(Nacked)
	}
	return p.returnError(messageID)
}

// returnError is Returned for an acked message as a ConfirmError, or nil.
func (p *Publisher) returnError(messageID string) error {
	if r, ok := p.Returned(messageID); ok {
		return &ConfirmError{Outcome: Returned, Reason: fmt.Sprintf("%d %s", r.ReplyCode, r.ReplyText)}
	}
	return nil
}

// closedOr is the channel's close as a ConfirmError, or outcome when the channel is open.
func (p *Publisher) closedOr(outcome Outcome) error {
	select {
	case reason, ok := <-p.closed:
		return p.closeError(reason, ok)
	default:
		return &ConfirmError{Outcome: outcome}
	}
}

// closeError is a close notification (ok false: closed without a reason) as a ConfirmError: the
// connection lost, or the channel closed by the broker.
func (p *Publisher) closeError(reason *amqp.Error, ok bool) *ConfirmError {
	why := "closed"
	if ok && reason != nil {
		why = FirstLine(reason.Reason)
	}
	if p.conn.IsClosed() {
		return &ConfirmError{Outcome: ConnectionLost, Reason: why}
	}
	return &ConfirmError{Outcome: ChannelClosed, Reason: why}
}

// Why is what ended the wait, without what it means for the message: "the broker is blocking
// publishers (low on memory)", "no confirm from the broker within 1s", "interrupted". Tally reports a
// run's end with it.
func (e *ConfirmError) Why() string {
	switch e.Outcome {
	case Nacked:
		return "the broker refused the message (nack)"
	case Returned:
		return fmt.Sprintf("no queue took the message (%s)", e.Reason)
	case ChannelClosed:
		return fmt.Sprintf("the broker closed the channel (%s)", e.Reason)
	case ConnectionLost:
		return fmt.Sprintf("connection to the broker lost (%s)", e.Reason)
	case Blocked:
		return fmt.Sprintf("the broker is blocking publishers (%s)", e.Reason)
	case TimedOut:
		return fmt.Sprintf("no confirm from the broker within %s", e.Timeout)
	}
	return "interrupted"
}

// Next waits for the next confirmation on confirms, a channel given to ch.NotifyPublish (the library
// sends one per message, in publishing order), for at most timeout. Its errors are Wait's: TimedOut,
// Interrupted, Blocked, and ChannelClosed or ConnectionLost when the library closes confirms (it does
// when the channel closes, without a confirmation for the messages still waiting). Settled tells the
// confirmation's outcome.
func (p *Publisher) Next(ctx context.Context, confirms <-chan amqp.Confirmation, timeout time.Duration) (amqp.Confirmation, error) {
	select { // a confirmation that has come wins over the rest, and needs no timer
	case c, ok := <-confirms:
		if !ok {
			return c, p.closedOr(ConnectionLost)
		}
		return c, nil
	default:
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	returns := p.waitReturns()
	for {
		if reason := p.Blocked(); reason != "" {
			return amqp.Confirmation{}, &ConfirmError{Outcome: Blocked, Reason: reason}
		}
		select {
		case c, ok := <-confirms:
			if !ok {
				return c, p.closedOr(ConnectionLost)
			}
			return c, nil
		case r, ok := <-returns: // room for the next return: the library hands it over before the ack
			returns = p.keep(r, ok)
		case <-p.changed:
		case <-timer.C:
			return amqp.Confirmation{}, &ConfirmError{Outcome: TimedOut, Timeout: timeout}
		case <-ctx.Done():
			return amqp.Confirmation{}, &ConfirmError{Outcome: Interrupted}
		}
	}
}

// Settled is the outcome of a confirmation from NotifyPublish for the message with this MessageId: nil
// for an ack of a message that was not returned, else a *ConfirmError (Nacked or Returned).
func (p *Publisher) Settled(c amqp.Confirmation, messageID string) error {
	if !c.Ack {
		return &ConfirmError{Outcome: Nacked}
	}
	return p.returnError(messageID)
}

// PublishError says why a publish call failed with err: Interrupted when ctx is done, ChannelClosed or
// ConnectionLost (with the broker's reason) when the channel has closed, else "publish: err".
func (p *Publisher) PublishError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &ConfirmError{Outcome: Interrupted}
	}
	// The library marks the channel closed a moment before it hands the reason to NotifyClose.
	select {
	case reason, ok := <-p.closed:
		return p.closeError(reason, ok)
	case <-time.After(time.Second):
		return fmt.Errorf("publish: %w", err)
	}
}

// --- counting how the messages of a run ended ----------------------------------------------------------

// Tally counts how each message of a run of Count ended, by its number (1, 2, 3...): confirmed, nacked,
// returned (no queue took it), or unconfirmed (no confirm came: it may or may not be in the queue). It
// keeps the first runs of consecutive numbers of each kind, not every number, so that its memory does not
// grow with the run.
type Tally struct {
	Count     int // the messages the run was to publish
	Confirmed int

	nacked, returned, unconfirmed numbers
}

// Settle records how message n ended from the outcome of its confirm (Wait's, Settled's): nil is
// confirmed, a Known *ConfirmError nacked or returned, any other error unconfirmed. It returns err
// when the message is unconfirmed, the end of the run, else nil.
func (t *Tally) Settle(n int, err error) error {
	var ce *ConfirmError
	switch {
	case err == nil:
		t.Confirmed++
	case errors.As(err, &ce) && ce.Outcome == Nacked:
		t.nacked.add(n)
	case errors.As(err, &ce) && ce.Outcome == Returned:
		t.returned.add(n)
	default:
		t.unconfirmed.add(n)
		return err
	}
	return nil
}

// Published is how many messages were published: every one settled.
func (t *Tally) Published() int {
	return t.Confirmed + t.nacked.n + t.returned.n + t.unconfirmed.n
}

// Report prints "Published N messages and handled confirms HOW in T ms" to w. It returns nil when all
// Count messages were confirmed, else one line that names the others, and why the run ended (why, if
// not nil): "3 of 1,000 messages not confirmed: 1 nacked (messages 7), 2 returned as unroutable
// (messages 9 to 10)" or "...: 128 unconfirmed (messages 5,001 to 5,128), 994,872 not published:
// interrupted".
func (t *Tally) Report(w io.Writer, how string, elapsed time.Duration, why error) error {
	fmt.Fprintf(w, "Published %s messages and handled confirms %s in %s ms\n",
		Thousands(t.Published()), how, Thousands(int(elapsed.Milliseconds())))
	if t.Confirmed == t.Count {
		return nil
	}
	var parts []string
	for _, k := range []struct {
		what string
		n    numbers
	}{{"nacked", t.nacked}, {"returned as unroutable", t.returned}, {"unconfirmed", t.unconfirmed}} {
		if k.n.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s (%s)", Thousands(k.n.n), k.what, k.n))
		}
	}
	if n := t.Count - t.Published(); n > 0 {
		parts = append(parts, Thousands(n)+" not published")
	}
	msg := fmt.Sprintf("%s of %s messages not confirmed: %s", Thousands(t.Count-t.Confirmed), Thousands(t.Count),
		strings.Join(parts, ", "))
	var ce *ConfirmError
	switch {
	case errors.As(why, &ce):
		msg += ": " + ce.Why()
	case why != nil:
		msg += ": " + FirstLine(why.Error())
	}
	return errors.New(msg)
}

// numbers counts messages and keeps the first runs of consecutive message numbers, to name them.
type numbers struct {
	n    int
	runs [][2]int // first and last of each run, in the order added
}

func (s *numbers) add(i int) {
	s.n++
	if k := len(s.runs); k > 0 && s.runs[k-1][1] == i-1 {
		s.runs[k-1][1] = i
	} else if k <= 5 { // five to show, and a sixth to know there are more
		s.runs = append(s.runs, [2]int{i, i})
	}
}

func (s numbers) String() string {
	var parts []string
	for k, r := range s.runs {
		switch {
		case k == 5:
			parts = append(parts, "...")
		case r[0] == r[1]:
			parts = append(parts, Thousands(r[0]))
		default:
			parts = append(parts, Thousands(r[0])+" to "+Thousands(r[1]))
		}
	}
	return "messages " + strings.Join(parts, ", ")
}

// Thousands formats n with commas, as the tutorial prints its figures: 50,000.
func Thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + Thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// --- consuming -----------------------------------------------------------------------------------------

// Consumer listens for why a consumer's deliveries channel may close: the channel closed (by the broker,
// or with the connection) or the consumer cancelled by the broker. Make it before ch.Consume.
type Consumer struct {
	conn      *amqp.Connection
	queue     string
	closed    <-chan *amqp.Error
	cancelled <-chan string
	done      chan struct{}
	autoAck   bool

	once  sync.Once
	ended error // what Ended said first: a notification can be read once
}

// NewConsumer starts listening on conn and ch, for a consumer of queue.
func NewConsumer(conn *amqp.Connection, ch *amqp.Channel, queue string) *Consumer {
	c := &Consumer{
		conn:      conn,
		queue:     queue,
		closed:    ch.NotifyClose(make(chan *amqp.Error, 1)),
		cancelled: ch.NotifyCancel(make(chan string, 1)),
		done:      make(chan struct{}),
	}
	// Done's own listener, made after the one Ended reads: the library tells its listeners in the order
	// they were made, so Ended has its reason once Done is closed. The goroutine ends with the channel.
	stop := ch.NotifyCancel(make(chan string, 1))
	go func() {
		_, ok := <-stop
		close(c.done)
		for ok {
			_, ok = <-stop
		}
	}()
	return c
}

// Done is closed when the deliveries end for a reason Ended tells: the broker cancelled the consumer, or
// the channel closed (the broker closed it, the connection was lost, or the program closed it). A program
// busy with one delivery selects on it to stop at once. It stays open when the program cancels the
// consumer itself (ch.Cancel). As in the tutorials, one consumer per channel: the broker cancelling
// another consumer on the channel closes it too.
func (c *Consumer) Done() <-chan struct{} { return c.done }

// AutoAck tells c that its consumer acknowledges nothing (ch.Consume with auto-ack on), and returns c.
// Ended then does not name the consumer timeout: only a message waiting for an acknowledgement runs
// past it.
func (c *Consumer) AutoAck() *Consumer {
	c.autoAck = true
	return c
}

// Ended says why the deliveries channel closed, in one line. The library puts the reason in the close
// or cancel notification before it closes the deliveries channel; a closing channel also closes the
// cancel notification, so the close is looked at first.
func (c *Consumer) Ended() error {
	c.once.Do(func() { c.ended = c.why() })
	return c.ended
}

func (c *Consumer) why() error {
	select {
	case reason, ok := <-c.closed:
		if ok {
			return Lost(c.conn, reason)
		}
		// Closed with no reason: the program closed the channel or the connection itself.
		return errors.New("the channel was closed by the program")
	default:
	}
	select {
	case _, ok := <-c.cancelled:
		if ok && c.autoAck {
			return fmt.Errorf("the broker cancelled our consumer: queue %q was deleted", c.queue)
		}
		if ok {
			// RabbitMQ cancels a consumer whose queue is deleted and, from 4.3 on, one that holds a
			// message past the consumer timeout (before 4.3 the broker closes the channel then).
			return fmt.Errorf("the broker cancelled our consumer: queue %q was deleted, or a message waited "+
				"past the broker's consumer timeout for our acknowledgement", c.queue)
		}
	default:
	}
	return errors.New("the deliveries ended and the broker gave no reason")
}

// --- the broker ----------------------------------------------------------------------------------------

// AtLeast reports whether the broker is RabbitMQ major.minor or later, from the version it gave when
// conn was opened (the "version" server property); false when it gave none that reads as one.
func AtLeast(conn *amqp.Connection, major, minor int) bool {
	var ma, mi int
	v, _ := conn.Properties["version"].(string)
	if _, err := fmt.Sscanf(v, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// StreamOffset turns the value s of flag into the x-stream-offset consumer argument of a stream:
// "first", "last" (the start of the last chunk), "next" (only what is published from now on), an
// offset (42), a time in RFC 3339 (sent in whole seconds) or an age (30s, 10m, 2h, 7D; also M and Y).
func StreamOffset(flag, s string) (any, error) {
	var offset int64
	if _, err := fmt.Sscan(s, &offset); err == nil && s != "" && strings.Trim(s, "0123456789") == "" {
		return offset, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	n := len(s) - 1
	if s == "first" || s == "last" || s == "next" ||
		n > 0 && strings.IndexByte("YMDhms", s[n]) >= 0 && strings.Trim(s[:n], "0123456789") == "" {
		return s, nil
	}
	return nil, fmt.Errorf("-%s %q: want first, last, next, an offset (42), a time (2006-01-02T15:04:05Z) "+
		"or an age (30s, 10m, 2h, 7D)", flag, s)
}
