package redisstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/seshat-go/seshat/store"
)

// FuzzParseRecord: what Redis returns is untrusted (anyone with write
// access can put anything under a key); decoding must never panic and
// must either fail with ErrCorrupt or give a record with its metadata.
func FuzzParseRecord(f *testing.F) {
	f.Add("@v\x001\x00@c\x001700000000000\x00@t\x001700000000000\x00@i\x001800000\x00@d\x001700086400000\x00views\x003")
	f.Add("@t\x00x")
	f.Add("a")
	f.Fuzz(func(t *testing.T, flat string) {
		parts := strings.Split(flat, "\x00")
		arr := make([]any, len(parts))
		for i, p := range parts {
			arr[i] = p
		}
		if rec, err := parseRecord("fuzz", arr); err != nil && !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("parseRecord error %v is not store.ErrCorrupt", err)
		} else if err == nil && rec.Values == nil {
			t.Fatal("a parsed record has no value map")
		}
		if _, err := parseRecord("fuzz", flat); err == nil {
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
