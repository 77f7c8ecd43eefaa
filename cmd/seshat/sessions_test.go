package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
)

func TestSessionsCommands(t *testing.T) {
	srv := redistest.Start(t)
	secret := "sessions-cli-secret-0123456789abcdef"
	base, _ := runServe(t, "--redis", srv.URL(), "--secret", secret)
	web := testhttp.New(t, base)
	login := func(user string) string {
		_, _, c := web.Do("POST", "/login", "", url.Values{"user": {user}})
		return c
	}
	bob := []string{login("bob"), login("bob"), login("bob")}
	ann := []string{login("ann"), login("ann")}
	for range 5 {
		web.Do("GET", "/", "", nil)
	}
	list := func(args ...string) []seshat.SessionInfo {
		out, err := run(t, append([]string{"sessions", "list", "--redis", srv.URL(), "--json"}, args...)...)
		if err != nil {
			t.Fatalf("sessions list: %v\n%s", err, out)
		}
		var infos []seshat.SessionInfo
		if err := json.Unmarshal([]byte(out), &infos); err != nil || !strings.HasPrefix(strings.TrimSpace(out), "[") {
			t.Fatalf("sessions list --json is not a JSON array: %v\n%s", err, out)
		}
		return infos
	}
	if got := list("--user", "bob"); len(got) != 3 || got[0].User != "bob" {
		t.Fatalf("list --user bob: %+v", got)
	}
	if got := list(); len(got) != 10 {
		t.Fatalf("list: %d sessions; want 10", len(got))
	}

	handle := list("--user", "ann")[0].Handle
	out, err := run(t, "sessions", "show", "--redis", srv.URL(), "--", handle)
	if err != nil || !strings.Contains(out, `"user": "ann"`) || !strings.Contains(out, `"handle": "`+handle+`"`) {
		t.Fatalf("show: %v\n%s", err, out)
	}

	// A hash holding an empty value and an empty field name (written by
	// anything but seshat) shows what it can read and marks the rest.
	st, err := redisstore.New(srv.Client(t), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).HSet(t.Context(), st.SessionKey(handle), "", "shi", "empty", "").Err(); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "sessions", "show", "--redis", srv.URL(), "--", handle)
	if err != nil || !strings.Contains(out, `"user": "ann"`) || !strings.Contains(out, `"": "hi"`) ||
		!strings.Contains(out, `"empty": "!cannot decode: empty value"`) {
		t.Fatalf("show of a session with an empty value and an empty name: %v\n%s", err, out)
	}

	out, err = run(t, "sessions", "revoke", "--redis", srv.URL(), "--user", "bob")
	if err != nil || !strings.Contains(out, "revoked 3 sessions of bob") {
		t.Fatalf("revoke --user bob: %v\n%s", err, out)
	}
	for _, c := range bob {
		if code, _, _ := web.Do("GET", "/whoami", c, nil); code != http.StatusUnauthorized {
			t.Fatalf("a cookie of bob after revoke --user: whoami %d", code)
		}
	}
	for _, c := range ann {
		if code, body, _ := web.Do("GET", "/whoami", c, nil); code != 200 || body != "ann\n" {
			t.Fatalf("ann after revoking bob: %d %q", code, body)
		}
	}
	if out, err := run(t, "sessions", "revoke", "--redis", srv.URL(), "--", handle); err != nil || !strings.Contains(out, "revoked "+handle) {
		t.Fatalf("revoke HANDLE: %v\n%s", err, out)
	}
	loggedOut := 0
	for _, c := range ann {
		if code, _, _ := web.Do("GET", "/whoami", c, nil); code == http.StatusUnauthorized {
			loggedOut++
		}
	}
	if loggedOut != 1 {
		t.Fatalf("revoking one of ann's two sessions logged out %d of them", loggedOut)
	}

	// Errors are clear and exit 1.
	// One handle in 64 starts with '-', which the flag parser takes for
	// flags: the error says to put it after --.
	if _, err := run(t, "sessions", "show", "--redis", srv.URL(), "-2JeEF1iXf1WoAEs"); err == nil || !strings.Contains(err.Error(), "goes after --") {
		t.Fatalf("show of a handle that starts with '-': %v; want a hint to use --", err)
	}
	if _, err := run(t, "sessions", "revoke", "--redis", srv.URL(), "-2JeEF1iXf1WoAEs"); err == nil || !strings.Contains(err.Error(), "goes after --") {
		t.Fatalf("revoke of a handle that starts with '-': %v; want a hint to use --", err)
	}
	if _, err := run(t, "sessions", "show", "--redis", srv.URL(), "no-such-handle"); err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Errorf("show of an unknown handle: %v", err)
	}
	if _, err := run(t, "sessions", "revoke", "--redis", srv.URL(), "no-such-handle"); err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Errorf("revoke of an unknown handle: %v", err)
	}
	dead := "redis://127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	if _, err := run(t, "sessions", "list", "--redis", dead); err == nil || !strings.Contains(err.Error(), "cannot reach Redis") {
		t.Errorf("list with Redis down: %v", err)
	}
	if _, err := run(t, "sessions", "revoke", "--redis", srv.URL()); err == nil {
		t.Error("revoke with neither a handle nor --user succeeded")
	}
}
