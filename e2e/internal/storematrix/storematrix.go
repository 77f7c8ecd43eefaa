// Package storematrix is the stores the end-to-end scenarios run on:
// memstore, and redisstore on every Redis topology of redistest (a
// standalone server, a Cluster, Sentinel).
//
//	for _, s := range storematrix.All() {
//		t.Run(s.Name, func(t *testing.T) {
//			st := s.New(t)
//			// ... the scenario, on st
//		})
//	}
package storematrix

import (
	"slices"
	"testing"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// Store is one store of the matrix.
type Store struct {
	// Name names it in a subtest: "memstore", or "redis-" and the
	// topology ("redis-standalone", "redis-cluster", "redis-sentinel").
	Name string
	// New returns a new, empty store (on a Redis of its own, started for
	// it), closed when the test ends.
	New func(t testing.TB) store.Store
}

// All returns memstore, then redisstore on each topology.
func All() []Store {
	all := []Store{{Name: "memstore", New: func(t testing.TB) store.Store {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	}}}
	for _, top := range redistest.Topologies() {
		all = append(all, Store{Name: "redis-" + top.Name, New: func(t testing.TB) store.Store {
			s, err := redisstore.New(top.Start(t).Client(t), redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}})
	}
	return all
}

// Named returns the stores of All with the given names, in All's order:
// for scenarios whose subject is not the store (a browser's behaviour),
// where one Redis topology stands for all.
func Named(names ...string) []Store {
	var some []Store
	for _, s := range All() {
		if slices.Contains(names, s.Name) {
			some = append(some, s)
		}
	}
	return some
}
