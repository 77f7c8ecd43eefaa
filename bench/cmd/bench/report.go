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

// render builds one table per backend, with ratios to that backend's
// floor when floor succeeded, and the results file around them.
func render(cfg *config, tables []table, m machineInfo) report {
	var out, body, notesAll strings.Builder
	for _, tb := range tables {
		t, floor := renderTable(cfg, tb)
		fmt.Fprintf(&out, "On %s:\n\n%s\n", tb.backend.title, t)
		fmt.Fprintf(&body, "## On %s\n\n%s\n", tb.backend.title, t)
		if floor {
			fmt.Fprintf(&body, "Ratios are to `floor` (%s, one round trip per request): above 1 is faster for req/s, slower for p99.\n", floorWhat[tb.backend.name])
		}
		fmt.Fprintf(&body, "Writes: `GET /` with one session's cookie on every connection; reads: `GET /read` with it; creates: `GET /` without a cookie. "+
			"Lost updates: %d concurrent `GET /` on a fresh session, minus how much its counter rose. %s\n\n",
			cfg.concurrent, bytesHow(tb.backend.name, cfg.sessions))
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
			fmt.Fprintf(&notesAll, "\n### On %s\n\n%s\n", tb.backend.title, strings.Join(notes, "\n"))
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
	fmt.Fprintf(&f, "- Load: `wrk -t%d -c%d -d%ds --latency`, after a %v warm-up per scenario; %d rounds over all implementations of a table, interleaved: req/s and p99 are the medians of the rounds\n\n",
		cfg.threads, cfg.conns, int(cfg.duration.Round(time.Second)/time.Second), cfg.warmup, cfg.rounds)
	f.WriteString(body.String())
	if notesAll.Len() > 0 {
		f.WriteString("## Notes\n")
		f.WriteString(notesAll.String())
	}
	return report{table: out.String(), file: f.String()}
}

// floorWhat says what each backend's floor is.
var floorWhat = map[string]string{
	"redis":    "bare go-redis",
	"postgres": "bare pgx, one statement",
}

// bytesHow explains the bytes/session column.
func bytesHow(backendName string, sessions int) string {
	if backendName == "postgres" {
		return fmt.Sprintf("Bytes/session: with the implementation's session tables emptied (TRUNCATE, its app still running), the growth over %s new sessions holding views=1, created one at a time, "+
			"of the pages the database's tables take (`pg_relation_size` of the main fork of every table of the schema, of its indexes and of its TOAST table and index; "+
			"the free-space and visibility maps, a few pages per relation whatever its size, left out), divided by the number of sessions: rows, index entries and the free space left in their 8 kB pages.", thousands(float64(sessions)))
	}
	return fmt.Sprintf("Bytes/session: Redis `used_memory` growth over %s new sessions holding views=1, from an empty Redis.", thousands(float64(sessions)))
}

// renderTable is one backend's markdown table; floor reports whether
// the ratios are to a floor.
func renderTable(cfg *config, tb table) (string, bool) {
	var floor *result
	for _, r := range tb.results {
		if r.name == "floor" && r.err == nil {
			floor = r
		}
	}
	ratio := func(v, base float64) string {
		if floor == nil || base == 0 {
			return ""
		}
		return fmt.Sprintf(" (%.2f×)", v/base)
	}
	var t strings.Builder
	fmt.Fprintf(&t, "| implementation | writes req/s | reads req/s | creates req/s | write p99 | read p99 | lost updates (of %d) | %s bytes/session |\n", cfg.concurrent, tb.backend.title)
	t.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range tb.results {
		if r.err != nil {
			fmt.Fprintf(&t, "| %s | failed (see notes) | – | – | – | – | – | – |\n", r.name)
			continue
		}
		var fw, fr, fc, fwp, frp float64
		if floor != nil {
			fw, fr, fc = floor.write.rps, floor.read.rps, floor.create.rps
			fwp, frp = float64(floor.write.p99), float64(floor.read.p99)
		}
		lost := strconv.Itoa(r.lost)
		if r.lostFailed > 0 {
			lost += fmt.Sprintf(" (%d failed)", r.lostFailed)
		}
		fmt.Fprintf(&t, "| %s | %s%s | %s%s | %s%s | %s%s | %s%s | %s | %s |\n", r.name,
			thousands(r.write.rps), ratio(r.write.rps, fw),
			thousands(r.read.rps), ratio(r.read.rps, fr),
			thousands(r.create.rps), ratio(r.create.rps, fc),
			fmtDur(r.write.p99), ratio(float64(r.write.p99), fwp),
			fmtDur(r.read.p99), ratio(float64(r.read.p99), frp),
			lost, thousands(r.bytesPerSession))
	}
	return t.String(), floor != nil
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
