// Command seshat is the benchmark's view counter on this repository's
// library: seshat.Manager with redisstore on go-redis, default options but
// a fixed signing secret. With -pg URL the store is pgstore on
// PostgreSQL (pgstore.Open: its pgxpool with pgx's default size, default
// pgstore.Options) instead.
//
// With -cache, reads are served from redisstore's client-side cache
// (redisstore.LocalCache). To benchmark another option, add a field to
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

	"github.com/redis/go-redis/v9"
	"github.com/seshat-go/seshat"
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
	secret string // cookie signing secret (at least 32 bytes)
	cache  bool   // serve reads from redisstore's client-side cache
	ap     bool   // redisstore.Options.AutoPipeline
	pprof  string // address for net/http/pprof, "" for none
}

func parseFlags() config {
	var c config
	addr, redisAddr := viewcounter.Flags()
	pgURL := viewcounter.PGFlag()
	flag.StringVar(&c.secret, "secret", "bench-secret-bench-secret-bench-secret", "cookie signing secret, at least 32 bytes")
	flag.BoolVar(&c.cache, "cache", false, "serve reads from the client-side cache (redisstore.LocalCache)")
	flag.BoolVar(&c.ap, "autopipeline", true, "share round trips between concurrent requests (on by default; off: redisstore.Options.NoAutoPipeline)")
	flag.StringVar(&c.pprof, "pprof", "", "serve net/http/pprof on this address (to profile a run)")
	flag.Parse()
	c.addr, c.redis, c.pg = *addr, *redisAddr, *pgURL
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

// managerOptions are the seshat options: the defaults and the secret.
func managerOptions(c config, st store.Store) seshat.Options {
	return seshat.Options{
		Store:   st,
		Secrets: [][]byte{[]byte(c.secret)},
	}
}

func main() {
	cfg := parseFlags()
	var st store.Store
	if cfg.pg != "" {
		if cfg.cache {
			log.Fatal("-cache is redisstore's client-side cache: not with -pg")
		}
		ps, err := pgstore.Open(context.Background(), cfg.pg, pgOptions(cfg))
		if err != nil {
			log.Fatal(err)
		}
		st = ps
	} else {
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
	m, err := seshat.New(managerOptions(cfg, st))
	if err != nil {
		log.Fatal(err)
	}
	if cfg.pprof != "" {
		go func() { log.Println(http.ListenAndServe(cfg.pprof, nil)) }() // DefaultServeMux: net/http/pprof
	}
	a := &app{m: m}
	viewcounter.Serve("seshat", cfg.addr, viewcounter.Backend(cfg.redis, cfg.pg), a, m.Handler)
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
