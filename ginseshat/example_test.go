package ginseshat_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/gin-gonic/gin"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/ginseshat"
)

// The view counter on gin.
func Example() {
	m, err := seshat.New(seshat.Options{
		Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")},
	})
	if err != nil {
		panic(err)
	}
	r := gin.New()
	r.Use(ginseshat.Middleware(m))
	r.GET("/", func(c *gin.Context) {
		n, err := ginseshat.Session(c).Incr("views", 1)
		if err != nil {
			c.String(seshat.StatusCode(err), err.Error())
			return
		}
		c.String(http.StatusOK, "Number of views: %d", n)
	})
	srv := httptest.NewServer(r)
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
