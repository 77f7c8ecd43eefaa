// Package seshat is HTTP session management for net/http, built so that
// parallel requests on one session never lose each other's changes.
//
// A Manager's Handler middleware gives every request a Session. Reads come
// from one load of the store (and only when the handler asks for a value);
// changes are kept as a delta and committed as one atomic store operation
// just before the response headers go out, so two requests that change
// different keys both persist. Incr and Update run atomically in the store
// and return what was stored; Destroy is final the moment it returns, and
// Regenerate moves a session to a fresh ID at login.
//
// Values are typed: Set encodes at once (an unencodable value fails there,
// not after the response), and Get[T] decodes into the type asked for. The
// cookie carries a 256-bit random ID signed with HMAC-SHA-256; the store
// sees only a keyed hash of it.
//
// Stores implement the small interface in package store and prove the
// guarantees with package store/storetest. memstore is the default;
// redisstore is for production.
package seshat
