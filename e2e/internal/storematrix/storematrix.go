// Package storematrix is the stores the end-to-end scenarios run on:
// memstore, redisstore on every Redis topology of redistest (a
// standalone server, a Cluster, Sentinel), and pgstore on PostgreSQL.
//
//	for _, s := range storematrix.All() {
//		t.Run(s.Name, func(t *testing.T) {
//			st := s.New(t)
//			// ... the scenario, on st
//		})
//	}
package storematrix

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/pgstore/pgtest"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// Store is one store of the matrix.
type Store struct {
	// Name names it in a subtest: "memstore", "redis-" and the topology
	// ("redis-standalone", "redis-cluster", "redis-sentinel"), or
	// "postgres".
	Name string
	// New returns a new, empty store (on a Redis or a PostgreSQL of its
	// own, started for it), closed when the test ends.
	New func(t testing.TB) store.Store
}

// All returns memstore, then redisstore on each topology, then pgstore.
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
	all = append(all, Store{Name: "postgres", New: func(t testing.TB) store.Store {
		_, url := Postgres(t)
		s, err := pgstore.Open(context.Background(), url, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}})
	return all
}

var databases atomic.Int64

// Postgres starts a PostgreSQL server for the test (pgtest.Start, with
// settings) and creates a fresh, empty database on it; it returns the
// server and the database's URL (pgstore.Open's). Both end with the test.
func Postgres(t testing.TB, settings ...string) (*pgtest.Server, string) {
	t.Helper()
	srv := pgtest.Start(t, settings...)
	name := fmt.Sprintf("seshat_e2e_%d", databases.Add(1))
	srv.SQL(t, "CREATE DATABASE "+name)
	return srv, Database(srv, name)
}

// Database is the URL of the database name on srv.
func Database(srv *pgtest.Server, name string) string {
	return strings.Replace(srv.URL(), "/postgres?", "/"+name+"?", 1)
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
