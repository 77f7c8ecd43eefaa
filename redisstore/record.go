package redisstore

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/seshat-go/seshat/store"
)

// recordOf reads a session hash (as HGETALL, load.lua or take.lua returned
// it): the one parser of a stored session, with the checks the scripts
// make: a moved marker, missing metadata, expiry by the caller's clock.
func recordOf(op string, h map[string]string, now time.Time) (*store.Record, error) {
	if len(h) == 0 {
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	if until, ok := h["@m"]; ok {
		if u, err := strconv.ParseInt(until, 10, 64); err == nil && now.UnixMilli() < u {
			return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrMoved)
		}
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	raw, ok := h["@"]
	if !ok {
		return nil, fmt.Errorf("redisstore: %s: metadata missing: %w", op, store.ErrCorrupt)
	}
	rec, err := parseMeta(raw)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	n := 0
	for _, v := range h {
		n += len(v)
	}
	// One buffer for all the values (each capped, so an append to one
	// cannot run into the next): two allocations, not one per value.
	buf := make([]byte, 0, n)
	rec.Values = make(map[string][]byte, len(h))
	for name, v := range h {
		switch {
		case name == "@u":
			rec.User = v
		case name != "" && name[0] == '@':
			// Metadata, or metadata of a later version we do not know.
		default:
			start := len(buf)
			buf = append(buf, v...)
			rec.Values[name] = buf[start:len(buf):len(buf)]
		}
	}
	if !now.Before(rec.ExpiresAt()) {
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	return rec, nil
}

// metaLen is the length of the "@" field (see scripts/prelude.lua): the
// format version (one byte), then little-endian int64 created (Unix ms),
// touched - created, idle timeout and deadline - created (ms), and an int32
// size.
const metaLen = 37

// formatMeta encodes the "@" field of rec.
func formatMeta(rec *store.Record, size int) string {
	c := rec.Created.UnixMilli()
	b := make([]byte, 1, metaLen)
	b[0] = store.FormatVersion
	b = binary.LittleEndian.AppendUint64(b, uint64(c))
	b = binary.LittleEndian.AppendUint64(b, uint64(rec.Touched.UnixMilli()-c))
	b = binary.LittleEndian.AppendUint64(b, uint64(rec.IdleTimeout.Milliseconds()))
	b = binary.LittleEndian.AppendUint64(b, uint64(rec.Deadline.UnixMilli()-c))
	b = binary.LittleEndian.AppendUint32(b, uint32(size))
	return string(b)
}

// metaExpiry is when the session whose metadata formatMeta(rec) encodes
// expires, in Unix ms, computed as the scripts do from that metadata.
func metaExpiry(rec *store.Record) int64 {
	return min(rec.Touched.UnixMilli()+rec.IdleTimeout.Milliseconds(), rec.Deadline.UnixMilli())
}

// parseMeta reads the "@" field into the times of a Record.
func parseMeta(raw string) (*store.Record, error) {
	if len(raw) == 0 || raw[0] != store.FormatVersion {
		return nil, fmt.Errorf("metadata %q: unknown format version: %w", raw, store.ErrCorrupt)
	}
	if len(raw) != metaLen {
		return nil, fmt.Errorf("metadata %q: %w", raw, store.ErrCorrupt)
	}
	n := func(i int) int64 { return int64(binary.LittleEndian.Uint64([]byte(raw[1+8*i : 9+8*i]))) }
	c, t, idle, d := n(0), n(1), n(2), n(3)
	if c < 0 || idle < 0 || int32(binary.LittleEndian.Uint32([]byte(raw[33:]))) < 0 {
		return nil, fmt.Errorf("metadata %q: %w", raw, store.ErrCorrupt)
	}
	return &store.Record{
		Created:     time.UnixMilli(c),
		Touched:     time.UnixMilli(c + t),
		IdleTimeout: time.Duration(idle) * time.Millisecond,
		Deadline:    time.UnixMilli(c + d),
	}, nil
}

// reply reads the answer of a script that returns a session (load.lua,
// take.lua): a status first, {'OK', name, value, ...}, {'NOTFOUND'} or
// {'MOVED'}, as every script answers.
func reply(op string, res any, now time.Time) (*store.Record, error) {
	arr, ok := res.([]any)
	status, _ := first(arr)
	switch {
	case !ok:
		return nil, fmt.Errorf("redisstore: %s: reply of type %T: %w", op, res, store.ErrCorrupt)
	case status == "NOTFOUND":
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	case status == "MOVED":
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrMoved)
	case status != "OK" || len(arr)%2 != 1:
		return nil, fmt.Errorf("redisstore: %s: unexpected reply %.40q: %w", op, status, store.ErrCorrupt)
	}
	h := make(map[string]string, len(arr)/2)
	for i := 1; i < len(arr); i += 2 {
		name, ok1 := arr[i].(string)
		val, ok2 := arr[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("redisstore: %s: field of type %T: %w", op, arr[i+1], store.ErrCorrupt)
		}
		h[name] = val
	}
	return recordOf(op, h, now)
}

func first(res []any) (string, bool) {
	if len(res) == 0 {
		return "", false
	}
	s, ok := res[0].(string)
	return s, ok
}

func str(res []any, i int) string {
	if i >= len(res) {
		return ""
	}
	switch v := res[i].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}
