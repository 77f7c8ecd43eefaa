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
	"strings"
	"sync"
	"time"

	"github.com/seshat-go/seshat/store"
)

// maxKeyLen bounds value names.
const maxKeyLen = 256

// maxUpdateAttempts bounds the compare-and-set retries of one Update.
const maxUpdateAttempts = 1000

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
	resign    bool   // the cookie was signed with an older secret
	id, key   string // current ID and its store key ("" until needed)
	rec       *store.Record
	size      int // Record.Size of the request's view

	set     map[string][]byte
	del     map[string]struct{}
	user    *string
	done    bool // committed: the response has started
	cleared bool // the session was destroyed in this request
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
	if s.cookieID == "" {
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
		s.rec, s.state, s.size = rec, stateStored, rec.Size()
		return nil
	case err == nil:
		err = store.ErrNotFound // expired by the manager's clock
	case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrCorrupt):
		// The store failed: decide nothing about this session, and do
		// not make the request wait for the store again.
		s.state, s.loadErr = stateFailed, err
		return err
	}
	s.unknown(err)
	return nil
}

// unknown handles a cookie whose session the store does not have (err is
// ErrNotFound) or cannot read (ErrCorrupt): an ID the store does not know is
// never adopted, so the request goes on with a new session under a fresh ID.
func (s *Session) unknown(err error) {
	if errors.Is(err, store.ErrCorrupt) {
		s.m.observe(Event{Kind: EventCorrupt, Err: err})
		s.m.opts.Logger.Warn("seshat: stored session cannot be read; starting a new one", "err", err)
	} else {
		s.m.observe(Event{Kind: EventExpired})
	}
	s.hadCookie = true
	s.fresh()
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
	s.size = 0
	s.set, s.del, s.user = nil, nil, nil
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
// when there is none, and with ErrDecode when the stored value is not a T.
// Integers decode into any integer type that holds them.
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
	v, err := decode[T](b)
	if err != nil {
		s.m.observe(Event{Kind: EventCorrupt, Err: err})
		return zero, fmt.Errorf("%w: %q as %v: %w", ErrDecode, key, reflect.TypeFor[T](), err)
	}
	return v, nil
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
	slices.Sort(keys)
	return keys, nil
}

func checkKey(key string) error {
	if key == "" || len(key) > maxKeyLen || key[0] == '@' {
		return fmt.Errorf("%w: %q (names are 1 to %d bytes and do not start with '@')", ErrInvalidKey, key, maxKeyLen)
	}
	return nil
}

// Set stores value under key. The value is encoded at once: a value that
// cannot be encoded fails here, naming the key and type, and changes
// nothing. So does a value that would take the session beyond
// Options.MaxSessionBytes (ErrTooLarge). The change is committed with the
// rest of the request's changes before the response starts.
func (s *Session) Set(key string, value any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	b, err := encode(value)
	if err != nil {
		return fmt.Errorf("%w: %q of type %T: %w", ErrEncode, key, value, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	return s.setLocal(key, b)
}

// setLocal records a change after checking the size limit. s.mu is held.
func (s *Session) setLocal(key string, b []byte) error {
	size := s.size + len(key) + len(b)
	if old, ok := s.lookup(key); ok {
		size -= len(key) + len(old)
	}
	if limit := s.m.opts.MaxSessionBytes; limit > 0 && size > limit && size > s.size {
		return fmt.Errorf("%w: setting %q would make it %d bytes, limit %d", ErrTooLarge, key, size, limit)
	}
	if s.set == nil {
		s.set = make(map[string][]byte)
	}
	s.set[key] = b
	delete(s.del, key)
	s.size = size
	return nil
}

// Delete removes the value under key, if any.
func (s *Session) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	old, ok := s.lookup(key)
	if !ok {
		return nil
	}
	delete(s.set, key)
	if _, stored := s.rec.Values[key]; stored {
		if s.del == nil {
			s.del = make(map[string]struct{})
		}
		s.del[key] = struct{}{}
	}
	s.size -= len(key) + len(old)
	return nil
}

// User returns the user ID the session is bound to, or "".
func (s *Session) User() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return "", err
	}
	if s.user != nil {
		return *s.user, nil
	}
	return s.rec.User, nil
}

// SetUser binds the session to a user ID ("" unbinds), so that the user's
// sessions can be listed, capped and revoked together. Call Regenerate
// first when this is a login.
func (s *Session) SetUser(user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	s.user = &user
	return nil
}

// pending returns the request's uncommitted changes as a delta.
func (s *Session) pending(now time.Time) *store.Delta {
	d := &store.Delta{Now: now, Set: s.set, User: s.user, MaxSize: s.m.opts.MaxSessionBytes}
	for k := range s.del {
		d.Delete = append(d.Delete, k)
	}
	return d
}

// applied folds a committed delta into the loaded record.
func (s *Session) applied(d *store.Delta) {
	for _, k := range d.Delete {
		delete(s.rec.Values, k)
	}
	for k, v := range d.Set {
		s.rec.Values[k] = v
	}
	if d.User != nil {
		s.rec.User = *d.User
	}
	s.rec.Touched = d.Now
	s.set, s.del, s.user = nil, nil, nil
}

// commitDelta sends d to the store. s.mu is held.
func (s *Session) commitDelta(op string, d *store.Delta) (store.Result, error) {
	var res store.Result
	err := s.m.op(s.ctx, op, true, func(ctx context.Context) (err error) {
		res, err = s.m.store.Commit(ctx, s.key, d)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("%w: %w", ErrEnded, err)
	}
	return res, err
}

// Incr adds by to the integer under key (a missing value counts as 0) and
// returns the value stored. It runs atomically in the store, together with
// the request's pending changes: N concurrent Incr calls add exactly N.
func (s *Session) Incr(key string, by int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateUnloaded {
		// The store increments in place, so a session that was not read
		// yet need not be loaded first: one round trip.
		d := &store.Delta{Now: s.m.now(), Incr: &store.Incr{Name: key, By: by}, MaxSize: s.m.opts.MaxSessionBytes}
		res, err := s.commitDelta("incr", d)
		switch {
		case err == nil:
			return res.Value, nil
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrCorrupt):
			s.unknown(err) // the cookie named no usable session
		default:
			return 0, err
		}
	}
	if err := s.load(); err != nil {
		return 0, err
	}
	if s.state == stateNew {
		// Nobody else can see a session that is not stored yet.
		var cur int64
		if b, ok := s.lookup(key); ok {
			if !isInteger(b) {
				return 0, fmt.Errorf("%w: %q is a %s", ErrNotInteger, key, tagName(b[0]))
			}
			n, err := strconv.ParseInt(string(b), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%w: %q: %w", ErrNotInteger, key, err)
			}
			cur = n
		}
		sum := cur + by
		if (by > 0 && sum < cur) || (by < 0 && sum > cur) {
			return 0, fmt.Errorf("%w: %q overflows", ErrNotInteger, key)
		}
		if s.done {
			return 0, errTooLate
		}
		return sum, s.setLocal(key, strconv.AppendInt(nil, sum, 10))
	}
	d := s.pending(s.m.now())
	d.Incr = &store.Incr{Name: key, By: by}
	res, err := s.commitDelta("incr", d)
	if err != nil {
		return 0, err
	}
	s.applied(d)
	v := strconv.AppendInt(nil, res.Value, 10)
	if old, ok := s.rec.Values[key]; ok {
		s.size -= len(key) + len(old)
	}
	s.rec.Values[key] = v
	s.size += len(key) + len(v)
	return res.Value, nil
}

// Update replaces the value under key with fn's result, atomically: fn gets
// the value stored (the zero T when there is none), and if another request
// changed it in the meantime, fn runs again on the newer value. It returns
// the value stored. fn must not call methods of the session.
func Update[T any](s *Session, key string, fn func(T) (T, error)) (T, error) {
	var zero T
	if err := checkKey(key); err != nil {
		return zero, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return zero, err
	}
	cur, present := s.lookup(key)
	if s.state == stateStored {
		// Compare against what is stored, not against a pending change.
		cur, present = s.rec.Values[key]
	}
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		old := zero
		if present {
			v, err := decode[T](cur)
			if err != nil {
				return zero, fmt.Errorf("%w: %q as %v: %w", ErrDecode, key, reflect.TypeFor[T](), err)
			}
			old = v
		}
		nv, err := fn(old)
		if err != nil {
			return zero, err
		}
		b, err := encode(nv)
		if err != nil {
			return zero, fmt.Errorf("%w: %q of type %T: %w", ErrEncode, key, nv, err)
		}
		if s.state == stateNew {
			if s.done {
				return zero, errTooLate
			}
			return nv, s.setLocal(key, b)
		}
		d := s.pending(s.m.now())
		d.Set = maps.Clone(d.Set)
		if d.Set == nil {
			d.Set = make(map[string][]byte, 1)
		}
		d.Set[key] = b
		d.Delete = slices.DeleteFunc(d.Delete, func(k string) bool { return k == key })
		d.Expect = []store.Expect{{Name: key, Value: cur, Absent: !present}}
		res, err := s.commitDelta("update", d)
		if errors.Is(err, store.ErrConflict) {
			s.m.observe(Event{Kind: EventConflict})
			cur, present = res.Current[key]
			continue
		}
		if err != nil {
			return zero, err
		}
		s.applied(d)
		s.size = s.rec.Size()
		return nv, nil
	}
	return zero, fmt.Errorf("%w: %q changed %d times during one Update", ErrContended, key, maxUpdateAttempts)
}

// Regenerate moves the session to a fresh ID and ends the old one: call it
// at login and at every privilege change, so that an ID planted or seen
// before cannot reach the new privileges. The old ID loads nothing
// afterwards; commits still in flight on it either landed before the move
// (and moved with it) or fail. The session's lifetime starts again.
func (s *Session) Regenerate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	m := s.m
	now := m.now()
	if s.state == stateStored {
		var taken *store.Record
		err := m.op(s.ctx, "take", true, func(ctx context.Context) (err error) {
			taken, err = m.store.Take(ctx, s.key, now)
			return err
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		values, user := s.rec.Values, s.rec.User
		if err == nil {
			values, user = taken.Values, taken.User
		} else {
			values = nil // ended meanwhile: keep only this request's changes
		}
		set, del, pendingUser := s.set, s.del, s.user
		s.fresh()
		for k, v := range values {
			if _, gone := del[k]; !gone {
				s.setLocal(k, v) // sizes were within limits when stored
			}
		}
		for k, v := range set {
			s.setLocal(k, v)
		}
		if pendingUser != nil {
			user = *pendingUser
		}
		if user != "" {
			s.user = &user
		}
	} else {
		s.rec.Created, s.rec.Touched, s.rec.Deadline = now, now, now.Add(m.opts.Lifetime)
		s.id, s.key = "", ""
	}
	s.hadCookie = s.hadCookie || s.cookieID != ""
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
		err := s.m.op(s.ctx, "destroy", true, func(ctx context.Context) error {
			return s.m.store.Destroy(ctx, s.key)
		})
		if err != nil {
			return err
		}
		s.m.observe(Event{Kind: EventDestroyed})
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
	if s.state == stateUnloaded {
		if !s.resign {
			return nil // never touched: nothing to store, nothing to say
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
		return s.create(h, now)
	}
	d := s.pending(now)
	if !d.Empty() {
		if _, err := s.commitDelta("commit", d); err != nil {
			return err
		}
		s.applied(d)
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
	var err error
	for range 3 { // a collision of 256-bit IDs means a broken random source; retry anyway
		s.id = newID()
		s.key = m.keyer.key(s.id)
		err = m.op(s.ctx, "create", true, func(ctx context.Context) error {
			return m.store.Create(ctx, s.key, &rec)
		})
		if !errors.Is(err, store.ErrExists) {
			break
		}
	}
	if err != nil {
		return err
	}
	m.observe(Event{Kind: EventCreated})
	s.rec, s.state = &rec, stateStored
	s.set, s.user = nil, nil
	s.setCookie(h, m.cookie(s.id, s.secure, rec.Deadline, now))
	m.enforceUserCap(s.ctx, rec.User, s.key)
	return nil
}

func (s *Session) setCookie(h http.Header, c *http.Cookie) {
	if v := c.String(); v != "" {
		h.Add("Set-Cookie", v)
	}
	h.Add("Cache-Control", `no-cache="Set-Cookie"`)
	addVary(h)
}

func addVary(h http.Header) {
	for _, v := range h.Values("Vary") {
		if strings.Contains(v, "Cookie") {
			return
		}
	}
	h.Add("Vary", "Cookie")
}
