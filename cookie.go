package seshat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"sync"
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
	return b64.EncodeToString(b[:])
}

// signer signs and verifies cookie values with a list of secrets: the first
// signs, all verify.
type signer struct {
	pools []sync.Pool // one pool of HMAC states per secret
	name  string      // the cookie name, bound into the signature
}

func newSigner(secrets [][]byte, cookieName string) *signer {
	s := &signer{pools: make([]sync.Pool, len(secrets)), name: cookieName}
	for i, secret := range secrets {
		secret := append([]byte(nil), secret...)
		s.pools[i].New = func() any { return hmac.New(sha256.New, secret) }
	}
	return s
}

// mac computes the signature of id with secret i into dst.
func (s *signer) mac(i int, id string, dst *[sha256.Size]byte) {
	h := s.pools[i].Get().(hash.Hash)
	h.Reset()
	h.Write([]byte("seshat/v1\x00"))
	h.Write([]byte(s.name))
	h.Write([]byte{0})
	h.Write([]byte(id))
	h.Sum(dst[:0])
	s.pools[i].Put(h)
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
	var raw [idBytes]byte
	if n, err := b64.Decode(raw[:], []byte(id)); err != nil || n != idBytes {
		return "", 0, false
	}
	var got [sha256.Size + 1]byte // +1: room for a decoder that writes a trailing partial byte
	if n, err := b64.Decode(got[:], []byte(value[idLen+1:])); err != nil || n != sha256.Size {
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
type keyer struct{ pool sync.Pool }

func newKeyer(key []byte) *keyer {
	key = append([]byte("seshat/store-key/v1\x00"), key...)
	k := &keyer{}
	k.pool.New = func() any { return hmac.New(sha256.New, key) }
	return k
}

func (k *keyer) key(id string) string {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(id))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	k.pool.Put(h)
	return b64.EncodeToString(sum[:storeKeyBytes])
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
