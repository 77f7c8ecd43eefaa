package memstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

// Every operation, the sweeper and the walks of Count and Scan at once, on
// sessions that expire as the clock moves: under -race this checks the
// locking, and afterwards the accounting against MaxSessions.
func TestConcurrentOperationsKeepTheCount(t *testing.T) {
	const max = 3000 // three shards
	t0 := time.Now()
	c := &clock{t: t0}
	s := memstore.NewWithClock(memstore.Options{MaxSessions: max, SweepInterval: time.Millisecond}, c.now)
	defer s.Close()
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			var mine []string
			for i := range 3000 {
				now := c.now()
				key := handle()
				rec := viewCounter(now)
				rec.IdleTimeout = time.Duration(1+i%5) * time.Second
				if i%7 == 0 {
					rec.User = fmt.Sprint("user", w)
				}
				if err := s.Create(ctx, key, rec); err != nil && !errors.Is(err, store.ErrFull) {
					errs <- err
					return
				}
				mine = append(mine, key)
				k := mine[(i*31)%len(mine)]
				switch i % 5 {
				case 0:
					s.Load(ctx, k, store.LoadOptions{Now: now})
				case 1:
					s.Commit(ctx, k, &store.Delta{Now: now, Incr: &store.Incr{Name: "views", By: 1}})
				case 2:
					s.Take(ctx, k, now)
				case 3:
					s.Destroy(ctx, k)
				case 4:
					u := ""
					s.Commit(ctx, k, &store.Delta{Now: now, User: &u})
				}
				if i%100 == 0 {
					c.set(now.Add(time.Second))
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			s.Count(ctx, c.now())
			s.Scan(ctx, c.now(), 50, func([]store.SessionInfo) error { return nil })
			s.UserSessions(ctx, "user1", c.now())
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, r := memstore.Entries(s), memstore.Reserved(s); int64(n) != r || n > max {
		t.Fatalf("%d entries, %d counted against MaxSessions %d; want equal, and at most the cap", n, r, max)
	}
	st, _ := s.Stats(ctx, c.now())
	t.Logf("%d entries left, %d evicted", memstore.Entries(s), st.EvictedKeys)
}
