-- 002: the store's writes as functions, one round trip each (a read is
-- one plain SELECT, in store.go). They implement store.Apply's rules (storetest's differential case holds them
-- to it) and answer status first, like the Redis store's scripts: 'OK',
-- 'NOTFOUND', 'MOVED', 'CONFLICT', 'TOOLARGE', 'NOTINT', 'EXISTS'.
-- Times are Unix milliseconds of the application's clock.

-- seshat_int reads a value an increment may change: the canonical decimal
-- form of an int64, nothing else (NULL otherwise).
CREATE FUNCTION seshat_int(v bytea) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	t text;
BEGIN
	IF v IS NULL OR octet_length(v) NOT BETWEEN 1 AND 20 OR encode(v, 'hex') !~ '^(2d)?(3[0-9])+$' THEN
		RETURN NULL;
	END IF;
	t := convert_from(v, 'UTF8');
	IF t !~ '^(0|-?[1-9][0-9]*)$' OR t::numeric NOT BETWEEN -9223372036854775808 AND 9223372036854775807 THEN
		RETURN NULL;
	END IF;
	RETURN t::numeric;
END $$;

-- seshat_db_ms is the database's clock in Unix milliseconds: the
-- operation log ages by it, so skewed application clocks cannot keep it
-- forever or end it early.
CREATE FUNCTION seshat_db_ms() RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

-- seshat_applied records an applied write (its result). One write in a
-- hundred also prunes up to 200 records older than a minute, which keeps
-- the log bounded even when no sweeper runs (the sweeper prunes too).
CREATE FUNCTION seshat_applied(p_op bytea, p_result text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF p_op IS NULL THEN RETURN; END IF;
	INSERT INTO seshat_ops (id, at, result) VALUES (p_op, seshat_db_ms(), p_result) ON CONFLICT (id) DO NOTHING;
	IF random() < 0.01 THEN
		DELETE FROM seshat_ops WHERE id IN (SELECT id FROM seshat_ops WHERE at < seshat_db_ms() - 60000 LIMIT 200);
	END IF;
END $$;

CREATE FUNCTION seshat_create(p_key text, p_now bigint, p_user bytea, p_created bigint, p_touched bigint, p_idle bigint,
	p_deadline bigint, p_names bytea[], p_vals bytea[], p_op bytea) RETURNS text
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	n integer;
BEGIN
	IF least(p_touched + p_idle, p_deadline) <= p_now OR p_idle <= 0 THEN
		RETURN 'EXPIRED';
	END IF;
	-- A retry of a creation that was applied finds the row it made (which
	-- nobody else can have touched: the key was not given out yet).
	IF EXISTS (SELECT 1 FROM seshat_sessions WHERE key = p_key AND op = p_op) THEN
		RETURN 'OK';
	END IF;
	-- A row past its end is no session: it gives way.
	DELETE FROM seshat_sessions WHERE key = p_key AND expires <= p_now;
	SELECT coalesce(sum(octet_length(a) + octet_length(b)), 0) INTO n FROM unnest(p_names, p_vals) AS t(a, b);
	INSERT INTO seshat_sessions (key, user_key, created, touched, idle, deadline, size, op)
		VALUES (p_key, nullif(p_user, ''::bytea), p_created, p_touched, p_idle, p_deadline, n, p_op)
		ON CONFLICT (key) DO NOTHING;
	IF NOT FOUND THEN
		RETURN 'EXISTS';
	END IF;
	INSERT INTO seshat_values (key, name, value) SELECT p_key, a, b FROM unnest(p_names, p_vals) AS t(a, b);
	RETURN 'OK';
END $$;

CREATE FUNCTION seshat_take(p_key text, p_now bigint, p_grace bigint, p_op bytea,
	OUT status text, OUT user_key bytea, OUT created bigint, OUT touched bigint, OUT idle bigint, OUT deadline bigint,
	OUT names bytea[], OUT vals bytea[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	s seshat_sessions;
	r text[];
BEGIN
	SELECT * INTO s FROM seshat_sessions WHERE key = p_key FOR UPDATE;
	IF FOUND AND s.idle = 0 THEN
		-- A marker: a retry of the take that left it answers what it took
		-- (kept with the marker), any other take finds the session moved.
		SELECT string_to_array(o.result, ' ') INTO r FROM seshat_ops o WHERE o.id = p_op;
		IF FOUND AND p_now < s.deadline THEN
			created := r[1]::bigint; touched := r[2]::bigint; idle := r[3]::bigint; deadline := r[4]::bigint;
			user_key := nullif(decode(coalesce(r[5], ''), 'hex'), ''::bytea);
			SELECT array_agg(v.name), array_agg(v.value) INTO names, vals FROM seshat_values v WHERE v.key = p_key;
			status := 'OK'; RETURN;
		END IF;
		IF p_now < s.deadline THEN
			status := 'MOVED'; RETURN;
		END IF;
		status := 'NOTFOUND'; RETURN;
	END IF;
	IF NOT FOUND OR p_now >= s.expires THEN
		status := 'NOTFOUND'; RETURN;
	END IF;
	SELECT array_agg(v.name), array_agg(v.value) INTO names, vals FROM seshat_values v WHERE v.key = p_key;
	-- The session becomes its own marker until p_now + p_grace; its values
	-- stay with it for a retry of this take, read by nothing else.
	UPDATE seshat_sessions SET user_key = NULL, touched = p_now, idle = 0, deadline = p_now + p_grace, size = 0
		WHERE key = p_key;
	PERFORM seshat_applied(p_op, concat_ws(' ', s.created, s.touched, s.idle, s.deadline, encode(coalesce(s.user_key, ''::bytea), 'hex')));
	status := 'OK';
	user_key := s.user_key; created := s.created; touched := s.touched; idle := s.idle; deadline := s.deadline;
END $$;

CREATE FUNCTION seshat_commit(p_key text, p_now bigint, p_touch_after bigint, p_max integer,
	p_exp_names bytea[], p_exp_vals bytea[], p_exp_absent boolean[],
	p_set_names bytea[], p_set_vals bytea[], p_del_names bytea[],
	p_incr_name bytea, p_incr_by bigint, p_set_user boolean, p_user bytea, p_idle bigint, p_deadline bigint, p_op bytea,
	OUT status text, OUT result text, OUT cur_names bytea[], OUT cur_vals bytea[], OUT new_size integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	s seshat_sessions;
	v bytea;
	found_v boolean;
	old_v bytea;
	has_old boolean := false;
	sum numeric;
	digits bytea;
	old_sum integer := 0;
	new_sum integer := 0;
	n_set integer := coalesce(array_length(p_set_names, 1), 0);
	n_del integer := coalesce(array_length(p_del_names, 1), 0);
	touch boolean;
	i integer;
BEGIN
	-- 0. A retry of a commit that was applied answers what it did.
	SELECT o.result INTO result FROM seshat_ops o WHERE o.id = p_op;
	IF FOUND THEN
		status := 'OK'; RETURN;
	END IF;
	-- 1. A live session, locked for the rest of the commit (against
	-- other commits, takes and destroys; inserting its values still may).
	SELECT * INTO s FROM seshat_sessions WHERE key = p_key FOR NO KEY UPDATE;
	IF NOT FOUND OR (s.idle = 0 AND p_now >= s.deadline) OR (s.idle > 0 AND p_now >= s.expires) THEN
		status := 'NOTFOUND'; RETURN;
	END IF;
	IF s.idle = 0 THEN
		status := 'MOVED'; RETURN;
	END IF;

	-- 2. Expectations.
	FOR i IN 1 .. coalesce(array_length(p_exp_names, 1), 0) LOOP
		SELECT value INTO v FROM seshat_values WHERE key = p_key AND name = p_exp_names[i];
		found_v := FOUND;
		IF p_exp_absent[i] = found_v OR (found_v AND v <> p_exp_vals[i]) THEN
			SELECT array_agg(x.name), array_agg(x.value) INTO cur_names, cur_vals
				FROM seshat_values x WHERE x.key = p_key AND x.name = ANY (p_exp_names);
			status := 'CONFLICT'; RETURN;
		END IF;
	END LOOP;

	-- 3. The increment, on what Set and Delete leave.
	IF p_incr_name IS NOT NULL THEN
		i := CASE WHEN n_set > 0 THEN array_position(p_set_names, p_incr_name) END;
		IF i IS NOT NULL THEN
			old_v := p_set_vals[i]; has_old := true;
		ELSIF n_del > 0 AND p_incr_name = ANY (p_del_names) THEN
			has_old := false;
		ELSE
			SELECT value INTO old_v FROM seshat_values WHERE key = p_key AND name = p_incr_name;
			has_old := FOUND;
		END IF;
		IF has_old THEN
			sum := seshat_int(old_v);
			IF sum IS NULL THEN
				status := 'NOTINT'; RETURN;
			END IF;
		ELSE
			sum := 0;
		END IF;
		sum := sum + p_incr_by;
		IF sum NOT BETWEEN -9223372036854775808 AND 9223372036854775807 THEN
			status := 'NOTINT'; RETURN;
		END IF;
		result := sum::text;
		digits := convert_to(result, 'UTF8');
	END IF;

	-- 4. The size: what the affected names hold now, and will hold. (An
	-- increment alone knows both from the value it read.)
	IF n_set = 0 AND n_del = 0 THEN
		IF has_old THEN
			old_sum := octet_length(p_incr_name) + octet_length(old_v);
		END IF;
	ELSE
		SELECT coalesce(sum(octet_length(x.name) + octet_length(x.value)), 0) INTO old_sum FROM seshat_values x
			WHERE x.key = p_key AND (x.name = ANY (p_set_names) OR x.name = ANY (p_del_names) OR x.name = p_incr_name);
		SELECT coalesce(sum(octet_length(a) + octet_length(b)), 0) INTO new_sum
			FROM unnest(p_set_names, p_set_vals) AS t(a, b) WHERE p_incr_name IS NULL OR a <> p_incr_name;
	END IF;
	IF digits IS NOT NULL THEN
		new_sum := new_sum + octet_length(p_incr_name) + octet_length(digits);
	END IF;
	new_size := s.size - old_sum + new_sum;
	IF p_max > 0 AND new_size > p_max AND new_size > s.size THEN
		status := 'TOOLARGE'; RETURN;
	END IF;

	-- 5. Write: deletes, sets, the increment.
	IF n_del > 0 THEN
		DELETE FROM seshat_values x WHERE x.key = p_key AND x.name = ANY (p_del_names)
			AND NOT (x.name = ANY (coalesce(p_set_names, '{}')));
	END IF;
	IF n_set > 0 THEN
		INSERT INTO seshat_values (key, name, value) SELECT p_key, a, b FROM unnest(p_set_names, p_set_vals) AS t(a, b)
			ON CONFLICT (key, name) DO UPDATE SET value = EXCLUDED.value;
	END IF;
	IF digits IS NOT NULL THEN
		UPDATE seshat_values SET value = digits WHERE key = p_key AND name = p_incr_name;
		IF NOT FOUND THEN
			INSERT INTO seshat_values (key, name, value) VALUES (p_key, p_incr_name, digits);
		END IF;
	END IF;

	-- 6. User, touch, expiry: the session's row is written only when one
	-- of them or the size changes. A deadline already past ends the
	-- session.
	touch := p_idle > 0 OR p_deadline IS NOT NULL OR p_now - s.touched >= p_touch_after;
	IF touch THEN s.touched := p_now; END IF;
	IF p_idle > 0 THEN s.idle := p_idle; END IF;
	IF p_deadline IS NOT NULL THEN s.deadline := p_deadline; END IF;
	IF p_set_user THEN s.user_key := nullif(p_user, ''::bytea); END IF;
	IF least(s.touched + s.idle, s.deadline) <= p_now THEN
		DELETE FROM seshat_sessions WHERE key = p_key;
	ELSIF touch OR p_set_user OR new_size <> s.size THEN
		UPDATE seshat_sessions SET user_key = s.user_key, touched = s.touched, idle = s.idle, deadline = s.deadline,
			size = new_size WHERE key = p_key;
	END IF;
	-- 7. Recorded for a retry (as seshat_applied, inline).
	IF p_op IS NOT NULL THEN
		INSERT INTO seshat_ops (id, at, result) VALUES (p_op, seshat_db_ms(), result) ON CONFLICT (id) DO NOTHING;
		IF random() < 0.01 THEN
			DELETE FROM seshat_ops WHERE id IN (SELECT id FROM seshat_ops WHERE at < seshat_db_ms() - 60000 LIMIT 200);
		END IF;
	END IF;
	status := 'OK';
END $$;
