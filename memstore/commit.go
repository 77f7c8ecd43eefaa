package memstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/seshat-go/seshat/store"
)

// Commit implements store.Store.
func (s *Store) Commit(ctx context.Context, key string, d *store.Delta) (store.Result, error) {
	if err := ctx.Err(); err != nil {
		return store.Result{}, fmt.Errorf("memstore: commit: %w", err)
	}
	now := nanos(d.Now)
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.lookup(sh, key, now, d.Now)
	switch {
	case e == nil:
		return store.Result{}, fmt.Errorf("memstore: commit: %w", store.ErrNotFound)
	case e.isMarker():
		return store.Result{}, fmt.Errorf("memstore: commit: %w", store.ErrMoved)
	}
	if cur, ok := conflicts(e.data, d.Expect); !ok {
		return store.Result{Current: cur}, fmt.Errorf("memstore: commit: %w", store.ErrConflict)
	}
	data, value, err := apply(e.data, d)
	if err != nil {
		return store.Result{}, fmt.Errorf("memstore: commit: %w", err)
	}
	e.data = data
	if elapsed(now, e.touched) >= int64(d.TouchAfter) || d.IdleTimeout > 0 || !d.Deadline.IsZero() {
		e.touched = now
	}
	if d.IdleTimeout > 0 {
		e.idle = int64(d.IdleTimeout)
	}
	if !d.Deadline.IsZero() {
		e.deadline = nanos(d.Deadline)
	}
	if d.User != nil && *d.User != e.user {
		s.bind(sh, e, *d.User)
	}
	sh.used(e)
	return store.Result{Value: value}, nil
}

// conflicts checks the expectations against packed values. When one fails
// it returns the current values of all expected names and false.
func conflicts(data string, expect []store.Expect) (map[string][]byte, bool) {
	ok := true
	for _, e := range expect {
		v, present := find(data, e.Name)
		if e.Absent == present || (present && v != string(e.Value)) {
			ok = false
			break
		}
	}
	if ok {
		return nil, true
	}
	cur := make(map[string][]byte, len(expect))
	for _, e := range expect {
		if v, present := find(data, e.Name); present {
			cur[e.Name] = []byte(v)
		}
	}
	return cur, false
}

// apply returns packed values with d's Set, Delete and Incr applied, and
// the integer Incr stored; or the error that refuses the commit, which
// then changes nothing.
func apply(data string, d *store.Delta) (string, int64, error) {
	if len(d.Set) == 0 && len(d.Delete) == 0 && d.Incr == nil {
		return data, 0, nil
	}
	var incr []byte
	var sum int64
	var buf [20]byte
	if d.Incr != nil {
		// Incr applies after Set and Delete.
		old, ok := "", false
		if v, set := d.Set[d.Incr.Name]; set {
			old, ok = string(v), true
		} else if !slices.Contains(d.Delete, d.Incr.Name) {
			old, ok = find(data, d.Incr.Name)
		}
		var cur int64
		if ok {
			n, err := strconv.ParseInt(old, 10, 64)
			if err != nil || string(strconv.AppendInt(buf[:0], n, 10)) != old {
				return "", 0, fmt.Errorf("incr %q: %w", d.Incr.Name, store.ErrNotInteger)
			}
			cur = n
		}
		sum = cur + d.Incr.By
		if (d.Incr.By > 0 && sum < cur) || (d.Incr.By < 0 && sum > cur) {
			return "", 0, fmt.Errorf("incr %q: overflow: %w", d.Incr.Name, store.ErrNotInteger)
		}
		incr = strconv.AppendInt(buf[:0], sum, 10)
	}
	replaced := func(name string) bool {
		_, set := d.Set[name]
		return set || (d.Incr != nil && name == d.Incr.Name) || slices.Contains(d.Delete, name)
	}

	// Measure first: a commit over the size limit must not cost a copy.
	n, newSize := 0, 0
	add := func(name, v string) {
		n += pairLen(name, v)
		newSize += len(name) + len(v)
	}
	for name, v := range pairs(data) {
		if !replaced(name) {
			add(name, v)
		}
	}
	for name, v := range d.Set {
		if d.Incr == nil || name != d.Incr.Name {
			add(name, string(v))
		}
	}
	if d.Incr != nil {
		add(d.Incr.Name, string(incr))
	}
	if d.MaxSize > 0 && newSize > d.MaxSize && newSize > size(data) {
		return "", 0, fmt.Errorf("%d bytes, limit %d: %w", newSize, d.MaxSize, store.ErrTooLarge)
	}

	var b strings.Builder
	b.Grow(n)
	for name, v := range pairs(data) {
		if !replaced(name) {
			writePair(&b, name, v)
		}
	}
	for name, v := range d.Set {
		if d.Incr == nil || name != d.Incr.Name {
			writePair(&b, name, string(v))
		}
	}
	if d.Incr != nil {
		writePair(&b, d.Incr.Name, string(incr))
	}
	return b.String(), sum, nil
}
