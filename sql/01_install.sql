--
-- Install the extension and the helpers the other regression tests share.
--
CREATE EXTENSION intracker;

-- What the extension owns, as a newcomer would list it.
SELECT pg_describe_object(classid, objid, 0) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'intracker')
   AND deptype = 'e'
   AND (pg_describe_object(classid, objid, 0) LIKE 'schema %'
        OR pg_describe_object(classid, objid, 0) LIKE 'view intracker.%'
        OR pg_describe_object(classid, objid, 0) LIKE 'function intracker.%')
 ORDER BY 1;

SELECT rolname, rolcanlogin, pg_has_role('intracker_admin', 'intracker_user', 'MEMBER') AS admin_is_user
  FROM pg_roles WHERE rolname IN ('intracker_user', 'intracker_admin') ORDER BY 1;

-- The tests run as a non-superuser admin, so that RLS applies to them.
CREATE ROLE regress_admin IN ROLE intracker_admin;

CREATE SCHEMA regress;
GRANT USAGE ON SCHEMA regress TO PUBLIC;

-- Names for ids, so expected output does not depend on random uuids.
CREATE TABLE regress.names (id uuid PRIMARY KEY, name text NOT NULL);
GRANT SELECT, INSERT ON regress.names TO PUBLIC;

CREATE FUNCTION regress.named(message text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    entry record;
BEGIN
    FOR entry IN SELECT id, name FROM regress.names LOOP
        message := replace(message, entry.id::text, entry.name);
    END LOOP;
    RETURN regexp_replace(message, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g');
END
$$;

-- Run a statement; show "ok" or its error (SQLSTATE, message, DETAIL, HINT)
-- with ids replaced by names.  A failed statement is rolled back.
CREATE FUNCTION regress.try(statement text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    detail text;
    hint text;
BEGIN
    EXECUTE statement;
    RETURN NEXT 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RETURN NEXT regress.named(state || ': ' || message);
    IF detail <> '' THEN
        RETURN NEXT regress.named('DETAIL: ' || detail);
    END IF;
    IF hint <> '' THEN
        RETURN NEXT 'HINT: ' || hint;
    END IF;
END
$$;

-- The team used by the following tests, with fixed ids.
SET ROLE regress_admin;
SELECT name, email, kind, is_active
  FROM intracker.create_user('ann@example.com', 'Ann', user_id => '00000000-0000-0000-0000-00000000000a');
SELECT name, kind FROM intracker.create_user('bot@example.com', 'Builder Bot', 'agent', 'builder-bot', '00000000-0000-0000-0000-00000000000b');
SELECT name FROM intracker.create_user('vic@example.com', 'Vic', user_id => '00000000-0000-0000-0000-00000000000c');
SELECT name FROM intracker.create_user('out@example.com', 'Outsider', user_id => '00000000-0000-0000-0000-00000000000d');
INSERT INTO regress.names VALUES
    ('00000000-0000-0000-0000-00000000000a', 'ann'),
    ('00000000-0000-0000-0000-00000000000b', 'bot'),
    ('00000000-0000-0000-0000-00000000000c', 'vic'),
    ('00000000-0000-0000-0000-00000000000d', 'outsider');

-- Users: email is unique whatever its case; bad input names the field.
SELECT * FROM regress.try($$SELECT intracker.create_user('ANN@example.com', 'Ann again')$$);
SELECT * FROM regress.try($$SELECT intracker.create_user('not-an-email', 'X')$$);
SELECT * FROM regress.try($$SELECT intracker.create_user('x@example.com', 'X', 'robot')$$);
SELECT * FROM regress.try($$SELECT intracker.create_user('x@example.com', '  ')$$);
RESET ROLE;
