package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// hostileNames are user names an attacker might get stored (the demo
// refuses them at login, but another application on the same store may
// not): each would act on a terminal or forge a table row if printed raw.
var hostileNames = []string{
	"\x1b[2J\x1b[Hroot", // clear the screen
	"\x1b]0;pwned\x07",  // set the window title (OSC … BEL)
	"bob\nFAKEHANDLE00000\talice\t2026-01-01T00:00:00Z", // a forged row
	"bob\rmallory", // overwrite the line
	"nul\x00byte",
	"del\x7f",
	"\u009b31mred",  // C1 CSI
	"\u202eexe.gnp", // right-to-left override
	"a\u2066b\u2069",
	"\xff\x9b[31m", // invalid UTF-8; 0x9B alone is CSI in an 8-bit terminal
	"tab\there",
	`"quoted"`,
}

// terminalSafe reports what in s a terminal would act on.
func terminalSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' || r == 0x7f || 0x80 <= r && r < 0xa0 || 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069 {
			return false
		}
	}
	return true
}

func TestSafe(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"bob", "bob"},
		{"Zoë 山田", "Zoë 山田"},
		{`dom\user`, `dom\user`},
		{"\x1b[31mred", `"\x1b[31mred"`},
		{"a\nb", `"a\nb"`},
		{"a\tb", `"a\tb"`},
		{"\u009b", `"\u009b"`},
		{"x\u202ey", `"x\u202ey"`},
		{"\xff", `"\xff"`},
		{`"a"`, `"\"a\""`},
	} {
		if got := safe(tt.in); got != tt.want {
			t.Errorf("safe(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
	for _, name := range hostileNames {
		if got := safe(name); !terminalSafe(got) || strings.ContainsAny(got, "\n\t") {
			t.Errorf("safe(%q) = %q still acts on a terminal", name, got)
		}
	}
}

// TestJSONStaysExact: jsonSafe leaves no terminal control in the output,
// and the JSON decodes to exactly what was encoded.
func TestJSONStaysExact(t *testing.T) {
	for _, name := range append(hostileNames, "plain", "emoji 👩‍💻", "\U0001F600\u00a0") {
		var out bytes.Buffer
		if err := writeJSON(&out, seshat.SessionInfo{Handle: "h", User: name}); err != nil {
			t.Fatal(err)
		}
		if !terminalSafe(out.String()) {
			t.Errorf("JSON for %q acts on a terminal: %q", name, out.String())
		}
		var back seshat.SessionInfo
		if err := json.Unmarshal(out.Bytes(), &back); err != nil {
			t.Fatalf("%q: %v\n%s", name, err, out.String())
		}
		var want string // what encoding/json alone makes of it (invalid UTF-8 becomes U+FFFD)
		plain, _ := json.Marshal(name)
		json.Unmarshal(plain, &want)
		if back.User != want || utf8.ValidString(name) && want != name {
			t.Errorf("round trip of %q gave %q", name, back.User)
		}
	}
}

// TestTablesCannotBeForged: whatever the user names, the table has one
// line per session and five columns in each.
func TestTablesCannotBeForged(t *testing.T) {
	now := time.Now()
	var infos []seshat.SessionInfo
	for _, name := range hostileNames {
		infos = append(infos, seshat.SessionInfo{Handle: "AAAAAAAAAAAAAAAA", User: name, Created: now, LastSeen: now, ExpiresAt: now})
	}
	var out bytes.Buffer
	if err := printSessions(&out, infos); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1+len(infos) {
		t.Fatalf("%d lines for %d sessions:\n%s", len(lines), len(infos), out.String())
	}
	if !terminalSafe(out.String()) {
		t.Fatalf("the table holds terminal controls: %q", out.String())
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "AAAAAAAAAAAAAAAA  ") {
			t.Errorf("row does not start with its handle: %q", l)
		}
	}

	out.Reset()
	var top []redisstore.UserSessions
	for _, name := range hostileNames {
		top = append(top, redisstore.UserSessions{User: name, Sessions: 2})
	}
	printUsage(&out, redisstore.Usage{Sessions: 3, EvictionPolicy: "noeviction\x1b[8m", TopUsers: top})
	if n := strings.Count(out.String(), "\n"); n != 5+len(top) || !terminalSafe(out.String()) {
		t.Fatalf("stats: %d lines, want %d, or terminal controls:\n%q", n, 5+len(top), out.String())
	}

	out.Reset()
	printFindings(&out, []store.Finding{{Check: "version", Severity: "warning", Message: "redis_version \x1b[31m7\nsevere\tfake", Fix: "upgrade\r"}})
	if n := strings.Count(out.String(), "\n"); n != 2 || !terminalSafe(out.String()) {
		t.Fatalf("doctor: %d lines, want 2, or terminal controls:\n%q", n, out.String())
	}

	out.Reset()
	var pgTop []pgstore.UserSessions
	for _, name := range hostileNames {
		pgTop = append(pgTop, pgstore.UserSessions{User: name, Sessions: 2})
	}
	printPGUsage(&out, pgstore.Usage{Sessions: 3, TopUsers: pgTop})
	if n := strings.Count(out.String(), "\n"); n != 5+len(pgTop) || !terminalSafe(out.String()) {
		t.Fatalf("stats on PostgreSQL: %d lines, want %d, or terminal controls:\n%q", n, 5+len(pgTop), out.String())
	}
}

func TestHandleArguments(t *testing.T) {
	for _, h := range []string{"", "#", "abc}#", "{00}x", "a b", "a\x1b[2Jb", strings.Repeat("A", 65), "seshat:{ab}x"} {
		for _, args := range [][]string{{"sessions", "show", h}, {"sessions", "revoke", h}} {
			_, err := run(t, append(args, "--redis", "redis://127.0.0.1:1")...)
			if err == nil || !strings.Contains(err.Error(), "not a handle") || !terminalSafe(err.Error()) {
				t.Errorf("%q: %v; want 'not a handle', printable", args, err)
			}
		}
	}
	if err := checkHandle("Ab0-_zZ9Ab0-_zZ9"); err != nil {
		t.Errorf("a well-formed handle: %v", err)
	}
}

// TestCommandsEscapeStoredNames stores hostile user names the way another
// application on the same Redis could (the demo itself refuses them), then
// runs the commands: tables and errors are escaped, --json is exact.
func TestCommandsEscapeStoredNames(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redisstore.New(srv.Client(t), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("term-test-secret-0123456789abcdef0")}})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		if err := s.SetUser(r.Header.Get("X-User")); err != nil {
			t.Error(err)
		}
		if err := s.Set("note", r.Header.Get("X-User")); err != nil {
			t.Error(err)
		}
	}))
	names := hostileNames
	for _, name := range names {
		req := httptest.NewRequest("POST", "/", nil)
		req.Header["X-User"] = []string{name}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}

	out, err := run(t, "sessions", "list", "--redis", srv.URL())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if lines := strings.Count(out, "\n"); lines != 1+len(names) || !terminalSafe(out) {
		t.Fatalf("sessions list: %d lines for %d sessions, or terminal controls:\n%q", lines, len(names), out)
	}

	out, err = run(t, "sessions", "list", "--redis", srv.URL(), "--json")
	if err != nil || !terminalSafe(out) {
		t.Fatalf("sessions list --json: %v\n%q", err, out)
	}
	var infos []seshat.SessionInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, in := range infos {
		got[in.User] = in.Handle
	}
	esc := "\x1b[2J\x1b[Hroot"
	if _, ok := got[esc]; !ok {
		t.Fatalf("the name with ESC did not round-trip exactly through --json: %q", got)
	}

	out, err = run(t, "sessions", "show", "--redis", srv.URL(), "--", got[esc])
	var snap seshat.Snapshot
	if err != nil || !terminalSafe(out) || json.Unmarshal([]byte(out), &snap) != nil || snap.User != esc || snap.Values["note"] != esc {
		t.Fatalf("sessions show: %v %+v\n%q", err, snap, out)
	}

	out, err = run(t, "sessions", "revoke", "--redis", srv.URL(), "--user", esc)
	if err != nil || !terminalSafe(out) || !strings.Contains(out, `revoked 1 sessions of "\x1b[2J\x1b[Hroot"`) {
		t.Fatalf("revoke --user: %v\n%q", err, out)
	}

	out, err = run(t, "stats", "--redis", srv.URL())
	if err != nil || !terminalSafe(out) {
		t.Fatalf("stats: %v\n%q", err, out)
	}
	out, err = run(t, "stats", "--redis", srv.URL(), "--json", "--top", "100")
	var u redisstore.Usage
	if err != nil || !terminalSafe(out) || json.Unmarshal([]byte(out), &u) != nil {
		t.Fatalf("stats --json: %v\n%q", err, out)
	}
	for _, tu := range u.TopUsers {
		if tu.User == "\u009b31mred" {
			return
		}
	}
	t.Fatalf("stats --json lost the exact name with a C1 control: %+v", u.TopUsers)
}
