package seshat

import (
	"fmt"
	"net/http"
	"strings"
)

// Carrier says where requests carry their session token (the signed value
// the cookie holds; see Session.Token) and how answers return a new one.
// The zero value is the cookie alone.
//
// With Header set, a request's token is looked for in the cookie first,
// then in the header: a browser keeps using its cookie, a client that keeps
// no cookies (a mobile app, a script, a service) sends the header. The
// token is the same signed, rotated value either way, and a forged one
// never reaches the store. An answer returns a new, regenerated or
// re-signed session's token the way the request brought its token: in
// Set-Cookie to a request that carried a cookie, in ResponseHeader to one
// that carried the header, in both to one that carried neither (its first
// request). A browser whose cookie names its session so never sees its
// token in a header that scripts could read.
type Carrier struct {
	// Header names the request header that may carry the token.
	// "Authorization" carries it as "Authorization: Bearer TOKEN" (any
	// other scheme is not a token); any other name carries it as the
	// header's whole value. Default: "", the cookie only.
	Header string
	// HeaderOnly reads and sends no cookie at all: the token travels in
	// the headers alone, so a browser sends no ambient credential and
	// cross-site request forgery has nothing to forge. It needs Header.
	// Default: false.
	HeaderOnly bool
	// ResponseHeader names the response header that returns a new,
	// regenerated or re-signed session's token. Default: "Session-Token"
	// (with Header set).
	ResponseHeader string
}

// Ways a request carried its token (Session.carried).
const (
	carriedCookie uint8 = 1 << iota
	carriedHeader
)

const defaultResponseHeader = "Session-Token"

// withDefaults validates c and fills in its defaults, in canonical form.
func (c Carrier) withDefaults() (Carrier, error) {
	if c.Header == "" {
		if c.HeaderOnly || c.ResponseHeader != "" {
			return c, fmt.Errorf("%w: Carrier.HeaderOnly and Carrier.ResponseHeader need Carrier.Header", ErrInvalidOptions)
		}
		return c, nil
	}
	if c.ResponseHeader == "" {
		c.ResponseHeader = defaultResponseHeader
	}
	for _, name := range []string{c.Header, c.ResponseHeader} {
		if !validCookieName(name) { // an RFC 9110 token, as a cookie name is
			return c, fmt.Errorf("%w: header name %q", ErrInvalidOptions, name)
		}
	}
	c.Header = http.CanonicalHeaderKey(c.Header)
	c.ResponseHeader = http.CanonicalHeaderKey(c.ResponseHeader)
	return c, nil
}

// token returns the token a value of the carrier's header carries: for
// Authorization, what follows the Bearer scheme (matched without regard to
// case, as RFC 9110 says); for any other header, the value. ok is false
// when it carries none.
func (c *Carrier) token(v string) (token string, ok bool) {
	v = strings.TrimSpace(v)
	if c.Header == "Authorization" {
		scheme, rest, found := strings.Cut(v, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") {
			return "", false
		}
		v = strings.TrimLeft(rest, " ")
	}
	return v, v != ""
}

// sendsCookie reports whether the session's answer carries the cookie: not
// with HeaderOnly, nor to a request that brought its token in the header
// alone. s.mu is held.
func (s *Session) sendsCookie() bool {
	return !s.m.opts.Carrier.HeaderOnly && s.carried != carriedHeader
}

// sendToken returns the session's token in the carrier's response header
// to a request that brought no cookie: it is new, regenerated or re-signed.
// The response must then not be stored by any cache. s.mu is held and the
// session stored.
func (s *Session) sendToken(h http.Header) {
	c := &s.m.opts.Carrier
	if h == nil || c.Header == "" || s.carried&carriedCookie != 0 {
		return
	}
	h.Set(c.ResponseHeader, s.m.format.Encode(s.id))
	h.Add("Cache-Control", "no-store")
	s.m.addVary(h)
}
