package seshat

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/seshat-go/seshat/store"
)

// errReplaced is what writes return after the session could not be
// committed and the error handler answered instead of the handler.
var errReplaced = errors.New("seshat: response replaced by the session error handler")

// Handler is the middleware: it gives each request a session (see
// Manager.Session) and commits the request's changes just before the
// response headers are written, so it can still set the cookie. It does not
// buffer the body; Flush, Hijack and http.ResponseController keep working.
// When the commit fails, Options.ErrorHandler answers instead. With
// Options.MaxBodyBytes, the request body is capped (http.MaxBytesReader);
// with Options.CrossOrigin, cross-origin state-changing requests are
// refused first.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.crossOriginProtection != nil && m.crossOrigin(w, r) {
			return // refused before the session is looked at
		}
		// One allocation for the request's session, its context and the
		// response writer, on a path every request takes.
		st := &requestState{}
		s := &st.s
		m.initSession(s, r.Header, r.TLS != nil)
		s.remote = r.RemoteAddr
		st.ctx = sessionContext{Context: r.Context(), key: m.ctxKey, s: s}
		s.ctx = &st.ctx
		r = r.WithContext(s.ctx)
		if n := m.opts.MaxBodyBytes; n > 0 && r.Body != nil && r.Body != http.NoBody {
			if r.ContentLength > n {
				// Declared too large: answered before the handler runs,
				// so nothing is read, stored or changed.
				w.Header().Set("Connection", "close")
				m.opts.ErrorHandler(w, r, &http.MaxBytesError{Limit: n})
				return
			}
			// The server's own writer, not ours: MaxBytesReader tells it to
			// close the connection rather than drain the rest of the body.
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		st.rw = responseWriter{ResponseWriter: w, s: s, r: r}
		next.ServeHTTP(&st.rw, r)
		st.rw.start()
		if r.MultipartForm != nil {
			// The server removes the temporary files of its own request's
			// multipart form, not of this copy's: without this, every file
			// part larger than the handler's maxMemory stays on disk.
			r.MultipartForm.RemoveAll()
		}
	})
}

// requestState is what the middleware allocates for a request.
type requestState struct {
	s   Session
	ctx sessionContext
	rw  responseWriter
}

// sessionContext is the request's context carrying its session: what
// context.WithValue would make, without a separate allocation.
type sessionContext struct {
	context.Context
	key *contextKey
	s   *Session
}

// Value returns the session for the manager's key.
func (c *sessionContext) Value(key any) any {
	if k, ok := key.(*contextKey); ok && k == c.key {
		return c.s
	}
	return c.Context.Value(key)
}

// responseWriter commits the session before the first byte of the
// response (headers included) goes out.
type responseWriter struct {
	http.ResponseWriter
	s        *Session
	r        *http.Request
	started  bool
	replaced bool
}

// start commits once and reports whether the handler's response may go on.
func (w *responseWriter) start() bool {
	if !w.started {
		w.started = true
		if err := w.s.commit(w.Header()); err != nil {
			w.replaced = true
			w.s.m.opts.ErrorHandler(w.ResponseWriter, w.r, err)
		}
	}
	return !w.replaced
}

func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: headers are not final yet
		return
	}
	if w.start() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.start() {
		return 0, errReplaced
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom keeps io.Copy's fast paths (sendfile) of the underlying writer.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.start() {
		return 0, errReplaced
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(w.ResponseWriter, src)
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController.Flush calls.
func (w *responseWriter) FlushError() error {
	if !w.start() {
		return errReplaced
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker; the session is committed first.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.start() {
		return nil, nil, errReplaced
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// commit stores the request's changes and sets or clears the cookie in h.
// It runs once, before the response headers are written.
func (s *Session) commit(h http.Header) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	m := s.m
	now := m.now()
	if s.state == stateUnloaded && s.changed() {
		// Changes recorded without a read (see blind).
		if err := s.commitBlind(now); err != nil {
			return err
		}
		if s.state == stateUnloaded {
			m.addVary(h)
		}
	}
	if s.state == stateUnloaded {
		if !s.resign && !m.opts.RollingCookie && !(s.wrote && m.issuer != nil) {
			return nil // not read: nothing more to store, nothing to say
		}
		// The cookie needs the session: its deadline for Max-Age, or what
		// the issuer decides from.
		if err := s.load(); err != nil {
			return nil // keep the old cookie; it still verifies
		}
	}
	switch s.state {
	case stateFailed:
		return nil
	case stateNew:
		if s.admin {
			return nil // an edit by handle never creates a session
		}
		return s.create(h, now)
	}
	if s.changed() {
		d := s.pending(now)
		res, err := s.commitDelta("commit", 0, d)
		if err != nil {
			return err
		}
		s.applied(d, res)
		if d.User != nil {
			m.enforceUserCap(s.ctx, *d.User, s.key)
		}
	}
	s.commitDevice(now) // on its own: the request's changes must not fail for it
	switch {
	case m.issuer != nil:
		if s.resign || s.wrote || m.opts.RollingCookie {
			s.issueCookie(h, now, false)
		}
	case s.resign || m.opts.RollingCookie:
		s.setCookie(h, m.cookie(s.id, s.secure, s.rec.Deadline, now))
	}
	if s.resign {
		s.sendToken(h)
	}
	m.addVary(h)
	return nil
}

// issueCookie sends the cookie the CookieIssuer decides on. s.mu is held.
func (s *Session) issueCookie(h http.Header, now time.Time, created bool) {
	m := s.m
	if !s.sendsCookie() {
		return
	}
	v := m.issuer.IssueCookie(SessionCookie{
		Name: m.cookieName(s.secure), ID: s.id, Record: s.rec, Secure: s.secure, Now: now,
		Created: created, Wrote: s.wrote, Stale: s.resign, Rolling: m.opts.RollingCookie,
	})
	if v == "" || h == nil {
		return
	}
	h.Add("Set-Cookie", v)
	h.Add("Cache-Control", `no-cache="Set-Cookie"`)
	m.addVary(h)
}

// commitBlind commits the changes recorded without reading the session
// (see blind) in one store call. When the cookie's session turns out to be
// gone (or unreadable), the changes go to a new session instead, as they
// would have had the session been read first. s.mu is held.
func (s *Session) commitBlind(now time.Time) error {
	d := s.pending(now)
	_, err := s.commitDelta("commit", 0, d)
	switch {
	case err == nil:
		s.set, s.del, s.user, s.expiry = nil, nil, nil, nil
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrCorrupt):
		if s.unknown(err); s.state == stateFailed {
			return s.loadErr
		}
		return nil // created below, with the changes
	case errors.Is(err, store.ErrMoved):
		s.state, s.loadErr = stateFailed, err // a straggler of a login
	}
	return err
}

// create stores a new session if it holds anything. s.mu is held.
func (s *Session) create(h http.Header, now time.Time) error {
	m := s.m
	if len(s.set) == 0 && (s.user == nil || *s.user == "") {
		if s.hadCookie {
			s.setCookie(h, m.cookie("", s.secure, time.Time{}, now))
		}
		return nil
	}
	rec := *s.rec
	rec.Values = s.set
	if s.user != nil {
		rec.User = *s.user
	}
	rec.Touched = now
	// Values set without a read (see blind) were not checked against the
	// size limit: the store's rule, from nothing.
	if err := store.CheckSize(0, rec.Size(), m.opts.MaxSessionBytes); err != nil {
		return err
	}
	s.ensureID()
	err := m.op(s.ctx, "create", true, func(ctx context.Context) error {
		return m.store.Create(ctx, s.key, &rec)
	})
	if err != nil {
		return err
	}
	m.observe(Event{Kind: EventCreated})
	if s.previous != "" {
		m.publish(s.ctx, LifecycleEvent{Kind: store.Regenerated, Handle: s.key, Previous: s.previous, User: rec.User})
	} else {
		m.publish(s.ctx, LifecycleEvent{Kind: store.Created, Handle: s.key, User: rec.User})
	}
	s.rec, s.state = &rec, stateStored
	s.set, s.user = nil, nil
	if m.issuer != nil {
		s.issueCookie(h, now, true)
	} else {
		s.setCookie(h, m.cookie(s.id, s.secure, rec.Deadline, now))
	}
	s.sendToken(h)
	m.enforceUserCap(s.ctx, rec.User, s.key)
	return nil
}

// setCookie sends c, unless the session's answer carries no cookie (see
// sendsCookie). s.mu is held.
func (s *Session) setCookie(h http.Header, c *http.Cookie) {
	if h == nil {
		return
	}
	if s.sendsCookie() {
		if v := c.String(); v != "" {
			h.Add("Set-Cookie", v)
		}
		h.Add("Cache-Control", `no-cache="Set-Cookie"`)
	}
	s.m.addVary(h)
}

// addVary says that the response depends on the request headers that
// carry session tokens (Vary), unless it says so already.
func (m *Manager) addVary(h http.Header) {
	if h == nil {
		return
	}
next:
	for _, name := range m.vary {
		for _, v := range h.Values("Vary") {
			if strings.Contains(v, name) {
				continue next
			}
		}
		h.Add("Vary", name)
	}
}
