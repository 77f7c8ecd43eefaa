package testhttp

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			http.SetCookie(w, &http.Cookie{Name: "seshat", Value: "new", Path: "/"})
		case "/clear":
			http.SetCookie(w, &http.Cookie{Name: "seshat", Path: "/", MaxAge: -1})
		case "/other":
			http.SetCookie(w, &http.Cookie{Name: "connect.sid", Value: "s%3Aid.sig", Path: "/"})
		case "/redirect":
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s|%s|%s|%s", r.Method, r.URL.Path, r.Header.Get("Cookie"), r.Header.Get("Content-Type"), b)
	}))
	defer srv.Close()
	c := New(t, srv.URL)

	if code, body, set := c.Do("GET", "/", "", nil); code != 200 || body != "GET /|||" || set != "" {
		t.Errorf("GET without a cookie: %d %q %q", code, body, set)
	}
	// A cookie value goes out as is, even one a browser would not send.
	if _, body, set := c.Do("POST", "/set", "é..", url.Values{"a": {"1 2"}}); body != "POST /set|seshat=é..|application/x-www-form-urlencoded|a=1+2" || set != "new" {
		t.Errorf("form post: %q, set %q", body, set)
	}
	if _, _, set := c.Do("POST", "/clear", "old", nil); set != "" {
		t.Errorf("a cleared cookie reads %q; want \"\"", set)
	}
	if _, body, _ := c.Raw("PUT", "/raw", "", "text/plain", strings.NewReader("x=%")); body != "PUT /raw||text/plain|x=%" {
		t.Errorf("raw body: %q", body)
	}
	other := &Client{T: t, URL: srv.URL, CookieName: "connect.sid"}
	if _, body, set := other.Do("GET", "/other", "v", nil); set != "s%3Aid.sig" || !strings.Contains(body, "|connect.sid=v|") {
		t.Errorf("another cookie name: %q, set %q", body, set)
	}
	r := c.Send(c.Request("GET", "/clear", nil), "")
	if len(r.Cookies) != 1 || r.Cookies[0].MaxAge >= 0 || r.SetCookie != "" {
		t.Errorf("Send: cookies %v, SetCookie %q; want the one clearing cookie", r.Cookies, r.SetCookie)
	}

	b := NewBrowser(t, srv.URL)
	if code, _, _ := b.Do("GET", "/redirect", "", nil); code != http.StatusSeeOther {
		t.Errorf("a browser followed a redirect: %d", code)
	}
	b.Do("GET", "/set", "", nil)
	if v := b.Cookie(); v != "new" {
		t.Errorf("the jar holds %q after /set", v)
	}
	b.SetCookie("mine")
	if _, body, _ := b.Do("GET", "/", "", nil); !strings.Contains(body, "|seshat=mine|") {
		t.Errorf("the jar's cookie was not sent: %q", body)
	}

	srv.Close()
	quiet := &Client{URL: srv.URL}
	if code, body, _ := quiet.Do("GET", "/", "", nil); code != 0 || body == "" {
		t.Errorf("no answer, without T: %d %q; want 0 and the error", code, body)
	}
}
