// Command example is the view counter on echo with seshat: GET / counts
// the visits of a session, POST /login?user=U regenerates it and records
// the user, POST /logout ends it. It keeps sessions in memory, or in Redis
// with -redis.
//
//	go run ./example -addr 127.0.0.1:3000 [-redis redis://127.0.0.1:6379]
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/echoseshat"
	"github.com/seshat-go/seshat/redisstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	redisURL := flag.String("redis", "", "Redis URL (default: sessions in memory)")
	flag.Parse()
	opts := seshat.Options{Secrets: [][]byte{[]byte("example secret: replace it with 32 random bytes")}}
	if *redisURL != "" {
		ro, err := redis.ParseURL(*redisURL)
		if err != nil {
			log.Fatal(err)
		}
		st, err := redisstore.New(redis.NewClient(ro), redisstore.Options{})
		if err != nil {
			log.Fatal(err)
		}
		opts.Store = st
	}
	m, err := seshat.New(opts)
	if err != nil {
		log.Fatal(err)
	}

	e := echo.New()
	e.Use(echoseshat.Middleware(m))
	fail := func(err error) error { return echo.NewHTTPError(seshat.StatusCode(err), err.Error()) }
	e.GET("/", func(c echo.Context) error {
		n, err := echoseshat.Session(c).Incr("views", 1)
		if err != nil {
			return fail(err)
		}
		return c.String(http.StatusOK, fmt.Sprintf("Number of views: %d", n))
	})
	e.POST("/login", func(c echo.Context) error {
		s := echoseshat.Session(c)
		if err := s.Regenerate(); err != nil {
			return fail(err)
		}
		if err := s.SetUser(c.QueryParam("user")); err != nil {
			return fail(err)
		}
		return c.String(http.StatusOK, "logged in")
	})
	e.POST("/logout", func(c echo.Context) error {
		if err := echoseshat.Session(c).Destroy(); err != nil {
			return fail(err)
		}
		return c.String(http.StatusOK, "logged out")
	})
	log.Fatal(e.Start(*addr))
}
