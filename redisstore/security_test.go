package redisstore_test

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

func TestTLS(t *testing.T) {
	srv := redistest.StartTLS(t)
	st, err := redisstore.Open(patient(srv.URL()), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	conformance(t, st.Client())

	// Without the client certificate, or trusting another CA, nothing works.
	other := redistest.StartTLS(t)
	for name, u := range map[string]string{
		"no client certificate": "rediss://127.0.0.1:" + itoa(srv.TLSPort) + "?tls_ca_file=" + url.QueryEscape(srv.CAFile),
		"unknown CA":            strings.Replace(srv.URL(), url.QueryEscape(srv.CAFile), url.QueryEscape(other.CAFile), 1),
		"system CAs":            "rediss://127.0.0.1:" + itoa(srv.TLSPort),
	} {
		bad, err := redisstore.Open(u, redisstore.Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = bad.Load(t.Context(), "k", store.LoadOptions{Now: time.Now()})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: Load = %v; want store.ErrUnavailable", name, err)
		}
		bad.Close()
	}
}

func TestLeastPrivilegeACL(t *testing.T) {
	for _, top := range []string{"standalone", "cluster"} {
		t.Run(top, func(t *testing.T) {
			var admins []*redis.Client
			var u string
			switch top {
			case "standalone":
				srv := redistest.Start(t)
				admins = []*redis.Client{srv.Client(t)}
				u = "redis://seshat:s3cret-pass@" + srv.Addr()
			case "cluster":
				c := redistest.StartCluster(t, 3, 0)
				for _, m := range c.Masters {
					admins = append(admins, m.Client(t))
				}
				u = "redis+cluster://seshat:s3cret-pass@" + strings.Join(c.Addrs(), ",")
			}
			for _, a := range admins {
				args := []any{"ACL", "SETUSER", "seshat", "on", ">s3cret-pass", "resetkeys", "resetchannels"}
				for _, r := range strings.Fields(redisstore.ACL) {
					args = append(args, r)
				}
				if err := a.Do(t.Context(), args...).Err(); err != nil {
					t.Fatalf("ACL SETUSER: %v", err)
				}
			}
			st, err := redisstore.Open(patient(u), redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			conformanceUnder(t, st.Client(), "seshat:")
			if top == "standalone" {
				// The client-side cache as the same user: HELLO with AUTH,
				// CLIENT TRACKING and ROLE on its own connection.
				storetest.Run(t, func(t *testing.T) store.Store {
					return cachedStore(t, st.Client(), fmt.Sprintf("seshat:c%d:", prefixes.Add(1)))
				})
			}

			// Anything outside the ACL is refused by Redis itself.
			c := st.Client()
			ctx := t.Context()
			for name, cmd := range map[string]*redis.Cmd{
				"FLUSHALL":             c.Do(ctx, "FLUSHALL"),
				"CONFIG GET":           c.Do(ctx, "CONFIG", "GET", "maxmemory"),
				"KEYS":                 c.Do(ctx, "KEYS", "*"),
				"GET outside seshat:":  c.Do(ctx, "GET", "other:key"),
				"HSET outside seshat:": c.Do(ctx, "HSET", "other:key", "f", "v"),
				"GET under seshat:":    c.Do(ctx, "GET", "seshat:x"),
				"RENAME outside":       c.Do(ctx, "RENAME", "other:x", "other:y"),
				"XDEL under seshat:":   c.Do(ctx, "XDEL", "seshat:events", "0-1"),
				"SCRIPT FLUSH":         c.Do(ctx, "SCRIPT", "FLUSH"),
			} {
				if err := cmd.Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
					t.Errorf("%s as the seshat user: %v; want NOPERM", name, err)
				}
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// patient gives a test's store URL a 2 s wait for a pooled connection
// instead of the store's 300 ms: the conformance suite's 100 parallel
// commits must not fail for a busy machine (see lossyConformance).
func patient(u string) string {
	if strings.Contains(u, "?") {
		return u + "&pool_timeout=2s"
	}
	return u + "?pool_timeout=2s"
}
