-- test/pgtap/setup.sql — run once (as a superuser, with psql -v ON_ERROR_STOP=1)
-- against the fresh database of the pgTAP phase, before pg_prove runs the
-- other files of this directory.  test/bin/run-all does it; by hand:
--
--   psql -X -v ON_ERROR_STOP=1 -d intracker_test -f test/pgtap/setup.sql
--   pg_prove -d intracker_test $(ls test/pgtap/*.sql | grep -v setup.sql)
--
-- The test files themselves create all their data inside a transaction and
-- roll it back; only the extensions and the roles below persist.

CREATE EXTENSION IF NOT EXISTS pgtap;
-- Creates the roles intracker_user and intracker_admin if they do not exist.
CREATE EXTENSION IF NOT EXISTS intracker;

-- Test roles.  Roles are cluster-wide and may survive from an earlier run on
-- the same cluster, so create each one only if it is missing.
--
--   authenticator  PostgREST's login role: NOINHERIT, so it has no privileges
--                  of its own until it switches to web_user.  JWT claims are
--                  trusted only when it is the session user
--                  (intracker.authenticator_role defaults to 'authenticator').
--   web_user       PostgREST's authenticated role: member of intracker_user,
--                  granted to authenticator.
--   tester_admin   a script/test role: member of intracker_admin, so it may
--                  call intracker.act_as() and intracker.create_user().
--   tester_plain   an ordinary API role: member of intracker_user only.
--   tester_nobody  a role with no intracker privileges at all.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator LOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'web_user') THEN
        CREATE ROLE web_user NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tester_admin') THEN
        CREATE ROLE tester_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tester_plain') THEN
        CREATE ROLE tester_plain NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tester_nobody') THEN
        CREATE ROLE tester_nobody NOLOGIN;
    END IF;
END
$roles$;

-- GRANT of a role membership that already exists only raises a NOTICE.
SET client_min_messages = warning;
GRANT intracker_user TO web_user;
GRANT web_user TO authenticator;
GRANT intracker_admin TO tester_admin;
GRANT intracker_user TO tester_plain;
RESET client_min_messages;

-- Helpers every test file may call (they persist, like the roles).
--
-- test_helpers.error_of(sql): the error a statement raises, as JSON
-- (sqlstate, message, detail, hint, and column when the error names one),
-- or NULL when it succeeds (its effects then stay).
CREATE SCHEMA IF NOT EXISTS test_helpers;
CREATE OR REPLACE FUNCTION test_helpers.error_of(sql text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text; det text; hnt text; col text;
BEGIN
    EXECUTE sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                            hnt = PG_EXCEPTION_HINT, col = COLUMN_NAME;
    RETURN jsonb_build_object('sqlstate', state, 'message', msg,
                              'detail', nullif(det, ''), 'hint', nullif(hnt, ''))
           || CASE WHEN col <> '' THEN jsonb_build_object('column', col) ELSE '{}' END;
END
$$;
GRANT USAGE ON SCHEMA test_helpers TO PUBLIC;
