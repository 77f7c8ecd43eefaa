-- 001: one row per session, one row per value.
--
-- Values are rows of their own so that a commit changes only what the
-- request changed (a delta), as on Redis where they are hash fields. Names
-- and values are bytea: opaque bytes (sealed with encryption at rest), and
-- names may hold bytes text cannot (seshat's internal names start with
-- NUL). Times are Unix milliseconds, as the Redis store keeps them, and
-- compared with the application's clock, which every call passes.
CREATE TABLE seshat_sessions (
	key         text     PRIMARY KEY,           -- a keyed hash of the session ID, never the ID
	user_key    bytea,                          -- the user as the manager gives it (a keyed hash with encryption): any bytes
	created     bigint   NOT NULL,
	touched     bigint   NOT NULL,
	idle        bigint   NOT NULL,              -- idle timeout, ms; 0 for a moved marker
	deadline    bigint   NOT NULL,              -- absolute end; a marker's end for a moved marker
	expires     bigint   GENERATED ALWAYS AS (CASE WHEN idle = 0 THEN deadline ELSE least(touched + idle, deadline) END) STORED,
	size        integer  NOT NULL DEFAULT 0,    -- store.Record.Size: bytes of names and values
	format      smallint NOT NULL DEFAULT 1,    -- store.FormatVersion
	op          bytea                           -- the creation's operation id, for its retry
);
CREATE INDEX seshat_sessions_expires ON seshat_sessions (expires);
CREATE INDEX seshat_sessions_user ON seshat_sessions (user_key) WHERE user_key IS NOT NULL;

CREATE TABLE seshat_values (
	key   text  NOT NULL REFERENCES seshat_sessions (key) ON DELETE CASCADE,
	name  bytea NOT NULL,
	value bytea NOT NULL,
	PRIMARY KEY (key, name)
);

-- Lifecycle events, for Manager.Listen on every instance (polled by id;
-- NOTIFY wakes the followers). Columns, not JSON: a user may hold bytes
-- that JSON in PostgreSQL cannot (NUL).
CREATE TABLE seshat_events (
	id       bigserial PRIMARY KEY,
	at       bigint    NOT NULL,
	kind     text      NOT NULL,
	reason   text      NOT NULL DEFAULT '',
	handle   text      NOT NULL,
	previous text      NOT NULL DEFAULT '',
	user_key bytea
);

-- Operations applied, for exactly-once writes: a write whose reply was lost
-- is retried by the store with the same id, and the retry answers what the
-- first run did. Kept a minute by the database's clock, then pruned. (A
-- creation keeps its id in its row instead.) Ids start with the time, so
-- inserts go to the index's last page.
CREATE TABLE seshat_ops (
	id     bytea  PRIMARY KEY,
	at     bigint NOT NULL,
	result text
);
CREATE INDEX seshat_ops_at ON seshat_ops (at);
