package ginseshat_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/ginseshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// serve routes the conformance suite's app with gin's router, behind
// Middleware, on gin's server (net/http's).
func serve(t *testing.T, app *storetest.App) string {
	r := gin.New()
	r.Use(ginseshat.Middleware(app.Manager))
	answer := func(c *gin.Context) func(int, string) {
		return func(code int, body string) { c.Data(code, "text/plain; charset=utf-8", []byte(body)) }
	}
	form := func(c *gin.Context) bool {
		if err := c.Request.ParseForm(); err != nil {
			c.String(seshat.StatusCode(err), err.Error())
			return false
		}
		return true
	}
	r.GET("/", func(c *gin.Context) { answer(c)(app.View(ginseshat.Session(c))) })
	r.GET("/read", func(c *gin.Context) { answer(c)(app.Read(ginseshat.Session(c))) })
	r.POST("/set", func(c *gin.Context) {
		if form(c) {
			answer(c)(app.Set(ginseshat.Session(c), c.Request.Form.Get("k"), c.Request.Form.Get("v")))
		}
	})
	r.POST("/login", func(c *gin.Context) {
		if form(c) {
			answer(c)(app.Login(ginseshat.Session(c), c.Request.Form.Get("user")))
		}
	})
	r.POST("/logout", func(c *gin.Context) { answer(c)(app.Logout(ginseshat.Session(c))) })
	r.GET("/stream", func(c *gin.Context) {
		code, body := app.Stream(ginseshat.Session(c))
		c.Status(code)
		body(c.Writer, func() error { c.Writer.Flush(); return nil })
	})
	srv := httptest.NewServer(r)
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
	r := gin.New()
	r.GET("/", func(c *gin.Context) {
		defer func() {
			if recover() == nil {
				t.Error("Session without the middleware did not panic")
			}
			c.Status(http.StatusNoContent)
		}()
		ginseshat.Session(c)
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d", w.Code)
	}
}

// A handler that sets only a status (gin writes it after the handlers
// return) still gets its session committed and its cookie sent.
func TestStatusOnlyResponseCommits(t *testing.T) {
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.Use(ginseshat.Middleware(m))
	r.POST("/", func(c *gin.Context) {
		ginseshat.Session(c).Set("a", 1)
		c.Status(http.StatusAccepted)
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
	if w.Code != http.StatusAccepted || w.Result().Cookies() == nil {
		t.Fatalf("status %d, cookies %v; want 202 with the session cookie", w.Code, w.Result().Cookies())
	}
}

// Hijacking the connection commits the session first: the cookie of a new
// session is in the store before the handler takes the connection over.
func TestHijackCommitsFirst(t *testing.T) {
	st := memstore.New()
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.Use(ginseshat.Middleware(m))
	r.GET("/", func(c *gin.Context) {
		s := ginseshat.Session(c)
		s.Set("a", 1)
		conn, _, err := c.Writer.Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		n, _ := st.Count(c, time.Now())
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n%d", n)
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "1" {
		t.Fatalf("sessions stored when the handler hijacked the connection: %s; want 1", b)
	}
}
