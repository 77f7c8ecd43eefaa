package seal_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/seshat-go/seshat/seal"
)

// A value sealed for one session and name opens only as that session's
// value of that name: copied elsewhere in the store, it does not decrypt.
func Example() {
	ring, err := seal.NewRing(seal.NewKey())
	if err != nil {
		panic(err)
	}
	plain := []byte("alice@example.com")
	sealed := ring.Seal("session-1", "email", plain)
	fmt.Println("overhead:", len(sealed)-len(plain) == seal.Overhead)
	fmt.Println("plaintext visible:", strings.Contains(string(sealed), "alice"))

	p, err := ring.Open("session-1", "email", sealed)
	fmt.Printf("%s %v\n", p, err)
	_, err = ring.Open("session-2", "email", sealed) // moved to another session
	fmt.Println(errors.Is(err, seal.ErrOpen))
	_, err = ring.Open("session-1", "role", sealed) // moved to another name
	fmt.Println(errors.Is(err, seal.ErrOpen))
	// Output:
	// overhead: true
	// plaintext visible: false
	// alice@example.com <nil>
	// true
	// true
}

// Key rotation: the new key goes first and seals from then on; the old
// one, kept second, still opens what it sealed. Current tells which values
// a rekey would re-encrypt; once none is left, the old key can go.
func ExampleNewRing() {
	old, next := seal.NewKey(), seal.NewKey()
	before, _ := seal.NewRing(old)
	v := before.Seal("session-1", "cart", []byte("3 books"))

	rotated, err := seal.NewRing(next, old)
	if err != nil {
		panic(err)
	}
	p, err := rotated.Open("session-1", "cart", v)
	fmt.Printf("old value: %s %v, current: %v\n", p, err, rotated.Current(v))
	resealed := rotated.Seal("session-1", "cart", p) // what a rekey does
	fmt.Println("resealed current:", rotated.Current(resealed))

	after, _ := seal.NewRing(next) // the old key dropped
	_, err = after.Open("session-1", "cart", v)
	fmt.Println("old value without the old key:", errors.Is(err, seal.ErrOpen))
	p, err = after.Open("session-1", "cart", resealed)
	fmt.Printf("resealed value: %s %v\n", p, err)
	// Output:
	// old value: 3 books <nil>, current: false
	// resealed current: true
	// old value without the old key: true
	// resealed value: 3 books <nil>
}

// Keys come from configuration as base64 (openssl rand -base64 32), newest
// first; a malformed one is refused with ErrKey.
func ExampleParseKeys() {
	current := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	previous := base64.RawURLEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	keys, err := seal.ParseKeys(current, previous)
	if err != nil {
		panic(err)
	}
	ring, err := seal.NewRing(keys...)
	fmt.Println(len(keys), ring != nil, err)

	_, err = seal.ParseKeys(base64.StdEncoding.EncodeToString([]byte("too short")))
	fmt.Println(errors.Is(err, seal.ErrKey), err)
	// Output:
	// 2 true <nil>
	// true seal: invalid key: key 0 is 9 bytes, want 32 (base64 of 32 random bytes: openssl rand -base64 32)
}

// NewKey makes a key from crypto/rand, to store as base64 for ParseKeys.
func ExampleNewKey() {
	encoded := base64.StdEncoding.EncodeToString(seal.NewKey())
	keys, err := seal.ParseKeys(encoded)
	fmt.Println(len(encoded), len(keys[0]) == seal.KeySize, err)
	// Output:
	// 44 true <nil>
}
