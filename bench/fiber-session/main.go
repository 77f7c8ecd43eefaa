// Command fiber-session is the benchmark's view counter on fiber with
// fiber's own session middleware (middleware/session) on
// github.com/gofiber/storage/redis/v3: default options, the whole session
// saved after the handler. Login regenerates the session's ID.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/session"
	"github.com/gofiber/storage/redis/v3"

	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

func main() {
	addr, redisAddr := viewcounter.Flags()
	flag.Parse()
	host, port, err := net.SplitHostPort(*redisAddr)
	if err != nil {
		log.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		log.Fatal(err)
	}
	storage := redis.New(redis.Config{Host: host, Port: p})
	app := fiber.New()
	app.Use(session.New(session.Config{Storage: storage}))
	text := func(c fiber.Ctx, code int, format string, args ...any) error {
		return c.Status(code).SendString(fmt.Sprintf(format, args...))
	}
	app.Get("/", func(c fiber.Ctx) error {
		s := session.FromContext(c)
		n, _ := s.Get("views").(int)
		n++
		s.Set("views", n)
		return text(c, http.StatusOK, "Number of views: %d\n", n)
	})
	app.Get("/read", func(c fiber.Ctx) error {
		n, _ := session.FromContext(c).Get("views").(int)
		return text(c, http.StatusOK, "Number of views: %d\n", n)
	})
	app.Get("/login", func(c fiber.Ctx) error {
		user := strings.TrimSpace(c.Query("user"))
		if user == "" || len(user) > 128 {
			return text(c, http.StatusBadRequest, "user is required (at most 128 bytes)")
		}
		s := session.FromContext(c)
		if err := s.Regenerate(); err != nil {
			return text(c, http.StatusServiceUnavailable, "store: %v", err)
		}
		s.Set("user", user)
		return text(c, http.StatusOK, "Logged in as %s\n", user)
	})
	app.Get("/logout", func(c fiber.Ctx) error {
		if err := session.FromContext(c).Destroy(); err != nil {
			return text(c, http.StatusServiceUnavailable, "store: %v", err)
		}
		return text(c, http.StatusOK, "Logged out\n")
	})
	app.Get("/whoami", func(c fiber.Ctx) error {
		user, _ := session.FromContext(c).Get("user").(string)
		if user == "" {
			return text(c, http.StatusUnauthorized, "not logged in")
		}
		return text(c, http.StatusOK, "%s\n", user)
	})
	log.Printf("fiber-session listening on %s (redis %s)", *addr, *redisAddr)
	log.Fatal(app.Listen(*addr, fiber.ListenConfig{DisableStartupMessage: true}))
}
