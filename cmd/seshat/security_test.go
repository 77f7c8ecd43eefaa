package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/seal"
)

func b64key() string { return base64.StdEncoding.EncodeToString(seal.NewKey()) }

const hashKey = "cli-test-hash-key-0123456789abcdef"

// dump returns every key and value in Redis as text.
func dump(t *testing.T, c *redis.Client) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	for _, k := range c.Keys(ctx, "*").Val() { // test code on a test server
		fmt.Fprintf(&b, "%s %s ", k, c.Type(ctx, k).Val())
		switch c.Type(ctx, k).Val() {
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				fmt.Fprintf(&b, "%s=%s ", f, v)
			}
		case "zset":
			fmt.Fprint(&b, c.ZRange(ctx, k, 0, -1).Val())
		case "string":
			fmt.Fprint(&b, c.Get(ctx, k).Val())
		case "stream":
			for _, m := range c.XRange(ctx, k, "-", "+").Val() {
				fmt.Fprint(&b, m.ID, m.Values, " ")
			}
		case "set":
			fmt.Fprint(&b, c.SMembers(ctx, k).Val())
		case "list":
			fmt.Fprint(&b, c.LRange(ctx, k, 0, -1).Val())
		default:
			t.Fatalf("key %q of type %q: the dump cannot read it", k, c.Type(ctx, k).Val())
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestNothingUsableInARedisDump(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client(t)
	key := b64key()
	base, _ := runServe(t, "--redis", srv.URL(), "--secret", "dump-test-secret-0123456789abcdef",
		"--encryption-key", key, "--hash-key", hashKey)
	web := testhttp.New(t, base)

	users := []string{"alice.liddell", "bob.marley.unique", "carol.singer.unique"}
	notes := []string{"my-bank-pin-9417", "the-password-hint-xyzzy", "private-diary-entry"}
	var cookies []string
	for i, u := range users {
		_, _, c := web.Do("GET", "/", "", nil)
		_, _, c = web.Do("POST", "/login", c, url.Values{"user": {u}})
		web.Do("POST", "/note", c, url.Values{"text": {notes[i]}})
		web.Do("GET", "/", c, nil)
		cookies = append(cookies, c)
	}
	d := dump(t, admin)
	if strings.Count(d, "\n") < 6 {
		t.Fatalf("dump has too few keys:\n%s", d)
	}
	for _, c := range cookies {
		id := c[:43]
		raw, _ := base64.RawURLEncoding.DecodeString(id)
		for _, needle := range []string{id, string(raw), c[44:]} {
			if strings.Contains(d, needle) {
				t.Errorf("the dump holds a session ID or signature from cookie %q", c)
			}
		}
	}
	for _, s := range append(users, notes...) {
		if strings.Contains(d, s) {
			t.Errorf("the dump holds %q in plaintext", s)
		}
	}

	// A ciphertext moved from alice's session to bob's does not decrypt.
	aliceKey, bobKey := redisKeyOf(t, cookies[0]), redisKeyOf(t, cookies[1])
	stolen := admin.HGet(t.Context(), aliceKey, "\x00user").Val()
	if stolen == "" {
		t.Fatal("no sealed user value in alice's session")
	}
	admin.HSet(t.Context(), bobKey, "\x00user", stolen)
	if code, body, _ := web.Do("GET", "/whoami", cookies[1], nil); code != http.StatusUnauthorized || strings.Contains(body, "alice") {
		t.Fatalf("bob's session with alice's sealed user ID: whoami %d %q; want 401", code, body)
	}
	if code, body, _ := web.Do("GET", "/whoami", cookies[0], nil); code != 200 || body != users[0]+"\n" {
		t.Fatalf("alice: whoami %d %q", code, body)
	}
}

// redisKeyOf returns the Redis key of a cookie's session, computed as the
// server does.
func redisKeyOf(t *testing.T, cookie string) string {
	t.Helper()
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("dump-test-secret-0123456789abcdef")}, HashKey: []byte(hashKey)})
	if err != nil {
		t.Fatal(err)
	}
	k, ok := m.HandleOf(cookie)
	if !ok {
		t.Fatalf("cookie %q does not verify", cookie)
	}
	st, err := redisstore.New(redis.NewClient(&redis.Options{}), redisstore.Options{}) // only for SessionKey
	if err != nil {
		t.Fatal(err)
	}
	return st.SessionKey(k)
}

func TestKeyRotationAcrossRestarts(t *testing.T) {
	srv := redistest.Start(t)
	oldKey, newKey := b64key(), b64key()
	common := []string{"--redis", srv.URL(), "--secret", "rotation-secret-0123456789abcdef0", "--hash-key", hashKey}

	base, _, stop := startServe(t, append(common, "--encryption-key", oldKey)...)
	web := testhttp.New(t, base)
	_, _, c := web.Do("GET", "/", "", nil)
	_, _, c = web.Do("POST", "/login", c, url.Values{"user": {"dana"}})
	web.Do("POST", "/note", c, url.Values{"text": {"kept across rotation"}})
	stop()

	// Restart with the new key first: the session stays alive.
	base, _, stop = startServe(t, append(common, "--encryption-key", newKey, "--encryption-key", oldKey)...)
	web.URL = base
	if code, body, _ := web.Do("GET", "/whoami", c, nil); code != 200 || body != "dana\n" {
		t.Fatalf("after adding the new key: whoami %d %q", code, body)
	}
	stop()

	// Re-encrypt everything under the new key, then retire the old one.
	cmd := newRoot()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(append([]string{"sessions", "rekey", "--encryption-key", newKey, "--encryption-key", oldKey}, common...))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("rekey: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "sessions: 1, re-encrypted: 4 values") { // views, note, the user, the device
		t.Errorf("rekey said %q", out.String())
	}
	base, _, _ = startServe(t, append(common, "--encryption-key", newKey)...)
	web.URL = base
	if code, body, _ := web.Do("GET", "/whoami", c, nil); code != 200 || body != "dana\n" {
		t.Fatalf("with only the new key after rekey: whoami %d %q", code, body)
	}
	if _, body, _ := web.Do("GET", "/read", c, nil); body != "Number of views: 1\n" {
		t.Fatalf("views after rotation: %q", body)
	}
}
