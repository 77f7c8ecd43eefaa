// Package pgstore is a seshat store on PostgreSQL (pgx v5, pgxpool). Work
// in progress: the schema and its migrations (Migrate) and the test
// harness (pgtest) exist; the store itself does not yet.
//
// Design, as planned (issue 17): one row per session in seshat_sessions
// and one row per value in seshat_values, so that a commit changes only
// what the request changed; reads and commits are one round trip each,
// through server-side functions that implement store.Apply's rules (a
// second implementation, held to the first by storetest's differential
// case, as the Redis store's Lua scripts are); expiry is enforced on read
// with the application's clock and rows are removed by a sweeper in
// bounded batches (DELETE … RETURNING, which yields exact "expired"
// events); keys are keyed hashes of session IDs, never the IDs.
package pgstore
