package main

import (
	"net"
	"net/http"
	"sync"
)

// limitListener keeps at most cap(slots) connections open. A connection
// beyond the limit takes the place of one that sits idle between
// requests, if there is one (its client reconnects when it needs to);
// otherwise it waits, unserved, until a connection closes or goes idle.
// Waiting rather than closing the newcomer: only one waits inside the
// process (Accept is called serially), the others wait in the kernel's
// accept queue at no cost in file descriptors, and each is served as soon
// as a slot frees, which the server's timeouts guarantee happens; closing
// them would turn every visitor away for as long as the slots are held.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	wentIdle  chan struct{} // a connection went idle
	done      chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	idle map[net.Conn]struct{} // connections between requests
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), wentIdle: make(chan struct{}, 1),
		done: make(chan struct{}), idle: map[net.Conn]struct{}{}}
}

// ConnState is the http.Server's ConnState hook: it keeps track of which
// connections are idle.
func (l *limitListener) ConnState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s != http.StateIdle {
		delete(l.idle, c)
		return
	}
	l.idle[c] = struct{}{}
	select {
	case l.wentIdle <- struct{}{}:
	default:
	}
}

// closeIdle closes one idle connection, if there is one, freeing its slot.
func (l *limitListener) closeIdle() {
	l.mu.Lock()
	var victim net.Conn
	for c := range l.idle {
		victim = c
		delete(l.idle, c)
		break
	}
	l.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
}

func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		l.closeIdle()
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		case <-l.wentIdle:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on its first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
