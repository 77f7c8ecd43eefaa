package seshat

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/seshat-go/seshat/memstore"
)

// Bad input at the HTTP edge is answered without a store call and without
// a panic.
func TestHostileCookieHeaders(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	e := newEnv(t, Options{Store: cs})
	// A real session holding a value: every hostile header below is made
	// from its cookie, so a forgery that got through would read the value.
	real := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if err := s.Set("views", 7); err != nil {
			t.Fatal(err)
		}
	}, "")).Value
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if v, err := Get[int](s, "views"); v != 7 || err != nil {
			t.Fatalf("the real cookie reads views = %d, %v; want 7", v, err)
		}
	}, real)
	cs.calls.Store(0)
	h := e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		if v, err := Get[int](s, "views"); err == nil {
			t.Errorf("a hostile request read views = %d", v)
		}
		w.Write([]byte("ok"))
	}))
	// The forged duplicate changes the real token's last character, to one
	// it is not (a fixed "A" was the real one once in 64 runs).
	last := "A"
	if real[len(real)-1] == 'A' {
		last = "B"
	}
	many := make([]string, 3000)
	for i := range many {
		many[i] = "seshat=" + strings.Repeat("A", 87)
	}
	headers := map[string][]string{
		"oversized value":         {"seshat=" + strings.Repeat("x", 64<<10)},
		"thousands of cookies":    {strings.Join(many, "; ")},
		"malformed syntax":        {"seshat", "=;;;=seshat=;", `seshat="` + real[1:], "seshat=" + real[1:] + `"`, ";;;;", "=", "seshat==="},
		"non-UTF-8":               {"seshat=\xff\xfe\xfd" + real[3:], "\xc3\x28=\xa0\xa1"},
		"control characters":      {"seshat=" + real[:10] + "\x00\x01" + real[12:], "seshat=" + real + "\x00"},
		"duplicate names, forged": {"seshat=" + real[:len(real)-1] + last + "; seshat=" + strings.Repeat("B", 87)},
		"a whole Cookie line":     {strings.Repeat("seshat=a; ", 10000)},
	}
	for name, values := range headers {
		for _, v := range values {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header["Cookie"] = []string{v}
			rec := httptest.NewRecorder()
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("%s: panic: %v", name, p)
					}
				}()
				h.ServeHTTP(rec, req)
			}()
			if rec.Code != 200 {
				t.Errorf("%s: status %d", name, rec.Code)
			}
		}
	}
	if n := cs.calls.Load(); n != 0 {
		t.Fatalf("hostile cookie headers made %d store calls; want 0", n)
	}
}
