package memstore

import (
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/seshat-go/seshat/store"
)

func TestNanos(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"now, to the nanosecond", now, now},
		{"zero", time.Time{}, time.Time{}},
		{"epoch", time.Unix(0, 0), time.Unix(0, 0)},
		{"year 3000 saturates", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, math.MaxInt64)},
		{"year 1000 saturates", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, math.MinInt64+1)},
	} {
		if got := fromNanos(nanos(c.in)); !got.Equal(c.want) {
			t.Errorf("%s: %v round-trips to %v; want %v", c.name, c.in, got, c.want)
		}
	}
	for _, c := range []struct{ now, t, want int64 }{
		{10, 3, 7},
		{3, 10, -7},
		{math.MaxInt64, math.MinInt64, math.MaxInt64},
		{math.MinInt64, 1, math.MinInt64},
	} {
		if got := elapsed(c.now, c.t); got != c.want {
			t.Errorf("elapsed(%d, %d) = %d; want %d", c.now, c.t, got, c.want)
		}
	}
}

// FuzzPack: what pack stores unpacks equal, and size agrees with
// store.Record.Size.
func FuzzPack(f *testing.F) {
	f.Add("a=1,b=two,n=41")
	f.Add("")
	f.Add("=,a=" + strings.Repeat("x", 200))
	f.Fuzz(func(t *testing.T, values string) {
		before := parseValues(values)
		data := pack(before)
		if got := unpack(data); !maps.EqualFunc(got, before, bytesEqual) {
			t.Fatalf("pack(%q) unpacks to %q", before, got)
		}
		if size(data) != (&store.Record{Values: before}).Size() {
			t.Fatalf("size(pack(%q)) = %d", before, size(data))
		}
	})
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// parseValues reads "name=value,name=value".
func parseValues(s string) map[string][]byte {
	m := map[string][]byte{}
	for kv := range strings.SplitSeq(s, ",") {
		if name, value, ok := strings.Cut(kv, "="); ok {
			m[name] = []byte(value)
		}
	}
	return m
}
