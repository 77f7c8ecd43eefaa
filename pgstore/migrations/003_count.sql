-- 003: an exact live count without scanning the sessions: triggers keep
-- how many sessions (not markers) have a row, spread over 16 counter rows
-- by backend so that concurrent creations do not queue on one; Count subtracts the
-- rows already past their expiry that the sweeper has not removed yet (an
-- index range scan over few rows).
CREATE TABLE seshat_counts (
	bucket smallint PRIMARY KEY,
	n      bigint   NOT NULL
);
INSERT INTO seshat_counts (bucket, n) SELECT b, 0 FROM generate_series(0, 15) AS b;
UPDATE seshat_counts SET n = (SELECT count(*) FROM seshat_sessions WHERE idle > 0) WHERE bucket = 0;

CREATE FUNCTION seshat_count_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	d bigint := 0;
BEGIN
	IF TG_OP = 'INSERT' THEN
		IF NEW.idle > 0 THEN d := 1; END IF;
	ELSIF TG_OP = 'DELETE' THEN
		IF OLD.idle > 0 THEN d := -1; END IF;
	ELSE
		IF OLD.idle > 0 AND NEW.idle = 0 THEN d := -1; END IF; -- taken: a marker now
		IF OLD.idle = 0 AND NEW.idle > 0 THEN d := 1; END IF;
	END IF;
	IF d <> 0 THEN
		-- By backend, not by key: transactions running at once are on
		-- different backends, so they never wait for each other's counter
		-- row (Count sums the rows; which one holds a session is moot).
		UPDATE seshat_counts SET n = n + d WHERE bucket = pg_backend_pid() % 16;
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER seshat_count AFTER INSERT OR DELETE ON seshat_sessions
	FOR EACH ROW EXECUTE FUNCTION seshat_count_trigger();
-- A take (a session becomes a marker), and only that.
CREATE TRIGGER seshat_count_take AFTER UPDATE OF idle ON seshat_sessions
	FOR EACH ROW WHEN ((OLD.idle = 0) IS DISTINCT FROM (NEW.idle = 0)) EXECUTE FUNCTION seshat_count_trigger();
