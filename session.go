package seshat

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/seshat-go/seshat/store"
)

// maxKeyLen bounds value names.
const maxKeyLen = 256

type sessionState uint8

const (
	stateUnloaded sessionState = iota // cookie read, store not asked yet
	stateStored                       // the record exists in the store
	stateNew                          // nothing stored yet; created at commit if it holds data
	stateFailed                       // loadErr says why
)

// Session is one request's view of a session. Reads come from one load of
// the store; changes are kept as a delta and committed (before the response
// headers go out) as one atomic store operation that touches only what
// changed, so parallel requests on the same session never overwrite each
// other. Incr, Update, Regenerate and Destroy act on the store at once.
//
// A Session is safe for concurrent use by the goroutines of its request.
type Session struct {
	m      *Manager
	ctx    context.Context
	secure bool

	mu        sync.Mutex
	state     sessionState
	loadErr   error
	cookieID  string // ID from a verified request cookie
	hadCookie bool   // the request carried a cookie we did not use
	carried   uint8  // how the request carried its token (carriedCookie, carriedHeader)
	resign    bool   // send the cookie again (older secret, new expiry)
	wrote     bool   // the request changed the stored session (for a CookieIssuer)
	id, key   string // current ID and its store key ("" until needed)
	rec       *store.Record

	set      map[string][]byte
	del      map[string]struct{}
	user     *string
	expiry   *expiry     // pending SetExpiry of a stored session
	done     bool        // committed: the response has started
	cleared  bool        // the session was destroyed in this request
	admin    bool        // opened by handle (Manager.Edit): no cookie, no creation
	hdr      http.Header // the request's headers (for the device record)
	device   []byte      // a changed device, sealed, to store at commit (best effort)
	remote   string      // the request's RemoteAddr (for the device record)
	previous string      // the handle before a Regenerate in this request
}

var errTooLate = errors.New("seshat: the response has started; make session changes before writing it")

// load reads the session from the store once. s.mu must be held.
func (s *Session) load() error {
	switch s.state {
	case stateStored, stateNew:
		return nil
	case stateFailed:
		return s.loadErr
	}
	if s.key == "" {
		s.fresh()
		return nil
	}
	m := s.m
	now := m.now()
	var rec *store.Record
	err := m.op(s.ctx, "load", false, func(ctx context.Context) (err error) {
		rec, err = m.store.Load(ctx, s.key, store.LoadOptions{Now: now, TouchAfter: m.opts.TouchInterval})
		return err
	})
	switch {
	case err == nil && now.Before(rec.ExpiresAt()):
		if rec.Values == nil {
			rec.Values = make(map[string][]byte)
		}
		s.rec, s.state = rec, stateStored
		if rec.User != "" && !s.admin && !m.opts.Devices.Off && !rec.Touched.Before(now.Truncate(time.Millisecond)) {
			// This load refreshed the idle expiry (or another did a
			// moment ago): the device is looked at as often, and stored
			// at commit when it changed.
			s.device = s.changedDevice()
		}
		return nil
	case err == nil:
		err = store.ErrNotFound // expired by the manager's clock
	case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrCorrupt):
		// The store failed, or the session moved (a straggler of a login):
		// decide nothing about this session, leave the cookie alone, and
		// do not make the request wait for the store again.
		s.state, s.loadErr = stateFailed, err
		return err
	}
	s.unknown(err)
	return s.loadErr
}

// unknown handles a cookie whose session the store does not have (err is
// ErrNotFound) or cannot read (ErrCorrupt): an ID the store does not know is
// never adopted, so the request goes on with a new session under a fresh ID.
func (s *Session) unknown(err error) {
	if errors.Is(err, store.ErrCorrupt) {
		if s.m.corrupt(Corruption{Handle: s.key, Err: err}) == FailRequest {
			s.state, s.loadErr = stateFailed, fmt.Errorf("%w: %w", ErrDecode, err)
			return
		}
	} else {
		s.m.observe(Event{Kind: EventExpired})
	}
	s.hadCookie = true
	set := s.set
	s.fresh()
	s.set = set // changes made without a read (see blind) go to the new session
}

// writable loads the session and checks that changes can still be
// committed. s.mu must be held.
func (s *Session) writable() error {
	if err := s.load(); err != nil {
		return err
	}
	if s.done {
		return errTooLate
	}
	return nil
}

// ensureID gives a new session its ID and store key ahead of creation, so
// that values can be sealed for it. s.mu must be held.
func (s *Session) ensureID() {
	if s.key == "" { // a session opened by handle (Edit) has its key and no ID
		s.id = s.m.format.NewID()
		s.key = s.m.format.StoreKey(s.id)
	}
}

// stored returns what the store keeps for an encoded value: the value
// itself, or, with encryption on, the value sealed for this session and
// name. s.mu must be held.
func (s *Session) stored(name string, b []byte) []byte {
	if sl := s.m.sealer(name); sl != nil {
		s.ensureID()
		return sl.Seal(s.key, name, b)
	}
	return b
}

// plain is the inverse of stored: a value that does not decrypt (tampered,
// or moved from another session or name) is reported as ErrDecode.
func (s *Session) plain(name string, b []byte) ([]byte, error) {
	sl := s.m.sealer(name)
	if sl == nil {
		return b, nil
	}
	p, err := sl.Open(s.key, name, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrDecode, name, err)
	}
	return p, nil
}

// fresh makes s a new, empty session without an ID yet.
func (s *Session) fresh() {
	now := s.m.now()
	s.state = stateNew
	s.id, s.key = "", ""
	s.rec = &store.Record{
		Values:      make(map[string][]byte),
		Created:     now,
		Touched:     now,
		IdleTimeout: s.m.opts.IdleTimeout,
		Deadline:    now.Add(s.m.opts.Lifetime),
	}
	s.set, s.del, s.user, s.expiry, s.device = nil, nil, nil, nil, nil
}

// lookup returns the request's view of the value under key.
func (s *Session) lookup(key string) ([]byte, bool) {
	if v, ok := s.set[key]; ok {
		return v, true
	}
	if _, ok := s.del[key]; ok {
		return nil, false
	}
	v, ok := s.rec.Values[key]
	return v, ok
}

// Get returns the value stored under key as a T. It fails with ErrNoValue
// when there is none, and with ErrDecode when the stored value is not a T
// (or, with encryption on, does not decrypt). Integers decode into any
// integer type that holds them.
func Get[T any](s *Session, key string) (T, error) {
	var zero T
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return zero, err
	}
	b, ok := s.lookup(key)
	if !ok {
		return zero, fmt.Errorf("%w under %q", ErrNoValue, key)
	}
	p, err := s.plain(key, b)
	if err == nil {
		var v T
		if v, err = decode[T](p); err == nil {
			return v, nil
		}
		err = fmt.Errorf("%w: %q as %v: %w", ErrDecode, key, reflect.TypeFor[T](), err)
	}
	return zero, s.corruptValue(key, err)
}

// corruptValue applies Options.OnCorrupt to a value that does not decode
// and returns the error for the caller. s.mu is held.
func (s *Session) corruptValue(key string, err error) error {
	switch s.m.corrupt(Corruption{Handle: s.key, Name: key, Err: err}) {
	case FailRequest:
		return err
	case FreshSession:
		if err := s.restart(); err != nil {
			return err
		}
	case DropValue:
		if !s.done {
			s.deleteLocal(key)
		}
	}
	return fmt.Errorf("%w under %q (skipped: %w)", ErrNoValue, key, err)
}

// restart destroys a session whose data is corrupt (OnCorrupt chose
// FreshSession) and goes on with a new, empty one. s.mu is held.
func (s *Session) restart() error {
	if s.state == stateStored {
		if err := s.m.destroy(s.ctx, s.key, s.rec.User, store.Corrupt); err != nil {
			return err
		}
	}
	s.hadCookie = s.hadCookie || s.cookieID != ""
	s.fresh()
	return nil
}

// Handle returns the session's handle (see SessionInfo), or "" while the
// session is not stored yet.
func (s *Session) Handle() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateNew || s.state == stateFailed {
		return ""
	}
	return s.key
}

// Keys returns the names of the session's values, sorted.
func (s *Session) Keys() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(s.rec.Values)+len(s.set))
	for k := range s.rec.Values {
		if _, gone := s.del[k]; !gone {
			if _, set := s.set[k]; !set {
				keys = append(keys, k)
			}
		}
	}
	keys = slices.AppendSeq(keys, maps.Keys(s.set))
	// Names that no request could have set (seshat's own, or empty ones
	// written by something else) are not values of the session.
	keys = slices.DeleteFunc(keys, func(k string) bool { return checkKey(k) != nil })
	slices.Sort(keys)
	return keys, nil
}

func checkKey(key string) error {
	if key == "" || len(key) > maxKeyLen || key[0] == '@' || key[0] < ' ' {
		return fmt.Errorf("%w: %q (names are 1 to %d bytes and start with neither '@' nor a control character)", ErrInvalidKey, key, maxKeyLen)
	}
	return nil
}

// Set stores value under key. The value is encoded at once: a value that
// cannot be encoded fails here, naming the key and type, and changes
// nothing. The change is committed with the rest of the request's changes
// before the response starts.
//
// A value that would take the session beyond Options.MaxSessionBytes is
// refused with ErrTooLarge, and nothing of the request's changes is stored:
// here, when the request has read the session already, else by the commit
// (the store checks the limit), whose error Options.ErrorHandler answers
// (413). A request that only writes (no read before the Set) so costs one
// store round trip, not two.
func (s *Session) Set(key string, value any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return s.put(key, key, value)
}

// put is Set of value under the stored name (key, the name the caller
// gave, is for errors).
func (s *Session) put(name, key string, value any) error {
	b, err := encode(value)
	if err != nil {
		return fmt.Errorf("%w: %q of type %T: %w", ErrEncode, key, value, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blind() {
		if s.done {
			return errTooLate
		}
		s.setPending(name, b)
		return nil
	}
	if err := s.writable(); err != nil {
		return err
	}
	return s.setLocal(name, s.stored(name, b))
}

// blind reports whether a change may be recorded without reading the
// session first: the cookie names a session not read yet, and values are
// stored as they are (with encryption on, a value is sealed for one
// session, and the commit may find the cookie's session gone and make a
// new one). s.mu is held.
func (s *Session) blind() bool {
	return s.state == stateUnloaded && s.key != "" && s.m.opts.Encryption == nil
}

// setLocal records a change after checking the size limit against the
// request's view of the session. s.mu is held and the session loaded.
func (s *Session) setLocal(key string, b []byte) error {
	if limit := s.m.opts.MaxSessionBytes; limit > 0 {
		before := s.viewSize()
		size := before + len(key) + len(b)
		if old, ok := s.lookup(key); ok {
			size -= len(key) + len(old)
		}
		if err := store.CheckSize(before, size, limit); err != nil {
			return fmt.Errorf("setting %q: %w", key, err)
		}
	}
	s.setPending(key, b)
	return nil
}

// setPending records a change. s.mu is held.
func (s *Session) setPending(key string, b []byte) {
	if s.set == nil {
		s.set = make(map[string][]byte)
	}
	s.set[key] = b
	delete(s.del, key)
}

// viewSize is store.Record.Size of the request's view of the session: the
// values read, with the pending changes. s.mu is held and the session
// loaded.
func (s *Session) viewSize() int {
	n := 0
	for name, v := range s.rec.Values {
		_, set := s.set[name]
		_, del := s.del[name]
		if !set && !del {
			n += len(name) + len(v)
		}
	}
	for name, v := range s.set {
		n += len(name) + len(v)
	}
	return n
}

// Delete removes the value under key, if any.
func (s *Session) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	s.deleteLocal(key)
	return nil
}

// deleteLocal records a removal. s.mu is held.
func (s *Session) deleteLocal(key string) {
	if _, ok := s.lookup(key); !ok {
		return
	}
	delete(s.set, key)
	if _, stored := s.rec.Values[key]; stored {
		if s.del == nil {
			s.del = make(map[string]struct{})
		}
		s.del[key] = struct{}{}
	}
}

// User returns the user ID the session is bound to, or "". A user ID
// that cannot be read (tampered with, or sealed under keys the manager
// lacks) is handled as Options.OnCorrupt says; by default User returns ""
// and an error wrapping ErrNoValue and ErrDecode, as Get does: treat it as
// no user.
func (s *Session) User() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return "", err
	}
	if b, ok := s.lookup(userValue); ok {
		p, err := s.plain(userValue, b)
		var user string
		if err == nil {
			user, err = decode[string](p)
		}
		if err != nil {
			// Tampered, or sealed under keys this manager lacks: as Get
			// does, by Options.OnCorrupt (an error wrapping ErrNoValue
			// and ErrDecode by default: no user).
			return "", s.corruptValue(userValue, fmt.Errorf("%w: the user: %w", ErrDecode, err))
		}
		return user, nil
	}
	if s.m.opts.UserIDsInClear {
		if s.user != nil {
			return *s.user, nil
		}
		return s.rec.User, nil
	}
	return "", nil
}

// SetUser binds the session to a user ID ("" unbinds), so that the user's
// sessions can be listed, capped and revoked together, and records the
// device it is used from (see Options.Devices). Call Regenerate first when
// this is a login. The store sees only a keyed hash of the user ID
// (Manager.UserKey); the ID itself is kept sealed in the session.
func (s *Session) SetUser(user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	token := s.m.UserKey(user)
	if s.m.opts.UserIDsInClear || user == "" {
		s.deleteLocal(userValue) // (one sealed before UserIDsInClear was set)
	} else {
		b, _ := encode(user)
		if err := s.setLocal(userValue, s.stored(userValue, b)); err != nil {
			return err
		}
	}
	if user == "" {
		s.deleteLocal(deviceValue)
	} else if err := s.recordDevice(); err != nil {
		return err
	}
	s.user = &token
	return nil
}

// expiry is a session's own idle timeout and deadline.
type expiry struct {
	idle     time.Duration
	deadline time.Time
}

// SetExpiry gives this session its own idle timeout and lifetime (counted
// from now), for example "remember me for 30 days" at login; zero keeps the
// current value. They must not exceed Options.MaxIdleTimeout and
// MaxLifetime. The store's expiry and the cookie's Max-Age follow. Call it
// after Regenerate, which starts a session's life with the defaults.
func (s *Session) SetExpiry(idle, lifetime time.Duration) error {
	if idle < 0 || lifetime < 0 || idle > s.m.opts.MaxIdleTimeout || lifetime > s.m.opts.MaxLifetime {
		return fmt.Errorf("%w: idle %v (at most %v), lifetime %v (at most %v)", ErrExpiry,
			idle, s.m.opts.MaxIdleTimeout, lifetime, s.m.opts.MaxLifetime)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	e := expiry{idle: idle}
	if lifetime > 0 {
		e.deadline = s.m.now().Add(lifetime)
	}
	if s.state == stateNew {
		if e.idle > 0 {
			s.rec.IdleTimeout = e.idle
		}
		if !e.deadline.IsZero() {
			s.rec.Deadline = e.deadline
		}
		return nil
	}
	s.expiry = &e
	s.resign = true // send the cookie again, with the new Max-Age
	return nil
}

// changed reports whether the request has uncommitted changes.
func (s *Session) changed() bool {
	return len(s.set) > 0 || len(s.del) > 0 || s.user != nil || s.expiry != nil
}

// pending returns the request's uncommitted changes as a delta.
func (s *Session) pending(now time.Time) *store.Delta {
	d := &store.Delta{Now: now, TouchAfter: s.m.opts.TouchInterval, Set: s.set, User: s.user, MaxSize: s.m.opts.MaxSessionBytes}
	if s.expiry != nil {
		d.IdleTimeout, d.Deadline = s.expiry.idle, s.expiry.deadline
	}
	for k := range s.del {
		d.Delete = append(d.Delete, k)
	}
	return d
}

// applied folds a delta the store committed into the request's view of the
// session, by the store's own rules (store.Apply), and clears the pending
// changes. The store checked the expectations and the size; the value an
// increment stored is the store's answer, res.Value.
func (s *Session) applied(d *store.Delta, res store.Result) {
	local := *d
	local.Expect, local.MaxSize, local.Incr = nil, 0, nil
	// Only ErrNotFound can come back, and only if the view had expired by
	// the manager's clock while the store took the commit: keep the view.
	_, _ = store.Apply(s.rec, &local)
	if d.Incr != nil { // applies last: the value the store answered
		s.rec.Values[d.Incr.Name] = strconv.AppendInt(nil, res.Value, 10)
	}
	s.set, s.del, s.user, s.expiry = nil, nil, nil, nil
}

// commitDelta sends d to the store, the attempt after retries conflicts of
// one call. s.mu is held.
func (s *Session) commitDelta(op string, retries int, d *store.Delta) (store.Result, error) {
	var res store.Result
	err := s.m.retry(s.ctx, op, true, retries, func(ctx context.Context) (err error) {
		res, err = s.m.store.Commit(ctx, s.key, d)
		return err
	})
	if err == nil {
		s.wrote = true
	}
	if errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("%w: %w", ErrEnded, err)
	}
	return res, err
}
