package storetest

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"strings"
)

var httpG9 = []testCase{
	{"through HTTP: a value beyond the session size limit is refused with 413 and nothing of it is stored", func(h *harness) {
		a := newApp(h)
		big := url.Values{"k": {"big"}, "v": {strings.Repeat("x", appMaxSessionBytes+1)}}
		// A new session checks the limit at Set; a stored one not read
		// first, at the commit.
		if code, _, set := a.Do("POST", "/set", "", big); code != http.StatusRequestEntityTooLarge || set != "" {
			h.t.Fatalf("G9 broken: an oversized value in a new session: status %d, cookie %q; want 413 and no session", code, set)
		}
		c := a.login()
		if code, _, _ := a.Do("POST", "/set", c, big); code != http.StatusRequestEntityTooLarge {
			h.t.Fatalf("G9 broken: an oversized value: status %d; want 413", code)
		}
		if rec := h.load(a.storeKeyOf(c)); rec.Values["big"] != nil || string(rec.Values["views"]) != "1" {
			h.t.Fatalf("G9 broken: after a refused oversized value the session holds %v; want views 1 only", values(rec))
		}
	}},
	{"through HTTP: a request body beyond the body limit is refused with 413 and changes nothing", func(h *harness) {
		a := newApp(h)
		c := a.login()
		body := url.Values{"k": {"big"}, "v": {strings.Repeat("x", appMaxBodyBytes)}}
		if code, _, _ := a.Do("POST", "/set", c, body); code != http.StatusRequestEntityTooLarge {
			h.t.Fatalf("a body over the limit: status %d; want 413", code)
		}
		if rec := h.load(a.storeKeyOf(c)); rec.Values["big"] != nil {
			h.t.Fatalf("a body over the limit changed the session: %v", values(rec))
		}
	}},
}

var httpStreaming = []testCase{
	{"through HTTP: a streamed response commits the session before its first byte", func(h *harness) {
		a := newApp(h)
		for _, cookie := range []string{"", a.login()} {
			req := a.Request("GET", "/stream", nil)
			if cookie != "" {
				req.Header.Set("Cookie", "seshat="+cookie)
			}
			resp, err := a.HTTP.Do(req)
			if err != nil {
				h.t.Fatal(err)
			}
			defer resp.Body.Close()
			r := bufio.NewReader(resp.Body)
			if line, err := r.ReadString('\n'); resp.StatusCode != 200 || line != "first\n" {
				h.t.Fatalf("stream: status %d, first line %q (%v); want 200 and \"first\"", resp.StatusCode, line, err)
			}
			// The handler now waits: its change must be stored, and a new
			// session's cookie sent, already.
			if cookie == "" {
				for _, k := range resp.Cookies() {
					if k.Name == "seshat" {
						cookie = k.Value
					}
				}
				if cookie == "" {
					h.t.Fatal("a streamed response that created a session sent no cookie with its headers")
				}
			}
			if rec := h.load(a.storeKeyOf(cookie)); string(rec.Values["streamed"]) != "syes" {
				h.t.Fatalf("the first byte of a streamed response arrived before its session's change was stored: %v", values(rec))
			}
			a.release <- struct{}{}
			if rest, _ := io.ReadAll(r); string(rest) != "rest\n" {
				h.t.Fatalf("stream: the rest is %q", rest)
			}
		}
	}},
}
