package storetest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seshat-go/seshat/store"
)

// concurrency is how many goroutines hit one session at once.
const concurrency = 200

var g1 = []testCase{
	{"parallel commits of different keys all persist", func(h *harness) {
		k := h.create(map[string]string{"keep": "me"})
		var failed atomic.Int64
		parallel(concurrency, func(i int) {
			d := &store.Delta{Set: set(fmt.Sprintf("k%03d", i), strconv.Itoa(i))}
			if _, err := h.commit(k, d); err != nil {
				failed.Add(1)
				h.t.Errorf("Commit %d: %v", i, err)
			}
		})
		got := values(h.load(k))
		lost := 0
		for i := range concurrency {
			if got[fmt.Sprintf("k%03d", i)] != strconv.Itoa(i) {
				lost++
			}
		}
		if lost > 0 || got["keep"] != "me" {
			h.t.Fatalf("G1 broken: %d of %d parallel commits to different keys were lost (keep=%q): "+
				"a commit must write only its delta, or parallel requests overwrite each other", lost, concurrency, got["keep"])
		}
	}},
	{"a commit touches only the keys it names", func(h *harness) {
		k := h.create(map[string]string{"a": "1", "b": "2", "c": "3"})
		h.mustCommit(k, &store.Delta{Set: set("a", "10"), Delete: []string{"c"}})
		got := values(h.load(k))
		if len(got) != 2 || got["a"] != "10" || got["b"] != "2" {
			h.t.Fatalf("G1 broken: after setting a and deleting c, values = %v; want map[a:10 b:2]", got)
		}
	}},
	{"parallel deletes and sets of different keys all persist", func(h *harness) {
		init := map[string]string{}
		for i := range concurrency {
			init[fmt.Sprintf("d%03d", i)] = "x"
		}
		k := h.create(init)
		parallel(concurrency, func(i int) {
			d := &store.Delta{Delete: []string{fmt.Sprintf("d%03d", i)}, Set: set(fmt.Sprintf("s%03d", i), "y")}
			if _, err := h.commit(k, d); err != nil {
				h.t.Errorf("Commit %d: %v", i, err)
			}
		})
		got := values(h.load(k))
		if len(got) != concurrency {
			h.t.Fatalf("G1 broken: %d values after %d parallel delete+set commits; want %d", len(got), concurrency, concurrency)
		}
		for name := range got {
			if name[0] != 's' {
				h.t.Fatalf("G1 broken: deleted value %q came back", name)
			}
		}
	}},
}

var g2 = []testCase{
	{"parallel increments add exactly N", func(h *harness) {
		k := h.create(map[string]string{"other": "x"})
		var mu sync.Mutex
		seen := map[int64]bool{}
		parallel(concurrency, func(i int) {
			res, err := h.commit(k, &store.Delta{Incr: &store.Incr{Name: "n", By: 1}})
			if err != nil {
				h.t.Errorf("Commit incr: %v", err)
				return
			}
			mu.Lock()
			seen[res.Value] = true
			mu.Unlock()
		})
		got := values(h.load(k))["n"]
		if got != strconv.Itoa(concurrency) || len(seen) != concurrency {
			h.t.Fatalf("G2 broken: %d parallel increments stored %q and returned %d distinct values; "+
				"want %d and %d: an increment must be atomic in the store and return what it stored",
				concurrency, got, len(seen), concurrency, concurrency)
		}
	}},
	{"compare-and-set retried on conflict adds exactly N", func(h *harness) {
		k := h.create(map[string]string{"n": "0"})
		parallel(concurrency/2, func(i int) {
			cur := []byte("0")
			for attempt := 0; attempt < 10*concurrency; attempt++ {
				n, _ := strconv.Atoi(string(cur))
				d := &store.Delta{
					Expect: []store.Expect{{Name: "n", Value: cur}},
					Set:    set("n", strconv.Itoa(n+1)),
				}
				res, err := h.commit(k, d)
				if errors.Is(err, store.ErrConflict) {
					cur = res.Current["n"]
					continue
				}
				if err != nil {
					h.t.Errorf("Commit: %v", err)
				}
				return
			}
			h.t.Errorf("no progress after %d attempts", 10*concurrency)
		})
		if got := values(h.load(k))["n"]; got != strconv.Itoa(concurrency/2) {
			h.t.Fatalf("G2 broken: %d parallel compare-and-set increments stored %s: "+
				"Expect must be checked and the write done in one atomic step", concurrency/2, got)
		}
	}},
	{"50 parallel compare-and-deletes of one value: exactly one wins (a flash is popped once)", func(h *harness) {
		for round := range 10 {
			k := h.create(map[string]string{"flash": "saved", "n": "0"})
			var wins atomic.Int64
			parallel(50, func(i int) {
				d := &store.Delta{
					Expect: []store.Expect{{Name: "flash", Value: []byte("saved")}},
					Delete: []string{"flash"},
					Set:    set(fmt.Sprintf("k%d", i), "x"),
				}
				res, err := h.commit(k, d)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrConflict):
					if v, ok := res.Current["flash"]; ok {
						h.t.Errorf("a losing compare-and-delete reports the value still there: %q", v)
					}
				default:
					h.t.Errorf("Commit: %v", err)
				}
			})
			rec := values(h.load(k))
			if n := wins.Load(); n != 1 || rec["flash"] != "" || len(rec) != 2 {
				h.t.Fatalf("round %d: G2 broken: %d of 50 parallel compare-and-deletes of one value won, leaving %q; "+
					"want exactly 1, the value gone and the winner's other change kept: Pop shows a flash once", round, n, rec)
			}
		}
	}},
	{"a failed expectation applies nothing and reports current values", func(h *harness) {
		k := h.create(map[string]string{"a": "1"})
		res, err := h.commit(k, &store.Delta{
			Expect: []store.Expect{{Name: "a", Value: []byte("2")}, {Name: "b", Absent: true}},
			Set:    set("a", "3", "c", "4"),
		})
		if !errors.Is(err, store.ErrConflict) {
			h.t.Fatalf("Commit with a false expectation = %v; want store.ErrConflict", err)
		}
		if string(res.Current["a"]) != "1" || len(res.Current) != 1 {
			h.t.Fatalf("Result.Current = %v; want only a=1", values(&store.Record{Values: res.Current}))
		}
		if got := values(h.load(k)); len(got) != 1 || got["a"] != "1" {
			h.t.Fatalf("G2 broken: a conflicting commit changed the session to %v", got)
		}
		h.mustCommit(k, &store.Delta{Expect: []store.Expect{{Name: "a", Value: []byte("1")}, {Name: "b", Absent: true}}, Set: set("b", "2")})
		if got := values(h.load(k)); got["b"] != "2" {
			h.t.Fatalf("a commit whose expectations hold was not applied: %v", got)
		}
	}},
	{"increment of a non-integer fails and applies nothing", func(h *harness) {
		k := h.create(map[string]string{"s": "sfoo", "big": strconv.FormatInt(math.MaxInt64, 10), "pad": "007"})
		for _, name := range []string{"s", "big", "pad"} {
			_, err := h.commit(k, &store.Delta{Set: set("x", "1"), Incr: &store.Incr{Name: name, By: 1}})
			if !errors.Is(err, store.ErrNotInteger) {
				h.t.Errorf("Incr of %q = %v; want store.ErrNotInteger", name, err)
			}
		}
		if got := values(h.load(k)); got["x"] != "" || got["big"] != strconv.FormatInt(math.MaxInt64, 10) {
			h.t.Fatalf("a failed increment changed the session: %v", got)
		}
	}},
	{"increments are exact up to the limits of int64", func(h *harness) {
		const big = 1<<53 + 1 // not exact as a float64
		k := h.create(map[string]string{"b": strconv.FormatInt(big, 10), "m": strconv.FormatInt(math.MaxInt64, 10)})
		if res := h.mustCommit(k, &store.Delta{Incr: &store.Incr{Name: "b", By: 2}}); res.Value != big+2 {
			h.t.Errorf("Incr of %d by 2 returned %d", int64(big), res.Value)
		}
		if res := h.mustCommit(k, &store.Delta{Incr: &store.Incr{Name: "n", By: math.MinInt64}}); res.Value != math.MinInt64 {
			h.t.Errorf("Incr of a missing value by MinInt64 returned %d", res.Value)
		}
		if _, err := h.commit(k, &store.Delta{Incr: &store.Incr{Name: "m", By: 1}}); !errors.Is(err, store.ErrNotInteger) {
			h.t.Errorf("Incr past MaxInt64 = %v; want store.ErrNotInteger", err)
		}
		got := values(h.load(k))
		if got["b"] != strconv.FormatInt(big+2, 10) || got["m"] != strconv.FormatInt(math.MaxInt64, 10) ||
			got["n"] != strconv.FormatInt(math.MinInt64, 10) {
			h.t.Fatalf("stored %v", got)
		}
	}},
	{"increment applies after the delta's sets and deletes", func(h *harness) {
		k := h.create(map[string]string{"a": "5", "b": "7"})
		res := h.mustCommit(k, &store.Delta{Set: set("a", "10"), Incr: &store.Incr{Name: "a", By: -3}})
		if res.Value != 7 {
			h.t.Errorf("Incr after Set a=10 returned %d; want 7", res.Value)
		}
		res = h.mustCommit(k, &store.Delta{Delete: []string{"b"}, Incr: &store.Incr{Name: "b", By: 2}})
		if res.Value != 2 {
			h.t.Errorf("Incr after Delete b returned %d; want 2", res.Value)
		}
		if got := values(h.load(k)); got["a"] != "7" || got["b"] != "2" {
			h.t.Fatalf("values = %v; want a=7 b=2", got)
		}
	}},
}

var g3 = []testCase{
	{"a commit after destroy creates nothing", func(h *harness) {
		k := h.create(map[string]string{"user": "bob"})
		if err := h.s.Destroy(h.ctx(), k); err != nil {
			h.t.Fatalf("Destroy: %v", err)
		}
		_, err := h.commit(k, &store.Delta{Set: set("user", "bob", "more", "x")})
		if !errors.Is(err, store.ErrNotFound) {
			h.t.Fatalf("G3 broken: Commit after Destroy = %v; want store.ErrNotFound", err)
		}
		_, err = h.commit(k, &store.Delta{Incr: &store.Incr{Name: "n", By: 1}})
		if !errors.Is(err, store.ErrNotFound) {
			h.t.Fatalf("G3 broken: Incr after Destroy = %v; want store.ErrNotFound", err)
		}
		h.gone(k, "Destroy and late commits (G3: a request in flight must not bring a logged-out session back)")
	}},
	{"destroy racing parallel commits stays destroyed", func(h *harness) {
		for round := range 10 {
			k := h.create(map[string]string{"user": "bob"})
			var destroyed atomic.Bool
			var lateOK atomic.Int64
			parallel(50, func(i int) {
				if i == 25 {
					if err := h.s.Destroy(h.ctx(), k); err != nil {
						h.t.Errorf("Destroy: %v", err)
					}
					destroyed.Store(true)
					return
				}
				for j := 0; j < 5; j++ {
					after := destroyed.Load()
					_, err := h.commit(k, &store.Delta{Set: set(fmt.Sprintf("w%d", i), strconv.Itoa(j)), Incr: &store.Incr{Name: "n", By: 1}})
					if err == nil && after {
						lateOK.Add(1)
					}
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						h.t.Errorf("Commit: %v", err)
					}
				}
			})
			if lateOK.Load() > 0 {
				h.t.Fatalf("round %d: G3 broken: %d commits started after Destroy returned succeeded", round, lateOK.Load())
			}
			h.gone(k, fmt.Sprintf("round %d: Destroy racing 49 writers", round))
		}
	}},
	{"destroying a missing session is not an error", func(h *harness) {
		if err := h.s.Destroy(h.ctx(), key()); err != nil {
			h.t.Fatalf("Destroy of a missing session: %v", err)
		}
	}},
}

var g4 = []testCase{
	{"take moves everything and leaves nothing behind", func(h *harness) {
		old := h.create(map[string]string{"cart": "3 items", "n": "4"})
		rec, err := h.s.Take(h.ctx(), old, h.now)
		if err != nil {
			h.t.Fatalf("Take: %v", err)
		}
		if got := values(rec); got["cart"] != "3 items" || got["n"] != "4" {
			h.t.Fatalf("Take returned %v", got)
		}
		h.moved(old, "Take (G4: the old ID must load nothing after Regenerate)")
		if _, err := h.commit(old, &store.Delta{Set: set("x", "y")}); !errors.Is(err, store.ErrMoved) {
			h.t.Fatalf("G4 broken: Commit to the old key after Take = %v; want store.ErrMoved", err)
		}
		if _, err := h.s.Take(h.ctx(), old, h.now); !errors.Is(err, store.ErrMoved) {
			h.t.Fatalf("G4 broken: a second Take of a moved session = %v; want store.ErrMoved "+
				"(a second login racing the first must fail, not start an empty session)", err)
		}
		fresh := key()
		rec.Created, rec.Touched = h.now, h.now
		if err := h.s.Create(h.ctx(), fresh, rec); err != nil {
			h.t.Fatalf("Create under the new key: %v", err)
		}
		if got := values(h.load(fresh)); got["cart"] != "3 items" {
			h.t.Fatalf("new key holds %v", got)
		}
	}},
	{"concurrent takes of one session: exactly one moves it, the others get ErrMoved", func(h *harness) {
		for round := range 10 {
			old := h.create(map[string]string{"cart": "3 items"})
			var won, moved atomic.Int32
			parallel(30, func(int) {
				rec, err := h.s.Take(h.ctx(), old, h.now)
				switch {
				case err == nil:
					won.Add(1)
					if got := values(rec); got["cart"] != "3 items" {
						h.t.Errorf("Take returned %v", got)
					}
				case errors.Is(err, store.ErrMoved):
					moved.Add(1)
				default:
					h.t.Errorf("Take racing Take: %v; want success or store.ErrMoved", err)
				}
			})
			if won.Load() != 1 || moved.Load() != 29 {
				h.t.Fatalf("round %d: G4 broken: of 30 concurrent Takes %d moved the session and %d got ErrMoved; "+
					"want exactly 1 and 29 (a double-submitted login must leave one session, with the data)",
					round, won.Load(), moved.Load())
			}
		}
	}},
	{"commits racing take either move or fail", func(h *harness) {
		for round := range 10 {
			old := h.create(nil)
			var mu sync.Mutex
			landed := map[string]bool{}
			var taken *store.Record
			parallel(40, func(i int) {
				if i == 20 {
					rec, err := h.s.Take(h.ctx(), old, h.now)
					if err != nil {
						h.t.Errorf("Take: %v", err)
					}
					taken = rec
					return
				}
				name := fmt.Sprintf("w%d", i)
				_, err := h.commit(old, &store.Delta{Set: set(name, "x")})
				switch {
				case err == nil:
					mu.Lock()
					landed[name] = true
					mu.Unlock()
				case !errors.Is(err, store.ErrMoved):
					h.t.Errorf("Commit racing Take: %v; want success or store.ErrMoved", err)
				}
			})
			if taken == nil {
				h.t.Fatal("Take returned nothing")
			}
			for name := range landed {
				if _, ok := taken.Values[name]; !ok {
					h.t.Fatalf("round %d: G4 broken: commit %s succeeded on the old key but did not move: "+
						"a change acknowledged to a request must not be lost by a regenerate", round, name)
				}
			}
			h.moved(old, "Take racing commits")
		}
	}},
	{"the moved marker expires and destroy removes it", func(h *harness) {
		old := h.create(map[string]string{"a": "1"})
		if _, err := h.s.Take(h.ctx(), old, h.now); err != nil {
			h.t.Fatal(err)
		}
		h.moved(old, "Take")
		h.now = h.now.Add(store.MovedGrace)
		h.gone(old, "the moved marker's grace")
		other := h.create(map[string]string{"a": "1"})
		h.s.Take(h.ctx(), other, h.now)
		if err := h.s.Destroy(h.ctx(), other); err != nil {
			h.t.Fatal(err)
		}
		h.gone(other, "Destroy of a moved session")
	}},
}

var g5 = []testCase{
	{"a load before the touch interval writes nothing", func(h *harness) {
		k := h.create(map[string]string{"a": "1"})
		later := h.now.Add(10 * time.Second)
		rec, err := h.s.Load(h.ctx(), k, store.LoadOptions{Now: later, TouchAfter: time.Minute})
		if err != nil {
			h.t.Fatalf("Load: %v", err)
		}
		if !rec.Touched.Equal(h.now) {
			h.t.Fatalf("G5 broken: a load 10s after creation with a 1m touch interval moved Touched to %v", rec.Touched)
		}
		if rec2 := h.load(k); !rec2.Touched.Equal(h.now) {
			h.t.Fatalf("G5 broken: a read changed the stored Touched to %v", rec2.Touched)
		}
	}},
	{"a load after the touch interval refreshes the idle expiry", func(h *harness) {
		k := h.create(map[string]string{"a": "1"})
		later := h.now.Add(2 * time.Minute)
		rec, err := h.s.Load(h.ctx(), k, store.LoadOptions{Now: later, TouchAfter: time.Minute})
		if err != nil {
			h.t.Fatalf("Load: %v", err)
		}
		if !rec.Touched.Equal(later) {
			h.t.Fatalf("Touched = %v after a due touch at %v", rec.Touched, later)
		}
		// Alive past the original idle expiry, thanks to the touch.
		h.now = h.now.Add(31 * time.Minute)
		if got := values(h.load(k)); got["a"] != "1" {
			h.t.Fatalf("touched session lost its values: %v", got)
		}
	}},
	{"a commit refreshes the idle expiry only when the touch interval has passed", func(h *harness) {
		for _, only := range []bool{true, false} { // an increment alone, and a general commit
			d := func(now time.Time) *store.Delta {
				d := &store.Delta{Now: now, TouchAfter: time.Minute, Incr: &store.Incr{Name: "n", By: 1}}
				if !only {
					d.Set = set("a", "2")
				}
				return d
			}
			k := h.create(map[string]string{"a": "1"})
			h.mustCommit(k, d(h.now.Add(10*time.Second)))
			if rec := h.load(k); !rec.Touched.Equal(h.now) {
				h.t.Fatalf("a commit 10s after creation with a 1m touch interval moved Touched to %v", rec.Touched)
			}
			later := h.now.Add(2 * time.Minute)
			h.mustCommit(k, d(later))
			if rec := h.load(k); !rec.Touched.Equal(later) {
				h.t.Fatalf("Touched = %v after a commit with a due touch at %v", rec.Touched, later)
			}
			h.now = h.now.Add(31 * time.Minute) // past the idle expiry without the touch
			if got := values(h.load(k)); got["n"] != "2" {
				h.t.Fatalf("touched session lost its values: %v", got)
			}
			h.now = later.Add(-2 * time.Minute)
		}
	}},
	{"load returns the metadata stored", func(h *harness) {
		k := key()
		rec := h.record(map[string]string{"a": "1"})
		rec.User = "user-key-1"
		rec.Created = h.now.Add(-time.Hour)
		if err := h.s.Create(h.ctx(), k, rec); err != nil {
			h.t.Fatal(err)
		}
		got := h.load(k)
		if !got.Created.Equal(rec.Created) || !got.Touched.Equal(rec.Touched) || got.IdleTimeout != rec.IdleTimeout ||
			!got.Deadline.Equal(rec.Deadline) || got.User != rec.User {
			h.t.Fatalf("loaded %+v; stored %+v", got, rec)
		}
	}},
}

var g6 = []testCase{
	{"idle sessions expire", func(h *harness) {
		k := h.create(map[string]string{"a": "1"})
		h.now = h.now.Add(30 * time.Minute)
		h.gone(k, "the idle timeout passed (G6)")
	}},
	{"commits refresh the idle expiry", func(h *harness) {
		k := h.create(map[string]string{"a": "1"})
		h.now = h.now.Add(20 * time.Minute)
		h.mustCommit(k, &store.Delta{Set: set("b", "2")})
		h.now = h.now.Add(20 * time.Minute)
		if got := values(h.load(k)); got["b"] != "2" {
			h.t.Fatalf("session active 20 minutes ago is gone: %v", got)
		}
	}},
	{"the absolute deadline ends even an active session", func(h *harness) {
		k := key()
		rec := h.record(map[string]string{"a": "1"})
		rec.Deadline = h.now.Add(45 * time.Minute)
		if err := h.s.Create(h.ctx(), k, rec); err != nil {
			h.t.Fatal(err)
		}
		for range 4 { // active every 10 minutes
			h.now = h.now.Add(10 * time.Minute)
			h.mustCommit(k, &store.Delta{Incr: &store.Incr{Name: "n", By: 1}})
		}
		h.now = h.now.Add(5 * time.Minute)
		h.gone(k, "the absolute deadline passed despite activity (G6)")
		if _, err := h.commit(k, &store.Delta{Set: set("x", "y")}); !errors.Is(err, store.ErrNotFound) {
			h.t.Fatalf("G6 broken: Commit after the deadline = %v; want store.ErrNotFound", err)
		}
	}},
	{"expiry can be changed by a commit", func(h *harness) {
		k := h.create(map[string]string{"a": "1"})
		h.mustCommit(k, &store.Delta{IdleTimeout: 2 * time.Hour, Deadline: h.now.Add(48 * time.Hour)})
		h.now = h.now.Add(90 * time.Minute)
		rec := h.load(k)
		if rec.IdleTimeout != 2*time.Hour || !rec.Deadline.Equal(h.now.Add(-90*time.Minute+48*time.Hour)) {
			h.t.Fatalf("IdleTimeout %v, Deadline %v after the change", rec.IdleTimeout, rec.Deadline)
		}
	}},
	{"a record created already expired is not kept", func(h *harness) {
		k := key()
		rec := h.record(map[string]string{"a": "1"})
		rec.Deadline = h.now
		if err := h.s.Create(h.ctx(), k, rec); err != nil {
			h.t.Fatalf("Create of an expired record: %v", err)
		}
		h.gone(k, "creating an already expired record")
	}},
}

var g8 = []testCase{
	{"values round-trip byte for byte", func(h *harness) {
		vals := map[string]string{
			"empty":   "",
			"binary":  "\x00\xff\xfe\x01\n\r\"'\\",
			"unicode": "sa\u00eft \U0001F600",
			"long":    string(make([]byte, 20000)),
			"ключ":    "value under a non-ASCII name",
			"a b:c{}": "odd name",
		}
		k := h.create(vals)
		h.mustCommit(k, &store.Delta{Set: set("later", "\x00x\x00")})
		vals["later"] = "\x00x\x00"
		got := values(h.load(k))
		for name, want := range vals {
			if g, ok := got[name]; !ok || g != want {
				h.t.Errorf("G8 broken: value %q came back as %q (present %v)", name, g, ok)
			}
		}
		if len(got) != len(vals) {
			h.t.Errorf("got %d values, want %d", len(got), len(vals))
		}
	}},
	{"names that look like metadata are plain values", func(h *harness) {
		k := h.create(map[string]string{"user": "x", "created": "y", "_": "z"})
		got := values(h.load(k))
		if got["user"] != "x" || got["created"] != "y" || got["_"] != "z" {
			h.t.Fatalf("values = %v", got)
		}
	}},
}

var g9 = []testCase{
	{"a commit beyond the size limit stores nothing of it", func(h *harness) {
		k := h.create(map[string]string{"a": "12345"}) // 6 bytes
		_, err := h.commit(k, &store.Delta{Set: set("b", "123", "big", string(make([]byte, 100))), MaxSize: 50})
		if !errors.Is(err, store.ErrTooLarge) {
			h.t.Fatalf("G9 broken: a commit to 110 bytes with a 50-byte limit = %v; want store.ErrTooLarge", err)
		}
		if got := values(h.load(k)); len(got) != 1 {
			h.t.Fatalf("G9 broken: the refused commit left %v", got)
		}
		h.mustCommit(k, &store.Delta{Set: set("b", "123"), MaxSize: 50})
	}},
	{"the limit counts replaced, deleted and incremented values", func(h *harness) {
		k := h.create(map[string]string{"a": string(make([]byte, 40))}) // 41 bytes
		// Replacing a with a shorter value makes room.
		h.mustCommit(k, &store.Delta{Set: set("a", "1", "b", string(make([]byte, 30))), MaxSize: 50})
		// a(2)+b(31)=33; deleting b makes room for c.
		h.mustCommit(k, &store.Delta{Delete: []string{"b"}, Set: set("c", string(make([]byte, 40))), MaxSize: 50})
		// a(2)+c(41)=43; n=1000000 adds 8.
		if _, err := h.commit(k, &store.Delta{Set: set("n", "999999"), Incr: &store.Incr{Name: "n", By: 1}, MaxSize: 50}); !errors.Is(err, store.ErrTooLarge) {
			h.t.Fatalf("an increment growing the session past the limit = %v; want store.ErrTooLarge", err)
		}
		if got := values(h.load(k)); got["n"] != "" {
			h.t.Fatalf("refused increment stored n=%q", got["n"])
		}
	}},
	{"a session over a lowered limit may still shrink", func(h *harness) {
		k := h.create(map[string]string{"a": string(make([]byte, 100))})
		h.mustCommit(k, &store.Delta{Set: set("a", string(make([]byte, 80))), MaxSize: 50})
		if _, err := h.commit(k, &store.Delta{Set: set("z", "1"), MaxSize: 50}); !errors.Is(err, store.ErrTooLarge) {
			h.t.Fatalf("growing an over-limit session = %v; want store.ErrTooLarge", err)
		}
	}},
}

var contract = []testCase{
	{"create refuses a taken key", func(h *harness) {
		k := h.create(map[string]string{"a": "1"})
		if err := h.s.Create(h.ctx(), k, h.record(map[string]string{"a": "evil"})); !errors.Is(err, store.ErrExists) {
			h.t.Fatalf("Create of an existing key = %v; want store.ErrExists", err)
		}
		if got := values(h.load(k)); got["a"] != "1" {
			h.t.Fatalf("a refused Create changed the session: %v", got)
		}
	}},
	{"unknown keys load nothing and accept no commit", func(h *harness) {
		k := key()
		h.gone(k, "nothing was created")
		if _, err := h.commit(k, &store.Delta{Set: set("a", "1")}); !errors.Is(err, store.ErrNotFound) {
			h.t.Fatalf("Commit to an unknown key = %v; want store.ErrNotFound", err)
		}
		h.gone(k, "a commit to an unknown key (only Create may create)")
	}},
	{"the store keeps its own copies", func(h *harness) {
		rec := h.record(map[string]string{"a": "1"})
		k := key()
		if err := h.s.Create(h.ctx(), k, rec); err != nil {
			h.t.Fatal(err)
		}
		rec.Values["a"][0] = 'X'
		got := h.load(k)
		got.Values["a"][0] = 'Y'
		if v := values(h.load(k))["a"]; v != "1" {
			h.t.Fatalf("stored value changed through a caller's slice: %q", v)
		}
	}},
	{"user index lists live sessions oldest first", func(h *harness) {
		idx, ok := h.s.(store.UserIndex)
		if !ok {
			h.t.Skip("store does not implement store.UserIndex (optional)")
		}
		var keys []string
		for i := range 3 {
			k := key()
			rec := h.record(nil)
			rec.User = "u1"
			rec.Created = h.now.Add(time.Duration(i-3) * time.Second)
			if err := h.s.Create(h.ctx(), k, rec); err != nil {
				h.t.Fatal(err)
			}
			keys = append(keys, k)
		}
		other := h.create(map[string]string{"a": "1"})
		u := "u1"
		h.mustCommit(other, &store.Delta{User: &u})
		if err := h.s.Destroy(h.ctx(), keys[1]); err != nil {
			h.t.Fatal(err)
		}
		infos, err := idx.UserSessions(h.ctx(), "u1", h.now)
		if err != nil {
			h.t.Fatal(err)
		}
		var got []string
		for _, in := range infos {
			got = append(got, in.Key)
			if in.User != "u1" || in.ExpiresAt.IsZero() {
				h.t.Errorf("info %+v", in)
			}
		}
		want := []string{keys[0], keys[2], other}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			h.t.Fatalf("UserSessions = %v; want %v (oldest first, destroyed ones left out)", got, want)
		}
		none := ""
		h.mustCommit(other, &store.Delta{User: &none})
		h.now = h.now.Add(31 * time.Minute) // all idle-expired
		if infos, err := idx.UserSessions(h.ctx(), "u1", h.now); err != nil || len(infos) != 0 {
			h.t.Fatalf("after unbinding and expiry, UserSessions = %v, %v; want none", infos, err)
		}
	}},
	{"a user of any bytes is kept and indexed as given", func(h *harness) {
		for _, u := range []string{"nul\x00inside", "\xff\xfe not UTF-8", "line\nbreak", "ü"} {
			k := key()
			rec := h.record(map[string]string{"a": "1"})
			rec.User = u
			if err := h.s.Create(h.ctx(), k, rec); err != nil {
				h.t.Fatalf("Create with user %q: %v", u, err)
			}
			if got := h.load(k).User; got != u {
				h.t.Fatalf("user %q loaded as %q", u, got)
			}
			other := h.create(nil)
			h.mustCommit(other, &store.Delta{User: &u})
			if got := h.load(other).User; got != u {
				h.t.Fatalf("user %q committed, loaded as %q", u, got)
			}
			if idx, ok := h.s.(store.UserIndex); ok {
				infos, err := idx.UserSessions(h.ctx(), u, h.now)
				if err != nil || len(infos) != 2 || infos[0].User != u {
					h.t.Fatalf("UserSessions(%q) = %+v, %v; want both sessions", u, infos, err)
				}
			}
		}
	}},
	{"count counts live sessions", func(h *harness) {
		c, ok := h.s.(store.Counter)
		if !ok {
			h.t.Skip("store does not implement store.Counter (optional)")
		}
		var keys []string
		for range 5 {
			keys = append(keys, h.create(map[string]string{"a": "1"}))
		}
		h.s.Destroy(h.ctx(), keys[0])
		h.s.Take(h.ctx(), keys[1], h.now)
		h.s.Destroy(h.ctx(), keys[0]) // twice: counted once
		h.s.Destroy(h.ctx(), key())   // never existed
		if n, err := c.Count(h.ctx(), h.now); err != nil || n != 3 {
			h.t.Fatalf("Count = %d, %v; want 3", n, err)
		}
		// Twenty minutes on, one session is touched and one written; the
		// other expires ten minutes later.
		h.now = h.now.Add(20 * time.Minute)
		h.s.Load(h.ctx(), keys[2], store.LoadOptions{Now: h.now})
		h.mustCommit(keys[3], &store.Delta{Set: set("b", "2")})
		h.now = h.now.Add(11 * time.Minute)
		if n, err := c.Count(h.ctx(), h.now); err != nil || n != 2 {
			h.t.Fatalf("Count after one session's idle expiry = %d, %v; want 2", n, err)
		}
		h.now = h.now.Add(31 * time.Minute)
		if n, err := c.Count(h.ctx(), h.now); err != nil || n != 0 {
			h.t.Fatalf("Count after every session expired = %d, %v; want 0", n, err)
		}
	}},
	{"iteration visits every session in batches", func(h *harness) {
		it, ok := h.s.(store.Iterator)
		if !ok {
			h.t.Skip("store does not implement store.Iterator (optional)")
		}
		want := map[string]bool{}
		for range 250 {
			want[h.create(map[string]string{"a": "1"})] = true
		}
		gone := h.create(nil)
		h.s.Destroy(h.ctx(), gone)
		seen := map[string]bool{}
		batches := 0
		err := it.Scan(h.ctx(), h.now, 100, func(infos []store.SessionInfo) error {
			batches++
			for _, in := range infos {
				seen[in.Key] = true
				if in.ExpiresAt.IsZero() || in.Created.IsZero() {
					h.t.Errorf("Scan gave incomplete info %+v", in)
				}
			}
			return nil
		})
		if err != nil {
			h.t.Fatal(err)
		}
		for k := range want {
			if !seen[k] {
				h.t.Fatalf("Scan missed session %s (%d of %d seen)", k, len(seen), len(want))
			}
		}
		if seen[gone] || len(seen) != len(want) || batches < 2 {
			h.t.Fatalf("Scan saw %d keys in %d batches (destroyed one seen: %v); want exactly the %d live ones in several batches",
				len(seen), batches, seen[gone], len(want))
		}
		stop := errors.New("stop")
		if err := it.Scan(h.ctx(), h.now, 10, func([]store.SessionInfo) error { return stop }); !errors.Is(err, stop) {
			h.t.Fatalf("Scan did not return fn's error: %v", err)
		}
	}},
}
