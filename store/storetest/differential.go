package storetest

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/seshat-go/seshat/store"
)

// DifferentialOps is how many random operations the differential case runs.
const DifferentialOps = 10000

// The differential case: random operations — commits of random deltas
// (sets, deletes, increments on integers and on what is not one,
// expectations that hold or not, size limits, touches, users, expiry
// changes), loads, creations, destroys, takes and the clock moving on —
// applied to the store and to a model made of store.Apply, store.Touch and
// a map. Every answer (error kind, incremented value, conflicting values)
// and every record loaded must agree. A store that implements the rules of
// a commit itself (the Redis store's Lua scripts) is so checked against the
// reference, rule by rule.
var differential = []testCase{
	{fmt.Sprintf("%d random operations agree with store.Apply", DifferentialOps), func(h *harness) {
		seed := rand.Uint64()
		d := &model{h: h, rng: rand.New(rand.NewPCG(seed, seed>>1)), now: h.now, sessions: map[string]*modelSession{}}
		for i := range DifferentialOps {
			d.step = i
			if !d.op() {
				h.t.Fatalf("(seed %d, operation %d of %d: the case can be replayed with this seed)", seed, i, DifferentialOps)
			}
		}
	}},
}

type modelSession struct {
	rec        *store.Record // nil: none (never created, destroyed, expired)
	movedUntil time.Time     // Take left a marker until then
}

type model struct {
	h        *harness
	rng      *rand.Rand
	now      time.Time
	step     int
	keys     []string
	sessions map[string]*modelSession
}

var (
	diffNames  = []string{"a", "b", "n", "m"}
	diffValues = []string{"1", "-5", "0", "41", "007", "-0", "+1", " 2", "1.0", "x", "", "9223372036854775807",
		"-9223372036854775808", "9223372036854775806", strings.Repeat("v", 40)}
	diffBys = []int64{1, -1, 5, -7, math.MaxInt64, math.MinInt64, 2}
)

func (d *model) pick(list []string) string { return list[d.rng.IntN(len(list))] }

// live returns the model's record under k, nil when the store must have
// none at d.now.
func (d *model) live(k string) *modelSession {
	s := d.sessions[k]
	if s == nil {
		s = &modelSession{}
		d.sessions[k] = s
	}
	if s.rec != nil && !d.now.Before(s.rec.ExpiresAt()) {
		s.rec = nil
	}
	return s
}

// op runs one random operation on both; false when they disagree (after
// reporting how).
func (d *model) op() bool {
	if len(d.keys) == 0 || d.rng.IntN(30) == 0 {
		return d.create()
	}
	// Mostly the few newest sessions, so that each sees long runs of
	// operations; now and then an old one (expired, destroyed, moved).
	k := d.keys[max(0, len(d.keys)-1-d.rng.IntN(6))]
	if d.rng.IntN(10) == 0 {
		k = d.keys[d.rng.IntN(len(d.keys))]
	}
	switch r := d.rng.IntN(20); {
	case r < 11:
		return d.commit(k)
	case r < 16:
		return d.load(k)
	case r < 17:
		return d.destroy(k)
	case r < 18:
		return d.take(k)
	default:
		d.now = d.now.Add(time.Duration(d.rng.IntN(int(20*time.Minute/time.Millisecond))) * time.Millisecond)
		return true
	}
}

func (d *model) fail(format string, args ...any) bool {
	d.h.t.Errorf("operation %d: "+format, append([]any{d.step}, args...)...)
	return false
}

func (d *model) create() bool {
	k := key()
	values := map[string][]byte{}
	for range d.rng.IntN(3) {
		values[d.pick(diffNames)] = []byte(d.pick(diffValues))
	}
	rec := &store.Record{Values: values, Created: d.now, Touched: d.now,
		IdleTimeout: time.Duration(10+d.rng.IntN(50)) * time.Minute, Deadline: d.now.Add(time.Duration(1+d.rng.IntN(6)) * time.Hour)}
	if d.rng.IntN(3) == 0 {
		rec.User = d.pick([]string{"u1", "u2"})
	}
	if err := d.h.s.Create(d.h.ctx(), k, rec); err != nil {
		return d.fail("Create of a new key: %v", err)
	}
	cp := *rec
	cp.Values = maps.Clone(values)
	d.keys = append(d.keys, k)
	d.sessions[k] = &modelSession{rec: &cp}
	return true
}

// delta returns a random delta for the session s (its current values make
// expectations that hold, increments on integers, and size limits near its
// size likely).
func (d *model) delta(s *modelSession) *store.Delta {
	rng := d.rng
	dl := &store.Delta{Now: d.now, TouchAfter: []time.Duration{0, time.Minute, time.Hour}[rng.IntN(3)]}
	for range rng.IntN(3) {
		if dl.Set == nil {
			dl.Set = map[string][]byte{}
		}
		dl.Set[d.pick(diffNames)] = []byte(d.pick(diffValues))
	}
	for range rng.IntN(3) {
		dl.Delete = append(dl.Delete, d.pick(diffNames)) // also names set, and twice
	}
	if rng.IntN(2) == 0 {
		dl.Incr = &store.Incr{Name: d.pick(diffNames), By: diffBys[rng.IntN(len(diffBys))]}
	}
	var cur map[string][]byte
	if s.rec != nil {
		cur = s.rec.Values
	}
	if rng.IntN(4) == 0 {
		name := d.pick(diffNames)
		v, ok := cur[name]
		switch rng.IntN(3) {
		case 0: // holds
			dl.Expect = append(dl.Expect, store.Expect{Name: name, Value: v, Absent: !ok})
		case 1:
			dl.Expect = append(dl.Expect, store.Expect{Name: name, Absent: true})
		default:
			dl.Expect = append(dl.Expect, store.Expect{Name: name, Value: []byte(d.pick(diffValues))})
		}
	}
	if rng.IntN(3) == 0 {
		size := 0
		if s.rec != nil {
			size = s.rec.Size()
		}
		dl.MaxSize = max(1, size+rng.IntN(30)-10)
	}
	if rng.IntN(8) == 0 {
		u := d.pick([]string{"u1", "u2", ""})
		dl.User = &u
	}
	if rng.IntN(15) == 0 {
		dl.IdleTimeout = time.Duration(5+rng.IntN(60)) * time.Minute
	}
	if rng.IntN(15) == 0 {
		// Now and then in the past: the commit ends the session.
		dl.Deadline = d.now.Add(time.Duration(rng.IntN(int(3*time.Hour/time.Millisecond))-int(10*time.Minute/time.Millisecond)) * time.Millisecond)
	}
	return dl
}

// kind names the error kinds of the contract.
func kind(err error) string {
	for _, e := range []error{store.ErrNotFound, store.ErrConflict, store.ErrNotInteger, store.ErrTooLarge, store.ErrMoved, store.ErrExists} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err != nil {
		return "unexpected: " + err.Error()
	}
	return "ok"
}

func (d *model) commit(k string) bool {
	s := d.live(k)
	dl := d.delta(s)
	res, err := d.h.s.Commit(d.h.ctx(), k, dl)

	var want store.Result
	var wantErr error
	if d.now.Before(s.movedUntil) {
		wantErr = store.ErrMoved
	} else {
		var rec *store.Record
		if s.rec != nil {
			cp := *s.rec
			cp.Values = maps.Clone(s.rec.Values)
			rec = &cp
		}
		if want, wantErr = store.Apply(rec, dl); wantErr == nil {
			s.rec = rec
		}
	}
	if kind(err) != kind(wantErr) {
		return d.fail("Commit(%s) = %v; store.Apply says %v (session %s)", describe(dl), err, wantErr, show(s.rec))
	}
	if wantErr == nil && dl.Incr != nil && res.Value != want.Value {
		return d.fail("Commit(%s) incremented to %d; store.Apply says %d", describe(dl), res.Value, want.Value)
	}
	if errors.Is(wantErr, store.ErrConflict) && !maps.EqualFunc(res.Current, want.Current, bytesEqual) {
		return d.fail("Commit(%s) conflict reports %q; store.Apply says %q", describe(dl), res.Current, want.Current)
	}
	return true
}

func (d *model) load(k string) bool {
	s := d.live(k)
	touchAfter := []time.Duration{0, time.Minute, time.Hour}[d.rng.IntN(3)]
	got, err := d.h.s.Load(d.h.ctx(), k, store.LoadOptions{Now: d.now, TouchAfter: touchAfter})
	switch {
	case d.now.Before(s.movedUntil):
		if !errors.Is(err, store.ErrMoved) {
			return d.fail("Load of a moved session = %v, %v; want ErrMoved", show(got), err)
		}
		return true
	case s.rec == nil:
		if !errors.Is(err, store.ErrNotFound) {
			return d.fail("Load = %v, %v; want ErrNotFound (the model has no live session)", show(got), err)
		}
		return true
	case err != nil:
		return d.fail("Load = %v; want %s", err, show(s.rec))
	}
	store.Touch(s.rec, d.now, touchAfter)
	if !sameRecord(got, s.rec) {
		return d.fail("Load = %s; the model says %s", show(got), show(s.rec))
	}
	return true
}

func (d *model) destroy(k string) bool {
	if err := d.h.s.Destroy(d.h.ctx(), k); err != nil {
		return d.fail("Destroy: %v", err)
	}
	s := d.live(k)
	s.rec, s.movedUntil = nil, time.Time{} // the marker of a take goes too
	return true
}

func (d *model) take(k string) bool {
	s := d.live(k)
	got, err := d.h.s.Take(d.h.ctx(), k, d.now)
	switch {
	case d.now.Before(s.movedUntil):
		if !errors.Is(err, store.ErrMoved) {
			return d.fail("Take of a moved session = %v, %v; want ErrMoved", show(got), err)
		}
		return true
	case s.rec == nil:
		if !errors.Is(err, store.ErrNotFound) {
			return d.fail("Take = %v, %v; want ErrNotFound", show(got), err)
		}
		return true
	case err != nil:
		return d.fail("Take = %v; want %s", err, show(s.rec))
	}
	if !maps.EqualFunc(got.Values, s.rec.Values, bytesEqual) || got.User != s.rec.User {
		return d.fail("Take = %s; the model says %s", show(got), show(s.rec))
	}
	s.rec, s.movedUntil = nil, d.now.Add(store.MovedGrace)
	return true
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func sameRecord(a, b *store.Record) bool {
	return maps.EqualFunc(a.Values, b.Values, bytesEqual) && a.User == b.User && a.Created.Equal(b.Created) &&
		a.Touched.Equal(b.Touched) && a.IdleTimeout == b.IdleTimeout && a.Deadline.Equal(b.Deadline)
}

func show(r *store.Record) string {
	if r == nil {
		return "none"
	}
	names := slices.Sorted(maps.Keys(r.Values))
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%q ", n, r.Values[n])
	}
	return fmt.Sprintf("{%suser=%q created=%s touched=%s idle=%v deadline=%s}", b.String(), r.User,
		r.Created.Format(time.StampMilli), r.Touched.Format(time.StampMilli), r.IdleTimeout, r.Deadline.Format(time.StampMilli))
}

func describe(d *store.Delta) string {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(d.Set)) {
		fmt.Fprintf(&b, "set %s=%q ", n, d.Set[n])
	}
	for _, n := range d.Delete {
		fmt.Fprintf(&b, "del %s ", n)
	}
	if d.Incr != nil {
		fmt.Fprintf(&b, "incr %s by %d ", d.Incr.Name, d.Incr.By)
	}
	for _, e := range d.Expect {
		fmt.Fprintf(&b, "expect %s=%q(absent %v) ", e.Name, e.Value, e.Absent)
	}
	if d.MaxSize > 0 {
		fmt.Fprintf(&b, "max %d ", d.MaxSize)
	}
	if d.User != nil {
		fmt.Fprintf(&b, "user %q ", *d.User)
	}
	if d.IdleTimeout > 0 {
		fmt.Fprintf(&b, "idle %v ", d.IdleTimeout)
	}
	if !d.Deadline.IsZero() {
		fmt.Fprintf(&b, "deadline %s ", d.Deadline.Format(time.StampMilli))
	}
	fmt.Fprintf(&b, "touchAfter %v at %s", d.TouchAfter, d.Now.Format(time.StampMilli))
	return b.String()
}
