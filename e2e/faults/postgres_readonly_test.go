package faults

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/seshat-go/seshat/e2e/internal/storematrix"
	"github.com/seshat-go/seshat/pgstore/pgtest"
)

// A write that reaches a read-only server (a hot standby: the app's URL
// names both servers without target_session_attrs, and the primary is
// gone) is the store being unavailable for writes, as Redis's READONLY
// is for redisstore: 503, not 500. Reads keep working (the first may
// answer 503: its pooled connection reports the primary's death).
//
// FAILS on pgstore as of this commit: pgstore's fail() maps SQLSTATE
// classes 53, 57, 08 and 40 to ErrUnavailable, not 25006
// (read_only_sql_transaction), so the manager answers 500.
func TestPostgresWriteOnAStandbyIs503(t *testing.T) {
	primary, dbURL := storematrix.Postgres(t)
	standby := pgtest.StartStandby(t, primary)
	primary.Synchronous(t, standby) // what the primary acknowledges is on the standby
	name := dbURL[strings.LastIndex(dbURL, "/")+1 : strings.Index(dbURL, "?")]
	a := newPgApp(t, fmt.Sprintf("postgres://seshat@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable", primary.Port, standby.Port, name))
	code, _, c := a.web.Do("GET", "/", "", nil)
	if code != 200 {
		t.Fatalf("creating a session: %d", code)
	}
	primary.Kill()
	var reads, writes int
	for range 5 {
		if code, body, _ := a.web.Do("GET", "/read", c, nil); code == 200 && views(body) == 1 {
			reads++
		} else {
			t.Logf("a read on the standby: %d %q", code, strings.TrimSpace(body))
		}
		code, body, _ := a.web.Do("GET", "/", c, nil)
		if code == http.StatusServiceUnavailable {
			writes++
		} else {
			t.Logf("a write on the standby: %d %q", code, strings.TrimSpace(body))
		}
	}
	if reads == 0 || writes != 5 {
		t.Fatalf("on a read-only standby: %d of 5 reads answered 200, %d of 5 writes 503; want reads 200 and writes 503", reads, writes)
	}
}
