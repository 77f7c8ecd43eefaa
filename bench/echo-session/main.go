// Command echo-session is the benchmark's view counter on echo with
// github.com/labstack/echo-contrib/session (gorilla/sessions) on
// github.com/boj/redistore (a redigo pool of 10): default options, the
// gob serializer, the whole session saved by Save. Login deletes the old
// record and saves under a fresh ID, as the gorilla app does.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/boj/redistore"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo-contrib/session"
	"github.com/labstack/echo/v4"

	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

const keyPrefix = "session_" // redistore's default, set explicitly for login

func main() {
	addr, redisAddr := viewcounter.Flags()
	secret := flag.String("secret", "bench-secret-bench-secret-bench-secret", "cookie signing secret")
	flag.Parse()
	rs, err := redistore.NewRediStore(10, "tcp", *redisAddr, "", "", []byte(*secret))
	if err != nil {
		log.Fatal(err)
	}
	rs.SetKeyPrefix(keyPrefix)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(session.Middleware(rs))
	text := func(c echo.Context, code int, format string, args ...any) error {
		return c.String(code, fmt.Sprintf(format, args...))
	}
	get := func(c echo.Context) (*sessions.Session, error) {
		s, err := session.Get("session", c)
		if s == nil {
			return nil, err
		}
		return s, nil // a cookie that does not decode: a new session
	}
	e.GET("/", func(c echo.Context) error {
		s, err := get(c)
		if err != nil {
			return text(c, http.StatusServiceUnavailable, "store: %v", err)
		}
		n, _ := s.Values["views"].(int)
		n++
		s.Values["views"] = n
		if err := s.Save(c.Request(), c.Response()); err != nil {
			return text(c, http.StatusServiceUnavailable, "store: %v", err)
		}
		return text(c, http.StatusOK, "Number of views: %d\n", n)
	})
	e.GET("/read", func(c echo.Context) error {
		s, err := get(c)
		if err != nil {
			return text(c, http.StatusServiceUnavailable, "store: %v", err)
		}
		n, _ := s.Values["views"].(int)
		return text(c, http.StatusOK, "Number of views: %d\n", n)
	})
	e.GET("/login", func(c echo.Context) error {
		user := strings.TrimSpace(c.QueryParam("user"))
		if user == "" || len(user) > 128 {
			return text(c, http.StatusBadRequest, "user is required (at most 128 bytes)")
		}
		s, err := get(c)
		if err != nil {
			return text(c, http.StatusServiceUnavailable, "store: %v", err)
		}
		if s.ID != "" {
			conn := rs.Pool.Get()
			_, err := conn.Do("DEL", keyPrefix+s.ID)
			conn.Close()
			if err != nil {
				return text(c, http.StatusServiceUnavailable, "store: %v", err)
			}
			s.ID = ""
		}
		s.Values["user"] = user
		if err := s.Save(c.Request(), c.Response()); err != nil {
			return text(c, http.StatusServiceUnavailable, "store: %v", err)
		}
		return text(c, http.StatusOK, "Logged in as %s\n", user)
	})
	e.GET("/logout", func(c echo.Context) error {
		s, err := get(c)
		if err != nil {
			return text(c, http.StatusServiceUnavailable, "store: %v", err)
		}
		s.Options.MaxAge = -1
		if err := s.Save(c.Request(), c.Response()); err != nil {
			return text(c, http.StatusServiceUnavailable, "store: %v", err)
		}
		return text(c, http.StatusOK, "Logged out\n")
	})
	e.GET("/whoami", func(c echo.Context) error {
		s, err := get(c)
		if err != nil {
			return text(c, http.StatusServiceUnavailable, "store: %v", err)
		}
		user, _ := s.Values["user"].(string)
		if user == "" {
			return text(c, http.StatusUnauthorized, "not logged in")
		}
		return text(c, http.StatusOK, "%s\n", user)
	})
	log.Printf("echo-session listening on %s (redis %s)", *addr, *redisAddr)
	log.Fatal(e.Start(*addr))
}
