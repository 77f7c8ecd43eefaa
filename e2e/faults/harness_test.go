package faults

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/seal"
)

type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(silent{}) }

// app is the demo on a Redis store.
type app struct {
	t      *testing.T
	srv    *httptest.Server
	m      *seshat.Manager
	store  *redisstore.Store
	client redis.UniversalClient
	http   *http.Client
	web    *testhttp.Client // through http
}

func newApp(t *testing.T, rawURL string, opts redisstore.Options) *app {
	return newAppWith(t, rawURL, opts, setup{})
}

// setup varies the app beyond the store's options.
type setup struct {
	// dialer, when set, is the client's Dialer (through proxies).
	dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// encrypted turns on encryption at rest.
	encrypted bool
}

func newAppWith(t *testing.T, rawURL string, opts redisstore.Options, su setup) *app {
	t.Helper()
	u, err := redisstore.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if su.dialer != nil {
		u.Dialer = su.dialer
	}
	client := redisstore.NewClient(u)
	st, err := redisstore.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	mo := seshat.Options{
		Store: st, Secrets: [][]byte{[]byte("fault-test-secret-0123456789abcdef")},
		Logger: slog.New(slog.DiscardHandler),
	}
	if su.encrypted {
		ring, err := seal.NewRing(seal.NewKey())
		if err != nil {
			t.Fatal(err)
		}
		mo.Encryption, mo.HashKey = ring, []byte("fault-test-hash-key-0123456789abcdef")
	}
	m, err := seshat.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{t: t, m: m, store: st, client: client}
	a.srv = httptest.NewServer(demo.Handler(demo.Config{Manager: m}))
	// A generous client timeout: a request that hangs past it is a failure
	// of the bounded-timeout guarantee, not of the client.
	a.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// No T: a request without an answer is a result to count, its error
	// the body.
	a.web = &testhttp.Client{URL: a.srv.URL, HTTP: a.http}
	t.Cleanup(func() {
		a.srv.Close()
		a.http.CloseIdleConnections()
		st.Close() // stops a LocalCache; the client is closed next
		client.Close()
	})
	return a
}

// do sends one request and returns status, body (the error, status 0,
// for a request without an answer), latency and the new cookie value (or
// the one sent).
func (a *app) do(method, path, cookie string, form url.Values) (int, string, time.Duration, string) {
	start := time.Now()
	code, body, set := a.web.Do(method, path, cookie, form)
	if set != "" {
		cookie = set
	}
	return code, body, time.Since(start), cookie
}

// sessions creates n sessions and returns their cookies.
func (a *app) sessions(n int) []string {
	a.t.Helper()
	var cookies []string
	for range n {
		code, body, _, c := a.do("GET", "/", "", nil)
		if code != 200 {
			a.t.Fatalf("creating a session: %d %s", code, body)
		}
		cookies = append(cookies, c)
	}
	return cookies
}

// result is one request of a load run.
type result struct {
	at      time.Time
	took    time.Duration
	code    int
	session int
}

// load sends GET / on the sessions from workers goroutines until stop is
// closed, and returns every result.
type load struct {
	mu      sync.Mutex
	results []result
	count   bool // only count: keep no results (for a soak)
	total   int
	failed  int
	stop    chan struct{}
	done    sync.WaitGroup
}

func (a *app) startLoad(cookies []string, workers int, path string) *load {
	return a.startLoadCounting(cookies, workers, path, false)
}

func (a *app) startLoadCounting(cookies []string, workers int, path string, count bool) *load {
	l := &load{stop: make(chan struct{}), count: count}
	for w := range workers {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for i := w; ; i += workers {
				select {
				case <-l.stop:
					return
				default:
				}
				s := i % len(cookies)
				code, _, took, _ := a.do("GET", path, cookies[s], nil)
				l.mu.Lock()
				l.total++
				if code != 200 {
					l.failed++
				}
				if !l.count {
					l.results = append(l.results, result{at: time.Now(), took: took, code: code, session: s})
				}
				l.mu.Unlock()
				if code != 200 {
					time.Sleep(5 * time.Millisecond) // do not spin on errors
				}
			}
		}()
	}
	return l
}

func (l *load) finish() []result {
	close(l.stop)
	l.done.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.results
}

// between returns the results that started in [from, to).
func between(rs []result, from, to time.Time) []result {
	var out []result
	for _, r := range rs {
		if start := r.at.Add(-r.took); !start.Before(from) && start.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

// settleGoroutines waits until the goroutine count is back near base.
func settleGoroutines(t *testing.T, base int) int {
	t.Helper()
	var n int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		runtime.GC()
		if n = runtime.NumGoroutine(); n <= base+5 {
			return n
		}
	}
	buf := make([]byte, 1<<20)
	t.Fatalf("goroutines leaked: %d, was %d\n%s", n, base, buf[:runtime.Stack(buf, true)])
	return n
}

func envOr(name, def string) string {
	if v, ok := syscall.Getenv(name); ok {
		return v
	}
	return def
}
