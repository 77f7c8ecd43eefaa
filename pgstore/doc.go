// Package pgstore is a seshat store on PostgreSQL (pgx v5 and pgxpool),
// with the same guarantees as the Redis store and every optional
// capability: a user index, an exact live count, an iterator, stats and
// an event log shared by every instance.
//
// Layout (the SQL is in migrations/, embedded and applied by Migrate):
// one row per session in seshat_sessions, one row per value in
// seshat_values, so a commit changes only what the request changed.
// Session keys are the keyed hashes the manager gives (never session IDs),
// users are kept as the manager gives them (keyed hashes with encryption),
// values are opaque bytes (sealed with encryption).
//
// One round trip per read and per write: Load, Create, Commit and Take are
// PL/pgSQL functions that apply store.Apply's rules in the database
// (storetest's differential case holds them to it), answering status
// first like the Redis store's scripts. Reads write nothing unless a touch
// is due.
//
// Exactly once: every write carries an operation id, recorded in
// seshat_ops in the write's own transaction. When a reply is lost (the
// connection dropped after the server ran the statement) the store sends
// the write again once with the same id, and the database answers what the
// first run did instead of applying it again.
//
// Expiry is enforced on read by the application's clock: a row past its
// expiry is never returned. The sweeper (Options.SweepEvery) removes such
// rows in bounded batches with DELETE … RETURNING, publishing an exact
// "expired" event for each session that was bound to a user in the same
// statement; concurrent sweepers skip each other's rows (SKIP LOCKED).
//
// Events reach every instance through the seshat_events table, which
// Follow polls by id, woken by NOTIFY: a notification is lost when a
// follower is away, a row is not.
//
// The live count is exact and cheap: triggers keep per-bucket counters
// (migration 003), and Count subtracts the expired rows the sweeper has not
// removed yet, an index range scan over few rows (0.2 ms at 1,000,000
// sessions).
package pgstore
