package seshat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"iter"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/seshat-go/seshat/store"
)

const (
	idBytes       = 32 // 256-bit session IDs
	idLen         = 43 // base64url, unpadded, of idBytes
	sigLen        = 43 // base64url, unpadded, of an HMAC-SHA-256
	cookieLen     = idLen + 1 + sigLen
	storeKeyBytes = 12 // 96 bits of the keyed hash name a record (no collision in 2^40 sessions)
)

// b64 is strict so that every decoded value has exactly one spelling: a
// cookie with a changed character never verifies.
var b64 = base64.RawURLEncoding.Strict()

// newID returns a fresh session ID: 256 bits from crypto/rand, base64url.
func newID() string {
	var b [idBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand.Read crashes the program instead)
	// Encoded on the stack: one allocation, the string.
	var id [idLen]byte
	b64.Encode(id[:], b[:])
	return string(id[:])
}

// macState is a pooled HMAC with the buffers it writes from and sums into,
// so that signing and hashing allocate nothing: a slice passed to
// hash.Hash.Write escapes, and a fresh one would be allocated each time.
type macState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// macPool is a pool of HMAC-SHA-256 states for one key.
type macPool struct{ sync.Pool }

func newMACPool(key []byte) *macPool {
	key = append([]byte(nil), key...)
	p := &macPool{}
	p.New = func() any { return &macState{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 128)} }
	return p
}

// sum computes the HMAC of prefix followed by msg into dst.
func (p *macPool) sum(prefix []byte, msg string, dst *[sha256.Size]byte) {
	st := p.Get().(*macState)
	st.buf = append(append(st.buf[:0], prefix...), msg...)
	st.h.Reset()
	st.h.Write(st.buf)
	st.h.Sum(st.sum[:0])
	*dst = st.sum
	p.Put(st)
}

// signer signs and verifies cookie values with a list of secrets: the first
// signs, all verify.
type signer struct {
	pools  []*macPool // one pool of HMAC states per secret
	prefix []byte     // "seshat/v1\x00<cookie name>\x00": binds the cookie name into the signature
}

func newSigner(secrets [][]byte, cookieName string) *signer {
	s := &signer{pools: make([]*macPool, len(secrets)), prefix: []byte("seshat/v1\x00" + cookieName + "\x00")}
	for i, secret := range secrets {
		s.pools[i] = newMACPool(secret)
	}
	return s
}

// mac computes the signature of id with secret i into dst.
func (s *signer) mac(i int, id string, dst *[sha256.Size]byte) {
	s.pools[i].sum(s.prefix, id, dst)
}

// sign returns the cookie value for id, signed with the first secret.
func (s *signer) sign(id string) string {
	var sum [sha256.Size]byte
	s.mac(0, id, &sum)
	buf := make([]byte, cookieLen)
	copy(buf, id)
	buf[idLen] = '.'
	b64.Encode(buf[idLen+1:], sum[:])
	return string(buf)
}

// verify returns the ID in a cookie value and the index of the secret that
// signed it. ok is false for anything but a well-formed value signed with
// one of the secrets.
func (s *signer) verify(value string) (id string, secret int, ok bool) {
	if len(value) != cookieLen || value[idLen] != '.' {
		return "", 0, false
	}
	id = value[:idLen]
	var src [cookieLen]byte // decoded from a copy: []byte(value) would allocate
	copy(src[:], value)
	var raw [idBytes + 1]byte // +1: room for a decoder that writes a trailing partial byte
	if n, err := b64.Decode(raw[:], src[:idLen]); err != nil || n != idBytes {
		return "", 0, false
	}
	var got [sha256.Size + 1]byte
	if n, err := b64.Decode(got[:], src[idLen+1:]); err != nil || n != sha256.Size {
		return "", 0, false
	}
	var want [sha256.Size]byte
	for i := range s.pools {
		s.mac(i, id, &want)
		if hmac.Equal(got[:sha256.Size], want[:]) {
			return id, i, true
		}
	}
	return "", 0, false
}

// keyer turns session IDs into store keys with a keyed hash, so the store
// never holds an ID that could be used as a cookie.
type keyer struct{ pool *macPool }

func newKeyer(key []byte) *keyer {
	return &keyer{pool: newMACPool(append([]byte("seshat/store-key/v1\x00"), key...))}
}

func (k *keyer) key(id string) string {
	var sum [sha256.Size]byte
	k.pool.sum(nil, id, &sum)
	return b64.EncodeToString(sum[:storeKeyBytes])
}

// cookieValues yields the values of the request cookies called name, in
// order, exactly as http.Request.CookiesNamed finds them (FuzzCookieValues
// checks), but without allocating: this runs on every request.
func cookieValues(h http.Header, name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		lines := h["Cookie"]
		n := 0
		for _, line := range lines {
			n += strings.Count(line, ";") + 1
		}
		if n > maxCookies {
			return // net/http reads no cookie at all then
		}
		for _, line := range lines {
			for line != "" {
				var part string
				part, line, _ = strings.Cut(line, ";")
				k, v, _ := strings.Cut(textproto.TrimString(part), "=")
				if textproto.TrimString(k) != name {
					continue
				}
				if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				if validCookieValue(v) && !yield(v) {
					return
				}
			}
		}
	}
}

// maxCookies is net/http's default limit on the cookies of a request
// (GODEBUG httpcookiemaxnum).
const maxCookies = 3000

// validCookieValue reports whether v holds only the bytes RFC 6265 allows
// in a cookie value (what net/http accepts).
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// CookieFormat is how session IDs are made, carried in cookies and turned
// into store keys (Options.Cookies). The default is seshat's own: 256-bit
// IDs, HMAC-SHA-256 signatures with the Secrets, and a keyed hash of the ID
// as the store key. Package expresscompat provides express-session's.
type CookieFormat interface {
	// NewID returns a fresh, unguessable session ID.
	NewID() string
	// Encode returns the cookie value that carries id.
	Encode(id string) string
	// Decode returns the ID a cookie value carries. ok is false for
	// anything forged or malformed, which then never reaches the store;
	// stale reports a value to encode again (signed with an older secret).
	Decode(value string) (id string, stale, ok bool)
	// StoreKey returns the store key of the session with the ID.
	StoreKey(id string) string
}

// defaultFormat is seshat's cookie format.
type defaultFormat struct {
	signer *signer
	keyer  *keyer
}

func (f defaultFormat) NewID() string           { return newID() }
func (f defaultFormat) Encode(id string) string { return f.signer.sign(id) }
func (f defaultFormat) StoreKey(id string) string {
	return f.keyer.key(id)
}
func (f defaultFormat) Decode(v string) (string, bool, bool) {
	id, secret, ok := f.signer.verify(v)
	return id, secret != 0, ok
}

// CookieIssuer is a CookieFormat that also writes the session cookie and
// decides when it is sent, from the session as stored: package
// expresscompat's sends what the express-session app would, with the
// attributes and expiry of the session's own cookie object. The manager
// asks it whenever it would send the cookie itself, and when the request
// wrote the session or Options.RollingCookie is set; clearing cookies
// (a destroyed or unknown session) stay the manager's.
type CookieIssuer interface {
	CookieFormat
	// IssueCookie returns the Set-Cookie header value for the session, or
	// "" to send none.
	IssueCookie(c SessionCookie) string
}

// SessionCookie is what a CookieIssuer decides from.
type SessionCookie struct {
	// Name is the cookie's name.
	Name string
	// ID is the session ID (Encode gives the cookie value).
	ID string
	// Record is the session as the request last saw it in the store (for a
	// session created by the request, as it was created).
	Record *store.Record
	// Secure reports whether the request came over TLS (or, with
	// Options.TrustForwardedProto, a proxy said so).
	Secure bool
	// Now is the time of the commit.
	Now time.Time
	// Created reports a session created (or regenerated) by the request.
	Created bool
	// Wrote reports that the request changed the stored session.
	Wrote bool
	// Stale reports a cookie to send again whatever the issuer's rules:
	// signed with an older secret, or the session's expiry changed
	// (Session.SetExpiry).
	Stale bool
	// Rolling is Options.RollingCookie.
	Rolling bool
}
