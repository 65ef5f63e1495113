package e2e

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a TCP proxy between the programs under test and the broker at AMQP_URL. It makes the faults
// the tests need without any access to the broker itself, so the tests run against any broker: it cuts
// connections (a network failure, a broker that dies), stalls the broker's side (a broker that stops
// answering: no confirms, no close-ok), and plays a broker under a resource alarm (connection.blocked,
// then nothing read from the client).
//
// It passes bytes unchanged. It reads the frames the broker sends (they are needed to insert a frame
// between two of them), which also lets it report the names of the queues the broker declared.
type Proxy struct {
	t        testing.TB
	l        net.Listener
	upstream string

	mu      sync.Mutex
	cond    *sync.Cond
	conns   map[*proxyConn]struct{}
	stalled bool // broker → client held
	// stallAfterSelectOk: the next confirm.select-ok passed to a client stalls the proxy right after it.
	stallAfterSelectOk bool
	blocked            bool // a publish holds client → broker
	reason             string
	queues             []string
	closed             bool
}

type proxyConn struct {
	client, server net.Conn
	wmu            sync.Mutex // serialises writes to client: frames relayed and frames inserted
	wasBlocked     bool       // sent connection.blocked (guarded by Proxy.mu)
}

// brokerAddr is the host:port of the broker at AMQP_URL (port 5672 when the URL names none).
func brokerAddr(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(URL())
	if err != nil {
		t.Fatalf("AMQP_URL: %v", err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5672")
	}
	return u.Host
}

// NewProxy starts a proxy to the broker at AMQP_URL, closed when the test ends.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	upstream := brokerAddr(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, l: l, upstream: upstream, conns: map[*proxyConn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is AMQP_URL with the proxy's address in place of the broker's: same user, password and vhost.
func (p *Proxy) URL() string {
	return BrokerURL(p.t, func(u *url.URL) { u.Host = p.l.Addr().String() })
}

// Env is the environment entry that points a program at the proxy.
func (p *Proxy) Env() []string { return []string{"AMQP_URL=" + p.URL()} }

// Cut closes every connection through the proxy at once, both ways, as a network failure or a broker
// crash does. New connections are still accepted.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.client.Close()
		_ = c.server.Close()
		delete(p.conns, c)
	}
	p.cond.Broadcast()
}

// Stall stops passing what the broker sends (confirms, deliveries, close-ok, heartbeats) until Resume:
// the programs see a broker that has stopped answering. What they send still reaches the broker.
func (p *Proxy) Stall() { p.set(func() { p.stalled = true }) }

// StallAfterConfirmSelect makes the next confirm.select-ok the broker sends stall the proxy right after
// it is passed on: the program, now in confirm mode, publishes (what it sends still reaches the broker),
// and what the broker sends next, its confirm first, is held until Cut or Resume.
func (p *Proxy) StallAfterConfirmSelect() { p.set(func() { p.stallAfterSelectOk = true }) }

// Block plays RabbitMQ under a memory or disk alarm, until Resume: connections open and declare as
// usual, but the first publish on each is held (never reaches the broker), the client gets
// connection.blocked with reason, and nothing more it sends is passed on. Resume passes it all on and
// sends connection.unblocked to the connections that were blocked.
func (p *Proxy) Block(reason string) {
	p.set(func() { p.blocked, p.reason = true, reason })
}

// Resume undoes Stall and Block.
func (p *Proxy) Resume() {
	p.mu.Lock()
	wasBlocked := p.blocked
	p.stalled, p.blocked = false, false
	conns := p.snapshot()
	p.cond.Broadcast()
	p.mu.Unlock()
	if wasBlocked {
		for _, c := range conns {
			p.mu.Lock()
			sent := c.wasBlocked
			c.wasBlocked = false
			p.mu.Unlock()
			if sent {
				c.insert([]byte{0, 10, 0, 61}) // connection.unblocked
			}
		}
	}
}

// Holding is the number of connections whose publish Block holds now (each was sent connection.blocked):
// how a test knows that a program waits for the confirm of a message the broker has not read.
func (p *Proxy) Holding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if c.wasBlocked {
			n++
		}
	}
	return n
}

// Connections is the number of client connections open through the proxy now.
func (p *Proxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Queues lists the names of the queues the broker reported declared (queue.declare-ok) to clients of the
// proxy, in order: how a test learns the name of a server-named queue.
func (p *Proxy) Queues() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.queues...)
}

func (p *Proxy) set(f func()) {
	p.mu.Lock()
	f()
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *Proxy) snapshot() []*proxyConn {
	var out []*proxyConn
	for c := range p.conns {
		out = append(out, c)
	}
	return out
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.l.Close()
	p.Cut()
}

func (p *Proxy) accept() {
	for {
		client, err := p.l.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = client.Close()
			continue
		}
		c := &proxyConn{client: client, server: server}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.clientToServer(c)
		go p.serverToClient(c)
	}
}

// wait holds the calling direction while held() is true; it reports false once the connection is gone.
func (p *Proxy) wait(c *proxyConn, held func() bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for held() {
		if _, open := p.conns[c]; !open || p.closed {
			return false
		}
		p.cond.Wait()
	}
	_, open := p.conns[c]
	return open
}

func (p *Proxy) drop(c *proxyConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.cond.Broadcast()
	p.mu.Unlock()
	_ = c.client.Close()
	_ = c.server.Close()
}

// clientToServer relays the protocol header, then the client's frames one at a time. Under Block, a
// client's publish is not passed on: the client gets connection.blocked instead, and its frames are held
// from then on, as RabbitMQ stops reading from a connection that publishes during an alarm.
func (p *Proxy) clientToServer(c *proxyConn) {
	defer p.drop(c)
	protocol := make([]byte, 8)
	if _, err := io.ReadFull(c.client, protocol); err != nil {
		return
	}
	if _, err := c.server.Write(protocol); err != nil {
		return
	}
	header := make([]byte, 7)
	for {
		if _, err := io.ReadFull(c.client, header); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(header[3:])
		if size > 1<<27 {
			return
		}
		rest := make([]byte, int(size)+1)
		if _, err := io.ReadFull(c.client, rest); err != nil {
			return
		}
		publish := header[0] == 1 && size >= 4 &&
			binary.BigEndian.Uint16(rest) == 60 && binary.BigEndian.Uint16(rest[2:]) == 40
		p.mu.Lock()
		blocked := p.blocked
		p.mu.Unlock()
		if publish && blocked {
			p.mu.Lock()
			c.wasBlocked = true
			p.mu.Unlock()
			c.insert(append([]byte{0, 10, 0, 60, byte(len(p.reason))}, p.reason...)) // connection.blocked
			if !p.wait(c, func() bool { return p.blocked }) {
				return
			}
		}
		if _, err := c.server.Write(append(header, rest...)); err != nil {
			return
		}
	}
}

// serverToClient relays the broker's frames one at a time: header (type, channel, size), payload, end.
func (p *Proxy) serverToClient(c *proxyConn) {
	defer p.drop(c)
	header := make([]byte, 7)
	for {
		if _, err := io.ReadFull(c.server, header); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(header[3:])
		if size > 1<<27 {
			return // not AMQP frames: give up on this connection
		}
		rest := make([]byte, int(size)+1)
		if _, err := io.ReadFull(c.server, rest); err != nil {
			return
		}
		if header[0] == 1 && size >= 5 {
			p.noteMethod(rest[:size])
		}
		if !p.wait(c, func() bool { return p.stalled }) {
			return
		}
		c.wmu.Lock()
		_, err := c.client.Write(append(header, rest...))
		c.wmu.Unlock()
		if err != nil {
			return
		}
		// A method frame of class 85 (confirm), method 11 (select-ok).
		if header[0] == 1 && size >= 4 && binary.BigEndian.Uint16(rest) == 85 && binary.BigEndian.Uint16(rest[2:]) == 11 {
			p.set(func() {
				p.stalled = p.stalled || p.stallAfterSelectOk
				p.stallAfterSelectOk = false
			})
		}
	}
}

// noteMethod records the queue name of a queue.declare-ok (class 50, method 11, a short string first).
func (p *Proxy) noteMethod(payload []byte) {
	class, method := binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])
	if class != 50 || method != 11 {
		return
	}
	n := int(payload[4])
	if 5+n > len(payload) {
		return
	}
	p.mu.Lock()
	p.queues = append(p.queues, string(payload[5:5+n]))
	p.mu.Unlock()
}

// insert writes a method frame on channel 0 to the client, between two of the broker's frames.
func (c *proxyConn) insert(payload []byte) {
	frame := make([]byte, 7, 7+len(payload)+1)
	frame[0] = 1 // method frame, channel 0
	binary.BigEndian.PutUint32(frame[3:], uint32(len(payload)))
	frame = append(append(frame, payload...), 0xCE)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.client.Write(frame); err != nil && !errors.Is(err, net.ErrClosed) {
		_ = c.client.Close()
	}
}
