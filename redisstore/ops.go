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
//   - commit.lua and incr.lua carry an operation ID and record it, with the
//     result, in their bucket's operation log (a hash in the same slot, one
//     per window of OpWindow, that expires whole); a replay answers the
//     recorded result and applies nothing;
//   - take.lua records its ID in the moved marker, with what it took, so a
//     replay gets the session back instead of ErrMoved;
//   - create.lua answers "created" when the key holds exactly the metadata
//     it was asked to write (a 256-bit ID nobody else can know yet);
//   - destroy.lua, load.lua and the user index are idempotent as they are.

// OpWindow is how long a write's operation ID is remembered, at least: a
// replay of the write (a retry by the client) later than this after the
// write may apply it again. go-redis retries within the caller's context,
// which seshat bounds by Options.StoreTimeout (1 s by default).
const OpWindow = 10 * time.Second

// opID returns a fresh operation ID: 8 random bytes. It only has to differ
// from the IDs of other writes to the same bucket within two windows.
func opID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return string(b[:])
}

// opLog returns the key of the operation log of a session's bucket for the
// window that holds now, and when it expires (Unix ms): at the end of the
// next window.
func (s *Store) opLog(key string, now time.Time) (string, int64) {
	w := OpWindow.Milliseconds()
	gen := now.UnixMilli() / w
	return s.prefix + "{" + bucket(key) + "}#o" + strconv.FormatInt(gen, 10), (gen + 2) * w
}
