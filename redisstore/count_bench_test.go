package redisstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// fillSpread creates n sessions in layout l through the create script,
// 1,000 to a pipeline, their last touches spread over the 30 minutes of
// their idle timeout, as live traffic leaves them: so each count hash
// holds a slot field for most 5 s slots its sessions expire in.
func fillSpread(tb testing.TB, s *Store, l Layout, n int, now time.Time) {
	ctx := context.Background()
	if err := createScript.Load(ctx, s.client).Err(); err != nil {
		tb.Fatal(err)
	}
	const idle = 30 * time.Minute
	for done := 0; done < n; {
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := 0; i < 1000 && done < n; i, done = i+1, done+1 {
				touched := now.Add(-time.Duration(done%1800) * time.Second)
				rec := &store.Record{
					Values:  map[string][]byte{"views": []byte("1")},
					Created: touched.Add(-time.Minute), Touched: touched, IdleTimeout: idle, Deadline: touched.Add(24 * time.Hour),
				}
				key := fmt.Sprintf("%016x", done)
				createScript.EvalSha(ctx, p, s.keysIn(l, key), createArgs(rec)...)
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// redisMicros returns the microseconds Redis spent in scripts and hash
// reads since its statistics were last reset (INFO commandstats).
func redisMicros(tb testing.TB, c *redis.Client) float64 {
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		switch strings.TrimPrefix(name, "cmdstat_") {
		case "eval", "evalsha", "hmget", "hget":
		default:
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				total += n
			}
		}
	}
	return total
}

// countBench runs count b.N times, reporting beside the wall time
// Redis's time per count, summed over the servers, and on the busiest.
func countBench(b *testing.B, servers []*redis.Client, want int64, count func(i int) (int64, error)) {
	if got, err := count(0); err != nil || (want >= 0 && got != want) {
		b.Fatalf("count = %d, %v; want %d", got, err, want)
	}
	for _, c := range servers {
		c.ConfigResetStat(context.Background())
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := count(i); err != nil {
			b.Fatal(err)
		}
	}
	var total, busiest float64
	for _, c := range servers {
		us := redisMicros(b, c)
		total += us
		busiest = max(busiest, us)
	}
	b.ReportMetric(total/float64(b.N)/1000, "redis-ms/op")
	if len(servers) > 1 {
		b.ReportMetric(busiest/float64(b.N)/1000, "busiest-node-ms/op")
	}
}

// BenchmarkCountLayouts measures the ways to count 1,000,000 sessions
// ($SESHAT_BENCH_SESSIONS) on one Redis, in both layouts (SCALE-NOTES.md
// has the figures): count.lua per bucket (the 256-bucket way), countmany.lua
// over chunks of count hashes, and plain pipelined HMGETs (no pruning: the
// floor of any per-bucket read).
func BenchmarkCountLayouts(b *testing.B) {
	n := sessionsForScale()
	now := time.Now()
	ctx := context.Background()
	for _, l := range []Layout{LayoutBuckets, LayoutSlots} {
		b.Run(fmt.Sprintf("layout=%d", l), func(b *testing.B) {
			srv := redistest.Start(b)
			c := srv.Client(b)
			s, _ := New(c, Options{})
			before := usedMemory(b, c)
			fillSpread(b, s, l, n, now)
			b.Logf("layout %d: %.0f Redis bytes per session", l, float64(usedMemory(b, c)-before)/float64(n))
			// A first count at now subtracts nothing but sets every bucket's
			// last subtracted slot to now's, as a count a second ago would have.
			if got, _, err := s.count(ctx, now); err != nil || got != int64(n) {
				b.Fatalf("Count = %d, %v; want %d", got, err, n)
			}
			own := s.countHashes()[:legacyBuckets]
			if l == LayoutSlots {
				own = s.countHashes()[legacyBuckets:]
			}
			b.Run("Count", func(b *testing.B) {
				countBench(b, []*redis.Client{c}, int64(n), func(int) (int64, error) { return s.Count(ctx, now) })
			})
			b.Run("count.lua-per-bucket", func(b *testing.B) {
				countBench(b, []*redis.Client{c}, int64(n), func(int) (int64, error) { m, _, err := s.countEach(ctx, now, own); return m, err })
			})
			if l == LayoutBuckets {
				return
			}
			for _, size := range []int{256, 1024, 4096, 16384} {
				b.Run(fmt.Sprintf("countmany-chunk=%d", size), func(b *testing.B) {
					groups := chunks(own, size)
					countBench(b, []*redis.Client{c}, int64(n), func(int) (int64, error) { m, _, err := s.countMany(ctx, now, groups); return m, err })
				})
			}
			b.Run("pipelined-HMGET", func(b *testing.B) {
				countBench(b, []*redis.Client{c}, int64(n), func(int) (int64, error) {
					cmds := make([]*redis.SliceCmd, len(own))
					_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
						for i, k := range own {
							cmds[i] = p.HMGet(ctx, k, "p", "n")
						}
						return nil
					})
					var m int64
					for _, cmd := range cmds {
						if v := cmd.Val(); len(v) == 2 {
							if s, ok := v[1].(string); ok {
								x, _ := strconv.ParseInt(s, 10, 64)
								m += x
							}
						}
					}
					return m, err
				})
			})
			// Each count one slot (5 s) later than the last: every bucket
			// subtracts the sessions of one slot, as every fifth count does
			// when Count runs each second.
			b.Run("countmany-chunk=1024-slot-passed", func(b *testing.B) {
				groups := chunks(own, 1024)
				countBench(b, []*redis.Client{c}, -1, func(i int) (int64, error) {
					m, _, err := s.countMany(ctx, now.Add(time.Duration(i+1)*5*time.Second), groups)
					return m, err
				})
			})
		})
	}
}

// BenchmarkCountCluster measures Count on a Cluster of
// $SESHAT_BENCH_MASTERS masters (default 30, no replicas) holding
// 1,000,000 sessions ($SESHAT_BENCH_SESSIONS) in the slots layout, and
// reports how evenly the masters hold them (keys per master, busiest ÷
// average).
func BenchmarkCountCluster(b *testing.B) {
	masters := 30
	if v, err := strconv.Atoi(os.Getenv("SESHAT_BENCH_MASTERS")); err == nil && v >= 3 {
		masters = v
	}
	n := sessionsForScale()
	now := time.Now()
	ctx := context.Background()
	cl := redistest.StartCluster(b, masters, 0)
	cc := cl.Client(b)
	s, _ := New(cc, Options{})
	fillSpread(b, s, LayoutSlots, n, now)
	var nodes []*redis.Client
	var keys []int64
	for _, m := range cl.Masters {
		c := m.Client(b)
		nodes = append(nodes, c)
		k, err := c.DBSize(ctx).Result()
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, k)
	}
	var sum, most int64
	for _, k := range keys {
		sum += k
		most = max(most, k)
	}
	b.Logf("%d masters, %d sessions: keys per master %v, busiest ÷ average %.3f", masters, n, keys, float64(most)*float64(masters)/float64(sum))
	if got, _, err := s.count(ctx, now); err != nil || got != int64(n) {
		b.Fatalf("Count = %d, %v; want %d", got, err, n)
	}
	b.Run("Count", func(b *testing.B) {
		countBench(b, nodes, int64(n), func(int) (int64, error) { return s.Count(ctx, now) })
	})
	b.Run("count.lua-per-bucket", func(b *testing.B) {
		countBench(b, nodes, int64(n), func(int) (int64, error) {
			m, _, err := s.countEach(ctx, now, s.countHashes())
			return m, err
		})
	})
	b.Run("Count-slot-passed", func(b *testing.B) {
		countBench(b, nodes, -1, func(i int) (int64, error) { return s.Count(ctx, now.Add(time.Duration(i+1)*5*time.Second)) })
	})
}
