package store_test

import (
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seshat-go/seshat/store"
)

// FuzzApply checks store.Apply against the plainest reading of its rules:
// Delete, then Set, then Incr on a copy of the values, then the size limit
// on the sizes recomputed in full. Errors, results, values and the
// untouched-on-error promise must agree.
func FuzzApply(f *testing.F) {
	f.Add("a=1,b=two,n=41", "b=,c=3", "a,x", "n", int64(1), 0, "")
	f.Add("", "", "", "n", int64(-5), 0, "n")
	f.Add("n=007", "", "", "n", int64(1), 0, "")
	f.Add("n=9223372036854775807", "", "", "n", int64(1), 0, "")
	f.Add("a=1", "b="+strings.Repeat("x", 200), "", "", int64(0), 100, "")
	f.Add("a=1,b=2", "a=3", "a,a,b", "a", int64(2), 5, "a=1,c")
	f.Fuzz(func(t *testing.T, values, set, del, incr string, by int64, maxSize int, expect string) {
		before := parseValues(values)
		d := &store.Delta{Now: time.Unix(1000, 0), Set: parseValues(set), MaxSize: maxSize}
		if del != "" {
			d.Delete = strings.Split(del, ",")
		}
		if incr != "" {
			d.Incr = &store.Incr{Name: incr, By: by}
		}
		for e := range strings.SplitSeq(expect, ",") {
			if name, v, ok := strings.Cut(e, "="); ok {
				d.Expect = append(d.Expect, store.Expect{Name: name, Value: []byte(v)})
			} else if e != "" {
				d.Expect = append(d.Expect, store.Expect{Name: e, Absent: true})
			}
		}
		rec := &store.Record{Values: maps.Clone(before), Touched: time.Unix(999, 0), IdleTimeout: time.Hour, Deadline: time.Unix(5000, 0)}
		res, err := store.Apply(rec, d)
		want, wantN, wantErr := naive(before, d)
		switch {
		case (err == nil) != (wantErr == nil) || (wantErr != nil && !errors.Is(err, wantErr)):
			t.Fatalf("Apply error %v; want %v", err, wantErr)
		case err != nil:
			if !maps.EqualFunc(rec.Values, before, bytesEqual) {
				t.Fatalf("Apply failed (%v) but changed the values: %q; want %q", err, rec.Values, before)
			}
			if errors.Is(err, store.ErrConflict) {
				for _, e := range d.Expect {
					v, was := before[e.Name]
					if got, found := res.Current[e.Name]; found != was || string(got) != string(v) {
						t.Fatalf("conflict: Current %q; want %q as stored (%v)", res.Current, e.Name, was)
					}
				}
			}
		case res.Value != wantN || !maps.EqualFunc(rec.Values, want, bytesEqual):
			t.Fatalf("Apply gives %q (%d); want %q (%d)", rec.Values, res.Value, want, wantN)
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

func size(m map[string][]byte) int { return (&store.Record{Values: m}).Size() }

// naive applies d to a copy of values the plainest way.
func naive(values map[string][]byte, d *store.Delta) (map[string][]byte, int64, error) {
	for _, e := range d.Expect {
		v, ok := values[e.Name]
		if e.Absent == ok || ok && string(v) != string(e.Value) {
			return nil, 0, store.ErrConflict
		}
	}
	m := maps.Clone(values)
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
				return nil, 0, store.ErrNotInteger
			}
			cur = n
		}
		sum = cur + d.Incr.By
		if (d.Incr.By > 0 && sum < cur) || (d.Incr.By < 0 && sum > cur) {
			return nil, 0, store.ErrNotInteger
		}
		m[d.Incr.Name] = []byte(strconv.FormatInt(sum, 10))
	}
	if d.MaxSize > 0 && size(m) > d.MaxSize && size(m) > size(values) {
		return nil, 0, store.ErrTooLarge
	}
	return m, sum, nil
}
