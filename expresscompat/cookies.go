// Package expresscompat lets seshat share live sessions with an
// express-session + connect-redis application in the same Redis: the same
// signed "connect.sid" cookie, the same "sess:<id>" keys holding one JSON
// document, the same secrets. A user logged in on the Node side is logged
// in on the Go side and the other way round, while a service moves from
// one to the other. Options takes the Node app's session settings and
// Store.ManagerOptions makes a Manager of them; the session's cookie object
// stays the Node app's (only its expires moves, as an express-session save
// moves it), and the cookie the Go side sends is the one express-session
// would send for that session.
//
// The seshat API works on top (Get, Set, Incr, Update, Destroy,
// Regenerate, SetUser). What holds in this mode: every Go write is a
// compare-and-set of the whole document, retried on conflict, so a Go
// request never overwrites a change a Node request made in between, and
// Incr is exact among Go requests. What does not: the Node side still
// saves whole documents at the end of its requests, so a Node request can
// overwrite a Go change made while it ran (the lost update seshat avoids
// everywhere else); the store key is the session ID itself (as
// connect-redis keeps it), not a hash; encryption at rest and the moved
// marker of Regenerate are not available. Use it for the migration, then
// switch to seshat's own format.
package expresscompat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/seshat-go/seshat"
)

// Cookies returns express-session's cookie format for an app with
// express-session's default cookie option (a browser-session cookie, Path
// "/", HttpOnly): see Store.ManagerOptions for the format of an app with
// its own settings. The value is "s:" + id + "." +
// base64(HMAC-SHA-256(secret, id)) without padding (the cookie-signature
// package), URL-encoded. The first secret signs; all verify, as
// express-session's secret array does. The store key is the ID.
func Cookies(secrets ...string) seshat.CookieFormat {
	o, _ := Options{}.withDefaults()
	return format{secrets: secrets, o: &o}
}

// format is express-session's cookie format. As a seshat.CookieIssuer it
// sends the cookie express-session would.
type format struct {
	secrets []string
	o       *Options
}

var _ seshat.CookieIssuer = format{}

// IssueCookie sends what express-session sends: the session's own cookie
// object, its expiry counted from now, for a session created or
// regenerated, on every response when rolling, and after a write when the
// cookie has an expiry; and, unlike express-session, when the cookie was
// signed with an older secret (so that secrets can be retired).
func (f format) IssueCookie(c seshat.SessionCookie) string {
	var stored []byte
	var idle time.Duration
	if c.Record != nil {
		stored, idle = c.Record.Cookie, c.Record.IdleTimeout
	}
	obj := f.o.cookieFor(stored, idle, c.Now)
	_, persistent := expires(obj)
	if !c.Created && !c.Rolling && !c.Stale && !(c.Wrote && persistent) {
		return ""
	}
	return setCookie(c.Name, f.Encode(c.ID), obj, c.Secure)
}

// NewID returns 24 random bytes in base64url, like express-session's uid-safe.
func (format) NewID() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sign(id, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id))
	return strings.TrimRight(base64.StdEncoding.EncodeToString(mac.Sum(nil)), "=")
}

func (f format) Encode(id string) string {
	return url.QueryEscape("s:" + id + "." + sign(id, f.secrets[0]))
}

func (f format) Decode(value string) (string, bool, bool) {
	v, err := url.QueryUnescape(value)
	if err != nil {
		return "", false, false
	}
	signed, ok := strings.CutPrefix(v, "s:")
	if !ok {
		return "", false, false
	}
	i := strings.LastIndexByte(signed, '.')
	if i <= 0 {
		return "", false, false
	}
	id, mac := signed[:i], signed[i+1:]
	for n, secret := range f.secrets {
		if hmac.Equal([]byte(mac), []byte(sign(id, secret))) {
			return id, n != 0, true
		}
	}
	return "", false, false
}

func (format) StoreKey(id string) string { return id }
