package storetest

import (
	"context"
	"sync"
	"time"

	"github.com/seshat-go/seshat/store"
)

// Counting wraps a store and counts the calls that reach it, by method:
// for tests that prove a request made none (a forged token) or exactly one
// (a read). Its zero value, with Store set, is ready.
type Counting struct {
	store.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *Counting) count(m string) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[m]++
	c.mu.Unlock()
}

// Snapshot returns the calls counted since the last Snapshot or Reset, by
// method ("Load", "Create", "Commit", "Destroy", "Take"), and starts
// counting again from zero.
func (c *Counting) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.calls
	if m == nil {
		m = map[string]int{}
	}
	c.calls = nil
	return m
}

// Total returns how many calls were counted since the last Snapshot or
// Reset.
func (c *Counting) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

// Reset starts counting again from zero.
func (c *Counting) Reset() { c.Snapshot() }

// Load implements store.Store.
func (c *Counting) Load(ctx context.Context, k string, o store.LoadOptions) (*store.Record, error) {
	c.count("Load")
	return c.Store.Load(ctx, k, o)
}

// Create implements store.Store.
func (c *Counting) Create(ctx context.Context, k string, r *store.Record) error {
	c.count("Create")
	return c.Store.Create(ctx, k, r)
}

// Commit implements store.Store.
func (c *Counting) Commit(ctx context.Context, k string, d *store.Delta) (store.Result, error) {
	c.count("Commit")
	return c.Store.Commit(ctx, k, d)
}

// Destroy implements store.Store.
func (c *Counting) Destroy(ctx context.Context, k string) error {
	c.count("Destroy")
	return c.Store.Destroy(ctx, k)
}

// Take implements store.Store.
func (c *Counting) Take(ctx context.Context, k string, now time.Time) (*store.Record, error) {
	c.count("Take")
	return c.Store.Take(ctx, k, now)
}
