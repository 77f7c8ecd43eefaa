// Command floor is the benchmark's baseline: the view counter on bare
// go-redis, with no session library and exactly one Redis round trip per
// request. The cookie value is a random ID used directly as the Redis key
// (unsigned, unvalidated: a measuring stick, not something to deploy).
//
// With -autopipeline (the runner's floor+pipeline) every command goes
// through go-redis's autopipeliner (client.AutoPipeline(), the blocking
// face), so the commands of concurrent requests share round trips; a
// creation's HSET and EXPIRE go through the deferred face
// (client.AsyncAutoPipeline()), submitted together and waited for together,
// so they stay one trip (they were one pipeline).
//
// With -pg URL it is the baseline on PostgreSQL instead (pg.go): bare pgx,
// one statement (one round trip) per request.
package main

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

const (
	cookieName = "sid"
	ttl        = 30 * time.Minute
)

func main() {
	addr, redisAddr := viewcounter.Flags()
	pgURL := viewcounter.PGFlag()
	autopipeline := flag.Bool("autopipeline", false, "send every command through go-redis's autopipeliner (client.AutoPipeline())")
	flag.Parse()

	if *pgURL != "" {
		if *autopipeline {
			log.Fatal("-autopipeline is go-redis's: not with -pg")
		}
		viewcounter.Serve("floor", *addr, viewcounter.Backend(*redisAddr, *pgURL, false), newPGApp(*pgURL), nil)
		return
	}
	client := redis.NewClient(&redis.Options{Addr: *redisAddr})
	a := &app{rdb: client, create: client}
	name := "floor"
	if *autopipeline {
		ap, err := client.AutoPipeline()
		if err != nil {
			log.Fatal(err)
		}
		async, err := client.AsyncAutoPipeline()
		if err != nil {
			log.Fatal(err)
		}
		a.rdb, a.create, a.async = ap, nil, async
		name = "floor+pipeline"
	}
	viewcounter.Serve(name, *addr, viewcounter.Backend(*redisAddr, "", false), a, nil)
}

// app sends its commands through rdb: the client, or its autopipeliner.
// A creation is one pipeline on create, or, with the autopipeliner, two
// commands submitted together on async.
type app struct {
	rdb    redis.Cmdable
	create *redis.Client
	async  *redis.AutoPipeliner
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sid(r *http.Request) string {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

func setCookie(w http.ResponseWriter, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// fail answers 503, and logs the error (the runner shows the log's end
// when an app answered anything but 2xx).
func fail(w http.ResponseWriter, err error) {
	log.Printf("answered 503: %v", err)
	http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
}

// Index: HINCRBY for a known ID; for a new one, HSET and EXPIRE in one
// pipeline (one round trip), or, with the autopipeliner, submitted together.
func (a *app) Index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if id := sid(r); id != "" {
		n, err := a.rdb.HIncrBy(ctx, id, "views", 1).Result()
		if err != nil {
			fail(w, err)
			return
		}
		viewcounter.Text(w, "Number of views: %d\n", n)
		return
	}
	id := newID()
	var err error
	if a.async != nil {
		// The deferred face returns at once; both are sent in one batch
		// (in order: one stream), and Err waits for each.
		hset, expire := a.async.HSet(ctx, id, "views", 1), a.async.Expire(ctx, id, ttl)
		err = cmp.Or(hset.Err(), expire.Err())
	} else {
		_, err = a.create.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, id, "views", 1)
			p.Expire(ctx, id, ttl)
			return nil
		})
	}
	if err != nil {
		fail(w, err)
		return
	}
	setCookie(w, id, int(ttl/time.Second))
	viewcounter.Text(w, "Number of views: 1\n")
}

// Read: one HGET.
func (a *app) Read(w http.ResponseWriter, r *http.Request) {
	var n int64
	if id := sid(r); id != "" {
		v, err := a.rdb.HGet(r.Context(), id, "views").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			fail(w, err)
			return
		}
		n = v
	}
	viewcounter.Text(w, "Number of views: %d\n", n)
}

// loginScript moves the session to a fresh ID and binds the user: one
// round trip.
var loginScript = redis.NewScript(`
if KEYS[1] ~= "" and redis.call("EXISTS", KEYS[1]) == 1 then
  redis.call("RENAME", KEYS[1], KEYS[2])
end
redis.call("HSET", KEYS[2], "user", ARGV[1])
redis.call("EXPIRE", KEYS[2], ARGV[2])
return 1`)

func (a *app) Login(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.FormValue("user"))
	if user == "" || len(user) > 128 {
		http.Error(w, "user is required (at most 128 bytes)", http.StatusBadRequest)
		return
	}
	id := newID()
	if err := loginScript.Run(r.Context(), a.rdb, []string{sid(r), id}, user, int(ttl/time.Second)).Err(); err != nil {
		fail(w, err)
		return
	}
	setCookie(w, id, int(ttl/time.Second))
	viewcounter.Text(w, "Logged in as %s\n", user)
}

func (a *app) Logout(w http.ResponseWriter, r *http.Request) {
	if id := sid(r); id != "" {
		if err := a.rdb.Del(r.Context(), id).Err(); err != nil {
			fail(w, err)
			return
		}
	}
	setCookie(w, "", -1)
	viewcounter.Text(w, "Logged out\n")
}

func (a *app) Whoami(w http.ResponseWriter, r *http.Request) {
	var user string
	if id := sid(r); id != "" {
		v, err := a.rdb.HGet(r.Context(), id, "user").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			fail(w, err)
			return
		}
		user = v
	}
	if user == "" {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	viewcounter.Text(w, "%s\n", user)
}
