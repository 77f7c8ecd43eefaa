package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/redisstore/redistest"
)

// runServe starts `seshat serve` with args and returns its base URL.
func runServe(t *testing.T, args ...string) (string, *bytes.Buffer) {
	t.Helper()
	base, stderr, _ := startServe(t, args...)
	return base, stderr
}

// startServe is runServe with a function that stops the server.
func startServe(t *testing.T, args ...string) (string, *bytes.Buffer, func()) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newRoot()
	var stderr bytes.Buffer
	cmd.SetErr(&stderr)
	cmd.SetArgs(append([]string{"serve", "--addr", addr}, args...))
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	base := "http://" + addr
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return base, &stderr, stop
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeMemory(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	t.Setenv("SESHAT_SECRETS", "")
	base, stderr := runServe(t)
	web := testhttp.New(t, base)
	if !strings.Contains(stderr.String(), "random secret") {
		t.Errorf("no warning about the random secret: %q", stderr.String())
	}
	_, b, c := web.Do("GET", "/", "", nil)
	_, b2, _ := web.Do("GET", "/", c, nil)
	if b != "Number of views: 1\n" || b2 != "Number of views: 2\n" {
		t.Fatalf("views: %q, %q", b, b2)
	}
	if _, m, _ := web.Do("GET", "/metrics", "", nil); !strings.Contains(m, "seshat_session_events_total") {
		t.Fatal("/metrics lacks seshat metrics")
	}
}

func TestServeRedisWithSecretsFromEnv(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("REDIS_URL", srv.URL())
	t.Setenv("SESHAT_SECRETS", "first-secret-0123456789abcdef0123,second-secret-0123456789abcdef012")
	base, stderr := runServe(t, "--idle-timeout", "10m", "--max-session-bytes", "1000")
	web := testhttp.New(t, base)
	if strings.Contains(stderr.String(), "random secret") {
		t.Errorf("warned about a random secret although SESHAT_SECRETS was set")
	}
	_, _, c := web.Do("GET", "/", "", nil)
	if _, b, _ := web.Do("GET", "/read", c, nil); b != "Number of views: 1\n" {
		t.Fatalf("read: %q", b)
	}
	if n := srv.Client(t).DBSize(t.Context()).Val(); n != 2 {
		t.Fatalf("%d keys in Redis; want the one session and its bucket's count (a creation logs no operation ID)", n)
	}
}

func TestServeRejectsShortSecret(t *testing.T) {
	cmd := newRoot()
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--secret", "short"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("serve with a short secret: %v", err)
	}
}

func TestServeWithLocalCache(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("REDIS_URL", srv.URL())
	t.Setenv("SESHAT_SECRETS", "first-secret-0123456789abcdef0123")
	base, _ := runServe(t, "--local-cache")
	web := testhttp.New(t, base)
	_, _, c := web.Do("GET", "/", "", nil)
	web.Do("GET", "/", c, nil)
	// The cache's own tracking connection is there, named, in tracking mode.
	var tracking bool
	for range 100 {
		list := srv.Client(t).ClientList(t.Context()).Val()
		if strings.Contains(list, "name=seshat-cache") && strings.Contains(list, "flags=t") {
			tracking = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !tracking {
		t.Fatal("serve --local-cache: no tracking connection named seshat-cache in CLIENT LIST")
	}
	for i := 3; i <= 5; i++ {
		web.Do("GET", "/", c, nil)
		if _, b, _ := web.Do("GET", "/read", c, nil); b != "Number of views: "+strconv.Itoa(i)+"\n" {
			t.Fatalf("read after write %d: %q (the instance's own writes are seen at once)", i, b)
		}
	}
}

// TestServeBearerClient is a client that keeps no cookies: its token goes
// out in Authorization: Bearer and comes back in Session-Token.
func TestServeBearerClient(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	t.Setenv("SESHAT_SECRETS", "")
	base, _ := runServe(t)
	do := func(method, path, token string, form url.Values) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req) // no cookie jar: cookies are never sent back
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, b := do("GET", "/", "", nil)
	tok := resp.Header.Get("Session-Token")
	if b != "Number of views: 1\n" || tok == "" {
		t.Fatalf("first visit: %q, Session-Token %q", b, tok)
	}
	if _, b := do("GET", "/", tok, nil); b != "Number of views: 2\n" {
		t.Fatalf("increment with the bearer token: %q", b)
	}
	resp, b = do("POST", "/login", tok, url.Values{"user": {"bob"}})
	fresh := resp.Header.Get("Session-Token")
	if resp.StatusCode != 200 || fresh == "" || fresh == tok || len(resp.Cookies()) != 0 {
		t.Fatalf("login: %d %q, Session-Token %q, cookies %v; want the regenerated token in the header alone", resp.StatusCode, b, fresh, resp.Cookies())
	}
	if _, b := do("GET", "/whoami", fresh, nil); b != "bob\n" {
		t.Fatalf("whoami: %q", b)
	}
	if _, b := do("GET", "/", fresh, nil); b != "Number of views: 3\n" {
		t.Fatalf("increment after login: %q", b)
	}
	if resp, _ := do("GET", "/read", tok, nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("the token from before the login: status %d; want 409", resp.StatusCode)
	}
	if resp, b := do("POST", "/logout", fresh, url.Values{}); resp.StatusCode != 200 || b != "Logged out\n" {
		t.Fatalf("logout: %d %q", resp.StatusCode, b)
	}
	if resp, _ := do("GET", "/whoami", fresh, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("whoami after logout: status %d; want 401", resp.StatusCode)
	}
}

// TestServeRefusesCrossOriginPosts: the demo's forms cannot be posted from
// another site's page.
func TestServeRefusesCrossOriginPosts(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	t.Setenv("SESHAT_SECRETS", "")
	base, _ := runServe(t, "--trusted-origin", "https://partner.example")
	post := func(path string, kv ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader("user=mallory"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(kv); i += 2 {
			req.Header.Set(kv[i], kv[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
		if code, b := post("/login", hdr...); code != http.StatusForbidden {
			t.Errorf("POST /login with %s: %s: %d %q; want 403", hdr[0], hdr[1], code, b)
		}
	}
	for _, hdr := range [][]string{{"Sec-Fetch-Site", "same-origin"}, {"Origin", base}, {"Origin", "https://partner.example"}, nil} {
		if code, b := post("/login", hdr...); code != 200 || b != "Logged in as mallory\n" {
			t.Errorf("POST /login with %q: %d %q; want 200", hdr, code, b)
		}
	}
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a cross-site GET: %d; want 200", resp.StatusCode)
	}
}
