// Package storetest is seshat's store contract as tests. Run it from a
// store's tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return mystore.New(...) })
//	}
//
// Every guarantee of the design (G1–G11) is a subtest named after it, its
// cases run on a fresh store, at the store level and end to end through a
// seshat.Manager over HTTP; a failure says which guarantee broke and why it
// matters. Cases that need a capability only some stores have are skipped
// for the others, saying so: G10 (store failure) needs a store whose server
// can be made unreachable (Outage), the lost-reply cases of G2 and G4 a
// transport that can lose replies (Faults). RunOpen runs the guarantees
// that need no HTTP through Manager.Open, the API of WebSocket and gRPC
// code; a store's tests call it beside Run. Like testing/slogtest, the
// suite knows nothing about the store but its interface, so a third-party
// store proves itself the same way.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/seshat-go/seshat/store"
)

// Run runs the conformance suite. newStore returns a fresh, empty store for
// each subtest (register cleanups with t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, guarantees(), newStore, nil)
}

func run(t *testing.T, gs []guarantee, newStore func(t *testing.T) store.Store, serve Server) {
	t.Helper()
	for _, g := range gs {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					h := &harness{t: t, s: newStore(t), now: time.Now().Truncate(time.Millisecond), serve: serve}
					c.run(h)
				})
			}
		})
	}
}

func concat(lists ...[]testCase) []testCase {
	var all []testCase
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

type guarantee struct {
	name  string
	cases []testCase
}

type testCase struct {
	name string
	run  func(h *harness)
}

func guarantees() []guarantee {
	return []guarantee{
		{"G1_no_lost_updates", concat(g1, httpG1)},
		{"G2_atomic_read_modify_write", concat(g2, httpG2, httpFlash, faultsG2)},
		{"G3_destroy_wins", concat(g3, httpG3)},
		{"G4_regenerate", concat(g4, httpG4, faultsG4)},
		{"G5_cheap_reads", concat(g5, httpG5)},
		{"G6_expiry", g6},
		{"G7_no_fixation_no_forgery", g7},
		{"G8_serialization", concat(g8, corruptG8)},
		{"G9_limits", concat(g9, httpG9)},
		{"G10_store_failure", g10},
		{"G11_nothing_useful_at_rest", g11},
		{"contract", concat(contract, events, differential)},
		{"commit_before_first_byte", httpStreaming},
	}
}

// httpGuarantees are the cases of RunHTTP: those that send requests.
func httpGuarantees() []guarantee {
	return []guarantee{
		{"G1_no_lost_updates", httpG1},
		{"G2_atomic_read_modify_write", httpG2},
		{"G3_destroy_wins", httpG3},
		{"G4_regenerate", httpG4},
		{"G5_cheap_reads", httpG5},
		{"G7_no_fixation_no_forgery", g7},
		{"G9_limits", httpG9},
		{"commit_before_first_byte", httpStreaming},
	}
}

// harness holds one subtest's store and clock. Times are whole
// milliseconds (what stores keep) near the real time, so that stores that
// also expire by wall clock (Redis TTLs) agree with the suite.
type harness struct {
	t     *testing.T
	s     store.Store
	now   time.Time
	serve Server // serves the HTTP cases' app (nil: net/http)
}

func (h *harness) ctx() context.Context { return h.t.Context() }

// key returns a fresh store key, shaped like the ones seshat makes.
func key() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// record returns a record created at h.now with the given values.
func (h *harness) record(values map[string]string) *store.Record {
	rec := &store.Record{
		Values:      make(map[string][]byte, len(values)),
		Created:     h.now,
		Touched:     h.now,
		IdleTimeout: 30 * time.Minute,
		Deadline:    h.now.Add(24 * time.Hour),
	}
	for k, v := range values {
		rec.Values[k] = []byte(v)
	}
	return rec
}

// create stores a new session and returns its key.
func (h *harness) create(values map[string]string) string {
	h.t.Helper()
	k := key()
	if err := h.s.Create(h.ctx(), k, h.record(values)); err != nil {
		h.t.Fatalf("Create: %v", err)
	}
	return k
}

// load loads a session that must exist.
func (h *harness) load(k string) *store.Record {
	h.t.Helper()
	rec, err := h.s.Load(h.ctx(), k, store.LoadOptions{Now: h.now, TouchAfter: time.Hour})
	if err != nil {
		h.t.Fatalf("Load: %v", err)
	}
	return rec
}

// gone checks that a session cannot be loaded.
func (h *harness) gone(k string, why string) {
	h.t.Helper()
	rec, err := h.s.Load(h.ctx(), k, store.LoadOptions{Now: h.now, TouchAfter: time.Hour})
	if !errors.Is(err, store.ErrNotFound) {
		h.t.Fatalf("Load after %s = %v, %v; want store.ErrNotFound", why, values(rec), err)
	}
}

// moved checks that a session was moved: Load reports store.ErrMoved.
func (h *harness) moved(k string, why string) {
	h.t.Helper()
	rec, err := h.s.Load(h.ctx(), k, store.LoadOptions{Now: h.now, TouchAfter: time.Hour})
	if !errors.Is(err, store.ErrMoved) {
		h.t.Fatalf("Load after %s = %v, %v; want store.ErrMoved (the old ID of a regenerated session loads nothing, "+
			"and says why, so a straggling request leaves the new cookie alone)", why, values(rec), err)
	}
}

func (h *harness) commit(k string, d *store.Delta) (store.Result, error) {
	if d.Now.IsZero() {
		d.Now = h.now
	}
	return h.s.Commit(h.ctx(), k, d)
}

func (h *harness) mustCommit(k string, d *store.Delta) store.Result {
	h.t.Helper()
	res, err := h.commit(k, d)
	if err != nil {
		h.t.Fatalf("Commit: %v", err)
	}
	return res
}

func values(rec *store.Record) map[string]string {
	if rec == nil {
		return nil
	}
	m := make(map[string]string, len(rec.Values))
	for k, v := range rec.Values {
		m[k] = string(v)
	}
	return m
}

func set(kv ...string) map[string][]byte {
	m := make(map[string][]byte, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

// parallel runs f(0..n-1) on n goroutines released together, and waits.
func parallel(n int, f func(i int)) {
	start := make(chan struct{})
	done := make(chan struct{}, n)
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			f(i)
		}()
	}
	close(start)
	for range n {
		<-done
	}
}
