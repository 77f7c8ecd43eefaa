package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/seshat-go/seshat/store"
)

// follower collects what an EventLog's Follow delivers.
type follower struct {
	mu     sync.Mutex
	events []store.LifecycleEvent
}

func (f *follower) add(e store.LifecycleEvent) {
	f.mu.Lock()
	f.events = append(f.events, e)
	f.mu.Unlock()
}

func (f *follower) snapshot() []store.LifecycleEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.LifecycleEvent(nil), f.events...)
}

// eventLog returns the store as store.EventLog or skips the case.
func (h *harness) eventLog() store.EventLog {
	l, ok := h.s.(store.EventLog)
	if !ok {
		h.t.Skip("store does not implement store.EventLog (optional)")
	}
	return l
}

// follow starts n followers that run until the case ends, and waits until
// each has received a warm-up event (Follow delivers what is published
// after it started, so the case's own events come after these).
func (h *harness) follow(l store.EventLog, n int) []*follower {
	h.t.Helper()
	var fs []*follower
	var wg sync.WaitGroup
	ctx := h.ctx()
	for range n {
		f := &follower{}
		fs = append(fs, f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Follow(ctx, f.add)
		}()
	}
	h.t.Cleanup(wg.Wait) // after the context ends (cleanups run last first)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := l.Publish(ctx, store.LifecycleEvent{Kind: store.Created, Handle: "warm-up", At: h.now}); err != nil {
			h.t.Fatalf("Publish: %v", err)
		}
		ready := 0
		for _, f := range fs {
			if len(f.snapshot()) > 0 {
				ready++
			}
		}
		if ready == n {
			return fs
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d of %d followers received no event within 20 s", n-ready, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// after returns the events a follower received that are not warm-ups.
func after(f *follower) []store.LifecycleEvent {
	var out []store.LifecycleEvent
	for _, e := range f.snapshot() {
		if e.Handle != "warm-up" {
			out = append(out, e)
		}
	}
	return out
}

// waitEvents waits until every follower has n events besides warm-ups,
// and a little longer so that duplicates would show.
func (h *harness) waitEvents(fs []*follower, n int) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i, f := range fs {
		for len(after(f)) < n {
			if time.Now().After(deadline) {
				h.t.Fatalf("follower %d received %d of %d events within 20 s: %+v", i, len(after(f)), n, after(f))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
}

var events = []testCase{
	{"published events reach every follower once, in order, intact", func(h *harness) {
		l := h.eventLog()
		fs := h.follow(l, 2)
		var want []store.LifecycleEvent
		for i := range 20 {
			e := store.LifecycleEvent{Kind: store.Destroyed, Reason: store.Revoked, Handle: key(), Previous: fmt.Sprint(i),
				User: "user \x00 ✓", At: h.now.Add(time.Duration(i) * time.Millisecond)}
			if i%2 == 0 {
				e = store.LifecycleEvent{Kind: store.Regenerated, Handle: key(), Previous: key(), At: e.At}
			}
			if err := l.Publish(h.ctx(), e); err != nil {
				h.t.Fatalf("Publish: %v", err)
			}
			want = append(want, e)
		}
		h.waitEvents(fs, len(want))
		for i, f := range fs {
			got := after(f)
			if len(got) != len(want) {
				h.t.Fatalf("follower %d received %d events; want %d, each once", i, len(got), len(want))
			}
			for j := range want {
				g, w := got[j], want[j]
				if g.Kind != w.Kind || g.Reason != w.Reason || g.Handle != w.Handle || g.Previous != w.Previous || g.User != w.User || !g.At.Equal(w.At) {
					h.t.Fatalf("follower %d, event %d = %+v; want %+v (in the order published, every field kept)", i, j, g, w)
				}
			}
		}
	}},
	{"concurrent sweeps report each expired user session exactly once", func(h *harness) {
		l := h.eventLog()
		fs := h.follow(l, 1)
		bound := func() string {
			k := key()
			rec := h.record(map[string]string{"a": "1"})
			rec.User = "u-exp"
			if err := h.s.Create(h.ctx(), k, rec); err != nil {
				h.t.Fatal(err)
			}
			return k
		}
		want := map[string]bool{bound(): true, bound(): true, bound(): true}
		h.create(map[string]string{"anonymous": "1"})
		destroyed := bound()
		if err := h.s.Destroy(h.ctx(), destroyed); err != nil {
			h.t.Fatal(err)
		}
		taken := bound()
		if _, err := h.s.Take(h.ctx(), taken, h.now); err != nil {
			h.t.Fatal(err)
		}
		// A sweep before any expiry, holding the sweep lock (if the store
		// has one) only briefly.
		if err := l.SweepExpired(h.ctx(), h.now, time.Millisecond); err != nil {
			h.t.Fatalf("SweepExpired before any expiry: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
		h.now = h.now.Add(31 * time.Minute) // every session idle-expired
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- l.SweepExpired(h.ctx(), h.now, 10*time.Second)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				h.t.Fatalf("SweepExpired: %v", err)
			}
		}
		// And one more after them.
		if err := l.SweepExpired(h.ctx(), h.now.Add(2*time.Minute), time.Minute); err != nil {
			h.t.Fatalf("SweepExpired: %v", err)
		}
		h.waitEvents(fs, len(want))
		got := after(fs[0])
		seen := map[string]bool{}
		for _, e := range got {
			if e.Kind != store.Expired || e.User != "u-exp" || !want[e.Handle] || seen[e.Handle] {
				h.t.Fatalf("events %+v; want one %q event for each of the 3 expired sessions of u-exp, and nothing for the destroyed, the taken and the anonymous ones", got, store.Expired)
			}
			seen[e.Handle] = true
		}
		if len(seen) != len(want) {
			h.t.Fatalf("events %+v; want one for each of %d expired sessions", got, len(want))
		}
		for k := range want {
			h.gone(k, "an expired session is no session after the sweep")
		}
	}},
	{"EraseUser removes one user's events and no other's", func(h *harness) {
		l := h.eventLog()
		er, ok := l.(store.EventEraser)
		if !ok {
			h.t.Skip("event log does not implement store.EventEraser (optional)")
		}
		ann, bob := "ann-"+key(), "bob-"+key()
		for i, u := range []string{ann, bob, ann, "", bob, ann} {
			e := store.LifecycleEvent{Kind: store.Destroyed, Reason: store.Logout, Handle: key(), User: u, At: h.now.Add(time.Duration(i) * time.Millisecond)}
			if err := l.Publish(h.ctx(), e); err != nil {
				h.t.Fatalf("Publish: %v", err)
			}
		}
		n, err := er.EraseUser(h.ctx(), ann)
		if err != nil {
			h.t.Fatalf("EraseUser: %v", err)
		}
		// A log that keeps no history (memstore hands events to the
		// followers of the moment) erases nothing, for anyone.
		kept := n != 0
		if kept && n != 3 {
			h.t.Fatalf("EraseUser(ann) removed %d events; want her 3", n)
		}
		if n, err := er.EraseUser(h.ctx(), ann); err != nil || n != 0 {
			h.t.Fatalf("EraseUser(ann) again = %d, %v; want 0, nil", n, err)
		}
		want := 0
		if kept {
			want = 2
		}
		if n, err := er.EraseUser(h.ctx(), bob); err != nil || n != want {
			h.t.Fatalf("EraseUser(bob) = %d, %v; want %d, nil (his events untouched by ann's erasure)", n, err, want)
		}
		if n, err := er.EraseUser(h.ctx(), ""); err != nil || n != 0 {
			h.t.Fatalf("EraseUser(\"\") = %d, %v; want 0, nil (events of no user are no one's)", n, err)
		}
	}},
}
