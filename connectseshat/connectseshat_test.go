package connectseshat_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/connectseshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var testSecrets = [][]byte{[]byte("connectseshat-test-secret-0123456789")}

// The test service's procedures.
const (
	viewProcedure   = "/seshat.test.Sessions/View"   // Empty → Int64Value: views, incremented
	readProcedure   = "/seshat.test.Sessions/Read"   // Empty → Int64Value: views, unchanged
	loginProcedure  = "/seshat.test.Sessions/Login"  // StringValue user → Empty: Regenerate, SetUser
	logoutProcedure = "/seshat.test.Sessions/Logout" // Empty → Empty: Destroy
	whoamiProcedure = "/seshat.test.Sessions/WhoAmI" // Empty → StringValue user, or Unauthenticated
	// Int64Value n → views incremented n times, each sent; with n ≤ 0,
	// incremented once and nothing sent, then, for n < 0, FailedPrecondition.
	countProcedure = "/seshat.test.Sessions/Count"
	// client stream of Int64Value → Int64Value: views incremented by each
	sumProcedure = "/seshat.test.Sessions/Sum"
	// Empty → Empty, after the session was destroyed behind the call's
	// back and changed: the commit fails (Aborted).
	endedProcedure       = "/seshat.test.Sessions/Ended"
	endedStreamProcedure = "/seshat.test.Sessions/EndedStream"
	// Empty → errShared, views incremented.
	sharedErrorProcedure = "/seshat.test.Sessions/SharedError"
	// Empty → a wire error relayed from another server, after Regenerate.
	relayProcedure = "/seshat.test.Sessions/Relay"
	// Empty → resShared, views incremented.
	sharedResponseProcedure = "/seshat.test.Sessions/SharedResponse"
)

// resShared is one response value returned by every call of
// SharedResponse, as a package-level empty response is.
var resShared = connect.NewResponse(&emptypb.Empty{})

// errShared is one error value returned by every call of SharedError, as a
// package-level error is.
var errShared = connect.NewError(connect.CodeFailedPrecondition, errors.New("not now"))

// service is the test service on a real connect handler, behind the
// interceptor, on an httptest server (HTTP/1.1, the connect protocol).
type service struct {
	m     *seshat.Manager
	store *storetest.Counting
	url   string
	http  *http.Client
}

func newService(t *testing.T, st store.Store) *service {
	svc := &service{store: &storetest.Counting{Store: st}}
	m, err := seshat.New(seshat.Options{
		Store:   svc.store,
		Secrets: testSecrets,
		Carrier: seshat.Carrier{Header: "Authorization"},
		// Generous: a loaded machine must fail no case by time alone.
		StoreTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.m = m
	opt := connect.WithInterceptors(connectseshat.NewInterceptor(m))
	fail := func(err error) error { return connect.NewError(connectseshat.Code(err), err) }
	mux := http.NewServeMux()
	mux.Handle(viewProcedure, connect.NewUnaryHandler(viewProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.Int64Value], error) {
			n, err := connectseshat.Session(ctx).Incr("views", 1)
			if err != nil {
				return nil, fail(err)
			}
			return connect.NewResponse(wrapperspb.Int64(n)), nil
		}, opt))
	mux.Handle(readProcedure, connect.NewUnaryHandler(readProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.Int64Value], error) {
			n, err := seshat.Get[int64](connectseshat.Session(ctx), "views")
			if err != nil && !errors.Is(err, seshat.ErrNoValue) {
				return nil, fail(err)
			}
			return connect.NewResponse(wrapperspb.Int64(n)), nil
		}, opt))
	mux.Handle(loginProcedure, connect.NewUnaryHandler(loginProcedure,
		func(ctx context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[emptypb.Empty], error) {
			s := connectseshat.Session(ctx)
			if err := s.Regenerate(); err != nil {
				return nil, fail(err)
			}
			if err := s.SetUser(req.Msg.Value); err != nil {
				return nil, fail(err)
			}
			return connect.NewResponse(&emptypb.Empty{}), nil
		}, opt))
	mux.Handle(logoutProcedure, connect.NewUnaryHandler(logoutProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			if err := connectseshat.Session(ctx).Destroy(); err != nil {
				return nil, fail(err)
			}
			return connect.NewResponse(&emptypb.Empty{}), nil
		}, opt))
	mux.Handle(whoamiProcedure, connect.NewUnaryHandler(whoamiProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
			user, err := connectseshat.Session(ctx).User()
			if err != nil {
				return nil, fail(err)
			}
			if user == "" {
				return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("not logged in"))
			}
			return connect.NewResponse(wrapperspb.String(user)), nil
		}, opt))
	mux.Handle(countProcedure, connect.NewServerStreamHandler(countProcedure,
		func(ctx context.Context, req *connect.Request[wrapperspb.Int64Value], stream *connect.ServerStream[wrapperspb.Int64Value]) error {
			s := connectseshat.Session(ctx)
			times := max(req.Msg.Value, 1)
			for range times {
				n, err := s.Incr("views", 1)
				if err != nil {
					return fail(err)
				}
				if req.Msg.Value > 0 {
					if err := stream.Send(wrapperspb.Int64(n)); err != nil {
						return err
					}
				}
			}
			if req.Msg.Value < 0 {
				return connect.NewError(connect.CodeFailedPrecondition, errors.New("counted, then failed"))
			}
			return nil
		}, opt))
	mux.Handle(sumProcedure, connect.NewClientStreamHandler(sumProcedure,
		func(ctx context.Context, stream *connect.ClientStream[wrapperspb.Int64Value]) (*connect.Response[wrapperspb.Int64Value], error) {
			s := connectseshat.Session(ctx)
			var n int64
			for stream.Receive() {
				var err error
				if n, err = s.Incr("views", stream.Msg().Value); err != nil {
					return nil, fail(err)
				}
			}
			if err := stream.Err(); err != nil {
				return nil, err
			}
			return connect.NewResponse(wrapperspb.Int64(n)), nil
		}, opt))
	// endSession reads the session, destroys it in the store behind its
	// back (a logout elsewhere) and changes it: its commit fails.
	endSession := func(ctx context.Context) {
		s := connectseshat.Session(ctx)
		seshat.Get[int64](s, "views")
		m.Store().Destroy(ctx, s.Handle())
		s.Set("after", "the end")
	}
	mux.Handle(endedProcedure, connect.NewUnaryHandler(endedProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			endSession(ctx)
			res := connect.NewResponse(&emptypb.Empty{})
			res.Header().Set("X-Handler", "ran")
			return res, nil
		}, opt))
	mux.Handle(endedStreamProcedure, connect.NewServerStreamHandler(endedStreamProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty], stream *connect.ServerStream[emptypb.Empty]) error {
			endSession(ctx)
			return stream.Send(&emptypb.Empty{})
		}, opt))
	mux.Handle(sharedResponseProcedure, connect.NewUnaryHandler(sharedResponseProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			if _, err := connectseshat.Session(ctx).Incr("views", 1); err != nil {
				return nil, fail(err)
			}
			return resShared, nil
		}, opt))
	mux.Handle(sharedErrorProcedure, connect.NewUnaryHandler(sharedErrorProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			if _, err := connectseshat.Session(ctx).Incr("views", 1); err != nil {
				return nil, fail(err)
			}
			return nil, errShared
		}, opt))
	mux.Handle(relayProcedure, connect.NewUnaryHandler(relayProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			if err := connectseshat.Session(ctx).Regenerate(); err != nil {
				return nil, fail(err)
			}
			return nil, connect.NewWireError(connect.CodeUnavailable, errors.New("the upstream service is down"))
		}, opt))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	svc.url, svc.http = srv.URL, srv.Client()
	return svc
}

// caller is a client that keeps no cookies: it sends its token as
// "Authorization: Bearer TOKEN" and takes a new one from Session-Token.
type caller struct {
	svc   *service
	token string
	// renewed counts the answers that brought a token.
	renewed atomic.Int64
	mu      sync.Mutex
}

func (s *service) caller() *caller { return &caller{svc: s} }

// bearer returns the token the caller sends.
func (c *caller) bearer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// took keeps a new token from an answer's headers, and returns it.
func (c *caller) took(h http.Header) string {
	tok := h.Get("Session-Token")
	if tok != "" {
		c.mu.Lock()
		c.token = tok
		c.mu.Unlock()
		c.renewed.Add(1)
	}
	return tok
}

// call makes a unary call with the caller's token.
func call[Req, Res any](t *testing.T, c *caller, procedure string, msg *Req) (*connect.Response[Res], error) {
	t.Helper()
	return callWith[Req, Res](t, c, c.bearer(), procedure, msg)
}

// callWith makes a unary call with a given token ("": none).
func callWith[Req, Res any](t *testing.T, c *caller, token, procedure string, msg *Req) (*connect.Response[Res], error) {
	t.Helper()
	client := connect.NewClient[Req, Res](c.svc.http, c.svc.url+procedure)
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	res, err := client.CallUnary(context.Background(), req)
	if err != nil {
		var cerr *connect.Error
		if !errors.As(err, &cerr) {
			t.Fatalf("%s: %v; want an answer", procedure, err)
		}
		c.took(cerr.Meta())
		return nil, err
	}
	c.took(res.Header())
	return res, nil
}

func (c *caller) view(t *testing.T) int64 {
	t.Helper()
	res, err := call[emptypb.Empty, wrapperspb.Int64Value](t, c, viewProcedure, &emptypb.Empty{})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return res.Msg.Value
}

func readWith(t *testing.T, c *caller, token string) (int64, http.Header) {
	t.Helper()
	res, err := callWith[emptypb.Empty, wrapperspb.Int64Value](t, c, token, readProcedure, &emptypb.Empty{})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return res.Msg.Value, res.Header()
}

func (c *caller) read(t *testing.T) int64 {
	t.Helper()
	n, _ := readWith(t, c, c.bearer())
	return n
}

// whoami returns the user the token's session is bound to, "" for none.
func whoami(t *testing.T, c *caller, token string) string {
	t.Helper()
	res, err := callWith[emptypb.Empty, wrapperspb.StringValue](t, c, token, whoamiProcedure, &emptypb.Empty{})
	if connect.CodeOf(err) == connect.CodeUnauthenticated {
		return ""
	}
	if err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	return res.Msg.Value
}

// count opens the Count stream with the caller's token, and returns the
// values it received, its response headers and its error.
func (c *caller) count(t *testing.T, n int64) ([]int64, http.Header, error) {
	t.Helper()
	client := connect.NewClient[wrapperspb.Int64Value, wrapperspb.Int64Value](c.svc.http, c.svc.url+countProcedure)
	req := connect.NewRequest(wrapperspb.Int64(n))
	if tok := c.bearer(); tok != "" {
		req.Header().Set("Authorization", "Bearer "+tok)
	}
	stream, err := client.CallServerStream(context.Background(), req)
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	defer stream.Close()
	var got []int64
	for stream.Receive() {
		if len(got) == 0 && stream.ResponseHeader().Get("Session-Token") == "" && c.bearer() == "" {
			t.Errorf("Count: the first message came without Session-Token; want the session committed before it")
		}
		got = append(got, stream.Msg().Value)
	}
	c.took(stream.ResponseHeader())
	return got, stream.ResponseHeader(), stream.Err()
}

// otherThan returns a token character other than c: a forgery that
// replaces one character must change it.
func otherThan(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// stores returns fresh stores for the cases, on memstore or on one real
// redis-server, each case under its own prefix.
type stores func(t *testing.T) store.Store

func memStores(*testing.T) store.Store { return memstore.New() }

func redisStores(t *testing.T) stores {
	client := redistest.Start(t).Client(t)
	var n atomic.Int64
	return func(t *testing.T) store.Store {
		s, err := redisstore.New(client, redisstore.Options{Prefix: fmt.Sprintf("t%d:", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestBearerMemstore(t *testing.T) { runBearer(t, memStores) }

func TestBearerRedis(t *testing.T) { runBearer(t, redisStores(t)) }

// runBearer runs the cases of a client that keeps no cookies on stores.
func runBearer(t *testing.T, newStore stores) {
	t.Run("a first call gets a token; N calls count exactly N", func(t *testing.T) {
		c := newService(t, newStore(t)).caller()
		res, err := call[emptypb.Empty, wrapperspb.Int64Value](t, c, viewProcedure, &emptypb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		if c.bearer() == "" || res.Msg.Value != 1 {
			t.Fatalf("first call: views %d, Session-Token %q; want 1 and a token", res.Msg.Value, c.bearer())
		}
		if cc := res.Header().Values("Cache-Control"); !slices.Contains(cc, "no-store") {
			t.Errorf("the answer with a token has Cache-Control %q; want no-store", cc)
		}
		for i := int64(2); i <= 10; i++ {
			if n := c.view(t); n != i {
				t.Fatalf("call %d: views %d; want %d", i, n, i)
			}
		}
		if n := c.renewed.Load(); n != 1 {
			t.Fatalf("%d answers brought a token; want 1 (the first)", n)
		}
		if n := c.read(t); n != 10 {
			t.Fatalf("after 10 calls: views %d; want 10", n)
		}
	})

	t.Run("50 parallel calls add exactly 50 (G2)", func(t *testing.T) {
		c := newService(t, newStore(t)).caller()
		c.view(t)
		const calls = 50
		got := make([]int64, calls)
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() {
				res, err := call[emptypb.Empty, wrapperspb.Int64Value](t, c, viewProcedure, &emptypb.Empty{})
				if err != nil {
					t.Errorf("parallel call: %v", err)
					return
				}
				got[i] = res.Msg.Value
			})
		}
		wg.Wait()
		slices.Sort(got)
		for i, n := range got {
			if n != int64(i+2) {
				t.Fatalf("the parallel calls saw %v; want each of 2..%d once", got, calls+1)
			}
		}
		if n := c.read(t); n != calls+1 {
			t.Fatalf("after 1 + %d calls: views %d; want %d", calls, n, calls+1)
		}
		if n := c.renewed.Load(); n != 1 {
			t.Fatalf("%d answers brought a token; want 1 (the first)", n)
		}
	})

	t.Run("login regenerates: a new token, the old one loads nothing (G4)", func(t *testing.T) {
		c := newService(t, newStore(t)).caller()
		c.view(t)
		c.view(t)
		old := c.bearer()
		if _, err := call[wrapperspb.StringValue, emptypb.Empty](t, c, loginProcedure, wrapperspb.String("alice")); err != nil {
			t.Fatalf("Login: %v", err)
		}
		if c.bearer() == old || c.renewed.Load() != 2 {
			t.Fatalf("login: Session-Token %q (before: %q); want a new token", c.bearer(), old)
		}
		if u := whoami(t, c, c.bearer()); u != "alice" {
			t.Fatalf("the new token's user is %q; want alice", u)
		}
		if n := c.read(t); n != 2 {
			t.Fatalf("the new token reads views %d; want 2 (moved with the session)", n)
		}
		// For store.MovedGrace after the move, a call with the old token
		// fails as a straggler of the login (the net/http middleware's 409):
		// it loads nothing, and creates nothing.
		for _, procedure := range []string{whoamiProcedure, readProcedure, viewProcedure} {
			_, err := callWith[emptypb.Empty, emptypb.Empty](t, c, old, procedure, &emptypb.Empty{})
			if connect.CodeOf(err) != connect.CodeAborted || c.renewed.Load() != 2 {
				t.Fatalf("%s with the old token: %v, %d tokens received; want Aborted (moved) and no new token", procedure, err, c.renewed.Load())
			}
		}
		if n := c.read(t); n != 2 {
			t.Fatalf("the new token reads views %d after the old one's calls; want 2", n)
		}
	})

	t.Run("a login records the device: user agent and network", func(t *testing.T) {
		svc := newService(t, newStore(t))
		c := svc.caller()
		client := connect.NewClient[wrapperspb.StringValue, emptypb.Empty](svc.http, svc.url+loginProcedure)
		req := connect.NewRequest(wrapperspb.String("dave"))
		req.Header().Set("User-Agent", "example-app/1.0")
		res, err := client.CallUnary(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		handle, ok := svc.m.HandleOf(c.took(res.Header()))
		if !ok {
			t.Fatalf("login: no valid token in %v", res.Header())
		}
		snap, err := svc.m.Inspect(context.Background(), handle)
		if err != nil {
			t.Fatal(err)
		}
		if d := snap.Device; d == nil || d.UserAgent != "example-app/1.0" || d.Network != "127.0.0.0/24" {
			t.Fatalf("the session's device is %+v; want example-app/1.0 from 127.0.0.0/24", d)
		}
	})

	t.Run("logout: the token then loads nothing (G3)", func(t *testing.T) {
		c := newService(t, newStore(t)).caller()
		c.view(t)
		if _, err := call[wrapperspb.StringValue, emptypb.Empty](t, c, loginProcedure, wrapperspb.String("bob")); err != nil {
			t.Fatalf("Login: %v", err)
		}
		tok := c.bearer()
		if _, err := call[emptypb.Empty, emptypb.Empty](t, c, logoutProcedure, &emptypb.Empty{}); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		if u := whoami(t, c, tok); u != "" {
			t.Fatalf("after logout the token's user is %q; want none", u)
		}
		if n := c.read(t); n != 0 {
			t.Fatalf("after logout the token reads views %d; want 0", n)
		}
	})

	t.Run("a forged token makes no store call (G7)", func(t *testing.T) {
		svc := newService(t, newStore(t))
		c := svc.caller()
		c.view(t)
		real := c.bearer()
		other, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("an attacker's secret, thirty-two bytes")}})
		if err != nil {
			t.Fatal(err)
		}
		s := other.Open(context.Background(), "")
		s.Set("views", 100)
		s.Commit(nil)
		forged := []string{
			otherThan(real[0]) + real[1:],
			real[:len(real)/2] + otherThan(real[len(real)/2]) + real[len(real)/2+1:],
			real[:len(real)-1] + otherThan(real[len(real)-1]),
			real + "A",
			real[:len(real)-1],
			"x",
			s.Token(), // signed with another secret
		}
		svc.store.Reset()
		for _, f := range forged {
			if f == real {
				t.Fatalf("forgery %q equals the real token", f)
			}
			if n, h := readWith(t, c, f); n != 0 || h.Get("Session-Token") != "" {
				t.Errorf("forged token %q: views %d, Session-Token %q; want a new, empty session, not stored", f, n, h.Get("Session-Token"))
			}
		}
		if n := svc.store.Total(); n != 0 {
			t.Fatalf("%d forged tokens made %d store calls; want 0", len(forged), n)
		}
		if n := c.read(t); n != 1 {
			t.Fatalf("the real token reads views %d; want 1", n)
		}
	})

	t.Run("a server stream commits before its first message", func(t *testing.T) {
		c := newService(t, newStore(t)).caller()
		got, h, err := c.count(t, 3)
		if err != nil || !slices.Equal(got, []int64{1, 2, 3}) || h.Get("Session-Token") == "" {
			t.Fatalf("Count 3: %v, Session-Token %q, %v; want 1 2 3 and a token", got, h.Get("Session-Token"), err)
		}
		if n := c.view(t); n != 4 {
			t.Fatalf("a call after the stream: views %d; want 4", n)
		}
		got, h, err = c.count(t, 2)
		if err != nil || !slices.Equal(got, []int64{5, 6}) || h.Get("Session-Token") != "" {
			t.Fatalf("Count 2 with the token: %v, Session-Token %q, %v; want 5 6 and no new token", got, h.Get("Session-Token"), err)
		}
	})

	t.Run("a stream that sends nothing commits when it returns", func(t *testing.T) {
		svc := newService(t, newStore(t))
		c := svc.caller()
		got, h, err := c.count(t, 0)
		if err != nil || len(got) != 0 || h.Get("Session-Token") == "" {
			t.Fatalf("Count 0: %v, Session-Token %q, %v; want nothing sent and a token", got, h.Get("Session-Token"), err)
		}
		if n := c.read(t); n != 1 {
			t.Fatalf("after a stream that sent nothing: views %d; want 1", n)
		}
		c = svc.caller()
		got, h, err = c.count(t, -1)
		if connect.CodeOf(err) != connect.CodeFailedPrecondition || len(got) != 0 || h.Get("Session-Token") == "" {
			t.Fatalf("Count -1: %v, Session-Token %q, %v; want the handler's error with a token", got, h.Get("Session-Token"), err)
		}
		if n := c.read(t); n != 1 {
			t.Fatalf("after a stream that failed: views %d; want 1 (its session committed)", n)
		}
	})

	t.Run("a client stream commits before its answer", func(t *testing.T) {
		c := newService(t, newStore(t)).caller()
		for round, want := range []int64{6, 12} {
			client := connect.NewClient[wrapperspb.Int64Value, wrapperspb.Int64Value](c.svc.http, c.svc.url+sumProcedure)
			stream := client.CallClientStream(context.Background())
			if tok := c.bearer(); tok != "" {
				stream.RequestHeader().Set("Authorization", "Bearer "+tok)
			}
			for i := int64(1); i <= 3; i++ {
				if err := stream.Send(wrapperspb.Int64(i)); err != nil {
					t.Fatal(err)
				}
			}
			res, err := stream.CloseAndReceive()
			if err != nil || res.Msg.Value != want {
				t.Fatalf("Sum round %d: %v, %v; want views %d", round, res, err, want)
			}
			c.took(res.Header())
			if c.renewed.Load() != 1 {
				t.Fatalf("Sum round %d: %d answers brought a token; want 1 (the first)", round, c.renewed.Load())
			}
		}
	})

	t.Run("a failed commit replaces the result", func(t *testing.T) {
		c := newService(t, newStore(t)).caller()
		c.view(t)
		res, err := call[emptypb.Empty, emptypb.Empty](t, c, endedProcedure, &emptypb.Empty{})
		if connect.CodeOf(err) != connect.CodeAborted || res != nil {
			t.Fatalf("Ended: %v, %v; want Aborted and no response", res, err)
		}
		var cerr *connect.Error
		if errors.As(err, &cerr) && cerr.Meta().Get("X-Handler") != "" {
			t.Errorf("Ended: the handler's response header came with the error; want it discarded")
		}
		if strings.Contains(err.Error(), "seshat:") {
			t.Errorf("Ended: the client reads %q; want no internal error text", err)
		}

		c = newService(t, newStore(t)).caller()
		c.view(t)
		client := connect.NewClient[emptypb.Empty, emptypb.Empty](c.svc.http, c.svc.url+endedStreamProcedure)
		req := connect.NewRequest(&emptypb.Empty{})
		req.Header().Set("Authorization", "Bearer "+c.bearer())
		stream, err := client.CallServerStream(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		sent := 0
		for stream.Receive() {
			sent++
		}
		if connect.CodeOf(stream.Err()) != connect.CodeAborted || sent != 0 {
			t.Fatalf("EndedStream: %d messages, %v; want none and Aborted", sent, stream.Err())
		}
	})

	t.Run("a shared response carries each call's own token", func(t *testing.T) {
		svc := newService(t, newStore(t))
		a, b := svc.caller(), svc.caller()
		call[emptypb.Empty, emptypb.Empty](t, a, sharedResponseProcedure, &emptypb.Empty{})
		call[emptypb.Empty, emptypb.Empty](t, b, sharedResponseProcedure, &emptypb.Empty{})
		if a.bearer() == "" || b.bearer() == "" || a.bearer() == b.bearer() {
			t.Fatalf("tokens %q and %q; want one each", a.bearer(), b.bearer())
		}
		if len(resShared.Header()) != 0 {
			t.Fatalf("the shared response's headers are %v; want them untouched (one call's token would reach another's client)", resShared.Header())
		}
	})

	t.Run("a handler's error carries the token", func(t *testing.T) {
		c := newService(t, newStore(t)).caller()
		_, err := call[emptypb.Empty, emptypb.Empty](t, c, sharedErrorProcedure, &emptypb.Empty{})
		if connect.CodeOf(err) != connect.CodeFailedPrecondition || c.bearer() == "" {
			t.Fatalf("SharedError: %v, Session-Token %q; want FailedPrecondition with a token", err, c.bearer())
		}
		first := c.bearer()
		other := c.svc.caller()
		call[emptypb.Empty, emptypb.Empty](t, other, sharedErrorProcedure, &emptypb.Empty{})
		if other.bearer() == "" || other.bearer() == first {
			t.Fatalf("a second client's token %q; want its own", other.bearer())
		}
		if len(errShared.Meta()) != 0 {
			t.Fatalf("the shared error's Meta is %v; want it untouched (one call's token would reach another's client)", errShared.Meta())
		}
		if n := c.read(t); n != 1 {
			t.Fatalf("after the failed call: views %d; want 1 (its session committed)", n)
		}

		if _, err := call[wrapperspb.StringValue, emptypb.Empty](t, c, loginProcedure, wrapperspb.String("carol")); err != nil {
			t.Fatal(err)
		}
		old := c.bearer()
		_, err = call[emptypb.Empty, emptypb.Empty](t, c, relayProcedure, &emptypb.Empty{})
		if connect.CodeOf(err) != connect.CodeUnavailable || c.bearer() == old {
			t.Fatalf("Relay: %v, Session-Token %q (before: %q); want Unavailable with the regenerated session's token", err, c.bearer(), old)
		}
		if u := whoami(t, c, c.bearer()); u != "carol" {
			t.Fatalf("the token that came with the relayed error: user %q; want carol", u)
		}
	})

	t.Run("a browser's cookie works as the token", func(t *testing.T) {
		c := newService(t, newStore(t)).caller()
		res, err := callWith[emptypb.Empty, wrapperspb.Int64Value](t, c, "", viewProcedure, &emptypb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		cookie, err := http.ParseSetCookie(res.Header().Get("Set-Cookie"))
		if err != nil {
			t.Fatalf("a first call's Set-Cookie %q: %v", res.Header().Get("Set-Cookie"), err)
		}
		if !cookie.Secure || !strings.HasPrefix(cookie.Name, "__Host-") {
			t.Errorf("cookie %s: want Secure with the __Host- prefix (calls are taken as made over TLS)", cookie)
		}
		client := connect.NewClient[emptypb.Empty, wrapperspb.Int64Value](c.svc.http, c.svc.url+viewProcedure)
		req := connect.NewRequest(&emptypb.Empty{})
		req.Header().Set("Cookie", cookie.Name+"="+cookie.Value)
		res, err = client.CallUnary(context.Background(), req)
		if err != nil || res.Msg.Value != 2 || res.Header().Get("Session-Token") != "" {
			t.Fatalf("a call with the cookie: %v, Session-Token %q, %v; want views 2 and no token in a header", res, res.Header().Get("Session-Token"), err)
		}
	})
}

// Code maps seshat's errors as StatusCode does, to connect's codes.
func TestCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want connect.Code
	}{
		{seshat.ErrUnavailable, connect.CodeUnavailable},
		{fmt.Errorf("redisstore: commit: %w", context.DeadlineExceeded), connect.CodeUnavailable},
		{seshat.ErrContended, connect.CodeUnavailable},
		{seshat.ErrCrossOrigin, connect.CodePermissionDenied},
		{seshat.ErrTooLarge, connect.CodeResourceExhausted},
		{&http.MaxBytesError{Limit: 1}, connect.CodeResourceExhausted},
		{seshat.ErrFull, connect.CodeResourceExhausted},
		{seshat.ErrEnded, connect.CodeAborted},
		{seshat.ErrMoved, connect.CodeAborted},
		{context.Canceled, connect.CodeCanceled},
		{seshat.ErrDecode, connect.CodeInternal},
		{errors.New("anything else"), connect.CodeInternal},
	} {
		if got := connectseshat.Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %v; want %v", c.err, got, c.want)
		}
	}
}

// Outside connect's handlers (no call info in the context), a handler's
// error still brings the token: a new error carries it, with the
// handler's code, message and details; the handler's error is not written.
func TestErrorWithoutCallInfo(t *testing.T) {
	m, err := seshat.New(seshat.Options{Secrets: testSecrets, Carrier: seshat.Carrier{Header: "Authorization"}})
	if err != nil {
		t.Fatal(err)
	}
	detail, err := connect.NewErrorDetail(wrapperspb.String("why"))
	if err != nil {
		t.Fatal(err)
	}
	shared := connect.NewError(connect.CodeNotFound, errors.New("no such thing"))
	shared.AddDetail(detail)
	wrapped := connectseshat.NewInterceptor(m).WrapUnary(func(ctx context.Context, _ connect.AnyRequest) (connect.AnyResponse, error) {
		connectseshat.Session(ctx).Set("a", 1)
		return nil, fmt.Errorf("looking: %w", shared)
	})
	_, err = wrapped(context.Background(), connect.NewRequest(&emptypb.Empty{}))
	var got *connect.Error
	if !errors.As(err, &got) || got.Code() != connect.CodeNotFound || got.Message() != "no such thing" || len(got.Details()) != 1 || !errors.Is(err, shared) {
		t.Fatalf("error %v; want NotFound, the handler's message and detail, wrapping its error", err)
	}
	if got.Meta().Get("Session-Token") == "" {
		t.Fatalf("error meta %v; want Session-Token", got.Meta())
	}
	if len(shared.Meta()) != 0 {
		t.Fatalf("the handler's error's Meta is %v; want it untouched", shared.Meta())
	}
}

// Installed on a client, the interceptor does nothing: it opens no
// session and adds no header.
func TestClientSideDoesNothing(t *testing.T) {
	svc := newService(t, memstore.New())
	seen := make(chan http.Header, 1)
	mux := http.NewServeMux()
	mux.Handle(viewProcedure, connect.NewUnaryHandler(viewProcedure,
		func(ctx context.Context, req *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.Int64Value], error) {
			seen <- req.Header().Clone()
			return connect.NewResponse(wrapperspb.Int64(7)), nil
		}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := connect.NewClient[emptypb.Empty, wrapperspb.Int64Value](srv.Client(), srv.URL+viewProcedure,
		connect.WithInterceptors(connectseshat.NewInterceptor(svc.m)))
	res, err := client.CallUnary(context.Background(), connect.NewRequest(&emptypb.Empty{}))
	if err != nil || res.Msg.Value != 7 {
		t.Fatalf("a call through a client with the interceptor: %v, %v", res, err)
	}
	h := <-seen
	if h.Get("Authorization") != "" || h.Get("Cookie") != "" || res.Header().Get("Session-Token") != "" {
		t.Fatalf("request headers %v, response Session-Token %q; want nothing added", h, res.Header().Get("Session-Token"))
	}
	if n := svc.store.Total(); n != 0 {
		t.Fatalf("%d store calls; want none", n)
	}
}
