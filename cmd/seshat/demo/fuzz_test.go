package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

// downStore is a memstore that can be switched off: every call then fails
// with store.ErrUnavailable, as a dead Redis does.
type downStore struct {
	*memstore.Store
	down atomic.Bool
}

func (s *downStore) err() error {
	if s.down.Load() {
		return store.ErrUnavailable
	}
	return nil
}

func (s *downStore) Load(ctx context.Context, k string, o store.LoadOptions) (*store.Record, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Load(ctx, k, o)
}

func (s *downStore) Create(ctx context.Context, k string, r *store.Record) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Create(ctx, k, r)
}

func (s *downStore) Commit(ctx context.Context, k string, d *store.Delta) (store.Result, error) {
	if err := s.err(); err != nil {
		return store.Result{}, err
	}
	return s.Store.Commit(ctx, k, d)
}

func (s *downStore) Destroy(ctx context.Context, k string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Destroy(ctx, k)
}

func (s *downStore) Take(ctx context.Context, k string, now time.Time) (*store.Record, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Take(ctx, k, now)
}

func (s *downStore) UserSessions(ctx context.Context, user string, now time.Time) ([]store.SessionInfo, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.UserSessions(ctx, user, now)
}

// route is a demo route and the statuses it may answer while the store is
// up; with the store down, 503 is allowed too. 500 never is.
type route struct {
	method, path string
	allowed      []int
}

var routes = []route{
	{"GET", "/", []int{200}},
	{"GET", "/read", []int{200}},
	{"POST", "/login", []int{200, 303, 400, 408, 413}},
	{"POST", "/logout", []int{200, 303}},
	{"GET", "/whoami", []int{200, 401}},
	{"POST", "/note", []int{200, 303, 400, 408, 413}},
	{"GET", "/sessions", []int{200, 401}},
	{"POST", "/sessions/logout-others", []int{200, 303}},
	{"GET", "/healthz", []int{200}},
	{"PUT", "/note", []int{405}},
	{"GET", "/no/such/page", []int{404}},
}

// contents is what the store holds that a request could change: each
// session's user and values, by handle (times left out: a read may touch).
func contents(t *testing.T, m *seshat.Manager) string {
	t.Helper()
	ctx := context.Background()
	all := map[string]any{}
	err := m.Sessions(ctx, func(batch []seshat.SessionInfo) error {
		for _, in := range batch {
			snap, err := m.Inspect(ctx, in.Handle)
			if err != nil {
				return err
			}
			all[in.Handle] = []any{snap.User, snap.Values}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(all)
	return string(b)
}

// FuzzDemo sends form bodies, content types, cookies and headers to every
// route of the demo, through the middleware, on a store that may be down.
// No input may cause a panic or a 500, every answer is one the route may
// give, and a request answered with an error changes nothing stored.
func FuzzDemo(f *testing.F) {
	type seed struct {
		route            uint8
		contentType      string
		body             string
		cookie, headers  string
		storeDown, asWeb bool
	}
	form := "application/x-www-form-urlencoded"
	multi := "multipart/form-data; boundary=B"
	part := func(name, value string) string {
		return "--B\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n--B--\r\n"
	}
	seeds := []seed{
		{route: 0}, {route: 1}, {route: 4}, {route: 6}, {route: 8}, {route: 9}, {route: 10},
		{route: 2, contentType: form, body: "user=alice"},
		{route: 2, contentType: form, body: "user=alice", asWeb: true},
		{route: 2, contentType: multi, body: part("user", "carol")},
		{route: 2, contentType: form, body: "user=%1b%5b31mroot"},
		{route: 2, contentType: form, body: "user=bob%0Aalice"},
		{route: 2, contentType: form, body: "user=bob%0D%0Amallory"},
		{route: 2, contentType: form, body: "user=nul%00"},
		{route: 2, contentType: form, body: "user=%c2%9b31m"},
		{route: 2, contentType: form, body: "user=%e2%80%aeevil"},
		{route: 2, contentType: form, body: "user=%ff%fe"},
		{route: 2, contentType: form, body: "user=" + strings.Repeat("u", 200)},
		{route: 2, contentType: form, body: "user=%zz"},
		{route: 2, contentType: form, body: "user=a;b=c"},
		{route: 5, contentType: form, body: "text=new"},
		{route: 5, contentType: form, body: "text=" + strings.Repeat("n", 5000)},
		{route: 5, contentType: form, body: "text=%"},
		{route: 5, contentType: form, body: "text=\x00\x1b[2J"},
		{route: 5, contentType: multi, body: part("text", "multi")},
		{route: 5, contentType: multi, body: part("text", strings.Repeat("m", 5000))},
		{route: 5, contentType: multi, body: "--B\r\nContent-Disposition: form-data; name=\"text\"; filename=\"f\"\r\n\r\n" + strings.Repeat("f", 3000)},
		{route: 5, contentType: "multipart/form-data", body: part("text", "no boundary")},
		{route: 5, contentType: "multipart/form-data; boundary=\"\"", body: "--\r\n\r\n"},
		{route: 5, contentType: "multipart/form-data; boundary=" + strings.Repeat("b", 80), body: "--x"},
		{route: 5, contentType: multi, body: "--B\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nunterminated"},
		{route: 5, contentType: "multipart/form-data; boundary", body: "text=x"},
		{route: 5, contentType: "text/plain", body: "text=plain"},
		{route: 5, contentType: "", body: "text=none"},
		{route: 5, contentType: "application/x-www-form-urlencoded; charset=\x00", body: "text=x"},
		{route: 5, contentType: form, body: "text=new", storeDown: true},
		{route: 2, contentType: form, body: "user=alice", storeDown: true},
		{route: 0, storeDown: true}, {route: 3, storeDown: true}, {route: 6, storeDown: true}, {route: 7, storeDown: true}, {route: 8, storeDown: true},
		{route: 3}, {route: 7}, {route: 7, asWeb: true},
		{route: 0, cookie: "seshat=" + strings.Repeat("A", 5000)},
		{route: 4, cookie: "seshat=%zz; seshat=\x00; seshat=\"quoted\""},
		{route: 0, headers: "Accept: text/html\nX-Forwarded-Proto: https"},
		{route: 0, headers: "Accept: \x1b[31m\x00"},
		{route: 5, contentType: form, body: "text=x", headers: "Content-Length: -1\nTransfer-Encoding: chunked"},
	}
	for _, s := range seeds {
		f.Add(s.route, s.contentType, []byte(s.body), s.cookie, s.headers, s.storeDown, s.asWeb)
	}
	f.Fuzz(func(t *testing.T, ri uint8, contentType string, body []byte, cookie, headers string, storeDown, asWeb bool) {
		rt := routes[int(ri)%len(routes)]
		st := &downStore{Store: memstore.New()}
		m, err := seshat.New(seshat.Options{
			Store:           st,
			Secrets:         [][]byte{[]byte("fuzz-demo-secret-0123456789abcdef")},
			MaxSessionBytes: 2048,
			MaxBodyBytes:    4096,
		})
		if err != nil {
			t.Fatal(err)
		}
		h := demo.Handler(demo.Config{Manager: m, MaxFormBytes: 3000, Health: func(context.Context) error { return st.err() }})

		// A logged-in session with a note, and another user's session.
		var session *http.Cookie
		for _, setup := range []struct{ path, form string }{{"/login", "user=bob"}, {"/note", "text=before"}} {
			req := httptest.NewRequest("POST", setup.path, strings.NewReader(setup.form))
			req.Header.Set("Content-Type", form)
			if session != nil {
				req.AddCookie(session)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("setup %s: %d %s", setup.path, rec.Code, rec.Body)
			}
			for _, c := range rec.Result().Cookies() {
				session = c
			}
		}
		other := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"user": {"ann"}}.Encode()))
		other.Header.Set("Content-Type", form)
		h.ServeHTTP(httptest.NewRecorder(), other)
		before := contents(t, m)

		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		if contentType != "" {
			req.Header["Content-Type"] = []string{contentType}
		}
		if asWeb {
			req.Header.Set("Accept", "text/html")
		}
		for _, line := range strings.Split(headers, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				req.Header[k] = append(req.Header[k], strings.TrimSpace(v))
			}
		}
		if cookie != "" {
			req.Header["Cookie"] = append(req.Header["Cookie"], cookie)
		} else {
			req.AddCookie(session)
		}
		st.down.Store(storeDown)
		rec := httptest.NewRecorder()
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s %s panicked: %v", rt.method, rt.path, p)
				}
			}()
			h.ServeHTTP(rec, req)
		}()
		st.down.Store(false)

		code := rec.Code
		ok := code == http.StatusServiceUnavailable && storeDown
		for _, a := range rt.allowed {
			ok = ok || code == a
		}
		if !ok {
			t.Fatalf("%s %s (Content-Type %q, store down %v): %d %q; want one of %v", rt.method, rt.path, contentType, storeDown, code, rec.Body, rt.allowed)
		}
		if code >= 400 {
			if after := contents(t, m); after != before {
				t.Fatalf("%s %s answered %d but changed the store:\nbefore %s\nafter  %s", rt.method, rt.path, code, before, after)
			}
		}
	})
}
