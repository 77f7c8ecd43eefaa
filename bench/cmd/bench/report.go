package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

type report struct {
	table string // the markdown tables alone (stdout)
	file  string // the results file: machine, settings, table, notes
}

// render builds one table per backend and connection count, with ratios
// to that backend's base (floor; scs on the memory backend) when it
// succeeded, and the results file around them.
func render(cfg *config, tables []table, m machineInfo) report {
	var out, body, notesAll strings.Builder
	for _, tb := range tables {
		for _, conns := range cfg.conns {
			title := tableTitle(tb.backend)
			if len(cfg.conns) > 1 {
				title += ", " + connections(conns)
			}
			t, base := renderTable(cfg, tb, conns)
			extra := renderPipelineRatios(tb, conns) + observerCost(tb, conns) + frameworkRatios(tb, conns) + renderServerCost(tb, conns)
			fmt.Fprintf(&out, "On %s:\n\n%s\n%s", title, t, extra)
			fmt.Fprintf(&body, "## On %s\n\n%s\n", title, t)
			if base != "" {
				fmt.Fprintf(&body, "Ratios are to `%s` (%s): above 1 is faster for req/s, slower for p99.\n\n", base, baseWhat[tb.backend.name])
			}
			body.WriteString(extra)
		}
		if len(cfg.conns) > 1 {
			fmt.Fprintf(&body, "wrk: `-t` the smaller of %d and the connection count. Lost updates and bytes per session do not depend on the connection count: they are measured once, and repeated in each table. ", cfg.threads)
		}
		fmt.Fprintf(&body, "Writes: `GET /` with one session's cookie on every connection; reads: `GET /read` with it; creates: `GET /` without a cookie. "+
			"Lost updates: %d concurrent `GET /` on a fresh session, minus how much its counter rose. %s\n\n",
			cfg.concurrent, bytesHow(tb.backend.name, cfg))
		var notes []string
		for _, r := range tb.results {
			if r.err != nil {
				notes = append(notes, fmt.Sprintf("- **%s failed**:\n\n  ```\n  %s\n  ```", r.name, strings.ReplaceAll(r.err.Error(), "\n", "\n  ")))
				continue
			}
			for _, n := range r.notes {
				notes = append(notes, fmt.Sprintf("- %s, %s", r.name, n))
			}
		}
		if len(notes) > 0 {
			fmt.Fprintf(&notesAll, "\n### On %s\n\n%s\n", tableTitle(tb.backend), strings.Join(notes, "\n"))
		}
	}

	var f strings.Builder
	f.WriteString("# Session libraries side by side\n\n")
	fmt.Fprintf(&f, "- Date: %s\n", m.date.Format(time.RFC3339))
	fmt.Fprintf(&f, "- Machine: %s, %d cores (wrk, the app and the server share them); load average before the run: %s\n", m.cpu, m.cores, m.loadAvg)
	redis := "redis-server " + m.redisVersion + " (`--save \"\" --appendonly no`)"
	if m.redisVersion == "not used" {
		redis = "redis-server not used"
	}
	fmt.Fprintf(&f, "- Go %s, Node %s, %s, wrk %s\n",
		strings.TrimPrefix(m.goVersion, "go"), m.nodeVersion, redis, m.wrkVersion)
	if m.pgVersion != "" {
		fmt.Fprintf(&f, "- PostgreSQL %s: a throwaway cluster (`initdb -A trust`) with the default settings but for the port, `listen_addresses=127.0.0.1` and the socket directory, so durability as shipped: %s\n", m.pgVersion, m.pgSettings)
	}
	fmt.Fprintf(&f, "- Command: `%s`\n", commandLine())
	fmt.Fprintf(&f, "- Load: `wrk -t%d -c%s -d%ds --latency`, after a %v warm-up per scenario; %d rounds over all implementations of a table, interleaved: req/s and p99 are the medians of the rounds\n\n",
		cfg.threads, joinInts(cfg.conns, "/"), int(cfg.duration.Round(time.Second)/time.Second), cfg.warmup, cfg.rounds)
	f.WriteString(body.String())
	if notesAll.Len() > 0 {
		f.WriteString("## Notes\n")
		f.WriteString(notesAll.String())
	}
	return report{table: out.String(), file: f.String()}
}

// tableTitle names a backend in headings: "Redis", "PostgreSQL", "the
// memory backend", "Redis, by framework".
func tableTitle(b backend) string {
	switch b.name {
	case "memory":
		return "the memory backend"
	case "frameworks":
		return "Redis, by framework"
	}
	return b.title
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, sep)
}

// baseWhat says what each backend's ratio base is.
var baseWhat = map[string]string{
	"redis":    "bare go-redis, one round trip per request",
	"postgres": "bare pgx, one statement, one round trip per request",
	"memory":   "scs with its memstore, the peer to beat on this backend",
}

// bytesHow explains the bytes/session column (and, on the memory backend,
// the sweep pause).
func bytesHow(backendName string, cfg *config) string {
	switch backendName {
	case "postgres":
		return fmt.Sprintf("Bytes/session: with the implementation's session tables emptied (TRUNCATE, its app still running), the growth over %s new sessions holding views=1, created one at a time, "+
			"of the pages the database's tables take (`pg_relation_size` of the main fork of every table of the schema, of its indexes and of its TOAST table and index; "+
			"the free-space and visibility maps, a few pages per relation whatever its size, left out), divided by the number of sessions: rows, index entries and the free space left in their 8 kB pages.", thousands(float64(cfg.sessions)))
	case "memory":
		return fmt.Sprintf("Go heap bytes/session: on a freshly started app, the growth of `runtime.MemStats.HeapAlloc` after `runtime.GC()` (the app's loopback-only `/debug/heap`) over %s sessions holding views=1, created over HTTP (`GET /` without a cookie, 32 keep-alive connections), divided by %s. "+
			"Sweep pause: the app runs with every session living T and the store sweeping expired sessions every T (`-ttl T -sweep T`, T longer than the fill); one connection sends `GET /read` back to back, with a live session, "+
			"from 0.5 s before until 4 s after the sweep due at T (over the %s sessions, all live) and the one due at 2T (which reclaims all of them, expired); the column is the longest of those reads, the stall a request sees while the store sweeps (the notes give each, and the longest read of the same loop with no sweep running). "+
			"gorilla's cookie store keeps nothing on the server: its bytes are the (near-zero) heap growth, and it has no sweep.",
			thousands(float64(cfg.memSessions)), thousands(float64(cfg.memSessions)), thousands(float64(cfg.memSessions)))
	}
	return fmt.Sprintf("Bytes/session: Redis `used_memory` growth over %s new sessions holding views=1, from an empty Redis.", thousands(float64(cfg.sessions)))
}

// find is the result of the named implementation if it succeeded.
func find(tb table, name string) *result {
	for _, r := range tb.results {
		if r.name == name && r.err == nil {
			return r
		}
	}
	return nil
}

func ratioOf(v, base float64) string {
	if base == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v/base)
}

// renderTable is one backend's markdown table at one connection count;
// base is the implementation the ratios are to ("" for none).
func renderTable(cfg *config, tb table, conns int) (string, string) {
	baseRes := find(tb, tb.backend.base)
	ratio := func(v, base float64) string {
		if baseRes == nil || base == 0 {
			return ""
		}
		return " (" + ratioOf(v, base) + ")"
	}
	mem := tb.backend.name == "memory"
	var t strings.Builder
	if mem {
		fmt.Fprintf(&t, "| implementation | writes req/s | reads req/s | creates req/s | write p99 | read p99 | lost updates (of %d) | Go heap bytes/session (%s sessions) | sweep pause |\n", cfg.concurrent, thousands(float64(cfg.memSessions)))
		t.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	} else {
		fmt.Fprintf(&t, "| implementation | writes req/s | reads req/s | creates req/s | write p99 | read p99 | lost updates (of %d) | %s bytes/session |\n", cfg.concurrent, tb.backend.title)
		t.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	}
	for _, r := range tb.results {
		if r.err != nil {
			fmt.Fprintf(&t, "| %s | failed (see notes) | – | – | – | – | – | –%s |\n", r.name, map[bool]string{true: " | –"}[mem])
			continue
		}
		var b scenarios
		if baseRes != nil {
			b = baseRes.med[conns]
		}
		m := r.med[conns]
		lost := strconv.Itoa(r.lost)
		if r.lostFailed > 0 {
			lost += fmt.Sprintf(" (%d failed)", r.lostFailed)
		}
		fmt.Fprintf(&t, "| %s | %s%s | %s%s | %s%s | %s%s | %s%s | %s | %s", r.name,
			thousands(m.write.rps), ratio(m.write.rps, b.write.rps),
			thousands(m.read.rps), ratio(m.read.rps, b.read.rps),
			thousands(m.create.rps), ratio(m.create.rps, b.create.rps),
			fmtDur(m.write.p99), ratio(float64(m.write.p99), float64(b.write.p99)),
			fmtDur(m.read.p99), ratio(float64(m.read.p99), float64(b.read.p99)),
			lost, thousands(r.bytesPerSession))
		if mem {
			pause := "none (nothing to sweep)"
			if !r.noSweep {
				pause = fmtDur(r.sweepPause)
				if baseRes != nil && !baseRes.noSweep {
					pause += ratio(float64(r.sweepPause), float64(baseRes.sweepPause))
				}
			}
			fmt.Fprintf(&t, " | %s", pause)
		}
		t.WriteString(" |\n")
	}
	if baseRes == nil {
		return t.String(), ""
	}
	return t.String(), tb.backend.base
}

// renderPipelineRatios is the table of ratios to floor+pipeline, the bare
// handler with go-redis's autopipeliner, when it ran.
func renderPipelineRatios(tb table, conns int) string {
	fp := find(tb, "floor+pipeline")
	if fp == nil {
		return ""
	}
	b := fp.med[conns]
	var t strings.Builder
	t.WriteString("Against `floor+pipeline` (bare go-redis through its autopipeliner):\n\n")
	t.WriteString("| implementation | writes | reads | creates | write p99 | read p99 |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range tb.results {
		if r.err != nil || r == fp {
			continue
		}
		m := r.med[conns]
		fmt.Fprintf(&t, "| %s | %s | %s | %s | %s | %s |\n", r.name,
			ratioOf(m.write.rps, b.write.rps), ratioOf(m.read.rps, b.read.rps), ratioOf(m.create.rps, b.create.rps),
			ratioOf(float64(m.write.p99), float64(b.write.p99)), ratioOf(float64(m.read.p99), float64(b.read.p99)))
	}
	return t.String() + "\n"
}

// renderServerCost is the table of what the session server spent per
// request, when it could tell (redis-server).
func renderServerCost(tb table, conns int) string {
	var t strings.Builder
	for _, r := range tb.results {
		if r.err != nil {
			continue
		}
		m := r.med[conns]
		if m.write.cost == nil || m.read.cost == nil || m.create.cost == nil {
			continue
		}
		pg := tb.backend.name == "postgres"
		if t.Len() == 0 {
			if pg {
				t.WriteString("What PostgreSQL spent per request (CPU: the cluster's processes in /proc, user + system, 10 ms ticks; WAL: how far pg_current_wal_lsn moved; medians of the rounds):\n\n")
				t.WriteString("| implementation | write CPU | read CPU | create CPU | write WAL bytes | read WAL bytes | create WAL bytes |\n|---|---:|---:|---:|---:|---:|---:|\n")
			} else {
				t.WriteString("What redis-server spent per request (CPU: INFO cpu, user + system, the whole server; bytes: INFO stats, total_net_input_bytes and total_net_output_bytes; medians of the rounds):\n\n")
				t.WriteString("| implementation | write CPU | read CPU | create CPU | write bytes in / out | read bytes in / out | create bytes in / out |\n|---|---:|---:|---:|---:|---:|---:|\n")
			}
		}
		c := func(x *serverCost) string { return fmt.Sprintf("%.1f µs", x.cpuMicros) }
		b := func(x *serverCost) string { return fmt.Sprintf("%.0f / %.0f", x.bytesIn, x.bytesOut) }
		if pg {
			b = func(x *serverCost) string { return fmt.Sprintf("%.0f", x.walBytes) }
		}
		fmt.Fprintf(&t, "| %s | %s | %s | %s | %s | %s | %s |\n", r.name,
			c(m.write.cost), c(m.read.cost), c(m.create.cost), b(m.write.cost), b(m.read.cost), b(m.create.cost))
	}
	if t.Len() == 0 {
		return ""
	}
	return t.String() + "\n"
}

// frameworkRatios compares, on the frameworks table, seshat with each
// framework's usual session middleware (frameworkPairs), when both ran.
func frameworkRatios(tb table, conns int) string {
	if tb.backend.name != "frameworks" {
		return ""
	}
	var t strings.Builder
	for _, p := range frameworkPairs {
		a, b := find(tb, p[0]), find(tb, p[1])
		if a == nil || b == nil {
			continue
		}
		if t.Len() == 0 {
			t.WriteString("Each pair, the first ÷ the second:\n\n| pair | writes | reads | creates | write p99 | read p99 | lost updates |\n|---|---:|---:|---:|---:|---:|---:|\n")
		}
		x, y := a.med[conns], b.med[conns]
		fmt.Fprintf(&t, "| %s ÷ %s | %s | %s | %s | %s | %s | %d vs %d |\n", p[0], p[1],
			ratioOf(x.write.rps, y.write.rps), ratioOf(x.read.rps, y.read.rps), ratioOf(x.create.rps, y.create.rps),
			ratioOf(float64(x.write.p99), float64(y.write.p99)), ratioOf(float64(x.read.p99), float64(y.read.p99)), a.lost, b.lost)
	}
	if t.Len() == 0 {
		return ""
	}
	return t.String() + "\n"
}

// observerCost compares seshat (the Prometheus collector on) with
// seshat-metrics (no Observer), when both ran.
func observerCost(tb table, conns int) string {
	on, off := find(tb, "seshat"), find(tb, "seshat-metrics")
	if on == nil || off == nil {
		return ""
	}
	a, b := on.med[conns], off.med[conns]
	return fmt.Sprintf("Cost of observing: `seshat` (Prometheus collector on) ÷ `seshat-metrics` (off): writes %s, reads %s, creates %s req/s; write p99 %s, read p99 %s.\n\n",
		ratioOf(a.write.rps, b.write.rps), ratioOf(a.read.rps, b.read.rps), ratioOf(a.create.rps, b.create.rps),
		ratioOf(float64(a.write.p99), float64(b.write.p99)), ratioOf(float64(a.read.p99), float64(b.read.p99)))
}

// fmtDur formats a latency as "850 µs", "1.23 ms" or "1.05 s".
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d/time.Microsecond)
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// commandLine is how the run was started, as a `go run` line.
func commandLine() string {
	parts := []string{"go run ./cmd/bench"}
	for _, a := range os.Args[1:] {
		if strings.ContainsAny(a, " \t\"'$") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
