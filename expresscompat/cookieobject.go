package expresscompat

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file is express-session's cookie object as the Go side handles it:
// the Node app's, kept as raw JSON. Go changes only what express-session
// itself would change when it saves a session (expires, counted from the
// save) and, for Session.SetExpiry, originalMaxAge; every other member,
// known or not, whatever its type, stays as Node wrote it.

// isoMillis is how JSON.stringify writes a Date.
const isoMillis = "2006-01-02T15:04:05.000Z"

// newCookie returns the cookie object express-session's generate builds
// from the app's cookie option, in the order of its Cookie.data.
func (o *Options) newCookie() []byte {
	c := o.Cookie
	var b bytes.Buffer
	b.WriteString(`{"originalMaxAge":`)
	if c.MaxAge > 0 {
		b.WriteString(strconv.FormatInt(c.MaxAge.Milliseconds(), 10))
	} else {
		b.WriteString("null")
	}
	if c.Partitioned {
		b.WriteString(`,"partitioned":true`)
	}
	if c.Priority != "" {
		b.WriteString(`,"priority":` + quote(c.Priority))
	}
	b.WriteString(`,"expires":null`) // set by cookieFor
	if c.Secure {
		b.WriteString(`,"secure":true`)
	}
	b.WriteString(`,"httpOnly":` + strconv.FormatBool(!c.NoHTTPOnly))
	if c.Domain != "" {
		b.WriteString(`,"domain":` + quote(c.Domain))
	}
	b.WriteString(`,"path":` + quote(c.Path))
	switch {
	case strings.EqualFold(c.SameSite, "true"):
		b.WriteString(`,"sameSite":true`)
	case c.SameSite != "":
		b.WriteString(`,"sameSite":` + quote(c.SameSite))
	}
	b.WriteString("}")
	return b.Bytes()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// cookieFor returns a session's cookie object as express-session's save
// at now would store it: the stored one (or, for a session the Go side
// creates, one from the app's cookie option) with expires set to now +
// originalMaxAge, as the session's touch does, or left null for a
// browser-session cookie. idle, when it differs from the life the object
// implies, is a new originalMaxAge (Session.SetExpiry; as setting
// req.session.cookie.maxAge on the Node side).
func (o *Options) cookieFor(stored []byte, idle time.Duration, now time.Time) []byte {
	obj := stored
	m, ok := members(obj)
	if !ok {
		obj = o.newCookie()
		m, _ = members(obj)
	}
	oma, isNum := number(m["originalMaxAge"])
	if idle > 0 && idle != o.implied(oma, isNum) {
		oma, isNum = float64(idle.Milliseconds()), true
		obj = setMember(obj, "originalMaxAge", []byte(strconv.FormatInt(idle.Milliseconds(), 10)))
	}
	switch {
	case isNum:
		exp := now.Add(time.Duration(oma * float64(time.Millisecond))).UTC().Format(isoMillis)
		obj = setMember(obj, "expires", []byte(quote(exp)))
	case string(m["originalMaxAge"]) == "null" && m["expires"] != nil && string(m["expires"]) != "null":
		// maxAge = null on touch: the expiry goes too.
		obj = setMember(obj, "expires", []byte("null"))
	}
	return obj
}

// implied is the life a cookie object implies: its originalMaxAge, or the
// key's TTL for a browser-session cookie.
func (o *Options) implied(oma float64, isNum bool) time.Duration {
	if isNum && oma > 0 {
		return time.Duration(oma * float64(time.Millisecond))
	}
	return o.TTL
}

// idleOf is the life a stored cookie object implies.
func (o *Options) idleOf(obj []byte) time.Duration {
	m, _ := members(obj)
	oma, isNum := number(m["originalMaxAge"])
	return o.implied(oma, isNum)
}

// keyTTL is the life connect-redis gives the key of a session saved with
// the cookie object: until its expires, or TTL without one.
func (o *Options) keyTTL(obj []byte, now time.Time) time.Duration {
	if exp, ok := expires(obj); ok {
		return exp.Sub(now)
	}
	return o.TTL
}

// expires returns the cookie object's expiry, if it has one.
func expires(obj []byte) (time.Time, bool) {
	m, _ := members(obj)
	var s string
	if json.Unmarshal(m["expires"], &s) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// members returns the members of a JSON object (the last of duplicates,
// as JSON.parse keeps).
func members(obj []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// number reads a JSON number.
func number(raw json.RawMessage) (float64, bool) {
	var f float64
	if len(raw) == 0 || raw[0] == 'n' || json.Unmarshal(raw, &f) != nil || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// setMember returns the JSON object obj with the member key set to the
// JSON value val, every other byte unchanged: in place where the member
// is (each occurrence), appended where it is not.
func setMember(obj []byte, key string, val []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return obj
	}
	var spans [][2]int
	n := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return obj
		}
		after := int(dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return obj
		}
		n++
		if k, _ := t.(string); k == key {
			end := int(dec.InputOffset())
			start := after + bytes.IndexByte(obj[after:end], ':') + 1
			for start < end && strings.IndexByte(" \t\r\n", obj[start]) >= 0 {
				start++
			}
			spans = append(spans, [2]int{start, end})
		}
	}
	var out []byte
	if len(spans) == 0 {
		i := bytes.LastIndexByte(obj, '}')
		out = append(out, obj[:i]...)
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, quote(key)+":"...)
		out = append(out, val...)
		return append(out, obj[i:]...)
	}
	prev := 0
	for _, s := range spans {
		out = append(append(out, obj[prev:s[0]]...), val...)
		prev = s[1]
	}
	return append(out, obj[prev:]...)
}

// truthy is JavaScript's truthiness of a JSON value.
func truthy(raw json.RawMessage) bool {
	switch s := string(raw); s {
	case "", "null", "false", `""`:
		return false
	default:
		f, ok := number(raw)
		return !ok || f != 0
	}
}

// text reads a JSON string.
func text(raw json.RawMessage) (string, bool) {
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// setCookie returns the Set-Cookie header value express-session sends for
// the cookie object (the cookie package's serialize of Cookie.data, in its
// order of attributes), or "" when it sends none: a Secure cookie on a
// request that is not secure.
func setCookie(name, value string, obj []byte, secure bool) string {
	m, _ := members(obj)
	if truthy(m["secure"]) && !secure {
		return ""
	}
	var b strings.Builder
	b.WriteString(name + "=" + value)
	if s, ok := text(m["domain"]); ok && s != "" {
		b.WriteString("; Domain=" + s)
	}
	if s, ok := text(m["path"]); ok && s != "" {
		b.WriteString("; Path=" + s)
	}
	if exp, ok := expires(obj); ok {
		b.WriteString("; Expires=" + exp.UTC().Format(http.TimeFormat))
	}
	if truthy(m["httpOnly"]) {
		b.WriteString("; HttpOnly")
	}
	if truthy(m["secure"]) {
		b.WriteString("; Secure")
	}
	if truthy(m["partitioned"]) {
		b.WriteString("; Partitioned")
	}
	if s, ok := text(m["priority"]); ok {
		switch strings.ToLower(s) {
		case "low":
			b.WriteString("; Priority=Low")
		case "medium":
			b.WriteString("; Priority=Medium")
		case "high":
			b.WriteString("; Priority=High")
		}
	}
	if string(m["sameSite"]) == "true" {
		b.WriteString("; SameSite=Strict")
	} else if s, ok := text(m["sameSite"]); ok {
		switch strings.ToLower(s) {
		case "lax":
			b.WriteString("; SameSite=Lax")
		case "strict":
			b.WriteString("; SameSite=Strict")
		case "none":
			b.WriteString("; SameSite=None")
		}
	}
	return b.String()
}
