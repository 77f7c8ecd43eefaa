package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgDatabase is the database the apps use; it is dropped and created
// again before each implementation runs.
const pgDatabase = "bench"

// pgTables are each implementation's session tables on PostgreSQL, emptied
// (TRUNCATE) before the bytes-per-session measurement. Every table of the
// database is measured; these are the ones that grow with sessions.
var pgTables = map[string][]string{
	"floor":   {"floor_sessions"},
	"seshat":  {"seshat_sessions", "seshat_values", "seshat_ops", "seshat_events"},
	"scs":     {"sessions"},
	"express": {"session"},
}

// pgServer is the one PostgreSQL cluster the PostgreSQL implementations
// use: a throwaway cluster (initdb on a temporary directory), listening on
// a free loopback port, with PostgreSQL's default settings otherwise
// (fsync, synchronous_commit and full_page_writes on). It runs as the
// user "postgres" (runuser) when the runner is root, since PostgreSQL
// refuses to run as root.
type pgServer struct {
	proc     *proc
	dir      string // owned by the server's user; removed by stop
	bin      string // the directory of initdb and postgres
	as       string // the user the server runs as ("" for the runner's)
	port     int
	admin    *pgx.Conn // to the "postgres" database, for DROP/CREATE DATABASE
	db       *pgx.Conn // to pgDatabase, for the measurements; nil until reset
	version  string
	settings string // the settings that bear on the figures, as the server reports them
}

// pgBinDir is the directory of PostgreSQL's server programs: dir if
// given, else the newest /usr/lib/postgresql/N/bin, else initdb's
// directory on the PATH.
func pgBinDir(dir string) (string, error) {
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err != nil {
			return "", fmt.Errorf("-pg-bin %s: no initdb there", dir)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(d string) int { n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d))); return n }
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL not found (no /usr/lib/postgresql/*/bin/initdb, no initdb in PATH): install it with `apt-get install postgresql` (or run ./run.sh, which does)")
}

// command is a PostgreSQL program run as the server's user.
func (s *pgServer) command(name string, args ...string) (string, []string) {
	prog := filepath.Join(s.bin, name)
	if s.as == "" {
		return prog, args
	}
	return "runuser", append([]string{"-u", s.as, "--", prog}, args...)
}

func (s *pgServer) url(db string) string {
	return fmt.Sprintf("postgres://seshat@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// startPostgres makes a cluster in a new temporary directory and starts
// it; stop stops it and removes the directory.
func startPostgres(ctx context.Context, binDir string) (_ *pgServer, err error) {
	s := &pgServer{bin: binDir}
	if os.Geteuid() == 0 {
		s.as = "postgres"
	}
	if s.dir, err = os.MkdirTemp("", "seshat-bench-pg-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if s.as != "" {
		u, err := user.Lookup(s.as)
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL runs as the user %q, which does not exist (`apt-get install postgresql` makes it): %v", s.as, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if out, err := exec.Command(filepath.Join(binDir, "postgres"), "--version").Output(); err == nil {
		s.version = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "postgres (PostgreSQL)"))
	}
	data := filepath.Join(s.dir, "data")
	// --no-sync only spares initdb's own final fsync of the new files (the
	// cluster is thrown away); the server keeps fsync on.
	prog, args := s.command("initdb", "-D", data, "-U", "seshat", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := exec.CommandContext(ctx, prog, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	prog, args = s.command("postgres", "-D", data, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+s.dir)
	if s.proc, err = startProc("postgres", s.dir, filepath.Join(s.dir, "postgres.log"), nil, prog, args...); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s.proc.exited() {
			return nil, s.proc.exitError()
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s.admin, err = pgx.Connect(cctx, s.url("postgres"))
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("PostgreSQL on port %d does not accept connections after 30 s: %v\n%s", s.port, err, s.proc.tail())
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	var settings []string
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers", "max_connections"} {
		var v string
		if err := s.admin.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			return nil, fmt.Errorf("postgres: SHOW %s: %w", name, err)
		}
		settings = append(settings, fmt.Sprintf("`%s` %s", name, v))
	}
	s.settings = strings.Join(settings, ", ")
	return s, nil
}

// stop stops the server at once (SIGQUIT, PostgreSQL's immediate
// shutdown: the cluster is thrown away) and removes its directory.
func (s *pgServer) stop() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.db != nil {
		s.db.Close(ctx)
		s.db = nil
	}
	if s.admin != nil {
		s.admin.Close(ctx)
		s.admin = nil
	}
	if s.proc != nil && !s.proc.exited() {
		// With runuser in between, the runner's child is runuser: signal
		// the postmaster, whose PID heads its lock file.
		target := s.proc.cmd.Process.Pid
		if b, err := os.ReadFile(filepath.Join(s.dir, "data", "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(b), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && pid > 0 {
				target = pid
			}
		}
		_ = syscall.Kill(target, syscall.SIGQUIT)
		select {
		case <-s.proc.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(target, syscall.SIGKILL)
			s.proc.stop()
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// reset gives the next implementation an empty database: dropped (any
// connection left is ended) and created again.
func (s *pgServer) reset(ctx context.Context) error {
	if s.db != nil {
		s.db.Close(ctx)
		s.db = nil
	}
	for _, q := range []string{
		"DROP DATABASE IF EXISTS " + pgDatabase + " WITH (FORCE)",
		"CREATE DATABASE " + pgDatabase,
	} {
		if _, err := s.admin.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres: %s: %w", q, err)
		}
	}
	db, err := pgx.Connect(ctx, s.url(pgDatabase))
	if err != nil {
		return fmt.Errorf("postgres: connect to %s: %w", pgDatabase, err)
	}
	s.db = db
	return nil
}

// emptyTables truncates an implementation's session tables, while its app
// runs, before the bytes-per-session measurement.
func (s *pgServer) emptyTables(ctx context.Context, impl string) error {
	tables := pgTables[pkg(impl)]
	if len(tables) == 0 {
		return fmt.Errorf("postgres: no session tables known for %s", impl)
	}
	if _, err := s.db.Exec(ctx, "SET lock_timeout = '10s'"); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, "TRUNCATE "+strings.Join(tables, ", ")); err != nil {
		return fmt.Errorf("postgres: TRUNCATE %s: %w", strings.Join(tables, ", "), err)
	}
	return nil
}

// pgSizeQuery is the bytes the tables of the public schema take: the main
// fork of every table, of its indexes, of its TOAST table and of the TOAST
// table's index. The free-space and visibility maps, which (auto)vacuum
// adds once per relation whatever its size, are left out.
const pgSizeQuery = `WITH t AS (
	SELECT c.oid, c.reltoastrelid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
), rels AS (
	SELECT oid FROM t
	UNION ALL SELECT reltoastrelid FROM t WHERE reltoastrelid <> 0
	UNION ALL SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM t UNION ALL SELECT reltoastrelid FROM t)
)
SELECT coalesce(sum(pg_relation_size(oid, 'main')), 0)::bigint FROM rels`

// usedBytes is what pgSizeQuery counts in the bench database.
func (s *pgServer) usedBytes(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRow(ctx, pgSizeQuery).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: table sizes: %w", err)
	}
	return n, nil
}

// rows describes the row counts of an implementation's session tables,
// e.g. "seshat_sessions 10,000, seshat_values 10,000".
func (s *pgServer) rows(ctx context.Context, impl string) string {
	var parts []string
	for _, t := range pgTables[pkg(impl)] {
		var n int64
		if err := s.db.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			parts = append(parts, t+" ?")
			continue
		}
		parts = append(parts, t+" "+thousands(float64(n)))
	}
	return strings.Join(parts, ", ")
}

// appArgs points an app at the bench database.
func (s *pgServer) appArgs(node bool) []string {
	if node {
		return []string{"--pg", s.url(pgDatabase)}
	}
	return []string{"-pg", s.url(pgDatabase)}
}

// memoryStart empties the implementation's session tables and returns
// the bytes the database's tables take.
func (s *pgServer) memoryStart(ctx context.Context, impl string) (int64, error) {
	if err := s.emptyTables(ctx, impl); err != nil {
		return 0, err
	}
	return s.usedBytes(ctx)
}

// memoryEnd returns the bytes the database's tables take, with the rows
// of the session tables.
func (s *pgServer) memoryEnd(ctx context.Context, impl string, n int, start int64) (int64, string, error) {
	b, err := s.usedBytes(ctx)
	if err != nil {
		return 0, "", err
	}
	return b, fmt.Sprintf("size: the tables grew by %s bytes (%s to %s) for %s sessions; rows: %s",
		thousands(float64(b-start)), thousands(float64(start)), thousands(float64(b)), thousands(float64(n)), s.rows(ctx, impl)), nil
}

// memoryWorkers: one session at a time. When concurrent inserts wait to
// extend a table, PostgreSQL extends it by many pages at once (up to 512),
// so with concurrent creations the pages taken depend on how the inserts
// happened to collide: on 1,000 sessions and 16 at once, the floor took 188
// to 311 bytes per session in successive runs, seshat 508 to 1,065.
func (s *pgServer) memoryWorkers() int { return 1 }

// usage sums the CPU time of the cluster's processes, as /proc counts it:
// the postmaster's own and its reaped children's, and each live child's
// (the apps' connections, the WAL writer, the checkpointer…); and reads
// how far the write-ahead log has gone (pg_current_wal_lsn).
func (s *pgServer) usage(ctx context.Context) (serverUsage, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "data", "postmaster.pid"))
	if err != nil {
		return serverUsage{}, fmt.Errorf("postgres: %w", err)
	}
	pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return serverUsage{}, fmt.Errorf("postgres: postmaster.pid: %w", err)
	}
	var ticks int64
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command, which is in parentheses: ppid is
		// the 2nd, utime the 12th, stime, cutime, cstime the next three.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if pid != pm && ppid != pm {
			continue
		}
		n := 2 // utime, stime
		if pid == pm {
			n = 4 // and the reaped children's
		}
		for _, v := range f[11 : 11+n] {
			t, _ := strconv.ParseInt(v, 10, 64)
			ticks += t
		}
	}
	var wal int64
	if err := s.admin.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").Scan(&wal); err != nil {
		return serverUsage{}, fmt.Errorf("postgres: WAL position: %w", err)
	}
	// /proc counts in USER_HZ, 100 a second on Linux whatever the kernel's tick.
	return serverUsage{cpu: time.Duration(ticks) * 10 * time.Millisecond, wal: wal}, nil
}
