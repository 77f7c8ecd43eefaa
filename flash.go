package seshat

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/seshat-go/seshat/store"
)

// flashPrefix starts the names flash messages are stored under. It starts
// with NUL, which checkKey refuses, so a flash is never one of the
// session's values (Get, Keys) and a value never a flash.
const flashPrefix = "\x00flash\x00"

// Flash stores value under key as a flash message: a value meant to be
// shown once, on a later request (the page after a redirect), and read
// there with Pop, which deletes it. Flashes live beside the session's
// values, under their own names (Get and Keys do not see them); Clear
// deletes them with the values. Like Set, Flash encodes the value at once
// and commits it with the request's other changes.
func (s *Session) Flash(key string, value any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return s.put(flashPrefix+key, key, value)
}

// Pop returns the flash message under key as a T and deletes it, in one
// atomic store operation (a compare-and-delete, retried if the flash
// changed meanwhile): of any number of requests popping the same flash at
// once, exactly one gets it, the others get ErrNoValue. So a message is
// shown once however many tabs reload. A flash set by this request is
// popped without asking the store.
//
// A stored flash that does not decode as a T (or decrypt) is handled as
// Get handles a value (Options.OnCorrupt), and is not popped.
func Pop[T any](s *Session, key string) (T, error) {
	var zero T
	if err := checkKey(key); err != nil {
		return zero, err
	}
	name := flashPrefix + key
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return zero, err
	}
	read := func(b []byte) (T, error) {
		p, err := s.plain(name, b)
		if err == nil {
			var v T
			if v, err = decode[T](p); err == nil {
				return v, nil
			}
			err = fmt.Errorf("%w: flash %q as %v: %w", ErrDecode, key, reflect.TypeFor[T](), err)
		}
		return zero, s.corruptValue(name, err)
	}
	none := fmt.Errorf("%w: no flash under %q", ErrNoValue, key)
	if b, ok := s.set[name]; ok || s.state != stateStored {
		// Flashed by this request (nobody else can see it yet), or none.
		if !ok {
			return zero, none
		}
		if s.done {
			return zero, errTooLate
		}
		v, err := read(b)
		if err == nil {
			s.deleteLocal(name)
		}
		return v, err
	}
	if _, gone := s.del[name]; gone {
		return zero, none
	}
	cur, ok := s.rec.Values[name]
	for retries := range maxUpdateAttempts {
		if !ok {
			delete(s.rec.Values, name) // popped by another request
			return zero, none
		}
		v, err := read(cur)
		if err != nil {
			return zero, err
		}
		d := s.pending(s.m.now())
		d.Delete = append(slices.Clone(d.Delete), name)
		d.Expect = []store.Expect{{Name: name, Value: cur}}
		res, err := s.commitDelta("pop", retries, d)
		if errors.Is(err, store.ErrConflict) {
			s.m.observe(Event{Kind: EventConflict})
			cur, ok = res.Current[name]
			continue
		}
		if err != nil {
			return zero, err
		}
		s.applied(d, res)
		return v, nil
	}
	return zero, fmt.Errorf("%w: flash %q changed %d times during one pop", ErrContended, key, maxUpdateAttempts)
}
