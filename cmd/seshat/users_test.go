package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/redisstore/redistest"
)

// With encryption off, Redis holds no user ID in the clear: not in the
// sessions, not in the user indexes, not in the event stream, and not in
// the RDB file Redis writes (its in-memory data, whole). The notes, stored
// in the clear, show that the dump would have found one.
func TestNoUserIDInARedisDumpWithoutEncryption(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client(t)
	common := []string{"--redis", srv.URL(), "--secret", "user-dump-secret-0123456789abcdef0", "--events"}
	base, _ := runServe(t, common...)
	web := testhttp.New(t, base)
	const user, note = "zelda.unique.user", "plain-note-qwxz"
	_, _, c := web.Do("GET", "/", "", nil)
	_, _, c = web.Do("POST", "/login", c, url.Values{"user": {user}})
	web.Do("POST", "/note", c, url.Values{"text": {note}})
	_, _, c2 := web.Do("POST", "/login", "", url.Values{"user": {user}})
	web.Do("POST", "/logout", c2, nil)
	if code, body, _ := web.Do("GET", "/whoami", c, nil); code != 200 || body != user+"\n" {
		t.Fatalf("whoami %d %q", code, body)
	}
	if out, err := run(t, append([]string{"sessions", "list", "--user", user}, common...)...); err != nil || !strings.Contains(out, user) {
		t.Fatalf("sessions list --user: %v\n%s", err, out)
	}

	d := dump(t, admin)
	if !strings.Contains(d, note) {
		t.Fatalf("the dump does not show the note stored in the clear: it reads too little\n%s", d)
	}
	if !strings.Contains(d, "events stream") || strings.Count(d, "destroyed") == 0 {
		t.Fatalf("the dump has no event stream with the logout in it:\n%s", d)
	}
	if strings.Contains(d, user) || strings.Contains(d, "zelda") {
		t.Fatalf("the dump holds the user ID:\n%s", d)
	}
	admin.ConfigSet(t.Context(), "rdbcompression", "no")
	if err := admin.Save(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	rdb, err := os.ReadFile(filepath.Join(srv.Dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rdb), note) {
		t.Fatal("the RDB file does not show the note stored in the clear")
	}
	if strings.Contains(string(rdb), "zelda") {
		t.Fatal("the RDB file holds the user ID")
	}
}

// sessions export --user prints the user's sessions, values decoded, and
// nothing of anyone else's; erase ends them and removes their events.
func TestSessionsExportAndErase(t *testing.T) {
	srv := redistest.Start(t)
	common := []string{"--redis", srv.URL(), "--secret", "export-test-secret-0123456789abcdef", "--hash-key", hashKey, "--events"}
	base, _ := runServe(t, common...)
	web := testhttp.New(t, base)
	login := func(user, note string) string {
		_, _, c := web.Do("POST", "/login", "", url.Values{"user": {user}})
		web.Do("POST", "/note", c, url.Values{"text": {note}})
		web.Do("GET", "/", c, nil)
		return c
	}
	bob1 := login("bob", "bob-note-one")
	login("bob", "bob-note-two")
	ann := login("ann", "ann-secret-note")

	out, err := run(t, append([]string{"sessions", "export", "--user", "bob"}, common...)...)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	var ex seshat.UserExport
	if err := json.Unmarshal([]byte(out), &ex); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, out)
	}
	if ex.User != "bob" || len(ex.Sessions) != 2 {
		t.Fatalf("export: %+v", ex)
	}
	notes := map[any]bool{}
	for _, s := range ex.Sessions {
		notes[s.Values["note"]] = true
		if s.User != "bob" || s.Device == nil || s.Device.Network != "127.0.0.0/24" || s.Values["views"] != float64(1) {
			t.Errorf("exported session %+v (device %+v)", s, s.Device)
		}
	}
	if !notes["bob-note-one"] || !notes["bob-note-two"] {
		t.Fatalf("export notes %v", notes)
	}
	annHandle := handleOf(t, ann)
	for _, s := range []string{"ann", annHandle} {
		if strings.Contains(out, s) {
			t.Fatalf("bob's export holds %q:\n%s", s, out)
		}
	}

	out, err = run(t, append([]string{"sessions", "list", "--user", "bob"}, common...)...)
	if err != nil || strings.Count(out, "127.0.0.0/24") != 2 || !strings.Contains(out, "NETWORK") {
		t.Fatalf("sessions list --user bob shows no devices: %v\n%s", err, out)
	}

	out, err = run(t, append([]string{"sessions", "erase", "--user", "bob"}, common...)...)
	if err != nil || !strings.Contains(out, "erased bob: 2 sessions ended, ") || strings.Contains(out, " 0 events removed") {
		t.Fatalf("erase: %v\n%s", err, out)
	}
	if code, _, _ := web.Do("GET", "/whoami", bob1, nil); code != 401 {
		t.Fatalf("bob's session after erase: whoami %d", code)
	}
	if code, body, _ := web.Do("GET", "/whoami", ann, nil); code != 200 || body != "ann\n" {
		t.Fatalf("ann after bob's erasure: %d %q", code, body)
	}
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("export-test-secret-0123456789abcdef")}, HashKey: []byte(hashKey)})
	if err != nil {
		t.Fatal(err)
	}
	d := dump(t, srv.Client(t))
	if strings.Contains(d, m.UserKey("bob")) {
		t.Fatalf("after erase, the store still names bob's key:\n%s", d)
	}
	if !strings.Contains(d, m.UserKey("ann")) {
		t.Fatalf("ann's key is gone too:\n%s", d)
	}
	// Gone from Redis's memory too, not only from what XRANGE shows: the
	// RDB file (written uncompressed) holds ann's key and not bob's.
	admin := srv.Client(t)
	admin.ConfigSet(t.Context(), "rdbcompression", "no")
	if err := admin.Save(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	rdb, err := os.ReadFile(filepath.Join(srv.Dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rdb, []byte(m.UserKey("bob"))) || !bytes.Contains(rdb, []byte(m.UserKey("ann"))) {
		t.Fatalf("after erase, the RDB file holds bob's key %v, ann's %v; want only ann's",
			bytes.Contains(rdb, []byte(m.UserKey("bob"))), bytes.Contains(rdb, []byte(m.UserKey("ann"))))
	}
	if out, err := run(t, append([]string{"sessions", "export"}, common...)...); err == nil {
		t.Fatalf("export without --user succeeded:\n%s", out)
	}
}

// handleOf is the handle of a cookie's session.
func handleOf(t *testing.T, cookie string) string {
	t.Helper()
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("export-test-secret-0123456789abcdef")}, HashKey: []byte(hashKey)})
	if err != nil {
		t.Fatal(err)
	}
	h, ok := m.HandleOf(cookie)
	if !ok {
		t.Fatalf("cookie %q does not verify", cookie)
	}
	return h
}
