package expresscompat_test

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/expresscompat"
)

// The Node app's settings, copied into Options: the Go service is one more
// instance of the app.
//
//	app.use(session({
//	  name: "app.sid",
//	  secret: ["the express secret", "an older one"],
//	  rolling: true,
//	  store: new RedisStore({ client, prefix: "app:" }),
//	  cookie: { maxAge: 2 * 3600 * 1000, domain: "example.com", sameSite: "lax", secure: true },
//	}))
func ExampleStore_ManagerOptions() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}) // connects on first use
	defer client.Close()
	st, err := expresscompat.New(client, expresscompat.Options{
		Name:    "app.sid",
		Secrets: []string{"the express secret", "an older one"},
		Rolling: true,
		Prefix:  "app:",
		Cookie:  expresscompat.Cookie{MaxAge: 2 * time.Hour, Domain: "example.com", SameSite: "lax", Secure: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	o, err := st.ManagerOptions()
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := seshat.New(o)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = m.Handler // the middleware, as usual
	fmt.Println(o.CookieName, o.IdleTimeout, o.RollingCookie)
	// Output: app.sid 2h0m0s true
}
