package seshat

import (
	"context"
	"errors"
	"fmt"

	"github.com/seshat-go/seshat/store"
)

// ErrNotSupported means the store lacks an optional capability an
// operation needs (see the interfaces in package store).
var ErrNotSupported = errors.New("seshat: the store does not support this")

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
func (m *Manager) Rekey(ctx context.Context) (RekeyStats, error) {
	var st RekeyStats
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
	err := it.Scan(ctx, 100, func(keys []string) error {
		for _, key := range keys {
			st.Sessions++
			values, failed, err := m.rekeyOne(ctx, key, current)
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
	for range maxUpdateAttempts {
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
			p, err := sl.Open(key, name, v)
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
		err = m.op(ctx, "commit", true, func(ctx context.Context) error {
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
