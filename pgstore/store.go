package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seshat-go/seshat/store"
)

// Store is a seshat store on PostgreSQL. Create it with New or Open; it
// implements store.Store and every optional capability: UserIndex,
// Counter, Iterator, StatsReporter and EventLog.
type Store struct {
	pool *pgxpool.Pool
	opts Options

	stop      context.CancelFunc // ends the sweeper
	swept     chan struct{}      // closed when the sweeper has returned
	closePool bool               // Open made the pool: Close closes it
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// SweepEvery is how often this instance removes expired rows (and
	// publishes an "expired" event for each expired session that was bound
	// to a user), in batches of SweepBatch rows. Any number of instances
	// may sweep at once: a row is removed, and its event published, by
	// exactly one of them. 0 means a minute; negative means never (call
	// Sweep yourself). Expired rows are never read as sessions either
	// way: expiry is enforced on read.
	SweepEvery time.Duration
	// SweepBatch bounds the rows one sweep statement removes, so that a
	// sweep never holds many locks at once. 0 means 1000.
	SweepBatch int
	// EventsKept is how long lifecycle events stay in the event table for
	// Follow to deliver to instances that were briefly away. 0 means an
	// hour.
	EventsKept time.Duration
	// SkipMigrate makes New and Open leave the schema alone: for
	// administration tools that must not change the database, and for
	// deployments that migrate ahead (`seshat migrate`) and serve with a
	// role that may only read and write the store's tables (Migrate
	// itself creates nothing when the schema is current). Operations fail
	// if the schema is missing.
	SkipMigrate bool
}

func (o Options) withDefaults() Options {
	if o.SweepEvery == 0 {
		o.SweepEvery = time.Minute
	}
	if o.SweepBatch <= 0 {
		o.SweepBatch = 1000
	}
	if o.EventsKept <= 0 {
		o.EventsKept = time.Hour
	}
	return o
}

// New returns a store on pool, migrating the schema first (Migrate), and
// starts its sweeper (Options.SweepEvery). Close stops the sweeper; the
// pool stays the caller's.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	if !opts.SkipMigrate {
		if _, err := Migrate(ctx, pool); err != nil {
			return nil, err
		}
	}
	s := &Store{pool: pool, opts: opts.withDefaults(), swept: make(chan struct{})}
	var sctx context.Context
	sctx, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	if s.opts.SweepEvery > 0 {
		go s.sweepLoop(sctx)
	} else {
		close(s.swept)
	}
	return s, nil
}

// Open connects to the database a URL names (postgres:// or
// postgresql://, with pgx's parameters: pool_max_conns, sslmode,
// connect_timeout (5 s when not given), …), migrates it unless
// Options.SkipMigrate, and returns a store that owns the pool: Close
// closes it.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// An unreachable server fails a connection in bounded time, not
		// the system's TCP timeout (connect_timeout in the URL overrides).
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s, err := New(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.closePool = true
	return s, nil
}

// Pool returns the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the sweeper and, for a store made by Open, closes the pool.
// It always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.swept
		if s.closePool {
			s.pool.Close()
		}
	})
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// opID returns a fresh operation id: every write carries one, so that a
// retry after a lost reply answers what the first run did (seshat_ops).
//
// It is 16 bytes: the time in nanoseconds (big-endian, so ids recorded one
// after another go to the end of seshat_ops's index instead of a random
// page each: fewer pages written, and logged whole after a checkpoint),
// then 8 random bytes.
func opID() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(time.Now().UnixNano()))
	rand.Read(b[8:])
	return b
}

// lost reports whether err may have lost the reply of a statement the
// server ran: the connection failed, not the statement (or the server
// ended the connection: a shutdown, a crash of another backend, a
// failover), so the write is worth sending again on another connection.
func lost(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true
	}
	switch pe.Code {
	case "57P01", "57P02", "57P03": // admin shutdown, crash shutdown, cannot connect now
		return true
	}
	return false
}

// retried runs a write, and once more (with the same operation id) when
// its reply was lost: the write is applied at most once either way.
func retried(ctx context.Context, f func() error) error {
	err := f()
	if lost(ctx, err) {
		err = f()
	}
	return err
}

// record builds a Record from the columns the functions return.
func record(user []byte, created, touched, idle, deadline int64, names, vals [][]byte) *store.Record {
	rec := &store.Record{Values: make(map[string][]byte, len(names)), Created: time.UnixMilli(created),
		Touched: time.UnixMilli(touched), IdleTimeout: time.Duration(idle) * time.Millisecond, Deadline: time.UnixMilli(deadline)}
	rec.User = string(user)
	for i, n := range names {
		if i < len(vals) {
			rec.Values[string(n)] = vals[i]
		}
	}
	return rec
}

// status maps a function's status to the store's errors.
func status(op, st string) error {
	switch st {
	case "OK":
		return nil
	case "NOTFOUND":
		return fmt.Errorf("pgstore: %s: %w", op, store.ErrNotFound)
	case "MOVED":
		return fmt.Errorf("pgstore: %s: %w", op, store.ErrMoved)
	case "EXISTS":
		return fmt.Errorf("pgstore: %s: %w", op, store.ErrExists)
	case "NOTINT":
		return fmt.Errorf("pgstore: %s: %w", op, store.ErrNotInteger)
	}
	return fmt.Errorf("pgstore: %s: unexpected status %q: %w", op, st, store.ErrCorrupt)
}

// fail maps a pgx error to the store's errors.
func fail(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "53", "57", "08", "40": // resources, shutdown, connection, a serialization failure
			return fmt.Errorf("pgstore: %s: %w: %w", op, store.ErrUnavailable, err)
		}
		if pe.Code == "25006" { // a read-only server: a standby (the URL should ask for target_session_attrs=read-write)
			return fmt.Errorf("pgstore: %s: %w: %w", op, store.ErrUnavailable, err)
		}
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	return fmt.Errorf("pgstore: %s: %w: %w", op, store.ErrUnavailable, err)
}

func (s *Store) readRecord(ctx context.Context, op, sql string, args ...any) (*store.Record, error) {
	var st string
	var user []byte
	var created, touched, idle, deadline *int64
	var names, vals [][]byte
	err := retried(ctx, func() error {
		return s.pool.QueryRow(ctx, sql, args...).Scan(&st, &user, &created, &touched, &idle, &deadline, &names, &vals)
	})
	if err != nil {
		return nil, fail(op, err)
	}
	if err := status(op, st); err != nil {
		return nil, err
	}
	if created == nil || touched == nil || idle == nil || deadline == nil {
		return nil, fmt.Errorf("pgstore: %s: a session without its times: %w", op, store.ErrCorrupt)
	}
	return record(user, *created, *touched, *idle, *deadline, names, vals), nil
}

// loadSQL reads a session and its values in one statement.
const loadSQL = `SELECT s.user_key, s.created, s.touched, s.idle, s.deadline, s.expires,
	coalesce(array_agg(v.name ORDER BY v.name) FILTER (WHERE v.name IS NOT NULL), '{}'),
	coalesce(array_agg(v.value ORDER BY v.name) FILTER (WHERE v.name IS NOT NULL), '{}')
	FROM seshat_sessions s LEFT JOIN seshat_values v ON v.key = s.key
	WHERE s.key = $1 GROUP BY s.key`

// Load implements store.Store: one plain SELECT, which writes nothing;
// when the touch interval has passed, an UPDATE of the session's expiry
// follows (once per interval, as on Redis).
func (s *Store) Load(ctx context.Context, key string, o store.LoadOptions) (*store.Record, error) {
	var user []byte
	var created, touched, idle, deadline, expires int64
	var names, vals [][]byte
	err := retried(ctx, func() error {
		return s.pool.QueryRow(ctx, loadSQL, key).Scan(&user, &created, &touched, &idle, &deadline, &expires, &names, &vals)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: load: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fail("load", err)
	}
	now := ms(o.Now)
	switch {
	case idle == 0 && now < deadline:
		return nil, fmt.Errorf("pgstore: load: %w", store.ErrMoved)
	case idle == 0 || now >= expires:
		return nil, fmt.Errorf("pgstore: load: %w", store.ErrNotFound)
	}
	if now-touched >= o.TouchAfter.Milliseconds() {
		if err := retried(ctx, func() error {
			_, err := s.pool.Exec(ctx, `UPDATE seshat_sessions SET touched = greatest(touched, $2) WHERE key = $1 AND idle > 0`, key, now)
			return err
		}); err != nil {
			return nil, fail("touch", err)
		}
		touched = max(touched, now)
	}
	return record(user, created, touched, idle, deadline, names, vals), nil
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key string, rec *store.Record) error {
	names := make([][]byte, 0, len(rec.Values))
	vals := make([][]byte, 0, len(rec.Values))
	for n, v := range rec.Values {
		names = append(names, []byte(n))
		vals = append(vals, nonNil(v))
	}
	var st string
	op := opID()
	err := retried(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT seshat_create($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, key, ms(time.Now()), []byte(rec.User),
			ms(rec.Created), ms(rec.Touched), rec.IdleTimeout.Milliseconds(), ms(rec.Deadline), names, vals, op).Scan(&st)
	})
	if err != nil {
		return fail("create", err)
	}
	if st == "EXPIRED" {
		return nil // already past its end: nothing to keep
	}
	return status("create", st)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Commit implements store.Store, in one round trip: seshat_commit applies
// store.Apply's rules in the database.
func (s *Store) Commit(ctx context.Context, key string, d *store.Delta) (store.Result, error) {
	var expNames, expVals [][]byte
	var expAbsent []bool
	for _, e := range d.Expect {
		expNames = append(expNames, []byte(e.Name))
		expVals = append(expVals, nonNil(e.Value))
		expAbsent = append(expAbsent, e.Absent)
	}
	setNames := make([][]byte, 0, len(d.Set))
	setVals := make([][]byte, 0, len(d.Set))
	for n, v := range d.Set {
		setNames = append(setNames, []byte(n))
		setVals = append(setVals, nonNil(v))
	}
	delNames := make([][]byte, 0, len(d.Delete))
	for _, n := range d.Delete {
		delNames = append(delNames, []byte(n))
	}
	var incrName []byte
	var incrBy int64
	if d.Incr != nil {
		incrName, incrBy = []byte(d.Incr.Name), d.Incr.By
	}
	user := []byte{}
	if d.User != nil {
		user = []byte(*d.User)
	}
	var deadline *int64
	if !d.Deadline.IsZero() {
		v := ms(d.Deadline)
		deadline = &v
	}
	var st string
	var result *string
	var curNames, curVals [][]byte
	var size *int
	op := opID()
	err := retried(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT * FROM seshat_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			key, ms(d.Now), d.TouchAfter.Milliseconds(), d.MaxSize, expNames, expVals, expAbsent, setNames, setVals, delNames,
			incrName, incrBy, d.User != nil, user, d.IdleTimeout.Milliseconds(), deadline, op).Scan(&st, &result, &curNames, &curVals, &size)
	})
	if err != nil {
		return store.Result{}, fail("commit", err)
	}
	switch st {
	case "CONFLICT":
		cur := make(map[string][]byte, len(curNames))
		for i, n := range curNames {
			if i < len(curVals) {
				cur[string(n)] = curVals[i]
			}
		}
		return store.Result{Current: cur}, fmt.Errorf("pgstore: commit: %w", store.ErrConflict)
	case "TOOLARGE":
		n := 0
		if size != nil {
			n = *size
		}
		return store.Result{}, fmt.Errorf("pgstore: commit: %d bytes, limit %d: %w", n, d.MaxSize, store.ErrTooLarge)
	}
	if err := status("commit", st); err != nil {
		return store.Result{}, err
	}
	var res store.Result
	if d.Incr != nil {
		if result == nil {
			return res, fmt.Errorf("pgstore: commit: no incremented value: %w", store.ErrCorrupt)
		}
		v, err := strconv.ParseInt(*result, 10, 64)
		if err != nil {
			return res, fmt.Errorf("pgstore: commit: incremented value %q: %w", *result, store.ErrCorrupt)
		}
		res.Value = v
	}
	return res, nil
}

// Destroy implements store.Store.
func (s *Store) Destroy(ctx context.Context, key string) error {
	if err := retried(ctx, func() error {
		_, err := s.pool.Exec(ctx, `DELETE FROM seshat_sessions WHERE key = $1`, key)
		return err
	}); err != nil {
		return fail("destroy", err)
	}
	return nil
}

// Take implements store.Store: it returns the session and leaves a marker
// for store.MovedGrace, in one round trip.
func (s *Store) Take(ctx context.Context, key string, now time.Time) (*store.Record, error) {
	return s.readRecord(ctx, "take", `SELECT * FROM seshat_take($1, $2, $3, $4)`, key, ms(now), store.MovedGrace.Milliseconds(), opID())
}
