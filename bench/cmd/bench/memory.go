package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// memBackend is the memory backend: the apps keep their sessions in their
// own process (-memory: seshat's memstore, scs's memstore, gorilla's
// cookie store), so there is no server to start or empty. Its bytes per
// session are the app's Go heap (measureHeap), not a server's memory.
type memBackend struct{}

func (memBackend) reset(context.Context) error { return nil }
func (memBackend) appArgs(bool) []string       { return []string{"-memory"} }
func (memBackend) memoryStart(context.Context, string) (int64, error) {
	return 0, errors.New("memory backend: the heap is measured by measureHeap")
}
func (memBackend) memoryEnd(context.Context, string, int, int64) (int64, string, error) {
	return 0, "", errors.New("memory backend: the heap is measured by measureHeap")
}
func (memBackend) memoryWorkers() int { return 32 }
func (memBackend) stop()              {}

// sweepWindow is how long after a sweep is due the read loop goes on; a
// read that starts from half a second before it is due to this long after
// counts for that sweep.
const (
	sweepBefore = 500 * time.Millisecond
	sweepAfter  = 4 * time.Second
)

// measureHeap measures, on a fresh app, the Go heap per session at
// cfg.memSessions sessions and the sweep pause:
//
//   - The app starts with -ttl T -sweep T: every session lives T, and the
//     store sweeps expired sessions every T from its start (t0).
//   - /debug/heap (the heap in use after runtime.GC) before and after
//     cfg.memSessions sessions are created over HTTP (GET / without a
//     cookie, 32 connections, sessions holding views=1), which must end
//     before t0+T: the growth divided by the sessions is bytes/session.
//   - Then one connection sends GET /read back to back, with a session
//     created just before, from half a second before the sweep due at
//     t0+T (a walk over every session, all still live) until 4 s after
//     it, and again around the sweep due at t0+2T, which reclaims every
//     filled session (all expired by then). The sweep pause is the
//     longest of those reads; the notes give each sweep's, the longest
//     read of a 2 s loop before the first sweep (no sweep running), and
//     the heap after the second sweep (the reclaimed memory).
//
// T is cfg.sweepTTL, or else long enough for the fill at the create rate
// measured by wrk: twice the estimated fill, plus 15 s (the fill's client
// is slower than wrk, and a store gets slower as it grows: at 1.5 times
// plus 10 s, one fill ended 5 s before T). An
// implementation that keeps nothing on the server (gorilla's cookie
// store) has no sweep: only its heap is measured.
func measureHeap(ctx context.Context, cfg *config, db sessionDB, client *http.Client, tmp string, res *result, createRate float64) error {
	n := cfg.memSessions
	sweeps := serverSide(db, res.name)
	ttl := cfg.sweepTTL
	if ttl == 0 {
		ttl = 2 * time.Minute
		if createRate > 0 {
			est := time.Duration(float64(n) / createRate * float64(time.Second))
			ttl = (2*est + 15*time.Second).Round(time.Second)
		}
		ttl = max(ttl, 15*time.Second)
	}
	var extra []string
	if sweeps {
		extra = []string{"-ttl", ttl.String(), "-sweep", ttl.String()}
	}
	t0 := time.Now()
	a, err := startApp(ctx, cfg, db, client, tmp, res, extra...)
	if err != nil {
		return err
	}
	defer a.p.stop()
	check := func(err error) error {
		if err != nil && a.p.exited() {
			return fmt.Errorf("%v\n%v", err, a.p.exitError())
		}
		return err
	}
	h0, err := heapBytes(ctx, client, a.base)
	if err != nil {
		return check(err)
	}
	if sweeps {
		logf("%s: filling %s sessions (session lifetime and sweep interval %v)", res.name, thousands(float64(n)), ttl)
	} else {
		logf("%s: filling %s sessions", res.name, thousands(float64(n)))
	}
	start := time.Now()
	cookieLen, err := fill(ctx, a.addr, n, db.memoryWorkers())
	if err != nil {
		return check(fmt.Errorf("creating %d sessions: %w", n, err))
	}
	took := time.Since(start)
	h1, err := heapBytes(ctx, client, a.base)
	if err != nil {
		return check(err)
	}
	if sweeps && time.Since(t0) > ttl-sweepBefore {
		return fmt.Errorf("creating %s sessions took %v, longer than the session lifetime %v: give a longer -sweep-ttl", thousands(float64(n)), took.Round(time.Second), ttl)
	}
	res.bytesPerSession = float64(h1-h0) / float64(n)
	logf("%s: %s sessions in %v (%.0f/s); Go heap %s -> %s bytes: %.0f bytes/session", res.name, thousands(float64(n)), took.Round(time.Millisecond),
		float64(n)/took.Seconds(), thousands(float64(h0)), thousands(float64(h1)), res.bytesPerSession)
	note := fmt.Sprintf("Go heap: %s bytes before, %s bytes after %s sessions created over HTTP in %v (%s/s)",
		thousands(float64(h0)), thousands(float64(h1)), thousands(float64(n)), took.Round(100*time.Millisecond), thousands(float64(n)/took.Seconds()))
	if !sweeps {
		res.noSweep = true
		res.notes = append(res.notes, note+fmt.Sprintf("; nothing is kept on the server: the session travels in its cookie (%d bytes for views=1), and there is nothing to sweep", cookieLen))
		return nil
	}

	// No sweep is due for the next 2.5 s: a loop without one, for comparison.
	baseline := "not measured (the first sweep was due too soon)"
	if time.Until(t0.Add(ttl-sweepBefore)) > 2500*time.Millisecond {
		loop, err := readLoop(ctx, client, a, time.Now().Add(2*time.Second))
		if err != nil {
			return check(err)
		}
		baseline = fmt.Sprintf("%s (%s reads)", fmtDur(loop.max(time.Time{})), thousands(float64(len(loop))))
	}
	var pauses [2]time.Duration
	var reads [2]int
	for k := range 2 {
		due := t0.Add(time.Duration(k+1) * ttl)
		if err := sleep(ctx, time.Until(due.Add(-sweepBefore-500*time.Millisecond))); err != nil {
			return err
		}
		loop, err := readLoop(ctx, client, a, due.Add(sweepAfter))
		if err != nil {
			return check(err)
		}
		pauses[k] = loop.max(due.Add(-sweepBefore))
		reads[k] = len(loop)
		logf("%s: sweep %d (%s): longest read %s", res.name, k+1, []string{"every session live", "every filled session expired"}[k], fmtDur(pauses[k]))
	}
	h2, err := heapBytes(ctx, client, a.base)
	if err != nil {
		return check(err)
	}
	res.sweepPause = max(pauses[0], pauses[1])
	res.notes = append(res.notes, note, fmt.Sprintf("sweep pause: the longest read during the sweep over %s live sessions %s, during the sweep that reclaimed them (all expired) %s; without a sweep %s; Go heap after that sweep %s bytes (sessions lived %v, swept every %v)",
		thousands(float64(n)), fmtDur(pauses[0]), fmtDur(pauses[1]), baseline, thousands(float64(h2)), ttl, ttl))
	return nil
}

// heapBytes is the app's /debug/heap: HeapAlloc after a full collection.
func heapBytes(ctx context.Context, c *http.Client, base string) (int64, error) {
	r, err := get(ctx, c, base, "/debug/heap", "")
	if err != nil {
		return 0, fmt.Errorf("GET /debug/heap: %w", err)
	}
	if r.status != http.StatusOK {
		return 0, fmt.Errorf("GET /debug/heap: status %d: %s", r.status, r.body)
	}
	v, err := strconv.ParseInt(r.body, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GET /debug/heap: %q is not a number", r.body)
	}
	return v, nil
}

// timedRead is one read of a read loop: when it started and how long it
// took to answer.
type timedRead struct {
	at   time.Time
	took time.Duration
}

type readLog []timedRead

// max is the longest read that started at or after from.
func (l readLog) max(from time.Time) time.Duration {
	var m time.Duration
	for _, r := range l {
		if !r.at.Before(from) && r.took > m {
			m = r.took
		}
	}
	return m
}

// readLoop creates a session, then sends GET /read with its cookie back to
// back on one connection until the deadline, timing each answer.
func readLoop(ctx context.Context, c *http.Client, a *app, until time.Time) (readLog, error) {
	cookie, err := newSession(ctx, c, a.base)
	if err != nil {
		return nil, err
	}
	conn, err := dialRaw(ctx, a.addr)
	if err != nil {
		return nil, err
	}
	defer conn.close()
	var log readLog
	for time.Now().Before(until) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		at := time.Now()
		status, _, err := conn.get("/read", cookie)
		if err != nil {
			return nil, fmt.Errorf("read loop: %w", err)
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("read loop: GET /read: status %d", status)
		}
		log = append(log, timedRead{at: at, took: time.Since(at)})
	}
	return log, nil
}

// fill creates n sessions through the app (GET / without a cookie, each
// answered 200 with a Set-Cookie) over workers connections, and returns
// the length of one Set-Cookie's name=value.
func fill(ctx context.Context, addr string, n, workers int) (int, error) {
	var next atomic.Int64
	var cookieLen atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	fail := func(err error) { once.Do(func() { first = err }) }
	for range min(workers, n) {
		wg.Go(func() {
			conn, err := dialRaw(ctx, addr)
			if err != nil {
				fail(err)
				return
			}
			defer conn.close()
			for next.Add(1) <= int64(n) {
				if ctx.Err() != nil {
					fail(ctx.Err())
					return
				}
				status, setCookie, err := conn.get("/", "")
				if err == nil && (status != http.StatusOK || setCookie == "") {
					err = fmt.Errorf("GET / without a cookie: status %d, Set-Cookie %q", status, setCookie)
				}
				if err != nil {
					fail(err)
					return
				}
				cookieLen.Store(int64(len(setCookie)))
			}
		})
	}
	wg.Wait()
	return int(cookieLen.Load()), first
}

// rawConn is one keep-alive HTTP/1.1 connection that sends GETs and reads
// answers with a Content-Length: a client as lean as wrk, so that creating
// a million sessions takes the app's time rather than the client's.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
	host string
	buf  []byte
}

func dialRaw(ctx context.Context, addr string) (*rawConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{conn: conn, br: bufio.NewReaderSize(conn, 16<<10), host: addr}, nil
}

func (rc *rawConn) close() { rc.conn.Close() }

// get sends GET path (with the cookie, a "name=value" string, if any) and
// returns the status and the name=value of the answer's last Set-Cookie.
func (rc *rawConn) get(path, cookie string) (status int, setCookie string, err error) {
	b := append(rc.buf[:0], "GET "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, rc.host...)
	b = append(b, "\r\n"...)
	if cookie != "" {
		b = append(b, "Cookie: "...)
		b = append(b, cookie...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	rc.buf = b
	rc.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := rc.conn.Write(b); err != nil {
		return 0, "", err
	}
	line, err := rc.br.ReadSlice('\n')
	if err != nil {
		return 0, "", err
	}
	// "HTTP/1.1 200 OK"
	f := strings.Fields(string(line))
	if len(f) < 2 {
		return 0, "", fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(f[1]); err != nil {
		return 0, "", fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		line, err := rc.br.ReadSlice('\n')
		if err != nil {
			return 0, "", err
		}
		h := strings.TrimRight(string(line), "\r\n")
		if h == "" {
			break
		}
		name, value, _ := strings.Cut(h, ":")
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			if length, err = strconv.Atoi(value); err != nil {
				return 0, "", fmt.Errorf("bad Content-Length %q", value)
			}
		case "set-cookie":
			setCookie, _, _ = strings.Cut(value, ";")
		case "transfer-encoding":
			return 0, "", fmt.Errorf("Transfer-Encoding %s: not supported by the fill client", value)
		}
	}
	if length < 0 {
		return 0, "", errors.New("answer without Content-Length")
	}
	if _, err := rc.br.Discard(length); err != nil {
		return 0, "", err
	}
	return status, strings.TrimSpace(setCookie), nil
}
