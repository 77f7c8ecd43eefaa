package connectseshat

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"connectrpc.com/connect"
	"github.com/seshat-go/seshat"
)

// contextKey is where the interceptor keeps the session in a call's
// context.
type contextKey struct{}

// NewInterceptor returns a connect interceptor giving each call a session
// from m (see Session), for handlers, unary and streaming alike; installed
// on a client, it does nothing. See the package comment for when it
// commits and where the headers go.
func NewInterceptor(m *seshat.Manager) connect.Interceptor {
	return &interceptor{m: m}
}

// Session returns the call's session. It panics when the interceptor is
// not installed on the handler: a mistake in the program, reported at its
// first call. With interceptors of two managers on one handler, it returns
// the inner one's session.
func Session(ctx context.Context) *seshat.Session {
	s, ok := ctx.Value(contextKey{}).(*seshat.Session)
	if !ok {
		panic("connectseshat: Session called in a handler without connectseshat.NewInterceptor")
	}
	return s
}

// Code maps a non-nil error from seshat (a failed commit, Incr, Regenerate
// and so on) to a connect code, through the HTTP status seshat.StatusCode
// gives it: 503 (the store is down or too slow) is Unavailable, 403
// PermissionDenied, 413 and 507 (the session or the store is full)
// ResourceExhausted, 409 (the session ended or moved under the call)
// Aborted, 401 Unauthenticated, anything else Internal. A call cancelled
// by its client is Canceled.
func Code(err error) connect.Code {
	if errors.Is(err, context.Canceled) {
		return connect.CodeCanceled
	}
	switch seshat.StatusCode(err) {
	case http.StatusServiceUnavailable:
		return connect.CodeUnavailable
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusRequestEntityTooLarge, http.StatusInsufficientStorage:
		return connect.CodeResourceExhausted
	case http.StatusConflict:
		return connect.CodeAborted
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	default:
		return connect.CodeInternal
	}
}

// commitError is a failed commit as the call's error: its code from Code,
// its message what the client may be told (the error's own text names
// store keys and servers), the error itself behind Unwrap for the
// server's logs.
func commitError(err error) *connect.Error {
	msg := "the session could not be stored: " + http.StatusText(seshat.StatusCode(err))
	if errors.Is(err, seshat.ErrTooLarge) {
		msg = "session too large: the change would take the session over its size limit; nothing was changed"
	}
	return connect.NewError(Code(err), &publicError{msg: msg, err: err})
}

// publicError shows msg and wraps err.
type publicError struct {
	msg string
	err error
}

func (e *publicError) Error() string { return e.msg }
func (e *publicError) Unwrap() error { return e.err }

type interceptor struct {
	m *seshat.Manager
}

// open opens the call's session from its request headers, with the
// client's address for its device record (seshat.Options.Devices), and
// returns the context carrying it. connect does not say whether the
// connection is TLS, so the call is taken as made over TLS (see the
// package comment).
func (i *interceptor) open(ctx context.Context, h http.Header, peer connect.Peer) (context.Context, *seshat.Session) {
	s := i.m.OpenRequest(ctx, h, true)
	s.SetRemoteAddr(peer.Addr)
	return context.WithValue(ctx, contextKey{}, s), s
}

// WrapUnary commits the session when the handler returns, into the
// headers connect sends with the call's response or error. A failed
// commit replaces the result.
func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, s := i.open(ctx, req.Header(), req.Peer())
		res, err := next(ctx, req)
		h := http.Header{}
		if cerr := s.Commit(h); cerr != nil {
			return nil, commitError(cerr)
		}
		if len(h) == 0 {
			return res, err
		}
		if err != nil {
			return nil, errorWithHeaders(ctx, err, h)
		}
		// Into the call's own response headers, which connect sends with
		// the response: the response may be one value many calls return
		// (a package-level empty response, a cache's), whose headers
		// would carry one call's token to the next call's client.
		if info, ok := connect.CallInfoForHandlerContext(ctx); ok {
			addHeaders(info.ResponseHeader(), h)
		} else if res != nil {
			addHeaders(res.Header(), h)
		}
		return res, nil
	}
}

// errorWithHeaders sends h with a handler's error. The error's own Meta is
// not written: the error may be one value shared by many calls (a
// package-level error), where one call's token would reach the next
// call's client; and connect drops the Meta of an error relayed from
// another server (connect.IsWireError). The call's response headers, which
// connect sends with any error, take h instead. Without them (a call
// connect's handlers did not make), a new error carries h, with err's
// code, message and details.
func errorWithHeaders(ctx context.Context, err error, h http.Header) error {
	if info, ok := connect.CallInfoForHandlerContext(ctx); ok {
		addHeaders(info.ResponseHeader(), h)
		return err
	}
	msg, code := err.Error(), connect.CodeUnknown
	var details []*connect.ErrorDetail
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		msg, code, details = cerr.Message(), cerr.Code(), cerr.Details()
	}
	out := connect.NewError(code, &publicError{msg: msg, err: err})
	for _, d := range details {
		out.AddDetail(d)
	}
	addHeaders(out.Meta(), h)
	return out
}

func addHeaders(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append(dst[k], vs...)
	}
}

// WrapStreamingClient leaves clients alone.
func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler commits the session before the first message is
// sent, or when the handler returns if it sent none, into the response
// headers, which go out with the first message (or the end of the
// stream). A failed commit is returned by that Send and replaces the
// handler's result.
func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, s := i.open(ctx, conn.RequestHeader(), conn.Peer())
		c := &streamConn{StreamingHandlerConn: conn, s: s}
		err := next(ctx, c)
		if cerr := c.commit(); cerr != nil {
			return cerr
		}
		return err
	}
}

// streamConn is a call's stream that commits its session before the first
// message goes out.
type streamConn struct {
	connect.StreamingHandlerConn
	s    *seshat.Session
	once sync.Once
	err  error
}

// commit commits the session once and returns the commit's error.
func (c *streamConn) commit() error {
	c.once.Do(func() {
		h := http.Header{}
		if err := c.s.Commit(h); err != nil {
			c.err = commitError(err)
			return
		}
		addHeaders(c.ResponseHeader(), h)
	})
	return c.err
}

func (c *streamConn) Send(msg any) error {
	if err := c.commit(); err != nil {
		return err
	}
	return c.StreamingHandlerConn.Send(msg)
}
