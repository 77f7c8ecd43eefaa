// Command example is the view counter on fiber with seshat: GET / counts
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

	"github.com/gofiber/fiber/v3"
	"github.com/redis/go-redis/v9"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/fiberseshat"
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

	app := fiber.New()
	app.Use(fiberseshat.Middleware(m))
	fail := func(err error) error { return fiber.NewError(seshat.StatusCode(err), err.Error()) }
	app.Get("/", func(c fiber.Ctx) error {
		n, err := fiberseshat.Session(c).Incr("views", 1)
		if err != nil {
			return fail(err)
		}
		return c.SendString(fmt.Sprintf("Number of views: %d", n))
	})
	app.Post("/login", func(c fiber.Ctx) error {
		s := fiberseshat.Session(c)
		if err := s.Regenerate(); err != nil {
			return fail(err)
		}
		if err := s.SetUser(c.Query("user")); err != nil {
			return fail(err)
		}
		return c.SendString("logged in")
	})
	app.Post("/logout", func(c fiber.Ctx) error {
		if err := fiberseshat.Session(c).Destroy(); err != nil {
			return fail(err)
		}
		return c.SendString("logged out")
	})
	log.Fatal(app.Listen(*addr))
}
