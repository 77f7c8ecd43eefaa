package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/redisstore"
)

// FuzzSafe: whatever the input, safe's output holds nothing a terminal
// acts on, no tab or newline (so it stays in its table cell and row), and
// is either the input itself or its Go-quoted form, which unquotes back.
func FuzzSafe(f *testing.F) {
	for _, s := range append(hostileNames, "", "bob", "Zoë", `"`, `\`, "\u2028", "\U0001F600", "\xc2", "\xed\xa0\x80") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := safe(s)
		if !terminalSafe(out) || strings.ContainsAny(out, "\n\t\r") {
			t.Fatalf("safe(%q) = %q acts on a terminal", s, out)
		}
		if out == s {
			if strings.HasPrefix(s, `"`) {
				t.Fatalf("safe(%q) left a leading quote unquoted", s)
			}
			return
		}
		if back, err := strconv.Unquote(out); err != nil || back != s {
			t.Fatalf("safe(%q) = %s does not unquote back: %q, %v", s, out, back, err)
		}
	})
}

// FuzzJSONSafe: --json output holds nothing a terminal acts on and
// decodes to exactly what encoding/json alone would give.
func FuzzJSONSafe(f *testing.F) {
	for _, s := range append(hostileNames, "", "plain", "\u2028\u2029", "<&>", "\U0001F600", "\u00ad\u200b\ufeff") {
		f.Add(s, "value "+s)
	}
	f.Fuzz(func(t *testing.T, user, value string) {
		v := seshat.Snapshot{SessionInfo: seshat.SessionInfo{Handle: "h", User: user}, Values: map[string]any{value: []any{value, 1.5}}}
		var out strings.Builder
		if err := writeJSON(&out, v); err != nil {
			t.Fatal(err)
		}
		if !terminalSafe(out.String()) {
			t.Fatalf("JSON acts on a terminal: %q", out.String())
		}
		plain, _ := json.Marshal(v)
		var want, got any
		if err := json.Unmarshal(plain, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
			t.Fatalf("escaped JSON does not parse: %v\n%q", err, out.String())
		}
		a, _ := json.Marshal(want)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Fatalf("escaped JSON decodes differently:\n%s\n%s", a, b)
		}
	})
}

// FuzzArgs parses random command lines the way cobra does before running a
// command (find the command, parse its flags, check its arguments),
// without running it: no panic, a handle is accepted only in base64url,
// and an error message is printable once escaped.
func FuzzArgs(f *testing.F) {
	for _, line := range []string{
		"sessions\x00show\x00AAAAAAAAAAAAAAAA",
		"sessions\x00show\x00#",
		"sessions\x00show\x00abc}#",
		"sessions\x00show\x00\x1b[2J",
		"sessions\x00revoke\x00--user\x00bob\nalice",
		"sessions\x00revoke\x00AAAA\x00--user\x00bob",
		"sessions\x00list\x00--user\x00\x1b]0;x\x07\x00--json",
		"sessions\x00list\x00--redis\x00redis://127.0.0.1:1/0",
		"sessions\x00rekey\x00--encryption-key\x00%%%\x00--hash-key\x00k",
		"serve\x00--max-body-bytes\x00-1",
		"serve\x00--max-body-bytes\x0099999999999999999999999",
		"serve\x00--read-timeout\x001e9h",
		"serve\x00--keep-alive-timeout\x00-5s\x00--max-connections\x000",
		"serve\x00--max-header-bytes\x00\x00",
		"serve\x00--secret\x00short\x00--secret\x00\x00",
		"stats\x00--top\x00-3\x00--redis\x00redis+cluster://@,,",
		"doctor\x00--redis\x00redis://%zz",
		"nosuch\x00\xff",
		"--\x00serve",
	} {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		root := newRoot()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		c, rest, err := root.Find(args)
		if err == nil {
			err = c.ParseFlags(rest)
		}
		if err == nil {
			err = c.ValidateArgs(c.Flags().Args())
		}
		if err != nil {
			if msg := safe(err.Error()); !terminalSafe(msg) {
				t.Fatalf("error message acts on a terminal: %q", msg)
			}
			return
		}
		if c.Name() == "show" || c.Name() == "revoke" {
			for _, h := range c.Flags().Args() {
				if checkHandle(h) != nil {
					t.Fatalf("%s accepted %q as a handle", c.Name(), h)
				}
			}
		}
	})
}

// FuzzConfig builds the shared configuration from random --secret,
// --encryption-key, --hash-key and --redis values and their environment
// variables: no panic; what builds either makes a manager or fails with
// seshat.ErrInvalidOptions; no secret keeps surrounding space or is empty.
// A --redis URL is used only when it names loopback addresses (nothing
// here dials, but a store's client could) and no tls_ files (ParseURL
// reads them).
func FuzzConfig(f *testing.F) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	long := strings.Repeat("s", 32)
	for _, s := range [][6]string{
		{"", long, "", "", "", ""},
		{"", "", long + ", " + long + ",,", "", "", ""},
		{"", "short", "", "", "", ""},
		{"", "", "", key, "", long},
		{"", "", "", "", key + "," + key, long},
		{"", "", "", key, "", ""},
		{"", "", "", "%%%", "", long},
		{"", "", "", key[:20], "", long},
		{"", long + "\x00\x1b", "", "", "", ""},
		{"redis://127.0.0.1:1/0", long, "", "", "", ""},
		{"redis+sentinel://127.0.0.1:1,[::1]:2/m", long, "", "", "", ""},
		{"redis+cluster://127.0.0.1:1,127.0.0.1:2", long, "", "", "", ""},
		{"redis://127.0.0.1:1/99999999999", long, "", "", "", ""},
		{"redis://%zz", long, "", "", "", ""},
		{"redis://127.0.0.1:1?pool_size=-1&dial_timeout=x", long, "", "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	f.Fuzz(func(t *testing.T, redisURL, secretFlag, secretsEnv, keyFlag, keysEnv, hashKey string) {
		if redisURL != "" && !loopbackOnly(redisURL) {
			return
		}
		for _, v := range []string{redisURL, secretsEnv, keysEnv, hashKey} {
			if strings.ContainsRune(v, 0) {
				return // the environment cannot hold NUL
			}
		}
		t.Setenv("REDIS_URL", "")
		t.Setenv("SESHAT_STORE", "")
		t.Setenv("SESHAT_SECRETS", secretsEnv)
		t.Setenv("SESHAT_ENCRYPTION_KEYS", keysEnv)
		t.Setenv("SESHAT_HASH_KEY", "")
		c := config{store: storeFlags{redis: redisURL}, hashKey: hashKey}
		if secretFlag != "" {
			c.secrets = []string{secretFlag}
		}
		if keyFlag != "" {
			c.encKeys = []string{keyFlag}
		}
		su, err := c.build(context.Background(), io.Discard)
		if err != nil {
			return
		}
		defer su.close()
		for _, s := range su.opts.Secrets {
			if len(s) == 0 || strings.TrimSpace(string(s)) != string(s) {
				t.Fatalf("secret %q kept its spaces or is empty", s)
			}
		}
		if su.opts.Encryption != nil && len(su.opts.HashKey) == 0 {
			t.Fatal("encryption without a hash key")
		}
		if _, err := seshat.New(su.opts); err != nil && !errors.Is(err, seshat.ErrInvalidOptions) {
			t.Fatalf("seshat.New: %v; want ErrInvalidOptions", err)
		}
	})
}

// loopbackOnly reports whether a Redis URL parses, names only loopback
// addresses and reads no files.
func loopbackOnly(u string) bool {
	if strings.Contains(u, "tls_") {
		return false
	}
	o, err := redisstore.ParseURL(u)
	if err != nil {
		return false
	}
	for _, a := range o.Addrs {
		host, _, err := net.SplitHostPort(a)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}
