package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRoot()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestStatsCountsExactly(t *testing.T) {
	srv := redistest.Start(t)
	base, _ := runServe(t, "--redis", srv.URL(), "--secret", "stats-test-secret-0123456789abcdef")
	web := testhttp.New(t, base)
	var cookies []string
	for i := range 10 {
		_, _, c := web.Do("GET", "/", "", nil)
		if i < 3 {
			_, _, c = web.Do("POST", "/login", c, url.Values{"user": {"bob"}})
		}
		cookies = append(cookies, c)
	}
	stats := func() redisstore.Usage {
		out, err := run(t, "stats", "--redis", srv.URL(), "--json")
		if err != nil {
			t.Fatalf("stats: %v\n%s", err, out)
		}
		var u redisstore.Usage
		if err := json.Unmarshal([]byte(out), &u); err != nil {
			t.Fatalf("stats --json: %v\n%s", err, out)
		}
		var raw map[string]any
		json.Unmarshal([]byte(out), &raw)
		if _, ok := raw["sessions"].(float64); !ok {
			t.Fatalf("stats --json has no top-level sessions number:\n%s", out)
		}
		return u
	}
	u := stats()
	if u.Sessions != 10 || len(u.TopUsers) != 1 || u.TopUsers[0] != (redisstore.UserSessions{User: "bob", Sessions: 3}) {
		t.Fatalf("after 10 sessions, 3 of them bob's: %+v", u)
	}
	if u.AvgSessionBytes <= 0 || u.UsedMemory <= 0 {
		t.Errorf("sizes missing: %+v", u)
	}
	for _, c := range cookies[:3] {
		web.Do("POST", "/logout", c, nil)
	}
	if u := stats(); u.Sessions != 7 || len(u.TopUsers) != 0 {
		t.Fatalf("after revoking 3: %+v; want 7 sessions and no user", u)
	}
	if out, err := run(t, "stats", "--redis", srv.URL()); err != nil || !strings.Contains(strings.Join(strings.Fields(out), " "), "live sessions 7") {
		t.Fatalf("text stats: %v\n%s", err, out)
	}
}

func TestDoctor(t *testing.T) {
	plain := redistest.Start(t)
	out, err := run(t, "doctor", "--redis", plain.URL(), "--json")
	if !errors.Is(err, errSilent) {
		t.Fatalf("doctor on a default Redis: %v; want exit status 1\n%s", err, out)
	}
	var report struct {
		Findings []store.Finding
		Severe   bool
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sev := map[string]store.Severity{}
	for _, f := range report.Findings {
		sev[f.Check] = f.Severity
	}
	if sev["maxmemory"] != store.SeveritySevere || sev["authentication"] != store.SeverityWarning ||
		sev["persistence"] != store.SeverityWarning || sev["latency"] != store.SeverityOK || !report.Severe {
		t.Fatalf("findings on a default local Redis: %v", sev)
	}

	good := redistest.Start(t, "--requirepass", "pw-0123456789", "--maxmemory", "100mb",
		"--maxmemory-policy", "volatile-ttl", "--appendonly", "yes")
	out, err = run(t, "doctor", "--redis", "redis://:pw-0123456789@"+good.Addr())
	if err != nil {
		t.Fatalf("doctor on a well-configured Redis: %v\n%s", err, out)
	}
	for _, check := range []string{"authentication", "maxmemory", "eviction-policy", "persistence"} {
		if got := severityIn(out, check); got != "ok" {
			t.Errorf("%s: %q; want ok\n%s", check, got, out)
		}
	}

	evicting := redistest.Start(t, "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru")
	if out, err := run(t, "doctor", "--redis", evicting.URL()); !errors.Is(err, errSilent) || severityIn(out, "eviction-policy") != "severe" {
		t.Fatalf("allkeys-lru: %v\n%s", err, out)
	}
}

// severityIn finds a check's severity in doctor's text output.
func severityIn(out, check string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[1] == check {
			return f[0]
		}
	}
	return ""
}

func TestServeOnRedisCapsUsersAndExportsStoreMetrics(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "64mb")
	base, _ := runServe(t, "--redis", srv.URL(), "--secret", "cap-test-secret-0123456789abcdef0", "--max-sessions-per-user", "2")
	web := testhttp.New(t, base)
	var cookies []string
	for range 3 {
		_, _, c := web.Do("POST", "/login", "", url.Values{"user": {"bob"}})
		cookies = append(cookies, c)
	}
	for i, c := range cookies {
		code, _, _ := web.Do("GET", "/whoami", c, nil)
		if want := map[bool]int{true: 401, false: 200}[i == 0]; code != want {
			t.Errorf("login %d of 3 with a cap of 2: whoami %d; want %d (the oldest is revoked)", i+1, code, want)
		}
	}
	_, m, _ := web.Do("GET", "/metrics", "", nil)
	for _, want := range []string{
		"seshat_sessions_live 2", "seshat_redis_maxmemory_bytes 6.7108864e+07", "seshat_redis_used_memory_bytes ",
		`seshat_redis_eviction_policy{policy="noeviction"} 1`, `seshat_store_pool_connections{state="idle"}`,
		`seshat_store_operation_duration_seconds_bucket{op="create",le="0.001"}`, `seshat_session_events_total{event="destroyed"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
