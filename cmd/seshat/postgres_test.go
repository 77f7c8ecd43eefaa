package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/pgstore/pgtest"
	"github.com/seshat-go/seshat/store"
)

// pgDatabase creates a database of its own on srv for one test and
// returns its URL.
func pgDatabase(t *testing.T, srv *pgtest.Server, name string) string {
	t.Helper()
	pgExec(t, srv.URL(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return strings.Replace(srv.URL(), "/postgres?", "/"+name+"?", 1)
}

// pgExec runs SQL statements on the database u names.
func pgExec(t *testing.T, u string, sql ...string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for _, s := range sql {
		if _, err := conn.Exec(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// pgCount returns the result of a SELECT count(*) on the database u names.
func pgCount(t *testing.T, u, query string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var n int
	if err := conn.QueryRow(t.Context(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestServeOnPostgreSQL(t *testing.T) {
	srv := pgtest.Start(t)
	db := pgDatabase(t, srv, "serve")
	base, _ := runServe(t, "--store", db, "--secret", "pg-serve-secret-0123456789abcdef012")
	web := testhttp.New(t, base)
	_, b, c := web.Do("GET", "/", "", nil)
	_, b2, _ := web.Do("GET", "/", c, nil)
	if b != "Number of views: 1\n" || b2 != "Number of views: 2\n" {
		t.Fatalf("views: %q, %q", b, b2)
	}
	_, _, login := web.Do("POST", "/login", c, url.Values{"user": {"bob"}})
	if code, body, _ := web.Do("GET", "/whoami", login, nil); code != http.StatusOK || body != "bob\n" {
		t.Fatalf("whoami after login: %d %q", code, body)
	}
	// The session is in PostgreSQL (not in a memory store), bound to bob.
	if n := pgCount(t, db, `SELECT count(*) FROM seshat_sessions WHERE user_key IS NOT NULL`); n != 1 {
		t.Fatalf("%d sessions bound to a user in seshat_sessions; want 1", n)
	}
	if code, body, _ := web.Do("GET", "/healthz", "", nil); code != http.StatusOK {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if _, m, _ := web.Do("GET", "/metrics", "", nil); !strings.Contains(m, "seshat_sessions_live 1") || !strings.Contains(m, "seshat_store_up 1") {
		t.Fatalf("/metrics lacks seshat_sessions_live 1 or seshat_store_up 1:\n%s", m)
	}
}

func TestSessionsCommandsOnPostgreSQL(t *testing.T) {
	srv := pgtest.Start(t)
	db := pgDatabase(t, srv, "sessions")
	t.Setenv("REDIS_URL", "")
	base, _ := runServe(t, "--store", db, "--secret", "pg-sessions-secret-0123456789abcdef")
	web := testhttp.New(t, base)
	login := func(user string) string {
		_, _, c := web.Do("POST", "/login", "", url.Values{"user": {user}})
		return c
	}
	bob := []string{login("bob"), login("bob"), login("bob")}
	ann := []string{login("ann"), login("ann")}
	for range 4 {
		web.Do("GET", "/", "", nil)
	}
	list := func(args ...string) []seshat.SessionInfo {
		out, err := run(t, append([]string{"sessions", "list", "--json"}, args...)...)
		if err != nil {
			t.Fatalf("sessions list: %v\n%s", err, out)
		}
		var infos []seshat.SessionInfo
		if err := json.Unmarshal([]byte(out), &infos); err != nil || !strings.HasPrefix(out, "[") {
			t.Fatalf("sessions list --json is not a JSON array: %v\n%s", err, out)
		}
		return infos
	}
	if got := list("--store", db, "--user", "bob"); len(got) != 3 || got[0].User != "bob" || got[1].User != "bob" || got[2].User != "bob" {
		t.Fatalf("list --user bob: %+v", got)
	}
	t.Setenv("SESHAT_STORE", db) // the environment form, from here on
	if got := list(); len(got) != 9 {
		t.Fatalf("list with SESHAT_STORE: %d sessions; want 9", len(got))
	}
	handle := list("--user", "ann")[0].Handle
	if out, err := run(t, "sessions", "show", "--", handle); err != nil || !strings.Contains(out, `"user": "ann"`) || !strings.Contains(out, `"handle": "`+handle+`"`) {
		t.Fatalf("show: %v\n%s", err, out)
	}

	out, err := run(t, "sessions", "revoke", "--user", "bob")
	if err != nil || out != "revoked 3 sessions of bob\n" {
		t.Fatalf("revoke --user bob: %v\n%s", err, out)
	}
	for _, c := range bob {
		if code, _, _ := web.Do("GET", "/whoami", c, nil); code != http.StatusUnauthorized {
			t.Fatalf("a cookie of bob after revoke --user: whoami %d", code)
		}
	}
	if got := list("--user", "bob"); len(got) != 0 {
		t.Fatalf("list --user bob after revoking: %+v", got)
	}
	if out, err := run(t, "sessions", "revoke", "--", handle); err != nil || out != "revoked "+handle+"\n" {
		t.Fatalf("revoke HANDLE: %v\n%s", err, out)
	}
	loggedOut := 0
	for _, c := range ann {
		if code, _, _ := web.Do("GET", "/whoami", c, nil); code == http.StatusUnauthorized {
			loggedOut++
		}
	}
	if loggedOut != 1 {
		t.Fatalf("revoking one of ann's two sessions logged out %d of them", loggedOut)
	}
	if _, err := run(t, "sessions", "show", "--", handle); err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Errorf("show of a revoked handle: %v", err)
	}

	dead := "postgres://seshat@127.0.0.1:" + strconv.Itoa(pgtest.FreePort(t)) + "/x?sslmode=disable"
	if _, err := run(t, "sessions", "list", "--store", dead); err == nil || !strings.Contains(err.Error(), "cannot reach PostgreSQL") {
		t.Errorf("list with PostgreSQL down: %v", err)
	}
	if _, err := run(t, "sessions", "list", "--store", db, "--redis", "redis://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "name different stores") {
		t.Errorf("list with --store and --redis differing: %v", err)
	}
}

func TestStatsOnPostgreSQL(t *testing.T) {
	srv := pgtest.Start(t)
	db := pgDatabase(t, srv, "stats")
	base, _ := runServe(t, "--store", db, "--secret", "pg-stats-secret-0123456789abcdef0123")
	web := testhttp.New(t, base)
	var cookies []string
	for i := range 10 {
		_, _, c := web.Do("GET", "/", "", nil)
		if i < 3 {
			_, _, c = web.Do("POST", "/login", c, url.Values{"user": {"bob"}})
		}
		cookies = append(cookies, c)
	}
	stats := func() pgstore.Usage {
		out, err := run(t, "stats", "--store", db, "--json")
		if err != nil {
			t.Fatalf("stats: %v\n%s", err, out)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("stats --json: %v\n%s", err, out)
		}
		for _, k := range []string{"sessions", "top_users", "table_bytes", "index_bytes", "expired_rows", "schema_version"} {
			if _, ok := raw[k]; !ok {
				t.Fatalf("stats --json lacks %q:\n%s", k, out)
			}
		}
		var u pgstore.Usage
		json.Unmarshal([]byte(out), &u)
		return u
	}
	u := stats()
	if u.Sessions != 10 || len(u.TopUsers) != 1 || u.TopUsers[0] != (pgstore.UserSessions{User: "bob", Sessions: 3}) {
		t.Fatalf("after 10 sessions, 3 of them bob's: %+v", u)
	}
	version := pgCount(t, db, `SELECT max(version) FROM seshat_schema`)
	if u.TableBytes <= 0 || u.IndexBytes <= 0 || u.SchemaVersion != version || u.Expired != 0 {
		t.Errorf("sizes, schema version (want %d) or expired rows: %+v", version, u)
	}
	for _, c := range cookies[:3] {
		web.Do("POST", "/logout", c, nil)
	}
	if u := stats(); u.Sessions != 7 || len(u.TopUsers) != 0 {
		t.Fatalf("after 3 logouts: %+v; want 7 sessions and no user", u)
	}
	out, err := run(t, "stats", "--store", db)
	if text := strings.Join(strings.Fields(out), " "); err != nil || !strings.Contains(text, "live sessions 7") ||
		!strings.Contains(text, "schema version "+strconv.Itoa(version)) {
		t.Fatalf("text stats: %v\n%s", err, out)
	}
}

func TestDoctorOnPostgreSQL(t *testing.T) {
	srv := pgtest.Start(t)
	db := pgDatabase(t, srv, "doctor")
	if _, err := run(t, "migrate", "--store", db); err != nil {
		t.Fatal(err)
	}
	doctor := func() (map[string]store.Finding, bool, error) {
		out, err := run(t, "doctor", "--store", db, "--json")
		var report struct {
			Findings []store.Finding
			Severe   bool
		}
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatalf("doctor --json: %v\n%s", err, out)
		}
		found := map[string]store.Finding{}
		for _, f := range report.Findings {
			found[f.Check] = f
		}
		return found, report.Severe, err
	}
	found, severe, err := doctor()
	if err != nil || severe {
		t.Fatalf("doctor on a fresh database: %v, severe %v: %+v", err, severe, found)
	}
	for check, want := range map[string]store.Severity{
		"tls": store.SeverityInfo, "role": store.SeverityWarning, "privileges": store.SeverityOK,
		"schema": store.SeverityOK, "autovacuum": store.SeverityOK, "size": store.SeverityInfo,
	} {
		if found[check].Severity != want {
			t.Errorf("%s: %+v; want %s", check, found[check], want)
		}
	}
	if f := found["role"]; !strings.Contains(f.Message, `"seshat" is a superuser`) || f.Fix == "" {
		t.Errorf("role finding on the superuser seshat: %+v", f)
	}

	pgExec(t, db, `ALTER TABLE seshat_sessions SET (autovacuum_enabled = false)`)
	found, severe, err = doctor()
	if !errors.Is(err, errSilent) || !severe || found["autovacuum"].Severity != store.SeveritySevere ||
		!strings.Contains(found["autovacuum"].Message, "seshat_sessions") {
		t.Fatalf("autovacuum off on seshat_sessions: %v, severe %v: %+v", err, severe, found["autovacuum"])
	}
	out, err := run(t, "doctor", "--store", db)
	if !errors.Is(err, errSilent) || severityIn(out, "autovacuum") != "severe" || !strings.Contains(out, "fix: ALTER TABLE") {
		t.Fatalf("text doctor with autovacuum off: %v\n%s", err, out)
	}

	// A role that is no superuser but lacks privileges on the store's
	// tables: the role is fine, its privileges are severe.
	pgExec(t, db, `CREATE ROLE app LOGIN`, `GRANT SELECT ON seshat_schema TO app`,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON seshat_sessions TO app`)
	out, err = run(t, "doctor", "--store", strings.Replace(db, "seshat@", "app@", 1))
	if !errors.Is(err, errSilent) || severityIn(out, "role") != "ok" || severityIn(out, "privileges") != "severe" ||
		!strings.Contains(out, `role "app" lacks SELECT on seshat_values`) {
		t.Fatalf("doctor as a role without privileges on seshat_values: %v\n%s", err, out)
	}
}

func TestMigrateOnPostgreSQL(t *testing.T) {
	srv := pgtest.Start(t)
	db := pgDatabase(t, srv, "migrate")
	out, err := run(t, "migrate", "--store", db)
	if err != nil || !strings.HasPrefix(out, "schema at version ") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	version := pgCount(t, db, `SELECT max(version) FROM seshat_schema`)
	if want := "schema at version " + strconv.Itoa(version) + "\n"; out != want || version < 1 {
		t.Fatalf("migrate printed %q; the database is at %d", out, version)
	}
	// Again: nothing changes, the same version is reported.
	out, err = run(t, "migrate", "--store", db, "--json")
	var m migration
	if err != nil || json.Unmarshal([]byte(out), &m) != nil || m != (migration{Store: "postgres", SchemaVersion: version, Message: "schema at version " + strconv.Itoa(version)}) {
		t.Fatalf("migrate --json a second time: %v\n%s", err, out)
	}
	if n := pgCount(t, db, `SELECT count(*) FROM seshat_schema`); n != version {
		t.Fatalf("%d rows in seshat_schema after migrating twice; want %d, one per migration", n, version)
	}

	pgExec(t, db, `INSERT INTO seshat_schema (version) VALUES (`+strconv.Itoa(version+1)+`)`)
	_, err = run(t, "migrate", "--store", db)
	if !errors.Is(err, pgstore.ErrSchema) || !strings.Contains(err.Error(), "upgrade seshat") {
		t.Fatalf("migrate on a newer schema: %v; want pgstore.ErrSchema and advice", err)
	}
}
