package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFillAndReadLoop runs the memory backend's lean client against a
// stand-in app: fill makes exactly n sessions, and the read loop times
// reads with the cookie it was given.
func TestFillAndReadLoop(t *testing.T) {
	var created, reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			if _, err := r.Cookie("sid"); err == nil {
				http.Error(w, "the fill sends no cookie", http.StatusBadRequest)
				return
			}
			n := created.Add(1)
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: fmt.Sprint(n), Path: "/"})
			fmt.Fprintln(w, "Number of views: 1")
		case "/read":
			c, err := r.Cookie("sid")
			if err != nil {
				http.Error(w, "no cookie", http.StatusBadRequest)
				return
			}
			reads.Add(1)
			fmt.Fprintf(w, "Number of views: %s\n", strings.Repeat("1", len(c.Value)%3+1))
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	n, err := fill(ctx, addr, 1000, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := created.Load(); got != 1000 {
		t.Fatalf("fill created %d sessions, want 1000", got)
	}
	if n < len("sid=1") {
		t.Fatalf("cookie length %d", n)
	}

	log, err := readLoop(ctx, srv.Client(), &app{base: srv.URL, addr: addr}, time.Now().Add(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(log) == 0 || int64(len(log)) != reads.Load() {
		t.Fatalf("read loop: %d reads logged, %d answered", len(log), reads.Load())
	}
	if log.max(time.Time{}) <= 0 || log.max(time.Now().Add(time.Hour)) != 0 {
		t.Fatalf("readLog.max: %v overall, %v from an hour ahead", log.max(time.Time{}), log.max(time.Now().Add(time.Hour)))
	}
}
