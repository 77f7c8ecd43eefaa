package pgstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/pgstore/pgtest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

var databases atomic.Int64

// outage is a store whose connections go through a proxy that can make
// PostgreSQL unreachable (storetest.Outage) and lose replies
// (storetest.Faults).
type outage struct {
	*pgstore.Store
	proxy *pgtest.Proxy
}

func (o outage) Unreachable(on bool) { o.proxy.Blackhole(on) }

// LoseReplies implements storetest.Faults: every nth write (a commit, a
// creation, a take, a destroy) runs and its reply is lost; retries are
// spared.
func (o outage) LoseReplies(n int) {
	o.proxy.LoseReplies(n, "seshat_commit(", "seshat_create(", "seshat_take(", "DELETE FROM seshat_sessions")
}

// Through a proxy that can swallow everything or lose replies: G10 (a store
// that does not answer fails requests fast with 503, and they succeed again
// once it does) and exactly-once writes (G2, G4 with lost replies) on
// PostgreSQL.
func TestConformanceThroughProxy(t *testing.T) {
	srv := pgtest.Start(t)
	admin := pool(t, srv.URL())
	proxy := pgtest.StartProxy(t, fmt.Sprintf("127.0.0.1:%d", srv.Port))
	storetest.Run(t, func(t *testing.T) store.Store {
		db := fmt.Sprintf("t%d", databases.Add(1))
		if _, err := admin.Exec(t.Context(), "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
		st, err := pgstore.Open(t.Context(), fmt.Sprintf("postgres://seshat@%s/%s?sslmode=disable&connect_timeout=1", proxy.Addr(), db), pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return outage{st, proxy}
	})
	if proxy.Cuts() == 0 {
		t.Fatal("the proxy lost no reply: the lost-reply cases tested nothing")
	}
	t.Logf("replies lost after PostgreSQL ran the write: %d", proxy.Cuts())
}

func TestConformance(t *testing.T) {
	storetest.Run(t, stores(t))
}

// The suite's cases without HTTP: Manager.Open, as WebSocket and gRPC
// code uses it.
func TestConformanceOpen(t *testing.T) {
	storetest.RunOpen(t, stores(t))
}

// stores starts PostgreSQL and returns fresh, empty stores on it.
func stores(t *testing.T) func(t *testing.T) store.Store {
	srv := pgtest.Start(t)
	admin := pool(t, srv.URL())
	return func(t *testing.T) store.Store {
		// A database of its own for each subtest: a fresh, empty store.
		db := fmt.Sprintf("t%d", databases.Add(1))
		if _, err := admin.Exec(t.Context(), "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
		st, err := pgstore.Open(t.Context(), fmt.Sprintf("postgres://seshat@127.0.0.1:%d/%s?sslmode=disable", srv.Port, db), pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
}
