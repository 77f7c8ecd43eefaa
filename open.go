package seshat

import (
	"context"
	"net/http"
)

// Open returns the session a token names, for code that runs outside the
// manager's net/http middleware: a WebSocket message, a gRPC or connect
// call, a client that sends the token in a header instead of a cookie.
// The token is the session cookie's value, the same signed value however it
// travels (see Session.Token). An empty token, or one that does not
// verify, gives a new, empty session without asking the store: a forged
// token never reaches it.
//
// The session keeps every guarantee it has in a request: its reads come
// from one load, Incr, Update, Regenerate and Destroy act on the store at
// once, and its other changes are stored together by Commit, which the
// caller makes once, before answering. ctx bounds its store operations.
func (m *Manager) Open(ctx context.Context, token string) *Session {
	s := &Session{m: m, ctx: ctx, secure: m.secure(nil, false)}
	if token == "" {
		return s
	}
	if !validCookieValue(token) {
		m.observe(Event{Kind: EventRejectedCookie}) // not even shaped like a cookie value
		s.hadCookie = true
	} else if !m.adopt(s, token) {
		s.hadCookie = true
	}
	return s
}

// OpenRequest is Open for a request served outside net/http (by fasthttp,
// say), carrying its session in a cookie: h holds the request's headers,
// whose Cookie lines are read as the middleware reads them (every value of
// the session cookie is tried in order), and tls says whether the request
// came over TLS, which, with X-Forwarded-Proto in h, decides the cookie's
// name and Secure attribute as Options.Secure says. Commit then writes the
// headers the middleware would have set. The session keeps h and reads it
// until Commit (the device record, Options.Devices): do not change it
// meanwhile. Manager.RequestHeaders names the headers it reads.
func (m *Manager) OpenRequest(ctx context.Context, h http.Header, tls bool) *Session {
	s := &Session{ctx: ctx}
	m.initSession(s, h, tls)
	return s
}

// Commit stores the session's pending changes (what Set, Delete, SetUser
// and SetExpiry recorded) as one atomic store operation, and adds to h the
// headers the answer must carry: Set-Cookie when the session was created,
// regenerated, re-signed or ended, with Cache-Control and Vary (h may be
// nil when the token travels otherwise; see Token). The manager's
// middleware commits its requests' sessions before the response starts;
// commit a session from Open or OpenRequest before answering.
//
// A session commits once: later calls return nil and change nothing, and
// changes made after it fail. The error maps to a status with StatusCode.
func (s *Session) Commit(h http.Header) error { return s.commit(h) }

// Token returns the signed value that names the session, the value its
// cookie carries, for a client that keeps no cookies to send back (in an
// Authorization header, say) and for Open. It is "" while the session is
// not stored: a new session's token exists once Commit has created it, a
// regenerated session's once Commit has stored it under its new ID, and a
// destroyed session has none. A session not read yet is loaded first.
func (s *Session) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.load() != nil || s.state != stateStored {
		return ""
	}
	return s.m.format.Encode(s.id)
}
