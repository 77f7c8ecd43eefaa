package seshat

import (
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	s := newSigner([][]byte{[]byte("k1-0123456789abcdef0123456789abcdef")}, "sid")
	id := newID()
	v := s.sign(id)
	if len(v) != cookieLen {
		t.Fatalf("cookie length %d; want %d", len(v), cookieLen)
	}
	got, secret, ok := s.verify(v)
	if !ok || got != id || secret != 0 {
		t.Fatalf("verify(sign(id)) = %q, %d, %v", got, secret, ok)
	}
	// Every single-character change is refused.
	const alphabet = "ABCabc012-_."
	for i := range len(v) {
		for _, c := range alphabet {
			if byte(c) == v[i] {
				continue
			}
			tampered := v[:i] + string(c) + v[i+1:]
			if _, _, ok := s.verify(tampered); ok {
				t.Fatalf("tampered cookie %q (position %d) verified", tampered, i)
			}
		}
	}
	for _, bad := range []string{"", ".", v + "x", v[1:], strings.Repeat("A", cookieLen), id + "." + id} {
		if _, _, ok := s.verify(bad); ok {
			t.Errorf("verify(%q) succeeded", bad)
		}
	}
}

func TestSignatureBindsCookieName(t *testing.T) {
	secret := [][]byte{[]byte("k1-0123456789abcdef0123456789abcdef")}
	v := newSigner(secret, "a").sign(newID())
	if _, _, ok := newSigner(secret, "b").verify(v); ok {
		t.Fatal("a cookie signed for name a verified under name b")
	}
}

func TestSecretRotation(t *testing.T) {
	old := []byte("old-0123456789abcdef0123456789abcdef")
	cur := []byte("new-0123456789abcdef0123456789abcdef")
	id := newID()
	v := newSigner([][]byte{old}, "sid").sign(id)
	rotated := newSigner([][]byte{cur, old}, "sid")
	got, secret, ok := rotated.verify(v)
	if !ok || got != id || secret != 1 {
		t.Fatalf("old cookie after rotation: %q, secret %d, %v; want verified by secret 1", got, secret, ok)
	}
	if _, _, ok := newSigner([][]byte{cur}, "sid").verify(v); ok {
		t.Fatal("a cookie signed by a retired secret verified")
	}
}

func TestIDsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := newID()
		if len(id) != idLen || seen[id] {
			t.Fatalf("bad or repeated ID %q", id)
		}
		seen[id] = true
	}
}

func TestStoreKeyIsNotTheID(t *testing.T) {
	id := newID()
	k1, k2 := newKeyer(nil).key(id), newKeyer([]byte("other")).key(id)
	if strings.Contains(k1, id[:16]) || k1 == k2 || len(k1) != 22 {
		t.Fatalf("store keys %q, %q for ID %q", k1, k2, id)
	}
	if newKeyer(nil).key(id) != k1 {
		t.Fatal("store key is not stable")
	}
}

// FuzzVerify: cookies are untrusted; verification must never panic and
// never accept what was not signed.
func FuzzVerify(f *testing.F) {
	s := newSigner([][]byte{[]byte("k1-0123456789abcdef0123456789abcdef")}, "sid")
	f.Add(s.sign(newID()))
	f.Add("")
	f.Add(strings.Repeat("A", 43) + "." + strings.Repeat("B", 43))
	f.Fuzz(func(t *testing.T, v string) {
		id, _, ok := s.verify(v)
		if ok && s.sign(id) != v {
			t.Fatalf("verify accepted %q, which is not what sign(%q) makes", v, id)
		}
	})
}
