package seshat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/seshat-go/seshat/store"
)

// Manager creates, loads and commits sessions. It is safe for concurrent
// use; create one per application (or per cookie) with New and install its
// Handler as middleware.
type Manager struct {
	opts   Options
	store  store.Store
	signer *signer
	keyer  *keyer
	inner  *internalSealer // seals seshat's own values
	format CookieFormat
	issuer CookieIssuer // format, if it is one
	ctxKey *contextKey
	vary   []string // the request headers a session's response varies on
	reads  []string // the request headers a session reads (RequestHeaders)

	crossOriginProtection *http.CrossOriginProtection // nil when off

	now       func() time.Time // swappable in tests
	immediate bool             // the store is a store.Immediate: no deadline
	spans     SpanObserver     // Options.Observer, if it is one
}

// contextKey is unexported and allocated per manager, so two managers in
// one handler chain never see each other's sessions.
type contextKey struct{ cookie string }

// New validates opts, fills in defaults and returns a Manager.
func New(opts Options) (*Manager, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Manager{
		opts:   o,
		store:  o.Store,
		signer: newSigner(o.Secrets, o.CookieName),
		keyer:  newKeyer(o.HashKey),
		inner:  newInternalSealer(o.Encryption, o.HashKey),
		ctxKey: &contextKey{cookie: o.CookieName},
		now:    time.Now,
	}
	if m.crossOriginProtection, err = o.CrossOrigin.protection(); err != nil {
		return nil, err
	}
	if im, ok := o.Store.(store.Immediate); ok {
		m.immediate = im.Immediate()
	}
	m.spans, _ = o.Observer.(SpanObserver)
	m.format = o.Cookies
	if m.format == nil {
		m.format = defaultFormat{m.signer, m.keyer}
	}
	m.issuer, _ = m.format.(CookieIssuer)
	if !o.Carrier.HeaderOnly {
		m.vary = append(m.vary, "Cookie")
	}
	if o.Carrier.Header != "" {
		m.vary = append(m.vary, o.Carrier.Header)
	}
	m.reads = append(m.reads, m.vary...)
	if o.TrustForwardedProto {
		m.reads = append(m.reads, "X-Forwarded-Proto")
	}
	if !o.Devices.Off {
		m.reads = append(m.reads, "User-Agent")
		if len(o.Devices.TrustedProxies) > 0 {
			m.reads = append(m.reads, "X-Forwarded-For")
		}
	}
	return m, nil
}

// RequestHeaders names the request headers a session reads, in canonical
// form: the cookie, the carrier's header, X-Forwarded-Proto when trusted,
// and what the device record takes. An adapter for a server outside
// net/http copies these into the header it gives OpenRequest, and nothing
// else. Do not change its elements.
func (m *Manager) RequestHeaders() []string { return slices.Clip(m.reads) }

// Store returns the store the manager uses.
func (m *Manager) Store() store.Store { return m.store }

// Session returns the request's session. It never returns nil: outside the
// manager's middleware every operation of the returned session fails with
// ErrNoSession.
func (m *Manager) Session(r *http.Request) *Session {
	if s, ok := r.Context().Value(m.ctxKey).(*Session); ok {
		return s
	}
	return &Session{m: m, state: stateFailed, loadErr: ErrNoSession}
}

// initSession sets up a request's session from its token (without asking
// the store): h holds the request's headers, tls says whether it came over
// TLS. Every value of the session cookie is tried in order, then every
// token of the carrier's header (see Carrier).
func (m *Manager) initSession(s *Session, h http.Header, tls bool) {
	s.m, s.secure, s.hdr = m, m.secure(h, tls), h
	c := &m.opts.Carrier
	if !c.HeaderOnly {
		for value := range cookieValues(h, m.cookieName(s.secure)) {
			s.carried |= carriedCookie
			if m.adopt(s, value) {
				return
			}
			s.hadCookie = true // cleared if no session gets created
		}
	}
	if c.Header == "" {
		return
	}
	for _, line := range h[c.Header] {
		if value, ok := c.token(line); ok {
			s.carried |= carriedHeader
			if m.adopt(s, value) {
				return
			}
		}
	}
}

// adopt gives s the session a token names, and reports whether it
// verifies; one that does not is counted (EventRejectedCookie).
func (m *Manager) adopt(s *Session, value string) bool {
	id, stale, ok := m.format.Decode(value)
	if !ok {
		m.observe(Event{Kind: EventRejectedCookie})
		return false
	}
	s.cookieID, s.id, s.key = id, id, m.format.StoreKey(id)
	s.resign = stale
	return true
}

func (m *Manager) secure(h http.Header, tls bool) bool {
	switch m.opts.Secure {
	case SecureAlways:
		return true
	case SecureNever:
		return false
	}
	if tls {
		return true
	}
	return m.opts.TrustForwardedProto && strings.EqualFold(h.Get("X-Forwarded-Proto"), "https")
}

// cookieName is the cookie's name on a secure or plain request: a Secure,
// host-only cookie for the whole site carries the __Host- prefix, which
// browsers accept only from a secure origin with exactly those attributes,
// so a subdomain or a plain-HTTP page cannot plant or overwrite it.
func (m *Manager) cookieName(secure bool) string {
	if secure && m.opts.CookieDomain == "" && m.opts.CookiePath == "/" && !m.opts.NoHostPrefix {
		return "__Host-" + m.opts.CookieName
	}
	return m.opts.CookieName
}

func (m *Manager) observe(e Event) {
	if m.opts.Observer != nil {
		m.opts.Observer.Observe(e)
	}
}

// op runs one store operation with the manager's timeout (none for a
// store.Immediate), reports it to the observer, and turns a timeout into
// ErrUnavailable. Writes are detached from the request's cancellation: a
// client that hangs up must not leave a half-finished request's changes
// unstored while its other effects stand.
func (m *Manager) op(ctx context.Context, name string, write bool, f func(context.Context) error) error {
	return m.retry(ctx, name, write, 0, f)
}

// retry is op for the attempt after retries conflicts of one Update, Incr
// or Rekey.
func (m *Manager) retry(ctx context.Context, name string, write bool, retries int, f func(context.Context) error) error {
	if write {
		ctx = context.WithoutCancel(ctx)
	}
	var end func(Event)
	if m.spans != nil {
		// Before the deadline's context: the store gets the span's.
		ctx, end = m.spans.Start(ctx, Event{Kind: EventStoreOp, Op: name, Retries: retries})
	}
	// Clock readings cost about 35 ns each on a virtual machine with
	// kvm-clock, more than the metrics collector's work for the event:
	// with a deadline, one reading serves it and the observed duration
	// (context.WithTimeout would read the clock again); without one, the
	// duration is read from the monotonic clock alone (time.Now reads the
	// wall clock too).
	var took time.Duration
	var err error
	switch {
	case m.immediate && m.opts.Observer == nil:
		err = f(ctx)
	case m.immediate:
		t0 := time.Since(epoch)
		err = f(ctx)
		took = time.Since(epoch) - t0
	default:
		start := time.Now()
		ctx, cancel := context.WithDeadline(ctx, start.Add(m.opts.StoreTimeout))
		err = f(ctx)
		cancel()
		took = time.Since(start)
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, store.ErrUnavailable) {
		err = fmt.Errorf("%w: %s: %w", store.ErrUnavailable, name, err)
	}
	switch {
	case end != nil:
		end(Event{Kind: EventStoreOp, Op: name, Duration: took, Err: err, Retries: retries})
	case m.opts.Observer != nil:
		m.opts.Observer.Observe(Event{Kind: EventStoreOp, Op: name, Duration: took, Err: err, Retries: retries})
	}
	return err
}

// admin brackets an administrative call for the observer: the call's store
// operations run under the context it returns, and done reports the
// call's outcome, *errp, when it returns (defer done(&err)).
func (m *Manager) admin(ctx context.Context, name string) (_ context.Context, done func(errp *error)) {
	if m.opts.Observer == nil {
		return ctx, func(*error) {}
	}
	var end func(Event)
	if m.spans != nil {
		ctx, end = m.spans.Start(ctx, Event{Kind: EventAdmin, Op: name})
	}
	start := time.Now()
	return ctx, func(errp *error) {
		e := Event{Kind: EventAdmin, Op: name, Duration: time.Since(start), Err: *errp}
		if end != nil {
			end(e)
		} else {
			m.opts.Observer.Observe(e)
		}
	}
}

// epoch anchors monotonic clock readings: time.Since(epoch) reads the
// monotonic clock only.
var epoch = time.Now()

// cookie builds the session cookie for id (or a clearing cookie for "").
func (m *Manager) cookie(id string, secure bool, deadline, now time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     m.cookieName(secure),
		Path:     m.opts.CookiePath,
		Domain:   m.opts.CookieDomain,
		Secure:   secure,
		HttpOnly: true,
		SameSite: m.opts.SameSite,
		// A partitioned cookie is replaced or cleared only by a
		// partitioned one: the clearing cookie is partitioned too.
		Partitioned: secure && m.opts.Partitioned,
	}
	if id == "" {
		c.MaxAge = -1
		return c
	}
	c.Value = m.format.Encode(id)
	if !m.opts.BrowserSessionCookie {
		c.MaxAge = max(int(deadline.Sub(now)/time.Second), 1)
	}
	return c
}

// enforceUserCap destroys the oldest sessions of user beyond the cap,
// keeping the one under keep.
func (m *Manager) enforceUserCap(ctx context.Context, user, keep string) {
	idx, ok := m.store.(store.UserIndex)
	if !ok || m.opts.MaxSessionsPerUser <= 0 || user == "" {
		return
	}
	var infos []store.SessionInfo
	err := m.op(ctx, "user_sessions", false, func(ctx context.Context) (err error) {
		infos, err = idx.UserSessions(ctx, user, m.now())
		return err
	})
	if err != nil {
		m.opts.Logger.Warn("seshat: cannot list user sessions to enforce the cap", "err", err)
		return
	}
	excess := len(infos) - m.opts.MaxSessionsPerUser
	for _, info := range infos {
		if excess <= 0 {
			break
		}
		if info.Key == keep {
			continue
		}
		if err := m.destroy(ctx, info.Key, user, store.UserCap); err != nil {
			m.opts.Logger.Warn("seshat: cannot destroy a session beyond the user cap", "err", err)
			return
		}
		excess--
	}
}

// HandleOf returns the handle of the session a cookie value names: its key
// in the store and its name in administration (SessionInfo.Handle,
// Revoke, Inspect), which cannot be turned back into a cookie. ok is false
// when the cookie does not verify.
func (m *Manager) HandleOf(cookieValue string) (handle string, ok bool) {
	id, _, ok := m.format.Decode(cookieValue)
	if !ok {
		return "", false
	}
	return m.format.StoreKey(id), true
}

// corrupt reports corrupt data and returns what to do about it.
func (m *Manager) corrupt(c Corruption) CorruptAction {
	m.observe(Event{Kind: EventCorrupt, Err: c.Err})
	m.opts.Logger.Warn("seshat: stored session data cannot be decoded", "handle", c.Handle, "name", c.Name, "err", c.Err)
	a := DefaultAction
	if m.opts.OnCorrupt != nil {
		a = m.opts.OnCorrupt(c)
	}
	switch {
	case c.Name == "" && a != FailRequest:
		return FreshSession // a record has no value to skip or drop
	case a == DefaultAction:
		return SkipValue
	}
	return a
}
