package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/seshat-go/seshat/store"
)

// Faults is implemented by a store under test whose transport the suite
// can disturb: typically a wrapper that a store's own tests build around
// the store and a proxy in front of its server. Stores whose calls cannot
// lose a reply (an in-process store) need not implement it, and the cases
// that need it are skipped for them, saying so.
type Faults interface {
	store.Store
	// LoseReplies makes the transport lose the reply of every nth write
	// from now on, after the server applied it (the connection drops
	// before the reply arrives), but never the reply of a retry of the same
	// write: a client that retries once gets every answer. 0 stops it.
	LoseReplies(n int)
}

// lossy returns the store as Faults, replies lost every nth write until the
// subtest ends, or skips the subtest.
func (h *harness) lossy(n int) Faults {
	f, ok := h.s.(Faults)
	if !ok {
		h.t.Skip("the store's transport cannot be cut (it does not implement storetest.Faults)")
	}
	f.LoseReplies(n)
	h.t.Cleanup(func() { f.LoseReplies(0) })
	return f
}

// Exactly once: a write whose reply was lost, retried by the client, is
// applied once (G2: N increments add exactly N; G4: a take still moves the
// data).
var faultsG2 = []testCase{
	{"increments whose replies are lost count once", func(h *harness) {
		f := h.lossy(3)
		k := h.create(nil)
		for i := range 60 {
			res, err := f.Commit(h.ctx(), k, &store.Delta{Now: h.now, Incr: &store.Incr{Name: "n", By: 1}})
			if err != nil {
				h.t.Fatalf("increment %d with lost replies: %v (a retry must answer)", i, err)
			}
			if res.Value != int64(i+1) {
				h.t.Fatalf("G2 broken: increment %d answered %d; want %d (a retried write applied twice?)", i, res.Value, i+1)
			}
		}
		f.LoseReplies(0)
		if got := values(h.load(k))["n"]; got != "60" {
			h.t.Fatalf("G2 broken: 60 increments with every third reply lost stored %s; want 60", got)
		}
	}},
	{"parallel increments whose replies are lost count once", func(h *harness) {
		f := h.lossy(10)
		k := h.create(nil)
		var failed atomic.Int32
		parallel(100, func(int) {
			if _, err := f.Commit(h.ctx(), k, &store.Delta{Now: h.now, Incr: &store.Incr{Name: "n", By: 1}}); err != nil {
				failed.Add(1)
				h.t.Errorf("increment with lost replies: %v", err)
			}
		})
		f.LoseReplies(0)
		if got := values(h.load(k))["n"]; got != "100" {
			h.t.Fatalf("G2 broken: 100 parallel increments with every tenth reply lost stored %s; want 100", got)
		}
	}},
	{"compare-and-set commits whose replies are lost apply once", func(h *harness) {
		f := h.lossy(3)
		k := h.create(map[string]string{"n": "0", "log": ""})
		cur, log := "0", ""
		for i := range 30 {
			next, nlog := fmt.Sprint(i+1), log+"."
			_, err := f.Commit(h.ctx(), k, &store.Delta{Now: h.now,
				Expect: []store.Expect{{Name: "n", Value: []byte(cur)}},
				Set:    set("n", next, "log", nlog)})
			if err != nil {
				h.t.Fatalf("G2 broken: compare-and-set %d with lost replies: %v (a replay of an applied commit "+
					"must answer success, not a conflict with itself)", i, err)
			}
			cur, log = next, nlog
		}
		f.LoseReplies(0)
		if got := values(h.load(k)); got["n"] != "30" || got["log"] != log {
			h.t.Fatalf("compare-and-set chain with lost replies stored %v", got)
		}
	}},
	{"creations and destroys whose replies are lost apply once", func(h *harness) {
		f := h.lossy(3)
		var keys []string
		for i := range 30 {
			k := key()
			if err := f.Create(h.ctx(), k, h.record(map[string]string{"i": fmt.Sprint(i)})); err != nil {
				h.t.Fatalf("create %d with lost replies: %v (a replay of an applied create must answer success)", i, err)
			}
			keys = append(keys, k)
		}
		for _, k := range keys[:10] {
			if err := f.Destroy(h.ctx(), k); err != nil {
				h.t.Fatalf("destroy with lost replies: %v", err)
			}
		}
		f.LoseReplies(0)
		for i, k := range keys {
			if i < 10 {
				h.gone(k, "Destroy with lost replies")
			} else if got := values(h.load(k))["i"]; got != fmt.Sprint(i) {
				h.t.Fatalf("session %d holds %q", i, got)
			}
		}
		if c, ok := h.s.(store.Counter); ok {
			if n, err := c.Count(h.ctx(), h.now); err != nil || n != 20 {
				h.t.Fatalf("after 30 creations and 10 destroys with lost replies the store counts %d (%v); want 20", n, err)
			}
		}
	}},
}

var faultsG4 = []testCase{
	{"a take whose reply is lost still moves the data", func(h *harness) {
		f := h.lossy(2)
		for i := range 20 {
			k := h.create(map[string]string{"cart": fmt.Sprint(i)})
			rec, err := f.Take(h.ctx(), k, h.now)
			if err != nil {
				h.t.Fatalf("G4 broken: take %d with lost replies: %v (a replayed take must answer what it took, "+
					"or the login goes on with an empty session)", i, err)
			}
			if got := values(rec)["cart"]; got != fmt.Sprint(i) {
				h.t.Fatalf("G4 broken: take %d with lost replies returned cart %q", i, got)
			}
		}
	}},
	{"parallel takes with lost replies: exactly one moves the session", func(h *harness) {
		f := h.lossy(4)
		for round := range 5 {
			k := h.create(map[string]string{"cart": "x"})
			var mu sync.Mutex
			won := 0
			parallel(10, func(int) {
				rec, err := f.Take(h.ctx(), k, h.now)
				switch {
				case err == nil && values(rec)["cart"] == "x":
					mu.Lock()
					won++
					mu.Unlock()
				case err != nil && !errors.Is(err, store.ErrMoved):
					h.t.Errorf("take: %v", err)
				}
			})
			if won != 1 {
				h.t.Fatalf("round %d: G4 broken: %d of 10 parallel takes with lost replies moved the session; want 1", round, won)
			}
		}
	}},
}
