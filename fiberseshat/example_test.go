package fiberseshat_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"

	"github.com/gofiber/fiber/v3"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/fiberseshat"
)

// The view counter on fiber.
func Example() {
	m, err := seshat.New(seshat.Options{
		Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")},
	})
	if err != nil {
		panic(err)
	}
	app := fiber.New()
	app.Use(fiberseshat.Middleware(m))
	app.Get("/", func(c fiber.Ctx) error {
		n, err := fiberseshat.Session(c).Incr("views", 1)
		if err != nil {
			return fiber.NewError(seshat.StatusCode(err), err.Error())
		}
		return c.SendString(fmt.Sprintf("Number of views: %d", n))
	})

	// app.Test serves one request without a listener.
	jar, _ := cookiejar.New(nil)
	for range 3 {
		req, _ := http.NewRequest("GET", "http://example.com/", nil)
		for _, c := range jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		resp, err := app.Test(req)
		if err != nil {
			panic(err)
		}
		jar.SetCookies(req.URL, resp.Cookies())
		b, _ := io.ReadAll(resp.Body)
		fmt.Println(string(b))
	}
	// Output:
	// Number of views: 1
	// Number of views: 2
	// Number of views: 3
}
