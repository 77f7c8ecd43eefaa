// Command gin-sessions is the benchmark's view counter on gin with
// github.com/gin-contrib/sessions and its Redis store (gorilla/sessions
// through boj/redistore, a redigo pool of 10): default options, the gob
// serializer, the whole session saved by Save. It has no regenerate:
// login keeps the session's ID.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/redis"
	"github.com/gin-gonic/gin"

	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

func main() {
	addr, redisAddr := viewcounter.Flags()
	secret := flag.String("secret", "bench-secret-bench-secret-bench-secret", "cookie signing secret")
	flag.Parse()
	store, err := redis.NewStore(10, "tcp", *redisAddr, "", "", []byte(*secret))
	if err != nil {
		log.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(sessions.Sessions("session", store))
	text := func(c *gin.Context, code int, format string, args ...any) {
		c.Data(code, "text/plain; charset=utf-8", fmt.Appendf(nil, format, args...))
	}
	save := func(c *gin.Context, s sessions.Session) bool {
		if err := s.Save(); err != nil {
			text(c, http.StatusServiceUnavailable, "store: %v", err)
			return false
		}
		return true
	}
	r.GET("/", func(c *gin.Context) {
		s := sessions.Default(c)
		n, _ := s.Get("views").(int)
		n++
		s.Set("views", n)
		if save(c, s) {
			text(c, http.StatusOK, "Number of views: %d\n", n)
		}
	})
	r.GET("/read", func(c *gin.Context) {
		n, _ := sessions.Default(c).Get("views").(int)
		text(c, http.StatusOK, "Number of views: %d\n", n)
	})
	r.GET("/login", func(c *gin.Context) {
		user := strings.TrimSpace(c.Query("user"))
		if user == "" || len(user) > 128 {
			text(c, http.StatusBadRequest, "user is required (at most 128 bytes)")
			return
		}
		s := sessions.Default(c)
		s.Set("user", user)
		if save(c, s) {
			text(c, http.StatusOK, "Logged in as %s\n", user)
		}
	})
	r.GET("/logout", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Clear()
		s.Options(sessions.Options{Path: "/", MaxAge: -1})
		if save(c, s) {
			text(c, http.StatusOK, "Logged out\n")
		}
	})
	r.GET("/whoami", func(c *gin.Context) {
		user, _ := sessions.Default(c).Get("user").(string)
		if user == "" {
			text(c, http.StatusUnauthorized, "not logged in")
			return
		}
		text(c, http.StatusOK, "%s\n", user)
	})
	log.Printf("gin-sessions listening on %s (redis %s)", *addr, *redisAddr)
	log.Fatal(r.Run(*addr))
}
