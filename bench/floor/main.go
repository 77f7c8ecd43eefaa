// Command floor is the benchmark's baseline: the view counter on bare
// go-redis, with no session library and exactly one Redis round trip per
// request. The cookie value is a random ID used directly as the Redis key
// (unsigned, unvalidated: a measuring stick, not something to deploy).
package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	cookieName = "sid"
	ttl        = 30 * time.Minute
)

func main() {
	addr := flag.String("addr", envOr("BENCH_ADDR", "127.0.0.1:8080"), "listen address (env BENCH_ADDR)")
	redisAddr := flag.String("redis", envOr("REDIS_ADDR", "127.0.0.1:6379"), "Redis host:port (env REDIS_ADDR)")
	flag.Parse()

	a := &app{rdb: redis.NewClient(&redis.Options{Addr: *redisAddr})}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", a.index)
	mux.HandleFunc("/read", a.read)
	mux.HandleFunc("/login", a.login)
	mux.HandleFunc("/logout", a.logout)
	mux.HandleFunc("/whoami", a.whoami)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("floor listening on %s (redis %s)", *addr, *redisAddr)
	log.Fatal(srv.ListenAndServe())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type app struct{ rdb *redis.Client }

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

func text(w http.ResponseWriter, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, format, args...)
}

func fail(w http.ResponseWriter, err error) {
	http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
}

// index: HINCRBY for a known ID; for a new one, HSET and EXPIRE in one
// pipeline (one round trip).
func (a *app) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if id := sid(r); id != "" {
		n, err := a.rdb.HIncrBy(ctx, id, "views", 1).Result()
		if err != nil {
			fail(w, err)
			return
		}
		text(w, "Number of views: %d\n", n)
		return
	}
	id := newID()
	_, err := a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, id, "views", 1)
		p.Expire(ctx, id, ttl)
		return nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	setCookie(w, id, int(ttl/time.Second))
	text(w, "Number of views: 1\n")
}

// read: one HGET.
func (a *app) read(w http.ResponseWriter, r *http.Request) {
	var n int64
	if id := sid(r); id != "" {
		v, err := a.rdb.HGet(r.Context(), id, "views").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			fail(w, err)
			return
		}
		n = v
	}
	text(w, "Number of views: %d\n", n)
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

func (a *app) login(w http.ResponseWriter, r *http.Request) {
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
	text(w, "Logged in as %s\n", user)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if id := sid(r); id != "" {
		if err := a.rdb.Del(r.Context(), id).Err(); err != nil {
			fail(w, err)
			return
		}
	}
	setCookie(w, "", -1)
	text(w, "Logged out\n")
}

func (a *app) whoami(w http.ResponseWriter, r *http.Request) {
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
	text(w, "%s\n", user)
}
