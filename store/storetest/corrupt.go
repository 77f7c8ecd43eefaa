package storetest

import (
	"time"

	"github.com/seshat-go/seshat/store"
)

// G8 on every store: an increment on a stored value that cannot be decoded
// (written by another program, or sealed under a key no longer known)
// replaces it by default, as if it were absent, keeps the session's other
// values, and answers 200 — never a 500 and never an error about Lua or
// the store's own encoding.
var corruptG8 = []testCase{
	{"an increment on a value that cannot be decoded replaces it, keeping the rest", func(h *harness) {
		for _, encrypted := range []bool{false, true} {
			a := newAppWith(h, encrypted)
			for _, raw := range []string{"abc", "s12", "", "99999999999999999999", "1.5", "-", "garbage\x00"} {
				c := a.login()
				if code, body, _ := a.Do("POST", "/set?k=other&v=kept", c, nil); code != 200 {
					h.t.Fatalf("POST /set: %d %q", code, body)
				}
				k := a.storeKeyOf(c)
				h.mustCommit(k, &store.Delta{Now: time.Now(), Set: map[string][]byte{"views": []byte(raw)}})
				if code, body, _ := a.Do("GET", "/", c, nil); code != 200 || body != "1" {
					h.t.Fatalf("G8 broken (encryption %v): an increment on the stored value %q answered %d %q; want 200 1 (replaced, as if absent)",
						encrypted, raw, code, body)
				}
				if code, body, _ := a.Do("GET", "/read", c, nil); code != 200 || body != "1" {
					h.t.Fatalf("after the increment on %q (encryption %v): /read %d %q; want 1", raw, encrypted, code, body)
				}
				if _, ok := h.load(k).Values["other"]; !ok {
					h.t.Fatalf("G8 broken (encryption %v): the increment on a corrupt value dropped the session's other values", encrypted)
				}
			}
		}
	}},
}
