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

func TestConformance(t *testing.T) {
	srv := pgtest.Start(t)
	admin := pool(t, srv.URL())
	storetest.Run(t, func(t *testing.T) store.Store {
		// A database of its own for each subtest: a fresh, empty store.
		db := fmt.Sprintf("t%d", databases.Add(1))
		if _, err := admin.Exec(t.Context(), "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
		st, err := pgstore.New(t.Context(), pool(t, fmt.Sprintf("postgres://seshat@127.0.0.1:%d/%s?sslmode=disable", srv.Port, db)))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}
