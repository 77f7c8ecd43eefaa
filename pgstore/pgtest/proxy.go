package pgtest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP proxy in front of a PostgreSQL server that can make it
// unreachable (with Blackhole on, what clients send is swallowed and nothing comes
// back: a hung server, a partition, so only the clients' own timeouts
// answer) and lose replies (LoseReplies).
type Proxy struct {
	target string
	ln     net.Listener
	hole   atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	cut       sync.Mutex // guards the LoseReplies rule
	cutEvery  int
	cutWrites []string
	cutCount  int
	cutSeen   map[[32]byte]bool
	cuts      atomic.Int64
}

// StartProxy starts a proxy to target (host:port) on a free loopback port,
// closed when the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Blackhole makes the server unreachable while on. Connections that lost
// bytes to it are closed when it is turned off (their protocol state is
// lost); new connections work again.
func (p *Proxy) Blackhole(on bool) {
	p.hole.Store(on)
	if !on {
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	}
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		verdicts := make(chan bool, 1024)
		go func() { p.frontend(c, s, verdicts); p.drop(c, s) }()
		go func() { p.backend(c, s, verdicts); p.drop(c, s) }()
	}
}

// drop closes a connection pair and forgets it.
func (p *Proxy) drop(c, s net.Conn) {
	c.Close()
	s.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}
