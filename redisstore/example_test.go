package redisstore_test

import (
	"log"
	"net/http"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/redisstore"
)

// A store on Redis, from a URL (redis://, rediss://, redis+sentinel://,
// redis+cluster://), behind seshat's middleware.
func ExampleOpen() {
	st, err := redisstore.Open("redis://127.0.0.1:6379/0", redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("a-secret-of-at-least-32-bytes....")}})
	if err != nil {
		log.Fatal(err)
	}
	http.ListenAndServe(":8080", m.Handler(http.DefaultServeMux))
}

// Reads served from memory, invalidated by Redis: a change made anywhere
// is seen by every read that starts 100 ms after it, this instance's own
// changes at once.
func ExampleLocalCache() {
	st, err := redisstore.Open("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster", redisstore.Options{
		LocalCache: &redisstore.LocalCache{}, // Bound 100 ms, 10,000 sessions
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close() // stops the cache's own connections
	if stats, ok := st.CacheStats(); ok {
		log.Printf("cache: %d hits, %d misses, serving: %v", stats.Hits, stats.Misses, stats.Serving)
	}
}
