package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// newHTTPClient is a client for the apps on 127.0.0.1: no proxy, no cookie
// jar (cookies are sent by hand), enough idle connections for the
// concurrent checks.
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
		Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// reply is one answer from an app.
type reply struct {
	status    int
	body      string
	setCookie string // "name=value" of the last Set-Cookie, as sent
	deletes   bool   // that Set-Cookie deletes the cookie (Max-Age <= 0, or an expiry in the past)
}

// get sends GET base+path with the cookie (a "name=value" string) if any.
func get(ctx context.Context, c *http.Client, base, path, cookie string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return reply{}, err
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	if sc := resp.Header.Values("Set-Cookie"); len(sc) > 0 {
		// The raw pair, so that encoded values (express's "s%3A…") go
		// back exactly as they came.
		pair, _, _ := strings.Cut(sc[len(sc)-1], ";")
		r.setCookie = strings.TrimSpace(pair)
		if c, err := http.ParseSetCookie(sc[len(sc)-1]); err == nil {
			r.deletes = c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now()))
		}
	}
	return r, nil
}

// views reads N from "Number of views: N".
func views(body string) (int64, error) {
	v, ok := strings.CutPrefix(body, "Number of views: ")
	if !ok {
		return 0, fmt.Errorf("body %q is not %q", body, "Number of views: N")
	}
	return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
}

// count GETs path and returns the view count in the body, requiring 200.
func count(ctx context.Context, c *http.Client, base, path, cookie string) (int64, reply, error) {
	r, err := get(ctx, c, base, path, cookie)
	if err != nil {
		return 0, r, fmt.Errorf("GET %s: %w", path, err)
	}
	if r.status != http.StatusOK {
		return 0, r, fmt.Errorf("GET %s: status %d: %s", path, r.status, r.body)
	}
	n, err := views(r.body)
	if err != nil {
		return 0, r, fmt.Errorf("GET %s: %w", path, err)
	}
	return n, r, nil
}

// newSession makes a session with views=1 and returns its cookie.
func newSession(ctx context.Context, c *http.Client, base string) (string, error) {
	n, r, err := count(ctx, c, base, "/", "")
	if err != nil {
		return "", err
	}
	if n != 1 {
		return "", fmt.Errorf("GET / without a cookie: views %d, want 1", n)
	}
	if r.setCookie == "" {
		return "", fmt.Errorf("GET / without a cookie: no Set-Cookie in the answer")
	}
	return r.setCookie, nil
}

// smoke checks that the app behaves as the harness expects: the counter,
// a read that changes nothing, login, whoami and logout. It keeps the
// cookie each answer sets, as a browser does. With serverSide, the cookie
// from before the logout must no longer be logged in afterwards (the
// session was destroyed on the server); without (a cookie store: nothing
// on the server to destroy), the cookie the logout deletes is dropped, as
// a browser does, and the next request must not be logged in.
func smoke(ctx context.Context, c *http.Client, base string, serverSide bool) error {
	cookie, err := newSession(ctx, c, base)
	if err != nil {
		return err
	}
	keep := func(r reply) {
		switch {
		case r.setCookie == "":
		case r.deletes:
			cookie = ""
		default:
			cookie = r.setCookie
		}
	}
	expect := func(path string, want int64) error {
		n, r, err := count(ctx, c, base, path, cookie)
		if err != nil {
			return err
		}
		keep(r)
		if n != want {
			return fmt.Errorf("GET %s: views %d, want %d", path, n, want)
		}
		return nil
	}
	for _, step := range []struct {
		path string
		want int64
	}{{"/", 2}, {"/read", 2}, {"/read", 2}, {"/", 3}} {
		if err := expect(step.path, step.want); err != nil {
			return err
		}
	}
	r, err := get(ctx, c, base, "/login?user=alice", cookie)
	if err != nil || r.status != http.StatusOK {
		return fmt.Errorf("GET /login?user=alice: %v status %d %s", err, r.status, r.body)
	}
	keep(r)
	r, err = get(ctx, c, base, "/whoami", cookie)
	if err != nil || r.status != http.StatusOK || r.body != "alice" {
		return fmt.Errorf("GET /whoami after login: %v status %d %q, want 200 \"alice\"", err, r.status, r.body)
	}
	keep(r)
	r, err = get(ctx, c, base, "/logout", cookie)
	if err != nil || r.status != http.StatusOK {
		return fmt.Errorf("GET /logout: %v status %d %s", err, r.status, r.body)
	}
	if !serverSide {
		keep(r)
	}
	r, err = get(ctx, c, base, "/whoami", cookie)
	if err != nil || r.status != http.StatusUnauthorized {
		return fmt.Errorf("GET /whoami after logout: %v status %d %q, want 401", err, r.status, r.body)
	}
	return nil
}

// lostUpdates takes a fresh session, fires n concurrent GET / with its
// cookie (all released at once, over connections opened beforehand),
// and compares the count's rise with the number of successful answers.
func lostUpdates(ctx context.Context, c *http.Client, base string, n int) (lost, failed int, err error) {
	cookie, err := newSession(ctx, c, base)
	if err != nil {
		return 0, 0, err
	}
	// Open n connections first, with reads that change nothing.
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { get(ctx, c, base, "/read", cookie) })
	}
	wg.Wait()
	before, _, err := count(ctx, c, base, "/read", cookie)
	if err != nil {
		return 0, 0, err
	}
	start := make(chan struct{})
	var ok, bad atomic.Int64
	for range n {
		wg.Go(func() {
			<-start
			r, err := get(ctx, c, base, "/", cookie)
			if err == nil && r.status == http.StatusOK {
				ok.Add(1)
			} else {
				bad.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	after, _, err := count(ctx, c, base, "/read", cookie)
	if err != nil {
		return 0, 0, err
	}
	return int(ok.Load() - (after - before)), int(bad.Load()), nil
}

// createSessions makes n sessions (views=1) through the app with a few
// parallel workers.
func createSessions(ctx context.Context, c *http.Client, base string, n, workers int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := newSession(ctx, c, base); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
