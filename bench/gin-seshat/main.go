// Command gin-seshat is the benchmark's view counter on gin with
// ginseshat (seshat's gin middleware) on Redis.
package main

import (
	"flag"
	"log"

	"github.com/gin-gonic/gin"
	"github.com/seshat-go/seshat/ginseshat"

	"github.com/seshat-go/seshat/bench/internal/seshatcounter"
	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

func main() {
	addr, redisAddr := viewcounter.Flags()
	secret := flag.String("secret", "bench-secret-bench-secret-bench-secret", "cookie signing secret")
	memory := flag.Bool("memory", false, "keep sessions in this process (memstore) instead of Redis")
	flag.Parse()
	if *memory {
		*redisAddr = ""
	}
	m, err := seshatcounter.Manager(*redisAddr, *secret)
	if err != nil {
		log.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(ginseshat.Middleware(m))
	answer := func(c *gin.Context) func(int, string) {
		return func(code int, body string) { c.Data(code, "text/plain; charset=utf-8", []byte(body)) }
	}
	s := ginseshat.Session
	r.GET("/", func(c *gin.Context) { answer(c)(seshatcounter.Index(s(c))) })
	r.GET("/read", func(c *gin.Context) { answer(c)(seshatcounter.Read(s(c))) })
	r.GET("/login", func(c *gin.Context) { answer(c)(seshatcounter.Login(s(c), c.Query("user"))) })
	r.GET("/logout", func(c *gin.Context) { answer(c)(seshatcounter.Logout(s(c))) })
	r.GET("/whoami", func(c *gin.Context) { answer(c)(seshatcounter.Whoami(s(c))) })
	log.Printf("gin-seshat listening on %s (redis %s)", *addr, *redisAddr)
	log.Fatal(r.Run(*addr))
}
