package expresscompat

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seshat-go/seshat"
)

// ErrInvalidOptions is returned by New for settings express-session would
// refuse.
var ErrInvalidOptions = errors.New("expresscompat: invalid options")

// Options holds the Node app's session settings, the ones it passes to
// session({...}) and to connect-redis's RedisStore({...}), so that a Go
// service configured from the same values is one more instance of the app
// (see Store.ManagerOptions). Every field's zero value is the Node
// packages' default.
type Options struct {
	// Name is the cookie's name (express-session's name). Default:
	// "connect.sid".
	Name string
	// Secrets is express-session's secret array: the first signs, all
	// verify. Required by ManagerOptions.
	Secrets []string
	// Cookie is express-session's cookie option: the attributes of the
	// cookie object of a session the Go side creates or regenerates.
	// Sessions already stored keep their own.
	Cookie Cookie
	// Rolling is express-session's rolling: the cookie is sent on every
	// response, its expiry counted from that response.
	Rolling bool
	// TrustProxy treats a request whose X-Forwarded-Proto is "https" as
	// secure, as express's "trust proxy" setting (or express-session's
	// proxy option) does; a Secure cookie is sent only on secure requests.
	// Default: false.
	TrustProxy bool

	// Prefix starts every key, as connect-redis's prefix option. Default:
	// "sess:".
	Prefix string
	// TTL is connect-redis's ttl: how long the key of a session whose
	// cookie has no expiry (a browser-session cookie) lives. Default: one
	// day, as connect-redis.
	TTL time.Duration
	// UserField is the session field that holds the user (Session.User and
	// SetUser). Default: "user".
	UserField string
}

// Cookie is express-session's cookie option. The mapping: maxAge →
// MaxAge, domain → Domain, path → Path, httpOnly: false → NoHTTPOnly,
// secure: true → Secure, sameSite → SameSite ("lax", "strict", "none", or
// "true" for the boolean true, which is sent as Strict), partitioned →
// Partitioned, priority → Priority ("low", "medium", "high").
type Cookie struct {
	// MaxAge is the cookie's and the session's life, counted from the
	// last save. Default: none, a browser-session cookie (no Expires), the
	// key living Options.TTL.
	MaxAge time.Duration
	// Domain is the cookie's Domain. Default: none (host-only).
	Domain string
	// Path is the cookie's Path. Default: "/".
	Path string
	// NoHTTPOnly leaves out HttpOnly (httpOnly: false). Default: false,
	// the cookie is HttpOnly.
	NoHTTPOnly bool
	// Secure sets Secure (secure: true); the cookie is then sent only on
	// secure requests, as express-session does. express-session's
	// secure: "auto" has no equivalent. Default: false.
	Secure bool
	// SameSite is "lax", "strict", "none", or "true" (sameSite: true).
	// Default: "" (no SameSite).
	SameSite string
	// Partitioned sets Partitioned. Default: false.
	Partitioned bool
	// Priority is "low", "medium" or "high". Default: "" (none).
	Priority string
}

func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = "connect.sid"
	}
	if o.Prefix == "" {
		o.Prefix = "sess:"
	}
	if o.UserField == "" {
		o.UserField = "user"
	}
	if o.TTL == 0 {
		o.TTL = 24 * time.Hour
	}
	if o.Cookie.Path == "" {
		o.Cookie.Path = "/"
	}
	switch {
	case o.TTL < 0 || o.Cookie.MaxAge < 0:
		return o, fmt.Errorf("%w: negative TTL or MaxAge", ErrInvalidOptions)
	case !oneOf(o.Cookie.SameSite, "", "lax", "strict", "none", "true"):
		return o, fmt.Errorf("%w: Cookie.SameSite %q (want lax, strict, none or true)", ErrInvalidOptions, o.Cookie.SameSite)
	case !oneOf(o.Cookie.Priority, "", "low", "medium", "high"):
		return o, fmt.Errorf("%w: Cookie.Priority %q (want low, medium or high)", ErrInvalidOptions, o.Cookie.Priority)
	}
	for i, s := range o.Secrets {
		if s == "" {
			return o, fmt.Errorf("%w: secret %d is empty", ErrInvalidOptions, i)
		}
	}
	return o, nil
}

func oneOf(v string, set ...string) bool {
	for _, s := range set {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// idle is how long a session of these settings lives without a save:
// its cookie's maxAge, or the key's TTL for a browser-session cookie.
func (o *Options) idle() time.Duration {
	if o.Cookie.MaxAge > 0 {
		return o.Cookie.MaxAge
	}
	return o.TTL
}

// ManagerOptions returns the seshat.Options that make a Manager on this
// store behave as one more instance of the Node app: its cookie name and
// signing secrets, the cookie Node would send for each session (the
// session's own cookie object: its attributes and an expiry counted as
// express-session counts it), rolling, and the app's session life. Set
// other fields (Logger, Observer, ErrorHandler...) on the result.
func (s *Store) ManagerOptions() (seshat.Options, error) {
	if len(s.o.Secrets) == 0 {
		return seshat.Options{}, fmt.Errorf("%w: ManagerOptions needs Secrets (express-session's secret)", ErrInvalidOptions)
	}
	mo := seshat.Options{
		Store:               s,
		Cookies:             format{secrets: s.o.Secrets, o: &s.o},
		CookieName:          s.o.Name,
		CookiePath:          s.o.Cookie.Path,
		CookieDomain:        s.o.Cookie.Domain,
		NoHostPrefix:        true,
		TrustForwardedProto: s.o.TrustProxy,
		RollingCookie:       s.o.Rolling,
		IdleTimeout:         s.o.idle(),
		Lifetime:            noLifetime, // express has no absolute lifetime
		// The Node app reads the user from the session as it is, and
		// would find seshat's device record among its fields.
		UserIDsInClear: true,
		Devices:        seshat.Devices{Off: true},
	}
	if s.o.Rolling {
		// express-session touches the key on every request; rolling, its
		// cookie says so.
		mo.TouchInterval = time.Millisecond
	}
	return mo, nil
}

// noLifetime stands for express-session's lack of an absolute lifetime.
const noLifetime = 100 * 365 * 24 * time.Hour
