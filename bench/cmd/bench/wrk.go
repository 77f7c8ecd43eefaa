package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkResult is what the harness reads from one wrk run.
type wrkResult struct {
	rps      float64
	p99      time.Duration
	requests int64
	non2xx   int64  // "Non-2xx or 3xx responses"
	sockErrs string // "Socket errors: …", when wrk printed it
	// cost is what the session server spent per request in the run, when
	// it can tell (redis-server: serverCoster).
	cost *serverCost
}

// wrkRunner runs wrk with fixed threads and connections.
type wrkRunner struct {
	bin     string
	threads int
	conns   int
}

// run runs wrk against url for d, with a Cookie header when cookie is set.
func (w wrkRunner) run(ctx context.Context, url, cookie string, d time.Duration) (wrkResult, error) {
	secs := int(d.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	args := []string{
		"-t" + strconv.Itoa(w.threads),
		"-c" + strconv.Itoa(w.conns),
		"-d" + strconv.Itoa(secs) + "s",
		"--latency",
	}
	if cookie != "" {
		args = append(args, "-H", "Cookie: "+cookie)
	}
	args = append(args, url)
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return wrkResult{}, ctx.Err()
	}
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return r, nil
}

var (
	reRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	reP99      = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	reRequests = regexp.MustCompile(`(?m)^\s+([0-9]+) requests in `)
	reNon2xx   = regexp.MustCompile(`(?m)^\s+Non-2xx or 3xx responses:\s+([0-9]+)`)
	reSockErrs = regexp.MustCompile(`(?m)^\s+Socket errors:\s+(.*)$`)
)

// parseWrk reads Requests/sec, the 99% latency, the request count and the
// error lines from wrk --latency output.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec line in wrk output")
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	m = reP99.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no 99%% latency line in wrk output (was --latency given?)")
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[m[2]]
	r.p99 = time.Duration(v * float64(unit))
	if m = reRequests.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m = reNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m = reSockErrs.FindStringSubmatch(out); m != nil {
		r.sockErrs = strings.TrimSpace(m[1])
	}
	return r, nil
}

// wrkVersion is the first line of `wrk -v`.
func wrkVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if f := strings.Fields(line); len(f) >= 2 && f[0] == "wrk" {
		return f[1]
	}
	return "unknown"
}
