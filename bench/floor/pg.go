package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

// pgSchema is the floor's table: one row per session, the counter a
// column, so that an increment is one UPDATE of one row.
const pgSchema = `CREATE TABLE IF NOT EXISTS floor_sessions (
	id        text        PRIMARY KEY,
	views     bigint      NOT NULL DEFAULT 0,
	user_name text,
	expires   timestamptz NOT NULL
)`

// pgApp is the floor on PostgreSQL: bare pgx (pgxpool with its default
// size), exactly one statement per request, each one round trip (pgx
// prepares and caches the statements). Nothing removes expired rows: like
// the Redis floor it is a measuring stick.
type pgApp struct{ pool *pgxpool.Pool }

func newPGApp(url string) *pgApp {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := pool.Exec(ctx, pgSchema); err != nil {
		log.Fatal(err)
	}
	return &pgApp{pool: pool}
}

// Index: for a known ID an upsert that increments (a row missing or past
// its expiry starts again at 1); for a new one the same statement inserts.
func (a *pgApp) Index(w http.ResponseWriter, r *http.Request) {
	id, fresh := sid(r), false
	if id == "" {
		id, fresh = newID(), true
	}
	var n int64
	err := a.pool.QueryRow(r.Context(), `INSERT INTO floor_sessions AS s (id, views, expires) VALUES ($1, 1, now() + $2::interval)
		ON CONFLICT (id) DO UPDATE SET views = CASE WHEN s.expires > now() THEN s.views + 1 ELSE 1 END,
			expires = CASE WHEN s.expires > now() THEN s.expires ELSE EXCLUDED.expires END
		RETURNING views`, id, ttl).Scan(&n)
	if err != nil {
		fail(w, err)
		return
	}
	if fresh {
		setCookie(w, id, int(ttl/time.Second))
	}
	viewcounter.Text(w, "Number of views: %d\n", n)
}

// Read: one SELECT.
func (a *pgApp) Read(w http.ResponseWriter, r *http.Request) {
	var n int64
	if id := sid(r); id != "" {
		err := a.pool.QueryRow(r.Context(), `SELECT views FROM floor_sessions WHERE id = $1 AND expires > now()`, id).Scan(&n)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			fail(w, err)
			return
		}
	}
	viewcounter.Text(w, "Number of views: %d\n", n)
}

// Login moves the session to a fresh ID and binds the user, in one
// statement: the old row is deleted and its counter carried over.
func (a *pgApp) Login(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.FormValue("user"))
	if user == "" || len(user) > 128 {
		http.Error(w, "user is required (at most 128 bytes)", http.StatusBadRequest)
		return
	}
	id := newID()
	_, err := a.pool.Exec(r.Context(), `WITH old AS (DELETE FROM floor_sessions WHERE id = $1 AND expires > now() RETURNING views)
		INSERT INTO floor_sessions (id, views, user_name, expires) SELECT $2, coalesce((SELECT views FROM old), 0), $3, now() + $4::interval`,
		sid(r), id, user, ttl)
	if err != nil {
		fail(w, err)
		return
	}
	setCookie(w, id, int(ttl/time.Second))
	viewcounter.Text(w, "Logged in as %s\n", user)
}

func (a *pgApp) Logout(w http.ResponseWriter, r *http.Request) {
	if id := sid(r); id != "" {
		if _, err := a.pool.Exec(r.Context(), `DELETE FROM floor_sessions WHERE id = $1`, id); err != nil {
			fail(w, err)
			return
		}
	}
	setCookie(w, "", -1)
	viewcounter.Text(w, "Logged out\n")
}

func (a *pgApp) Whoami(w http.ResponseWriter, r *http.Request) {
	var user *string
	if id := sid(r); id != "" {
		err := a.pool.QueryRow(r.Context(), `SELECT user_name FROM floor_sessions WHERE id = $1 AND expires > now()`, id).Scan(&user)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			fail(w, err)
			return
		}
	}
	if user == nil || *user == "" {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	viewcounter.Text(w, "%s\n", *user)
}
