package fiberseshat_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/adaptor"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/fiberseshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

// listen runs app on fiber's server (fasthttp) on a free loopback port.
func listen(t *testing.T, app *fiber.App) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	t.Cleanup(func() {
		if err := app.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return "http://" + ln.Addr().String()
}

// client sends the tests' own requests, on connections it does not keep
// (fiber's Shutdown waits for every connection to close).
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// form returns a form value from the query or the body.
func form(c fiber.Ctx, k string) string {
	if v := c.Query(k); v != "" {
		return v
	}
	return c.FormValue(k)
}

// serve routes the conformance suite's app with fiber's router, behind
// the native Middleware, on fiber's server.
func serve(t *testing.T, app *storetest.App) string {
	f := fiber.New(fiber.Config{BodyLimit: int(app.MaxBodyBytes)})
	f.Use(fiberseshat.Middleware(app.Manager))
	answer := func(c fiber.Ctx) func(int, string) error {
		return func(code int, body string) error { return c.Status(code).SendString(body) }
	}
	s := fiberseshat.Session
	f.Get("/", func(c fiber.Ctx) error { return answer(c)(app.View(s(c))) })
	f.Get("/read", func(c fiber.Ctx) error { return answer(c)(app.Read(s(c))) })
	f.Post("/set", func(c fiber.Ctx) error { return answer(c)(app.Set(s(c), form(c, "k"), form(c, "v"))) })
	f.Post("/login", func(c fiber.Ctx) error { return answer(c)(app.Login(s(c), form(c, "user"))) })
	f.Post("/logout", func(c fiber.Ctx) error { return answer(c)(app.Logout(s(c))) })
	f.Get("/stream", func(c fiber.Ctx) error {
		code, body := app.Stream(s(c))
		return c.Status(code).SendStreamWriter(func(w *bufio.Writer) { body(w, w.Flush) })
	})
	return listen(t, f)
}

// serveAdaptor serves the app's net/http handler, behind the manager's
// net/http middleware, inside fiber through fiber's adaptor: the other way
// to use seshat with fiber, measured against the native one in bench/.
func serveAdaptor(t *testing.T, app *storetest.App) string {
	f := fiber.New(fiber.Config{BodyLimit: int(app.MaxBodyBytes)})
	h := app.Handler()
	f.Use(adaptor.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The adaptor's request context is the *fasthttp.RequestCtx, whose
		// Done reads a field the server's Shutdown writes without
		// synchronization (the race detector reports it when a store
		// operation's deadline watches it); it is never cancelled before
		// shutdown anyway.
		h.ServeHTTP(w, r.WithContext(context.WithoutCancel(r.Context())))
	})))
	return listen(t, f)
}

func redisStores(t *testing.T) func(t *testing.T) store.Store {
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

func memStores(*testing.T) store.Store { return memstore.New() }

func TestConformanceMemstore(t *testing.T) { storetest.RunHTTP(t, memStores, serve) }

func TestConformanceRedis(t *testing.T) { storetest.RunHTTP(t, redisStores(t), serve) }

func TestConformanceThroughAdaptor(t *testing.T) { storetest.RunHTTP(t, memStores, serveAdaptor) }

// A handler that returns an error commits its session before fiber's
// error handler answers.
func TestErrorReturnedCommits(t *testing.T) {
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}})
	if err != nil {
		t.Fatal(err)
	}
	f := fiber.New()
	f.Use(fiberseshat.Middleware(m))
	f.Post("/", func(c fiber.Ctx) error {
		fiberseshat.Session(c).Set("a", 1)
		return fiber.NewError(http.StatusTeapot, "no")
	})
	resp, err := client.Post(listen(t, f), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || len(resp.Cookies()) != 1 || resp.Header.Get("Vary") != "Cookie" {
		t.Fatalf("status %d, cookies %v, Vary %q; want 418 with the session cookie", resp.StatusCode, resp.Cookies(), resp.Header.Get("Vary"))
	}
}

// A commit that fails discards the handler's response: the error handler
// answers instead.
func TestFailedCommitReplacesTheResponse(t *testing.T) {
	st := memstore.New()
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}})
	if err != nil {
		t.Fatal(err)
	}
	f := fiber.New()
	f.Use(fiberseshat.Middleware(m))
	f.Get("/new", func(c fiber.Ctx) error {
		fiberseshat.Session(c).Set("a", 1)
		return c.SendString("created")
	})
	f.Get("/", func(c fiber.Ctx) error {
		s := fiberseshat.Session(c)
		seshat.Get[int](s, "a")
		st.Destroy(c.Context(), s.Handle()) // a logout elsewhere
		s.Set("b", 2)
		c.Set("X-Handler", "ran")
		return c.SendString("handler response")
	})
	base := listen(t, f)
	resp, err := client.Get(base + "/new")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.AddCookie(resp.Cookies()[0])
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("X-Handler") != "" {
		t.Fatalf("status %d, X-Handler %q; want 409 from the error handler, the handler's response discarded", resp.StatusCode, resp.Header.Get("X-Handler"))
	}
}
