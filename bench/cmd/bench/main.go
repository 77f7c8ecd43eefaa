// Command bench runs the same view-counter app on several session
// implementations, one after the other, against one redis-server and then
// one PostgreSQL cluster it starts itself (and, with -backend memory, on
// in-process stores), loads each with wrk, and prints a markdown table per
// backend and connection count.
//
// Run it from bench/ (./run.sh installs wrk, redis-server, PostgreSQL and
// the npm packages first):
//
//	go run ./cmd/bench [-d 10s] [-only floor,seshat] [-backend postgres] [-conns 1,64] [-out results.md]
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// backend is a server the implementations keep their sessions in (or, for
// "memory", the app's own process), and the implementations compared on
// it, in the order they run and are listed. base is the implementation
// the table's ratios are taken against.
type backend struct {
	name  string // the -backend value
	title string
	base  string
	impls []string
}

var backends = []backend{
	{"redis", "Redis", "floor", []string{"floor", "floor+pipeline", "seshat", "seshat-metrics", "seshat-nopipeline", "seshat+cache", "scs", "gorilla", "express"}},
	{"postgres", "PostgreSQL", "floor", []string{"floor", "seshat", "seshat-metrics", "scs", "express"}},
	{"memory", "memory", "scs", []string{"seshat", "seshat-metrics", "scs", "gorilla"}},
	// The adapters: seshat on each framework next to the framework's
	// usual session middleware, on Redis (-frameworks); fiber-adaptor is
	// seshat's net/http middleware through fiber's net/http adaptor. No
	// base: frameworkRatios compares each pair.
	{"frameworks", "Redis", "", []string{"gin-seshat", "gin-sessions", "echo-seshat", "echo-session", "fiber-seshat", "fiber-adaptor", "fiber-session"}},
}

// frameworkPairs are the frameworks table's comparisons: seshat (native,
// then through fiber's adaptor) against the framework's usual middleware.
var frameworkPairs = [][2]string{
	{"gin-seshat", "gin-sessions"}, {"echo-seshat", "echo-session"},
	{"fiber-seshat", "fiber-session"}, {"fiber-adaptor", "fiber-session"}, {"fiber-seshat", "fiber-adaptor"},
}

// defaultBackends run when -backend is not given: the memory backend's
// heap and sweep measurement takes minutes, so it is asked for.
var defaultBackends = []string{"redis", "postgres"}

// optInImpls run only when asked for: seshat-metrics (seshat without its
// Prometheus collector) with -observer-cost or by name in -only.
var optInImpls = []string{"seshat-metrics"}

// appArgs are the flags that make an implementation of its Go app: the
// variants of floor and seshat.
var appArgs = map[string][]string{
	"floor+pipeline":    {"-autopipeline"},
	"seshat-nopipeline": {"-autopipeline=false"},
	"seshat+cache":      {"-cache"},
	"seshat-metrics":    {"-metrics=false"},
	"fiber-adaptor":     {"-adaptor"},
}

// allImpls are the implementations of every backend, each once.
func allImpls() []string {
	var all []string
	for _, b := range backends {
		for _, name := range b.impls {
			if !contains(all, name) {
				all = append(all, name)
			}
		}
	}
	return all
}

// defaultImpls are those that run without -only.
func defaultImpls() []string {
	var def []string
	for _, name := range allImpls() {
		if !contains(optInImpls, name) {
			def = append(def, name)
		}
	}
	return def
}

func backendNames() []string {
	var names []string
	for _, b := range backends {
		names = append(names, b.name)
	}
	return names
}

// pkg is the directory of an implementation's Go app.
func pkg(name string) string {
	if name == "fiber-adaptor" {
		return "fiber-seshat"
	}
	for _, app := range []string{"floor", "seshat"} {
		if strings.HasPrefix(name, app+"+") || strings.HasPrefix(name, app+"-") {
			return app
		}
	}
	return name
}

type config struct {
	duration     time.Duration
	warmup       time.Duration
	rounds       int
	only         []string
	backends     []backend
	out          string
	dir          string // bench directory
	threads      int
	conns        []int // wrk connections: one table per count
	concurrent   int   // requests in the lost-update check
	sessions     int   // sessions in the memory measurement
	memSessions  int   // sessions in the memory backend's heap measurement
	sweepTTL     time.Duration
	observerCost bool
	seshatFlags  []string
	redisBin     string
	wrkBin       string
	nodeBin      string
	pgBin        string // directory of initdb and postgres; "" to find it
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags() (config, error) {
	var c config
	var only, seshatFlags, backendList, conns string
	var frameworks bool
	var oneConns int
	flag.DurationVar(&c.duration, "d", 5*time.Second, "duration of each measured wrk run (whole seconds)")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "wrk warm-up before each scenario (0: none)")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of the three scenarios over all implementations, interleaved; the table gives medians")
	flag.StringVar(&only, "only", "", "comma-separated implementations to run (default: "+strings.Join(defaultImpls(), ",")+"; also "+strings.Join(optInImpls, ",")+")")
	flag.StringVar(&backendList, "backend", strings.Join(defaultBackends, ","), "comma-separated backends, one table each: "+strings.Join(backendNames(), ", "))
	flag.BoolVar(&frameworks, "frameworks", false, "also run the frameworks table: seshat on gin, echo and fiber next to each one's usual session middleware, on Redis (the same as adding frameworks to -backend)")
	flag.StringVar(&c.out, "out", "", "markdown file for the results (default results.md in the bench directory)")
	flag.StringVar(&c.dir, "dir", "", "the bench directory (default: found from the working directory)")
	flag.IntVar(&c.threads, "t", 2, "wrk threads")
	flag.StringVar(&conns, "conns", "64", "comma-separated wrk connection counts: the scenarios run at each, one table per count (wrk threads: min(-t, count))")
	flag.IntVar(&oneConns, "c", 0, "wrk connections: the same as -conns with one count")
	flag.BoolVar(&c.observerCost, "observer-cost", false, "also run seshat-metrics, seshat without its Prometheus collector, next to seshat, and report the ratio")
	flag.IntVar(&c.concurrent, "lost", 200, "concurrent increments in the lost-update check")
	flag.IntVar(&c.sessions, "sessions", 10000, "sessions created for the bytes-per-session measurement (Redis, PostgreSQL)")
	flag.IntVar(&c.memSessions, "mem-sessions", 1_000_000, "sessions created for the memory backend's Go heap and sweep-pause measurement")
	flag.DurationVar(&c.sweepTTL, "sweep-ttl", 0, "memory backend: session lifetime and sweep interval of the sweep-pause measurement (0: from the create rate, long enough for the fill)")
	flag.StringVar(&seshatFlags, "seshat-flags", "", "extra flags for the seshat app, space-separated (e.g. \"-cache\")")
	flag.StringVar(&c.redisBin, "redis-server", "redis-server", "redis-server binary")
	flag.StringVar(&c.wrkBin, "wrk", "wrk", "wrk binary")
	flag.StringVar(&c.nodeBin, "node", "node", "node binary (for express)")
	flag.StringVar(&c.pgBin, "pg-bin", "", "directory of PostgreSQL's initdb and postgres (default: the newest /usr/lib/postgresql/*/bin)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./cmd/bench [flags]\n\nRuns the view-counter app on %s against one redis-server, then on %s against one PostgreSQL cluster (and with -backend memory on %s in the app's process), and prints a markdown table for each backend and connection count.\n\n",
			strings.Join(backends[0].impls, ", "), strings.Join(backends[1].impls, ", "), strings.Join(backends[2].impls, ", "))
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q (flags only; see -h)", flag.Args())
	}
	if c.rounds < 1 {
		return c, fmt.Errorf("-rounds %d: want at least 1", c.rounds)
	}
	if c.duration < time.Second {
		return c, errors.New("-d must be at least 1s")
	}
	if c.threads < 1 || c.concurrent < 1 || c.sessions < 1 || c.memSessions < 1 {
		return c, errors.New("-t, -lost, -sessions and -mem-sessions must be positive")
	}
	if oneConns != 0 {
		conns = strconv.Itoa(oneConns)
	}
	for _, f := range strings.Split(conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return c, fmt.Errorf("-conns %s: want positive connection counts, comma-separated", conns)
		}
		if !slices.Contains(c.conns, n) {
			c.conns = append(c.conns, n)
		}
	}
	slices.Sort(c.conns)
	if c.sweepTTL != 0 && c.sweepTTL < 5*time.Second {
		return c, errors.New("-sweep-ttl: at least 5s (or 0)")
	}
	if frameworks {
		backendList += ",frameworks"
	}
	for _, name := range strings.Split(backendList, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(backends, func(b backend) bool { return b.name == name })
		if i < 0 {
			return c, fmt.Errorf("-backend: unknown backend %q (known: %s)", name, strings.Join(backendNames(), ", "))
		}
		if !slices.ContainsFunc(c.backends, func(b backend) bool { return b.name == name }) {
			c.backends = append(c.backends, backends[i])
		}
	}
	if only == "" {
		c.only = defaultImpls()
	} else {
		for _, name := range strings.Split(only, ",") {
			name = strings.TrimSpace(name)
			if !contains(allImpls(), name) {
				return c, fmt.Errorf("-only: unknown implementation %q (known: %s)", name, strings.Join(allImpls(), ", "))
			}
			if !contains(c.only, name) {
				c.only = append(c.only, name)
			}
		}
	}
	if c.observerCost {
		for _, name := range []string{"seshat", "seshat-metrics"} {
			if !contains(c.only, name) {
				c.only = append(c.only, name)
			}
		}
	}
	// Each backend keeps its implementations that -only names, in the
	// canonical order.
	n := 0
	for i := range c.backends {
		var kept []string
		for _, name := range c.backends[i].impls {
			if contains(c.only, name) {
				kept = append(kept, name)
			}
		}
		c.backends[i].impls = kept
		n += len(kept)
	}
	if n == 0 {
		return c, fmt.Errorf("-only %s: none of these runs on -backend %s", only, backendList)
	}
	c.seshatFlags = strings.Fields(seshatFlags)
	return c, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// findBenchDir is the directory of the module github.com/seshat-go/seshat/bench:
// the working directory or one above it, or bench/ below it.
func findBenchDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	isBench := func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		return err == nil && strings.HasPrefix(string(b), "module github.com/seshat-go/seshat/bench\n")
	}
	if isBench(filepath.Join(wd, "bench")) {
		return filepath.Join(wd, "bench"), nil
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isBench(dir) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("cannot find the bench directory (a go.mod for github.com/seshat-go/seshat/bench): run from bench/ or the repository root, or give -dir")
		}
	}
}

// lookTool finds a required binary, or says how to install it.
func lookTool(bin, pkg string) (string, error) {
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s not found in PATH: install it with `apt-get install %s` (or run ./run.sh, which does)", bin, pkg)
	}
	return p, nil
}

func run(ctx context.Context) error {
	cfg, err := parseFlags()
	if err != nil {
		return err
	}
	if cfg.dir == "" {
		if cfg.dir, err = findBenchDir(); err != nil {
			return err
		}
	}
	if cfg.dir, err = filepath.Abs(cfg.dir); err != nil {
		return err
	}
	if cfg.out == "" {
		cfg.out = filepath.Join(cfg.dir, "results.md")
	}
	if cfg.uses("redis") {
		if cfg.redisBin, err = lookTool(cfg.redisBin, "redis-server"); err != nil {
			return err
		}
	}
	if cfg.uses("postgres") {
		if cfg.pgBin, err = pgBinDir(cfg.pgBin); err != nil {
			return err
		}
	}
	if cfg.wrkBin, err = lookTool(cfg.wrkBin, "wrk"); err != nil {
		return err
	}
	goBin, err := exec.LookPath("go")
	if err != nil && cfg.hasGoApps() {
		return errors.New("go not found in PATH: the Go apps are built with `go build`")
	}

	loadAvg := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			loadAvg = strings.Join(f[:3], " ")
		}
	}

	tmp, err := os.MkdirTemp("", "seshat-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Build every Go app once (the same binary serves every backend and
	// variant), all in one go build (its packages build in parallel); if
	// that fails, one by one, so that a failure is that app's alone.
	bins := map[string]string{}
	buildErr := map[string]error{}
	expressErr := error(nil)
	var pkgs []string
	for _, b := range cfg.backends {
		for _, name := range b.impls {
			if name == "express" {
				expressErr = checkExpress(&cfg)
			} else if !contains(pkgs, pkg(name)) {
				pkgs = append(pkgs, pkg(name))
			}
		}
	}
	if len(pkgs) > 0 {
		logf("building %s", strings.Join(pkgs, ", "))
		args := []string{"build", "-o", tmp + string(filepath.Separator)}
		for _, p := range pkgs {
			args = append(args, "./"+p)
		}
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = cfg.dir
		if _, err := cmd.CombinedOutput(); err == nil {
			for _, p := range pkgs {
				bins[p] = filepath.Join(tmp, p)
			}
		} else {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			for _, p := range pkgs {
				bin := filepath.Join(tmp, p)
				cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./"+p)
				cmd.Dir = cfg.dir
				if out, err := cmd.CombinedOutput(); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					buildErr[p] = fmt.Errorf("go build ./%s: %v\n%s", p, err, strings.TrimSpace(string(out)))
					continue
				}
				bins[p] = bin
			}
		}
	}

	var tables []table
	var pgVersion, pgSettings string
	for _, b := range cfg.backends {
		if len(b.impls) == 0 {
			continue
		}
		t := table{backend: b}
		for _, name := range b.impls {
			res := &result{name: name, bin: bins[pkg(name)], err: buildErr[pkg(name)]}
			if name == "express" {
				res.err = expressErr
			}
			t.results = append(t.results, res)
		}
		var db sessionDB
		switch b.name {
		case "redis", "frameworks":
			rs, err := startRedis(ctx, cfg.redisBin, tmp)
			if err != nil {
				return fmt.Errorf("starting redis-server: %w", err)
			}
			defer rs.stop()
			logf("redis-server %s on %s", redisVersion(cfg.redisBin), rs.addr)
			db = rs
		case "memory":
			db = memBackend{}
		case "postgres":
			logf("starting PostgreSQL from %s", cfg.pgBin)
			ps, err := startPostgres(ctx, cfg.pgBin)
			if err != nil {
				return fmt.Errorf("starting PostgreSQL: %w", err)
			}
			defer ps.stop()
			logf("PostgreSQL %s on 127.0.0.1:%d (data in %s)", ps.version, ps.port, ps.dir)
			pgVersion, pgSettings = ps.version, ps.settings
			db = ps
		}
		if err := benchTable(ctx, &cfg, db, tmp, &t); err != nil {
			return err
		}
		db.stop()
		tables = append(tables, t)
	}

	m := machine(&cfg, goBin)
	m.loadAvg = loadAvg
	m.pgVersion, m.pgSettings = pgVersion, pgSettings
	report := render(&cfg, tables, m)
	fmt.Print(report.table)
	if err := os.WriteFile(cfg.out, []byte(report.file), 0o644); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	logf("results written to %s", cfg.out)
	total, nFailed := 0, 0
	for _, t := range tables {
		total += len(t.results)
		nFailed += failed(t.results)
	}
	if nFailed > 0 {
		return fmt.Errorf("%d of %d implementations failed (see the notes)", nFailed, total)
	}
	return nil
}

// table is one backend's implementations and their results.
type table struct {
	backend backend
	results []*result
}

// benchTable runs the rounds of one backend's implementations.
func benchTable(ctx context.Context, cfg *config, db sessionDB, tmp string, t *table) error {
	client := newHTTPClient()
	defer client.CloseIdleConnections()
	// Rounds interleave the implementations in time, so that a slow
	// moment of a shared machine does not fall on one of them only.
	for round := range cfg.rounds {
		for _, res := range t.results {
			if res.err != nil {
				if round == 0 {
					logf("%s on %s: skipped: %v", res.name, t.backend.title, res.err)
				}
				continue
			}
			logf("== %s on %s, round %d of %d", res.name, t.backend.title, round+1, cfg.rounds)
			res.err = benchOne(ctx, cfg, db, client, tmp, res, round)
			client.CloseIdleConnections()
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			if res.err != nil {
				logf("%s on %s: FAILED: %v", res.name, t.backend.title, res.err)
			}
		}
	}
	for _, res := range t.results {
		res.med = map[int]scenarios{}
		for _, c := range cfg.conns {
			s := res.samples[c]
			res.med[c] = scenarios{write: median(s["write"]), read: median(s["read"]), create: median(s["create"])}
		}
	}
	return nil
}

// uses reports whether the run has implementations on the backend.
func (c *config) uses(backendName string) bool {
	for _, b := range c.backends {
		// The frameworks table keeps its sessions in Redis.
		if (b.name == backendName || backendName == "redis" && b.name == "frameworks") && len(b.impls) > 0 {
			return true
		}
	}
	return false
}

func (c *config) hasGoApps() bool {
	for _, b := range c.backends {
		for _, name := range b.impls {
			if name != "express" {
				return true
			}
		}
	}
	return false
}

func (c *config) hasExpress() bool {
	for _, b := range c.backends {
		if contains(b.impls, "express") {
			return true
		}
	}
	return false
}

func failed(results []*result) int {
	n := 0
	for _, r := range results {
		if r.err != nil {
			n++
		}
	}
	return n
}

// expressPackages are the npm packages the express app needs.
var expressPackages = []string{"express", "express-session", "connect-redis", "redis", "connect-pg-simple", "pg"}

// checkExpress finds node and the npm packages.
func checkExpress(cfg *config) error {
	bin, err := exec.LookPath(cfg.nodeBin)
	if err != nil {
		return fmt.Errorf("node not found in PATH: install it with `apt-get install nodejs npm`")
	}
	cfg.nodeBin = bin
	for _, pkg := range expressPackages {
		if _, err := os.Stat(filepath.Join(cfg.dir, "express", "node_modules", pkg, "package.json")); err != nil {
			return fmt.Errorf("npm package %s is not installed: run ./run.sh, or `cd %s && npm install --no-package-lock`", pkg, filepath.Join(cfg.dir, "express"))
		}
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// result is one implementation's figures on one backend.
type result struct {
	name    string
	bin     string // the Go app's binary ("" for express)
	err     error
	samples map[int]map[string][]wrkResult // per connection count and scenario, one per round
	med     map[int]scenarios              // per connection count: the medians of the rounds

	lost, lostFailed int
	bytesPerSession  float64
	// sweepPause is the memory backend's sweep pause; noSweep when the
	// implementation keeps nothing on the server to sweep.
	sweepPause time.Duration
	noSweep    bool
	notes      []string
}

// scenarios are the three wrk measurements at one connection count.
type scenarios struct{ write, read, create wrkResult }

// sessionDB is the server one table's implementations keep their
// sessions in: redis-server or PostgreSQL (or nothing: memBackend).
type sessionDB interface {
	// reset empties it before an implementation starts.
	reset(ctx context.Context) error
	// appArgs are the app's flags to reach it (node: the express app).
	appArgs(node bool) []string
	// memoryStart empties the implementation's sessions while its app
	// runs, and returns the bytes used then.
	memoryStart(ctx context.Context, impl string) (int64, error)
	// memoryEnd returns the bytes used after n sessions were created,
	// with a note on what holds them.
	memoryEnd(ctx context.Context, impl string, n int, start int64) (int64, string, error)
	// memoryWorkers is how many sessions are created at once for it.
	memoryWorkers() int
	stop()
}

// app is one running implementation.
type app struct {
	p    *proc
	base string // http://127.0.0.1:port
	addr string
}

// startApp starts an implementation's app on a free port, with extra
// flags, and waits until it answers.
func startApp(ctx context.Context, cfg *config, db sessionDB, client *http.Client, tmp string, res *result, extra ...string) (*app, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env := []string{"BENCH_ADDR=" + addr}
	logPath := filepath.Join(tmp, res.name+".log")
	var p *proc
	switch res.name {
	case "express":
		p, err = startProc(res.name, filepath.Join(cfg.dir, "express"), logPath, append(env, "NODE_ENV=production"),
			cfg.nodeBin, append([]string{"server.js", "--addr", addr}, db.appArgs(true)...)...)
	default:
		args := append([]string{"-addr", addr}, db.appArgs(false)...)
		if pkg(res.name) == "seshat" {
			args = append(args, cfg.seshatFlags...)
		}
		args = append(args, appArgs[res.name]...)
		args = append(args, extra...)
		p, err = startProc(res.name, cfg.dir, logPath, env, res.bin, args...)
	}
	if err != nil {
		return nil, err
	}
	a := &app{p: p, base: "http://" + addr, addr: addr}
	if err := waitReady(ctx, client, a.base, p); err != nil {
		p.stop()
		return nil, err
	}
	return a, nil
}

// connections is "1 connection" or "64 connections".
func connections(n int) string {
	if n == 1 {
		return "1 connection"
	}
	return fmt.Sprintf("%d connections", n)
}

// serverSide reports whether an implementation keeps its sessions on the
// server, so that a logout revokes the cookie: all but gorilla's cookie
// store (gorilla on the memory backend).
func serverSide(db sessionDB, impl string) bool {
	_, mem := db.(memBackend)
	return !(mem && impl == "gorilla")
}

// benchOne runs every measurement on one implementation.
// Only the first round measures lost updates and memory, and keeps notes.
func benchOne(ctx context.Context, cfg *config, db sessionDB, client *http.Client, tmp string, res *result, round int) error {
	if err := db.reset(ctx); err != nil {
		return err
	}
	a, err := startApp(ctx, cfg, db, client, tmp, res)
	if err != nil {
		return err
	}
	p, base := a.p, a.base
	defer p.stop()
	// Wrap every later error with the app's log when it died.
	check := func(err error) error {
		if err != nil && p.exited() {
			return fmt.Errorf("%v\n%v", err, p.exitError())
		}
		return err
	}
	if err := smoke(ctx, client, base, serverSide(db, res.name)); err != nil {
		return check(fmt.Errorf("smoke test: %w", err))
	}
	cookie, err := newSession(ctx, client, base)
	if err != nil {
		return check(err)
	}

	if res.samples == nil {
		res.samples = map[int]map[string][]wrkResult{}
	}
	scenarios := []struct {
		name, path string
		cookie     bool
	}{
		{"write", "/", true},
		{"read", "/read", true},
		{"create", "/", false},
	}
	var createRate float64 // the best of the connection counts, for the memory backend's fill
	for _, conns := range cfg.conns {
		w := wrkRunner{bin: cfg.wrkBin, threads: min(cfg.threads, conns), conns: conns}
		if res.samples[conns] == nil {
			res.samples[conns] = map[string][]wrkResult{}
		}
		at := ""
		if len(cfg.conns) > 1 {
			at = " at " + connections(conns)
		}
		for _, s := range scenarios {
			ck := ""
			if s.cookie {
				ck = cookie
			}
			if cfg.warmup > 0 {
				if _, err := w.run(ctx, base+s.path, ck, cfg.warmup); err != nil {
					return check(fmt.Errorf("%s%s warm-up: %w", s.name, at, err))
				}
			}
			var before int64
			if s.name == "write" {
				if before, _, err = count(ctx, client, base, "/read", cookie); err != nil {
					return check(err)
				}
			}
			coster, _ := db.(serverCoster)
			var u0 serverUsage
			if coster != nil {
				if u0, err = coster.usage(ctx); err != nil {
					return err
				}
			}
			r, err := w.run(ctx, base+s.path, ck, cfg.duration)
			if err != nil {
				return check(fmt.Errorf("%s%s: %w", s.name, at, err))
			}
			if coster != nil {
				u1, err := coster.usage(ctx)
				if err != nil {
					return err
				}
				r.cost = perRequest(u0, u1, r.requests)
			}
			res.samples[conns][s.name] = append(res.samples[conns][s.name], r)
			logf("%s c=%-3d %-6s %10.0f req/s  p99 %s  (%d requests)", res.name, conns, s.name, r.rps, fmtDur(r.p99), r.requests)
			if s.name == "create" {
				createRate = max(createRate, r.rps)
			}
			if r.non2xx > 0 || r.sockErrs != "" {
				note := fmt.Sprintf("%s%s: %d non-2xx answers, socket errors: %s", s.name, at, r.non2xx, orNone(r.sockErrs))
				if r.non2xx > 0 {
					note += "; the app's log ends with:\n\n  ```\n  " + strings.ReplaceAll(p.tailLines(3), "\n", "\n  ") + "\n  ```"
				}
				res.notes = append(res.notes, note)
			}
			if s.name == "write" && round == 0 {
				after, _, err := count(ctx, client, base, "/read", cookie)
				if err != nil {
					return check(err)
				}
				res.notes = append(res.notes, fmt.Sprintf("write%s: wrk counted %s answers, the session's counter rose by %s", at, thousands(float64(r.requests)), thousands(float64(after-before))))
			}
			if p.exited() {
				return p.exitError()
			}
		}
	}

	if round > 0 {
		return nil
	}
	res.lost, res.lostFailed, err = lostUpdates(ctx, client, base, cfg.concurrent)
	if err != nil {
		return check(fmt.Errorf("lost updates: %w", err))
	}
	logf("%s lost updates: %d of %d (%d requests failed)", res.name, res.lost, cfg.concurrent, res.lostFailed)
	if res.lostFailed > 0 {
		res.notes = append(res.notes, fmt.Sprintf("lost updates: %d of the %d concurrent requests failed", res.lostFailed, cfg.concurrent))
	}
	if !serverSide(db, res.name) {
		res.notes = append(res.notes, "the cookie store keeps the session in the cookie: each answer carries a new cookie with views+1, and a client that sends the old cookie again (wrk in the write run; the lost-update check, which reads with the cookie all the increments were sent with) still sees the old count, so the counter does not rise and every concurrent increment counts as lost; a logout cannot revoke a copied cookie (the smoke test drops the cookie on logout, as a browser does)")
	}

	if _, ok := db.(memBackend); ok {
		// The heap and sweep measurement starts a fresh app of its own.
		p.stop()
		return measureHeap(ctx, cfg, db, client, tmp, res, createRate)
	}

	// Memory: from no sessions (the app's connections stay open), n
	// sessions with views=1.
	m0, err := db.memoryStart(ctx, res.name)
	if err != nil {
		return check(err)
	}
	if err := createSessions(ctx, client, base, cfg.sessions, db.memoryWorkers()); err != nil {
		return check(fmt.Errorf("creating %d sessions: %w", cfg.sessions, err))
	}
	m1, note, err := db.memoryEnd(ctx, res.name, cfg.sessions, m0)
	if err != nil {
		return check(err)
	}
	res.bytesPerSession = float64(m1-m0) / float64(cfg.sessions)
	logf("%s bytes/session: %.0f (%s)", res.name, res.bytesPerSession, note)
	res.notes = append(res.notes, note)
	return nil
}

// median returns the median of the rounds' throughputs, with the median
// of their p99 latencies (each taken on its own).
func median(rs []wrkResult) wrkResult {
	if len(rs) == 0 {
		return wrkResult{}
	}
	byRPS := slices.Clone(rs)
	slices.SortFunc(byRPS, func(a, b wrkResult) int { return cmp.Compare(a.rps, b.rps) })
	m := byRPS[len(byRPS)/2]
	p99s := make([]time.Duration, len(rs))
	for i, r := range rs {
		p99s[i] = r.p99
	}
	slices.Sort(p99s)
	m.p99 = p99s[len(p99s)/2]
	// The server's cost per request: the median of each figure.
	var costs []serverCost
	for _, r := range rs {
		if r.cost != nil {
			costs = append(costs, *r.cost)
		}
	}
	if len(costs) > 0 {
		mid := func(f func(serverCost) float64) float64 {
			v := make([]float64, len(costs))
			for i, c := range costs {
				v[i] = f(c)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		m.cost = &serverCost{
			cpuMicros: mid(func(c serverCost) float64 { return c.cpuMicros }),
			bytesIn:   mid(func(c serverCost) float64 { return c.bytesIn }),
			bytesOut:  mid(func(c serverCost) float64 { return c.bytesOut }),
			walBytes:  mid(func(c serverCost) float64 { return c.walBytes }),
		}
	}
	return m
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// waitReady polls GET /read until the app answers, it exits, or 30 s pass.
func waitReady(ctx context.Context, client *http.Client, base string, p *proc) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p.exited() {
			return p.exitError()
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := get(rctx, client, base, "/read", "")
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer on %s after 30 s: %v\n--- %s ---\n%s", p.name, base, err, p.log, p.tail())
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// machineInfo describes where the run happened.
type machineInfo struct {
	cpu, goVersion, nodeVersion, redisVersion, wrkVersion string
	pgVersion, pgSettings                                 string
	loadAvg                                               string // at the start, before anything ran
	cores                                                 int
	date                                                  time.Time
}

func machine(cfg *config, goBin string) machineInfo {
	m := machineInfo{cpu: "unknown", cores: runtime.NumCPU(), date: time.Now().UTC()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	m.goVersion = runtime.Version()
	if goBin != "" {
		if out, err := exec.Command(goBin, "env", "GOVERSION").Output(); err == nil {
			m.goVersion = strings.TrimSpace(string(out))
		}
	}
	m.nodeVersion = "not used"
	if cfg.hasExpress() {
		m.nodeVersion = "not found"
		if out, err := exec.Command(cfg.nodeBin, "--version").Output(); err == nil {
			m.nodeVersion = strings.TrimSpace(string(out))
		}
	}
	m.redisVersion = "not used"
	if cfg.uses("redis") {
		m.redisVersion = redisVersion(cfg.redisBin)
	}
	m.wrkVersion = wrkVersion(cfg.wrkBin)
	return m
}

// thousands formats 41230.4 as "41,230".
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	if v < 0 {
		s = strconv.FormatInt(int64(v-0.5), 10)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
