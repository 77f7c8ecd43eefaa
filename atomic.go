package seshat

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"

	"github.com/seshat-go/seshat/store"
)

// maxUpdateAttempts bounds the compare-and-set retries of one Update.
const maxUpdateAttempts = 1000

// Incr adds by to the integer under key (a missing value counts as 0) and
// returns the value stored. It runs atomically in the store, together with
// the request's pending changes: N concurrent Incr calls add exactly N.
// Without encryption the store increments in place, in one round trip;
// with encryption it is a compare-and-set like Update.
//
// A stored value that is not an integer (written by something else, or
// corrupt) is reported to Options.OnCorrupt: FailRequest fails the call
// (ErrDecode and ErrNotInteger), FreshSession restarts the session first,
// anything else lets the increment replace the value as if it were absent.
// A sum that overflows int64 fails with ErrNotInteger.
func (s *Session) Incr(key string, by int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inPlace := s.m.opts.Encryption == nil
	if inPlace && s.state == stateUnloaded && s.key != "" {
		// A session that was not read yet need not be loaded first. (No
		// cookie, no key: a new session, nothing to ask the store.)
		d := &store.Delta{Now: s.m.now(), TouchAfter: s.m.opts.TouchInterval, Incr: &store.Incr{Name: key, By: by}, MaxSize: s.m.opts.MaxSessionBytes}
		res, err := s.commitDelta("incr", 0, d)
		switch {
		case err == nil:
			return res.Value, nil
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrCorrupt):
			s.unknown(err) // the cookie named no usable session
		case errors.Is(err, store.ErrMoved):
			s.state, s.loadErr = stateFailed, err // a straggler of a login
			return 0, err
		case errors.Is(err, store.ErrNotInteger):
			// Not an integer, or an overflow: see below, on what is stored.
		default:
			return 0, err
		}
	}
	if err := s.load(); err != nil {
		return 0, err
	}
	if old, ok := s.rec.Values[key]; inPlace && s.state == stateStored && (!ok || isInteger(old)) {
		d := s.pending(s.m.now())
		d.Incr = &store.Incr{Name: key, By: by}
		res, err := s.commitDelta("incr", 0, d)
		if err == nil {
			s.applied(d, res)
			return res.Value, nil
		}
		if !errors.Is(err, store.ErrNotInteger) {
			return 0, err
		}
		// Changed meanwhile into something that is not an integer, or an
		// overflow: the compare-and-set below tells which.
	}
	var sum int64
	u := &unreadable{s: s, key: key}
	_, err := s.updateOrRestart("incr", key, u, func(old []byte, ok bool) ([]byte, error) {
		var cur int64
		if ok {
			n, err := strconv.ParseInt(string(old), 10, 64)
			if !isInteger(old) || err != nil {
				err = fmt.Errorf("%w: %q: %w: the stored value is not a canonical integer", ErrDecode, key, ErrNotInteger)
				if err := u.decide(err); err != nil {
					return nil, err
				}
				n = 0 // replaced, as if absent
			}
			cur = n
		}
		sum = cur + by
		if (by > 0 && sum < cur) || (by < 0 && sum > cur) {
			return nil, fmt.Errorf("%w: %q overflows", ErrNotInteger, key)
		}
		return strconv.AppendInt(nil, sum, 10), nil
	})
	return sum, err
}

// Update replaces the value under key with fn's result, atomically: fn gets
// the value stored (the zero T when there is none), and if another request
// changed it in the meantime, fn runs again on the newer value. It returns
// the value stored. fn must not call methods of the session.
//
// A stored value that does not decode as a T (or decrypt) is reported to
// Options.OnCorrupt: FailRequest fails the call, FreshSession restarts the
// session first, anything else gives fn the zero T, as if the value were
// absent, and its result replaces the value.
func Update[T any](s *Session, key string, fn func(T) (T, error)) (T, error) {
	var zero, result T
	if err := checkKey(key); err != nil {
		return zero, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return zero, err
	}
	u := &unreadable{s: s, key: key}
	_, err := s.updateOrRestart("update", key, u, func(old []byte, ok bool) ([]byte, error) {
		cur := zero
		if ok {
			v, err := decode[T](old)
			if err != nil {
				err = fmt.Errorf("%w: %q as %v: %w", ErrDecode, key, reflect.TypeFor[T](), err)
				if err := u.decide(err); err != nil {
					return nil, err
				}
				v = zero // replaced by fn's result, as if absent
			}
			cur = v
		}
		nv, err := fn(cur)
		if err != nil {
			return nil, err
		}
		b, err := encode(nv)
		if err != nil {
			return nil, fmt.Errorf("%w: %q of type %T: %w", ErrEncode, key, nv, err)
		}
		result = nv
		return b, nil
	})
	if err != nil {
		return zero, err
	}
	return result, nil
}

// unreadable decides, once per Incr or Update call, what becomes of a
// stored value the call cannot read (not an integer, not a T, does not
// decrypt): Options.OnCorrupt fails the call (FailRequest), restarts the
// session (FreshSession), or lets the call's result replace the value.
type unreadable struct {
	s      *Session
	key    string
	seen   bool
	action CorruptAction
}

// errRestart: OnCorrupt chose FreshSession for a value Incr or Update
// could not read.
var errRestart = errors.New("seshat: restart the session")

// decide reports err to OnCorrupt the first time and returns nil to
// replace the value, err to fail, or errRestart.
func (u *unreadable) decide(err error) error {
	if !u.seen {
		u.seen = true
		u.action = u.s.m.corrupt(Corruption{Handle: u.s.key, Name: u.key, Err: err})
	}
	switch u.action {
	case FailRequest:
		return err
	case FreshSession:
		return errRestart
	}
	return nil
}

// updateOrRestart is update, restarting the session first when OnCorrupt
// asks for it.
func (s *Session) updateOrRestart(op, key string, u *unreadable, fn func(old []byte, ok bool) ([]byte, error)) ([]byte, error) {
	b, err := s.update(op, key, u, fn)
	if !errors.Is(err, errRestart) {
		return b, err
	}
	if err := s.restart(); err != nil {
		return nil, err
	}
	return s.update(op, key, u, fn)
}

// update is the atomic read-modify-write under Update (and Incr with
// encryption): fn maps the current encoded value (ok false when absent) to
// the new one. A stored session is changed by compare-and-set, retried on
// conflict together with the request's pending changes; a new session,
// which nobody else can see yet, is changed locally. s.mu is held and the
// session is loaded.
func (s *Session) update(op, key string, u *unreadable, fn func(old []byte, ok bool) ([]byte, error)) ([]byte, error) {
	if s.done && s.state != stateStored {
		return nil, errTooLate
	}
	if s.state == stateNew {
		var old []byte
		cur, ok := s.lookup(key)
		if ok {
			var err error
			if old, err = s.plain(key, cur); err != nil {
				return nil, err
			}
		}
		b, err := fn(old, ok)
		if err != nil {
			return nil, err
		}
		return b, s.setLocal(key, s.stored(key, b))
	}
	// Compare against what is stored, not against a pending change.
	cur, present := s.rec.Values[key]
	for retries := range maxUpdateAttempts {
		var old []byte
		ok := present
		if present {
			var err error
			if old, err = s.plain(key, cur); err != nil {
				// Does not decrypt: replaced as if absent, unless the
				// application says otherwise.
				if err := u.decide(err); err != nil {
					return nil, err
				}
				old, ok = nil, false
			}
		}
		b, err := fn(old, ok)
		if err != nil {
			return nil, err
		}
		d := s.pending(s.m.now())
		d.Set = maps.Clone(d.Set)
		if d.Set == nil {
			d.Set = make(map[string][]byte, 1)
		}
		d.Set[key] = s.stored(key, b)
		d.Delete = slices.DeleteFunc(d.Delete, func(k string) bool { return k == key })
		d.Expect = []store.Expect{{Name: key, Value: cur, Absent: !present}}
		res, err := s.commitDelta(op, retries, d)
		if errors.Is(err, store.ErrConflict) {
			s.m.observe(Event{Kind: EventConflict})
			cur, present = res.Current[key]
			continue
		}
		if err != nil {
			return nil, err
		}
		s.applied(d, res)
		return b, nil
	}
	return nil, fmt.Errorf("%w: %q changed %d times during one update", ErrContended, key, maxUpdateAttempts)
}
