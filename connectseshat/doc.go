// Package connectseshat gives the calls of a connect service
// (connectrpc.com/connect) seshat's sessions: NewInterceptor returns a
// handler interceptor, installed with connect.WithInterceptors, that opens
// each call's session from its request headers, puts it in the call's
// context (see Session), and commits it when the handler is done, before
// the response headers go out.
//
// Calls carry their session token as requests to the net/http middleware
// do (seshat.Options.Carrier): in the session cookie, which a browser's
// connect-web client sends as any fetch does, or, with Carrier.Header set,
// in a header, "Authorization: Bearer TOKEN" for a client that keeps no
// cookies. A new, regenerated or re-signed session's token goes back the
// way the call brought its token: in Set-Cookie to a call that carried the
// cookie, in the carrier's response header (Session-Token by default) to
// one that carried the header, in both to a first call. A forged token
// never reaches the store.
//
// A unary call's session is committed when the handler returns, into the
// response's headers, or, when the handler returns an error, into the
// headers connect sends with the error. A streaming call's session is
// committed before its first message is sent, or when the handler returns
// if it sent none. A commit that fails replaces the call's result with a
// connect error whose code Code gives (Unavailable when the store is
// down); messages already sent are not taken back, which is why a stream
// commits before the first. Every guarantee of the net/http middleware
// holds: changes committed as one delta, atomic Incr and Update, a final
// Destroy, Regenerate at login, the size limits.
//
// seshat.Options.CrossOrigin is not applied: the connect protocol's calls
// are POSTs of application/proto or application/json (which a page of
// another site cannot send without the server's CORS consent) or, with
// connect.WithHTTPGet, GETs of procedures declared free of side effects.
//
// A session bound to a user records the device it is used from
// (seshat.Options.Devices) from the call's User-Agent header and peer
// address, as the net/http middleware does.
//
// connect shows an interceptor the call's headers and peer address but
// not whether its connection is TLS, so the interceptor opens every
// session as if the call came over TLS, as
// a connect service should be served: a cookie it sets is Secure and, with
// seshat.SecureAuto, carries the __Host- prefix. seshat.SecureNever turns
// that off for plain-HTTP development. Behind a proxy that terminates TLS,
// set seshat.Options.TrustForwardedProto (or SecureAlways) so that pages
// served by the net/http middleware on the same host use the same cookie.
//
//	m, err := seshat.New(seshat.Options{
//		Secrets: secrets,
//		Store:   store,
//		Carrier: seshat.Carrier{Header: "Authorization"},
//	})
//	...
//	path, handler := greetv1connect.NewGreetServiceHandler(greeter,
//		connect.WithInterceptors(connectseshat.NewInterceptor(m)))
//
//	func (g *greeter) Greet(ctx context.Context, req *connect.Request[greetv1.GreetRequest]) (*connect.Response[greetv1.GreetResponse], error) {
//		n, err := connectseshat.Session(ctx).Incr("greetings", 1)
//		if err != nil {
//			return nil, connect.NewError(connectseshat.Code(err), err)
//		}
//		...
//	}
package connectseshat
