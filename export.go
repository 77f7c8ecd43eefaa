package seshat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seshat-go/seshat/store"
)

// UserExport is everything the store holds about one user's sessions, for
// a data subject's request for their data (GDPR article 15).
type UserExport struct {
	// User is the user ID the export was asked for.
	User string `json:"user"`
	// Exported is when the export was made.
	Exported time.Time `json:"exported"`
	// Sessions holds each live session of the user with its values
	// decoded (and decrypted, when Options.Encryption holds the keys),
	// oldest first.
	Sessions []Snapshot `json:"sessions"`
}

// ExportUser returns every live session bound to user with its values, as
// Inspect shows them. It needs a store that implements store.UserIndex.
// Sessions that end while it runs are left out. It does not count as
// activity.
func (m *Manager) ExportUser(ctx context.Context, user string) (_ UserExport, err error) {
	ctx, done := m.admin(ctx, "export_user")
	defer done(&err)
	out := UserExport{User: user, Exported: m.now(), Sessions: []Snapshot{}}
	if user == "" {
		return out, fmt.Errorf("%w: ExportUser needs a user ID", ErrInvalidOptions)
	}
	list, err := m.userSessions(ctx, user, false)
	if err != nil {
		return out, err
	}
	for _, info := range list {
		snap, err := m.Inspect(ctx, info.Handle)
		switch {
		case errors.Is(err, ErrNoSuchSession):
			continue // ended meanwhile
		case errors.Is(err, store.ErrCorrupt):
			// Unreadable: listed with what the index knows, no values.
			info.User = user
			snap = Snapshot{SessionInfo: info, Values: map[string]any{}}
		case err != nil:
			return out, err
		case snap.User != user:
			continue // bound to someone else meanwhile
		}
		out.Sessions = append(out.Sessions, snap)
	}
	return out, nil
}

// EraseStats reports what EraseUser removed.
type EraseStats struct {
	Sessions int `json:"sessions"` // sessions destroyed
	Events   int `json:"events"`   // entries removed from the event log
}

// EraseUser removes what the store holds about user, for a request to be
// forgotten (GDPR article 17): it destroys every session of the user, as
// RevokeUser does, and removes from the store's event log (Options.Events)
// every entry that names the user (by Manager.UserKey). The destructions
// are published without the user. A session regenerated in the last
// minute leaves, for that minute, the store's marker of the move (see
// store.MovedGrace), which names the user as the session did; an
// append-only file or a backup keeps what it kept. It needs a
// store.UserIndex; an event log
// that cannot remove entries (store.EventEraser) makes it fail with
// ErrNotSupported after the sessions are gone. Events a listener already
// received are the listener's to forget.
func (m *Manager) EraseUser(ctx context.Context, user string) (st EraseStats, err error) {
	ctx, done := m.admin(ctx, "erase_user")
	defer done(&err)
	if user == "" {
		return st, fmt.Errorf("%w: EraseUser needs a user ID", ErrInvalidOptions)
	}
	key := m.UserKey(user)
	for range 2 { // as RevokeUser: a login completing meanwhile is caught
		infos, err := m.userSessions(ctx, user, false)
		if err != nil {
			return st, err
		}
		for _, in := range infos {
			if err := m.destroy(ctx, in.Handle, "", store.Revoked); err != nil {
				return st, err
			}
			st.Sessions++
		}
	}
	log, ok := m.store.(store.EventLog)
	if !ok {
		return st, nil // no log, nothing in it
	}
	er, ok := log.(store.EventEraser)
	if !ok {
		return st, fmt.Errorf("%w: the store's event log cannot remove a user's entries (store.EventEraser)", ErrNotSupported)
	}
	err = m.op(ctx, "erase_events", true, func(ctx context.Context) (err error) {
		st.Events, err = er.EraseUser(ctx, key)
		return err
	})
	return st, err
}
