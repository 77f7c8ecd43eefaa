package memstore

import (
	"encoding/binary"
	"iter"
	"math"
	"strings"
	"time"

	"github.com/seshat-go/seshat/store"
)

// entry is one stored session, or the marker Take leaves under the key of
// a session it moved. It holds a session in a fraction of what a
// store.Record costs: the values packed into one string (no map per
// session), times as Unix nanoseconds (a time.Time is 24 bytes and points
// to a Location), and no pointer but the LRU links.
type entry struct {
	key  string
	data string // the values, packed: see pack
	user string
	// Unix nanoseconds (see nanos). For a marker, deadline is when it
	// lapses.
	created, touched, deadline int64
	// idle is the idle timeout of a session, always positive (a record
	// with none expires at once and is never kept); 0 marks a marker.
	idle int64
	// prev and next link the anonymous entries of a shard, most recently
	// used first; nil for a session bound to a user.
	prev, next *entry
}

func (e *entry) isMarker() bool { return e.idle == 0 }

// expiresAt is store.Record.ExpiresAt in Unix nanoseconds, or when a
// marker lapses.
func (e *entry) expiresAt() int64 {
	if e.isMarker() {
		return e.deadline
	}
	idle := e.touched + e.idle
	if e.touched > 0 && e.idle > math.MaxInt64-e.touched {
		idle = math.MaxInt64
	}
	return min(idle, e.deadline)
}

// expired reports whether the entry must not be kept at now (Unix ns).
func (e *entry) expired(now int64) bool { return now >= e.expiresAt() }

// newEntry packs rec, copying its values.
func newEntry(key string, rec *store.Record) *entry {
	return &entry{key: key, data: pack(rec.Values), user: rec.User, created: nanos(rec.Created),
		touched: nanos(rec.Touched), deadline: nanos(rec.Deadline), idle: int64(rec.IdleTimeout)}
}

// record returns the session as a fresh store.Record the caller owns.
func (e *entry) record() *store.Record {
	return &store.Record{Values: unpack(e.data), User: e.user, Created: fromNanos(e.created),
		Touched: fromNanos(e.touched), IdleTimeout: time.Duration(e.idle), Deadline: fromNanos(e.deadline)}
}

func (e *entry) info() store.SessionInfo {
	return store.SessionInfo{Key: e.key, User: e.user, Created: fromNanos(e.created), Touched: fromNanos(e.touched),
		Deadline: fromNanos(e.deadline), ExpiresAt: fromNanos(e.expiresAt())}
}

// zeroTime stands for time.Time{}, which has no Unix nanoseconds.
const zeroTime = math.MinInt64

// nanos is t.UnixNano, saturated outside the years 1678 to 2262 where
// UnixNano is undefined: a time before is long expired, a time after is
// never reached.
func nanos(t time.Time) int64 {
	switch s := t.Unix(); {
	case t.IsZero():
		return zeroTime
	case s >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	case s <= math.MinInt64/int64(time.Second):
		return zeroTime + 1
	}
	return t.UnixNano()
}

// elapsed is now-t in nanoseconds, saturated as time.Time.Sub is.
func elapsed(now, t int64) int64 {
	d := now - t
	if (now^t) < 0 && (now^d) < 0 { // overflow
		if now > t {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return d
}

func fromNanos(n int64) time.Time {
	if n == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// pack encodes values as one string: for each value, the length of its
// name as a uvarint, the name, the length of the value as a uvarint, the
// value. Sessions are small, so a linear search through it is fast.
func pack(values map[string][]byte) string {
	n := 0
	for name, v := range values {
		n += pairLen(name, string(v))
	}
	var b strings.Builder
	b.Grow(n)
	for name, v := range values {
		writePair(&b, name, string(v))
	}
	return b.String()
}

// appendRepacked appends values packed as pack does, into a buffer the
// caller reuses (string(buf) then makes the one allocation, of the exact
// size): the names packed in old first, in their order, then the new ones.
// Most commits add no name, and then the map is never iterated.
func appendRepacked(buf []byte, old string, values map[string][]byte) []byte {
	kept := 0
	for name := range pairs(old) {
		if v, ok := values[name]; ok {
			buf = appendPair(buf, name, v)
			kept++
		}
	}
	if kept < len(values) {
		for name, v := range values {
			if _, was := find(old, name); !was {
				buf = appendPair(buf, name, v)
			}
		}
	}
	return buf
}

func appendPair(buf []byte, name string, value []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(name)))
	buf = append(buf, name...)
	buf = binary.AppendUvarint(buf, uint64(len(value)))
	return append(buf, value...)
}

func pairLen(name, value string) int {
	return uvarintLen(len(name)) + len(name) + uvarintLen(len(value)) + len(value)
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

func writePair(b *strings.Builder, name, value string) {
	var buf [binary.MaxVarintLen64]byte
	b.Write(buf[:binary.PutUvarint(buf[:], uint64(len(name)))])
	b.WriteString(name)
	b.Write(buf[:binary.PutUvarint(buf[:], uint64(len(value)))])
	b.WriteString(value)
}

// pairs yields the names and values packed in data.
func pairs(data string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for len(data) > 0 {
			var name, value string
			name, data = field(data)
			value, data = field(data)
			if !yield(name, value) {
				return
			}
		}
	}
}

// field splits a length-prefixed field off data, which pack wrote.
func field(data string) (f, rest string) {
	var n, shift uint
	i := 0
	for ; data[i] >= 0x80; i++ {
		n |= uint(data[i]&0x7f) << shift
		shift += 7
	}
	n |= uint(data[i]) << shift
	i++
	return data[i : i+int(n)], data[i+int(n):]
}

// find returns the value packed under name.
func find(data, name string) (string, bool) {
	for n, v := range pairs(data) {
		if n == name {
			return v, true
		}
	}
	return "", false
}

// unpack returns the values packed in data as a map the caller owns. The
// values share one allocation but not their capacity, so appending to one
// cannot overwrite another.
func unpack(data string) map[string][]byte {
	count, size := 0, 0
	for _, v := range pairs(data) {
		count++
		size += len(v)
	}
	values := make(map[string][]byte, count)
	buf := make([]byte, 0, size)
	for name, v := range pairs(data) {
		start := len(buf)
		buf = append(buf, v...)
		values[name] = buf[start:len(buf):len(buf)]
	}
	return values
}

// size is store.Record.Size of packed values.
func size(data string) int {
	n := 0
	for name, v := range pairs(data) {
		n += len(name) + len(v)
	}
	return n
}
