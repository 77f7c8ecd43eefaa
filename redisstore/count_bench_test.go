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
// 1,000 to a pipeline, their last touches spread over the 30 minutes
// before now, as live traffic leaves them: so each count hash holds a slot
// field for most 5 s slots its sessions expire in. Their idle timeout is
// 31 minutes, so that none expires (by Redis's clock) while the fill runs.
func fillSpread(tb testing.TB, s *Store, l Layout, n int, now time.Time) {
	ctx := context.Background()
	if err := createScript.Load(ctx, s.client).Err(); err != nil {
		tb.Fatal(err)
	}
	const idle = 31 * time.Minute
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

// redisMicros returns the microseconds Redis spent counting since its
// statistics were last reset (INFO commandstats): in scripts and EXISTS,
// or, when no script ran, in hash reads. (Commands a script calls are
// counted twice by INFO: in the script's time and their own.)
func redisMicros(tb testing.TB, c *redis.Client) float64 {
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	us := map[string]float64{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				us[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	if scripts := us["eval"] + us["evalsha"]; scripts > 0 {
		return scripts + us["exists"]
	}
	return us["hmget"] + us["hget"] + us["exists"]
}

// redisCPU returns the CPU seconds a server has used (INFO cpu, user and
// system): unlike the times of INFO commandstats, which are elapsed times,
// it does not count the time a server waits for a core (30 masters on 2).
func redisCPU(tb testing.TB, c *redis.Client) float64 {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var s float64
	for _, line := range strings.Split(info, "\r\n") {
		name, v, _ := strings.Cut(line, ":")
		if name == "used_cpu_user" || name == "used_cpu_sys" {
			f, _ := strconv.ParseFloat(v, 64)
			s += f
		}
	}
	return s
}

// countBench runs count b.N times, reporting beside the wall time
// Redis's time per count (elapsed, in the commands) and its CPU time
// (the whole server), summed over the servers and on the busiest.
func countBench(b *testing.B, servers []*redis.Client, want int64, count func(i int) (int64, error)) {
	if got, err := count(0); err != nil || (want >= 0 && got != want) {
		b.Fatalf("count = %d, %v; want %d", got, err, want)
	}
	cpu0 := make([]float64, len(servers))
	for i, c := range servers {
		c.ConfigResetStat(context.Background())
		cpu0[i] = redisCPU(b, c)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := count(i); err != nil {
			b.Fatal(err)
		}
	}
	var total, busiest, cpu, cpuBusiest float64
	for i, c := range servers {
		us := redisMicros(b, c)
		total += us
		busiest = max(busiest, us)
		s := redisCPU(b, c) - cpu0[i]
		cpu += s
		cpuBusiest = max(cpuBusiest, s)
	}
	per := float64(b.N)
	b.ReportMetric(total/per/1000, "redis-ms/op")
	b.ReportMetric(cpu/per*1000, "redis-cpu-ms/op")
	if len(servers) > 1 {
		b.ReportMetric(busiest/per/1000, "busiest-node-ms/op")
		b.ReportMetric(cpuBusiest/per*1000, "busiest-node-cpu-ms/op")
	}
}

// BenchmarkCountLayouts measures the ways to count 1,000,000 sessions
// ($SESHAT_BENCH_SESSIONS) on one Redis, in both layouts (SCALE-NOTES.md
// has the figures): count.lua per bucket (the 256-bucket way), countmany.lua
// over chunks of count hashes, and plain pipelined HMGETs (no pruning: the
// floor of any per-bucket read).
func BenchmarkCountLayouts(b *testing.B) {
	n := sessionsForScale()
	ctx := context.Background()
	for _, l := range []Layout{LayoutBuckets, LayoutSlots} {
		b.Run(fmt.Sprintf("layout=%d", l), func(b *testing.B) {
			now := time.Now()
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
			own, ownArgs := s.countHashes()[:legacyBuckets], s.countArgs[:legacyBuckets]
			if l == LayoutSlots {
				own, ownArgs = s.countHashes()[legacyBuckets:], s.countArgs[legacyBuckets:]
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
					groups := groupsOf(own, ownArgs, size)
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
			// Each count 5 s (one slot) later than the last: every bucket
			// subtracts the sessions of one slot, as every fifth count does
			// when Count runs each second; or 15 s, as every count does at
			// one per Prometheus scrape.
			// (The clock only moves forward, from one run to the next.)
			clock := now
			for _, every := range []time.Duration{5 * time.Second, 15 * time.Second} {
				b.Run(fmt.Sprintf("countmany-chunk=1024-every-%v", every), func(b *testing.B) {
					groups := groupsOf(own, ownArgs, 1024)
					countBench(b, []*redis.Client{c}, -1, func(int) (int64, error) {
						clock = clock.Add(every)
						m, _, err := s.countMany(ctx, clock, groups)
						return m, err
					})
				})
			}
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
	clock := now // only forward, from one run to the next
	for _, every := range []time.Duration{5 * time.Second, 15 * time.Second} {
		b.Run(fmt.Sprintf("Count-every-%v", every), func(b *testing.B) {
			countBench(b, nodes, -1, func(int) (int64, error) {
				clock = clock.Add(every)
				return s.Count(ctx, clock)
			})
		})
	}
}
