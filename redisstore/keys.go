package redisstore

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Layout is where sessions' keys live: the hash tag ("bucket") of a
// session's hash, which its bucket's count hash and operation logs share
// (see scripts/prelude.lua). A store writes new sessions in one layout
// (Options.Layout) and reads, counts, lists and destroys sessions in both,
// so that changing it loses nothing. The layouts are told apart by the
// length of the tag.
type Layout uint8

const (
	// LayoutAuto is Options.Layout's default: LayoutSlots when the client
	// is a Cluster client, LayoutBuckets otherwise.
	LayoutAuto Layout = iota
	// LayoutBuckets spreads sessions over 256 buckets, "<prefix>{hh}<key>",
	// hh two hex digits of the store key's FNV-1a (the only layout before
	// issue 21). Count reads 256 count hashes. On a Cluster at most 256 of
	// the 16,384 slots hold sessions, so past a few masters some are much
	// busier than others (1.76 times the average with 30 masters) and past
	// 256 some hold nothing.
	LayoutBuckets
	// LayoutSlots has a bucket per Cluster slot, "<prefix>{ttt}<key>", ttt
	// the tag of three characters that lands on the slot of the store
	// key's own CRC16 (slotTags): sessions spread over every slot, so over
	// any number of masters as evenly as the slots are (at most 1.06 times
	// the average from 3 to 1,000 masters). Count reads 16,384 count
	// hashes, a Cluster's masters each theirs at once.
	LayoutSlots
)

// legacyBuckets is the number of buckets of LayoutBuckets.
const legacyBuckets = 256

// tag returns the hash tag of a store key in layout l.
func (l Layout) tag(key string) string {
	if l == LayoutBuckets {
		return bucket(key)
	}
	return slotTag(int(crc16(key)) % clusterSlots)
}

// bucket returns the hash tag of a store key in LayoutBuckets: two hex
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

// SessionKey returns the Redis key of the session under a store key in
// the layout the store writes, "<prefix>{<bucket>}<key>": where a session
// this store created lives. (A session created in the other layout lives
// under that layout's key.)
func (s *Store) SessionKey(key string) string { return s.sessionKeyIn(s.layout, key) }

func (s *Store) sessionKeyIn(l Layout, key string) string {
	return s.prefix + "{" + l.tag(key) + "}" + key
}

// keysIn returns the KEYS of a session script in layout l: the session
// and its bucket's count hash, which share a hash slot.
func (s *Store) keysIn(l Layout, key string) []string {
	t := l.tag(key)
	return []string{s.prefix + "{" + t + "}" + key, s.prefix + "{" + t + "}#"}
}

// keysWith returns the KEYS of a session script in layout l that also
// writes another key of the session's bucket (its operation log).
func (s *Store) keysWith(l Layout, key, other string) []string {
	return append(s.keysIn(l, key), other)
}

// layouts returns the layouts to look for a session in: the one the store
// writes first.
func (s *Store) layouts() [2]Layout {
	if s.layout == LayoutSlots {
		return [2]Layout{LayoutSlots, LayoutBuckets}
	}
	return [2]Layout{LayoutBuckets, LayoutSlots}
}

// UserKey returns the Redis key of a user's index.
func (s *Store) UserKey(user string) string {
	sum := sha256.Sum256([]byte(user))
	return s.prefix + "u:{" + base64.RawURLEncoding.EncodeToString(sum[:16]) + "}"
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
