package express_test

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

func redisClient(t *testing.T, rawURL string) *redis.Client {
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}
