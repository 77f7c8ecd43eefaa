package seshat

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seshat-go/seshat/store"
)

// serveFrom runs one request from a client at remote with the given
// headers.
func (e *env) serveFrom(h func(w http.ResponseWriter, r *http.Request, s *Session), cookie, remote string, hdr map[string]string) *http.Response {
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = remote
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "seshat", Value: cookie})
	}
	rec := httptest.NewRecorder()
	e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, e.m.Session(r)) })).ServeHTTP(rec, req)
	return rec.Result()
}

func loginFrom(e *env, user, remote, ua string) string {
	return sessionCookie(e.serveFrom(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if err := s.Regenerate(); err != nil {
			e.t.Fatal(err)
		}
		if err := s.SetUser(user); err != nil {
			e.t.Fatal(err)
		}
	}, "", remote, map[string]string{"User-Agent": ua})).Value
}

func TestDevices(t *testing.T) {
	e := newEnv(t, Options{})
	phone := loginFrom(e, "bob", "203.0.113.77:5555", "Phone/1.0")
	e.clock.add(time.Second) // oldest first
	laptop := loginFrom(e, "bob", "[2001:db8:abcd:12::1]:443", "Laptop/2.0")
	loginFrom(e, "ann", "198.51.100.1:1", "Ann/1.0")
	e.clock.add(time.Second) // no touch due: the device stays as recorded

	var list []SessionInfo
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		var err error
		if list, err = s.UserSessions(); err != nil {
			t.Fatal(err)
		}
	}, laptop)
	if len(list) != 2 {
		t.Fatalf("bob's sessions: %+v; want 2", list)
	}
	want := []struct {
		dev     Device
		current bool
	}{{Device{"Phone/1.0", "203.0.113.0/24"}, false}, {Device{"Laptop/2.0", "2001:db8:abcd::/48"}, true}}
	for i, w := range want {
		if list[i].Device == nil || *list[i].Device != w.dev || list[i].Current != w.current || list[i].User != "bob" {
			t.Errorf("session %d: %+v device %+v; want %+v current %v", i, list[i], list[i].Device, w.dev, w.current)
		}
	}
	// The same from the Manager (no current session), and from Sessions.
	infos, _ := e.m.UserSessions(t.Context(), "bob")
	if len(infos) != 2 || infos[0].Device == nil || infos[0].Device.Network != "203.0.113.0/24" || infos[0].Current {
		t.Fatalf("Manager.UserSessions: %+v", infos)
	}
	seen := map[string]string{}
	e.m.Sessions(t.Context(), func(b []SessionInfo) error {
		for _, in := range b {
			if in.Device != nil {
				seen[in.User] += in.Device.UserAgent + ";"
			}
		}
		return nil
	})
	if len(seen) != 2 || len(seen["bob"]) != len("Phone/1.0;Laptop/2.0;") || seen["ann"] != "Ann/1.0;" {
		t.Fatalf("Sessions: devices by user %v", seen)
	}

	// At rest the device is sealed: neither the user agent nor the
	// network is readable in the store.
	h, _ := e.m.HandleOf(phone)
	rec, err := e.store.Load(t.Context(), h, store.LoadOptions{Now: e.clock.now(), TouchAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range rec.Values {
		if strings.Contains(string(v), "Phone") || strings.Contains(string(v), "203.0.113") || strings.Contains(string(v), "bob") {
			t.Errorf("value %q holds the device or the user in the clear: %q", name, v)
		}
	}
}

func TestDeviceFollowsTheClientAtTouch(t *testing.T) {
	e := newEnv(t, Options{TouchInterval: time.Minute})
	var commits atomic.Int64
	e.m.opts.Observer = observerFunc(func(ev Event) {
		if ev.Kind == EventStoreOp && ev.Op == "commit" {
			commits.Add(1)
		}
	})
	c := loginFrom(e, "bob", "203.0.113.77:5555", "Phone/1.0")
	e.clock.add(time.Second)
	read := func(remote, ua string) {
		e.serveFrom(func(w http.ResponseWriter, r *http.Request, s *Session) { s.User() }, c, remote, map[string]string{"User-Agent": ua})
	}
	device := func() Device {
		infos, _ := e.m.UserSessions(t.Context(), "bob")
		if len(infos) != 1 || infos[0].Device == nil {
			t.Fatalf("bob's sessions: %+v", infos)
		}
		return *infos[0].Device
	}
	// Between touches reads write nothing, wherever they come from.
	before := commits.Load()
	read("192.0.2.10:1", "Other/9")
	if commits.Load() != before || device() != (Device{"Phone/1.0", "203.0.113.0/24"}) {
		t.Fatalf("a read between touches changed the device (commits %d → %d, %+v)", before, commits.Load(), device())
	}
	// At the touch, the same device writes nothing more than the touch.
	e.clock.add(2 * time.Minute)
	read("203.0.113.5:2", "Phone/1.0")
	if commits.Load() != before {
		t.Fatalf("a touch from the same device committed")
	}
	// A touch from another network records it.
	e.clock.add(2 * time.Minute)
	read("192.0.2.10:1", "Phone/1.1")
	if got := device(); got != (Device{"Phone/1.1", "192.0.2.0/24"}) {
		t.Fatalf("after a touch from another network: %+v", got)
	}
}

func TestDeviceAddress(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		name    string
		devices Devices
		remote  string
		xff     string
		want    string
	}{
		{"v4 default", Devices{}, "203.0.113.77:5555", "", "203.0.113.0/24"},
		{"v6 default", Devices{}, "[2001:db8:abcd:12::1]:443", "", "2001:db8:abcd::/48"},
		{"v4-mapped v6", Devices{}, "[::ffff:203.0.113.77]:1", "", "203.0.113.0/24"},
		{"zone dropped", Devices{}, "[fe80::1%eth0]:1", "", "fe80::/48"},
		{"bits", Devices{IPv4Bits: 16, IPv6Bits: 32}, "203.0.113.77:5555", "", "203.0.0.0/16"},
		{"whole", Devices{IPv4Bits: 32}, "203.0.113.77:5555", "", "203.0.113.77/32"},
		{"no address", Devices{NoAddress: true}, "203.0.113.77:5555", "", ""},
		{"unparsable peer", Devices{}, "pipe", "", ""},
		{"forwarded, untrusted peer: ignored", Devices{}, "203.0.113.77:5555", "198.51.100.9", "203.0.113.0/24"},
		{"forwarded by a trusted proxy", Devices{TrustedProxies: proxies}, "10.1.2.3:80", "198.51.100.9", "198.51.100.0/24"},
		{"a forged leftmost entry", Devices{TrustedProxies: proxies}, "10.1.2.3:80", "1.2.3.4, 198.51.100.9, 10.9.9.9", "198.51.100.0/24"},
		{"garbage in the chain", Devices{TrustedProxies: proxies}, "10.1.2.3:80", "198.51.100.9, nonsense, 10.9.9.9", "10.9.9.0/24"},
		{"all trusted", Devices{TrustedProxies: proxies}, "10.1.2.3:80", "fd00::1, 10.9.9.9", "fd00::/48"},
		{"a proxy named in mapped form", Devices{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}}, "10.1.2.3:80", "198.51.100.9", "198.51.100.0/24"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{Devices: c.devices})
			hdr := map[string]string{"User-Agent": "UA"}
			if c.xff != "" {
				hdr["X-Forwarded-For"] = c.xff
			}
			sessionCookie(e.serveFrom(func(w http.ResponseWriter, r *http.Request, s *Session) {
				s.Regenerate()
				s.SetUser("bob")
			}, "", c.remote, hdr))
			infos, _ := e.m.UserSessions(t.Context(), "bob")
			if len(infos) != 1 || infos[0].Device == nil || infos[0].Device.Network != c.want {
				t.Fatalf("device %+v; want network %q", infos, c.want)
			}
		})
	}
}

func TestDeviceUserAgentIsCleaned(t *testing.T) {
	e := newEnv(t, Options{Devices: Devices{MaxUserAgent: 12}})
	loginFrom(e, "bob", "192.0.2.1:1", "ab\x01\ncd\xffé€€€€€€")
	infos, _ := e.m.UserSessions(t.Context(), "bob")
	if len(infos) != 1 || infos[0].Device == nil {
		t.Fatalf("%+v", infos)
	}
	// Control characters and invalid UTF-8 become U+FFFD (3 bytes each);
	// the cut falls on a character boundary within 12 bytes.
	if ua := infos[0].Device.UserAgent; ua != "ab\ufffd\ufffdcd" || len(ua) > 12 {
		t.Fatalf("user agent %q", ua)
	}
}

func TestDevicesOffAndAnonymous(t *testing.T) {
	e := newEnv(t, Options{Devices: Devices{Off: true}})
	c := loginFrom(e, "bob", "192.0.2.1:1", "UA")
	h, _ := e.m.HandleOf(c)
	rec, _ := e.store.Load(t.Context(), h, store.LoadOptions{Now: e.clock.now(), TouchAfter: time.Hour})
	if _, ok := rec.Values[deviceValue]; ok {
		t.Fatal("Devices.Off: a device was stored")
	}
	e = newEnv(t, Options{})
	anon := sessionCookie(e.serveFrom(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("x", 1) }, "", "192.0.2.1:1", nil)).Value
	h, _ = e.m.HandleOf(anon)
	rec, _ = e.store.Load(t.Context(), h, store.LoadOptions{Now: e.clock.now(), TouchAfter: time.Hour})
	if len(rec.Values) != 1 {
		t.Fatalf("an anonymous session keeps %d values; want only its own", len(rec.Values))
	}
	for _, bad := range []Devices{{IPv4Bits: 33}, {IPv6Bits: -1}, {MaxUserAgent: 5000}, {TrustedProxies: []netip.Prefix{{}}}} {
		if _, err := New(Options{Secrets: [][]byte{testSecret}, Devices: bad}); err == nil {
			t.Errorf("New accepted Devices %+v", bad)
		}
	}
}

// A read whose device changed stores it best effort: the request does not
// fail when the session ended meanwhile (a logout racing it).
func TestDeviceUpdateNeverFailsARead(t *testing.T) {
	e := newEnv(t, Options{TouchInterval: time.Minute})
	c := loginFrom(e, "bob", "203.0.113.77:5555", "Phone/1.0")
	e.clock.add(2 * time.Minute)
	resp := e.serveFrom(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if u, _ := s.User(); u != "bob" { // loads (and touches) the session
			t.Errorf("user %q", u)
		}
		h, _ := e.m.HandleOf(c)
		if err := e.m.Revoke(r.Context(), h); err != nil { // a logout elsewhere, meanwhile
			t.Error(err)
		}
		w.Write([]byte("ok"))
	}, c, "192.0.2.10:1", map[string]string{"User-Agent": "Other/1"})
	if resp.StatusCode != 200 || body(resp) != "ok" {
		t.Fatalf("a read racing a logout answered %d", resp.StatusCode)
	}
	if whoami(e, c) != "" {
		t.Fatal("the device write brought the revoked session back")
	}
}

// A session opened with a bare token (a WebSocket message, a job) has no
// device to tell: it keeps the browser's.
func TestOpenKeepsTheDevice(t *testing.T) {
	e := newEnv(t, Options{TouchInterval: time.Minute})
	c := loginFrom(e, "bob", "203.0.113.77:5555", "Phone/1.0")
	for range 3 {
		e.clock.add(2 * time.Minute)
		s := e.m.Open(t.Context(), c)
		if u, _ := s.User(); u != "bob" {
			t.Fatalf("Open: user %q", u)
		}
		if err := s.Commit(nil); err != nil {
			t.Fatal(err)
		}
	}
	infos, _ := e.m.UserSessions(t.Context(), "bob")
	if len(infos) != 1 || infos[0].Device == nil || *infos[0].Device != (Device{"Phone/1.0", "203.0.113.0/24"}) {
		t.Fatalf("after Open, the device is %+v", infos)
	}
}

// Regenerate of a session revoked meanwhile carries neither its user nor
// its device into the new session.
func TestRegenerateOfARevokedSessionKeepsNoDevice(t *testing.T) {
	e := newEnv(t, Options{TouchInterval: time.Minute})
	c := loginFrom(e, "bob", "203.0.113.77:5555", "Phone/1.0")
	e.clock.add(2 * time.Minute)
	resp := e.serveFrom(func(w http.ResponseWriter, r *http.Request, s *Session) {
		s.User() // loads, and notes the changed device
		h, _ := e.m.HandleOf(c)
		e.m.Revoke(r.Context(), h)
		if err := s.Regenerate(); err != nil {
			t.Error(err)
		}
		s.Set("cart", 1)
	}, c, "192.0.2.10:1", map[string]string{"User-Agent": "Other/1"})
	nc := sessionCookie(resp)
	if nc == nil || nc.Value == "" {
		t.Fatal("no new session")
	}
	rec := rawSession(t, e, nc.Value)
	if rec.User != "" || rec.Values[userValue] != nil || rec.Values[deviceValue] != nil || rec.Values["cart"] == nil {
		t.Fatalf("the new session keeps user %q, values %q", rec.User, rec.Values)
	}
}
