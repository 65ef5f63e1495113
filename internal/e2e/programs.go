package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The checks every tutorial's programs share (-h, bad command lines, bad AMQP_URLs), and a way to leave
// a publisher waiting for its confirm. Used by the Publish/Subscribe, Routing and Topics tests.

// CheckHelp checks that each program prints its usage for -h and for --help, as Go's flag package
// does (on stderr: "Usage of ..." and the flags), prints nothing on stdout, and exits 0.
func CheckHelp(t *testing.T, programs ...string) {
	t.Helper()
	for _, prog := range programs {
		for _, h := range []string{"-h", "--help"} {
			out, errOut, code := Run(t, prog, nil, h)
			if code != 0 || !strings.HasPrefix(errOut, "Usage of ") || out != "" {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", prog, h, code, out, errOut)
			}
		}
	}
}

// BadArgs is a command line a program refuses: it prints nothing on stdout, exits non-zero, and says
// what is wrong on the first line of stderr, with Want in it: "program: ..." from the program (one line,
// exit 1), or the flag package's own line followed by the usage (exit 2), as every Go program does.
type BadArgs struct {
	Program string
	Args    []string
	Want    string
}

// CheckBadArgs runs each command line and checks that it is refused as BadArgs says.
func CheckBadArgs(t *testing.T, cases ...BadArgs) {
	t.Helper()
	for _, c := range cases {
		out, errOut, code := Run(t, c.Program, nil, c.Args...)
		first, rest, _ := strings.Cut(errOut, "\n")
		switch {
		case code == 2 && strings.HasPrefix(strings.TrimSpace(rest), "Usage of "): // the flag package's
			CheckCleanError(t, first, code)
		default:
			CheckCleanError(t, errOut, code)
			if code != 1 || !strings.HasPrefix(errOut, c.Program+": ") {
				t.Errorf("%s %.40q: exit %d, stderr %q, want exit 1 and %q", c.Program, c.Args, code, errOut, c.Program+": ...")
			}
		}
		if !strings.Contains(first, c.Want) || out != "" {
			t.Errorf("%s %.40q: stdout %q, stderr %q, want %q", c.Program, c.Args, out, errOut, c.Want)
		}
	}
}

// CheckBadURLs runs each program with args against AMQP_URLs that cannot work (a broker that is down,
// a malformed URL, another scheme, a wrong password), each in a subtest: every one must fail in one
// line that starts with the program's name, says what is wrong, and never shows the password.
func CheckBadURLs(t *testing.T, programs []string, args ...string) {
	t.Helper()
	const secret = "s3cret-pw"
	cases := []struct{ name, url, want string }{
		{"broker down", BrokerURL(t, func(u *url.URL) {
			u.User = url.UserPassword("guest", secret)
			u.Host = FreeAddr(t)
		}), "connection refused"},
		{"malformed url", "amqp://guest:" + secret + "@localhost:notaport/", "not a valid AMQP URL"},
		{"not amqp", "http://guest:" + secret + "@localhost/", "not a valid AMQP URL"},
		{"wrong password", BrokerURL(t, func(u *url.URL) { u.User = url.UserPassword(u.User.Username(), secret) }),
			"wrong user name or password"},
	}
	for _, c := range cases {
		for _, prog := range programs {
			t.Run(c.name+"/"+prog, func(t *testing.T) {
				out, errOut, code := Run(t, prog, []string{"AMQP_URL=" + c.url}, args...)
				CheckCleanError(t, errOut, code, secret)
				if !strings.HasPrefix(errOut, prog+": ") || !strings.Contains(errOut, c.want) || out != "" {
					t.Errorf("stdout %q, stderr %q, want %q", out, errOut, c.want)
				}
			})
		}
	}
}

// StallAtConfirmSelect arms proxy's StallAfterConfirmSelect and returns the environment entry that
// points a program at proxy: the program is left waiting for its first confirm, for proxy.Cut or
// proxy.Resume to end.
func StallAtConfirmSelect(t testing.TB, proxy *Proxy) []string {
	t.Helper()
	proxy.StallAfterConfirmSelect()
	return proxy.Env()
}

// CheckLostAtConfirm cuts proxy's connections under p, a publisher left waiting for its confirm by
// StallAtConfirmSelect (the caller has seen its message reach a queue), and checks that it says in one
// line that the connection was lost before the confirm, never that the broker blocks publishers (the
// library closes the blocked notifications when the connection goes), and exits 1.
func CheckLostAtConfirm(t *testing.T, p *Proc, proxy *Proxy) {
	t.Helper()
	proxy.Cut()
	code := p.Wait()
	CheckCleanError(t, p.Stderr(), code)
	lost, before := p.name+": connection to the broker lost: ", " before it confirmed the message ("
	if errOut := p.Stderr(); code != 1 || p.Stdout() != "" || !strings.HasPrefix(errOut, lost) || !strings.Contains(errOut, before) || strings.Contains(errOut, "block") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, nothing, and %q...%q", code, p.Stdout(), errOut, lost, before)
	}
}

// CheckConnectionLost cuts proxy's connections under p, a consumer waiting for messages, and checks
// that it tells the end of its deliveries in rabbit.Ended's words, the broker's reason in one
// line, and exits 1.
func CheckConnectionLost(t *testing.T, p *Proc, proxy *Proxy) {
	t.Helper()
	proxy.Cut()
	code := p.Wait()
	CheckCleanError(t, p.Stderr(), code)
	if want := p.name + ": connection to the broker lost: "; code != 1 || !strings.HasPrefix(p.Stderr(), want) {
		t.Errorf("exit %d, stderr %q; want exit 1 and %q...", code, p.Stderr(), want)
	}
}

// CheckSecondCtrlC stalls proxy under p, a running program (so that the close after a first Ctrl+C waits
// for the broker), and presses Ctrl+C four times, 100ms apart, as a user would (two signals sent at
// once may reach the program as one): a second one ends p with exit status 130, printing nothing.
func CheckSecondCtrlC(t *testing.T, p *Proc, proxy *Proxy) {
	t.Helper()
	proxy.Stall()
	for range 4 {
		p.Interrupt()
		time.Sleep(100 * time.Millisecond)
	}
	if code := p.Wait(); code != 130 || p.Stderr() != "" {
		t.Errorf("exit %d, stderr %q after a second Ctrl+C; want 130 and nothing", code, p.Stderr())
	}
}
