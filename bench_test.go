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
