// Package seshatcounter is what the benchmark's seshat apps on gin, echo
// and fiber share: the manager (redisstore with its default options on
// the benchmark's Redis, default seshat options, no Observer) and the view
// counter's routes written against a *seshat.Session, each returning the
// status and body to answer, so that the apps differ only in their
// framework.
package seshatcounter

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/redisstore"
)

// Manager returns the manager of the framework apps; with redisAddr ""
// it keeps sessions in memory (memstore), to measure a framework's own
// cost without Redis's.
func Manager(redisAddr, secret string) (*seshat.Manager, error) {
	if redisAddr == "" {
		return seshat.New(seshat.Options{Secrets: [][]byte{[]byte(secret)}})
	}
	o, err := redisstore.ParseURL("redis://" + redisAddr)
	if err != nil {
		return nil, err
	}
	st, err := redisstore.New(redisstore.NewClient(o), redisstore.Options{})
	if err != nil {
		return nil, err
	}
	return seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte(secret)}})
}

func fail(err error) (int, string) {
	code := seshat.StatusCode(err)
	log.Printf("answered %d: %v", code, err)
	return code, http.StatusText(code) + ": " + err.Error()
}

// Index is GET /: increment, "Number of views: N".
func Index(s *seshat.Session) (int, string) {
	n, err := s.Incr("views", 1)
	if err != nil {
		return fail(err)
	}
	return http.StatusOK, fmt.Sprintf("Number of views: %d\n", n)
}

// Read is GET /read: the count, changing nothing.
func Read(s *seshat.Session) (int, string) {
	n, err := seshat.Get[int64](s, "views")
	if err != nil && !errors.Is(err, seshat.ErrNoValue) {
		return fail(err)
	}
	return http.StatusOK, fmt.Sprintf("Number of views: %d\n", n)
}

// Login is /login?user=U: a new session ID, the user bound.
func Login(s *seshat.Session, user string) (int, string) {
	user = strings.TrimSpace(user)
	if user == "" || len(user) > 128 {
		return http.StatusBadRequest, "user is required (at most 128 bytes)"
	}
	if err := s.Regenerate(); err != nil {
		return fail(err)
	}
	if err := s.SetUser(user); err != nil {
		return fail(err)
	}
	return http.StatusOK, fmt.Sprintf("Logged in as %s\n", user)
}

// Logout is /logout: the session destroyed.
func Logout(s *seshat.Session) (int, string) {
	if err := s.Destroy(); err != nil {
		return fail(err)
	}
	return http.StatusOK, "Logged out\n"
}

// Whoami is /whoami: the user, or 401.
func Whoami(s *seshat.Session) (int, string) {
	user, err := s.User()
	if err != nil {
		return fail(err)
	}
	if user == "" {
		return http.StatusUnauthorized, "not logged in"
	}
	return http.StatusOK, user + "\n"
}
