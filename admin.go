package seshat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/seshat-go/seshat/store"
)

// RekeyStats reports what Rekey did.
type RekeyStats struct {
	Sessions int // sessions visited
	Changed  int // sessions with at least one value re-encrypted
	Values   int // values re-encrypted
	Failed   int // values that did not decrypt with any key (left as they are)
}

// Rekey re-encrypts, under the first key of Options.Encryption, every
// stored value sealed under another key, so that the older keys can be
// retired. Put the new key first, deploy, run Rekey, then drop the old key.
// Each session is changed by compare-and-set, so requests running at the
// same time lose nothing, and sessions keep their expiry (re-encryption is
// not activity). It needs a store that implements store.Iterator.
func (m *Manager) Rekey(ctx context.Context) (st RekeyStats, err error) {
	ctx, done := m.admin(ctx, "rekey")
	defer done(&err)
	sl := m.opts.Encryption
	if sl == nil {
		return st, fmt.Errorf("%w: Rekey needs Options.Encryption", ErrInvalidOptions)
	}
	it, ok := m.store.(store.Iterator)
	if !ok {
		return st, fmt.Errorf("%w: Rekey needs a store.Iterator", ErrNotSupported)
	}
	current := func(b []byte) bool { return false }
	if c, ok := sl.(interface{ Current([]byte) bool }); ok {
		current = c.Current
	}
	err = it.Scan(ctx, m.now(), 100, func(infos []store.SessionInfo) error {
		for _, info := range infos {
			st.Sessions++
			values, failed, err := m.rekeyOne(ctx, info.Key, current)
			if err != nil {
				return err
			}
			st.Values += values
			st.Failed += failed
			if values > 0 {
				st.Changed++
			}
		}
		return nil
	})
	return st, err
}

// rekeyOne re-encrypts one session's stale values, retrying on conflict.
func (m *Manager) rekeyOne(ctx context.Context, key string, current func([]byte) bool) (changed, failed int, err error) {
	sl := m.opts.Encryption
	for retries := range maxUpdateAttempts {
		var rec *store.Record
		err := m.op(ctx, "load", false, func(ctx context.Context) (err error) {
			rec, err = m.store.Load(ctx, key, store.LoadOptions{Now: m.now(), TouchAfter: 1<<63 - 1})
			return err
		})
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCorrupt) {
			return 0, 0, nil // gone meanwhile, or not ours to fix
		}
		if err != nil {
			return 0, 0, err
		}
		// The commit happens "at" the last activity, so it changes
		// neither the idle expiry nor anything else but the values.
		d := &store.Delta{Now: rec.Touched, Set: map[string][]byte{}}
		failed = 0
		for name, v := range rec.Values {
			if current(v) {
				continue
			}
			p, err := m.sealer(name).Open(key, name, v)
			if err != nil {
				failed++
				continue
			}
			d.Set[name] = sl.Seal(key, name, p)
			d.Expect = append(d.Expect, store.Expect{Name: name, Value: v})
		}
		if len(d.Set) == 0 {
			return 0, failed, nil
		}
		if !m.now().Before(rec.Touched.Add(rec.IdleTimeout)) {
			return 0, failed, nil // expired by our clock; let it go
		}
		err = m.retry(ctx, "commit", true, retries, func(ctx context.Context) error {
			_, err := m.store.Commit(ctx, key, d)
			return err
		})
		switch {
		case err == nil:
			return len(d.Set), failed, nil
		case errors.Is(err, store.ErrConflict):
			continue // a request changed a value meanwhile: start over
		case errors.Is(err, store.ErrNotFound):
			return 0, failed, nil
		default:
			return 0, failed, err
		}
	}
	return 0, 0, fmt.Errorf("%w: rekey of one session", ErrContended)
}

// SessionInfo describes a stored session for administration.
type SessionInfo struct {
	// Handle identifies the session in the store and in these functions.
	// It is a keyed hash of the session ID: it cannot be used as a cookie.
	Handle string `json:"handle"`
	// User is the user the session is bound to ("" for none). With
	// encryption on it is decrypted when possible, else the keyed hash the
	// store holds.
	User string `json:"user,omitempty"`
	// Created is when the session was created or last regenerated.
	Created time.Time `json:"created"`
	// LastSeen is the last activity, to within Options.TouchInterval.
	LastSeen time.Time `json:"last_seen"`
	// ExpiresAt is the earlier of the idle expiry and the deadline.
	ExpiresAt time.Time `json:"expires"`
	// Device is where a session bound to a user is used from (see
	// Options.Devices), or nil.
	Device *Device `json:"device,omitempty"`
	// Current marks the session that asked (Session.UserSessions).
	Current bool `json:"current,omitempty"`
}

// detailsAtOnce bounds the sessions whose details one listing loads at
// once (on Redis, concurrent loads share round trips), and maxDetailed
// the sessions of one user whose device a listing reads: the newest (a
// user logged in without end must not make their devices page cost a load
// per login; cap them with Options.MaxSessionsPerUser).
const (
	detailsAtOnce = 16
	maxDetailed   = 100
)

// infos turns the store's descriptions into SessionInfos, reading each
// user-bound session's sealed user ID and device, several at once. user
// is the user all of them are known to be bound to, or "".
func (m *Manager) infos(ctx context.Context, in []store.SessionInfo, user string) []SessionInfo {
	out := make([]SessionInfo, len(in))
	sem := make(chan struct{}, detailsAtOnce)
	var wg sync.WaitGroup
	for i, info := range in {
		out[i] = SessionInfo{Handle: info.Key, User: info.User, Created: info.Created, LastSeen: info.Touched, ExpiresAt: info.ExpiresAt}
		if info.User == "" || (user != "" && len(in)-i > maxDetailed) {
			out[i].User = cmp.Or(user, out[i].User)
			continue
		}
		if user != "" || m.opts.UserIDsInClear {
			out[i].User = cmp.Or(user, info.User)
			if m.opts.Devices.Off {
				continue
			}
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			u, d := m.details(ctx, info.Key)
			if u != "" {
				out[i].User = u
			}
			out[i].Device = d
		}()
	}
	wg.Wait()
	return out
}

// details reads a session's sealed user ID and device; what cannot be read
// is left out ("" and nil).
func (m *Manager) details(ctx context.Context, handle string) (user string, dev *Device) {
	var rec *store.Record
	err := m.op(ctx, "load", false, func(ctx context.Context) (err error) {
		rec, err = m.store.Load(ctx, handle, store.LoadOptions{Now: m.now(), TouchAfter: 1<<63 - 1})
		return err
	})
	if err != nil {
		return "", nil
	}
	return m.sealedDetails(handle, rec)
}

// sealedDetails reads the user ID and the device a record keeps sealed.
func (m *Manager) sealedDetails(handle string, rec *store.Record) (user string, dev *Device) {
	if b, ok := rec.Values[userValue]; ok {
		if p, err := m.inner.Open(handle, userValue, b); err == nil {
			user, _ = decode[string](p)
		}
		if !m.opts.UserIDsInClear && m.UserKey(user) != rec.User {
			user = "" // not the user the store has the session bound to
		}
	}
	if b, ok := rec.Values[deviceValue]; ok {
		if p, err := m.inner.Open(handle, deviceValue, b); err == nil {
			if d, err := decodeDevice(p); err == nil {
				dev = &d
			}
		}
	}
	return user, dev
}

func (m *Manager) byHandle(ctx context.Context, handle string) *Session {
	return &Session{m: m, ctx: ctx, key: handle, admin: true, done: false}
}

// UserSessions lists the live sessions bound to user, oldest first. It
// needs a store that implements store.UserIndex.
func (m *Manager) UserSessions(ctx context.Context, user string) (_ []SessionInfo, err error) {
	ctx, done := m.admin(ctx, "user_sessions")
	defer done(&err)
	return m.userSessions(ctx, user, true)
}

// userSessions lists user's sessions; detailed reads their devices too.
func (m *Manager) userSessions(ctx context.Context, user string, detailed bool) ([]SessionInfo, error) {
	idx, ok := m.store.(store.UserIndex)
	if !ok {
		return nil, fmt.Errorf("%w: listing a user's sessions needs a store.UserIndex", ErrNotSupported)
	}
	var infos []store.SessionInfo
	err := m.op(ctx, "user_sessions", false, func(ctx context.Context) (err error) {
		infos, err = idx.UserSessions(ctx, m.UserKey(user), m.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	if !detailed {
		out := make([]SessionInfo, len(infos))
		for i, in := range infos {
			out[i] = SessionInfo{Handle: in.Key, User: user, Created: in.Created, LastSeen: in.Touched, ExpiresAt: in.ExpiresAt}
		}
		return out, nil
	}
	return m.infos(ctx, infos, user), nil
}

// UserSessions lists the live sessions of the session's user, oldest
// first, with Current set on this one: the data of a "your devices" page,
// whose entries RevokeOthers or Manager.Revoke (by Handle) can end. A
// session bound to no user gets none.
func (s *Session) UserSessions() (_ []SessionInfo, err error) {
	user, err := s.User()
	if err != nil || user == "" {
		return nil, err
	}
	ctx, done := s.m.admin(s.ctx, "user_sessions")
	defer done(&err)
	list, err := s.m.userSessions(ctx, user, true)
	handle := s.Handle()
	for i := range list {
		list[i].Current = list[i].Handle == handle
	}
	return list, err
}

// Sessions calls fn with every live session, in batches of about 100 (a
// SCAN per master on Redis, never KEYS). It needs a store.Iterator.
func (m *Manager) Sessions(ctx context.Context, fn func([]SessionInfo) error) (err error) {
	ctx, done := m.admin(ctx, "sessions")
	defer done(&err)
	it, ok := m.store.(store.Iterator)
	if !ok {
		return fmt.Errorf("%w: listing sessions needs a store.Iterator", ErrNotSupported)
	}
	return it.Scan(ctx, m.now(), 100, func(infos []store.SessionInfo) error {
		return fn(m.infos(ctx, infos, ""))
	})
}

// Revoke destroys the session with the handle. As with Destroy, no request
// still in flight on it can bring it back once Revoke returns. Revoking a
// session that is gone is not an error.
func (m *Manager) Revoke(ctx context.Context, handle string) (err error) {
	ctx, done := m.admin(ctx, "revoke")
	defer done(&err)
	return m.revoke(ctx, handle, "")
}

func (m *Manager) revoke(ctx context.Context, handle, user string) error {
	return m.destroy(ctx, handle, user, store.Revoked)
}

// destroy removes the session under key from the store and reports it, to
// the Observer and to the event log, whichever path destroys it: a logout,
// a revocation, a user's cap, corrupt data.
func (m *Manager) destroy(ctx context.Context, key, user string, why store.Reason) error {
	err := m.op(ctx, "destroy", true, func(ctx context.Context) error { return m.store.Destroy(ctx, key) })
	if err != nil {
		return err
	}
	m.observe(Event{Kind: EventDestroyed, Reason: why})
	m.publish(ctx, LifecycleEvent{Kind: store.Destroyed, Reason: why, Handle: key, User: user})
	return nil
}

// RevokeUser destroys every session bound to user ("log out
// everywhere") and returns how many it destroyed. When it returns, no
// session of the user that existed when it was called can be used again,
// including sessions with requests in flight: their commits fail. It
// lists the user's sessions twice, so a session bound by a login that was
// completing during the first pass is caught by the second.
func (m *Manager) RevokeUser(ctx context.Context, user string) (_ int, err error) {
	ctx, done := m.admin(ctx, "revoke_user")
	defer done(&err)
	return m.revokeUser(ctx, user, "")
}

func (m *Manager) revokeUser(ctx context.Context, user, keep string) (int, error) {
	n := 0
	for range 2 {
		infos, err := m.userSessions(ctx, user, false)
		if err != nil {
			return n, err
		}
		for _, in := range infos {
			if in.Handle == keep {
				continue
			}
			if err := m.revoke(ctx, in.Handle, m.UserKey(user)); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Edit changes the session with the handle from outside a request (a
// background job changing a role, say) with the guarantees requests have:
// fn's reads come from one load, its Set and Delete calls are committed as
// one delta when fn returns nil (so concurrent requests lose nothing), Incr
// and Update are atomic, and if the session is destroyed meanwhile the
// commit fails with ErrEnded instead of bringing it back. fn must not keep
// the session after it returns. Edit fails with ErrNoSuchSession when no
// live session has the handle.
func (m *Manager) Edit(ctx context.Context, handle string, fn func(*Session) error) (err error) {
	ctx, done := m.admin(ctx, "edit")
	defer done(&err)
	s := m.byHandle(ctx, handle)
	s.mu.Lock()
	err = s.load()
	stored := s.state == stateStored
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if !stored {
		return fmt.Errorf("%w: %s", ErrNoSuchSession, handle)
	}
	if err := fn(s); err != nil {
		return err
	}
	return s.commit(nil)
}

// Snapshot is a session's metadata and values, for inspection.
type Snapshot struct {
	SessionInfo
	// Values holds each value decoded into its natural Go type; a value
	// that cannot be decoded (or decrypted) is described by a string
	// starting with "!".
	Values map[string]any `json:"values"`
}

// Inspect returns the session with the handle, decrypting its values
// when Options.Encryption holds the keys. It does not count as activity.
func (m *Manager) Inspect(ctx context.Context, handle string) (_ Snapshot, err error) {
	ctx, done := m.admin(ctx, "inspect")
	defer done(&err)
	var rec *store.Record
	err = m.op(ctx, "load", false, func(ctx context.Context) (err error) {
		rec, err = m.store.Load(ctx, handle, store.LoadOptions{Now: m.now(), TouchAfter: 1<<63 - 1})
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Snapshot{}, fmt.Errorf("%w: %s", ErrNoSuchSession, handle)
	}
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Values: map[string]any{}}
	s := m.byHandle(ctx, handle)
	for name, b := range rec.Values {
		if internal(name) {
			continue
		}
		p, err := s.plain(name, b)
		if err != nil {
			snap.Values[name] = "!cannot decrypt: " + err.Error()
			continue
		}
		v, err := decodeAny(p)
		if err != nil {
			snap.Values[name] = "!cannot decode: " + err.Error()
			continue
		}
		snap.Values[name] = v
	}
	user, dev := m.sealedDetails(handle, rec)
	snap.SessionInfo = SessionInfo{Handle: handle, User: cmp.Or(user, rec.User), Created: rec.Created,
		LastSeen: rec.Touched, ExpiresAt: rec.ExpiresAt(), Device: dev}
	return snap, nil
}
