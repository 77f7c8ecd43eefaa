package store

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Apply applies d to rec exactly as Store.Commit must: it is the reference
// semantics of a commit. A store either commits through it (memstore,
// expresscompat) or implements the same rules another way (the Redis
// store's Lua scripts), checked against it by storetest's differential
// case.
//
// rec is the session found under the key, or nil when there is none. On
// success rec holds the result; on error rec is unchanged and the error
// wraps one of ErrNotFound, ErrConflict, ErrNotInteger or ErrTooLarge.
// Apply never writes into the bytes of a value, of rec or of d: it only
// replaces entries of rec.Values, so a store may fill rec.Values with
// slices that share memory it must not change. The slices of d.Set become
// values of rec as they are (a store copies what it keeps), and so does the
// value an increment stores, which is held in rec itself (Apply makes no
// allocation for it): it is valid until rec is next applied to.
func Apply(rec *Record, d *Delta) (Result, error) {
	// 1. A session that does not exist, or has expired by d.Now, takes no
	//    commit: a commit never brings a session back (G3).
	if rec == nil || !d.Now.Before(rec.ExpiresAt()) {
		return Result{}, ErrNotFound
	}

	// 2. Every expectation must hold, else nothing is written and the
	//    values found for all the expected names are reported.
	for _, e := range d.Expect {
		v, ok := rec.Values[e.Name]
		if e.Absent == ok || (ok && !bytes.Equal(v, e.Value)) {
			return Result{Current: current(rec, d.Expect)}, ErrConflict
		}
	}

	// 3. Set and Delete apply first (a name both set and deleted is set),
	//    then Incr, on the value they leave: a missing value counts as 0,
	//    anything but a canonical decimal integer refuses the commit, and
	//    so does an overflow of int64.
	var res Result
	var incr []byte
	if d.Incr != nil {
		old, ok := rec.Values[d.Incr.Name]
		if v, set := d.Set[d.Incr.Name]; set {
			old, ok = v, true
		} else if slices.Contains(d.Delete, d.Incr.Name) {
			ok = false
		}
		var n int64
		if ok {
			var err error
			if n, err = ParseInteger(old); err != nil {
				return Result{}, fmt.Errorf("incr %q: %w", d.Incr.Name, err)
			}
		}
		sum := n + d.Incr.By
		if (d.Incr.By > 0 && sum < n) || (d.Incr.By < 0 && sum > n) {
			return Result{}, fmt.Errorf("incr %q: %d%+d overflows: %w", d.Incr.Name, n, d.Incr.By, ErrNotInteger)
		}
		incr = strconv.AppendInt(rec.digits[:0], sum, 10)
		res.Value = sum
	}

	// 4. With MaxSize set, a commit that would leave the session above it,
	//    and larger than before, is refused: a session already over the
	//    limit (the limit was lowered) can still shrink.
	if d.MaxSize > 0 {
		before := rec.Size()
		if err := CheckSize(before, before+growth(rec, d, incr), d.MaxSize); err != nil {
			return Result{}, err
		}
	}

	// 5. Nothing can fail any more: write.
	if rec.Values == nil && (len(d.Set) > 0 || incr != nil) {
		rec.Values = make(map[string][]byte, len(d.Set)+1)
	}
	for _, name := range d.Delete {
		delete(rec.Values, name)
	}
	for name, v := range d.Set {
		rec.Values[name] = v
	}
	if incr != nil {
		rec.Values[d.Incr.Name] = incr
	}
	if d.User != nil {
		rec.User = *d.User
	}

	// 6. A commit is activity: it refreshes the idle expiry once TouchAfter
	//    has passed since the last refresh, and always when it changes the
	//    idle timeout or the deadline, which then replace the stored ones.
	if d.Now.Sub(rec.Touched) >= d.TouchAfter || d.IdleTimeout > 0 || !d.Deadline.IsZero() {
		rec.Touched = d.Now
	}
	if d.IdleTimeout > 0 {
		rec.IdleTimeout = d.IdleTimeout
	}
	if !d.Deadline.IsZero() {
		rec.Deadline = d.Deadline
	}
	return res, nil
}

// CheckSize is Apply's size rule: a change that takes a session from
// before to after bytes (Record.Size) is refused with ErrTooLarge when
// after is above max and above before. max 0 means no limit. A new
// session's before is 0.
func CheckSize(before, after, max int) error {
	if max > 0 && after > max && after > before {
		return fmt.Errorf("%d bytes, limit %d: %w", after, max, ErrTooLarge)
	}
	return nil
}

// Touch refreshes rec's idle expiry as Store.Load must: when at least
// touchAfter has passed since rec.Touched, Touched becomes now. It reports
// whether it did.
func Touch(rec *Record, now time.Time, touchAfter time.Duration) bool {
	if now.Sub(rec.Touched) < touchAfter {
		return false
	}
	rec.Touched = now
	return true
}

// ParseInteger reads a value that Delta.Incr may increment: the canonical
// decimal form of an int64 (strconv.FormatInt's), nothing else. Other
// bytes give ErrNotInteger.
func ParseInteger(b []byte) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	var buf [20]byte
	if err != nil || !bytes.Equal(strconv.AppendInt(buf[:0], n, 10), b) {
		return 0, fmt.Errorf("%.40q: %w", b, ErrNotInteger)
	}
	return n, nil
}

// current returns the values stored under the expected names.
func current(rec *Record, expect []Expect) map[string][]byte {
	cur := make(map[string][]byte, len(expect))
	for _, e := range expect {
		if v, ok := rec.Values[e.Name]; ok {
			cur[e.Name] = bytes.Clone(v)
		}
	}
	return cur
}

// growth is how many bytes d would add to rec's Size (negative when it
// shrinks it), incr being the value Incr would store.
func growth(rec *Record, d *Delta, incr []byte) int {
	n := 0
	change := func(name string) {
		if old, ok := rec.Values[name]; ok {
			n -= len(name) + len(old)
		}
		switch v, set := d.Set[name]; {
		case d.Incr != nil && name == d.Incr.Name:
			n += len(name) + len(incr)
		case set:
			n += len(name) + len(v)
		}
	}
	for name := range d.Set {
		change(name)
	}
	for i, name := range d.Delete {
		if _, set := d.Set[name]; !set && slices.Index(d.Delete, name) == i {
			change(name)
		}
	}
	if d.Incr != nil {
		if _, set := d.Set[d.Incr.Name]; !set && !slices.Contains(d.Delete, d.Incr.Name) {
			change(d.Incr.Name)
		}
	}
	return n
}
