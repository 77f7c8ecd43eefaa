package seshat

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrCrossOrigin means the middleware refused a state-changing request
// from another origin (see CrossOrigin); StatusCode maps it to 403.
var ErrCrossOrigin = errors.New("seshat: cross-origin request refused")

// CrossOrigin configures the middleware's protection against cross-site
// request forgery, net/http's CrossOriginProtection: a request whose
// method is not GET, HEAD or OPTIONS is refused when the browser says it
// comes from another origin (Sec-Fetch-Site: cross-site or same-site, or
// an Origin header that does not match the request's Host). Requests that
// carry neither header (from a non-browser client, or an old browser) are
// let through. A refused request reaches neither the handler nor the store:
// Options.ErrorHandler answers it with an error wrapping ErrCrossOrigin
// (403 by default).
//
// The zero value is off. The protection covers the Manager's Handler, the
// adapters built on it (gin, echo) and fiberseshat (through
// Manager.CheckCrossOrigin); it is no substitute for keeping
// GET requests free of side effects, which it always lets through.
type CrossOrigin struct {
	// Protect turns the protection on. Default: false.
	Protect bool
	// TrustedOrigins are origins ("https://app.example.com", scheme, host
	// and port as the Origin header spells them) whose requests are let
	// through: another site of yours that posts to this one. Needs
	// Protect. Default: none.
	TrustedOrigins []string
}

// protection returns the configured protection, nil when it is off.
func (c CrossOrigin) protection() (*http.CrossOriginProtection, error) {
	if !c.Protect {
		if len(c.TrustedOrigins) > 0 {
			return nil, fmt.Errorf("%w: CrossOrigin.TrustedOrigins needs CrossOrigin.Protect", ErrInvalidOptions)
		}
		return nil, nil
	}
	p := http.NewCrossOriginProtection()
	for _, o := range c.TrustedOrigins {
		if err := p.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("%w: trusted origin %q: %w", ErrInvalidOptions, o, err)
		}
	}
	return p, nil
}

// CheckCrossOrigin applies Options.CrossOrigin to r without touching any
// session or store: it returns an error wrapping ErrCrossOrigin (403) when
// the protection is on and r is a state-changing request from another
// origin, and nil otherwise. The manager's Handler applies it itself; code
// that serves requests outside net/http (fiberseshat) calls it first, with
// a request holding what the check reads: Method, Host and the
// Sec-Fetch-Site and Origin headers.
func (m *Manager) CheckCrossOrigin(r *http.Request) error {
	if m.crossOriginProtection == nil {
		return nil
	}
	if err := m.crossOriginProtection.Check(r); err != nil {
		return fmt.Errorf("%w: %w", ErrCrossOrigin, err)
	}
	return nil
}

// crossOrigin reports whether r is to be refused as a cross-origin request,
// answering it with the error handler then.
func (m *Manager) crossOrigin(w http.ResponseWriter, r *http.Request) bool {
	err := m.CheckCrossOrigin(r)
	if err == nil {
		return false
	}
	m.opts.ErrorHandler(w, r, err)
	return true
}
