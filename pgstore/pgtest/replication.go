package pgtest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartStandby starts a streaming replica of primary, as a second
// cluster on a port of its own: a base backup taken over a replication
// connection on loopback (pg_basebackup -R, which initdb's default
// pg_hba.conf trusts from 127.0.0.1), with a physical replication slot of
// its own on the primary (so the primary keeps the WAL it has not
// received), started as a hot standby (it answers reads). Its Name is its
// application name on the primary, for Synchronous. settings are extra
// server settings, as for Start; they take precedence over the base
// backup's, so that "primary_conninfo=host=127.0.0.1 port=P user=seshat"
// makes it stream through a Proxy on port P (which can then cut it off).
// It is stopped and its directory removed when the test ends.
//
// The standby is a copy of the primary's configuration at the time of the
// call, ALTER SYSTEM included: call Synchronous after StartStandby, or a
// promoted standby would wait for a standby of its own.
func StartStandby(t testing.TB, primary *Server, settings ...string) *Server {
	t.Helper()
	s := newServer(t)
	s.name = fmt.Sprintf("standby%d", s.Port)
	out, err := s.run("pg_basebackup", "-D", filepath.Join(s.Dir, "data"), "-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port),
		"-U", "seshat", "-X", "stream", "-C", "-S", s.name, "-R", "-c", "fast", "--no-sync")
	if err != nil {
		t.Fatalf("pgtest: pg_basebackup from port %d: %v\n%s", primary.Port, err, out)
	}
	// The walreceiver names itself by cluster_name when primary_conninfo
	// gives no application_name.
	s.launch(t, append([]string{"cluster_name=" + s.name, "hot_standby=on"}, settings...))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if primary.SQL(t, fmt.Sprintf(`SELECT count(*) FROM pg_stat_replication WHERE application_name = '%s' AND state = 'streaming'`, s.name)) == "1" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: standby %s not streaming from port %d within 30 s\n%s", s.name, primary.Port, s.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Name is a standby's application name on its primary (the name
// synchronous_standby_names uses); "" for a server started by Start.
func (s *Server) Name() string { return s.name }

// Synchronous makes every commit on s wait until all of standbys have
// applied it (synchronous_standby_names naming them all,
// synchronous_commit = remote_apply, by ALTER SYSTEM and a reload), and
// returns when s reports each of them as synchronous: from then on, a
// commit s acknowledged is visible on every standby, and survives the
// loss of s once one of them is promoted. A commit waits for as long as
// a standby does not answer (PostgreSQL has no timeout for it).
func (s *Server) Synchronous(t testing.TB, standbys ...*Server) {
	t.Helper()
	var names []string
	for _, sb := range standbys {
		if sb.name == "" {
			t.Fatalf("pgtest: Synchronous: the server on port %d is no standby (StartStandby)", sb.Port)
		}
		names = append(names, `"`+sb.name+`"`)
	}
	s.SQL(t, fmt.Sprintf(`ALTER SYSTEM SET synchronous_standby_names = 'FIRST %d (%s)'`, len(names), strings.Join(names, ", ")))
	s.SQL(t, `ALTER SYSTEM SET synchronous_commit = 'remote_apply'`)
	s.SQL(t, `SELECT pg_reload_conf()`)
	deadline := time.Now().Add(30 * time.Second)
	want := strconv.Itoa(len(names))
	for {
		n := s.SQL(t, fmt.Sprintf(`SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'
			AND application_name IN (%s)`, strings.ReplaceAll(strings.Join(names, ", "), `"`, `'`)))
		if n == want && s.SQL(t, `SHOW synchronous_commit`) == "remote_apply" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: %s of %s standbys synchronous after 30 s\n%s", n, want, s.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Promote makes a standby a primary (pg_ctl promote, which waits for the
// end of recovery) and returns once it accepts writes.
func (s *Server) Promote(t testing.TB) {
	t.Helper()
	if out, err := s.run("pg_ctl", "promote", "-D", filepath.Join(s.Dir, "data"), "-w", "-t", "60"); err != nil {
		t.Fatalf("pgtest: promote: %v\n%s\n%s", err, out, s.LogTail())
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.SQL(t, `SELECT pg_is_in_recovery()`) != "f" {
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: still in recovery 30 s after promotion\n%s", s.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SQL runs SQL on the server's "postgres" database as the superuser
// (psql over loopback TCP) and returns what it printed, unaligned and
// without headers, trimmed; it fails the test on an error.
func (s *Server) SQL(t testing.TB, sql string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(s.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "seshat", "-d", "postgres", "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("pgtest: psql on port %d: %v: %s\n%s", s.Port, err, sql, out)
	}
	return strings.TrimSpace(string(out))
}
