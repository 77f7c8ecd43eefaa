package seshat_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/seshat-go/seshat"
)

// benchRequest serves one request per iteration straight into the handler
// (no network), so the numbers are the middleware's own cost.
func benchRequest(b *testing.B, h http.Handler, cookie *http.Cookie) {
	b.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func benchManager(b *testing.B) *seshat.Manager {
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("bench-secret-0123456789abcdef0123")}})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// firstCookie makes a session holding views=1 and returns its cookie.
func firstCookie(b *testing.B, h http.Handler) *http.Cookie {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	for _, c := range rec.Result().Cookies() {
		return c
	}
	b.Fatal("no cookie")
	return nil
}

func BenchmarkBareHandler(b *testing.B) {
	benchRequest(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("Number of views: 1"))
	}), nil)
}

func BenchmarkReadRequest(b *testing.B) {
	m := benchManager(b)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := seshat.Get[int](m.Session(r), "views")
		_ = n
		w.Write([]byte("Number of views: 1"))
	}))
	set := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.Session(r).Incr("views", 1) }))
	benchRequest(b, h, firstCookie(b, set))
}

func BenchmarkWriteRequest(b *testing.B) {
	m := benchManager(b)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Session(r).Incr("views", 1)
		w.Write([]byte("Number of views: 1"))
	}))
	benchRequest(b, h, firstCookie(b, h))
}

func BenchmarkSetRequest(b *testing.B) {
	m := benchManager(b)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Session(r).Set("page", "/cart")
		w.Write([]byte("ok"))
	}))
	benchRequest(b, h, firstCookie(b, h))
}

func BenchmarkNewSession(b *testing.B) {
	m := benchManager(b)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Session(r).Incr("views", 1)
	}))
	benchRequest(b, h, nil)
}

// TestRequestAllocations holds the middleware to its allocation budget
// (counts, not times, so the test is steady on a busy machine): a
// read-only request on the memory store makes at most 12 allocations
// (10 measured), an increment at most 10 (8 measured).
func TestRequestAllocations(t *testing.T) {
	if raceEnabled {
		t.Log("allocation counts are not meaningful under the race detector; run without -race")
		return
	}
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("bench-secret-0123456789abcdef0123")}})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/read" {
			n, _ := seshat.Get[int](m.Session(r), "views")
			_ = n
		} else {
			m.Session(r).Incr("views", 1)
		}
		w.Write([]byte("ok"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	for _, tt := range []struct {
		path string
		max  float64
	}{{"/read", 12}, {"/", 10}} {
		req := httptest.NewRequest("GET", tt.path, nil)
		req.AddCookie(cookies[0])
		w := &discard{h: http.Header{}}
		n := testing.AllocsPerRun(200, func() {
			clear(w.h)
			h.ServeHTTP(w, req)
		})
		if n > tt.max {
			t.Errorf("GET %s: %.0f allocations per request; budget %.0f (profile: go test -bench Request -memprofile)", tt.path, n, tt.max)
		}
		t.Logf("GET %s: %.0f allocations per request", tt.path, n)
	}
}
