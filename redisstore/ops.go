package redisstore

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"time"
)

// Exactly once. A client that loses its connection after sending a command
// cannot tell whether Redis ran it, and go-redis retries such a command
// (MaxRetries) on a new connection: a script that increments would then
// count twice, and a take would find its own marker. So every write is
// made safe to replay:
//
//   - commit.lua and incr.lua carry an operation ID and record it, with
//     the result, in their bucket's operation log (a hash in the same slot,
//     one per half of OpWindow, that expires whole); a replay answers the
//     recorded result and applies nothing;
//   - create.lua needs no ID: a key names one creation (a keyed hash of a
//     fresh 256-bit ID), so a replay that finds under its key exactly the
//     fields it writes answers success, and one that finds anything else
//     answers that the key is taken; a replay after the session expired
//     writes it again, already expired;
//   - take.lua records its ID in the moved marker, with what it took, so a
//     replay gets the session back instead of ErrMoved;
//   - destroy.lua, load.lua and the user index are idempotent as they are.

// OpWindow is how long a write's operation ID is remembered, at least: a
// replay of the write (a retry by the client) later than this after the
// write may apply it again. go-redis retries within the caller's context,
// which seshat bounds by Options.StoreTimeout (1 s by default). The IDs
// cost Redis about 70 bytes each for 10 to 15 s: about 1 MB per 1,000
// writes a second.
const OpWindow = 10 * time.Second

// opID returns a fresh operation ID: 8 random bytes. It only has to differ
// from the IDs of other writes to the same bucket within a few windows.
func opID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return string(b[:])
}

// opLog returns the key of the operation log of a session's bucket in layout l for the
// window (half of OpWindow, by the app's clock) that holds now, and how long
// a write keeps it (OpWindow, by Redis's clock). A replay carries the same
// now, so it finds the same log.
func (s *Store) opLog(l Layout, key string, now time.Time) (string, int64) {
	gen := now.UnixMilli() / (OpWindow.Milliseconds() / 2)
	return s.prefix + "{" + l.tag(key) + "}#o" + strconv.FormatInt(gen, 10), OpWindow.Milliseconds()
}
