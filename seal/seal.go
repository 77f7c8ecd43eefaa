// Package seal encrypts session values at rest with AES-256-GCM and a key
// ring, so that a copy of the store holds no plaintext.
//
// The first key of a Ring encrypts; every key decrypts, so a new key can be
// put first while values written under older ones stay readable (and are
// re-encrypted by a rekey). Each ciphertext is bound, through GCM's
// associated data, to the session it belongs to and the name it is stored
// under: a value copied to another session or another name does not
// decrypt, and the failure is reported, not hidden.
//
// Sealed format: 'E', 4-byte key ID, 12-byte random nonce, ciphertext and
// 16-byte tag — 33 bytes more than the plaintext.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of an encryption key: AES-256.
const KeySize = 32

const (
	version   = 'E'
	idSize    = 4
	nonceSize = 12
	// Overhead is how many bytes sealing adds to a value.
	Overhead = 1 + idSize + nonceSize + 16
)

// Errors.
var (
	// ErrOpen means a sealed value could not be decrypted: it was tampered
	// with, moved to another session or name, or sealed under a key the
	// ring does not hold.
	ErrOpen = errors.New("seal: value cannot be decrypted")
	// ErrKey means a key is malformed.
	ErrKey = errors.New("seal: invalid key")
)

type key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// Ring is a list of AES-256 keys: the first seals, all open. It is safe for
// concurrent use.
type Ring struct {
	keys []key
}

// NewRing returns a ring of 32-byte keys, the first of which encrypts.
func NewRing(keys ...[]byte) (*Ring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrKey)
	}
	r := &Ring{}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("%w: key %d is %d bytes, want %d", ErrKey, i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrKey, i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrKey, i, err)
		}
		var kk key
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte("seshat/seal/key-id"))
		copy(kk.id[:], mac.Sum(nil))
		for _, prev := range r.keys {
			if prev.id == kk.id {
				return nil, fmt.Errorf("%w: key %d appears twice", ErrKey, i)
			}
		}
		kk.aead = aead
		r.keys = append(r.keys, kk)
	}
	return r, nil
}

// ParseKeys decodes base64 keys (standard or URL alphabet, padded or not)
// for NewRing.
func ParseKeys(encoded ...string) ([][]byte, error) {
	var out [][]byte
	for i, e := range encoded {
		e = strings.TrimSpace(e)
		var b []byte
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err = enc.DecodeString(e); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: key %d is not base64", ErrKey, i)
		}
		if len(b) != KeySize {
			return nil, fmt.Errorf("%w: key %d is %d bytes, want %d (base64 of 32 random bytes: openssl rand -base64 32)", ErrKey, i, len(b), KeySize)
		}
		out = append(out, b)
	}
	return out, nil
}

// NewKey returns a fresh random key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

func ad(id [idSize]byte, session, name string) []byte {
	b := make([]byte, 0, 24+len(session)+len(name))
	b = append(b, "seshat/seal/v1\x00"...)
	b = append(b, id[:]...)
	b = append(b, session...)
	b = append(b, 0)
	return append(b, name...)
}

// Seal encrypts plaintext for the value called name in session (its store
// key) with the ring's first key.
func (r *Ring) Seal(session, name string, plaintext []byte) []byte {
	k := &r.keys[0]
	out := make([]byte, 1+idSize+nonceSize, Overhead+len(plaintext))
	out[0] = version
	copy(out[1:], k.id[:])
	rand.Read(out[1+idSize:])
	return k.aead.Seal(out, out[1+idSize:1+idSize+nonceSize], plaintext, ad(k.id, session, name))
}

// Open decrypts a value sealed for name in session.
func (r *Ring) Open(session, name string, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead || sealed[0] != version {
		return nil, fmt.Errorf("%w: not a sealed value", ErrOpen)
	}
	var id [idSize]byte
	copy(id[:], sealed[1:])
	for i := range r.keys {
		k := &r.keys[i]
		if k.id != id {
			continue
		}
		nonce := sealed[1+idSize : 1+idSize+nonceSize]
		p, err := k.aead.Open(nil, nonce, sealed[1+idSize+nonceSize:], ad(id, session, name))
		if err != nil {
			return nil, fmt.Errorf("%w: authentication failed (tampered, or moved from another session or name)", ErrOpen)
		}
		return p, nil
	}
	return nil, fmt.Errorf("%w: sealed under a key not in the ring", ErrOpen)
}

// Current reports whether a sealed value is sealed under the ring's first
// key (false means a rekey would re-encrypt it).
func (r *Ring) Current(sealed []byte) bool {
	return len(sealed) >= Overhead && sealed[0] == version && [idSize]byte(sealed[1:1+idSize]) == r.keys[0].id
}
