-- 003: an exact live count without scanning the sessions: triggers keep
-- how many sessions (not markers) have a row, spread over 16 counter rows
-- so that concurrent creations do not queue on one; Count subtracts the
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
	k text;
BEGIN
	IF TG_OP = 'INSERT' THEN
		k := NEW.key;
		IF NEW.idle > 0 THEN d := 1; END IF;
	ELSIF TG_OP = 'DELETE' THEN
		k := OLD.key;
		IF OLD.idle > 0 THEN d := -1; END IF;
	ELSE
		k := NEW.key;
		IF OLD.idle > 0 AND NEW.idle = 0 THEN d := -1; END IF; -- taken: a marker now
		IF OLD.idle = 0 AND NEW.idle > 0 THEN d := 1; END IF;
	END IF;
	IF d <> 0 THEN
		UPDATE seshat_counts SET n = n + d WHERE bucket = abs(hashtext(k)) % 16;
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER seshat_count AFTER INSERT OR DELETE OR UPDATE OF idle ON seshat_sessions
	FOR EACH ROW EXECUTE FUNCTION seshat_count_trigger();
