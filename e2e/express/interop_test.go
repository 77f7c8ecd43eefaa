package express_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/expresscompat"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/redisstore/redistest"
)

var secrets = []string{"keyboard cat but longer and newer", "the old express secret"}

// stacks are the Node packages the interop tests run against, all from one
// install (testdata/node/package.json, the packages under aliases): see
// app.js's STACK.
var stacks = []string{"express4-connect-redis7", "express5-connect-redis10", "express5-connect-redis8-ioredis"}

// nodeInstall is the one npm install of a test run.
var nodeInstall struct {
	once      sync.Once
	node, dir string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if nodeInstall.dir != "" {
		os.RemoveAll(nodeInstall.dir)
	}
	os.Exit(code)
}

// installNode installs express, express-session, connect-redis, redis and
// ioredis (testdata/node/package.json) from the npm registry into a
// temporary folder, once per test run.
func installNode(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js (Debian: apt-get install -y nodejs npm)")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm not found: install npm (Debian: apt-get install -y npm)")
	}
	nodeInstall.once.Do(func() {
		nodeInstall.node = node
		if nodeInstall.dir, nodeInstall.err = os.MkdirTemp("", "seshat-express-"); nodeInstall.err != nil {
			return
		}
		for _, f := range []string{"package.json", "app.js"} {
			b, err := os.ReadFile(filepath.Join("testdata", "node", f))
			if err != nil {
				nodeInstall.err = err
				return
			}
			os.WriteFile(filepath.Join(nodeInstall.dir, f), b, 0o644)
		}
		cmd := exec.Command(npm, "install", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = nodeInstall.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			nodeInstall.err = fmt.Errorf("npm install: %v\n%s", err, out)
		}
	})
	if nodeInstall.err != nil {
		t.Fatal(nodeInstall.err)
	}
	return nodeInstall.node, nodeInstall.dir
}

// appSettings are the Node app's session settings of most tests: a
// one-day cookie, SameSite=Lax.
var appSettings = expresscompat.Options{Secrets: secrets, Cookie: expresscompat.Cookie{MaxAge: 24 * time.Hour, SameSite: "lax"}}

// nodeSession is the SESSION of app.js for the settings o: the
// session({...}) options o was copied from (README, "Migrating from
// express-session", read backwards).
func nodeSession(o expresscompat.Options) string {
	c := o.Cookie
	cookie := map[string]any{"httpOnly": !c.NoHTTPOnly}
	if c.Path != "" {
		cookie["path"] = c.Path
	}
	if c.MaxAge > 0 {
		cookie["maxAge"] = c.MaxAge.Milliseconds()
	}
	if c.Domain != "" {
		cookie["domain"] = c.Domain
	}
	if c.Secure {
		cookie["secure"] = true
	}
	switch {
	case c.SameSite == "true":
		cookie["sameSite"] = true
	case c.SameSite != "":
		cookie["sameSite"] = c.SameSite
	}
	if c.Partitioned {
		cookie["partitioned"] = true
	}
	if c.Priority != "" {
		cookie["priority"] = c.Priority
	}
	b, _ := json.Marshal(map[string]any{"name": o.Name, "prefix": o.Prefix, "rolling": o.Rolling, "cookie": cookie})
	return string(b)
}

// startNode runs the express app on a stack with the session settings o
// and returns its base URL.
func startNode(t *testing.T, node, dir, redisURL, stack string, o expresscompat.Options) string {
	t.Helper()
	port := redistest.FreePort(t)
	cmd := exec.Command(node, "app.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "REDIS_URL="+redisURL, "SECRETS="+strings.Join(o.Secrets, ","),
		"STACK="+stack, "SESSION="+nodeSession(o))
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan struct{})
	var mu sync.Mutex
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if sc.Text() == "listening" {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the express app (%s) did not start:\n%s", stack, log.String())
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// startGo runs the same routes on seshat with expresscompat, configured
// from the Node app's settings o.
func startGo(t *testing.T, redisURL string, o expresscompat.Options) string {
	t.Helper()
	client := redisClient(t, redisURL)
	st, err := expresscompat.New(client, o)
	if err != nil {
		t.Fatal(err)
	}
	mo, err := st.ManagerOptions()
	if err != nil {
		t.Fatal(err)
	}
	mo.Logger = slog.New(slog.DiscardHandler)
	// The subject is what is stored and sent, not the store's deadline:
	// under the test command's load a 1 s deadline can pass (a failed
	// write then showed up as a stale expiry).
	mo.StoreTimeout = 15 * time.Second
	m, err := seshat.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	text := func(w http.ResponseWriter, code int, s string) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		io.WriteString(w, s)
	}
	fail := func(w http.ResponseWriter, err error) { text(w, seshat.StatusCode(err), err.Error()+"\n") }
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		if err := s.Regenerate(); err != nil {
			fail(w, err)
			return
		}
		s.SetUser(r.FormValue("user"))
		text(w, 200, "Logged in as "+r.FormValue("user")+"\n")
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		if u, err := m.Session(r).User(); err == nil && u != "" {
			text(w, 200, u+"\n")
			return
		}
		text(w, 401, "not logged in\n")
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Session(r).Destroy(); err != nil {
			fail(w, err)
			return
		}
		text(w, 200, "Logged out\n")
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		n, err := seshat.Get[int](m.Session(r), "views")
		if err != nil && !errors.Is(err, seshat.ErrNoValue) {
			fail(w, err)
			return
		}
		text(w, 200, strconv.Itoa(n)+"\n")
	})
	mux.HandleFunc("GET /incr", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.Session(r).Incr("views", 1)
		if err != nil {
			fail(w, err)
			return
		}
		text(w, 200, strconv.FormatInt(n, 10)+"\n")
	})
	ts := httptest.NewServer(m.Handler(mux))
	t.Cleanup(ts.Close)
	return ts.URL
}

// sides returns a client of the Node app and one of the Go app, failing
// t, that send and read express-session's cookie, connect.sid.
func sides(t *testing.T, node, gosrv string) (*testhttp.Client, *testhttp.Client) {
	return &testhttp.Client{T: t, URL: node, CookieName: "connect.sid"},
		&testhttp.Client{T: t, URL: gosrv, CookieName: "connect.sid"}
}

func TestSharedSessionsWithExpress(t *testing.T) {
	nodeBin, dir := installNode(t)
	srv := redistest.Start(t)
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			nodeURL := startNode(t, nodeBin, dir, srv.URL(), stack, appSettings)
			goURL := startGo(t, srv.URL(), appSettings)
			sharedSessions(t, nodeURL, goURL)
		})
	}
}

func sharedSessions(t *testing.T, nodeURL, goURL string) {

	t.Run("login on Node, Go sees the user", func(t *testing.T) {
		node, gosrv := sides(t, nodeURL, goURL)
		_, _, c := node.Do("POST", "/login", "", url.Values{"user": {"ann"}})
		if c == "" || !strings.HasPrefix(c, "s%3A") {
			t.Fatalf("express set cookie %q", c)
		}
		if code, body, _ := gosrv.Do("GET", "/whoami", c, nil); code != 200 || body != "ann\n" {
			t.Fatalf("Go whoami with Node's cookie: %d %q", code, body)
		}
	})

	t.Run("Go increments, Node sees it, and back", func(t *testing.T) {
		node, gosrv := sides(t, nodeURL, goURL)
		_, _, c := node.Do("POST", "/login", "", url.Values{"user": {"bob"}})
		for i := 1; i <= 3; i++ {
			if _, body, _ := gosrv.Do("GET", "/incr", c, nil); body != fmt.Sprint(i)+"\n" {
				t.Fatalf("Go incr %d: %q", i, body)
			}
		}
		if _, body, _ := node.Do("GET", "/count", c, nil); body != "3\n" {
			t.Fatalf("Node count after 3 Go increments: %q", body)
		}
		node.Do("GET", "/incr", c, nil)
		// Parallel Go increments are exact: each is a compare-and-set.
		var wg sync.WaitGroup
		for range 30 {
			wg.Add(1)
			go func() { defer wg.Done(); gosrv.Do("GET", "/incr", c, nil) }()
		}
		wg.Wait()
		if _, body, _ := node.Do("GET", "/count", c, nil); body != "34\n" {
			t.Fatalf("Node count after 3 + 1 + 30 parallel increments: %q", body)
		}
		if code, body, _ := node.Do("GET", "/whoami", c, nil); code != 200 || body != "bob\n" {
			t.Fatalf("Go's writes broke Node's session: %d %q", code, body)
		}
	})

	t.Run("logout on either side logs out both", func(t *testing.T) {
		node, gosrv := sides(t, nodeURL, goURL)
		_, _, c := node.Do("POST", "/login", "", url.Values{"user": {"cy"}})
		gosrv.Do("POST", "/logout", c, nil)
		for _, side := range []*testhttp.Client{node, gosrv} {
			if code, _, _ := side.Do("GET", "/whoami", c, nil); code != 401 {
				t.Fatalf("after logout on Go, %s whoami: %d", side.URL, code)
			}
		}
		_, _, c = gosrv.Do("POST", "/login", "", url.Values{"user": {"dee"}})
		if code, body, _ := node.Do("GET", "/whoami", c, nil); code != 200 || body != "dee\n" {
			t.Fatalf("login on Go, Node whoami: %d %q", code, body)
		}
		node.Do("POST", "/logout", c, nil)
		for _, side := range []*testhttp.Client{node, gosrv} {
			if code, _, _ := side.Do("GET", "/whoami", c, nil); code != 401 {
				t.Fatalf("after logout on Node, %s whoami: %d", side.URL, code)
			}
		}
	})

	t.Run("a cookie signed with the wrong secret is refused on both", func(t *testing.T) {
		node, gosrv := sides(t, nodeURL, goURL)
		_, _, c := node.Do("POST", "/login", "", url.Values{"user": {"eve"}})
		v, _ := url.QueryUnescape(c)
		id := strings.TrimPrefix(v[:strings.LastIndexByte(v, '.')], "s:")
		forged := expresscompat.Cookies("not the secret").Encode(id)
		for _, side := range []*testhttp.Client{node, gosrv} {
			if code, _, _ := side.Do("GET", "/whoami", forged, nil); code != 401 {
				t.Fatalf("%s accepted a cookie signed with the wrong secret: %d", side.URL, code)
			}
		}
		// A cookie signed with the older secret is accepted by both.
		old := expresscompat.Cookies(secrets[1]).Encode(id)
		for _, side := range []*testhttp.Client{node, gosrv} {
			if code, body, _ := side.Do("GET", "/whoami", old, nil); code != 200 || body != "eve\n" {
				t.Fatalf("%s refused a cookie signed with the older secret: %d %q", side.URL, code, body)
			}
		}
	})
}
