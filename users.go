package seshat

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"

	"github.com/seshat-go/seshat/seal"
	"github.com/seshat-go/seshat/store"
)

// The values seshat keeps in a session for itself. Their names start with
// NUL, which checkKey refuses, so they never meet an application's names
// (flash messages, also named with a NUL, are an application's values);
// they are always sealed (see internalSealer), so a copy of the store holds
// neither user IDs nor devices in the clear.
const (
	userValue   = "\x00user"   // the readable user ID
	deviceValue = "\x00device" // the Device, see devices.go
)

// internal reports whether a value name is one of seshat's own.
func internal(name string) bool { return name == userValue || name == deviceValue }

// internalSealer seals seshat's own values: under Options.Encryption when
// it is set, and otherwise under a key derived from Options.HashKey, which
// never rotates. It opens what either sealed, so that turning encryption on
// keeps every user logged in (Rekey moves those values to the ring).
//
// Without a HashKey the derived key is a constant known to anyone who reads
// this code: the values are then kept out of sight (a dump, a log of the
// store's traffic shows no user ID) but not secret. The README says so.
type internalSealer struct {
	enc     Sealer     // Options.Encryption, or nil
	derived *seal.Ring // keyed by HashKey
}

func newInternalSealer(enc Sealer, hashKey []byte) *internalSealer {
	mac := hmac.New(sha256.New, []byte("seshat/internal-values/v1"))
	mac.Write(hashKey)
	ring, err := seal.NewRing(mac.Sum(nil))
	if err != nil {
		panic("seshat: " + err.Error()) // a 32-byte key: cannot fail
	}
	return &internalSealer{enc: enc, derived: ring}
}

func (s *internalSealer) Seal(session, name string, plaintext []byte) []byte {
	if s.enc != nil {
		return s.enc.Seal(session, name, plaintext)
	}
	return s.derived.Seal(session, name, plaintext)
}

func (s *internalSealer) Open(session, name string, sealed []byte) ([]byte, error) {
	if s.enc == nil {
		return s.derived.Open(session, name, sealed)
	}
	p, err := s.enc.Open(session, name, sealed)
	if err == nil {
		return p, nil
	}
	if p, err2 := s.derived.Open(session, name, sealed); err2 == nil {
		return p, nil
	}
	return nil, err
}

// sealer returns what seals the value called name, or nil when it is kept
// as it is.
func (m *Manager) sealer(name string) Sealer {
	if internal(name) {
		return m.inner
	}
	if m.opts.Encryption != nil {
		return m.opts.Encryption
	}
	return nil
}

// UserKey returns what the store keeps for a user ID: a keyed hash of it
// (keyed by Options.HashKey), or the ID itself with Options.UserIDsInClear.
// It is the User of LifecycleEvent and store.SessionInfo, so a listener can
// tell which events are a given user's without the store ever holding the
// ID. UserKey("") is "".
func (m *Manager) UserKey(user string) string {
	if m.opts.UserIDsInClear || user == "" {
		return user
	}
	return m.keyer.key("user\x00" + user)
}

// UserOf returns the user ID behind a user key (UserKey's result, as a
// store's usage report or a LifecycleEvent shows it), read from one of the
// user's live sessions, where it is kept sealed; "" when the user has no
// live session left, or none that opens with this manager's keys. It
// needs a store that implements store.UserIndex.
func (m *Manager) UserOf(ctx context.Context, userKey string) (_ string, err error) {
	ctx, done := m.admin(ctx, "user_of")
	defer done(&err)
	if m.opts.UserIDsInClear || userKey == "" {
		return userKey, nil
	}
	idx, ok := m.store.(store.UserIndex)
	if !ok {
		return "", fmt.Errorf("%w: UserOf needs a store.UserIndex", ErrNotSupported)
	}
	var infos []store.SessionInfo
	err = m.op(ctx, "user_sessions", false, func(ctx context.Context) (err error) {
		infos, err = idx.UserSessions(ctx, userKey, m.now())
		return err
	})
	if err != nil {
		return "", err
	}
	// A few sessions are enough: each keeps the ID sealed, and one that
	// does not open (other keys) says the others will not either.
	for _, in := range infos[:min(len(infos), 3)] {
		if u, _ := m.details(ctx, in.Key); u != "" {
			return u, nil // details checked that it hashes to userKey
		}
	}
	return "", nil
}
