package seshat

import (
	"context"
	"errors"
	"fmt"
	"maps"

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
			// Ended meanwhile (a logout, a revocation): keep only this
			// request's changes, not the user it read before (G3).
			user = ""
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
	if user == "" {
		// Bound to no one (it was ended meanwhile, or never was): the
		// new session keeps no user ID and no device.
		delete(values, userValue)
		delete(values, deviceValue)
	}
	s.fresh()
	s.ensureID()
	for k, v := range values {
		if sl := m.sealer(k); sl != nil {
			// Sealed values are bound to their session: seal them anew.
			p, err := sl.Open(oldKey, k, v)
			if err != nil {
				m.observe(Event{Kind: EventCorrupt, Err: err})
				m.opts.Logger.Warn("seshat: dropping a value that does not decrypt while regenerating", "name", k, "err", err)
				continue
			}
			v = sl.Seal(s.key, k, p)
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

// Destroy ends the session in the store at once (Clear empties it and
// keeps it). When it returns, no
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

// Clear deletes every value of the session, flash messages included, but
// keeps the session: its ID and cookie, its user and its expiry. Where
// Destroy is a logout, Clear is a reset that leaves the user logged in
// (an emptied cart, a wizard started again). The deletions are committed
// with the request's other changes, as one delta: they remove the values
// this request sees, and a value another request adds meanwhile stays.
// Values set after Clear are kept.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	for name := range s.rec.Values {
		if !internal(name) { // the user, the device
			s.deleteLocal(name)
		}
	}
	for name := range s.set {
		if !internal(name) {
			delete(s.set, name)
		}
	}
	return nil
}

// RevokeOthers destroys every other session of this session's user ("log
// out other devices") and returns how many.
func (s *Session) RevokeOthers() (_ int, err error) {
	user, err := s.User()
	if err != nil || user == "" {
		return 0, err
	}
	ctx, done := s.m.admin(s.ctx, "revoke_others")
	defer done(&err)
	return s.m.revokeUser(ctx, user, s.Handle())
}
