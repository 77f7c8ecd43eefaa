package seshat

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
)

// errReplaced is what writes return after the session could not be
// committed and the error handler answered instead of the handler.
var errReplaced = errors.New("seshat: response replaced by the session error handler")

// Handler is the middleware: it gives each request a session (see
// Manager.Session) and commits the request's changes just before the
// response headers are written, so it can still set the cookie. It does not
// buffer the body; Flush, Hijack and http.ResponseController keep working.
// When the commit fails, Options.ErrorHandler answers instead. With
// Options.MaxBodyBytes, the request body is capped (http.MaxBytesReader).
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One allocation for the request's session, its context and the
		// response writer, on a path every request takes.
		st := &requestState{}
		s := &st.s
		m.initSession(s, r)
		st.ctx = sessionContext{Context: r.Context(), key: m.ctxKey, s: s}
		s.ctx = &st.ctx
		r = r.WithContext(s.ctx)
		if n := m.opts.MaxBodyBytes; n > 0 && r.Body != nil && r.Body != http.NoBody {
			if r.ContentLength > n {
				// Declared too large: answered before the handler runs,
				// so nothing is read, stored or changed.
				w.Header().Set("Connection", "close")
				m.opts.ErrorHandler(w, r, &http.MaxBytesError{Limit: n})
				return
			}
			// The server's own writer, not ours: MaxBytesReader tells it to
			// close the connection rather than drain the rest of the body.
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		st.rw = responseWriter{ResponseWriter: w, s: s, r: r}
		next.ServeHTTP(&st.rw, r)
		st.rw.start()
		if r.MultipartForm != nil {
			// The server removes the temporary files of its own request's
			// multipart form, not of this copy's: without this, every file
			// part larger than the handler's maxMemory stays on disk.
			r.MultipartForm.RemoveAll()
		}
	})
}

// requestState is what the middleware allocates for a request.
type requestState struct {
	s   Session
	ctx sessionContext
	rw  responseWriter
}

// sessionContext is the request's context carrying its session: what
// context.WithValue would make, without a separate allocation.
type sessionContext struct {
	context.Context
	key *contextKey
	s   *Session
}

// Value returns the session for the manager's key.
func (c *sessionContext) Value(key any) any {
	if k, ok := key.(*contextKey); ok && k == c.key {
		return c.s
	}
	return c.Context.Value(key)
}

// responseWriter commits the session before the first byte of the
// response (headers included) goes out.
type responseWriter struct {
	http.ResponseWriter
	s        *Session
	r        *http.Request
	started  bool
	replaced bool
}

// start commits once and reports whether the handler's response may go on.
func (w *responseWriter) start() bool {
	if !w.started {
		w.started = true
		if err := w.s.commit(w.Header()); err != nil {
			w.replaced = true
			w.s.m.opts.ErrorHandler(w.ResponseWriter, w.r, err)
		}
	}
	return !w.replaced
}

func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: headers are not final yet
		return
	}
	if w.start() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.start() {
		return 0, errReplaced
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom keeps io.Copy's fast paths (sendfile) of the underlying writer.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.start() {
		return 0, errReplaced
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(w.ResponseWriter, src)
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController.Flush calls.
func (w *responseWriter) FlushError() error {
	if !w.start() {
		return errReplaced
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker; the session is committed first.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.start() {
		return nil, nil, errReplaced
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
