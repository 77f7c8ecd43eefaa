package redisstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// Each benchmark makes one round trip per iteration to a local
// redis-server; compare seshat's operations with the bare go-redis
// command doing the nearest thing (the floor).

func benchStore(b *testing.B) (*redisstore.Store, *redis.Client, string) {
	srv := redistest.Start(b)
	c := srv.Client(b)
	s, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	rec := &store.Record{
		Values:  map[string][]byte{"views": []byte("1"), "user": []byte("sbob")},
		Created: now, Touched: now, IdleTimeout: time.Hour, Deadline: now.Add(24 * time.Hour),
	}
	if err := s.Create(context.Background(), "benchkey", rec); err != nil {
		b.Fatal(err)
	}
	return s, c, "benchkey"
}

func BenchmarkBareHGetAll(b *testing.B) {
	_, c, _ := benchStore(b)
	ctx := context.Background()
	c.HSet(ctx, "bare", "views", 1, "user", "sbob")
	reportRedisCPU(b, c, "hgetall")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.HGetAll(ctx, "bare").Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	s, c, key := benchStore(b)
	ctx := context.Background()
	opts := store.LoadOptions{Now: time.Now(), TouchAfter: time.Hour}
	reportRedisCPU(b, c, "hgetall")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, key, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareHIncrBy(b *testing.B) {
	_, c, _ := benchStore(b)
	ctx := context.Background()
	reportRedisCPU(b, c, "hincrby")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.HIncrBy(ctx, "bare", "views", 1).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIncr(b *testing.B) {
	s, c, key := benchStore(b)
	ctx := context.Background()
	reportRedisCPU(b, c, "evalsha")
	b.ReportAllocs()
	for b.Loop() {
		d := &store.Delta{Now: time.Now(), Incr: &store.Incr{Name: "views", By: 1}}
		if _, err := s.Commit(ctx, key, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareHSet(b *testing.B) {
	_, c, _ := benchStore(b)
	ctx := context.Background()
	reportRedisCPU(b, c, "hset")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.HSet(ctx, "bare", "page", "s/cart").Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommit(b *testing.B) {
	s, c, key := benchStore(b)
	ctx := context.Background()
	reportRedisCPU(b, c, "evalsha")
	b.ReportAllocs()
	for b.Loop() {
		d := &store.Delta{Now: time.Now(), Set: map[string][]byte{"page": []byte("s/cart")}, MaxSize: 65536}
		if _, err := s.Commit(ctx, key, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareSet is scs's creation: one SET with an expiry.
func BenchmarkBareSet(b *testing.B) {
	_, c, _ := benchStore(b)
	ctx := context.Background()
	reportRedisCPU(b, c, "set")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := c.Set(ctx, "bare:"+strconv.Itoa(i), "views\x001", time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareCreate is the floor's creation: HSET and EXPIRE in one
// pipeline (one round trip).
func BenchmarkBareCreate(b *testing.B) {
	_, c, _ := benchStore(b)
	ctx := context.Background()
	reportRedisCPU(b, c, "hset")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		k := "bare:" + strconv.Itoa(i)
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, k, "views", 1)
			p.Expire(ctx, k, time.Hour)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreate is a creation of the demo's new session (views=1), under
// a fresh key each time.
func BenchmarkCreate(b *testing.B) {
	s, c, _ := benchStore(b)
	ctx := context.Background()
	reportRedisCPU(b, c, "evalsha")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		now := time.Now()
		rec := &store.Record{Values: map[string][]byte{"views": []byte("1")},
			Created: now, Touched: now, IdleTimeout: time.Hour, Deadline: now.Add(24 * time.Hour)}
		if err := s.Create(ctx, "create"+strconv.Itoa(i), rec); err != nil {
			b.Fatal(err)
		}
	}
}

// reportRedisCPU resets Redis's command statistics now and, when the
// benchmark ends, reports the server's CPU time per call of cmd (as Redis
// counts it in INFO commandstats, scripts included) in µs.
func reportRedisCPU(b *testing.B, c *redis.Client, cmd string) {
	ctx := context.Background()
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		for line := range strings.Lines(info) {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":")
			if !ok {
				continue
			}
			for f := range strings.SplitSeq(rest, ",") {
				if v, ok := strings.CutPrefix(f, "usec_per_call="); ok {
					us, _ := strconv.ParseFloat(v, 64)
					b.ReportMetric(us, "redis-µs/op")
				}
			}
		}
	})
}

// BenchmarkRequest is a request through the middleware on Redis (no HTTP
// server: the handler is called directly), so allocs/op is what seshat
// and go-redis allocate per request.
func BenchmarkRequest(b *testing.B) {
	srv := redistest.Start(b)
	c := srv.Client(b)
	st, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("bench-secret-0123456789abcdef0123")}})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/read" {
			seshat.Get[int64](m.Session(r), "views")
		} else {
			m.Session(r).Incr("views", 1)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookie := rec.Result().Cookies()[0]
	for _, path := range []string{"/", "/read", "/new"} {
		b.Run(path, func(b *testing.B) {
			req := httptest.NewRequest("GET", path, nil)
			if path != "/new" { // "/new" comes without a cookie: a creation
				req.AddCookie(cookie)
			}
			hdr := http.Header{}
			w := responseRecorder{hdr}
			if path == "/read" {
				reportRedisCPU(b, c, "hgetall")
			} else {
				reportRedisCPU(b, c, "evalsha")
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(hdr)
				h.ServeHTTP(w, req)
			}
		})
	}
}

type responseRecorder struct{ h http.Header }

func (r responseRecorder) Header() http.Header         { return r.h }
func (r responseRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (r responseRecorder) WriteHeader(int)             {}
