package storetest

// The cases of RunOpen about a session's life: Destroy (G3), Regenerate
// (G4) and expiry (G6).

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/store"
)

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
