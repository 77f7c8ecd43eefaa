package seshat

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/seshat-go/seshat/store"
)

// Regenerate moves the session to a fresh ID and ends the old one: call it
// at login and at every privilege change, so that an ID planted or seen
// before cannot reach the new privileges. The old ID loads nothing
// afterwards; commits still in flight on it either landed before the move
// (and moved with it) or fail. The session's lifetime starts again.
func (s *Session) Regenerate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin {
		return fmt.Errorf("%w: Regenerate needs a request (a cookie to move)", ErrNotSupported)
	}
	if err := s.writable(); err != nil {
		return err
	}
	m := s.m
	now := m.now()
	oldKey := s.key
	values := map[string][]byte{}
	user := s.rec.User
	if s.state == stateStored {
		var taken *store.Record
		err := m.op(s.ctx, "take", true, func(ctx context.Context) (err error) {
			taken, err = m.store.Take(ctx, s.key, now)
			return err
		})
		switch {
		case err == nil:
			values, user = taken.Values, taken.User
		case errors.Is(err, store.ErrNotFound):
			// Ended meanwhile: keep only this request's changes.
		default:
			return err
		}
	}
	for k := range s.del {
		delete(values, k)
	}
	maps.Copy(values, s.set)
	if s.user != nil {
		user = *s.user
	}
	s.fresh()
	s.ensureID()
	for k, v := range values {
		if m.opts.Encryption != nil {
			// Sealed values are bound to their session: seal them anew.
			p, err := m.opts.Encryption.Open(oldKey, k, v)
			if err != nil {
				m.observe(Event{Kind: EventCorrupt, Err: err})
				m.opts.Logger.Warn("seshat: dropping a value that does not decrypt while regenerating", "name", k, "err", err)
				continue
			}
			v = m.opts.Encryption.Seal(s.key, k, p)
		}
		s.setLocal(k, v) // sizes were within limits when stored
	}
	if user != "" {
		s.user = &user
	}
	s.hadCookie = s.hadCookie || s.cookieID != ""
	if oldKey != "" && s.previous == "" {
		s.previous = oldKey
	}
	m.observe(Event{Kind: EventRegenerated})
	return nil
}

// Destroy ends the session in the store at once. When it returns, no
// request still in flight on the session can bring any of it back. The
// request goes on with a new, empty session (created only if something is
// stored in it); the cookie is cleared otherwise.
func (s *Session) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateFailed {
		return s.loadErr
	}
	if s.key != "" && s.state != stateNew {
		user := ""
		if s.rec != nil {
			user = s.rec.User
		}
		if err := s.m.destroy(s.ctx, s.key, user, store.Logout); err != nil {
			return err
		}
	}
	s.hadCookie = s.hadCookie || s.cookieID != ""
	s.cleared = true
	s.fresh()
	return nil
}

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
			addVary(h)
		}
	}
	if s.state == stateUnloaded {
		if !s.resign {
			return nil // not read: nothing more to store, nothing to say
		}
		// Re-signing needs the deadline for Max-Age.
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
		res, err := s.commitDelta("commit", d)
		if err != nil {
			return err
		}
		s.applied(d, res)
		if d.User != nil {
			m.enforceUserCap(s.ctx, *d.User, s.key)
		}
	}
	if s.resign {
		s.setCookie(h, m.cookie(s.id, s.secure, s.rec.Deadline, now))
	}
	addVary(h)
	return nil
}

// commitBlind commits the changes recorded without reading the session
// (see blind) in one store call. When the cookie's session turns out to be
// gone (or unreadable), the changes go to a new session instead, as they
// would have had the session been read first. s.mu is held.
func (s *Session) commitBlind(now time.Time) error {
	d := s.pending(now)
	_, err := s.commitDelta("commit", d)
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
	rec.Values = nil
	// The store's rules, the size limit among them, on the empty record.
	d := &store.Delta{Now: now, Set: s.set, User: s.user, MaxSize: m.opts.MaxSessionBytes}
	if _, err := store.Apply(&rec, d); err != nil {
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
	s.setCookie(h, m.cookie(s.id, s.secure, rec.Deadline, now))
	m.enforceUserCap(s.ctx, rec.User, s.key)
	return nil
}

func (s *Session) setCookie(h http.Header, c *http.Cookie) {
	if h == nil {
		return
	}
	if v := c.String(); v != "" {
		h.Add("Set-Cookie", v)
	}
	h.Add("Cache-Control", `no-cache="Set-Cookie"`)
	addVary(h)
}

func addVary(h http.Header) {
	if h == nil {
		return
	}
	for _, v := range h.Values("Vary") {
		if strings.Contains(v, "Cookie") {
			return
		}
	}
	h.Add("Vary", "Cookie")
}
