// Command echo-seshat is the benchmark's view counter on echo with
// echoseshat (seshat's echo middleware) on Redis.
package main

import (
	"flag"
	"log"

	"github.com/labstack/echo/v4"
	"github.com/seshat-go/seshat/echoseshat"

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
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(echoseshat.Middleware(m))
	answer := func(c echo.Context) func(int, string) error {
		return func(code int, body string) error { return c.String(code, body) }
	}
	s := echoseshat.Session
	e.GET("/", func(c echo.Context) error { return answer(c)(seshatcounter.Index(s(c))) })
	e.GET("/read", func(c echo.Context) error { return answer(c)(seshatcounter.Read(s(c))) })
	e.GET("/login", func(c echo.Context) error { return answer(c)(seshatcounter.Login(s(c), c.QueryParam("user"))) })
	e.GET("/logout", func(c echo.Context) error { return answer(c)(seshatcounter.Logout(s(c))) })
	e.GET("/whoami", func(c echo.Context) error { return answer(c)(seshatcounter.Whoami(s(c))) })
	log.Printf("echo-seshat listening on %s (redis %s)", *addr, *redisAddr)
	log.Fatal(e.Start(*addr))
}
