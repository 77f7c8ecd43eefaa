package seshat_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/seshat-go/seshat"
)

var secret = [][]byte{[]byte("a secret of at least thirty-two bytes")}

// A client that keeps no cookies (a mobile app, a script) sends its token
// as "Authorization: Bearer TOKEN"; a new or regenerated session's token
// comes back in the Session-Token header. Browsers keep their cookie: it
// is read first.
func ExampleCarrier() {
	m, _ := seshat.New(seshat.Options{Secrets: secret, Carrier: seshat.Carrier{Header: "Authorization"}})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		if r.URL.Path == "/login" {
			s.Regenerate()
			s.SetUser(r.FormValue("user"))
		}
		n, _ := s.Incr("views", 1)
		fmt.Fprintf(w, "views %d", n)
	}))
	token := ""
	send := func(method, path string) {
		req := httptest.NewRequest(method, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if t := rec.Header().Get("Session-Token"); t != "" {
			fmt.Print("new token; ")
			token = t
		}
		fmt.Println(rec.Body.String())
	}
	send("GET", "/")
	send("GET", "/")
	send("POST", "/login?user=bob") // a new ID at login
	send("GET", "/")
	// Output:
	// new token; views 1
	// views 2
	// new token; views 3
	// views 4
}

// With CrossOrigin on, a form posted from another site's page is refused
// (403) before the handler or the store sees it; the same post from the
// site's own page, and any GET, go through.
func ExampleCrossOrigin() {
	m, _ := seshat.New(seshat.Options{Secrets: secret, CrossOrigin: seshat.CrossOrigin{Protect: true}})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "done")
	}))
	for _, site := range []string{"cross-site", "same-origin"} {
		req := httptest.NewRequest("POST", "/transfer", nil)
		req.Header.Set("Sec-Fetch-Site", site) // what a browser sends
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(site, rec.Code)
	}
	// Output:
	// cross-site 403
	// same-origin 200
}

// A flash message is set before a redirect and shown once on the next
// page: Pop reads and deletes it atomically, so two tabs loading that page
// at once do not both show it.
func ExamplePop() {
	m, _ := seshat.New(seshat.Options{Secrets: secret})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		if r.Method == "POST" {
			s.Flash("notice", "Profile saved")
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		notice, err := seshat.Pop[string](s, "notice")
		if errors.Is(err, seshat.ErrNoValue) {
			notice = "(nothing new)"
		}
		fmt.Println(notice)
	}))
	var cookie string
	for _, method := range []string{"POST", "GET", "GET"} {
		req := httptest.NewRequest(method, "/", nil)
		req.Header.Set("Cookie", cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if c := rec.Header().Get("Set-Cookie"); c != "" {
			cookie, _, _ = strings.Cut(c, ";")
		}
	}
	// Output:
	// Profile saved
	// (nothing new)
}

// openAs creates a session bound to user with a value, outside any
// request, and returns it committed.
func openAs(m *seshat.Manager, user string) *seshat.Session {
	s := m.Open(context.Background(), "")
	s.SetUser(user)
	s.Set("cart", 3)
	s.Commit(nil)
	return s
}

// Clear empties the session but keeps it, with its user: a reset, where
// Destroy would be a logout.
func ExampleSession_Clear() {
	m, _ := seshat.New(seshat.Options{Secrets: secret})
	token := openAs(m, "ann").Token()

	s := m.Open(context.Background(), token)
	s.Clear()
	s.Commit(nil)

	s = m.Open(context.Background(), token)
	keys, _ := s.Keys()
	user, _ := s.User()
	fmt.Println(keys, user)
	// Output:
	// [] ann
}

// Update changes a value by a function of the value stored, atomically:
// if another request changed it meanwhile, the function runs again on the
// newer value.
func ExampleUpdate() {
	m, _ := seshat.New(seshat.Options{Secrets: secret})
	s := m.Open(context.Background(), "")
	tags, err := seshat.Update(s, "tags", func(tags []string) ([]string, error) {
		return append(tags, "go"), nil
	})
	fmt.Println(tags, err)
	tags, _ = seshat.Update(s, "tags", func(tags []string) ([]string, error) {
		return append(tags, "sessions"), nil
	})
	fmt.Println(tags)
	// Output:
	// [go] <nil>
	// [go sessions]
}

// "Remember me": a session of its own idle timeout and lifetime, set at
// login after Regenerate. The cookie's Max-Age follows.
func ExampleSession_SetExpiry() {
	m, _ := seshat.New(seshat.Options{Secrets: secret})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		s.Regenerate()
		s.SetUser("ann")
		if err := s.SetExpiry(30*24*time.Hour, 30*24*time.Hour); err != nil {
			http.Error(w, err.Error(), seshat.StatusCode(err))
		}
		err := s.SetExpiry(365*24*time.Hour, 0) // beyond Options.MaxIdleTimeout
		fmt.Println(errors.Is(err, seshat.ErrExpiry))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/login", nil))
	maxAge := time.Duration(rec.Result().Cookies()[0].MaxAge) * time.Second
	fmt.Println("cookie Max-Age:", maxAge.Round(time.Hour))
	// Output:
	// true
	// cookie Max-Age: 720h0m0s
}

// RevokeUser logs a user out everywhere: every session bound to them ends,
// and requests in flight on them cannot bring them back.
func ExampleManager_RevokeUser() {
	m, _ := seshat.New(seshat.Options{Secrets: secret})
	phone, laptop := openAs(m, "bob").Token(), openAs(m, "bob").Token()
	openAs(m, "ann")

	n, err := m.RevokeUser(context.Background(), "bob")
	fmt.Println(n, err)
	for _, token := range []string{phone, laptop} {
		user, _ := m.Open(context.Background(), token).User()
		fmt.Printf("%q\n", user)
	}
	list, _ := m.UserSessions(context.Background(), "ann")
	fmt.Println(len(list))
	// Output:
	// 2 <nil>
	// ""
	// ""
	// 1
}

// Edit changes a session by its handle from outside any request (an admin
// tool, a background job), as a delta: requests on the session meanwhile
// lose nothing.
func ExampleManager_Edit() {
	m, _ := seshat.New(seshat.Options{Secrets: secret})
	s := openAs(m, "ann")
	err := m.Edit(context.Background(), s.Handle(), func(s *seshat.Session) error {
		return s.Set("role", "admin")
	})
	fmt.Println(err)
	role, _ := seshat.Get[string](m.Open(context.Background(), s.Token()), "role")
	fmt.Println(role)
	// Output:
	// <nil>
	// admin
}
