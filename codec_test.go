package seshat

import (
	"math"
	"reflect"
	"testing"
	"time"
)

type point struct {
	X, Y int
	Tags []string
}

type level int8
type name string

func TestCodecRoundTrip(t *testing.T) {
	when := time.Date(2026, 11, 27, 10, 30, 0, 123456789, time.FixedZone("X", 3600))
	tests := []struct {
		name string
		in   any
		get  func([]byte) (any, error)
	}{
		{"string", "héllo", func(b []byte) (any, error) { return decode[string](b) }},
		{"empty string", "", func(b []byte) (any, error) { return decode[string](b) }},
		{"int", 42, func(b []byte) (any, error) { return decode[int](b) }},
		{"negative int64", int64(math.MinInt64), func(b []byte) (any, error) { return decode[int64](b) }},
		{"int8 named", level(-7), func(b []byte) (any, error) { return decode[level](b) }},
		{"uint64 max", uint64(math.MaxUint64), func(b []byte) (any, error) { return decode[uint64](b) }},
		{"uint small", uint(7), func(b []byte) (any, error) { return decode[uint](b) }},
		{"bool true", true, func(b []byte) (any, error) { return decode[bool](b) }},
		{"bool false", false, func(b []byte) (any, error) { return decode[bool](b) }},
		{"float64", 3.25, func(b []byte) (any, error) { return decode[float64](b) }},
		{"float32", float32(1.5), func(b []byte) (any, error) { return decode[float32](b) }},
		{"bytes", []byte{0, 1, 255}, func(b []byte) (any, error) { return decode[[]byte](b) }},
		{"time", when, func(b []byte) (any, error) { return decode[time.Time](b) }},
		{"duration", 90 * time.Second, func(b []byte) (any, error) { return decode[time.Duration](b) }},
		{"named string", name("ann"), func(b []byte) (any, error) { return decode[name](b) }},
		{"struct", point{1, 2, []string{"a"}}, func(b []byte) (any, error) { return decode[point](b) }},
		{"map", map[string]int{"a": 1}, func(b []byte) (any, error) { return decode[map[string]int](b) }},
		{"slice", []int{3, 2, 1}, func(b []byte) (any, error) { return decode[[]int](b) }},
		{"pointer", &point{X: 9}, func(b []byte) (any, error) { return decode[*point](b) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encode(tt.in)
			if err != nil {
				t.Fatalf("encode(%#v): %v", tt.in, err)
			}
			got, err := tt.get(b)
			if err != nil {
				t.Fatalf("decode(%q): %v", b, err)
			}
			if gt, ok := got.(time.Time); ok {
				if !gt.Equal(when) {
					t.Fatalf("time = %v; want %v", gt, when)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.in) {
				t.Fatalf("round trip of %#v gave %#v (stored %q)", tt.in, got, b)
			}
		})
	}
}

func TestCodecIntegersAreCanonicalDecimal(t *testing.T) {
	// Stores increment integers in place (HINCRBY), so the format is fixed.
	for in, want := range map[any]string{0: "0", -12: "-12", int64(1) << 40: "1099511627776", uint8(200): "200"} {
		b, err := encode(in)
		if err != nil || string(b) != want {
			t.Errorf("encode(%v) = %q, %v; want %q", in, b, err, want)
		}
	}
}

func TestCodecIntegerWidths(t *testing.T) {
	b, _ := encode(300)
	if _, err := decode[int8](b); err == nil {
		t.Error("300 decoded into int8")
	}
	if _, err := decode[uint](mustEncode(t, -1)); err == nil {
		t.Error("-1 decoded into uint")
	}
	if v, err := decode[any](b); err != nil || v != int64(300) {
		t.Errorf("decode[any] = %#v, %v", v, err)
	}
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCodecTypeMismatch(t *testing.T) {
	tests := []struct {
		in  any
		get func([]byte) error
	}{
		{"text", func(b []byte) error { _, err := decode[int](b); return err }},
		{7, func(b []byte) error { _, err := decode[string](b); return err }},
		{true, func(b []byte) error { _, err := decode[point](b); return err }},
		{point{}, func(b []byte) error { _, err := decode[time.Time](b); return err }},
		{3.5, func(b []byte) error { _, err := decode[bool](b); return err }},
	}
	for _, tt := range tests {
		if err := tt.get(mustEncode(t, tt.in)); err == nil {
			t.Errorf("%#v decoded into the wrong type without an error", tt.in)
		}
	}
}

func TestCodecUnencodable(t *testing.T) {
	type cyclic struct{ Next *cyclic }
	c := &cyclic{}
	c.Next = c
	for _, v := range []any{make(chan int), func() {}, complex(1, 2), c, map[string]any{"f": func() {}}, nil} {
		if _, err := encode(v); err == nil {
			t.Errorf("encode(%T) succeeded; want an error", v)
		}
	}
}

func TestCodecCorruptInput(t *testing.T) {
	for _, b := range [][]byte{nil, {}, []byte("j{not json"), []byte("b2"), []byte("t yesterday"), []byte("\xff\xfe"), []byte("99999999999999999999999")} {
		if v, err := decode[int](b); err == nil {
			t.Errorf("decode(%q) into int = %v; want an error", b, v)
		}
		if v, err := decode[any](b); err == nil {
			t.Errorf("decode(%q) into any = %v; want an error", b, v)
		}
	}
}

// FuzzDecode: stored data is untrusted; decoding must never panic.
func FuzzDecode(f *testing.F) {
	for _, v := range []any{"s", 1, -1, true, 1.5, []byte("x"), time.Unix(0, 0), point{1, 2, nil}, uint64(math.MaxUint64)} {
		b, _ := encode(v)
		f.Add(b)
	}
	f.Add([]byte("j[1,2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		decode[string](b)
		decode[int](b)
		decode[int8](b)
		decode[uint16](b)
		decode[bool](b)
		decode[float32](b)
		decode[time.Time](b)
		decode[point](b)
		decode[map[string]any](b)
		decode[any](b)
	})
}
