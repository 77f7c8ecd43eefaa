// Command example is the view counter on gin with seshat: GET / counts
// the visits of a session, POST /login?user=U regenerates it and records
// the user, POST /logout ends it. It keeps sessions in memory, or in Redis
// with -redis.
//
//	go run ./example -addr 127.0.0.1:3000 [-redis redis://127.0.0.1:6379]
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/ginseshat"
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

	r := gin.New()
	r.Use(gin.Recovery(), ginseshat.Middleware(m))
	r.GET("/", func(c *gin.Context) {
		n, err := ginseshat.Session(c).Incr("views", 1)
		if err != nil {
			c.String(seshat.StatusCode(err), err.Error())
			return
		}
		c.String(http.StatusOK, "Number of views: %d", n)
	})
	r.POST("/login", func(c *gin.Context) {
		s := ginseshat.Session(c)
		if err := s.Regenerate(); err != nil {
			c.String(seshat.StatusCode(err), err.Error())
			return
		}
		if err := s.SetUser(c.Query("user")); err != nil {
			c.String(seshat.StatusCode(err), err.Error())
			return
		}
		c.String(http.StatusOK, "logged in")
	})
	r.POST("/logout", func(c *gin.Context) {
		if err := ginseshat.Session(c).Destroy(); err != nil {
			c.String(seshat.StatusCode(err), err.Error())
			return
		}
		c.String(http.StatusOK, "logged out")
	})
	log.Printf("listening on http://%s", *addr)
	log.Fatal(r.Run(*addr))
}
