package memstore

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/seshat-go/seshat/store"
)

// Commit implements store.Store: the session's values are viewed as a
// store.Record (no copy: the slices share the packed string, which
// store.Apply never writes into), store.Apply applies the delta, and the
// result is packed again.
func (s *Store) Commit(ctx context.Context, key string, d *store.Delta) (store.Result, error) {
	if err := ctx.Err(); err != nil {
		return store.Result{}, fmt.Errorf("memstore: commit: %w", err)
	}
	now := nanos(d.Now)
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.lookup(sh, key, now, d.Now)
	if e != nil && e.isMarker() {
		return store.Result{}, fmt.Errorf("memstore: commit: %w", store.ErrMoved)
	}
	var rec *store.Record
	if e != nil {
		rec = sh.view(e)
		defer clear(rec.Values) // drop the references to e's old values
	}
	res, err := store.Apply(rec, d)
	if err != nil {
		return res, fmt.Errorf("memstore: commit: %w", err)
	}
	if len(d.Set) > 0 || len(d.Delete) > 0 || d.Incr != nil {
		sh.buf = appendRepacked(sh.buf[:0], e.data, rec.Values)
		e.data = string(sh.buf)
	}
	e.touched, e.idle, e.deadline = nanos(rec.Touched), int64(rec.IdleTimeout), nanos(rec.Deadline)
	if rec.User != e.user {
		s.bind(sh, e, rec.User)
	}
	if e.expired(now) { // a deadline set in the past ends the session
		s.expire(sh, e, d.Now)
		return res, nil
	}
	sh.used(e)
	return res, nil
}

// view returns e as the shard's scratch record, its values sharing e's
// packed string. The shard's lock must be held while it is used, and its
// values cleared after.
func (sh *shard) view(e *entry) *store.Record {
	rec := &sh.scratch
	if rec.Values == nil {
		rec.Values = make(map[string][]byte)
	}
	for name, v := range pairs(e.data) {
		rec.Values[name] = unsafe.Slice(unsafe.StringData(v), len(v))
	}
	rec.User, rec.Created, rec.Touched = e.user, fromNanos(e.created), fromNanos(e.touched)
	rec.IdleTimeout, rec.Deadline = time.Duration(e.idle), fromNanos(e.deadline)
	return rec
}
