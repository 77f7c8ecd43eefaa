package redisstore

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/seshat-go/seshat/store"
)

// Audit checks the Redis a URL names for what matters to sessions:
// version, authentication, TLS, protected mode, memory limit, eviction
// policy, persistence and round-trip latency. Checks that need CONFIG
// (which managed services often refuse) say so instead of failing.
func Audit(ctx context.Context, rawURL string) ([]store.Finding, error) {
	opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	st, err := New(NewClient(opts), Options{})
	if err != nil {
		return nil, err
	}
	defer st.client.Close()
	infos, err := st.Infos(ctx, "server", "memory", "persistence", "stats")
	if err != nil {
		return nil, err
	}
	var info Info
	for _, i := range infos {
		info = i // the first master speaks for all; they share a configuration in practice
		break
	}
	var f []store.Finding
	add := func(check string, sev store.Severity, msg, fix string) {
		f = append(f, store.Finding{Check: check, Severity: sev, Message: msg, Fix: fix})
	}

	// Keys of seshat's own bookkeeping that something else overwrote.
	if _, foreign, err := st.count(ctx, time.Now()); err == nil && len(foreign) > 0 {
		add("foreign keys", store.SeverityWarning, fmt.Sprintf("%d count hash(es) hold data seshat did not write, so their buckets are not counted: %s",
			len(foreign), strings.Join(foreign, ", ")), "look at them (TYPE, HGETALL) and DEL them; each bucket is counted again from its next new session on")
	} else if err == nil {
		add("foreign keys", store.SeverityOK, "every count hash is seshat's", "")
	}
	if others, err := st.foreignIndexes(ctx); err == nil && len(others) > 0 {
		add("foreign indexes", store.SeverityWarning, fmt.Sprintf("%d user index(es) or operation log(s) hold a type seshat does not write (their sessions go unlisted, or writes of that window lose exactly-once): %s",
			len(others), strings.Join(others, ", ")), "look at them (TYPE) and DEL them; seshat writes them again")
	} else if err == nil {
		add("foreign indexes", store.SeverityOK, "every user index and operation log is seshat's", "")
	}

	// Version.
	version := info["redis_version"]
	if major, minor := versionOf(version); major < 6 || (major == 6 && minor < 2) {
		add("version", store.SeveritySevere, "Redis "+version+" is older than 6.2, the oldest seshat supports", "upgrade to Redis 7")
	} else {
		add("version", store.SeverityOK, "Redis "+version, "")
	}

	loopback := allLoopback(opts.Addrs)
	// Authentication.
	if opts.Password == "" {
		sev, fix := store.SeverityWarning, "set a password or, better, an ACL user with redisstore.ACL, and put it in the URL"
		if !loopback {
			sev = store.SeveritySevere
		}
		add("authentication", sev, "connected without a password: anyone who reaches this Redis can read and forge sessions", fix)
	} else {
		add("authentication", store.SeverityOK, "authenticated as "+cmp(opts.Username, "default"), "")
	}
	// TLS.
	switch {
	case opts.TLSConfig != nil:
		add("tls", store.SeverityOK, "TLS on", "")
	case loopback:
		add("tls", store.SeverityOK, "TLS off, on loopback only", "")
	default:
		add("tls", store.SeveritySevere, "TLS off on a network address: session data and passwords cross the network in clear", "use rediss:// with a server that has tls-port")
	}
	// Protected mode.
	if v, err := configGet(ctx, st, "protected-mode"); err != nil {
		add("protected-mode", store.SeverityInfo, "could not read the configuration ("+short(err)+")", "")
	} else if v == "no" && opts.Password == "" {
		add("protected-mode", store.SeveritySevere, "protected-mode is off and there is no password: Redis answers anyone on the network", "CONFIG SET protected-mode yes, or require a password")
	} else {
		add("protected-mode", store.SeverityOK, "protected-mode "+v, "")
	}
	// Memory.
	maxmem := info.Int("maxmemory")
	policy := info["maxmemory_policy"]
	if maxmem == 0 {
		add("maxmemory", store.SeveritySevere, fmt.Sprintf("no maxmemory (using %s): sessions fill Redis until the machine runs out of memory", info["used_memory_human"]),
			"CONFIG SET maxmemory <bytes> (and persist it in redis.conf), with alerts at 80% (deploy/prometheus/alerts.yml)")
	} else {
		used := info.Int("used_memory")
		sev := store.SeverityOK
		if float64(used) > 0.8*float64(maxmem) {
			sev = store.SeverityWarning
		}
		add("maxmemory", sev, fmt.Sprintf("maxmemory %d bytes, %.0f%% used", maxmem, 100*float64(used)/float64(maxmem)), "")
	}
	switch {
	case maxmem == 0:
		add("eviction-policy", store.SeverityInfo, "maxmemory-policy "+policy+" (takes effect once maxmemory is set)",
			"with maxmemory, prefer volatile-ttl (evicts sessions nearest expiry) or noeviction (refuses writes, logs nobody out)")
	case strings.HasPrefix(policy, "allkeys-"):
		add("eviction-policy", store.SeveritySevere, policy+" evicts live sessions when memory is full: users are logged out at random", "CONFIG SET maxmemory-policy volatile-ttl (evict sessions nearest their expiry) or noeviction")
	case policy == "volatile-ttl":
		add("eviction-policy", store.SeverityOK, "volatile-ttl: when full, the sessions nearest their expiry go first", "")
	case strings.HasPrefix(policy, "volatile-"):
		add("eviction-policy", store.SeverityWarning, policy+" evicts live sessions when full (every seshat key has a TTL)", "prefer volatile-ttl, which evicts the sessions closest to expiry first")
	case policy == "noeviction":
		add("eviction-policy", store.SeverityWarning, "noeviction: when full, writes are refused (logins and changes fail; reads keep working)", "alert on memory before it is full; or use volatile-ttl")
	default:
		add("eviction-policy", store.SeverityInfo, "maxmemory-policy "+policy, "")
	}
	if ev := info.Int("evicted_keys"); ev > 0 {
		add("evictions", store.SeverityWarning, fmt.Sprintf("%d keys evicted since Redis started", ev), "add memory or lower session sizes")
	}
	// Persistence.
	save, err := configGet(ctx, st, "save")
	aof := info["aof_enabled"] == "1"
	switch {
	case aof:
		add("persistence", store.SeverityOK, "append-only file on", "")
	case err != nil:
		add("persistence", store.SeverityInfo, "AOF off; RDB schedule unknown ("+short(err)+")", "")
	case strings.TrimSpace(save) == "":
		add("persistence", store.SeverityWarning, "persistence off: a restart logs everyone out", "CONFIG SET appendonly yes, or a save schedule")
	default:
		add("persistence", store.SeverityOK, "RDB snapshots ("+save+")", "")
	}
	// Latency.
	var rtts []time.Duration
	for range 5 {
		start := time.Now()
		if err := st.client.Ping(ctx).Err(); err != nil {
			return nil, st.fail("ping", err)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	median := rtts[len(rtts)/2]
	switch {
	case median > 50*time.Millisecond:
		add("latency", store.SeveritySevere, "round trip "+median.String()+": every request that uses its session waits this long", "put Redis close to the application")
	case median > 5*time.Millisecond:
		add("latency", store.SeverityWarning, "round trip "+median.String(), "put Redis close to the application")
	default:
		add("latency", store.SeverityOK, "round trip "+median.Round(time.Microsecond).String(), "")
	}
	return f, nil
}

func configGet(ctx context.Context, s *Store, name string) (string, error) {
	var v string
	err := s.forEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		m, err := c.ConfigGet(ctx, name).Result()
		v = m[name]
		return err
	})
	return v, err
}

func versionOf(v string) (int, int) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	major, _ := strconv.Atoi(parts[0])
	minor, _ := strconv.Atoi(parts[1])
	return major, minor
}

func allLoopback(addrs []string) bool {
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		if host == "localhost" {
			continue
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func short(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
