package memstore

import "time"

// Sweep runs one sweep at now, as the background sweeper does.
func Sweep(s *Store, now time.Time) { s.sweep(now) }

// NewWithClock is NewWithOptions with the sweeper on the clock now.
func NewWithClock(opts Options, now func() time.Time) *Store { return newStore(opts, now) }

// Entries counts the entries the store holds: sessions and markers.
func Entries(s *Store) int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.entries)
		sh.mu.Unlock()
	}
	return n
}

// Reserved is what the store counts against MaxSessions: the entries it
// holds, plus Creates under way.
func Reserved(s *Store) int64 { return s.count.Load() }
