// Command fiber-seshat is the benchmark's view counter on fiber with
// fiberseshat (seshat's native fiber middleware) on Redis. With -adaptor
// it is instead seshat's net/http middleware and handlers run inside
// fiber through fiber's net/http adaptor (middleware/adaptor), to measure
// what the native middleware saves.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/adaptor"
	"github.com/seshat-go/seshat/fiberseshat"

	"github.com/seshat-go/seshat/bench/internal/seshatcounter"
	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

func main() {
	addr, redisAddr := viewcounter.Flags()
	secret := flag.String("secret", "bench-secret-bench-secret-bench-secret", "cookie signing secret")
	viaAdaptor := flag.Bool("adaptor", false, "seshat's net/http middleware and handlers through fiber's adaptor instead of the native middleware")
	memory := flag.Bool("memory", false, "keep sessions in this process (memstore) instead of Redis")
	flag.Parse()
	if *memory {
		*redisAddr = ""
	}
	m, err := seshatcounter.Manager(*redisAddr, *secret)
	if err != nil {
		log.Fatal(err)
	}
	app := fiber.New()
	if *viaAdaptor {
		mux := http.NewServeMux()
		route := func(path string, f func(r *http.Request) (int, string)) {
			mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
				code, body := f(r)
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(code)
				w.Write([]byte(body))
			})
		}
		route("/{$}", func(r *http.Request) (int, string) { return seshatcounter.Index(m.Session(r)) })
		route("/read", func(r *http.Request) (int, string) { return seshatcounter.Read(m.Session(r)) })
		route("/login", func(r *http.Request) (int, string) { return seshatcounter.Login(m.Session(r), r.FormValue("user")) })
		route("/logout", func(r *http.Request) (int, string) { return seshatcounter.Logout(m.Session(r)) })
		route("/whoami", func(r *http.Request) (int, string) { return seshatcounter.Whoami(m.Session(r)) })
		app.Use(adaptor.HTTPHandler(m.Handler(mux)))
	} else {
		app.Use(fiberseshat.Middleware(m))
		answer := func(c fiber.Ctx) func(int, string) error {
			return func(code int, body string) error { return c.Status(code).SendString(body) }
		}
		s := fiberseshat.Session
		app.Get("/", func(c fiber.Ctx) error { return answer(c)(seshatcounter.Index(s(c))) })
		app.Get("/read", func(c fiber.Ctx) error { return answer(c)(seshatcounter.Read(s(c))) })
		app.Get("/login", func(c fiber.Ctx) error { return answer(c)(seshatcounter.Login(s(c), c.Query("user"))) })
		app.Get("/logout", func(c fiber.Ctx) error { return answer(c)(seshatcounter.Logout(s(c))) })
		app.Get("/whoami", func(c fiber.Ctx) error { return answer(c)(seshatcounter.Whoami(s(c))) })
	}
	log.Printf("fiber-seshat (adaptor %v) listening on %s (redis %s)", *viaAdaptor, *addr, *redisAddr)
	log.Fatal(app.Listen(*addr, fiber.ListenConfig{DisableStartupMessage: true}))
}
