package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/seshat-go/seshat/seal"
)

func ring(t testing.TB, keys ...[]byte) *seal.Ring {
	t.Helper()
	r, err := seal.NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSealOpen(t *testing.T) {
	r := ring(t, seal.NewKey())
	plain := []byte("sbob@example.com")
	a := r.Seal("sess1", "email", plain)
	b := r.Seal("sess1", "email", plain)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same value are equal: nonces repeat")
	}
	if bytes.Contains(a, plain) || len(a) != len(plain)+seal.Overhead {
		t.Fatalf("sealed value %q", a)
	}
	got, err := r.Open("sess1", "email", a)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestBoundToSessionAndName(t *testing.T) {
	r := ring(t, seal.NewKey())
	v := r.Seal("sess1", "role", []byte("sadmin"))
	for _, tc := range []struct{ session, name string }{{"sess2", "role"}, {"sess1", "other"}, {"sess1role", ""}, {"", "sess1role"}} {
		if _, err := r.Open(tc.session, tc.name, v); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("a value sealed for sess1/role opened as %s/%s: %v", tc.session, tc.name, err)
		}
	}
	for i := range v {
		tampered := bytes.Clone(v)
		tampered[i] ^= 0x20
		if _, err := r.Open("sess1", "role", tampered); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
}

func TestRotation(t *testing.T) {
	old, cur := seal.NewKey(), seal.NewKey()
	v := ring(t, old).Seal("s", "n", []byte("x"))
	rotated := ring(t, cur, old)
	if p, err := rotated.Open("s", "n", v); err != nil || string(p) != "x" {
		t.Fatalf("old value after rotation: %q, %v", p, err)
	}
	if rotated.Current(v) {
		t.Fatal("a value sealed under the old key reports current")
	}
	w := rotated.Seal("s", "n", []byte("y"))
	if !rotated.Current(w) {
		t.Fatal("a new value is not sealed under the first key")
	}
	if _, err := ring(t, cur).Open("s", "n", v); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("a value sealed under a retired key opened: %v", err)
	}
}

func TestBadKeys(t *testing.T) {
	k := seal.NewKey()
	for _, keys := range [][][]byte{nil, {[]byte("short")}, {k, k}} {
		if _, err := seal.NewRing(keys...); !errors.Is(err, seal.ErrKey) {
			t.Errorf("NewRing(%d keys) = %v; want ErrKey", len(keys), err)
		}
	}
	if _, err := seal.ParseKeys("not base64!"); !errors.Is(err, seal.ErrKey) {
		t.Error("ParseKeys accepted garbage")
	}
	if _, err := seal.ParseKeys("c2hvcnQ="); !errors.Is(err, seal.ErrKey) {
		t.Error("ParseKeys accepted a short key")
	}
	keys, err := seal.ParseKeys("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
	if err != nil || len(keys) != 2 || keys[0][31] != 31 {
		t.Fatalf("ParseKeys = %v, %v", keys, err)
	}
}

// FuzzOpen: stored values are untrusted; Open never panics and never
// accepts anything it did not seal.
func FuzzOpen(f *testing.F) {
	r := ring(f, bytes.Repeat([]byte{7}, 32))
	f.Add(r.Seal("s", "n", []byte("hello")), "s", "n")
	f.Add([]byte("E"), "s", "n")
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, v []byte, session, name string) {
		if p, err := r.Open(session, name, v); err == nil && !(session == "s" && name == "n" && string(p) == "hello") {
			t.Fatalf("Open accepted forged input %q for %s/%s", v, session, name)
		}
	})
}
