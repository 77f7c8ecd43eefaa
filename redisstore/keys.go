package redisstore

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// layout is where a session's keys live: the hash tag ("bucket") of its
// hash, which its bucket's count hash and operation logs share (see
// scripts/prelude.lua). The layouts are told apart by the tag's length.
type layout uint8

const (
	// layoutBuckets: 256 buckets "{hh}", two hex digits of the store key's
	// FNV-1a. At most 256 of a Cluster's 16,384 slots hold sessions, so
	// past a few masters some are much busier than others (issue 21).
	layoutBuckets layout = 1
	// layoutSlots: one bucket per Cluster slot, "{ttt}", the tag of three
	// characters that lands on the slot of the store key's own CRC16
	// (slotTags): sessions spread over every slot, so over any number of
	// masters as evenly as the slots are.
	layoutSlots layout = 2
)

// legacyBuckets is the number of buckets of layoutBuckets.
const legacyBuckets = 256

// tag returns the hash tag of a store key in layout l.
func (l layout) tag(key string) string {
	if l == layoutBuckets {
		return bucket(key)
	}
	return slotTag(int(crc16(key)) % clusterSlots)
}

// bucket returns the hash tag of a store key in layoutBuckets: two hex
// digits of its FNV-1a.
func bucket(key string) string {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	const hex = "0123456789abcdef"
	return string([]byte{hex[h>>4&0xf], hex[h&0xf]})
}

// errKey: a store key that cannot name a session.
var errKey = errors.New("invalid store key (empty, starting with '#', or with a brace)")

// validKey reports whether a store key can name a session: keys starting
// with "#" after the hash tag are the bucket's own (count hash, operation
// logs), and a brace would change the hash tag. A handle given to an
// administrative call comes from outside: "#" must not reach a count hash.
func validKey(key string) bool {
	return key != "" && key[0] != '#' && !strings.ContainsAny(key, "{}")
}

// SessionKey returns the Redis key of the session under a store key:
// "<prefix>{<bucket>}<key>".
func (s *Store) SessionKey(key string) string { return s.prefix + "{" + bucket(key) + "}" + key }

// keys returns the KEYS of a session script: the session and its bucket's
// count hash, which share a hash slot.
func (s *Store) keys(key string) []string { return s.keysIn(layoutBuckets, key) }

// keysIn returns the KEYS of a session script in layout l.
func (s *Store) keysIn(l layout, key string) []string {
	t := l.tag(key)
	return []string{s.prefix + "{" + t + "}" + key, s.prefix + "{" + t + "}#"}
}

// keysWith returns the KEYS of a session script that also writes another
// key of the session's bucket (its operation log).
func (s *Store) keysWith(key, other string) []string {
	b := bucket(key)
	return []string{s.prefix + "{" + b + "}" + key, s.prefix + "{" + b + "}#", other}
}

// UserKey returns the Redis key of a user's index.
func (s *Store) UserKey(user string) string {
	sum := sha256.Sum256([]byte(user))
	return s.prefix + "u:{" + base64.RawURLEncoding.EncodeToString(sum[:16]) + "}"
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
