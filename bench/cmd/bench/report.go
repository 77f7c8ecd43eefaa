package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

type report struct {
	table string // the markdown table alone (stdout)
	file  string // the results file: machine, settings, table, notes
}

// render builds the table, with ratios to floor when floor succeeded.
func render(cfg *config, results []*result, m machineInfo) report {
	var floor *result
	for _, r := range results {
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
	fmt.Fprintf(&t, "| implementation | writes req/s | reads req/s | creates req/s | write p99 | read p99 | lost updates (of %d) | Redis bytes/session |\n", cfg.concurrent)
	t.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
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

	var f strings.Builder
	f.WriteString("# Session libraries side by side\n\n")
	fmt.Fprintf(&f, "- Date: %s\n", m.date.Format(time.RFC3339))
	fmt.Fprintf(&f, "- Machine: %s, %d cores (wrk, the app and Redis share them); load average before the run: %s\n", m.cpu, m.cores, m.loadAvg)
	fmt.Fprintf(&f, "- Go %s, Node %s, redis-server %s (`--save \"\" --appendonly no`), wrk %s\n",
		strings.TrimPrefix(m.goVersion, "go"), m.nodeVersion, m.redisVersion, m.wrkVersion)
	fmt.Fprintf(&f, "- Command: `%s`\n", commandLine())
	fmt.Fprintf(&f, "- Load: `wrk -t%d -c%d -d%ds --latency`, after a %v warm-up per scenario; %d rounds over all implementations, interleaved: req/s and p99 are the medians of the rounds\n\n",
		cfg.threads, cfg.conns, int(cfg.duration.Round(time.Second)/time.Second), cfg.warmup, cfg.rounds)
	f.WriteString(t.String())
	f.WriteString("\n")
	if floor != nil {
		f.WriteString("Ratios are to `floor` (bare go-redis, one round trip per request): above 1 is faster for req/s, slower for p99.\n")
	}
	fmt.Fprintf(&f, "Writes: `GET /` with one session's cookie on every connection; reads: `GET /read` with it; creates: `GET /` without a cookie. "+
		"Lost updates: %d concurrent `GET /` on a fresh session, minus how much its counter rose. "+
		"Bytes/session: Redis `used_memory` growth over %s new sessions holding views=1, from an empty Redis.\n",
		cfg.concurrent, thousands(float64(cfg.sessions)))
	var notes []string
	for _, r := range results {
		if r.err != nil {
			notes = append(notes, fmt.Sprintf("- **%s failed**:\n\n  ```\n  %s\n  ```", r.name, strings.ReplaceAll(r.err.Error(), "\n", "\n  ")))
			continue
		}
		for _, n := range r.notes {
			notes = append(notes, fmt.Sprintf("- %s, %s", r.name, n))
		}
	}
	if len(notes) > 0 {
		f.WriteString("\n## Notes\n\n")
		f.WriteString(strings.Join(notes, "\n"))
		f.WriteString("\n")
	}
	return report{table: t.String(), file: f.String()}
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
