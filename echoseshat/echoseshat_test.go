package echoseshat_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/echoseshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

// serve routes the conformance suite's app with echo's router, behind
// Middleware, on echo's server (net/http's).
func serve(t *testing.T, app *storetest.App) string {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(echoseshat.Middleware(app.Manager))
	answer := func(c echo.Context) func(int, string) error {
		return func(code int, body string) error { return c.String(code, body) }
	}
	form := func(c echo.Context) (func(string) string, error) {
		f, err := c.FormParams()
		if err != nil {
			return nil, c.String(seshat.StatusCode(err), err.Error())
		}
		return f.Get, nil
	}
	e.GET("/", func(c echo.Context) error { return answer(c)(app.View(echoseshat.Session(c))) })
	e.GET("/read", func(c echo.Context) error { return answer(c)(app.Read(echoseshat.Session(c))) })
	e.POST("/set", func(c echo.Context) error {
		f, err := form(c)
		if f == nil {
			return err
		}
		return answer(c)(app.Set(echoseshat.Session(c), f("k"), f("v")))
	})
	e.POST("/login", func(c echo.Context) error {
		f, err := form(c)
		if f == nil {
			return err
		}
		return answer(c)(app.Login(echoseshat.Session(c), f("user")))
	})
	e.POST("/logout", func(c echo.Context) error { return answer(c)(app.Logout(echoseshat.Session(c))) })
	e.GET("/stream", func(c echo.Context) error {
		code, body := app.Stream(echoseshat.Session(c))
		c.Response().WriteHeader(code)
		body(c.Response(), func() error { c.Response().Flush(); return nil })
		return nil
	})
	srv := httptest.NewUnstartedServer(e)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConformanceMemstore(t *testing.T) {
	storetest.RunHTTP(t, func(t *testing.T) store.Store { return memstore.New() }, serve)
}

func TestConformanceRedis(t *testing.T) {
	client := redistest.Start(t).Client(t)
	var n atomic.Int64
	storetest.RunHTTP(t, func(t *testing.T) store.Store {
		s, err := redisstore.New(client, redisstore.Options{Prefix: fmt.Sprintf("t%d:", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, serve)
}

func TestSessionWithoutMiddlewarePanics(t *testing.T) {
	e := echo.New()
	e.GET("/", func(c echo.Context) (err error) {
		defer func() {
			if recover() == nil {
				t.Error("Session without the middleware did not panic")
			}
			err = c.NoContent(http.StatusNoContent)
		}()
		echoseshat.Session(c)
		return nil
	})
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d", w.Code)
	}
}

// A handler that returns an error commits its session before echo's
// error handler answers, as a net/http handler's http.Error does.
func TestErrorReturnedCommits(t *testing.T) {
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(echoseshat.Middleware(m))
	e.POST("/", func(c echo.Context) error {
		echoseshat.Session(c).Set("a", 1)
		return echo.NewHTTPError(http.StatusTeapot, "no")
	})
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
	if w.Code != http.StatusTeapot || w.Result().Cookies() == nil {
		t.Fatalf("status %d, cookies %v; want 418 with the session cookie", w.Code, w.Result().Cookies())
	}
}
