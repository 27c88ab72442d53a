--
-- Identity: PostgREST's JWT claims count only on the authenticator's
-- connection; act_as is for intracker_admin members and behaves like SET.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
-- PostgREST's roles (cluster-wide: made only if missing); the fixture made
-- regress_plain, a plain intracker_user.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_web_user') THEN
        CREATE ROLE regress_web_user IN ROLE intracker_user;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator LOGIN NOINHERIT IN ROLE regress_web_user;
    END IF;
END
$$;
-- The todo the If-Match tests below update, at version 1 (03_todos makes it).
SET intracker.acting_user = '00000000-0000-0000-0000-00000000000a';
INSERT INTO intracker.todos (project_id, title) VALUES ((SELECT id FROM regress.names WHERE name = 'tracker'), 'Write docs');
RESET intracker.acting_user;

-- A plain user setting claims gains nothing.
SET ROLE regress_plain;
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-00000000000a"}', false) IS NOT NULL AS claims_set;
SELECT intracker.current_user_id() IS NULL AS still_anonymous;
SELECT count(*) AS projects_seen FROM intracker.projects;
SELECT * FROM regress.try($$SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a')$$);
SELECT * FROM regress.try($$SET intracker.acting_user = '00000000-0000-0000-0000-00000000000a'$$);
SELECT * FROM regress.try($$SET intracker.authenticator_role = 'regress_plain'$$);
RESET ROLE;
RESET request.jwt.claims;

-- On the authenticator's connection the claims are the identity.
SET SESSION AUTHORIZATION authenticator;
SET ROLE regress_web_user;
SELECT intracker.current_user_id() IS NULL AS anonymous_without_token;
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-00000000000a", "role": "regress_web_user"}', false) IS NOT NULL AS claims_set;
SELECT regress.named(intracker.current_user_id()::text) AS acting;
SELECT name FROM intracker.projects;
SELECT * FROM regress.try($$SELECT set_config('request.jwt.claims', '{"sub": "ann"}', true), intracker.current_user_id()$$);
-- Malformed claims are no identity at all.
SELECT set_config('request.jwt.claims', '{"sub": ', false) IS NOT NULL AS claims_set;
SELECT intracker.current_user_id() IS NULL AS anonymous_with_bad_json;
-- PATCH with If-Match: the header is a list of entity tags.
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-0000-0000-00000000000b"}', false) IS NOT NULL AS claims_set;
SELECT set_config('request.headers', '{"if-match": "\"99\", W/\"1\""}', false) IS NOT NULL AS header_set;
UPDATE intracker.todos SET description = 'Docs for the API' WHERE title = 'Write docs' RETURNING title, version;
SELECT set_config('request.headers', '{"if-match": "\"1\""}', false) IS NOT NULL AS header_set;
SELECT * FROM regress.try($$UPDATE intracker.todos SET description = 'Lost' WHERE title = 'Write docs'$$);
RESET request.headers;
RESET request.jwt.claims;
RESET SESSION AUTHORIZATION;

-- act_as: admins only, for active users, undone by ROLLBACK and RESET ALL.
SET ROLE regress_admin;
SELECT * FROM regress.try($$SELECT intracker.act_as('00000000-0000-0000-0000-0000000000ff')$$);
BEGIN;
SELECT regress.named(intracker.act_as('00000000-0000-0000-0000-00000000000a')::text) AS acting;
ROLLBACK;
SELECT intracker.current_user_id() IS NULL AS undone_by_rollback;
SELECT regress.named(intracker.act_as('00000000-0000-0000-0000-00000000000a')::text) AS acting;
RESET ALL;
SELECT intracker.current_user_id() IS NULL AS undone_by_reset_all;
RESET ROLE;

-- A deactivated user is no identity: functions say PT401, act_as refuses.
UPDATE intracker_data.users SET is_active = false WHERE id = '00000000-0000-0000-0000-00000000000d';
SET ROLE regress_admin;
SELECT * FROM regress.try($$SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d')$$);
RESET ROLE;
SET intracker.acting_user = '00000000-0000-0000-0000-00000000000d';
SELECT * FROM regress.try($$SELECT intracker.create_project('Ghost')$$);
SELECT * FROM regress.try($$SET intracker.acting_user = 'nobody'$$);
RESET intracker.acting_user;
UPDATE intracker_data.users SET is_active = true WHERE id = '00000000-0000-0000-0000-00000000000d';
