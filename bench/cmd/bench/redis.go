package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is the one redis-server every implementation uses.
type redisServer struct {
	proc   *proc
	addr   string
	client *redis.Client
}

// startRedis starts redis-server on a free loopback port, without
// persistence, and waits until it answers PING.
func startRedis(ctx context.Context, bin, dir string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := startProc("redis-server", dir, filepath.Join(dir, "redis.log"), nil, bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
	)
	if err != nil {
		return nil, err
	}
	rs := &redisServer{proc: p, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	rs.client = redis.NewClient(&redis.Options{Addr: rs.addr})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p.exited() {
			rs.stop()
			return nil, p.exitError()
		}
		if err := rs.client.Ping(ctx).Err(); err == nil {
			return rs, nil
		} else if time.Now().After(deadline) {
			rs.stop()
			return nil, fmt.Errorf("redis-server on %s does not answer PING after 10 s: %v", rs.addr, err)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			rs.stop()
			return nil, err
		}
	}
}

func (rs *redisServer) stop() {
	if rs == nil {
		return
	}
	if rs.client != nil {
		rs.client.Close()
	}
	rs.proc.stop()
}

func (rs *redisServer) flushAll(ctx context.Context) error {
	if err := rs.client.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("redis FLUSHALL: %w", err)
	}
	return nil
}

// usedMemory is INFO memory's used_memory.
func (rs *redisServer) usedMemory(ctx context.Context) (int64, error) {
	info, err := rs.client.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO memory: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("redis INFO memory: no used_memory line")
}

// redisVersion is "7.0.15" from `redis-server --version`.
func redisVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return strings.TrimSpace(string(out))
}

// reset empties Redis before an implementation starts.
func (rs *redisServer) reset(ctx context.Context) error { return rs.flushAll(ctx) }

// appArgs points an app at this redis-server.
func (rs *redisServer) appArgs(node bool) []string {
	if node {
		return []string{"--redis", rs.addr}
	}
	return []string{"-redis", rs.addr}
}

// memoryStart empties Redis (the app's connections stay open and its
// scripts loaded) and returns used_memory.
func (rs *redisServer) memoryStart(ctx context.Context, impl string) (int64, error) {
	if err := rs.flushAll(ctx); err != nil {
		return 0, err
	}
	if err := sleep(ctx, 200*time.Millisecond); err != nil {
		return 0, err
	}
	return rs.usedMemory(ctx)
}

// memoryEnd returns used_memory, with the number of keys.
func (rs *redisServer) memoryEnd(ctx context.Context, impl string, n int, start int64) (int64, string, error) {
	m, err := rs.usedMemory(ctx)
	if err != nil {
		return 0, "", err
	}
	keys, _ := rs.client.DBSize(ctx).Result()
	return m, fmt.Sprintf("memory: %s keys in Redis for %s sessions", thousands(float64(keys)), thousands(float64(n))), nil
}

// memoryWorkers: 16 sessions are created at once.
func (rs *redisServer) memoryWorkers() int { return 16 }

// serverCost is a session server's resources per request.
type serverCost struct {
	cpuMicros         float64 // CPU time (user + system), µs
	bytesIn, bytesOut float64 // network bytes read and written (redis-server)
	walBytes          float64 // write-ahead log written (PostgreSQL)
}

// serverUsage is a session server's cumulative resource counters.
type serverUsage struct {
	cpu               time.Duration
	bytesIn, bytesOut int64
	wal               int64
}

// serverCoster is a sessionDB that can tell what it spent.
type serverCoster interface {
	usage(ctx context.Context) (serverUsage, error)
}

// perRequest is the cost of n requests between two readings.
func perRequest(a, b serverUsage, n int64) *serverCost {
	if n <= 0 {
		return nil
	}
	f := float64(n)
	return &serverCost{
		cpuMicros: float64(b.cpu-a.cpu) / float64(time.Microsecond) / f,
		bytesIn:   float64(b.bytesIn-a.bytesIn) / f,
		bytesOut:  float64(b.bytesOut-a.bytesOut) / f,
		walBytes:  float64(b.wal-a.wal) / f,
	}
}

// usage reads INFO cpu (used_cpu_user + used_cpu_sys: the whole server,
// its network work included) and INFO stats (total_net_input_bytes,
// total_net_output_bytes).
func (rs *redisServer) usage(ctx context.Context) (serverUsage, error) {
	info, err := rs.client.Info(ctx, "cpu", "stats").Result()
	if err != nil {
		return serverUsage{}, fmt.Errorf("redis INFO cpu stats: %w", err)
	}
	var u serverUsage
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_cpu_user", "used_cpu_sys":
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return serverUsage{}, fmt.Errorf("redis INFO %s: %w", k, err)
			}
			u.cpu += time.Duration(sec * float64(time.Second))
		case "total_net_input_bytes":
			u.bytesIn, _ = strconv.ParseInt(v, 10, 64)
		case "total_net_output_bytes":
			u.bytesOut, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return u, nil
}
