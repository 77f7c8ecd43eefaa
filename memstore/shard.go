package memstore

import (
	"maps"
	"runtime"
	"sync"
	"time"

	"github.com/seshat-go/seshat/store"
)

// shard holds the entries whose keys hash to it, under its lock.
type shard struct {
	mu      sync.Mutex
	entries map[string]*entry
	// lru is the sentinel of the circular list of anonymous entries:
	// lru.next is the most recently used, lru.prev the least.
	lru     entry
	markers int // entries that are markers
	peak    int // the most entries since entries was last rebuilt
	walkers int // walks in progress: entries must not be rebuilt under them
	// scratch is the record a commit applies its delta to (see view), buf
	// where it packs the result.
	scratch store.Record
	buf     []byte
}

func (sh *shard) init() {
	sh.entries = make(map[string]*entry)
	sh.lru.prev, sh.lru.next = &sh.lru, &sh.lru
}

func (sh *shard) pushFront(e *entry) {
	e.prev, e.next = &sh.lru, sh.lru.next
	e.next.prev = e
	sh.lru.next = e
}

func (sh *shard) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// used makes e the most recently used, if it is anonymous.
func (sh *shard) used(e *entry) {
	if e.prev != nil && e.prev != &sh.lru {
		sh.unlink(e)
		sh.pushFront(e)
	}
}

// oldest returns the least recently used anonymous entry, or nil.
func (sh *shard) oldest() *entry {
	if sh.lru.prev == &sh.lru {
		return nil
	}
	return sh.lru.prev
}

// insert stores e, for which room was reserved. The shard's lock must be
// held.
func (s *Store) insert(sh *shard, e *entry) {
	sh.entries[e.key] = e
	sh.peak = max(sh.peak, len(sh.entries))
	if e.user == "" {
		sh.pushFront(e)
	} else {
		s.index(e.user, e.key)
	}
}

// remove deletes e. The shard's lock must be held.
func (s *Store) remove(sh *shard, e *entry) {
	delete(sh.entries, e.key)
	s.count.Add(-1)
	switch {
	case e.isMarker():
		sh.markers--
	case e.user != "":
		s.unindex(e.user, e.key)
	}
	if e.prev != nil {
		sh.unlink(e)
	}
}

// expire deletes e, found expired at now, and keeps the expiry of a
// session bound to a user for SweepExpired. The shard's lock must be held.
func (s *Store) expire(sh *shard, e *entry, now time.Time) {
	s.remove(sh, e)
	if !e.isMarker() && e.user != "" {
		s.noteExpired(e.key, e.user, now)
	}
}

// lookup returns the entry under key, a session or a marker, if it is
// live at now, and deletes it if it has expired. The shard's lock must be
// held.
func (s *Store) lookup(sh *shard, key string, now int64, at time.Time) *entry {
	e := sh.entries[key]
	if e == nil {
		return nil
	}
	if e.expired(now) {
		s.expire(sh, e, at)
		return nil
	}
	return e
}

// bind binds the session e to user ("" unbinds): a bound session leaves
// the LRU list, which only eviction reads, and enters the user index. The
// shard's lock must be held.
func (s *Store) bind(sh *shard, e *entry, user string) {
	if e.user != "" {
		s.unindex(e.user, e.key)
	} else {
		sh.unlink(e)
	}
	e.user = user
	if user != "" {
		s.index(user, e.key)
	} else {
		sh.pushFront(e)
	}
}

// reserve makes room for one entry: at MaxSessions it evicts an anonymous
// entry, preferably from shard first. It reports false when every entry is
// bound to a user.
func (s *Store) reserve(first int) bool {
	for {
		n := s.count.Load()
		if n < s.max {
			if s.count.CompareAndSwap(n, n+1) {
				return true
			}
			continue
		}
		if !s.evict(first) {
			return false
		}
	}
}

// evict deletes the least recently used anonymous entry of the shard
// first, or if it has none, of the next shard that has one. Within a
// shard the order is exact, across shards it is not: but the key of a new
// session picks its shard at random, so the entry evicted is on average
// the n-th least recently used of a store of n shards. Checking the other
// shards' oldest entries would cost a lock each per Create at the cap.
func (s *Store) evict(first int) bool {
	for i := range s.shards {
		sh := &s.shards[(first+i)%len(s.shards)]
		sh.mu.Lock()
		e := sh.oldest()
		if e != nil {
			s.remove(sh, e)
			s.evicted.Add(1)
		}
		sh.mu.Unlock()
		if e != nil {
			return true
		}
	}
	return false
}

// walkBatch is how many entries a walk visits per hold of the shard's
// lock: a few microseconds of work.
const walkBatch = 256

// walk calls fn for every entry of the shard, with the lock held, until fn
// returns false. Every walkBatch entries it lets the lock go, so that no
// operation waits behind a whole shard. Go maps allow this: an entry
// deleted before the walk reaches it is not visited, one present
// throughout is visited exactly once. fn may remove the entry it is given,
// and may itself let the lock go. The shard's lock must be held.
func (sh *shard) walk(fn func(e *entry) bool) {
	sh.walkers++
	defer func() { sh.walkers-- }()
	n := 0
	for _, e := range sh.entries {
		if !fn(e) {
			return
		}
		if n++; n%walkBatch == 0 {
			sh.mu.Unlock()
			runtime.Gosched()
			sh.mu.Lock()
		}
	}
}

// minShrink is the least peak of a shard that is worth rebuilding: a map
// never returns the room of deleted entries, and one of this size holds
// about 40 KB.
const minShrink = 1024

// shrink rebuilds the shard's map once it holds a quarter of its peak or
// less, so that memory returns after a flood has expired. The copy is of
// at most a quarter of the peak, and comes after that many deletions. The
// shard's lock must be held.
func (sh *shard) shrink() {
	if sh.walkers > 0 || sh.peak < minShrink || len(sh.entries) > sh.peak/4 {
		return
	}
	m := make(map[string]*entry, len(sh.entries))
	maps.Copy(m, sh.entries)
	sh.entries = m
	sh.peak = len(m)
}
