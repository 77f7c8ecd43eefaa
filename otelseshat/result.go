package otelseshat

import (
	"context"
	"errors"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/store"
)

// Result classifies an operation's error for the seshat.result attribute:
// "ok" (nil), "not_found", "exists", "conflict", "moved", "too_large",
// "not_integer", "full", "corrupt", "unavailable", "canceled" or "error".
// Every class but "full", "unavailable", "canceled" and "error" is the
// store's answer about the session, not a failure of the store: only those
// four mark a span's status as an error.
func Result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, store.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, store.ErrNotFound), errors.Is(err, seshat.ErrNoSuchSession):
		return "not_found"
	case errors.Is(err, store.ErrExists):
		return "exists"
	case errors.Is(err, store.ErrConflict):
		return "conflict"
	case errors.Is(err, store.ErrMoved):
		return "moved"
	case errors.Is(err, store.ErrTooLarge):
		return "too_large"
	case errors.Is(err, store.ErrNotInteger):
		return "not_integer"
	case errors.Is(err, store.ErrFull):
		return "full"
	case errors.Is(err, store.ErrCorrupt):
		return "corrupt"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "error"
}

// failed reports whether a result is a failure, for the span's status.
func failed(result string) bool {
	switch result {
	case "full", "unavailable", "canceled", "error":
		return true
	}
	return false
}
