package multi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/e2e/internal/storematrix"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/seal"
)

// Scenarios of several demo instances on one PostgreSQL database: each
// instance has a pgstore of its own (its own pool), as separate processes
// would.

// pgInstance is one demo app process on a shared PostgreSQL database.
type pgInstance struct {
	*testhttp.Client
	t     *testing.T
	m     *seshat.Manager
	store *pgstore.Store
}

// newPgInstance runs the demo on the database at dbURL with the manager
// options o (the store, the test secret and a quiet logger added).
func newPgInstance(t *testing.T, dbURL string, so pgstore.Options, o seshat.Options) *pgInstance {
	t.Helper()
	st, err := pgstore.Open(context.Background(), dbURL, so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o.Store, o.Secrets, o.Logger = st, [][]byte{testSecret}, quietLogger()
	m, err := seshat.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(demo.Handler(demo.Config{Manager: m}))
	t.Cleanup(srv.Close)
	return &pgInstance{Client: testhttp.New(t, srv.URL), t: t, m: m, store: st}
}

// handle is the store key of the session a cookie names.
func (in *pgInstance) handle(cookie string) string {
	k, ok := in.m.HandleOf(cookie)
	if !ok {
		in.t.Fatalf("cookie %q does not verify", cookie)
	}
	return k
}

// adminPool is a pool of the test's own on the database, to look at what
// the instances stored.
func adminPool(t *testing.T, dbURL string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// rowsOf counts the session's rows: in seshat_sessions and in
// seshat_values.
func rowsOf(t *testing.T, db *pgxpool.Pool, key string) (sessions, values int) {
	t.Helper()
	if err := db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM seshat_sessions WHERE key = $1),
		(SELECT count(*) FROM seshat_values WHERE key = $1)`, key).Scan(&sessions, &values); err != nil {
		t.Fatal(err)
	}
	return sessions, values
}

// contended is the manager options of the scenarios where many requests
// wait for one session's row lock, one after the other: their subject is
// what the store keeps, not latency, so the store timeout is wide enough
// for the last in line on a loaded 2-core CI machine under -race.
var contended = seshat.Options{StoreTimeout: 10 * time.Second}

// 200 concurrent increments of one session, half through each instance,
// count exactly 200.
func TestPostgresTwoHundredIncrementsFromTwoInstances(t *testing.T) {
	_, dbURL := storematrix.Postgres(t)
	a := newPgInstance(t, dbURL, pgstore.Options{}, contended)
	b := newPgInstance(t, dbURL, pgstore.Options{}, contended)
	_, _, c := a.Do("GET", "/", "", nil)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 200 {
		in := a
		if i%2 == 1 {
			in = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, body, _ := in.Do("GET", "/", c, nil); code != 200 {
				t.Errorf("status %d %q", code, body)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if _, body, _ := b.Do("GET", "/read", c, nil); body != "Number of views: 201\n" {
		t.Fatalf("after 1 + 200 concurrent increments from two instances: %q", body)
	}
	if _, body, _ := a.Do("GET", "/read", c, nil); body != "Number of views: 201\n" {
		t.Fatalf("the other instance reads %q", body)
	}
	t.Logf("200 concurrent increments of one session through two instances: %v", took.Round(time.Millisecond))
}

// A logout on one instance racing 50 writers on the other, 10 rounds:
// once the logout has answered, the session's rows are gone, and none of
// the writers (each an increment and a note) brings them back.
func TestPostgresLogoutRacingWritersStaysLoggedOut(t *testing.T) {
	_, dbURL := storematrix.Postgres(t)
	a := newPgInstance(t, dbURL, pgstore.Options{}, contended)
	b := newPgInstance(t, dbURL, pgstore.Options{}, contended)
	db := adminPool(t, dbURL)
	for round := range 10 {
		_, _, anon := a.Do("GET", "/", "", nil)
		_, _, c := a.Do("POST", "/login", anon, url.Values{"user": {"bob"}})
		key := a.handle(c)
		if s, v := rowsOf(t, db, key); s != 1 || v == 0 {
			t.Fatalf("round %d: the logged-in session has %d rows and %d values before the logout", round, s, v)
		}
		var wg sync.WaitGroup
		for i := range 51 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i == 25 {
					if code, body, _ := b.Do("POST", "/logout", c, nil); code != 200 {
						t.Errorf("round %d: logout: %d %q", round, code, body)
						return
					}
					if s, v := rowsOf(t, db, key); s != 0 || v != 0 {
						t.Errorf("round %d: the logout answered and the session still has %d rows and %d values", round, s, v)
					}
					return
				}
				a.Do("GET", "/", c, nil)
				a.Do("POST", "/note", c, url.Values{"text": {fmt.Sprint(i)}})
			}()
		}
		wg.Wait()
		if s, v := rowsOf(t, db, key); s != 0 || v != 0 {
			t.Fatalf("round %d: after the racing writers the logged-out session has %d rows and %d values", round, s, v)
		}
		if code, _, _ := b.Do("GET", "/whoami", c, nil); code != http.StatusUnauthorized {
			t.Fatalf("round %d: whoami after logout: %d", round, code)
		}
		if code, _, _ := a.Do("GET", "/whoami", c, nil); code != http.StatusUnauthorized {
			t.Fatalf("round %d: whoami after logout on the other instance: %d", round, code)
		}
	}
}

// rowVersions is every row version of the session (xmin and ctid, which
// any UPDATE, even in place, changes), the rows of the other tables, and
// the next transaction ID PostgreSQL will assign: a statement that writes
// anything anywhere takes one.
func rowVersions(t *testing.T, db *pgxpool.Pool, key string) string {
	t.Helper()
	var s string
	err := db.QueryRow(context.Background(), `SELECT concat_ws(' | ',
		(SELECT string_agg(xmin::text || '@' || ctid::text, ',') FROM seshat_sessions WHERE key = $1),
		(SELECT string_agg(xmin::text || '@' || ctid::text, ',' ORDER BY name) FROM seshat_values WHERE key = $1),
		'ops ' || (SELECT count(*) FROM seshat_ops), 'events ' || (SELECT count(*) FROM seshat_events),
		'next xid ' || pg_snapshot_xmax(pg_current_snapshot()))`, key).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Reads write nothing: after a session is created and written, 30 reads
// on two instances within the touch interval leave every row of it as it
// was, and take no transaction ID at all. A read whose touch is due does
// write (the check can fail).
func TestPostgresReadsWriteNothing(t *testing.T) {
	// No autovacuum (an ANALYZE takes a transaction ID) and no sweepers:
	// nothing but the instances writes.
	_, dbURL := storematrix.Postgres(t, "autovacuum=off")
	so := pgstore.Options{SweepEvery: -1}
	mo := seshat.Options{IdleTimeout: 30 * time.Minute, TouchInterval: time.Minute}
	a := newPgInstance(t, dbURL, so, mo)
	b := newPgInstance(t, dbURL, so, mo)
	db := adminPool(t, dbURL)
	_, _, c := a.Do("GET", "/", "", nil)
	a.Do("GET", "/", c, nil)
	if code, _, _ := b.Do("POST", "/note", c, url.Values{"text": {"hello"}}); code != 200 {
		t.Fatalf("note: %d", code)
	}
	key := a.handle(c)
	before := rowVersions(t, db, key)
	for i := range 30 {
		in := a
		if i%2 == 1 {
			in = b
		}
		if code, body, _ := in.Do("GET", "/read", c, nil); code != 200 || body != "Number of views: 2\n" {
			t.Fatalf("read %d: %d %q", i, code, body)
		}
	}
	if after := rowVersions(t, db, key); after != before {
		t.Fatalf("30 reads within the touch interval wrote:\nbefore %s\nafter  %s", before, after)
	}

	// The control: a read whose touch is due (touched moved back by hand
	// 2 minutes, past the touch interval of 1 minute and within the idle
	// timeout of 30) updates the session row, and the check sees it.
	if _, err := db.Exec(context.Background(), `UPDATE seshat_sessions SET touched = touched - 120000 WHERE key = $1`, key); err != nil {
		t.Fatal(err)
	}
	due := rowVersions(t, db, key)
	if code, body, _ := a.Do("GET", "/read", c, nil); code != 200 || body != "Number of views: 2\n" {
		t.Fatalf("read with a touch due: %d %q", code, body)
	}
	if after := rowVersions(t, db, key); after == due {
		t.Fatalf("a read with a touch due changed nothing the check sees: %s", after)
	}
	t.Logf("30 reads: rows and transaction IDs unchanged (%s); a read with a touch due changed them", before)
}

// dumpSeshatTables returns every column of every row of every seshat_
// table, the raw bytes of each value and its text form (bytea as hex).
func dumpSeshatTables(t *testing.T, db *pgxpool.Pool) (dump []byte, tables, rows int) {
	t.Helper()
	ctx := context.Background()
	tr, err := db.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'seshat\_%' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tr.Next() {
		var n string
		if err := tr.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if tr.Err() != nil {
		t.Fatal(tr.Err())
	}
	var buf bytes.Buffer
	for _, n := range names {
		r, err := db.Query(ctx, fmt.Sprintf(`SELECT t::text, t.* FROM %s t`, n))
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			vals, err := r.Values()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					buf.Write(v)
				case string:
					buf.WriteString(v)
				default:
					fmt.Fprint(&buf, v)
				}
				buf.WriteByte(0)
			}
			rows++
		}
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
	}
	return buf.Bytes(), len(names), rows
}

// At rest the database holds no session ID (the cookie's, in any of its
// forms: base64url, raw, hex) and no user ID, and with encryption on no
// value in plaintext. Without encryption the values are found where they
// are (the search can fail).
func TestPostgresAtRestHoldsNoIDAndWithEncryptionNoPlaintext(t *testing.T) {
	srv, _ := storematrix.Postgres(t)
	for i, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			name := fmt.Sprintf("at_rest_%d", i)
			srv.SQL(t, "CREATE DATABASE "+name)
			dbURL := storematrix.Database(srv, name)
			var o seshat.Options
			if encrypted {
				ring, err := seal.NewRing(seal.NewKey())
				if err != nil {
					t.Fatal(err)
				}
				o.Encryption, o.HashKey = ring, []byte("pg-at-rest-hash-key-0123456789abcdef")
			}
			in := newPgInstance(t, dbURL, pgstore.Options{}, o)
			db := adminPool(t, dbURL)
			var cookies, users, notes []string
			for j := range 6 {
				user, note := fmt.Sprintf("user-zq%dx%d", i, j%3), fmt.Sprintf("note-plaintext-%d-%d", i, j)
				_, _, c := in.Do("GET", "/", "", nil)
				cookies = append(cookies, c)
				_, _, c = in.Do("POST", "/login", c, url.Values{"user": {user}})
				in.Do("GET", "/", c, nil)
				if code, _, _ := in.Do("POST", "/note", c, url.Values{"text": {note}}); code != 200 {
					t.Fatalf("note: %d", code)
				}
				cookies, users, notes = append(cookies, c), append(users, user), append(notes, note)
			}
			in.Do("POST", "/logout", cookies[1], nil)
			dump, tables, rows := dumpSeshatTables(t, db)
			if tables < 5 || rows < 12 {
				t.Fatalf("dumped %d tables, %d rows: too few", tables, rows)
			}
			for _, c := range cookies {
				id := c[:43]
				raw, err := base64.RawURLEncoding.DecodeString(id)
				if err != nil {
					t.Fatal(err)
				}
				for form, b := range map[string][]byte{"base64url": []byte(id), "raw": raw, "hex": []byte(hex.EncodeToString(raw)),
					"hex of base64url": []byte(hex.EncodeToString([]byte(id)))} {
					if bytes.Contains(dump, b) {
						t.Errorf("the database holds a session ID from a cookie (%s)", form)
					}
				}
			}
			found := func(s string) bool {
				return bytes.Contains(dump, []byte(s)) || bytes.Contains(dump, []byte(hex.EncodeToString([]byte(s))))
			}
			var plainUsers, plainNotes int
			for _, u := range users {
				if found(u) {
					plainUsers++
				}
			}
			for _, n := range notes {
				if found(n) {
					plainNotes++
				}
			}
			// User IDs are keyed hashes at rest, sealed in the session,
			// with or without encryption; notes are plaintext without it.
			if plainUsers > 0 {
				t.Fatalf("encrypted=%v: the database holds %d user IDs in plaintext", encrypted, plainUsers)
			}
			if encrypted && plainNotes > 0 {
				t.Fatalf("with encryption the database holds %d notes in plaintext", plainNotes)
			}
			if !encrypted && plainNotes < len(notes)-1 { // the logged-out session's note is gone
				t.Fatalf("without encryption only %d of %d notes were found: the search does not work", plainNotes, len(notes))
			}
			t.Logf("encrypted=%v: %d tables, %d rows, %d bytes dumped: no session ID; user IDs in plaintext %d, notes %d",
				encrypted, tables, rows, len(dump), plainUsers, plainNotes)
		})
	}
}
