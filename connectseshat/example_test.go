package connectseshat_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"connectrpc.com/connect"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/connectseshat"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A view counter as a connect procedure, for a client that keeps no
// cookies: it sends its token as "Authorization: Bearer TOKEN" and takes a
// new one from the Session-Token header (here on the first call, and at
// login, when the session gets a new ID).
func Example() {
	m, err := seshat.New(seshat.Options{
		Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")},
		Carrier: seshat.Carrier{Header: "Authorization"},
	})
	if err != nil {
		panic(err)
	}
	interceptors := connect.WithInterceptors(connectseshat.NewInterceptor(m))
	mux := http.NewServeMux()
	mux.Handle("/counter.v1.Counter/View", connect.NewUnaryHandler("/counter.v1.Counter/View",
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.Int64Value], error) {
			n, err := connectseshat.Session(ctx).Incr("views", 1)
			if err != nil {
				return nil, connect.NewError(connectseshat.Code(err), err)
			}
			return connect.NewResponse(wrapperspb.Int64(n)), nil
		}, interceptors))
	mux.Handle("/counter.v1.Counter/Login", connect.NewUnaryHandler("/counter.v1.Counter/Login",
		func(ctx context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[emptypb.Empty], error) {
			s := connectseshat.Session(ctx)
			if err := s.Regenerate(); err != nil { // a new ID at login
				return nil, connect.NewError(connectseshat.Code(err), err)
			}
			if err := s.SetUser(req.Msg.Value); err != nil {
				return nil, connect.NewError(connectseshat.Code(err), err)
			}
			return connect.NewResponse(&emptypb.Empty{}), nil
		}, interceptors))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	token := ""
	keep := func(h http.Header) {
		if t := h.Get("Session-Token"); t != "" {
			fmt.Print("(new token) ")
			token = t
		}
	}
	view := connect.NewClient[emptypb.Empty, wrapperspb.Int64Value](srv.Client(), srv.URL+"/counter.v1.Counter/View")
	login := connect.NewClient[wrapperspb.StringValue, emptypb.Empty](srv.Client(), srv.URL+"/counter.v1.Counter/Login")
	authorize := func(h http.Header) {
		if token != "" {
			h.Set("Authorization", "Bearer "+token)
		}
	}
	for i := range 4 {
		if i == 2 {
			req := connect.NewRequest(wrapperspb.String("alice"))
			authorize(req.Header())
			res, err := login.CallUnary(context.Background(), req)
			if err != nil {
				panic(err)
			}
			keep(res.Header())
			fmt.Println("logged in")
		}
		req := connect.NewRequest(&emptypb.Empty{})
		authorize(req.Header())
		res, err := view.CallUnary(context.Background(), req)
		if err != nil {
			panic(err)
		}
		keep(res.Header())
		fmt.Println("views:", res.Msg.Value)
	}
	// Output:
	// (new token) views: 1
	// views: 2
	// (new token) logged in
	// views: 3
	// views: 4
}
