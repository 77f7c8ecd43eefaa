package redisstore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seshat-go/seshat/store"
)

// FuzzReply: what Redis returns is untrusted (anyone with write access can
// put anything under a key); reading a script's reply must never panic,
// and must fail with ErrCorrupt (ErrNotFound for an expired or moved-away
// session, ErrMoved for a fresh marker) or give a record with its
// metadata.
func FuzzReply(f *testing.F) {
	meta := formatMeta(&store.Record{Created: time.UnixMilli(1700000000000), Touched: time.UnixMilli(1700000000000),
		IdleTimeout: time.Hour, Deadline: time.UnixMilli(1800000000000)}, 5)
	f.Add("OK\x00@\x00" + meta + "\x00views\x003")
	f.Add("OK\x00@m\x001700000000001")
	f.Add("OK\x00@\x00x")
	f.Add("MOVED")
	f.Add("a")
	now := time.UnixMilli(1700000000000)
	f.Fuzz(func(t *testing.T, flat string) {
		parts := strings.Split(flat, "\x00")
		arr := make([]any, len(parts))
		for i, p := range parts {
			arr[i] = p
		}
		rec, err := reply("fuzz", arr, now)
		switch {
		case err != nil && !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrMoved):
			t.Fatalf("reply error %v is none of ErrCorrupt, ErrNotFound, ErrMoved", err)
		case err == nil && rec.Values == nil:
			t.Fatal("a parsed record has no value map")
		}
		if _, err := reply("fuzz", flat, now); err == nil {
			t.Fatal("a non-array reply parsed")
		}
	})
}

// FuzzParseURL: URLs come from configuration and environment; parsing
// must never panic, and a URL that parses names at least one address.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379/0", "rediss://u:p@h:1?pool_size=3", "redis+sentinel://a:1,b:2/m/1",
		"redis+cluster://a:1,b:2", "redis://", "redis+cluster://@,,", "redis://[::1]:1?dial_timeout=1s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseURL(s)
		if err == nil && len(o.Addrs) == 0 {
			t.Fatalf("ParseURL(%q) gave no address", s)
		}
	})
}
