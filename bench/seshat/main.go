// Command seshat is the benchmark's view counter on this repository's
// library: seshat.Manager with redisstore on go-redis, default options but
// a fixed signing secret, and the Prometheus collector of the metrics
// module as its Observer (registered to a registry, served on
// /debug/metrics to loopback clients), as the demo runs; -metrics=false
// runs without an Observer. With -pg URL the store is pgstore on
// PostgreSQL (pgstore.Open: its pgxpool with pgx's default size, default
// pgstore.Options) instead; with -memory it is memstore, in the process
// (default options; -sweep sets its SweepInterval, -ttl the sessions'
// IdleTimeout).
//
// With -cache, reads are served from redisstore's client-side cache
// (redisstore.LocalCache); with -autopipeline=false, redisstore sends
// every command on its own connection (Options.NoAutoPipeline), instead of
// batching those of concurrent requests under load, its default. To
// benchmark another option, add a field to
// config, its flag in parseFlags, and set it in newClient, storeOptions or
// managerOptions; nothing else changes. The runner passes extra flags with
// -seshat-flags.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/metrics"
	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/store"

	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

// config is everything the command line sets.
type config struct {
	addr   string // listen address
	redis  string // Redis host:port
	pg     string // PostgreSQL URL: pgstore instead of redisstore
	memory bool   // memstore instead of redisstore
	ttl    time.Duration
	sweep  time.Duration // memstore.Options.SweepInterval
	secret string        // cookie signing secret (at least 32 bytes)
	cache  bool          // serve reads from redisstore's client-side cache
	ap     bool          // !redisstore.Options.NoAutoPipeline
	obs    bool          // the Prometheus collector as Observer
	pprof  string        // address for net/http/pprof, "" for none
}

func parseFlags() config {
	var c config
	addr, redisAddr := viewcounter.Flags()
	pgURL := viewcounter.PGFlag()
	memory, ttl, sweep := viewcounter.MemoryFlags()
	flag.BoolVar(&c.obs, "metrics", true, "observe with the Prometheus collector (metrics.New() as Options.Observer); -metrics=false: no Observer")
	flag.StringVar(&c.secret, "secret", "bench-secret-bench-secret-bench-secret", "cookie signing secret, at least 32 bytes")
	flag.BoolVar(&c.cache, "cache", false, "serve reads from the client-side cache (redisstore.LocalCache)")
	flag.BoolVar(&c.ap, "autopipeline", true, "share round trips between concurrent requests (on by default; off: redisstore.Options.NoAutoPipeline)")
	flag.StringVar(&c.pprof, "pprof", "", "serve net/http/pprof on this address (to profile a run)")
	flag.Parse()
	c.addr, c.redis, c.pg = *addr, *redisAddr, *pgURL
	c.memory, c.ttl, c.sweep = *memory, *ttl, *sweep
	return c
}

// newClient is the go-redis client, with redisstore's defaults (bounded
// timeouts, one retry).
func newClient(c config) (redis.UniversalClient, error) {
	o, err := redisstore.ParseURL("redis://" + c.redis)
	if err != nil {
		return nil, err
	}
	return redisstore.NewClient(o), nil
}

// storeOptions are the redisstore options: the defaults, and the
// client-side cache with -cache.
func storeOptions(c config) redisstore.Options {
	o := redisstore.Options{NoAutoPipeline: !c.ap}
	if c.cache {
		o.LocalCache = &redisstore.LocalCache{}
	}
	return o
}

// pgOptions are the pgstore options: the defaults.
func pgOptions(c config) pgstore.Options {
	return pgstore.Options{}
}

// memOptions are the memstore options: the defaults, and the sweep
// interval with -sweep.
func memOptions(c config) memstore.Options {
	return memstore.Options{SweepInterval: c.sweep}
}

// managerOptions are the seshat options: the defaults and the secret, the
// observer, and the idle timeout with -ttl.
func managerOptions(c config, st store.Store, obs seshat.Observer) seshat.Options {
	return seshat.Options{
		Store:       st,
		Secrets:     [][]byte{[]byte(c.secret)},
		Observer:    obs,
		IdleTimeout: c.ttl,
	}
}

// observer is the Prometheus collector, registered (with the store's
// gauges when it reports them) to a registry served on /debug/metrics, as
// the demo does; nil with -metrics=false.
func observer(c config, st store.Store) seshat.Observer {
	if !c.obs {
		return nil
	}
	reg := prometheus.NewRegistry()
	col := metrics.New()
	reg.MustRegister(col)
	if sr, ok := st.(store.StatsReporter); ok {
		reg.MustRegister(metrics.NewStoreCollector(sr, time.Second))
	}
	viewcounter.Debug("/debug/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return col
}

func main() {
	cfg := parseFlags()
	var st store.Store
	switch {
	case cfg.memory:
		if cfg.cache || cfg.pg != "" {
			log.Fatal("-memory: not with -cache or -pg")
		}
		ms, err := memstore.NewWithOptions(memOptions(cfg))
		if err != nil {
			log.Fatal(err)
		}
		st = ms
	case cfg.pg != "":
		if cfg.cache {
			log.Fatal("-cache is redisstore's client-side cache: not with -pg")
		}
		ps, err := pgstore.Open(context.Background(), cfg.pg, pgOptions(cfg))
		if err != nil {
			log.Fatal(err)
		}
		st = ps
	default:
		client, err := newClient(cfg)
		if err != nil {
			log.Fatal(err)
		}
		rs, err := redisstore.New(client, storeOptions(cfg))
		if err != nil {
			log.Fatal(err)
		}
		st = rs
	}
	m, err := seshat.New(managerOptions(cfg, st, observer(cfg, st)))
	if err != nil {
		log.Fatal(err)
	}
	if cfg.pprof != "" {
		go func() { log.Println(http.ListenAndServe(cfg.pprof, nil)) }() // DefaultServeMux: net/http/pprof
	}
	a := &app{m: m}
	viewcounter.Serve("seshat", cfg.addr, viewcounter.Backend(cfg.redis, cfg.pg, cfg.memory), a, m.Handler)
}

type app struct{ m *seshat.Manager }

// fail answers an error, and logs it (the runner shows the log's end when
// an app answered anything but 2xx).
func fail(w http.ResponseWriter, err error) {
	code := seshat.StatusCode(err)
	log.Printf("answered %d: %v", code, err)
	http.Error(w, http.StatusText(code)+": "+err.Error(), code)
}

func (a *app) Index(w http.ResponseWriter, r *http.Request) {
	n, err := a.m.Session(r).Incr("views", 1)
	if err != nil {
		fail(w, err)
		return
	}
	viewcounter.Text(w, "Number of views: %d\n", n)
}

func (a *app) Read(w http.ResponseWriter, r *http.Request) {
	n, err := seshat.Get[int64](a.m.Session(r), "views")
	if err != nil && !errors.Is(err, seshat.ErrNoValue) {
		fail(w, err)
		return
	}
	viewcounter.Text(w, "Number of views: %d\n", n)
}

func (a *app) Login(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.FormValue("user"))
	if user == "" || len(user) > 128 {
		http.Error(w, "user is required (at most 128 bytes)", http.StatusBadRequest)
		return
	}
	s := a.m.Session(r)
	if err := s.Regenerate(); err != nil {
		fail(w, err)
		return
	}
	if err := s.SetUser(user); err != nil {
		fail(w, err)
		return
	}
	viewcounter.Text(w, "Logged in as %s\n", user)
}

func (a *app) Logout(w http.ResponseWriter, r *http.Request) {
	if err := a.m.Session(r).Destroy(); err != nil {
		fail(w, err)
		return
	}
	viewcounter.Text(w, "Logged out\n")
}

func (a *app) Whoami(w http.ResponseWriter, r *http.Request) {
	user, err := a.m.Session(r).User()
	if errors.Is(err, seshat.ErrDecode) || errors.Is(err, seshat.ErrMoved) {
		user, err = "", nil
	}
	if err != nil {
		fail(w, err)
		return
	}
	if user == "" {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	viewcounter.Text(w, "%s\n", user)
}
