package main

import (
	"strings"
	"testing"
)

func TestStoreURL(t *testing.T) {
	const (
		pg    = "postgres://seshat@127.0.0.1:5432/db?sslmode=disable"
		redis = "redis://127.0.0.1:6379/0"
	)
	for _, c := range []struct {
		name             string
		store, redis     string // flags
		envStore, envURL string // SESHAT_STORE, REDIS_URL
		url              string
		kind             storeKind
		err              string
	}{
		{name: "nothing is memory", kind: storeMemory},
		{name: "memory by name", store: "memory", url: "memory", kind: storeMemory},
		{name: "memory:// too", store: "memory://", url: "memory://", kind: storeMemory},
		{name: "redis", store: redis, url: redis, kind: storeRedis},
		{name: "rediss", store: "rediss://h:6380", url: "rediss://h:6380", kind: storeRedis},
		{name: "sentinel", store: "redis+sentinel://h:26379/m", url: "redis+sentinel://h:26379/m", kind: storeRedis},
		{name: "cluster", store: "redis+cluster://a:1,b:2", url: "redis+cluster://a:1,b:2", kind: storeRedis},
		{name: "postgres", store: pg, url: pg, kind: storePostgres},
		{name: "postgresql", store: "postgresql://h/db", url: "postgresql://h/db", kind: storePostgres},
		{name: "--redis alone", redis: redis, url: redis, kind: storeRedis},
		{name: "--store and --redis agreeing", store: redis, redis: redis, url: redis, kind: storeRedis},
		{name: "--store and --redis differing", store: pg, redis: redis, err: "--store and --redis name different stores"},
		{name: "--redis with a PostgreSQL URL", redis: pg, err: "--redis takes a Redis URL"},
		{name: "REDIS_URL with a PostgreSQL URL", envURL: pg, err: "REDIS_URL takes a Redis URL"},
		{name: "SESHAT_STORE", envStore: pg, url: pg, kind: storePostgres},
		{name: "SESHAT_STORE memory", envStore: "memory", url: "memory", kind: storeMemory},
		{name: "REDIS_URL", envURL: redis, url: redis, kind: storeRedis},
		{name: "SESHAT_STORE wins over REDIS_URL", envStore: pg, envURL: redis, url: pg, kind: storePostgres},
		{name: "--store wins over SESHAT_STORE", store: redis, envStore: pg, url: redis, kind: storeRedis},
		{name: "--redis wins over SESHAT_STORE", redis: redis, envStore: pg, url: redis, kind: storeRedis},
		{name: "--store wins over REDIS_URL", store: pg, envURL: redis, url: pg, kind: storePostgres},
		{name: "unknown scheme", store: "mysql://root:hunter2@h/db", err: `unknown store scheme "mysql": give one of memory, redis://, rediss://, redis+sentinel://, redis+cluster://, postgres://, postgresql://`},
		{name: "unknown scheme from SESHAT_STORE", envStore: "mongodb://h", err: `unknown store scheme "mongodb"`},
		{name: "schemes are lower case", store: "POSTGRES://h/db", err: `unknown store scheme "POSTGRES"`},
		{name: "no scheme", store: "127.0.0.1:6379", err: "store URL has no scheme: give one of memory, redis://"},
		{name: "empty scheme", store: "://h", err: "store URL has no scheme"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SESHAT_STORE", c.envStore)
			t.Setenv("REDIS_URL", c.envURL)
			url, kind, err := storeFlags{store: c.store, redis: c.redis}.resolve()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %q, %v, %v; want the error %q", url, kind, err, c.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("the error quotes the URL's password: %v", err)
				}
				return
			}
			if err != nil || url != c.url || kind != c.kind {
				t.Fatalf("got %q, %v, %v; want %q, %v", url, kind, err, c.url, c.kind)
			}
		})
	}
}

func TestCommandsRefuseTheMemoryStore(t *testing.T) {
	t.Setenv("SESHAT_STORE", "")
	t.Setenv("REDIS_URL", "")
	for _, args := range [][]string{
		{"sessions", "list"}, {"sessions", "revoke", "--user", "bob", "--store", "memory"}, {"sessions", "rekey"},
		{"stats"}, {"doctor", "--store", "memory"},
	} {
		out, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), "needs --store URL") || !strings.Contains(err.Error(), "in-memory store") {
			t.Errorf("%q on the in-memory store: %v\n%s", args, err, out)
		}
	}
}

func TestMigrateWithoutSchema(t *testing.T) {
	t.Setenv("SESHAT_STORE", "")
	t.Setenv("REDIS_URL", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate"}, "nothing to migrate: the in-memory store keeps no schema\n"},
		{[]string{"migrate", "--store", "redis://127.0.0.1:1"}, "nothing to migrate: Redis keeps no schema\n"},
		{[]string{"migrate", "--redis", "redis://127.0.0.1:1", "--json"}, "{\n  \"store\": \"redis\",\n  \"message\": \"nothing to migrate: Redis keeps no schema\"\n}\n"},
	} {
		if out, err := run(t, c.args...); err != nil || out != c.want {
			t.Errorf("%q: %v, %q; want %q", c.args, err, out, c.want)
		}
	}
	if _, err := run(t, "migrate", "--store", "sqlite://x"); err == nil || !strings.Contains(err.Error(), `unknown store scheme "sqlite"`) {
		t.Errorf("migrate with an unknown scheme: %v", err)
	}
}

func TestServeRefusesLocalCacheWithoutRedis(t *testing.T) {
	for _, store := range []string{"postgres://seshat@127.0.0.1:1/x", "memory"} {
		_, err := run(t, "serve", "--addr", "127.0.0.1:0", "--store", store, "--local-cache")
		if err == nil || !strings.Contains(err.Error(), "--local-cache needs a Redis store") {
			t.Errorf("serve --store %s --local-cache: %v", store, err)
		}
	}
}
