package seshat

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

// SecureMode says when the cookie carries the Secure attribute.
type SecureMode int

const (
	// SecureAuto sets Secure when the request came over TLS.
	SecureAuto SecureMode = iota
	// SecureAlways always sets Secure.
	SecureAlways
	// SecureNever never sets Secure (plain-HTTP development only).
	SecureNever
)

// Options configures a Manager. The zero value of every field but Secrets
// is a sensible default, given in the field's comment.
type Options struct {
	// Store keeps the sessions. Default: a new memstore.Store.
	Store store.Store

	// Secrets sign the cookie with HMAC-SHA-256. The first signs; all are
	// accepted, so a new secret can be put first while cookies signed with
	// older ones still verify (they are re-signed on their next response).
	// Required (unless Cookies brings its own signing): at least one, each
	// at least 32 bytes.
	Secrets [][]byte

	// Cookies sets how session IDs are made, carried and stored (see
	// CookieFormat). Default: seshat's own format, with Secrets and HashKey.
	Cookies CookieFormat

	// HashKey keys the hash that turns a session ID into a store key.
	// Default: none, an unkeyed hash, which already reveals no usable ID
	// (IDs are 256 random bits). Set it so that even someone who holds a
	// session ID cannot find its record in a copy of the store. Changing it
	// ends every live session.
	HashKey []byte

	// Carrier says where requests carry the session token: the cookie, a
	// request header (Authorization: Bearer, for clients that keep no
	// cookies), or both, cookie first. Default: the cookie alone.
	Carrier Carrier

	// CookieName is the session cookie's name. Default: "seshat".
	CookieName string
	// CookiePath is the cookie's Path. Default: "/".
	CookiePath string
	// CookieDomain is the cookie's Domain. Default: none (host-only).
	CookieDomain string
	// Secure says when the cookie is Secure. Default: SecureAuto.
	Secure SecureMode
	// TrustForwardedProto makes SecureAuto also treat a request as secure
	// when its X-Forwarded-Proto header is "https". Set it only behind a
	// proxy that sets that header itself. Default: false.
	TrustForwardedProto bool
	// NoHostPrefix keeps the cookie name as it is on secure requests.
	// Default: false, so a Secure cookie with Path "/" and no Domain is
	// named "__Host-" + CookieName.
	NoHostPrefix bool
	// SameSite is the cookie's SameSite attribute. Default: Lax.
	SameSite http.SameSite
	// Partitioned sets the cookie's Partitioned attribute (CHIPS): a site
	// embedded in other sites' pages (an iframe, a widget) gets a separate
	// cookie jar under each top-level site, instead of a third-party cookie
	// that browsers block. Browsers take a Partitioned cookie only with
	// Secure, so New refuses it with SecureNever, and with SecureAuto a
	// request over plain HTTP (development) gets a cookie with neither.
	// It usually goes with SameSite=None. A CookieIssuer writes its own
	// attributes. Default: false.
	Partitioned bool
	// BrowserSessionCookie omits Max-Age, so the browser drops the cookie
	// when it closes. Default: false (the cookie lives until the session's
	// absolute deadline). The cookie is always HttpOnly.
	BrowserSessionCookie bool
	// RollingCookie sends the session cookie on every response to a
	// request whose cookie named a live session, loading the session if
	// the handler did not, as express-session's rolling option does (with
	// a CookieIssuer such as expresscompat's, each one carries an expiry
	// counted from that response). Default: false, the cookie is sent when
	// a session is created, re-signed or given a new expiry.
	RollingCookie bool

	// CrossOrigin refuses state-changing requests from other origins
	// (cross-site request forgery) before they reach the handler. Default:
	// off.
	CrossOrigin CrossOrigin

	// IdleTimeout ends a session that has seen no request for this long.
	// Default: 30 minutes.
	IdleTimeout time.Duration
	// Lifetime ends a session this long after it was created (or last
	// regenerated), however active. Default: 24 hours.
	Lifetime time.Duration
	// MaxIdleTimeout and MaxLifetime bound what Session.SetExpiry may ask
	// for one session ("remember me"). Defaults: 30 days and 90 days (and
	// never below IdleTimeout and Lifetime).
	MaxIdleTimeout time.Duration
	MaxLifetime    time.Duration
	// TouchInterval is how often a read-only request refreshes the idle
	// expiry; between touches reads write nothing. Default: IdleTimeout/30,
	// at most one minute.
	TouchInterval time.Duration

	// Encryption, when set, encrypts every value at rest (see package seal,
	// whose Ring implements it), binding each to its session and name, and
	// Incr becomes a compare-and-set. It requires HashKey. Default: none.
	// With or without it, the store sees user IDs only as keyed hashes
	// (see UserIDsInClear) and seshat's own values (the readable user ID,
	// the device) only sealed: under Encryption, or else under a key
	// derived from HashKey.
	Encryption Sealer

	// UserIDsInClear makes the store keep a session's user ID as it is,
	// for a store shared with an application that reads it (expresscompat
	// sets it). Default: false, the store keeps a keyed hash of it
	// (Manager.UserKey), in the session, in the user index and in the
	// event log, so a copy of the store names no user. It cannot be
	// combined with Encryption.
	UserIDsInClear bool

	// Devices says what a session bound to a user keeps about the device
	// it is used from, for a "your devices" page. Default: the user agent
	// and the client's network, /24 or /48.
	Devices Devices

	// MaxSessionBytes caps a session's size (value names plus values). A
	// change that would exceed it fails with ErrTooLarge and stores nothing.
	// Default: 64 KiB; negative means no limit.
	MaxSessionBytes int
	// MaxSessionsPerUser caps the live sessions bound to one user: when a
	// session is bound beyond the cap, the user's oldest sessions are
	// destroyed. It needs a store that implements store.UserIndex.
	// Default: 0, no cap.
	MaxSessionsPerUser int

	// MaxBodyBytes, when positive, caps every request body the middleware
	// passes on: a body declared larger (Content-Length) is answered 413 by
	// ErrorHandler before the handler runs; otherwise r.Body is wrapped in
	// http.MaxBytesReader, so a handler that reads beyond the cap gets an
	// *http.MaxBytesError (StatusCode maps it to 413) and the server closes
	// the connection after the response instead of reading on. Default: 0, no cap (the library cannot know how large a
	// legitimate upload is); negative also means no cap. A form handler
	// should still parse with r.ParseForm or r.ParseMultipartForm and check
	// the error, never read r.FormValue on an unparsed form.
	MaxBodyBytes int64

	// StoreTimeout bounds each store operation, so a dead store fails a
	// request quickly instead of hanging it. Default: 1 second.
	StoreTimeout time.Duration

	// ErrorHandler answers a request whose session could not be committed
	// before its response started. Default: DefaultErrorHandler.
	ErrorHandler func(http.ResponseWriter, *http.Request, error)
	// Logger receives warnings (undecodable records, failed cleanups).
	// Default: slog.Default().
	Logger *slog.Logger
	// OnCorrupt decides what happens when stored data cannot be decoded: a
	// value that no longer decodes into the type asked for (or does not
	// decrypt), or a whole record that cannot be read, such as one written
	// by a later format version. Default: SkipValue for a value,
	// FreshSession for a record; either way the user never gets a 500 for
	// it, and the event is logged and counted (EventCorrupt).
	//
	// OnCorrupt runs with the session locked, like Update's callback: it
	// must decide from the Corruption alone and not call methods of the
	// session (they would wait forever). It may run on any request's
	// goroutine, so it must be safe for concurrent use.
	OnCorrupt func(Corruption) CorruptAction

	// Events publishes lifecycle events (created, regenerated, destroyed)
	// to the store's event log, for Manager.Listen on every instance. It
	// costs one store write per such event and needs a store.EventLog.
	// Default: false.
	Events bool

	// Observer, when set, is told of every store operation and session
	// event (see the metrics package), and brackets each operation when it
	// is a SpanObserver (see the otelseshat package). Observers combines
	// several.
	Observer Observer
}

const (
	defaultCookieName      = "seshat"
	defaultIdleTimeout     = 30 * time.Minute
	defaultLifetime        = 24 * time.Hour
	defaultMaxSessionBytes = 64 << 10
	defaultStoreTimeout    = time.Second
	minSecretLen           = 32
)

func (o Options) withDefaults() (_ Options, err error) {
	if len(o.Secrets) == 0 && o.Cookies == nil {
		return o, fmt.Errorf("%w: at least one secret is required", ErrInvalidOptions)
	}
	for i, s := range o.Secrets {
		if len(s) < minSecretLen {
			return o, fmt.Errorf("%w: secret %d is %d bytes, want at least %d", ErrInvalidOptions, i, len(s), minSecretLen)
		}
	}
	if o.Encryption != nil && len(o.HashKey) < minSecretLen {
		return o, fmt.Errorf("%w: Encryption needs a HashKey of at least %d bytes (it keys the hash of user IDs, and must not rotate)", ErrInvalidOptions, minSecretLen)
	}
	if len(o.HashKey) > 0 && len(o.HashKey) < minSecretLen {
		return o, fmt.Errorf("%w: HashKey is %d bytes, want at least %d", ErrInvalidOptions, len(o.HashKey), minSecretLen)
	}
	if o.Encryption != nil && o.UserIDsInClear {
		return o, fmt.Errorf("%w: UserIDsInClear cannot be combined with Encryption", ErrInvalidOptions)
	}
	if o.Devices, err = o.Devices.withDefaults(); err != nil {
		return o, err
	}
	if o.Store == nil {
		o.Store = memstore.New()
	}
	if o.CookieName == "" {
		o.CookieName = defaultCookieName
	}
	if !validCookieName(o.CookieName) {
		return o, fmt.Errorf("%w: cookie name %q", ErrInvalidOptions, o.CookieName)
	}
	if o.Carrier, err = o.Carrier.withDefaults(); err != nil {
		return o, err
	}
	if o.CookiePath == "" {
		o.CookiePath = "/"
	}
	if o.SameSite == 0 {
		o.SameSite = http.SameSiteLaxMode
	}
	if o.SameSite == http.SameSiteNoneMode && o.Secure == SecureNever {
		return o, fmt.Errorf("%w: SameSite=None needs a Secure cookie", ErrInvalidOptions)
	}
	if o.Partitioned && o.Secure == SecureNever {
		return o, fmt.Errorf("%w: Partitioned needs a Secure cookie (browsers refuse a Partitioned cookie without Secure)", ErrInvalidOptions)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.Lifetime == 0 {
		o.Lifetime = defaultLifetime
	}
	if o.MaxIdleTimeout == 0 {
		o.MaxIdleTimeout = max(30*24*time.Hour, o.IdleTimeout)
	}
	if o.MaxLifetime == 0 {
		o.MaxLifetime = max(90*24*time.Hour, o.Lifetime)
	}
	if o.MaxIdleTimeout < o.IdleTimeout || o.MaxLifetime < o.Lifetime {
		return o, fmt.Errorf("%w: MaxIdleTimeout and MaxLifetime must not be below IdleTimeout and Lifetime", ErrInvalidOptions)
	}
	if o.IdleTimeout < 0 || o.Lifetime < 0 || o.TouchInterval < 0 || o.StoreTimeout < 0 {
		return o, fmt.Errorf("%w: negative duration", ErrInvalidOptions)
	}
	if o.TouchInterval == 0 {
		o.TouchInterval = min(o.IdleTimeout/30, time.Minute)
	}
	if o.TouchInterval >= o.IdleTimeout {
		return o, fmt.Errorf("%w: TouchInterval %v must be below IdleTimeout %v", ErrInvalidOptions, o.TouchInterval, o.IdleTimeout)
	}
	if o.MaxSessionBytes == 0 {
		o.MaxSessionBytes = defaultMaxSessionBytes
	}
	if o.MaxSessionsPerUser < 0 {
		return o, fmt.Errorf("%w: negative MaxSessionsPerUser", ErrInvalidOptions)
	}
	if o.Events {
		if _, ok := o.Store.(store.EventLog); !ok {
			return o, fmt.Errorf("%w: Events needs a store that implements store.EventLog", ErrInvalidOptions)
		}
	}
	if o.MaxSessionsPerUser > 0 {
		if _, ok := o.Store.(store.UserIndex); !ok {
			return o, fmt.Errorf("%w: MaxSessionsPerUser needs a store that implements store.UserIndex", ErrInvalidOptions)
		}
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = defaultStoreTimeout
	}
	if o.ErrorHandler == nil {
		o.ErrorHandler = DefaultErrorHandler
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

func validCookieName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return name != ""
}

// Sealer encrypts values at rest; seal.Ring implements it. session is the
// store key of the session and name the value's name: a sealed value must
// open only under the same two.
type Sealer interface {
	Seal(session, name string, plaintext []byte) []byte
	Open(session, name string, sealed []byte) ([]byte, error)
}

// Corruption describes stored data that cannot be decoded.
type Corruption struct {
	// Handle is the session's handle.
	Handle string
	// Name is the value's name, or "" when the whole record is unreadable.
	Name string
	// Err says what is wrong.
	Err error
}

// CorruptAction is what Options.OnCorrupt decides.
type CorruptAction int

// The choices for corrupt data.
const (
	// DefaultAction is SkipValue for a value and FreshSession for a record.
	DefaultAction CorruptAction = iota
	// SkipValue treats the value as absent and keeps it stored (a rollback
	// of the code that changed its type can still read it). The error Get
	// returns matches both ErrNoValue and ErrDecode. Incr and Update, which
	// must write the value, treat it as absent too: their result replaces
	// it.
	SkipValue
	// DropValue is SkipValue, and deletes the value with the request's
	// changes (Incr and Update replace it, as with SkipValue).
	DropValue
	// FreshSession destroys the session and goes on with a new, empty one.
	FreshSession
	// FailRequest reports ErrDecode to the handler, which decides.
	FailRequest
)
