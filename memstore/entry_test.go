package memstore

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
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

// FuzzApply checks the packed form against the plain map it replaces:
// what pack stores unpacks equal, and a commit applied to packed values
// gives what the same commit gives on a map, errors included.
func FuzzApply(f *testing.F) {
	f.Add("a=1,b=two,n=41", "b=,c=3", "a,x", "n", int64(1), 0)
	f.Add("", "", "", "n", int64(-5), 0)
	f.Add("n=007", "", "", "n", int64(1), 0)
	f.Add("n=9223372036854775807", "", "", "n", int64(1), 0)
	f.Add("a=1", "b="+strings.Repeat("x", 200), "", "", int64(0), 100)
	f.Fuzz(func(t *testing.T, values, set, del, incr string, by int64, maxSize int) {
		before := parseValues(values)
		data := pack(before)
		if got := unpack(data); !maps.EqualFunc(got, before, bytesEqual) {
			t.Fatalf("pack(%q) unpacks to %q", before, got)
		}
		d := &store.Delta{Set: parseValues(set), MaxSize: maxSize}
		if del != "" {
			d.Delete = strings.Split(del, ",")
		}
		if incr != "" {
			d.Incr = &store.Incr{Name: incr, By: by}
		}
		got, gotN, gotErr := apply(data, d)
		want, wantN, wantErr := applyToMap(before, d)
		switch {
		case (gotErr == nil) != (wantErr == nil) || (wantErr != nil && !errors.Is(gotErr, errors.Unwrap(wantErr))):
			t.Fatalf("apply error %v; want %v", gotErr, wantErr)
		case gotErr != nil:
		case gotN != wantN || !maps.EqualFunc(unpack(got), want, bytesEqual) || size(got) != (&store.Record{Values: want}).Size():
			t.Fatalf("apply gives %q (%d); want %q (%d)", unpack(got), gotN, want, wantN)
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

// applyToMap is the commit as the store applied it before packing: Set and
// Delete on a map, then Incr, then the size limit.
func applyToMap(values map[string][]byte, d *store.Delta) (map[string][]byte, int64, error) {
	m := maps.Clone(values)
	size := (&store.Record{Values: values}).Size()
	for _, name := range d.Delete {
		delete(m, name)
	}
	maps.Copy(m, d.Set)
	var sum int64
	if d.Incr != nil {
		var cur int64
		if old, ok := m[d.Incr.Name]; ok {
			n, err := strconv.ParseInt(string(old), 10, 64)
			if err != nil || strconv.FormatInt(n, 10) != string(old) {
				return nil, 0, fmt.Errorf("%w", store.ErrNotInteger)
			}
			cur = n
		}
		sum = cur + d.Incr.By
		if (d.Incr.By > 0 && sum < cur) || (d.Incr.By < 0 && sum > cur) {
			return nil, 0, fmt.Errorf("%w", store.ErrNotInteger)
		}
		m[d.Incr.Name] = strconv.AppendInt(nil, sum, 10)
	}
	if newSize := (&store.Record{Values: m}).Size(); d.MaxSize > 0 && newSize > d.MaxSize && newSize > size {
		return nil, 0, fmt.Errorf("%w", store.ErrTooLarge)
	}
	return m, sum, nil
}
