package seshat_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/seshat-go/seshat"
)

// A "your devices" page: each of the user's sessions with the browser and
// the network it is used from, this one marked. A login records them; the
// store keeps them sealed, as it keeps the user ID.
func ExampleSession_UserSessions() {
	m, _ := seshat.New(seshat.Options{Secrets: secret})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		if r.URL.Path == "/login" {
			s.Regenerate()
			s.SetUser("bob")
			return
		}
		list, _ := s.UserSessions()
		for _, in := range list {
			mark := ""
			if in.Current {
				mark = " (this device)"
			}
			fmt.Fprintf(w, "%s from %s%s\n", in.Device.UserAgent, in.Device.Network, mark)
		}
	}))
	login := func(ua, addr string) *http.Cookie {
		req := httptest.NewRequest("POST", "/login", nil)
		req.Header.Set("User-Agent", ua)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result().Cookies()[0]
	}
	login("Phone/1.0", "203.0.113.77:50000")
	laptop := login("Laptop/2.0", "[2001:db8:abcd:12::1]:443")

	req := httptest.NewRequest("GET", "/devices", nil)
	req.AddCookie(laptop)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Print(rec.Body.String())
	// Unordered output:
	// Phone/1.0 from 203.0.113.0/24
	// Laptop/2.0 from 2001:db8:abcd::/48 (this device)
}

// A user's request for their data, then to be forgotten: ExportUser gives
// every session with its values (JSON-ready), EraseUser ends them and
// removes the user's entries from the store's event log. The store never
// held the user ID itself, only UserKey's keyed hash of it.
func ExampleManager_EraseUser() {
	m, _ := seshat.New(seshat.Options{Secrets: secret, Events: true})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		s.Regenerate()
		s.SetUser(r.URL.Query().Get("user"))
		s.Set("cart", []string{"tea"})
	}))
	for _, u := range []string{"bob", "bob", "ann"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/login?user="+u, nil))
	}
	ctx := context.Background()
	ex, _ := m.ExportUser(ctx, "bob")
	for _, s := range ex.Sessions {
		fmt.Println(s.User, s.Values["cart"])
	}
	st, _ := m.EraseUser(ctx, "bob")
	fmt.Println("sessions ended:", st.Sessions)
	ex, _ = m.ExportUser(ctx, "bob")
	fmt.Println("left:", len(ex.Sessions))
	fmt.Println("stored as the user:", m.UserKey("bob") != "bob")
	// Output:
	// bob [tea]
	// bob [tea]
	// sessions ended: 2
	// left: 0
	// stored as the user: true
}

// A widget embedded in other sites' pages keeps its session in a
// partitioned cookie (CHIPS): one cookie jar per top-level site, where a
// third-party cookie would be blocked. Browsers take it only with Secure,
// and a cookie sent in another site's iframe needs SameSite=None.
func ExampleOptions_partitioned() {
	m, _ := seshat.New(seshat.Options{Secrets: secret, Secure: seshat.SecureAlways,
		SameSite: http.SameSiteNoneMode, Partitioned: true})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Session(r).Set("seen", true)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "https://widget.example/", nil))
	c := rec.Result().Cookies()[0]
	fmt.Println(c.Name, c.Secure, c.Partitioned, c.SameSite == http.SameSiteNoneMode)
	// Output:
	// __Host-seshat true true true
}
