package seshat

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/seshat-go/seshat/memstore"
)

// tokenApp is the view counter with login and logout, behind e's
// middleware: GET / increments views, POST /login regenerates and binds
// the user, POST /logout destroys, GET /whoami answers the user.
func tokenApp(e *env) http.Handler {
	return e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		var err error
		switch r.URL.Path {
		case "/":
			var n int64
			if n, err = s.Incr("views", 1); err == nil {
				w.Write([]byte(strconv.FormatInt(n, 10)))
			}
		case "/login":
			if err = s.Regenerate(); err == nil {
				err = s.SetUser("ann")
			}
		case "/logout":
			err = s.Destroy()
		case "/whoami":
			var u string
			u, err = s.User()
			w.Write([]byte(u))
		}
		if err != nil {
			http.Error(w, err.Error(), StatusCode(err))
		}
	}))
}

// send runs one request with headers kv (name, value, ...) through h.
func send(h http.Handler, method, path string, kv ...string) *http.Response {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func TestBearerTokenClient(t *testing.T) {
	e := newEnv(t, Options{Carrier: Carrier{Header: "Authorization"}})
	h := tokenApp(e)

	// A first request carries nothing: the answer offers both carriers.
	resp := send(h, "GET", "/")
	tok := resp.Header.Get("Session-Token")
	if c := sessionCookie(resp); c == nil || tok == "" || c.Value != tok {
		t.Fatalf("first answer: cookie %v, Session-Token %q; want both, the same token", c, tok)
	}
	if vary := resp.Header.Values("Vary"); !slices.Contains(vary, "Cookie") || !slices.Contains(vary, "Authorization") {
		t.Errorf("Vary = %q; want Cookie and Authorization", vary)
	}
	if !slices.Contains(resp.Header.Values("Cache-Control"), "no-store") {
		t.Errorf("an answer carrying a token in a header has Cache-Control %q; want no-store", resp.Header.Values("Cache-Control"))
	}

	// A client that keeps no cookies: the token in Authorization only.
	resp = send(h, "GET", "/", bearer(tok)...)
	if b := body(resp); b != "2" || len(resp.Cookies()) != 0 || resp.Header.Get("Session-Token") != "" {
		t.Fatalf("increment with the bearer token: body %q, cookies %v, Session-Token %q; want 2 and nothing to store",
			b, resp.Cookies(), resp.Header.Get("Session-Token"))
	}
	resp = send(h, "POST", "/login", bearer(tok)...)
	fresh := resp.Header.Get("Session-Token")
	if resp.StatusCode != 200 || fresh == "" || fresh == tok || len(resp.Cookies()) != 0 {
		t.Fatalf("login with the bearer token: status %d, Session-Token %q (old %q), cookies %v; want the regenerated token in the header alone",
			resp.StatusCode, fresh, tok, resp.Cookies())
	}
	if resp := send(h, "GET", "/", bearer(tok)...); resp.StatusCode != http.StatusConflict {
		t.Errorf("G4 broken: the token from before the login got status %d; want 409 (moved)", resp.StatusCode)
	}
	if b := body(send(h, "GET", "/whoami", bearer(fresh)...)); b != "ann" {
		t.Errorf("whoami with the regenerated token = %q; want ann", b)
	}
	if b := body(send(h, "GET", "/", bearer(fresh)...)); b != "3" {
		t.Errorf("views after login = %q; want 3 (Regenerate moves the data)", b)
	}
	resp = send(h, "POST", "/logout", bearer(fresh)...)
	if resp.StatusCode != 200 || len(resp.Cookies()) != 0 || resp.Header.Get("Session-Token") != "" {
		t.Errorf("logout: status %d, cookies %v, Session-Token %q; want 200 and neither", resp.StatusCode, resp.Cookies(), resp.Header.Get("Session-Token"))
	}
	if b := body(send(h, "GET", "/whoami", bearer(fresh)...)); b != "" {
		t.Fatalf("G3 broken: whoami after logout = %q", b)
	}
}

func TestCookieFirst(t *testing.T) {
	e := newEnv(t, Options{Carrier: Carrier{Header: "Authorization"}})
	h := tokenApp(e)
	a := send(h, "GET", "/").Header.Get("Session-Token")
	b := send(h, "GET", "/").Header.Get("Session-Token")
	send(h, "GET", "/", bearer(b)...) // b: 2 views, a: 1

	// Both carried: the cookie's session, and the answer in the cookie alone.
	resp := send(h, "GET", "/", append([]string{"Cookie", "seshat=" + a}, bearer(b)...)...)
	if got := body(resp); got != "2" {
		t.Fatalf("cookie a and bearer b give the count %s; want 2, a's (cookie first)", got)
	}
	resp = send(h, "POST", "/login", append([]string{"Cookie", "seshat=" + a}, bearer(b)...)...)
	if c := sessionCookie(resp); c == nil || resp.Header.Get("Session-Token") != "" {
		t.Fatalf("login by cookie: cookie %v, Session-Token %q; want the new token in the cookie alone (never in a header a script could read)",
			c, resp.Header.Get("Session-Token"))
	}
	// A forged cookie gives way to a valid bearer token.
	if got := body(send(h, "GET", "/", append([]string{"Cookie", "seshat=forged"}, bearer(b)...)...)); got != "3" {
		t.Fatalf("forged cookie and bearer b give the count %s; want 3, b's", got)
	}
}

func TestForgedBearerTokensNeverReachTheStore(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	e := newEnv(t, Options{Store: cs, Carrier: Carrier{Header: "Authorization"}})
	h := tokenApp(e)
	real := send(h, "GET", "/").Header.Get("Session-Token")
	cs.calls.Store(0)
	forged := []string{
		"x", real[:len(real)-1] + otherThan(real[len(real)-1]), otherThan(real[0]) + real[1:], real + "A", "..", "a b", "\x00", real[:43] + "." + real[:43],
		strings.Repeat("é", 44), newSigner([][]byte{[]byte("attacker-secret-0123456789abcdef")}, "seshat").sign(newID()),
	}
	read := e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, err := Get[int](e.m.Session(r), "views"); !errors.Is(err, ErrNoValue) || v != 0 {
			t.Errorf("a forged token reads views %d, %v; want a new empty session", v, err)
		}
	}))
	for _, f := range forged {
		if f == real {
			continue
		}
		resp := send(read, "GET", "/", "Authorization", "Bearer "+f)
		if len(resp.Cookies()) != 0 || resp.Header.Get("Session-Token") != "" {
			t.Errorf("forged bearer token %q: cookies %v, Session-Token %q; want neither", f, resp.Cookies(), resp.Header.Get("Session-Token"))
		}
	}
	if n := cs.calls.Load(); n != 0 {
		t.Fatalf("G7 broken: forged bearer tokens made %d store calls; want 0", n)
	}
	// The same holds for a forged token that then gets a new session.
	resp := send(h, "GET", "/", bearer(forged[1])...)
	if tok := resp.Header.Get("Session-Token"); body(resp) != "1" || tok == "" || tok == real || len(resp.Cookies()) != 0 {
		t.Fatalf("a forged token's request that stores data: body 1 under a fresh token in the header alone expected, got token %q cookies %v", tok, resp.Cookies())
	}
}

func TestBearerSchemeAndNamedHeader(t *testing.T) {
	e := newEnv(t, Options{Carrier: Carrier{Header: "Authorization"}})
	h := tokenApp(e)
	tok := send(h, "GET", "/").Header.Get("Session-Token")
	for _, v := range []string{"bearer " + tok, "BEARER   " + tok, " Bearer " + tok + " "} {
		if got := body(send(h, "GET", "/whoami", "Authorization", v)); got != "" {
			t.Fatalf("whoami: %q", got)
		}
		if resp := send(h, "GET", "/", "Authorization", v); resp.Header.Get("Session-Token") != "" {
			t.Errorf("Authorization %q was not read as the token (a new session got created)", v)
		}
	}
	for _, v := range []string{"Basic " + tok, tok, "Bearer"} {
		if resp := send(h, "GET", "/", "Authorization", v); resp.Header.Get("Session-Token") == "" || body(resp) != "1" {
			t.Errorf("Authorization %q was read as a bearer token", v)
		}
	}

	// A named header, the headers alone: no cookie is read or sent.
	e = newEnv(t, Options{Carrier: Carrier{Header: "x-session", HeaderOnly: true, ResponseHeader: "x-new-session"}})
	h = tokenApp(e)
	resp := send(h, "GET", "/")
	tok = resp.Header.Get("X-New-Session")
	if tok == "" || len(resp.Cookies()) != 0 || slices.Contains(resp.Header.Values("Vary"), "Cookie") {
		t.Fatalf("header-only first answer: token %q, cookies %v, Vary %q; want the token alone, varying on X-Session", tok, resp.Cookies(), resp.Header.Values("Vary"))
	}
	if got := body(send(h, "GET", "/", "X-Session", tok)); got != "2" {
		t.Fatalf("the named header's token counts %s; want 2", got)
	}
	resp = send(h, "GET", "/", "Cookie", "seshat="+tok)
	if body(resp) != "1" || len(resp.Cookies()) != 0 {
		t.Fatalf("header-only: a cookie was read (count %s) or one was sent (%v)", body(resp), resp.Cookies())
	}
	resp = send(h, "POST", "/logout", "X-Session", tok)
	if resp.StatusCode != 200 || len(resp.Cookies()) != 0 {
		t.Fatalf("header-only logout: status %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
}

func TestBearerTokenResignedAfterRotation(t *testing.T) {
	st := memstore.New()
	oldSecret := []byte("old-secret-0123456789abcdef0123456789")
	carrier := Carrier{Header: "Authorization"}
	old := send(tokenApp(newEnv(t, Options{Store: st, Secrets: [][]byte{oldSecret}, Carrier: carrier})), "GET", "/").Header.Get("Session-Token")
	e := newEnv(t, Options{Store: st, Secrets: [][]byte{testSecret, oldSecret}, Carrier: carrier})
	resp := send(tokenApp(e), "GET", "/", bearer(old)...)
	tok := resp.Header.Get("Session-Token")
	if body(resp) != "2" || tok == "" || tok == old || len(resp.Cookies()) != 0 {
		t.Fatalf("a token signed with an older secret: count %s, Session-Token %q (old %q), cookies %v; want the count and the re-signed token",
			body(resp), tok, old, resp.Cookies())
	}
	if _, idx, ok := e.m.signer.verify(tok); !ok || idx != 0 {
		t.Fatal("the re-signed token is not signed by the first secret")
	}
}

func TestCarrierValidation(t *testing.T) {
	ok := [][]byte{testSecret}
	for _, c := range []Carrier{
		{HeaderOnly: true},
		{ResponseHeader: "Session-Token"},
		{Header: "Bad Header"},
		{Header: "Authorization", ResponseHeader: "a:b"},
	} {
		if _, err := New(Options{Secrets: ok, Carrier: c}); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Carrier %+v: New = %v; want ErrInvalidOptions", c, err)
		}
	}
	m, err := New(Options{Secrets: ok, Carrier: Carrier{Header: "authorization"}})
	if err != nil {
		t.Fatal(err)
	}
	if c := m.opts.Carrier; c.Header != "Authorization" || c.ResponseHeader != "Session-Token" {
		t.Fatalf("Carrier defaults: %+v", c)
	}
}

// otherThan returns a token character other than c: a forgery that
// replaces one character must differ, or one token in 64 would be forged
// into itself.
func otherThan(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
