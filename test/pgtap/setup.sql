-- test/pgtap/setup.sql — run once (as a superuser, with psql -v ON_ERROR_STOP=1)
-- against the fresh database of the pgTAP phase, before pg_prove runs the
-- other files of this directory.  test/bin/run-all does it; by hand:
--
--   psql -X -v ON_ERROR_STOP=1 -d intracker_test -f test/pgtap/setup.sql
--   pg_prove -d intracker_test $(ls test/pgtap/*.sql | grep -v setup.sql)
--
-- The test files themselves create all their data inside a transaction and
-- roll it back; only the extensions, the roles and the test_helpers schema
-- below persist (test_helpers.ids too, but it is filled only inside a test
-- file's transaction, so it is empty between files).

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

-- Helpers every test file may call (they persist, like the roles): one
-- definition each, instead of a copy per file.
--
--   fixture names   test_helpers.ids, id(), ids(), name_of()
--   acting          claims(), as_user()
--   building        add_user(), team_fixture(), todo(), feature()
--   looking         peek(), version_of(), title_of() (from above, past
--                   RLS), affected(), error_of()
--   asserting       throws_detail()
CREATE SCHEMA IF NOT EXISTS test_helpers;

-- test_helpers.error_of(sql): the error a statement raises, as JSON
-- (sqlstate, message, detail, hint, and column when the error names one),
-- or NULL when it succeeds (its effects then stay).
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

------------------------------------------------------------------------------
-- Fixture names
------------------------------------------------------------------------------

-- The ids of a test file's fixture by name ('owner', 'p1', 't1', ...).  Each
-- file fills it inside its transaction, which it rolls back: the table is
-- empty when a file starts, and the files stay independent.  (Two files run
-- at the same time would wait for each other on equal names: pg_prove runs
-- them one after the other.)  The API roles insert too, so PUBLIC may.
CREATE TABLE IF NOT EXISTS test_helpers.ids (name text PRIMARY KEY, id uuid NOT NULL UNIQUE);
GRANT SELECT, INSERT ON test_helpers.ids TO PUBLIC;

-- test_helpers.id(name): the id of a fixture name; NULL for NULL (or a name
-- not recorded).
CREATE OR REPLACE FUNCTION test_helpers.id(name text) RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT id FROM test_helpers.ids WHERE ids.name = id.name $$;

-- test_helpers.ids(VARIADIC names): their ids, in the order given.
CREATE OR REPLACE FUNCTION test_helpers.ids(VARIADIC names text[]) RETURNS uuid[]
LANGUAGE sql STABLE AS $$ SELECT array_agg(test_helpers.id(n) ORDER BY i) FROM unnest(names) WITH ORDINALITY AS x (n, i) $$;

-- test_helpers.name_of(uid): the fixture name of an id (the id as text when
-- it has none; NULL stays NULL).
CREATE OR REPLACE FUNCTION test_helpers.name_of(uid uuid) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT coalesce((SELECT name FROM test_helpers.ids WHERE id = uid), uid::text) $$;

------------------------------------------------------------------------------
-- Acting: PostgREST's request context, for the rest of the transaction
------------------------------------------------------------------------------

-- test_helpers.claims(claims): set request.jwt.claims to this text as it is
-- (malformed JSON, '' and claims without "sub" included).
CREATE OR REPLACE FUNCTION test_helpers.claims(claims text) RETURNS void
LANGUAGE sql AS $$ SELECT set_config('request.jwt.claims', claims, true) $$;

-- test_helpers.as_user(user_name): act as a fixture user the way PostgREST
-- does, with the claims of a verified JWT: {"role": "web_user", "sub": <id>}.
-- NULL = an anonymous request ({"role": "web_user"}, no "sub").  A name that
-- is not in test_helpers.ids is an error, not a silently anonymous request.
-- (The claims count only on the authenticator's connection: see identity.sql.)
CREATE OR REPLACE FUNCTION test_helpers.as_user(user_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    uid uuid := test_helpers.id(user_name);
BEGIN
    IF user_name IS NOT NULL AND uid IS NULL THEN
        RAISE EXCEPTION 'test_helpers.as_user: no fixture user named %', user_name;
    END IF;
    PERFORM test_helpers.claims(CASE WHEN user_name IS NULL THEN '{"role": "web_user"}'
                                     ELSE jsonb_build_object('role', 'web_user', 'sub', uid)::text END);
END
$$;

------------------------------------------------------------------------------
-- Building fixtures
------------------------------------------------------------------------------

-- test_helpers.add_user(name, id, kind): the user <name>@example.com called
-- initcap(name), with this id, recorded under name; returns the id.  Needs
-- intracker_admin (run it as the superuser).
CREATE OR REPLACE FUNCTION test_helpers.add_user(name text, id uuid, kind text DEFAULT 'human') RETURNS uuid
LANGUAGE sql AS $$
    INSERT INTO test_helpers.ids VALUES (add_user.name, add_user.id);
    SELECT (intracker.create_user(add_user.name || '@example.com', initcap(add_user.name), add_user.kind,
                                  user_id => add_user.id)).id;
$$;

-- test_helpers.team_fixture(): the team errors.sql and rls.sql share, built
-- through the API as the superuser:
--
--   users     owner ...0001, editor ...0002, viewer ...0003, outsider ...0004,
--             newbie ...0006 (00000000-0000-4000-8000-00000000000N)
--   p1        'Project One', created by owner; editor is an editor, viewer
--             a viewer; outsider and newbie are members of nothing
--   f1        'Feature one' in p1
--
-- It acts as nobody afterwards (act_as(NULL)).  ...0005 is left to the file.
CREATE OR REPLACE FUNCTION test_helpers.team_fixture() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM test_helpers.add_user(u, ('00000000-0000-4000-8000-00000000000' || n)::uuid)
       FROM (VALUES ('owner', 1), ('editor', 2), ('viewer', 3), ('outsider', 4), ('newbie', 6)) AS x (u, n);
    PERFORM intracker.act_as(test_helpers.id('owner'));
    INSERT INTO test_helpers.ids SELECT 'p1', p.id FROM intracker.create_project('Project One') p;
    PERFORM intracker.add_member(test_helpers.id('p1'), test_helpers.id('editor'), 'editor');
    PERFORM intracker.add_member(test_helpers.id('p1'), test_helpers.id('viewer'), 'viewer');
    INSERT INTO test_helpers.ids SELECT 'f1', f.id FROM intracker.create_feature(test_helpers.id('p1'), 'Feature one') f;
    PERFORM intracker.act_as(NULL);
END
$$;

-- test_helpers.todo(name, project, assignee, priority, status, feature,
-- estimate, due): a todo titled <name> in a fixture project, created as the
-- acting user through intracker.create_todo, recorded under name.  The
-- defaults are create_todo's.
CREATE OR REPLACE FUNCTION test_helpers.todo(name text, project text, assignee text DEFAULT NULL,
                                             priority text DEFAULT 'medium', status text DEFAULT 'todo',
                                             feature text DEFAULT NULL, estimate integer DEFAULT 1,
                                             due date DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO test_helpers.ids
    SELECT todo.name, t.id
      FROM intracker.create_todo(test_helpers.id(todo.project), todo.name, feature_id => test_helpers.id(todo.feature),
                                 priority => todo.priority, estimate => todo.estimate, due_date => todo.due,
                                 assigned_to => test_helpers.id(todo.assignee), status => todo.status) t
$$;

-- test_helpers.feature(name, project, status, priority, assignee): the same
-- for a feature (intracker.create_feature).
CREATE OR REPLACE FUNCTION test_helpers.feature(name text, project text, status text DEFAULT 'todo',
                                                priority text DEFAULT 'medium', assignee text DEFAULT NULL)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO test_helpers.ids
    SELECT feature.name, f.id
      FROM intracker.create_feature(test_helpers.id(feature.project), feature.name, priority => feature.priority,
                                    assigned_to => test_helpers.id(feature.assignee), status => feature.status) f
$$;

------------------------------------------------------------------------------
-- Looking
------------------------------------------------------------------------------

-- test_helpers.peek(row_id): the version and the title (a project's name)
-- of a project, feature or todo, whoever may see it -- a test's look from
-- above (SECURITY DEFINER, owned by the superuser running this file), to
-- prove that nothing was written.  version_of() and title_of() read one each.
CREATE OR REPLACE FUNCTION test_helpers.peek(row_id uuid, OUT version integer, OUT title text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT version, title FROM intracker_data.todos WHERE id = row_id
    UNION ALL SELECT version, title FROM intracker_data.features WHERE id = row_id
    UNION ALL SELECT version, name FROM intracker_data.projects WHERE id = row_id
$$;
CREATE OR REPLACE FUNCTION test_helpers.version_of(row_id uuid) RETURNS integer
LANGUAGE sql STABLE AS $$ SELECT (test_helpers.peek(row_id)).version $$;
CREATE OR REPLACE FUNCTION test_helpers.title_of(row_id uuid) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT (test_helpers.peek(row_id)).title $$;

-- test_helpers.affected(sql): the number of rows an INSERT, UPDATE or DELETE
-- affected, run as the caller (RLS applies).
CREATE OR REPLACE FUNCTION test_helpers.affected(sql text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    EXECUTE sql;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

------------------------------------------------------------------------------
-- Asserting (pgTAP's ok() and diag(), found on the caller's search_path)
------------------------------------------------------------------------------

-- test_helpers.throws_detail(sql, state, pattern, description): sql fails
-- with SQLSTATE state and a DETAIL matching pattern (a case-insensitive
-- regular expression).
CREATE OR REPLACE FUNCTION test_helpers.throws_detail(sql text, state text, pattern text, description text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    e jsonb := test_helpers.error_of(sql);
    good boolean := e IS NOT NULL AND e ->> 'sqlstate' = state AND coalesce(e ->> 'detail', '') ~* pattern;
BEGIN
    IF good THEN
        RETURN ok(true, description);
    END IF;
    RETURN ok(false, description) || E'\n' ||
           diag(format('    wanted: %s with DETAIL ~* %L%s    got: %s', state, pattern, E'\n', coalesce(e::text, 'no error')));
END
$$;

GRANT USAGE ON SCHEMA test_helpers TO PUBLIC;
