package seshat

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
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
	if strings.Contains(k1, id[:16]) || k1 == k2 || len(k1) != 16 {
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

// countingStore counts calls that reach a real store.
type countingStore struct {
	store.Store
	calls atomic.Int64
}

func (c *countingStore) Load(ctx context.Context, k string, o store.LoadOptions) (*store.Record, error) {
	c.calls.Add(1)
	return c.Store.Load(ctx, k, o)
}
func (c *countingStore) Commit(ctx context.Context, k string, d *store.Delta) (store.Result, error) {
	c.calls.Add(1)
	return c.Store.Commit(ctx, k, d)
}
func (c *countingStore) Destroy(ctx context.Context, k string) error {
	c.calls.Add(1)
	return c.Store.Destroy(ctx, k)
}
func (c *countingStore) Take(ctx context.Context, k string, now time.Time) (*store.Record, error) {
	c.calls.Add(1)
	return c.Store.Take(ctx, k, now)
}

func TestTenThousandForgedCookiesNeverReachTheStore(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	e := newEnv(t, Options{Store: cs})
	h := e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		Get[int](s, "views")
		s.Incr("views", 1)
		s.Destroy()
	}))
	// A real cookie, so forgeries can start from a valid shape.
	real := e.m.signer.sign(newID())
	rng := mrand.New(mrand.NewPCG(1, 2))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
	for i := range 10000 {
		var forged string
		switch i % 4 {
		case 0: // one character changed
			b := []byte(real)
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
			forged = string(b)
		case 1: // a valid ID with a random signature
			b := make([]byte, sigLen)
			for j := range b {
				b[j] = alphabet[rng.IntN(64)]
			}
			forged = newID() + "." + string(b)
		case 2: // random bytes of random length
			b := make([]byte, rng.IntN(200))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
			forged = string(b)
		case 3: // signed with a secret we do not hold
			forged = newSigner([][]byte{[]byte(fmt.Sprintf("attacker-secret-%020d-padding", i))}, "seshat").sign(newID())
		}
		if forged == real {
			continue
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", "seshat="+forged)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if n := cs.calls.Load(); n != 0 {
		t.Fatalf("%d store calls from 10,000 forged cookies; want 0 (a bad signature must never reach the store)", n)
	}
}

// FuzzCookieValues checks the allocation-free cookie lookup against
// net/http's own parser.
func FuzzCookieValues(f *testing.F) {
	for _, line := range []string{
		"seshat=abc", "a=1; seshat=abc; b=2", `seshat="quoted"`, "seshat=one; seshat=two",
		"seshatx=1; seshat=2", " seshat = 3 ", "seshat=a;b", "seshat=bad\\value; seshat=ok",
		"seshat=", "seshat", `seshat="`, "=seshat", "seshat=a,b c",
	} {
		f.Add(line, "")
		f.Add(line, "other=1")
	}
	f.Fuzz(func(t *testing.T, line, line2 string) {
		h := http.Header{"Cookie": {line, line2}}
		var got []string
		for v := range cookieValues(h, "seshat") {
			got = append(got, v)
		}
		var want []string
		for _, c := range (&http.Request{Header: h}).CookiesNamed("seshat") {
			want = append(want, c.Value)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("cookieValues(%q, %q) = %q; net/http finds %q", line, line2, got, want)
		}
	})
}

func TestPartitionedCookie(t *testing.T) {
	if _, err := New(Options{Secrets: [][]byte{testSecret}, Partitioned: true, Secure: SecureNever}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Partitioned with SecureNever: New = %v; want ErrInvalidOptions", err)
	}
	e := newEnv(t, Options{Partitioned: true, SameSite: http.SameSiteNoneMode})
	h := tokenApp(e)
	serve := func(target, cookie string) *http.Response {
		req := httptest.NewRequest("POST", target, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
	set := serve("https://example.test/", "").Header.Get("Set-Cookie")
	for _, attr := range []string{"__Host-seshat=", "; Secure", "; Partitioned", "; SameSite=None"} {
		if !strings.Contains(set, attr) {
			t.Errorf("Set-Cookie over TLS = %q; want %q in it", set, attr)
		}
	}
	// The clearing cookie is partitioned too: only a partitioned cookie
	// replaces one.
	cookie := strings.Split(set, ";")[0]
	if clear := serve("https://example.test/logout", cookie).Header.Get("Set-Cookie"); !strings.Contains(clear, "Max-Age=0") || !strings.Contains(clear, "; Partitioned") {
		t.Errorf("clearing Set-Cookie = %q; want a partitioned Max-Age=0", clear)
	}
	// Plain HTTP (development, SecureAuto): neither Secure nor Partitioned,
	// since browsers drop a Partitioned cookie without Secure.
	if set := serve("http://example.test/", "").Header.Get("Set-Cookie"); strings.Contains(set, "Partitioned") || strings.Contains(set, "Secure") {
		t.Errorf("Set-Cookie over plain HTTP = %q; want neither Secure nor Partitioned", set)
	}
	// Off by default.
	e = newEnv(t, Options{})
	h = tokenApp(e)
	if set := serve("https://example.test/", "").Header.Get("Set-Cookie"); strings.Contains(set, "Partitioned") {
		t.Errorf("Set-Cookie without the option = %q", set)
	}
}
