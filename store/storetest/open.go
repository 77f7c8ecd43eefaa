package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/store"
)

// RunOpen runs the suite's cases without HTTP on a fresh store from
// newStore for each: the guarantees as code outside a request sees them (a
// WebSocket message, a gRPC or connect call), through Manager.Open, the
// Session's methods and Session.Commit alone. Parallel sessions' changes
// all persist; parallel Incr, Update and Pop are exact, with encryption at
// rest on and off; a destroy is final; Regenerate moves the data and only
// one of concurrent ones succeeds; a forged, empty or garbage token never
// reaches the store; a session is created only by a Commit with data;
// SetExpiry sets the store's expiry; a value beyond the size limit stores
// nothing; corrupt stored data gives errors, never a panic. Run does not
// include these cases: a store's tests call RunOpen beside it.
func RunOpen(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, openGuarantees(), newStore, nil)
}

func openGuarantees() []guarantee {
	return []guarantee{
		{"G1_no_lost_updates", openG1},
		{"G2_atomic_read_modify_write", openG2},
		{"G3_destroy_wins", openG3},
		{"G4_regenerate", openG4},
		{"G5_cheap_reads", openG5},
		{"G6_expiry", openG6},
		{"G7_no_fixation_no_forgery", openG7},
		{"G8_serialization", openG8},
		{"G9_limits", openG9},
	}
}

// opener is a manager on the case's store, used through Manager.Open and
// the Session's methods only.
type opener struct {
	h     *harness
	m     *seshat.Manager
	store *Counting
}

func newOpener(h *harness, encrypted bool) *opener {
	m, cs := newManager(h, encrypted, appStoreTimeout)
	return &opener{h: h, m: m, store: cs}
}

func (o *opener) open(token string) *seshat.Session { return o.m.Open(o.h.ctx(), token) }

// commit commits s, which must succeed.
func (o *opener) commit(s *seshat.Session) {
	o.h.t.Helper()
	if err := s.Commit(nil); err != nil {
		o.h.t.Fatalf("Commit: %v", err)
	}
}

// start creates a session holding views = 1 and returns its token.
func (o *opener) start() string {
	o.h.t.Helper()
	s := o.open("")
	if n, err := s.Incr("views", 1); err != nil || n != 1 {
		o.h.t.Fatalf("Incr of a new session = %d, %v; want 1", n, err)
	}
	o.commit(s)
	tok := s.Token()
	if tok == "" {
		o.h.t.Fatal("a committed new session has no token")
	}
	return tok
}

// handle returns the store key of the session a token names.
func (o *opener) handle(token string) string {
	o.h.t.Helper()
	k, ok := o.m.HandleOf(token)
	if !ok {
		o.h.t.Fatalf("token %q does not verify", token)
	}
	return k
}

// together runs f on n sessions opened on token, one per goroutine, and
// starts none until every session is open and, where read(i) holds,
// loaded: those all act on what they read before anyone commits, which is
// when a commit that does not check what it read loses an update.
func (o *opener) together(n int, token string, read func(i int) bool, f func(i int, s *seshat.Session)) {
	var ready sync.WaitGroup
	ready.Add(n)
	parallel(n, func(i int) {
		s := o.open(token)
		if read(i) {
			if _, err := s.Keys(); err != nil {
				o.h.t.Errorf("session %d: Keys: %v", i, err)
			}
		}
		ready.Done()
		ready.Wait()
		f(i, s)
	})
}

func half(i int) bool { return i%2 == 0 }
func all(int) bool    { return true }

// loadAt loads a record as the manager would at now, without a touch.
func (h *harness) loadAt(k string, now time.Time) (*store.Record, error) {
	return h.s.Load(h.ctx(), k, store.LoadOptions{Now: now, TouchAfter: 24 * time.Hour})
}

// stored returns the values stored under k now, as stored (sealed, with
// encryption on).
func (h *harness) stored(k string) map[string]string {
	h.t.Helper()
	rec, err := h.loadAt(k, time.Now())
	if err != nil {
		h.t.Fatalf("Load: %v", err)
	}
	return values(rec)
}

// goneNow checks that a session cannot be loaded now.
func (h *harness) goneNow(k string, why string) {
	h.t.Helper()
	if rec, err := h.loadAt(k, time.Now()); !errors.Is(err, store.ErrNotFound) {
		h.t.Fatalf("Load after %s = %v, %v; want store.ErrNotFound", why, values(rec), err)
	}
}

func encryptedName(encrypted bool) string {
	if encrypted {
		return " with encryption at rest"
	}
	return ""
}

var openG1 = []testCase{
	{"through Open: 100 parallel sessions setting different keys all persist", func(h *harness) { openParallelSets(h, false) }},
	{"through Open with encryption at rest: 100 parallel sessions setting different keys all persist", func(h *harness) { openParallelSets(h, true) }},
}

func openParallelSets(h *harness, encrypted bool) {
	o := newOpener(h, encrypted)
	tok := o.start()
	o.together(100, tok, half, func(i int, s *seshat.Session) { // half read first, half write without a read
		if err := s.Set(fmt.Sprintf("k%d", i), i); err != nil {
			h.t.Errorf("Set %d: %v", i, err)
		}
		if err := s.Commit(nil); err != nil {
			h.t.Errorf("Commit %d: %v", i, err)
		}
	})
	s := o.open(tok)
	lost := 0
	for i := range 100 {
		if v, err := seshat.Get[int](s, fmt.Sprintf("k%d", i)); err != nil || v != i {
			lost++
		}
	}
	views, err := seshat.Get[int](s, "views")
	if lost > 0 || views != 1 {
		h.t.Fatalf("G1 broken%s: %d of 100 parallel sessions' changes to different keys were lost, views %d (%v): "+
			"a commit must store only what its session changed", encryptedName(encrypted), lost, views, err)
	}
}

var openG2 = []testCase{
	{"through Open: 100 parallel Incr add exactly 100, each returning what it stored", func(h *harness) { openParallelIncr(h, false, 100) }},
	// With encryption, Incr is a compare-and-set: n at once cost about
	// n²/2 commits.
	{"through Open with encryption at rest: 30 parallel Incr add exactly 30, each returning what it stored", func(h *harness) { openParallelIncr(h, true, 30) }},
	{"through Open: 30 parallel Update add exactly 30", func(h *harness) { openParallelUpdate(h, false) }},
	{"through Open with encryption at rest: 30 parallel Update add exactly 30", func(h *harness) { openParallelUpdate(h, true) }},
	{"through Open: 50 parallel Pop of one flash, exactly one gets it", func(h *harness) { openParallelPops(h, false) }},
	{"through Open with encryption at rest: 50 parallel Pop of one flash, exactly one gets it", func(h *harness) { openParallelPops(h, true) }},
}

func openParallelIncr(h *harness, encrypted bool, n int) {
	o := newOpener(h, encrypted)
	tok := o.start() // views = 1
	var mu sync.Mutex
	seen := map[int64]bool{}
	o.together(n, tok, half, func(i int, s *seshat.Session) {
		v, err := s.Incr("views", 1)
		if err != nil {
			h.t.Errorf("Incr %d: %v", i, err)
			return
		}
		if err := s.Commit(nil); err != nil {
			h.t.Errorf("Commit %d: %v", i, err)
		}
		mu.Lock()
		seen[v] = true
		mu.Unlock()
	})
	views, err := seshat.Get[int](o.open(tok), "views")
	if views != n+1 || len(seen) != n || seen[1] {
		h.t.Fatalf("G2 broken%s: 1 + %d parallel Incr through Open stored %d (%v) and returned %d distinct values in 2..%d; "+
			"want %d and %d: Incr is atomic in the store and returns what it stored",
			encryptedName(encrypted), n, views, err, len(seen), n+1, n+1, n)
	}
}

func openParallelUpdate(h *harness, encrypted bool) {
	o := newOpener(h, encrypted)
	tok := o.start()
	o.together(30, tok, all, func(i int, s *seshat.Session) {
		if _, err := seshat.Update(s, "n", func(n int) (int, error) { return n + 1, nil }); err != nil {
			h.t.Errorf("Update %d: %v", i, err)
		}
		if err := s.Commit(nil); err != nil {
			h.t.Errorf("Commit %d: %v", i, err)
		}
	})
	n, err := seshat.Get[int](o.open(tok), "n")
	if n != 30 {
		h.t.Fatalf("G2 broken%s: 30 parallel Update(n+1) through Open stored %d (%v); want 30: "+
			"Update is a compare-and-set in the store, retried on conflict", encryptedName(encrypted), n, err)
	}
}

func openParallelPops(h *harness, encrypted bool) {
	o := newOpener(h, encrypted)
	tok := o.start()
	for round := range 3 {
		s := o.open(tok)
		want := fmt.Sprintf("saved%d", round)
		if err := s.Flash("notice", want); err != nil {
			h.t.Fatalf("Flash: %v", err)
		}
		o.commit(s)
		var got atomic.Int64
		o.together(50, tok, all, func(_ int, s *seshat.Session) {
			v, err := seshat.Pop[string](s, "notice")
			switch {
			case err == nil && v == want:
				got.Add(1)
			case !errors.Is(err, seshat.ErrNoValue):
				h.t.Errorf("Pop = %q, %v; want the flash or seshat.ErrNoValue", v, err)
			}
			if err := s.Commit(nil); err != nil {
				h.t.Errorf("Commit after Pop: %v", err)
			}
		})
		if n := got.Load(); n != 1 {
			h.t.Fatalf("round %d: G2 broken%s: %d of 50 parallel Pop through Open got the flash; want exactly 1 "+
				"(Pop is a compare-and-delete in the store)", round, encryptedName(encrypted), n)
		}
	}
}
