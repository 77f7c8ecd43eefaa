package storetest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
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
	store *counting
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

var openG3 = []testCase{
	{"through Open: after Destroy returns, no session in flight brings anything back", func(h *harness) {
		o := newOpener(h, false)
		tok := o.start()
		s := o.open(tok)
		if err := s.SetUser("bob"); err != nil {
			h.t.Fatal(err)
		}
		s.Set("cart", "3 items")
		o.commit(s)
		key := o.handle(tok)

		// Sessions opened before the Destroy: four read the session first,
		// one only writes.
		read := func() *seshat.Session {
			s := o.open(tok)
			if u, err := s.User(); err != nil || u != "bob" {
				h.t.Fatalf("user before Destroy = %q, %v", u, err)
			}
			return s
		}
		committer, incr, update, regen := read(), read(), read(), read()
		committer.Set("late", 1)
		blind := o.open(tok)
		blind.Set("blind", 1)

		d := o.open(tok)
		if err := d.Destroy(); err != nil {
			h.t.Fatalf("Destroy: %v", err)
		}
		o.commit(d)
		if d.Token() != "" {
			h.t.Fatalf("a destroyed session has token %q", d.Token())
		}

		if err := committer.Commit(nil); !errors.Is(err, seshat.ErrEnded) {
			h.t.Errorf("G3 broken: the Commit of a session read before Destroy = %v; want seshat.ErrEnded", err)
		}
		if n, err := incr.Incr("views", 1); !errors.Is(err, seshat.ErrEnded) {
			h.t.Errorf("G3 broken: Incr after Destroy = %d, %v; want seshat.ErrEnded", n, err)
		}
		if n, err := seshat.Update(update, "views", func(n int) (int, error) { return n + 1, nil }); !errors.Is(err, seshat.ErrEnded) {
			h.t.Errorf("G3 broken: Update after Destroy = %d, %v; want seshat.ErrEnded", n, err)
		}
		// A Regenerate of an ended session keeps only what its own
		// request changed: not the values, and not the user, it read before.
		if err := regen.Regenerate(); err == nil {
			regen.Set("fresh", 1)
			if err := regen.Commit(nil); err != nil {
				h.t.Errorf("Commit after Regenerate of an ended session: %v", err)
			}
			if u, err := regen.User(); u != "" || err != nil {
				h.t.Errorf("G3 broken: a Regenerate after Destroy kept the ended session's user: %q, %v "+
					"(a request in flight must not log the user back in)", u, err)
			}
			if nt := regen.Token(); nt != "" {
				rs := o.open(nt)
				if u, _ := rs.User(); u != "" {
					h.t.Errorf("G3 broken: a Regenerate after Destroy stored a session of the ended one's user %q", u)
				}
				if keys, _ := rs.Keys(); strings.Join(keys, ",") != "fresh" {
					h.t.Errorf("G3 broken: a Regenerate after Destroy stored %v; want only its own change (fresh)", keys)
				}
			}
		} else if !errors.Is(err, seshat.ErrEnded) {
			h.t.Errorf("Regenerate after Destroy: %v; want success with a new session, or seshat.ErrEnded", err)
		}
		// A session that wrote without reading knew nothing of the one
		// destroyed: its change may start a new session, and only that.
		if err := blind.Commit(nil); err == nil {
			if nt := blind.Token(); nt == "" || nt == tok {
				h.t.Errorf("G3 broken: a blind write after Destroy committed under token %q (old %q)", nt, tok)
			} else if keys, _ := o.open(nt).Keys(); strings.Join(keys, ",") != "blind" {
				h.t.Errorf("G3 broken: a blind write after Destroy made a session holding %v; want only its own change", keys)
			}
		} else if !errors.Is(err, seshat.ErrEnded) {
			h.t.Errorf("Commit of a blind write after Destroy: %v", err)
		}

		h.goneNow(key, "Destroy and the commits of sessions opened before it (G3: a logout is final)")
		s = o.open(tok)
		if _, err := seshat.Get[int](s, "views"); !errors.Is(err, seshat.ErrNoValue) {
			h.t.Fatalf("G3 broken: the destroyed session's token reads views: %v", err)
		}
		if u, _ := s.User(); u != "" {
			h.t.Fatalf("G3 broken: the destroyed session's token reads user %q", u)
		}
	}},
	{"through Open: Destroy racing 50 sessions' commits stays destroyed", func(h *harness) {
		o := newOpener(h, false)
		for round := range 5 {
			tok := o.start()
			key := o.handle(tok)
			var destroyed atomic.Bool
			var revived atomic.Int64
			parallel(51, func(i int) {
				s := o.open(tok)
				if i == 0 {
					if err := s.Destroy(); err != nil {
						h.t.Errorf("Destroy: %v", err)
					}
					destroyed.Store(true)
					return
				}
				after := destroyed.Load()
				var err error
				switch i % 3 {
				case 0:
					_, err = s.Incr("views", 1)
				case 1:
					_, err = seshat.Get[int](s, "views")
					if err == nil {
						err = s.Set(fmt.Sprintf("w%d", i), i)
					}
				case 2:
					err = s.Set(fmt.Sprintf("w%d", i), i) // without a read
				}
				if err == nil {
					err = s.Commit(nil)
				}
				switch {
				case err == nil:
					if after && s.Token() == tok {
						revived.Add(1)
					}
				case !errors.Is(err, seshat.ErrEnded) && !errors.Is(err, seshat.ErrNoValue):
					h.t.Errorf("session %d racing Destroy: %v; want success or seshat.ErrEnded", i, err)
				}
			})
			if n := revived.Load(); n > 0 {
				h.t.Fatalf("round %d: G3 broken: %d sessions opened after Destroy returned committed under the destroyed token", round, n)
			}
			h.goneNow(key, fmt.Sprintf("round %d: Destroy racing 50 sessions (G3)", round))
		}
	}},
}

var openG4 = []testCase{
	{"through Open: Regenerate moves the data to a new token, and the old one loads nothing", func(h *harness) { openRegenerate(h, false) }},
	{"through Open with encryption at rest: Regenerate moves the data to a new token, and the old one loads nothing", func(h *harness) { openRegenerate(h, true) }},
	{"through Open: 30 parallel Regenerates of one token leave exactly one new session, 5 rounds", func(h *harness) {
		o := newOpener(h, false)
		for round := range 5 {
			tok := o.start()
			var mu sync.Mutex
			var won []string
			o.together(30, tok, half, func(_ int, s *seshat.Session) {
				err := s.Regenerate()
				if err == nil {
					s.SetUser("ann")
					if err = s.Commit(nil); err == nil {
						mu.Lock()
						won = append(won, s.Token())
						mu.Unlock()
						return
					}
				}
				if !errors.Is(err, seshat.ErrMoved) {
					h.t.Errorf("Regenerate racing Regenerate: %v; want success or seshat.ErrMoved", err)
				}
			})
			if len(won) != 1 || won[0] == "" {
				h.t.Fatalf("round %d: G4 broken: %d of 30 parallel Regenerates of one token got a new session (%q); want exactly 1",
					round, len(won), won)
			}
			if v, err := seshat.Get[int](o.open(won[0]), "views"); v != 1 {
				h.t.Fatalf("round %d: G4 broken: the regenerated session reads views %d, %v; want 1 (Regenerate moves the data)", round, v, err)
			}
			if cnt, ok := h.s.(store.Counter); ok {
				if n, err := cnt.Count(h.ctx(), time.Now()); err != nil || n != int64(round+1) {
					h.t.Fatalf("round %d: G4 broken: the store counts %d sessions (%v); want %d, one per round", round, n, err, round+1)
				}
			}
		}
	}},
}

func openRegenerate(h *harness, encrypted bool) {
	o := newOpener(h, encrypted)
	old := o.start()
	s := o.open(old)
	s.Set("cart", "3 items")
	o.commit(s)

	s = o.open(old)
	if err := s.Regenerate(); err != nil {
		h.t.Fatalf("Regenerate: %v", err)
	}
	if err := s.SetUser("ann"); err != nil {
		h.t.Fatal(err)
	}
	if tok := s.Token(); tok != "" {
		h.t.Fatalf("a regenerated session has token %q before Commit stored it", tok)
	}
	hdr := http.Header{}
	if err := s.Commit(hdr); err != nil {
		h.t.Fatalf("Commit after Regenerate: %v", err)
	}
	fresh := s.Token()
	if fresh == "" || fresh == old || !strings.Contains(hdr.Get("Set-Cookie"), fresh) {
		h.t.Fatalf("after Regenerate: token %q (old %q), Set-Cookie %q; want a new token, in the cookie too", fresh, old, hdr.Get("Set-Cookie"))
	}
	ns := o.open(fresh)
	views, err1 := seshat.Get[int](ns, "views")
	cart, err2 := seshat.Get[string](ns, "cart")
	user, err3 := ns.User()
	if views != 1 || cart != "3 items" || user != "ann" {
		h.t.Fatalf("G4 broken%s: the regenerated session reads views %d (%v), cart %q (%v), user %q (%v); want 1, 3 items, ann",
			encryptedName(encrypted), views, err1, cart, err2, user, err3)
	}
	if _, err := seshat.Get[int](o.open(old), "views"); !errors.Is(err, seshat.ErrMoved) {
		h.t.Fatalf("G4 broken%s: the old token after Regenerate reads %v; want seshat.ErrMoved (it loads nothing)", encryptedName(encrypted), err)
	}
	h.moved(o.handle(old), "Regenerate through Open")
	// A straggler on the old token changes nothing, with or without a read.
	st := o.open(old)
	err := st.Set("late", 1)
	if err == nil {
		err = st.Commit(nil)
	}
	if !errors.Is(err, seshat.ErrMoved) {
		h.t.Fatalf("G4 broken%s: a write on the old token after Regenerate = %v; want seshat.ErrMoved", encryptedName(encrypted), err)
	}
	if keys, _ := o.open(fresh).Keys(); strings.Join(keys, ",") != "cart,views" {
		h.t.Fatalf("after a straggler's write on the old token, the new session holds %v", keys)
	}
}

var openG5 = []testCase{
	{"through Open: a read-only session makes one store call and writes nothing", func(h *harness) {
		o := newOpener(h, false)
		tok := o.start()
		o.store.snapshot()
		for range 5 {
			s := o.open(tok)
			if v, err := seshat.Get[int](s, "views"); err != nil || v != 1 {
				h.t.Fatalf("read: views %d, %v", v, err)
			}
			hdr := http.Header{}
			if err := s.Commit(hdr); err != nil || hdr.Get("Set-Cookie") != "" {
				h.t.Fatalf("Commit of a read-only session = %v, Set-Cookie %q; want nil and no cookie", err, hdr.Get("Set-Cookie"))
			}
			if s.Token() != tok {
				h.t.Fatalf("a read-only session's token changed")
			}
		}
		if calls := o.store.snapshot(); calls["Load"] != 5 || len(calls) != 1 {
			h.t.Fatalf("G5 broken: 5 read-only sessions made store calls %v; want exactly 5 Loads", calls)
		}
	}},
}

var openG6 = []testCase{
	{"through Open: SetExpiry sets the session's expiry in the store", func(h *harness) {
		o := newOpener(h, false)
		s := o.open("")
		s.Set("a", "1")
		before := time.Now()
		if err := s.SetExpiry(2*time.Hour, 48*time.Hour); err != nil {
			h.t.Fatal(err)
		}
		after := time.Now()
		o.commit(s)
		tok := s.Token()
		key := o.handle(tok)
		rec, err := h.loadAt(key, time.Now())
		if err != nil {
			h.t.Fatal(err)
		}
		if rec.IdleTimeout != 2*time.Hour || rec.Deadline.Before(before.Add(48*time.Hour).Truncate(time.Millisecond)) || rec.Deadline.After(after.Add(48*time.Hour)) {
			h.t.Fatalf("G6 broken: a new session given 2h idle and 48h lifetime is stored with idle %v, deadline in %v",
				rec.IdleTimeout, time.Until(rec.Deadline))
		}
		deadline := rec.Deadline

		// On a stored session: the idle timeout shortened, the deadline kept.
		s = o.open(tok)
		if err := s.SetExpiry(10*time.Minute, 0); err != nil {
			h.t.Fatal(err)
		}
		hdr := http.Header{}
		if err := s.Commit(hdr); err != nil {
			h.t.Fatal(err)
		}
		if !strings.Contains(hdr.Get("Set-Cookie"), tok) {
			h.t.Errorf("Commit after SetExpiry sent Set-Cookie %q; want the cookie again, with its new Max-Age", hdr.Get("Set-Cookie"))
		}
		now := time.Now()
		rec, err = h.loadAt(key, now)
		if err != nil || rec.IdleTimeout != 10*time.Minute || !rec.Deadline.Equal(deadline) {
			h.t.Fatalf("G6 broken: after SetExpiry(10m, 0) the store holds idle %v, deadline %v (%v); want 10m, %v", rec.IdleTimeout, rec.Deadline, err, deadline)
		}
		if _, err := h.loadAt(key, now.Add(9*time.Minute)); err != nil {
			h.t.Fatalf("the session is gone 9 minutes into its 10-minute idle timeout: %v", err)
		}
		if _, err := h.loadAt(key, now.Add(11*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			h.t.Fatalf("G6 broken: 11 minutes idle with a 10-minute idle timeout, Load = %v; want store.ErrNotFound", err)
		}
	}},
	{"through Open: a session ends when the idle timeout or lifetime SetExpiry gave it passes", func(h *harness) {
		const short = time.Second
		o := newOpener(h, false)
		var toks []string
		var ends time.Time
		for _, e := range [][2]time.Duration{{short, 0}, {0, short}} {
			s := o.open("")
			s.Set("a", "1")
			if err := s.SetExpiry(e[0], e[1]); err != nil {
				h.t.Fatal(err)
			}
			o.commit(s)
			toks = append(toks, s.Token())
			rec, err := h.loadAt(o.handle(s.Token()), time.Now())
			if err != nil {
				h.t.Fatalf("a session given %v idle, %v lifetime is gone at once: %v", e[0], e[1], err)
			}
			if rec.ExpiresAt().After(ends) {
				ends = rec.ExpiresAt()
			}
		}
		for _, tok := range toks {
			if v, err := seshat.Get[string](o.open(tok), "a"); v != "1" {
				h.t.Fatalf("a session given a %v expiry reads %q, %v right after its Commit", short, v, err)
			}
		}
		time.Sleep(time.Until(ends) + 20*time.Millisecond)
		for i, tok := range toks {
			s := o.open(tok)
			if v, err := seshat.Get[string](s, "a"); !errors.Is(err, seshat.ErrNoValue) {
				h.t.Fatalf("G6 broken: session %d reads %q, %v after its %v expiry passed; want a new, empty session", i, v, err, short)
			}
			if s.Token() != "" {
				h.t.Fatalf("G6 broken: an expired session has token %q", s.Token())
			}
			h.goneNow(o.handle(tok), "the expiry SetExpiry gave")
		}
	}},
}

var openG7 = []testCase{
	{"through Open: forged, empty and garbage tokens never reach the store and give a new session", func(h *harness) {
		o := newOpener(h, false)
		real := o.start()
		foreign := otherSecret(h)
		o.store.snapshot()
		forged := []string{"", "x", "garbage", " ", "\x00", "a b", "..", strings.Repeat("é", 44),
			strings.Repeat("A", len(real)), real + "A", real[:len(real)-1], real[:43] + "." + real[:43], foreign}
		// One character changed, always to a different one: in the ID, at
		// the dot, in the signature.
		for _, i := range []int{0, 21, 42, 43, 44, 70, len(real) - 1} {
			forged = append(forged, real[:i]+flip(real[i])+real[i+1:])
		}
		for _, f := range forged {
			if f == real {
				h.t.Fatalf("a forgery equals the real token %q", real)
			}
			s := o.open(f)
			v, err := seshat.Get[int](s, "views")
			keys, kerr := s.Keys()
			if !errors.Is(err, seshat.ErrNoValue) || v != 0 || len(keys) != 0 || kerr != nil {
				h.t.Errorf("G7 broken: forged token %q reads views %d (%v), keys %v (%v); want a new, empty session", f, v, err, keys, kerr)
			}
			if err := s.Commit(nil); err != nil || s.Token() != "" {
				h.t.Errorf("forged token %q: Commit %v, token %q; want nil and no session stored", f, err, s.Token())
			}
		}
		if calls := o.store.snapshot(); len(calls) != 0 {
			h.t.Fatalf("G7 broken: forged tokens reached the store through Open: %v", calls)
		}
		// With data, a forged token starts a session of its own.
		s := o.open(forged[len(forged)-1])
		s.Set("a", 1)
		o.commit(s)
		if tok := s.Token(); tok == "" || tok == real {
			h.t.Fatalf("G7 broken: a forged token's session committed under token %q (real %q)", tok, real)
		}
		if v, _ := seshat.Get[int](o.open(real), "views"); v != 1 {
			h.t.Fatalf("a forged token's session changed the real one: views %d", v)
		}
	}},
	{"through Open: a token the store does not know is never adopted", func(h *harness) {
		o := newOpener(h, false)
		tok := o.start()
		d := o.open(tok)
		if err := d.Destroy(); err != nil {
			h.t.Fatal(err)
		}
		o.commit(d)
		s := o.open(tok)
		if n, err := s.Incr("views", 1); err != nil || n != 1 {
			h.t.Fatalf("Incr on a dead token's session = %d, %v; want 1 (a new session)", n, err)
		}
		o.commit(s)
		if nt := s.Token(); nt == "" || nt == tok {
			h.t.Fatalf("G7 broken: a dead token's session committed under token %q (dead %q); "+
				"want a fresh one (adopting a known ID allows session fixation)", nt, tok)
		}
		h.goneNow(o.handle(tok), "a commit on a dead token")
	}},
	{"through Open: a session is created only by a Commit with data", func(h *harness) {
		o := newOpener(h, false)
		o.store.snapshot()
		s := o.open("")
		if _, err := seshat.Get[int](s, "views"); !errors.Is(err, seshat.ErrNoValue) {
			h.t.Fatalf("a new session reads views: %v", err)
		}
		o.commit(s)
		s = o.open("")
		s.Set("a", 1)
		s.Delete("a")
		o.commit(s)
		if calls := o.store.snapshot(); len(calls) != 0 || s.Token() != "" {
			h.t.Fatalf("new sessions holding nothing made store calls %v, token %q; want none", calls, s.Token())
		}
		s = o.open("")
		s.Set("a", 1)
		if _, err := s.Incr("n", 2); err != nil {
			h.t.Fatal(err)
		}
		if calls := o.store.snapshot(); len(calls) != 0 || s.Token() != "" {
			h.t.Fatalf("a new session with changes before its Commit made store calls %v, token %q; want none", calls, s.Token())
		}
		hdr := http.Header{}
		if err := s.Commit(hdr); err != nil {
			h.t.Fatal(err)
		}
		tok := s.Token()
		if calls := o.store.snapshot(); calls["Create"] != 1 || len(calls) != 1 {
			h.t.Fatalf("the Commit of a new session with data made store calls %v; want one Create", calls)
		}
		if tok == "" || !strings.Contains(hdr.Get("Set-Cookie"), tok) {
			h.t.Fatalf("a created session's token %q, Set-Cookie %q; want the token, in the cookie too", tok, hdr.Get("Set-Cookie"))
		}
		if got := h.stored(o.handle(tok)); len(got) != 2 || got["n"] != "2" || got["a"] == "" {
			h.t.Fatalf("the created session holds %v; want a and n=2", got)
		}
	}},
}

// otherSecret returns a token that a manager with another secret signed
// for a session it stored: well formed and valid, but not for this
// manager.
func otherSecret(h *harness) string {
	h.t.Helper()
	m, err := seshat.New(seshat.Options{Store: h.s, Secrets: [][]byte{[]byte("storetest-other-secret-0123456789")}})
	if err != nil {
		h.t.Fatal(err)
	}
	s := m.Open(h.ctx(), "")
	s.Set("views", 7)
	if err := s.Commit(nil); err != nil {
		h.t.Fatal(err)
	}
	return s.Token()
}

var openG8 = []testCase{
	{"through Open: stored data that cannot be decoded gives errors, never a panic", func(h *harness) {
		for _, encrypted := range []bool{false, true} {
			o := newOpener(h, encrypted)
			tok := o.start()
			key := o.handle(tok)
			s := o.open(tok)
			s.Set("other", "kept")
			s.Set("when", time.Now())
			s.Set("profile", map[string]int{"age": 3})
			s.Flash("notice", "saved")
			s.SetUser("ann")
			o.commit(s)
			// Whatever else Flash and SetUser stored (under names of
			// seshat's own) is overwritten too.
			var internal []string
			for name := range h.stored(key) {
				switch name {
				case "views", "other", "when", "profile":
				default:
					internal = append(internal, name)
				}
			}
			for _, raw := range []string{"abc", "", "s12", "99999999999999999999", "1.5", "\xff\x00", "j{", "tnot a time", "b2"} {
				set := map[string][]byte{"views": []byte(raw), "when": []byte(raw), "profile": []byte(raw)}
				for _, name := range internal {
					set[name] = []byte(raw)
				}
				h.mustCommit(key, &store.Delta{Now: time.Now(), Set: set})
				what := fmt.Sprintf("the stored value %q (encryption %v)", raw, encrypted)
				mustNotPanic(h, what, func() {
					s := o.open(tok)
					if _, err := seshat.Get[int](s, "views"); !errors.Is(err, seshat.ErrDecode) {
						h.t.Errorf("G8 broken: Get[int] of %s = %v; want seshat.ErrDecode", what, err)
					}
					if _, err := seshat.Get[time.Time](s, "when"); !errors.Is(err, seshat.ErrDecode) {
						h.t.Errorf("G8 broken: Get[time.Time] of %s = %v; want seshat.ErrDecode", what, err)
					}
					if _, err := seshat.Get[map[string]int](s, "profile"); !errors.Is(err, seshat.ErrDecode) {
						h.t.Errorf("G8 broken: Get[map[string]int] of %s = %v; want seshat.ErrDecode", what, err)
					}
					if v, err := seshat.Get[string](s, "other"); v != "kept" {
						h.t.Errorf("beside %s, the session's other value reads %q, %v", what, v, err)
					}
					if _, err := s.Keys(); err != nil {
						h.t.Errorf("Keys beside %s: %v", what, err)
					}
					if len(internal) > 0 {
						if _, err := seshat.Pop[int](s, "notice"); !errors.Is(err, seshat.ErrDecode) {
							h.t.Errorf("G8 broken: Pop of a flash stored as %s = %v; want seshat.ErrDecode", what, err)
						}
					}
					if encrypted {
						if _, err := s.User(); !errors.Is(err, seshat.ErrDecode) {
							h.t.Errorf("G8 broken: User of %s = %v; want seshat.ErrDecode", what, err)
						}
					}
					// Read-modify-writes replace what they cannot read, as
					// if it were absent (Options.OnCorrupt's default).
					if n, err := s.Incr("views", 1); err != nil || n != 1 {
						h.t.Errorf("G8 broken: Incr of %s = %d, %v; want 1", what, n, err)
					}
					if m, err := seshat.Update(s, "profile", func(m map[string]int) (map[string]int, error) {
						return map[string]int{"age": len(m) + 4}, nil
					}); err != nil || m["age"] != 4 {
						h.t.Errorf("G8 broken: Update of %s = %v, %v; want age 4", what, m, err)
					}
					if err := s.Commit(nil); err != nil {
						h.t.Errorf("Commit beside %s: %v", what, err)
					}
				})
			}
		}
	}},
}

// mustNotPanic runs f and fails the case if it panics: corrupt data is
// untrusted input.
func mustNotPanic(h *harness, what string, f func()) {
	h.t.Helper()
	defer func() {
		if p := recover(); p != nil {
			h.t.Fatalf("G8 broken: %s made seshat panic: %v", what, p)
		}
	}()
	f()
}

var openG9 = []testCase{
	{"through Open: a value beyond the session size limit fails and nothing of it is stored", func(h *harness) {
		for _, encrypted := range []bool{false, true} {
			o := newOpener(h, encrypted)
			big := strings.Repeat("x", appMaxSessionBytes+1)
			what := encryptedName(encrypted)

			s := o.open("")
			if err := s.Set("big", big); !errors.Is(err, seshat.ErrTooLarge) {
				h.t.Fatalf("G9 broken%s: Set of an oversized value in a new session = %v; want seshat.ErrTooLarge", what, err)
			}
			o.store.snapshot()
			o.commit(s)
			if calls := o.store.snapshot(); len(calls) != 0 || s.Token() != "" {
				h.t.Fatalf("G9 broken%s: a new session whose only value was refused made store calls %v, token %q", what, calls, s.Token())
			}

			tok := o.start()
			s = o.open(tok)
			seshat.Get[int](s, "views")
			if err := s.Set("big", big); !errors.Is(err, seshat.ErrTooLarge) {
				h.t.Fatalf("G9 broken%s: Set of an oversized value in a session read first = %v; want seshat.ErrTooLarge", what, err)
			}
			o.commit(s)

			// Without a read, the limit is the store's to check, at the
			// Commit, and it refuses all of it.
			s = o.open(tok)
			err := s.Set("small", "y")
			if err == nil {
				if err = s.Set("big", big); err == nil {
					err = s.Commit(nil)
				}
			}
			if !errors.Is(err, seshat.ErrTooLarge) {
				h.t.Fatalf("G9 broken%s: an oversized value without a read = %v; want seshat.ErrTooLarge at Set or Commit", what, err)
			}
			keys, err := o.open(tok).Keys()
			if err != nil || strings.Join(keys, ",") != "views" {
				h.t.Fatalf("G9 broken%s: after the refused changes the session holds %v (%v); want views only", what, keys, err)
			}
		}
	}},
}
