package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy between Redis clients and one server that can lose
// replies the way a network does: it forwards a command, lets the server
// run it, and then cuts the client's connection before the reply reaches
// it (what a load balancer reset, a proxy restart or a failover does). It
// can also hold every reply for a while. It understands RESP2 and RESP3
// well enough to pair each command with its reply (not pub/sub, whose
// messages answer no command).
type Proxy struct {
	target string
	ln     net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	rule   func(args []string) bool
	delay  time.Duration
	hole   bool

	cuts     atomic.Int64
	commands atomic.Int64
	wg       sync.WaitGroup
}

// StartProxy starts a proxy to target (host:port) on a free loopback port.
// It is closed when the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address of the server behind the proxy.
func (p *Proxy) Target() string { return p.target }

// CutReplies sets the rule: for every command a client sends, cut(args)
// (the command's name and arguments) decides whether the connection is cut
// once the server has answered it, before the answer reaches the client.
// nil forwards everything. The rule is called from many goroutines.
func (p *Proxy) CutReplies(cut func(args []string) bool) {
	p.mu.Lock()
	p.rule = cut
	p.mu.Unlock()
}

// DelayReplies holds every reply for d before forwarding it (0: none).
func (p *Proxy) DelayReplies(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Blackhole makes the server unreachable while on: every command is
// swallowed, never forwarded, and its reply never comes (a hung server, a
// partition), so the client's own timeouts are what answer. A connection
// that lost a command this way is closed at its next command after
// Blackhole(false); new connections work again.
func (p *Proxy) Blackhole(on bool) {
	p.mu.Lock()
	p.hole = on
	p.mu.Unlock()
}

// Cuts is how many connections the proxy has cut after the server ran a
// command.
func (p *Proxy) Cuts() int64 { return p.cuts.Load() }

// Commands is how many commands the proxy has forwarded.
func (p *Proxy) Commands() int64 { return p.commands.Load() }

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// EveryNth returns a rule for CutReplies that cuts every nth command whose
// name is one of names (case-insensitive; all commands when none), counted
// across every connection that uses the rule. n < 1 cuts nothing.
func EveryNth(n int, names ...string) func(args []string) bool {
	var seen atomic.Int64
	return func(args []string) bool {
		if len(args) == 0 || n < 1 {
			return false
		}
		if len(names) > 0 {
			match := false
			for _, name := range names {
				match = match || strings.EqualFold(args[0], name)
			}
			if !match {
				return false
			}
		}
		return seen.Add(1)%int64(n) == 0
	}
}

// FirstTries returns a rule for CutReplies that cuts every nth command
// whose name is one of names, like EveryNth, but never a command identical
// to one it has seen (a client's retry): so a client that retries once
// always gets an answer, and a test can require every request to succeed.
func FirstTries(n int, names ...string) func(args []string) bool {
	every := EveryNth(n, names...)
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(args []string) bool {
		k := strings.Join(args, "\x00")
		mu.Lock()
		again := seen[k]
		seen[k] = true
		mu.Unlock()
		return !again && every(args)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, s) {
			return
		}
		p.wg.Add(2)
		verdicts := make(chan bool, 1024)
		go p.commandsOf(c, s, verdicts)
		go p.repliesOf(c, s, verdicts)
	}
}

// track registers a pair of connections; false when the proxy is closed.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	for _, c := range conns {
		delete(p.conns, c)
		c.Close()
	}
	p.mu.Unlock()
}

// commandsOf forwards the client's commands to the server, telling
// repliesOf, in order, which replies to cut.
func (p *Proxy) commandsOf(client, server net.Conn, verdicts chan<- bool) {
	defer p.wg.Done()
	defer close(verdicts)
	r := bufio.NewReader(client)
	swallowed := false // a reply is owed that will never come
	for {
		raw, args, err := readValue(r)
		if err != nil {
			p.untrack(client, server)
			return
		}
		p.mu.Lock()
		rule, hole := p.rule, p.hole
		p.mu.Unlock()
		if hole {
			swallowed = true
			continue
		}
		if swallowed { // replies would pair with the wrong commands
			p.untrack(client, server)
			return
		}
		verdicts <- rule != nil && rule(args)
		p.commands.Add(1)
		if _, err := server.Write(raw); err != nil {
			p.untrack(client, server)
			return
		}
	}
}

// repliesOf forwards the server's replies to the client, cutting both
// connections instead of forwarding a reply whose command the rule chose.
func (p *Proxy) repliesOf(client, server net.Conn, verdicts <-chan bool) {
	defer p.wg.Done()
	// Once no reply is forwarded, commandsOf must not block on a full
	// channel: drain it until it closes (the connections are closed, so
	// commandsOf ends soon).
	defer func() {
		go func() {
			for range verdicts {
			}
		}()
	}()
	r := bufio.NewReader(server)
	for {
		raw, _, err := readValue(r)
		if err != nil {
			p.untrack(client, server)
			return
		}
		if raw[0] != '>' { // a RESP3 push is no command's reply
			if cut, ok := <-verdicts; !ok || cut {
				if ok {
					p.cuts.Add(1)
				}
				p.untrack(client, server)
				return
			}
		}
		p.mu.Lock()
		delay := p.delay
		p.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		if _, err := client.Write(raw); err != nil {
			p.untrack(client, server)
			return
		}
	}
}

var errProtocol = errors.New("redistest: proxy: RESP protocol error")

// readValue reads one complete RESP2 or RESP3 value and returns its bytes
// and, for an array of strings (a command), its elements.
func readValue(r *bufio.Reader) ([]byte, []string, error) {
	var buf bytes.Buffer
	var args []string
	err := readInto(r, &buf, &args, 0)
	return buf.Bytes(), args, err
}

func readInto(r *bufio.Reader, buf *bytes.Buffer, args *[]string, depth int) error {
	if depth > 64 {
		return errProtocol
	}
	line, err := r.ReadBytes('\n')
	if err != nil {
		return err
	}
	buf.Write(line)
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return errProtocol
	}
	head := string(line[1 : len(line)-2])
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return nil
	case '$', '!', '=':
		n, err := strconv.Atoi(head)
		if err != nil {
			return errProtocol
		}
		if n < 0 {
			return nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		buf.Write(b)
		if depth == 1 && args != nil {
			*args = append(*args, string(b[:n]))
		}
		return nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(head)
		if err != nil {
			return errProtocol
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		var sub *[]string
		if depth == 0 && line[0] == '*' {
			sub = args
		}
		for range n {
			if err := readInto(r, buf, sub, depth+1); err != nil {
				return err
			}
		}
		if line[0] == '|' { // an attribute comes before the value it describes
			return readInto(r, buf, args, depth)
		}
		return nil
	}
	return fmt.Errorf("%w: type %q", errProtocol, line[0])
}

// Proxies are proxies in front of several servers (the nodes of a
// Cluster), keyed by the address of the server each stands for.
type Proxies map[string]*Proxy

// StartProxies starts a proxy in front of each address.
func StartProxies(t testing.TB, addrs ...string) Proxies {
	ps := Proxies{}
	for _, a := range addrs {
		ps[a] = StartProxy(t, a)
	}
	return ps
}

// Dialer is a go-redis Options.Dialer that connects to an address through
// its proxy (directly when it has none), so that a Cluster client, which
// learns its nodes' addresses from the nodes, still goes through them.
func (ps Proxies) Dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p, ok := ps[addr]; ok {
			addr = p.Addr()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// Blackhole makes every proxy's server unreachable while on (see
// Proxy.Blackhole).
func (ps Proxies) Blackhole(on bool) {
	for _, p := range ps {
		p.Blackhole(on)
	}
}

// CutReplies sets the same rule on every proxy (see Proxy.CutReplies).
func (ps Proxies) CutReplies(cut func(args []string) bool) {
	for _, p := range ps {
		p.CutReplies(cut)
	}
}

// Cuts is how many connections the proxies have cut.
func (ps Proxies) Cuts() int64 {
	var n int64
	for _, p := range ps {
		n += p.Cuts()
	}
	return n
}
