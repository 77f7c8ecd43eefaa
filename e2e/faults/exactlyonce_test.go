package faults

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
)

// Exactly once across dropped connections: the demo on Redis through
// proxies that let a script reach Redis and then drop the connection
// before the reply comes back. go-redis retries the script on a new
// connection; the store's operation IDs make the replay answer what the
// first run did.

func TestExactlyOnceStandalone(t *testing.T) {
	srv := redistest.Start(t)
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			exactlyOnce(t, srv.URL(), []string{srv.Addr()}, encrypted)
		})
	}
}

func TestExactlyOnceCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			exactlyOnce(t, c.URL(), c.Addrs(), encrypted)
		})
	}
}

func exactlyOnce(t *testing.T, rawURL string, addrs []string, encrypted bool) {
	ps := redistest.StartProxies(t, addrs...)
	a := newAppWith(t, rawURL, redisstore.Options{Prefix: fmt.Sprintf("eo%v:", encrypted)},
		setup{dialer: ps.Dialer(), encrypted: encrypted})
	views := func(body string) string { return strings.TrimSpace(strings.TrimPrefix(body, "Number of views: ")) }

	// 200 increments, every 10th script's reply dropped after Redis ran it.
	_, _, _, c := a.do("GET", "/", "", nil)
	ps.CutReplies(redistest.EveryNth(10, "evalsha", "eval"))
	for i := 2; i <= 201; i++ {
		code, body, _, _ := a.do("GET", "/", c, nil)
		if code != 200 || views(body) != fmt.Sprint(i) {
			t.Fatalf("increment %d through dropped replies: %d %q; want 200 and %d views", i-1, code, body, i)
		}
	}
	ps.CutReplies(nil)
	if _, body, _, _ := a.do("GET", "/read", c, nil); views(body) != "201" {
		t.Fatalf("G2 broken: after 1 + 200 increments with every 10th reply dropped the count is %s; want 201", views(body))
	}
	incrCuts := ps.Cuts()

	// 40 logins, every 5th script's reply dropped: each visitor has 2
	// views, logs in, and must be logged in with the views intact.
	ps.CutReplies(redistest.EveryNth(5, "evalsha", "eval"))
	for i := range 40 {
		_, _, _, c := a.do("GET", "/", "", nil)
		a.do("GET", "/", c, nil)
		user := fmt.Sprintf("user%d", i)
		code, body, _, nc := a.do("POST", "/login", c, url.Values{"user": {user}})
		if code != 200 || nc == c {
			t.Fatalf("login %d through dropped replies: %d %q (cookie changed: %v)", i, code, body, nc != c)
		}
		if code, body, _, _ := a.do("GET", "/whoami", nc, nil); code != 200 || strings.TrimSpace(body) != user {
			t.Fatalf("login %d answered OK but whoami says %d %q", i, code, body)
		}
		if _, body, _, _ := a.do("GET", "/read", nc, nil); views(body) != "2" {
			t.Fatalf("G4 broken: login %d answered OK but the session holds %s views; want 2 (the visitor's data)", i, views(body))
		}
	}
	ps.CutReplies(nil)
	loginCuts := ps.Cuts() - incrCuts

	// Revocations through dropped replies: every revoked user is logged
	// out, and the others stay logged in.
	ps.CutReplies(redistest.EveryNth(3, "evalsha", "eval"))
	for i := range 10 {
		if _, err := a.m.RevokeUser(t.Context(), fmt.Sprintf("user%d", i)); err != nil {
			t.Fatalf("RevokeUser through dropped replies: %v", err)
		}
	}
	ps.CutReplies(nil)
	for i := range 40 {
		sessions, err := a.m.UserSessions(t.Context(), fmt.Sprintf("user%d", i))
		if err != nil || (i < 10) != (len(sessions) == 0) {
			t.Fatalf("user%d after 10 revocations through dropped replies: %d sessions (%v)", i, len(sessions), err)
		}
	}
	revokeCuts := ps.Cuts() - incrCuts - loginCuts

	// 100 parallel increments on one session, every 10th first try dropped.
	_, _, _, c = a.do("GET", "/", "", nil)
	ps.CutReplies(redistest.FirstTries(10, "evalsha", "eval"))
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, body, _, _ := a.do("GET", "/", c, nil); code != 200 {
				t.Errorf("parallel increment: %d %q", code, body)
			}
		}()
	}
	wg.Wait()
	ps.CutReplies(nil)
	if _, body, _, _ := a.do("GET", "/read", c, nil); views(body) != "101" {
		t.Fatalf("G2 broken: 1 + 100 parallel increments with dropped replies counted %s; want 101", views(body))
	}
	t.Logf("encrypted=%v: 200 increments, 40 logins and 10 revocations, 100 parallel increments; replies dropped after Redis ran the script: %d, %d, %d; none counted twice, every login kept its data",
		encrypted, incrCuts, loginCuts+revokeCuts, ps.Cuts()-incrCuts-loginCuts-revokeCuts)
}
