package redisstore_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

// lossy is a store whose Redis connections go through proxies that can
// lose replies (storetest.Faults) and make Redis unreachable
// (storetest.Outage).
type lossy struct {
	*redisstore.Store
	proxies redistest.Proxies
}

// LoseReplies implements storetest.Faults: every nth script call (every
// write is one) reaches Redis and loses its reply; retries are spared.
func (l lossy) LoseReplies(n int) {
	if n == 0 {
		l.proxies.CutReplies(nil)
		return
	}
	l.proxies.CutReplies(redistest.FirstTries(n, "evalsha", "eval"))
}

// Unreachable implements storetest.Outage: the proxies swallow every
// command while on.
func (l lossy) Unreachable(on bool) { l.proxies.Blackhole(on) }

// lossyConformance runs the conformance suite through proxies in front of
// the servers at addrs, on a client parsed from url (the store's default
// timeouts and one retry) that dials through them.
func lossyConformance(t *testing.T, url string, addrs []string, opts redisstore.Options) {
	ps := redistest.StartProxies(t, addrs...)
	o, err := redisstore.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.Dialer = ps.Dialer()
	client := redisstore.NewClient(o)
	t.Cleanup(func() { client.Close() })
	storetest.Run(t, func(t *testing.T) store.Store {
		opts.Prefix = fmt.Sprintf("t%d:", prefixes.Add(1))
		s, err := redisstore.New(client, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return lossy{s, ps}
	})
	if ps.Cuts() == 0 {
		t.Fatal("the proxies cut no connection: the lost-reply cases tested nothing")
	}
	t.Logf("replies lost after Redis ran the script: %d", ps.Cuts())
}

func TestExactlyOnceStandalone(t *testing.T) {
	srv := redistest.Start(t)
	lossyConformance(t, srv.URL(), []string{srv.Addr()}, redisstore.Options{})
}

func TestExactlyOnceCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	lossyConformance(t, c.URL(), c.Addrs(), redisstore.Options{})
}

// With MinReplicas every write is the script and WAIT in one pipeline;
// with LocalCache reads may come from the cache: lost replies change
// neither.
func TestExactlyOnceReplicatedAndCached(t *testing.T) {
	srv := redistest.Start(t)
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(srv.Port))
	waitReplica(t, srv)
	lossyConformance(t, srv.URL(), []string{srv.Addr(), replica.Addr()}, redisstore.Options{
		MinReplicas: 1, ReplicaTimeout: time.Second, LocalCache: &redisstore.LocalCache{},
	})
}

// waitReplica waits until master has a connected replica.
func waitReplica(t *testing.T, master *redistest.Server) {
	t.Helper()
	c := master.Client(t)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if n, err := c.Do(t.Context(), "WAIT", 1, 100).Int(); err == nil && n >= 1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the replica did not connect within 20 s")
}
