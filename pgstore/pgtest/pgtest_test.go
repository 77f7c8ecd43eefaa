package pgtest_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/seshat-go/seshat/pgstore/pgtest"
)

// A server starts, listens on loopback, survives a kill and a restart on
// the same port, and stops.
func TestStartKillRestart(t *testing.T) {
	s := pgtest.Start(t)
	dial := func() error {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.Port))
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatalf("not listening: %v", err)
	}
	s.Kill()
	if dial() == nil {
		t.Fatal("still listening after Kill")
	}
	s.Restart(t)
	if err := dial(); err != nil {
		t.Fatalf("not listening after restart: %v\n%s", err, s.LogTail())
	}
}

// A synchronous standby applies every commit before the primary
// acknowledges it, and, promoted after the primary is killed, has every
// acknowledged row and accepts writes.
func TestStandbySynchronousPromote(t *testing.T) {
	p := pgtest.Start(t)
	s := pgtest.StartStandby(t, p)
	if s.Name() == "" || s.SQL(t, "SELECT pg_is_in_recovery()") != "t" {
		t.Fatalf("standby %q is not in recovery", s.Name())
	}
	p.Synchronous(t, s)
	p.SQL(t, "CREATE TABLE t (n int)")
	for i := range 5 {
		p.SQL(t, "INSERT INTO t VALUES ("+strconv.Itoa(i)+")")
		// remote_apply: visible on the standby as soon as acknowledged.
		if got := s.SQL(t, "SELECT count(*) FROM t"); got != strconv.Itoa(i+1) {
			t.Fatalf("after %d acknowledged inserts the standby has %s rows", i+1, got)
		}
	}
	p.Kill()
	s.Promote(t)
	s.SQL(t, "INSERT INTO t VALUES (5)")
	if got := s.SQL(t, "SELECT count(*) FROM t"); got != "6" {
		t.Fatalf("promoted standby has %s rows; want 6", got)
	}
}
