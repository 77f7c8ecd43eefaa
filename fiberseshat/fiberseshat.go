// Package fiberseshat installs seshat's sessions in a fiber (v3) app,
// natively: fiber runs on fasthttp, not net/http, so the middleware opens
// the request's session from its cookie with seshat.Manager.OpenRequest
// and commits it with Session.Commit when the handlers return, before
// fasthttp writes the response, adding the Set-Cookie, Cache-Control and
// Vary headers net/http's middleware would set.
//
// With seshat.Options.CrossOrigin on, a state-changing request from
// another origin is refused as the net/http middleware refuses it:
// Config.ErrorHandler answers it with an error wrapping
// seshat.ErrCrossOrigin (403) before the session or the store is touched.
//
// Every guarantee of the net/http middleware holds: changes committed as
// one delta before the first byte (a streamed body, SendStreamWriter, is
// written after the commit), atomic Incr and Update, a final Destroy,
// Regenerate at login, forged cookies never reaching the store, the
// session size limit. The request body limit is fiber's own
// (fiber.Config.BodyLimit): fasthttp reads a body before any handler runs,
// so seshat.Options.MaxBodyBytes, which caps a net/http body as it is
// read, does not apply.
//
//	app := fiber.New()
//	app.Use(fiberseshat.Middleware(m))
//	app.Get("/", func(c fiber.Ctx) error {
//		n, err := fiberseshat.Session(c).Incr("views", 1)
//		...
//	})
package fiberseshat

import (
	"net/http"

	"github.com/gofiber/fiber/v3"
	"github.com/seshat-go/seshat"
)

// localsKey is where Middleware keeps the session in a fiber.Ctx.
type localsKey struct{}

// Config configures Middleware. Its zero value works.
type Config struct {
	// ErrorHandler answers a request whose session could not be
	// committed (the response the handlers made is discarded first), and
	// one refused by seshat.Options.CrossOrigin (an error wrapping
	// seshat.ErrCrossOrigin). Default: DefaultErrorHandler.
	ErrorHandler func(c fiber.Ctx, err error) error
}

// DefaultErrorHandler answers with seshat.StatusCode(err) and its status
// text, as seshat.DefaultErrorHandler does on net/http.
func DefaultErrorHandler(c fiber.Ctx, err error) error {
	code := seshat.StatusCode(err)
	return c.Status(code).SendString(http.StatusText(code))
}

// Middleware returns fiber middleware giving each request a session from
// m (see Session). When the handlers return, the session is committed,
// before fiber's error handler answers an error they returned and before
// any byte of the response is written; when the commit fails,
// Config.ErrorHandler answers instead. A request refused by m's
// Options.CrossOrigin is answered by Config.ErrorHandler at once: no
// handler runs.
func Middleware(m *seshat.Manager, config ...Config) fiber.Handler {
	var cfg Config
	if len(config) > 0 {
		cfg = config[0]
	}
	if cfg.ErrorHandler == nil {
		cfg.ErrorHandler = DefaultErrorHandler
	}
	return func(c fiber.Ctx) error {
		req := &c.Request().Header
		if err := checkCrossOrigin(m, c); err != nil {
			return cfg.ErrorHandler(c, err) // before the session is looked at
		}
		in := make(http.Header, len(m.RequestHeaders()))
		for _, name := range m.RequestHeaders() {
			// Every line: a proxy may add its own X-Forwarded-For line
			// after the one the client wrote.
			for _, v := range req.PeekAll(name) {
				in[name] = append(in[name], string(v))
			}
		}
		s := m.OpenRequest(c.Context(), in, c.RequestCtx().IsTLS())
		s.SetRemoteAddr(c.RequestCtx().RemoteAddr().String())
		c.Locals(localsKey{}, s)
		err := c.Next()
		out := http.Header{}
		if cerr := s.Commit(out); cerr != nil {
			c.Response().Reset()
			return cfg.ErrorHandler(c, cerr)
		}
		resp := &c.Response().Header
		for k, vs := range out {
			for _, v := range vs {
				resp.Add(k, v)
			}
		}
		return err
	}
}

// checkCrossOrigin applies seshat.Options.CrossOrigin to the request, as
// the net/http middleware does, through a request holding what the check
// reads. It builds one only for a request the check could refuse: one
// with a method other than GET, HEAD and OPTIONS that carries
// Sec-Fetch-Site or Origin (seshat.CrossOrigin lets the others through).
func checkCrossOrigin(m *seshat.Manager, c fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return nil
	}
	req := &c.Request().Header
	site, origin := req.Peek("Sec-Fetch-Site"), req.Peek(fiber.HeaderOrigin)
	if len(site) == 0 && len(origin) == 0 {
		return nil
	}
	h := http.Header{}
	if len(site) > 0 {
		h["Sec-Fetch-Site"] = []string{string(site)}
	}
	if len(origin) > 0 {
		h["Origin"] = []string{string(origin)}
	}
	return m.CheckCrossOrigin(&http.Request{Method: c.Method(), Host: string(c.Request().Host()), Header: h})
}

// Session returns the request's session. It panics when Middleware is not
// installed on the route: a mistake in the program, reported at its first
// request.
func Session(c fiber.Ctx) *seshat.Session {
	s, ok := c.Locals(localsKey{}).(*seshat.Session)
	if !ok {
		panic("fiberseshat: Session called on a route without fiberseshat.Middleware")
	}
	return s
}
