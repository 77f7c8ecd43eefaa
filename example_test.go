package seshat_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/seshat-go/seshat"
)

// The view counter: Incr runs atomically in the store, so parallel requests
// never lose a view.
func Example() {
	m, err := seshat.New(seshat.Options{
		Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.Session(r).Incr("views", 1)
		if err != nil {
			http.Error(w, err.Error(), seshat.StatusCode(err))
			return
		}
		fmt.Fprintf(w, "Number of views: %d", n)
	})
	srv := httptest.NewServer(m.Handler(mux))
	defer srv.Close()

	var cookie *http.Cookie
	for range 3 {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, _ := http.DefaultClient.Do(req)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if c := resp.Cookies(); len(c) > 0 {
			cookie = c[0]
		}
		fmt.Println(string(b))
	}
	// Output:
	// Number of views: 1
	// Number of views: 2
	// Number of views: 3
}

// Get is typed: the value comes back as the type asked for, and a value of
// another type is an error, not a silent zero.
func ExampleGet() {
	m, _ := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		s.Set("age", 42)
		age, err := seshat.Get[int](s, "age")
		fmt.Println(age, err)
		_, err = seshat.Get[string](s, "age")
		fmt.Println(errors.Is(err, seshat.ErrDecode))
		_, err = seshat.Get[string](s, "missing")
		fmt.Println(errors.Is(err, seshat.ErrNoValue))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	// Output:
	// 42 <nil>
	// true
	// true
}

// Set encodes at once, so a value that cannot be stored fails in the
// handler, naming the key and the type, instead of after the response.
func ExampleSession_Set() {
	m, _ := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := m.Session(r).Set("callback", func() {})
		fmt.Println(errors.Is(err, seshat.ErrEncode), strings.Contains(err.Error(), `"callback" of type func()`))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	// Output:
	// true true
}

// Login: Regenerate moves the session to a fresh ID before the privilege
// change, so an ID planted or seen before login is worthless afterwards.
func ExampleSession_Regenerate() {
	m, _ := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}})
	login := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		if err := s.Regenerate(); err != nil {
			http.Error(w, err.Error(), seshat.StatusCode(err))
			return
		}
		if err := s.SetUser(r.FormValue("user")); err != nil {
			http.Error(w, err.Error(), seshat.StatusCode(err))
			return
		}
		fmt.Fprintln(w, "welcome")
	}))
	rec := httptest.NewRecorder()
	login.ServeHTTP(rec, httptest.NewRequest("POST", "/login?user=bob", nil))
	fmt.Print(rec.Body.String())
	fmt.Println(len(rec.Result().Cookies()))
	// Output:
	// welcome
	// 1
}

// requestID is a context key an outer middleware sets, as a tracer sets
// its span.
type requestID struct{}

// logSpans is a SpanObserver that prints each store operation as it
// begins, with a value of the request's context, and as it ends.
type logSpans struct{}

func (logSpans) Observe(e seshat.Event) {}

func (logSpans) Start(ctx context.Context, e seshat.Event) (context.Context, func(seshat.Event)) {
	fmt.Println("start", e.Op, "in request", ctx.Value(requestID{}))
	return ctx, func(e seshat.Event) { fmt.Println("end", e.Op, "err:", e.Err) }
}

// A SpanObserver's Start runs within the request's context, and the store
// operation within the context Start returns: a tracer starts a span there.
func ExampleSpanObserver() {
	m, _ := seshat.New(seshat.Options{
		Secrets:  [][]byte{[]byte("a secret of at least thirty-two bytes")},
		Observer: logSpans{},
	})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Session(r).Incr("views", 1)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	h.ServeHTTP(httptest.NewRecorder(), req.WithContext(context.WithValue(req.Context(), requestID{}, "r-1")))
	// Output:
	// start create in request r-1
	// end create err: <nil>
}

// A session outside net/http: a client without cookies keeps the token
// and sends it back (in an Authorization header, a WebSocket message, a
// gRPC call's metadata); the code serving it opens the session, works on
// it, and commits before answering.
func ExampleManager_Open() {
	m, err := seshat.New(seshat.Options{
		Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")},
	})
	if err != nil {
		panic(err)
	}
	view := func(token string) string {
		s := m.Open(context.Background(), token)
		n, err := s.Incr("views", 1)
		if err == nil {
			err = s.Commit(nil)
		}
		if err != nil {
			fmt.Println("error:", err)
			return token
		}
		fmt.Println("views:", n)
		return s.Token()
	}
	token := view("")
	token = view(token)
	view(token)
	// Output:
	// views: 1
	// views: 2
	// views: 3
}
