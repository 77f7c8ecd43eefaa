package faults

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/e2e/internal/storematrix"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/pgstore/pgtest"
)

// hangBound is how long any request may take while PostgreSQL is down
// before it counts as hung: the manager bounds each store operation by
// storeTimeout, a request makes two; the rest is slack for a noisy CI.
const hangBound = 10 * time.Second

// pgApp is the demo on a pgstore.
type pgApp struct {
	t     *testing.T
	store *pgstore.Store
	http  *http.Client
	web   *testhttp.Client
}

func newPgApp(t *testing.T, dbURL string) *pgApp {
	t.Helper()
	st, err := pgstore.Open(context.Background(), dbURL, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("fault-test-secret-0123456789abcdef")},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(demo.Handler(demo.Config{Manager: m}))
	a := &pgApp{t: t, store: st}
	// Past hangBound a request counts as hung (status 0).
	a.http = &http.Client{Timeout: hangBound, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	a.web = &testhttp.Client{URL: srv.URL, HTTP: a.http}
	t.Cleanup(func() {
		srv.Close()
		a.http.CloseIdleConnections()
		st.Close()
	})
	return a
}

// views is the count a demo page shows, -1 if it shows none.
func views(body string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(body, "Number of views: ")), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// counter is one client incrementing its own session, one request at a
// time, so that what it sent and what was acknowledged are exact.
type counter struct {
	cookie string
	sent   int64 // increments sent (GET /), answered or not
	acked  int64 // increments answered 200
	last   int64 // the count the last 200 showed
	codes  map[int]int
	slow   time.Duration // the slowest answer other than 200
	oks    []span        // when each 200 was asked for and came
}

// span is when a request started and when its answer came.
type span struct{ start, end time.Time }

// incrementLoad runs one goroutine per session, each incrementing its
// session until stop is closed.
type incrementLoad struct {
	mu       sync.Mutex
	counters []*counter
	stop     chan struct{}
	done     sync.WaitGroup
}

func (a *pgApp) startIncrements(sessions int) *incrementLoad {
	a.t.Helper()
	l := &incrementLoad{stop: make(chan struct{})}
	for range sessions {
		code, body, c := a.web.Do("GET", "/", "", nil)
		if code != 200 || views(body) != 1 {
			a.t.Fatalf("creating a session: %d %q", code, body)
		}
		l.counters = append(l.counters, &counter{cookie: c, last: 1, codes: map[int]int{}})
	}
	for _, c := range l.counters {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				start := time.Now()
				code, body, _ := a.web.Do("GET", "/", c.cookie, nil)
				took := time.Since(start)
				l.mu.Lock()
				c.sent++
				c.codes[code]++
				if code == 200 {
					c.acked++
					c.last = views(body)
					c.oks = append(c.oks, span{start, time.Now()})
				} else {
					c.slow = max(c.slow, took)
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

// waitAllOK waits until every session has had a 200 that started after
// since, and returns how long after since the last of them came.
func (l *incrementLoad) waitAllOK(t *testing.T, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var latest time.Time
		all := true
		l.mu.Lock()
		for _, c := range l.counters {
			var first time.Time
			for _, ok := range c.oks {
				if ok.end.After(since) {
					first = ok.end
					break
				}
			}
			if first.IsZero() {
				all = false
			} else if first.After(latest) {
				latest = first
			}
		}
		l.mu.Unlock()
		if all {
			return latest.Sub(since)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every session was served again within %v", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// acknowledgedBetween counts the 200s to requests that started in
// [from, to) and were answered before until.
func (l *incrementLoad) acknowledgedBetween(from, to, until time.Time) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, c := range l.counters {
		for _, ok := range c.oks {
			if !ok.start.Before(from) && ok.start.Before(to) && ok.end.Before(until) {
				n++
			}
		}
	}
	return n
}

func (l *incrementLoad) finish() {
	close(l.stop)
	l.done.Wait()
}

// tally compares what each session stores with what its client sent
// and had acknowledged (1 for the creation, then the increments), and
// returns the totals: lost counts acknowledged increments missing from a
// session, over increments stored beyond those sent. Every answer must be
// 200 or 503.
func (l *incrementLoad) tally(t *testing.T, a *pgApp) (sent, acked, stored, unavailable, lost, over int64) {
	t.Helper()
	for i, c := range l.counters {
		code, body, _ := a.web.Do("GET", "/read", c.cookie, nil)
		n := views(body)
		if code != 200 || n < 0 {
			t.Fatalf("session %d unreadable: %d %q", i, code, body)
		}
		lost += max(0, 1+c.acked-n, c.last-n)
		over += max(0, n-1-c.sent)
		for code, k := range c.codes {
			if code != 200 && code != http.StatusServiceUnavailable {
				t.Errorf("session %d: %d requests answered %d; want only 200 and 503", i, k, code)
			}
		}
		sent, acked, stored, unavailable = sent+c.sent, acked+c.acked, stored+n-1, unavailable+int64(c.codes[http.StatusServiceUnavailable])
	}
	return sent, acked, stored, unavailable, lost, over
}

func (l *incrementLoad) slowest() time.Duration {
	var d time.Duration
	for _, c := range l.counters {
		d = max(d, c.slow)
	}
	return d
}

// PostgreSQL killed (SIGKILL) under 8 clients incrementing: requests fail
// fast with 503 (none hangs), the service comes back by itself once the
// server is restarted (crash recovery), and nothing acknowledged is lost.
func TestPostgresKilledUnderLoad(t *testing.T) {
	srv, dbURL := storematrix.Postgres(t)
	a := newPgApp(t, dbURL)
	l := a.startIncrements(8)
	time.Sleep(300 * time.Millisecond)

	killed := time.Now()
	srv.Kill()
	time.Sleep(1500 * time.Millisecond)
	srv.Restart(t)
	back := time.Now()
	recovered := l.waitAllOK(t, back, 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	l.finish()

	sent, acked, stored, unavailable, lost, over := l.tally(t, a)
	if lost > 0 || over > 0 {
		t.Fatalf("%d increments sent, %d acknowledged, %d stored: %d acknowledged lost, %d stored beyond those sent", sent, acked, stored, lost, over)
	}
	if unavailable == 0 {
		t.Fatal("no request failed while PostgreSQL was down: the kill missed the load")
	}
	if slow := l.slowest(); slow > hangBound {
		t.Fatalf("a failed request took %v", slow)
	}
	t.Logf("PostgreSQL killed under load (8 clients): %d increments sent, %d acknowledged, %d stored (%d applied without an answer), none lost; %d answered 503, slowest failure %v; down %v (restart %v), every session served again %v after the restart",
		sent, acked, stored, stored-acked, unavailable, l.slowest().Round(time.Millisecond), back.Sub(killed).Round(time.Millisecond),
		back.Sub(killed.Add(1500*time.Millisecond)).Round(time.Millisecond), recovered.Round(time.Millisecond))
}

// A synchronous standby (remote_apply) and 8 clients incrementing: the
// primary is killed and the standby promoted; the app, whose URL names
// both servers with target_session_attrs=read-write, finds the promoted
// one by itself, and no acknowledged increment is lost. The store's
// operation IDs give exactly once for lost replies, not across a
// failover: an increment may be applied without an answer, never more
// than sent.
func TestPostgresSynchronousStandbyFailover(t *testing.T) {
	t.Run("streaming", func(t *testing.T) {
		f := standbyFailover(t, true, false)
		if f.lost > 0 || f.over > 0 {
			t.Fatalf("%s: %d acknowledged increments lost, %d stored beyond those sent", f, f.lost, f.over)
		}
		t.Logf("synchronous standby, primary killed under load: %s; none lost", f)
	})
	// The standby stops receiving (its replication connection goes through
	// a proxy that swallows everything) 1.5 s before the primary is killed:
	// commits wait for it, so requests fail with 503 instead of being
	// acknowledged, and what the primary alone had is never counted.
	t.Run("standby cut off before the kill", func(t *testing.T) {
		f := standbyFailover(t, true, true)
		if f.lost > 0 || f.over > 0 {
			t.Fatalf("%s: %d acknowledged increments lost, %d stored beyond those sent", f, f.lost, f.over)
		}
		if f.ackedCut > 0 {
			t.Fatalf("%s: %d increments acknowledged while the synchronous standby was cut off", f, f.ackedCut)
		}
		t.Logf("synchronous standby cut off 1.5 s before the primary was killed: %s; none acknowledged meanwhile, none lost", f)
	})
	// The control: the same with an asynchronous standby loses what the
	// primary acknowledged while the standby was cut off, and the count
	// sees it.
	t.Run("asynchronous control", func(t *testing.T) {
		f := standbyFailover(t, false, true)
		if f.ackedCut == 0 || f.lost == 0 {
			t.Fatalf("%s: an asynchronous standby cut off lost nothing acknowledged (%d acknowledged meanwhile): the count cannot see a loss", f, f.ackedCut)
		}
		if f.over > 0 {
			t.Fatalf("%s: %d stored beyond those sent", f, f.over)
		}
		t.Logf("asynchronous standby cut off 1.5 s before the primary was killed: %s; %d acknowledged increments lost, as expected without synchronous replication", f, f.lost)
	})
}

// failover is what standbyFailover measured.
type failover struct {
	sent, acked, stored, unavailable, lost, over int64
	ackedCut                                     int64 // acknowledged while the standby was cut off
	promotedAfter, recovered, slowest            time.Duration
}

func (f failover) String() string {
	return fmt.Sprintf("%d increments sent, %d acknowledged, %d stored on the promoted standby (%d more than acknowledged); %d answered 503, slowest failure %v; promoted %v after the kill, every session served again %v after the promotion",
		f.sent, f.acked, f.stored, f.stored-f.acked, f.unavailable, f.slowest.Round(time.Millisecond),
		f.promotedAfter.Round(time.Millisecond), f.recovered.Round(time.Millisecond))
}

// standbyFailover runs 8 clients incrementing on a primary with a
// streaming standby (synchronous with remote_apply, or asynchronous),
// optionally cuts the standby off for 1.5 s, kills the primary, promotes
// the standby, and waits until every session is served again.
func standbyFailover(t *testing.T, synchronous, cut bool) failover {
	primary, dbURL := storematrix.Postgres(t)
	// Replication goes through a proxy that can cut the standby off.
	proxy := pgtest.StartProxy(t, fmt.Sprintf("127.0.0.1:%d", primary.Port))
	standby := pgtest.StartStandby(t, primary, fmt.Sprintf("primary_conninfo=host=127.0.0.1 port=%d user=seshat sslmode=disable", proxy.Port()))
	if synchronous {
		primary.Synchronous(t, standby)
	}
	name := dbURL[strings.LastIndex(dbURL, "/")+1 : strings.Index(dbURL, "?")]
	both := fmt.Sprintf("postgres://seshat@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=5",
		primary.Port, standby.Port, name)
	a := newPgApp(t, both)
	l := a.startIncrements(8)
	time.Sleep(500 * time.Millisecond)

	var f failover
	var cutAt time.Time
	if cut {
		proxy.Blackhole(true)
		// A request that starts from now on commits WAL the proxy swallows.
		cutAt = time.Now()
		time.Sleep(1500 * time.Millisecond)
	}
	killed := time.Now()
	primary.Kill()
	time.Sleep(300 * time.Millisecond) // the app sees the primary gone
	standby.Promote(t)
	promoted := time.Now()
	if cut {
		// Before the promotion only the primary could acknowledge.
		f.ackedCut = l.acknowledgedBetween(cutAt, killed, promoted)
	}
	f.promotedAfter = promoted.Sub(killed)
	f.recovered = l.waitAllOK(t, promoted, 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	l.finish()
	f.slowest = l.slowest()
	f.sent, f.acked, f.stored, f.unavailable, f.lost, f.over = l.tally(t, a)
	if f.unavailable == 0 {
		t.Fatalf("%s: no request failed between the kill and the promotion: the kill missed the load", f)
	}
	if f.slowest > hangBound {
		t.Fatalf("%s: a failed request took %v", f, f.slowest)
	}
	return f
}
