package storetest

import (
	"bytes"
	"strings"
	"time"

	"github.com/seshat-go/seshat/store"
)

// Outage is implemented by a store under test whose server the suite can
// make unreachable: typically a wrapper that a store's own tests build
// around the store and a proxy in front of its server. An in-process store
// cannot be unreachable and need not implement it; the G10 cases are then
// skipped, saying so.
type Outage interface {
	store.Store
	// Unreachable makes the server unreachable while on: commands are
	// swallowed and never answered (a hung server, a partition), so only
	// the store's own timeouts answer. Off, the server answers again.
	Unreachable(on bool)
}

// outage returns the store as Outage, reachable again when the subtest
// ends, or skips the subtest.
func (h *harness) outage() Outage {
	o, ok := h.s.(Outage)
	if !ok {
		h.t.Skip("the store's server cannot be made unreachable (it does not implement storetest.Outage)")
	}
	h.t.Cleanup(func() { o.Unreachable(false) })
	return o
}

// failFast bounds how long a request may wait on an unreachable store: the
// manager's StoreTimeout (1 s by default) several times over, so that only
// a request that waits for the store without bound fails the case.
const failFast = 10 * time.Second

var g10 = []testCase{
	{"an unreachable store fails requests fast with 503, and they succeed again once it answers", func(h *harness) {
		o := h.outage()
		a := outageApp(h)
		c := a.login() // views 1
		o.Unreachable(true)
		for _, req := range []struct{ name, method, path, cookie string }{
			{"an increment", "GET", "/", c},
			{"a read", "GET", "/read", c},
			{"a new visitor's first write", "GET", "/", ""},
			{"a login", "POST", "/login?user=ann", c},
		} {
			start := time.Now()
			code, body, _ := a.Do(req.method, req.path, req.cookie, nil)
			if took := time.Since(start); took > failFast {
				h.t.Fatalf("G10 broken: %s waited %v on an unreachable store; want a failure within the store timeout", req.name, took)
			}
			if code != 503 {
				h.t.Fatalf("G10 broken: %s on an unreachable store answered %d %q; want 503 (the store is down, try again)", req.name, code, body)
			}
		}
		o.Unreachable(false)
		deadline := time.Now().Add(failFast)
		for {
			code, body, _ := a.Do("GET", "/read", c, nil)
			if code == 200 {
				if body != "1" {
					h.t.Fatalf("after the outage the session holds views %s; want 1 (no request during the outage applied)", body)
				}
				break
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("G10 broken: %v after the store answers again, reads still fail (%d %q); want recovery by itself", failFast, code, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if code, body, _ := a.Do("GET", "/", c, nil); code != 200 || body != "2" {
			h.t.Fatalf("the first increment after the outage answered %d %q; want 200 2", code, body)
		}
	}},
}

// G11: what the store holds is of no use to whoever reads it. The store
// keys are keyed hashes of the session IDs (the manager makes them, and
// the suite checks that the store keeps them as given), and with
// encryption on no value is stored in plaintext, nor can a ciphertext be
// moved to another session.
var g11 = []testCase{
	{"the store never holds a session ID", func(h *harness) {
		a := newApp(h)
		c := a.login()
		id := c[:strings.IndexByte(c, '.')]
		if k := a.storeKeyOf(c); strings.Contains(k, id) {
			h.t.Fatalf("G11 broken: the store key %q contains the session ID", k)
		}
		h.gone(id, "using the session ID itself as the store key")
		it, ok := h.s.(store.Iterator)
		if !ok {
			return
		}
		seen := 0
		err := it.Scan(h.ctx(), time.Now(), 100, func(batch []store.SessionInfo) error {
			for _, s := range batch {
				seen++
				if strings.Contains(s.Key, id) || strings.Contains(s.User, id) {
					h.t.Fatalf("G11 broken: the store lists a session under %q (user %q), which contains the session ID", s.Key, s.User)
				}
			}
			return nil
		})
		if err != nil || seen == 0 {
			h.t.Fatalf("Scan: %v, %d sessions seen; want the one created", err, seen)
		}
	}},
	{"with encryption on, no value is stored in plaintext", func(h *harness) {
		a := newAppWith(h, true)
		c := a.login()
		const marker = "plaintext-marker-5f1c"
		if code, body, _ := a.Do("POST", "/set?k=secret&v="+marker, c, nil); code != 200 {
			h.t.Fatalf("POST /set: %d %q", code, body)
		}
		rec := h.load(a.storeKeyOf(c))
		if len(rec.Values) < 2 {
			h.t.Fatalf("the stored session holds %d values; want views and secret", len(rec.Values))
		}
		for name, v := range rec.Values {
			if bytes.Contains(v, []byte(marker)) || string(v) == "1" {
				h.t.Fatalf("G11 broken: with encryption on the store holds %q in plaintext under %q", v, name)
			}
		}
	}},
	{"with encryption on, a ciphertext moved to another session does not read", func(h *harness) {
		a := newAppWith(h, true)
		from, to := a.login(), a.login()
		for range 4 {
			a.Do("GET", "/", from, nil) // views 5
		}
		stolen := h.load(a.storeKeyOf(from)).Values["views"]
		h.mustCommit(a.storeKeyOf(to), &store.Delta{Now: time.Now(), Set: map[string][]byte{"views": stolen}})
		if _, body, _ := a.Do("GET", "/read", to, nil); body == "5" {
			h.t.Fatal("G11 broken: a ciphertext copied from another session was read as that session's value")
		}
	}},
}
