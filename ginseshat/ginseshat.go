// Package ginseshat installs seshat's sessions in a gin engine.
//
// Middleware wraps the manager's net/http middleware (seshat.Manager's
// Handler) around gin's request and response writer, so a gin route keeps
// every guarantee a net/http handler has: changes committed as one delta
// before the response headers go out (streaming included), atomic Incr and
// Update, a final Destroy, Regenerate at login, forged cookies never
// reaching the store, the size limits. Session returns the request's
// session:
//
//	r := gin.New()
//	r.Use(ginseshat.Middleware(m))
//	r.GET("/", func(c *gin.Context) {
//		n, err := ginseshat.Session(c).Incr("views", 1)
//		...
//	})
package ginseshat

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/seshat-go/seshat"
)

// contextKey is where Middleware keeps the session in a gin.Context.
const contextKey = "github.com/seshat-go/seshat/ginseshat"

// Middleware returns gin middleware giving each request a session from m.
// The session is committed before the first byte of the response (or, if
// the handlers write nothing, when they return); when the commit fails,
// m's Options.ErrorHandler answers instead and the handlers' writes are
// dropped.
func Middleware(m *seshat.Manager) gin.HandlerFunc {
	return func(c *gin.Context) {
		orig, ran := c.Writer, false
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ran = true
			c.Request = r
			c.Writer = &writer{ResponseWriter: orig, w: w}
			c.Set(contextKey, m.Session(r))
			c.Next()
		})).ServeHTTP(orig, c.Request)
		if !ran {
			// The middleware answered (a body over Options.MaxBodyBytes):
			// the route's handlers must not run.
			c.Abort()
		}
	}
}

// Session returns the request's session. It panics when Middleware is not
// installed on the route: a mistake in the program, reported at its first
// request.
func Session(c *gin.Context) *seshat.Session {
	s, ok := c.Get(contextKey)
	if !ok {
		panic("ginseshat: Session called on a route without ginseshat.Middleware")
	}
	return s.(*seshat.Session)
}

// writer is gin's response writer with every write going through seshat's
// (w), which commits the session before the first byte; gin's own writer
// (underneath w) still keeps the status and size.
type writer struct {
	gin.ResponseWriter
	w http.ResponseWriter
}

func (w *writer) WriteHeader(code int) { w.w.WriteHeader(code) }

func (w *writer) Write(p []byte) (int, error) { return w.w.Write(p) }

func (w *writer) WriteString(s string) (int, error) { return io.WriteString(w.w, s) }

// WriteHeaderNow is what gin calls to send the status without a body.
func (w *writer) WriteHeaderNow() {
	if !w.Written() {
		w.w.WriteHeader(w.Status())
	}
	w.ResponseWriter.WriteHeaderNow()
}

func (w *writer) Flush() { _ = http.NewResponseController(w.w).Flush() }

// Hijack commits the session first, as seshat's writer does.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.w).Hijack()
}

// Unwrap lets http.ResponseController reach seshat's writer, and through
// it gin's.
func (w *writer) Unwrap() http.ResponseWriter { return w.w }
