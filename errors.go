package seshat

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/seshat-go/seshat/store"
)

// Errors returned by sessions. They are wrapped with context (the key, the
// type); test them with errors.Is.
var (
	// ErrNoValue means the session holds no value under the key.
	ErrNoValue = errors.New("seshat: no value")
	// ErrEncode means a value could not be encoded; Set stored nothing.
	ErrEncode = errors.New("seshat: cannot encode value")
	// ErrDecode means a stored value could not be decoded into the type
	// asked for. It is untrusted input, not a system failure.
	ErrDecode = errors.New("seshat: cannot decode value")
	// ErrInvalidKey means a value name is empty, too long, or starts with
	// the reserved '@'.
	ErrInvalidKey = errors.New("seshat: invalid key")
	// ErrTooLarge means the change would grow the session beyond
	// Options.MaxSessionBytes; nothing of it was stored.
	ErrTooLarge = store.ErrTooLarge
	// ErrNotInteger means Incr found a value that is not an integer.
	ErrNotInteger = store.ErrNotInteger
	// ErrUnavailable means the store could not be reached in time.
	ErrUnavailable = store.ErrUnavailable
	// ErrFull means the store refused a write for lack of memory; nothing
	// of it was stored.
	ErrFull = store.ErrFull
	// ErrEnded means the session was destroyed (logout, revocation) or
	// expired while the request was running; the request's changes were
	// not stored.
	ErrEnded = errors.New("seshat: session ended")
	// ErrMoved means a parallel request moved the session to a new ID
	// (Regenerate, at login) while this request ran with the old one: the
	// request neither reads nor writes the new session, and leaves the
	// browser's new cookie alone.
	ErrMoved = store.ErrMoved
	// ErrNoSession means the request did not pass through the manager's
	// middleware.
	ErrNoSession = errors.New("seshat: no session in request context (is the middleware installed?)")
	// ErrContended means an Update gave up after too many concurrent
	// changes to the same value.
	ErrContended = errors.New("seshat: too much contention")
)

// ErrNotSupported means the store lacks an optional capability an
// operation needs (see the interfaces in package store).
var ErrNotSupported = errors.New("seshat: the store does not support this")

// ErrNoSuchSession means no live session has the handle given.
var ErrNoSuchSession = errors.New("seshat: no such session")

// ErrExpiry means SetExpiry asked for more than Options.MaxIdleTimeout or
// Options.MaxLifetime.
var ErrExpiry = errors.New("seshat: expiry beyond the configured maximum")

// ErrInvalidOptions is wrapped by the errors New returns.
var ErrInvalidOptions = errors.New("seshat: invalid options")

// StatusCode maps an error returned by seshat to the HTTP status a server
// should answer with: 413 for ErrTooLarge and a request body over
// Options.MaxBodyBytes (*http.MaxBytesError), 409 for ErrEnded and ErrMoved,
// 403 for ErrCrossOrigin, 507 for a
// store that is full, 503 for a store that is unavailable or slow, and 500
// otherwise.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrTooLarge), errors.As(err, new(*http.MaxBytesError)):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrEnded), errors.Is(err, ErrMoved):
		return http.StatusConflict
	case errors.Is(err, ErrCrossOrigin):
		return http.StatusForbidden
	case errors.Is(err, ErrFull):
		return http.StatusInsufficientStorage
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrContended):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// DefaultErrorHandler answers with StatusCode(err) and its status text
// (for a body over Options.MaxBodyBytes, also the limit).
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code := StatusCode(err)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(w, fmt.Sprintf("request body too large: at most %d bytes; nothing was changed", tooLarge.Limit), code)
	case errors.Is(err, ErrCrossOrigin):
		http.Error(w, "cross-origin request refused: a page of another site cannot send this request; nothing was changed", code)
	case errors.Is(err, ErrTooLarge):
		http.Error(w, "session too large: the change would take the session over its size limit; nothing was changed", code)
	default:
		http.Error(w, http.StatusText(code), code)
	}
}
