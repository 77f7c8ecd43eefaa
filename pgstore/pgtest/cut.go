package pgtest

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
)

// LoseReplies makes the proxy lose the reply of every nth execution of a
// statement whose SQL contains one of writes (say "seshat_commit("): the
// server runs it, and the proxy closes the client's connection instead of
// forwarding the answer — what a reset or a failover does. A retry of the
// same execution (the same statement with the same parameters) is never
// cut, so a client that retries once gets every answer. n = 0 stops it.
// It reads the PostgreSQL protocol just enough to pair each execution with
// its answer (Parse, Bind, Sync; ReadyForQuery).
func (p *Proxy) LoseReplies(n int, writes ...string) {
	p.cut.Lock()
	defer p.cut.Unlock()
	p.cutEvery, p.cutWrites, p.cutCount = n, writes, 0
	if p.cutSeen == nil {
		p.cutSeen = map[[32]byte]bool{}
	}
}

// Cuts is how many replies the proxy has lost.
func (p *Proxy) Cuts() int64 { return p.cuts.Load() }

// chooseCut decides, for an execution of sql with params, whether to lose
// its reply.
func (p *Proxy) chooseCut(sql string, params []byte) bool {
	p.cut.Lock()
	defer p.cut.Unlock()
	if p.cutEvery <= 0 {
		return false
	}
	write := false
	for _, w := range p.cutWrites {
		write = write || strings.Contains(sql, w)
	}
	if !write {
		return false
	}
	k := sha256.Sum256(append([]byte(sql+"\x00"), params...))
	if p.cutSeen[k] {
		return false // a retry
	}
	p.cutSeen[k] = true
	p.cutCount++
	return p.cutCount%p.cutEvery == 0
}

// frontend forwards the client's messages, telling backend, one verdict
// per Sync, which answers to lose.
func (p *Proxy) frontend(client, server net.Conn, verdicts chan<- bool) {
	defer close(verdicts)
	r := bufio.NewReader(client)
	stmts := map[string]string{} // prepared statement name → SQL
	cutNext := false
	first := true
	for {
		m, err := readMessage(r, !first)
		if err != nil {
			return
		}
		typ, body := m.typ, m.body
		switch typ {
		case 'P': // Parse: name, query
			name, rest := cstring(body)
			query, _ := cstring(rest)
			stmts[name] = query
		case 'B': // Bind: portal, statement, then formats and parameters
			_, rest := cstring(body)
			name, rest := cstring(rest)
			if p.chooseCut(stmts[name], rest) {
				cutNext = true
			}
		case 'S': // Sync: one ReadyForQuery answers it
			verdicts <- cutNext
			cutNext = false
		case 'Q': // a simple query: one ReadyForQuery too
			q, _ := cstring(body)
			verdicts <- p.chooseCut(q, nil)
		}
		if !p.hole.Load() {
			if _, err := server.Write(m.appendTo(nil)); err != nil {
				return
			}
		}
		first = false
	}
}

// backend forwards the server's messages, closing both connections in
// place of a ReadyForQuery whose Sync was chosen.
func (p *Proxy) backend(client, server net.Conn, verdicts <-chan bool) {
	r := bufio.NewReader(server)
	var pending []byte
	started := false // the first ReadyForQuery ends the startup and answers no Sync
	for {
		m, err := readMessage(r, true)
		if err != nil {
			return
		}
		typ := m.typ
		pending = m.appendTo(pending)
		if typ != 'Z' && r.Buffered() > 0 {
			continue // batch what is already here
		}
		if typ == 'Z' && !started {
			started = true
		} else if typ == 'Z' {
			if cut, ok := <-verdicts; ok && cut {
				p.cuts.Add(1)
				client.Close()
				server.Close()
				return
			}
		}
		if !p.hole.Load() {
			if _, err := client.Write(pending); err != nil {
				return
			}
		}
		pending = pending[:0]
	}
}

// message is one message of PostgreSQL's protocol: a type byte (none for
// the startup message), a length, a body.
type message struct {
	typed bool
	typ   byte
	body  []byte
}

// readMessage reads one message; the client's startup message has no type
// byte (typed false).
func readMessage(r *bufio.Reader, typed bool) (message, error) {
	m := message{typed: typed}
	if typed {
		b, err := r.ReadByte()
		if err != nil {
			return m, err
		}
		m.typ = b
	}
	var lenBuf [4]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return m, err
	}
	n := int(binary.BigEndian.Uint32(lenBuf[:])) - 4
	if n < 0 || n > 1<<30 {
		return m, fmt.Errorf("pgtest: a message of %d bytes", n)
	}
	m.body = make([]byte, n)
	_, err := io.ReadFull(r, m.body)
	return m, err
}

// appendTo appends the message as it was on the wire.
func (m message) appendTo(b []byte) []byte {
	if m.typed {
		b = append(b, m.typ)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.body)+4))
	return append(b, m.body...)
}

func cstring(b []byte) (string, []byte) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:]
		}
	}
	return string(b), nil
}
