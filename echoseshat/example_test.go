package echoseshat_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/labstack/echo/v4"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/echoseshat"
)

// The view counter on echo.
func Example() {
	m, err := seshat.New(seshat.Options{
		Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")},
	})
	if err != nil {
		panic(err)
	}
	e := echo.New()
	e.Use(echoseshat.Middleware(m))
	e.GET("/", func(c echo.Context) error {
		n, err := echoseshat.Session(c).Incr("views", 1)
		if err != nil {
			return echo.NewHTTPError(seshat.StatusCode(err), err.Error())
		}
		return c.String(http.StatusOK, fmt.Sprintf("Number of views: %d", n))
	})
	srv := httptest.NewServer(e)
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(b))
	}
	// Output:
	// Number of views: 1
	// Number of views: 2
	// Number of views: 3
}
