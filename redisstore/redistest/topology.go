package redistest

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// A Topology is one way of running Redis that seshat supports: a single
// server, a Cluster, or a master watched by Sentinels. Run a test on
// every one, the way seshat's own tests do:
//
//	for _, top := range redistest.Topologies() {
//		t.Run(top.Name, func(t *testing.T) {
//			client := top.Start(t).Client(t)
//			// ... the test, on client
//		})
//	}
type Topology struct {
	// Name names the topology in a subtest: "standalone", "cluster" or
	// "sentinel".
	Name string
	// Start starts Redis in this topology, stopped when the test ends,
	// and waits until it serves.
	Start func(t testing.TB) *Deployment
}

// A Deployment is Redis running in one topology.
type Deployment struct {
	// URL is its address as redisstore.Open and the seshat command's
	// --redis read it: redis://, redis+cluster:// or redis+sentinel://.
	URL    string
	client func(t testing.TB) redis.UniversalClient
}

// Client returns a new client of the deployment, with connections of its
// own (as another instance of an application has), closed when the test
// ends: a *redis.Client for a server, a *redis.ClusterClient for a
// Cluster, a failover *redis.Client for Sentinel.
func (d *Deployment) Client(t testing.TB) redis.UniversalClient { return d.client(t) }

// Topologies returns every topology: a standalone server; a Cluster of 3
// masters, no replicas; a master with 1 replica and 3 Sentinels.
func Topologies() []Topology {
	return []Topology{
		{Name: "standalone", Start: func(t testing.TB) *Deployment {
			s := Start(t)
			return &Deployment{URL: s.URL(), client: func(t testing.TB) redis.UniversalClient { return s.Client(t) }}
		}},
		{Name: "cluster", Start: func(t testing.TB) *Deployment {
			c := StartCluster(t, 3, 0)
			return &Deployment{URL: c.URL(), client: func(t testing.TB) redis.UniversalClient { return c.Client(t) }}
		}},
		{Name: "sentinel", Start: func(t testing.TB) *Deployment {
			g := StartSentinel(t, 1, 3)
			return &Deployment{URL: g.URL(), client: func(t testing.TB) redis.UniversalClient { return g.Client(t) }}
		}},
	}
}
