// Package echoseshat installs seshat's sessions in an echo (v4) server.
//
// Middleware wraps the manager's net/http middleware (seshat.Manager's
// Handler) around echo's request and response writer, so an echo handler
// keeps every guarantee a net/http handler has: changes committed as one
// delta before the response headers go out (streaming included), atomic
// Incr and Update, a final Destroy, Regenerate at login, forged cookies
// never reaching the store, the size limits. Session returns the request's
// session:
//
//	e := echo.New()
//	e.Use(echoseshat.Middleware(m))
//	e.GET("/", func(c echo.Context) error {
//		n, err := echoseshat.Session(c).Incr("views", 1)
//		...
//	})
package echoseshat

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/seshat-go/seshat"
)

// contextKey is where Middleware keeps the session in an echo.Context.
const contextKey = "github.com/seshat-go/seshat/echoseshat"

// Middleware returns echo middleware giving each request a session from
// m. The session is committed before the first byte of the response (or,
// if the handler writes nothing, when it returns, before echo's error
// handler answers an error it returned); when the commit fails, m's
// Options.ErrorHandler answers instead and the handler's writes are
// dropped.
func Middleware(m *seshat.Manager) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			var err error
			m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c.SetRequest(r)
				c.Response().Writer = w
				c.Set(contextKey, m.Session(r))
				err = next(c)
			})).ServeHTTP(c.Response().Writer, c.Request())
			return err
		}
	}
}

// Session returns the request's session. It panics when Middleware is not
// installed on the route: a mistake in the program, reported at its first
// request.
func Session(c echo.Context) *seshat.Session {
	s, ok := c.Get(contextKey).(*seshat.Session)
	if !ok {
		panic("echoseshat: Session called on a route without echoseshat.Middleware")
	}
	return s
}
