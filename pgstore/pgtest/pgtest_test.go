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
