-- test/pgtap/identity.sql — who is acting: intracker.current_user_id(),
-- intracker.act_as() and the trust model for PostgREST's JWT claims.
--
--   1. request.jwt.claims ->> 'sub' counts only when session_user is the role
--      named by intracker.authenticator_role (default 'authenticator');
--   2. otherwise the user chosen with act_as() (members of intracker_admin),
--      which behaves like SET (undone by ROLLBACK and RESET ALL);
--   3. otherwise nobody: NULL, RLS shows nothing, functions raise PT401.
--
-- Roles (test/pgtap/setup.sql): authenticator (LOGIN NOINHERIT) -> web_user
-- (intracker_user), tester_admin (intracker_admin), tester_plain (intracker_user).
-- Helpers (setup.sql): test_helpers.id() (fixture ids by name), as_user()
-- (PostgREST's claims for a fixture user), claims() (any claims text).
-- Everything happens in one transaction that is rolled back.

BEGIN;
SELECT plan(76);

------------------------------------------------------------------------------
-- Fixture (as superuser): alice owns a project with a todo; bob edits it;
-- dora is inactive; 'ghost' is a well-formed id of no user.
------------------------------------------------------------------------------

SELECT test_helpers.add_user('alice', '00000000-0000-4000-8000-00000000a11c'),
       test_helpers.add_user('bob',   '00000000-0000-4000-8000-000000000b0b'),
       test_helpers.add_user('dora',  '00000000-0000-4000-8000-00000000d0a0');
INSERT INTO test_helpers.ids VALUES ('ghost', '00000000-0000-4000-8000-0000000f0f0f');
SELECT intracker.act_as(test_helpers.id('alice'));
INSERT INTO test_helpers.ids SELECT 'project', id FROM intracker.create_project('Identity project');
SELECT intracker.add_member(test_helpers.id('project'), test_helpers.id('bob'), 'editor');
SELECT intracker.add_member(test_helpers.id('project'), test_helpers.id('dora'), 'editor');
INSERT INTO test_helpers.ids SELECT 'todo', id FROM intracker.create_todo(test_helpers.id('project'), 'First');
INSERT INTO test_helpers.ids SELECT 'todo2', id FROM intracker.create_todo(test_helpers.id('project'), 'Second');
INSERT INTO test_helpers.ids SELECT 'feature', id FROM intracker.create_feature(test_helpers.id('project'), 'Feature');
INSERT INTO test_helpers.ids SELECT 'session', id FROM intracker.start_session(test_helpers.id('project'));
SELECT intracker.act_as(NULL);
UPDATE intracker_data.users SET is_active = false WHERE id = test_helpers.id('dora');

------------------------------------------------------------------------------
-- 1. No identity
------------------------------------------------------------------------------

SELECT is(intracker.current_user_id(), NULL, 'superuser without act_as: current_user_id() is NULL');

SET ROLE tester_plain;
SELECT is(intracker.current_user_id(), NULL, 'plain API role without identity: current_user_id() is NULL');
SELECT is_empty('SELECT * FROM intracker.projects', 'no identity: no projects visible');
SELECT is_empty('SELECT * FROM intracker.users', 'no identity: no users visible');
SELECT is_empty('SELECT * FROM intracker.todos', 'no identity: no todos visible');

-- Every function that acts for a user raises PT401 without identity.
SELECT throws_ok($$SELECT intracker.create_project('Nope')$$, 'PT401', NULL,
                 'no identity: create_project raises PT401');
SELECT throws_ok($$SELECT intracker.create_feature(test_helpers.id('project'), 'Nope')$$, 'PT401', NULL,
                 'no identity: create_feature raises PT401');
SELECT throws_ok($$SELECT intracker.create_todo(test_helpers.id('project'), 'Nope')$$, 'PT401', NULL,
                 'no identity: create_todo raises PT401');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('project'), test_helpers.id('bob'), 'viewer')$$, 'PT401', NULL,
                 'no identity: add_member raises PT401');
SELECT throws_ok($$SELECT intracker.remove_member(test_helpers.id('project'), test_helpers.id('bob'))$$, 'PT401', NULL,
                 'no identity: remove_member raises PT401');
SELECT throws_ok($$SELECT intracker.start_session(test_helpers.id('project'))$$, 'PT401', NULL,
                 'no identity: start_session raises PT401');
SELECT throws_ok($$SELECT intracker.end_session(test_helpers.id('session'), 'done')$$, 'PT401', NULL,
                 'no identity: end_session raises PT401');
-- The functions that take the id of an existing row must also say "who are
-- you?" (PT401), not "not found" (PT404): the caller can fix the former.
SELECT throws_ok($$SELECT intracker.update_project(test_helpers.id('project'), '{"name": "x"}', 1)$$, 'PT401', NULL,
                 'no identity: update_project raises PT401 (not PT404)');
SELECT throws_ok($$SELECT intracker.update_feature(test_helpers.id('feature'), '{"title": "x"}', 1)$$, 'PT401', NULL,
                 'no identity: update_feature raises PT401 (not PT404)');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('todo'), '{"title": "x"}', 1)$$, 'PT401', NULL,
                 'no identity: update_todo raises PT401 (not PT404)');
SELECT throws_ok($$SELECT intracker.set_todo_status(test_helpers.id('todo'), 'review', 1)$$, 'PT401', NULL,
                 'no identity: set_todo_status raises PT401 (not PT404)');
SELECT throws_ok($$SELECT intracker.add_dependency(test_helpers.id('todo'), test_helpers.id('todo2'))$$, 'PT401', NULL,
                 'no identity: add_dependency raises PT401 (not PT404)');
SELECT throws_ok($$SELECT intracker.remove_dependency(test_helpers.id('todo'), test_helpers.id('todo2'))$$, 'PT401', NULL,
                 'no identity: remove_dependency raises PT401 (not PT404)');

SELECT is(test_helpers.error_of($$SELECT intracker.create_todo(test_helpers.id('project'), 'Nope')$$) ->> 'message',
          'not authenticated', 'PT401 says "not authenticated"');
SELECT matches(test_helpers.error_of($$SELECT intracker.create_todo(test_helpers.id('project'), 'Nope')$$) ->> 'hint',
               'JWT.*act_as', 'PT401 has a HINT naming both ways to authenticate (JWT, act_as)');
SELECT isnt(test_helpers.error_of($$SELECT intracker.start_session(test_helpers.id('project'))$$) ->> 'detail', NULL,
            'PT401 has a DETAIL');

------------------------------------------------------------------------------
-- 2. Claims mean nothing unless session_user is the authenticator role
------------------------------------------------------------------------------

-- Still tester_plain (session_user is the superuser).
SELECT test_helpers.as_user('alice');
SELECT is(intracker.current_user_id(), NULL,
          'a plain role setting request.jwt.claims gains no identity');
SELECT is_empty('SELECT * FROM intracker.projects', 'a plain role with forged claims sees no projects');
SELECT throws_ok($$SELECT intracker.create_todo(test_helpers.id('project'), 'Forged')$$, 'PT401', NULL,
                 'a plain role with forged claims still gets PT401');

RESET ROLE;
SELECT is(intracker.current_user_id(), NULL, 'a superuser session with claims set gains no identity from them');
-- current_user being the authenticator role is not enough: it must be the
-- session user.  (authenticator itself is NOINHERIT and cannot call the
-- function, so make tester_plain the trusted role for this check.)
SET intracker.authenticator_role = 'tester_plain';
SET ROLE tester_plain;
SELECT is(intracker.current_user_id(), NULL,
          'current_user is the authenticator role but session_user is not: claims ignored');
RESET ROLE;
RESET intracker.authenticator_role;
SELECT test_helpers.claims('');

------------------------------------------------------------------------------
-- 3. Claims are trusted on the authenticator's connection
------------------------------------------------------------------------------

-- An act_as choice made before must not leak into the authenticator's
-- requests: there a request without a token is anonymous.
SELECT intracker.act_as(test_helpers.id('bob'));
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT is(session_user::text, 'authenticator', 'session_user is now the authenticator');
SELECT is(intracker.current_user_id(), NULL,
          'authenticator without claims is anonymous (an earlier act_as does not count there)');
SELECT is_empty('SELECT * FROM intracker.projects', 'anonymous PostgREST request sees no projects');
SELECT throws_ok($$SELECT intracker.act_as(test_helpers.id('alice'))$$, '42501', NULL,
                 'web_user (not intracker_admin) cannot act_as');

SELECT test_helpers.as_user('alice');
SELECT is(intracker.current_user_id(), test_helpers.id('alice'), 'claims {"sub": alice} on the authenticator: alice acts');
SELECT results_eq('SELECT id FROM intracker.projects', ARRAY[test_helpers.id('project')],
                  'alice (by JWT) sees her project');
SELECT lives_ok($$SELECT intracker.create_todo(test_helpers.id('project'), 'By JWT')$$,
                'alice (by JWT) can create a todo');
SELECT is((SELECT created_by FROM intracker.todos WHERE title = 'By JWT'), test_helpers.id('alice'),
          'rows created through the JWT identity are created_by that user');

SELECT test_helpers.claims(jsonb_build_object('sub', upper(test_helpers.id('bob')::text))::text);
SELECT is(intracker.current_user_id(), test_helpers.id('bob'), 'an upper-case uuid in "sub" is accepted');

SELECT test_helpers.claims('{"role": "web_user"}');
SELECT is(intracker.current_user_id(), NULL, 'claims without "sub" are anonymous');
SELECT test_helpers.claims(jsonb_build_object('sub', 42)::text);
SELECT is(intracker.current_user_id(), NULL, 'a non-string "sub" is anonymous');
SELECT test_helpers.claims('this is not json');
SELECT is(intracker.current_user_id(), NULL, 'malformed claims JSON is anonymous, not an error');

SELECT test_helpers.claims('{"sub": "alice"}');
SELECT throws_ok('SELECT intracker.current_user_id()', 'PT401', 'JWT subject is not an intracker user id',
                 'a "sub" that is not a uuid raises PT401');
SELECT test_helpers.claims('{"sub": "00000000-0000-4000-8000-00000000a11c-extra"}');
SELECT throws_ok('SELECT intracker.current_user_id()', 'PT401', NULL,
                 'a "sub" with trailing garbage after a uuid raises PT401');
SELECT matches(test_helpers.error_of('SELECT * FROM intracker.projects') ->> 'hint', 'create_user',
               'the malformed-sub PT401 has a HINT (use the id from create_user)');

SELECT test_helpers.as_user('ghost');
SELECT is(intracker.current_user_id(), test_helpers.id('ghost'),
          'a well-formed "sub" of no user is returned as is');
SELECT is_empty('SELECT * FROM intracker.projects', 'an unknown user sees no projects');
SELECT throws_ok($$SELECT intracker.create_project('Ghost project')$$, 'PT401', NULL,
                 'an unknown user gets PT401');

SELECT test_helpers.as_user('dora');
SELECT is_empty('SELECT * FROM intracker.projects', 'an inactive user (by JWT) sees none of her projects');
SELECT is_empty($$SELECT * FROM intracker.users WHERE id <> test_helpers.id('dora')$$,
                'an inactive user (by JWT) sees no other users');
SELECT throws_ok($$SELECT intracker.create_todo(test_helpers.id('project'), 'Inactive')$$, 'PT401', NULL,
                 'an inactive user (by JWT) gets PT401');
SELECT matches(test_helpers.error_of($$SELECT intracker.create_project('Inactive')$$) ->> 'message',
               'not an active intracker user', 'the inactive-user PT401 says so');

-- The trusted role is configurable (SUSET): change it as superuser.
RESET SESSION AUTHORIZATION;
SELECT intracker.act_as(NULL);  -- forget bob (chosen above), or he would be the fallback
SET intracker.authenticator_role = 'tester_plain';
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('alice');
SELECT is(intracker.current_user_id(), NULL,
          'with intracker.authenticator_role = tester_plain, the authenticator''s claims are ignored');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tester_plain;
SELECT is(intracker.current_user_id(), test_helpers.id('alice'),
          '... and tester_plain''s claims are trusted');
RESET SESSION AUTHORIZATION;
SET intracker.authenticator_role = '';
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT is(intracker.current_user_id(), NULL, 'an empty intracker.authenticator_role disables JWT identity');
RESET SESSION AUTHORIZATION;
RESET intracker.authenticator_role;
SELECT test_helpers.claims('');
SELECT intracker.act_as(NULL);

------------------------------------------------------------------------------
-- 4. act_as
------------------------------------------------------------------------------

SET ROLE tester_plain;
SELECT throws_ok($$SELECT intracker.act_as(test_helpers.id('alice'))$$, '42501', 'permission denied to act as another user',
                 'a role outside intracker_admin cannot act_as (42501)');
SELECT is(intracker.current_user_id(), NULL, 'the refused act_as left no identity behind');

SET ROLE tester_admin;
SELECT is(intracker.act_as(test_helpers.id('alice')), test_helpers.id('alice'), 'act_as returns the user id');
SELECT is(intracker.current_user_id(), test_helpers.id('alice'), 'an intracker_admin member acts as alice');
SELECT results_eq('SELECT id FROM intracker.projects', ARRAY[test_helpers.id('project')],
                  'acting as alice, the admin role sees alice''s project');
SELECT throws_ok($$SELECT intracker.act_as(test_helpers.id('ghost'))$$, 'PT404', NULL,
                 'act_as an unknown user raises PT404');
SELECT throws_ok($$SELECT intracker.act_as(test_helpers.id('dora'))$$, '22023', NULL,
                 'act_as an inactive user raises 22023');
SELECT is(intracker.current_user_id(), test_helpers.id('alice'), 'a failed act_as keeps the previous identity');
SELECT is(intracker.act_as(NULL), NULL, 'act_as(NULL) returns NULL');
SELECT is(intracker.current_user_id(), NULL, 'act_as(NULL) stops acting');

-- Transactional like SET: a rolled-back act_as is undone ...
SELECT intracker.act_as(test_helpers.id('alice'));
SAVEPOINT before_bob;
SELECT intracker.act_as(test_helpers.id('bob'));
ROLLBACK TO SAVEPOINT before_bob;
SELECT is(intracker.current_user_id(), test_helpers.id('alice'), 'ROLLBACK TO SAVEPOINT undoes act_as');
-- ... a released one stays ...
SAVEPOINT bob_again;
SELECT intracker.act_as(test_helpers.id('bob'));
RELEASE SAVEPOINT bob_again;
SELECT is(intracker.current_user_id(), test_helpers.id('bob'), 'RELEASE SAVEPOINT keeps act_as');
-- ... and RESET ALL forgets it (a pooler's reset query).
RESET ALL;
SELECT is(intracker.current_user_id(), NULL, 'RESET ALL undoes act_as');
SELECT is(current_user::text, 'tester_admin', '(RESET ALL kept the role)');

-- A user deactivated while someone acts as them loses their powers at once.
SELECT intracker.act_as(test_helpers.id('bob'));
RESET ROLE;
UPDATE intracker_data.users SET is_active = false WHERE id = test_helpers.id('bob');
SET ROLE tester_admin;
SELECT throws_ok($$SELECT intracker.create_todo(test_helpers.id('project'), 'Too late')$$, 'PT401', NULL,
                 'acting as a user deactivated meanwhile: PT401');
SELECT is_empty('SELECT * FROM intracker.todos', 'acting as a user deactivated meanwhile: no todos visible');
RESET ROLE;
UPDATE intracker_data.users SET is_active = true WHERE id = test_helpers.id('bob');
SELECT intracker.act_as(NULL);

------------------------------------------------------------------------------
-- 5. Nobody sets the identity GUCs by hand
------------------------------------------------------------------------------

SET ROLE tester_plain;
SELECT throws_ok($$SET intracker.acting_user = '00000000-0000-4000-8000-00000000a11c'$$, '42501', NULL,
                 'a plain role cannot SET intracker.acting_user');
SELECT throws_ok($$SELECT set_config('intracker.acting_user', '00000000-0000-4000-8000-00000000a11c', true)$$,
                 '42501', NULL, 'a plain role cannot set_config intracker.acting_user');
SELECT throws_ok($$SET intracker.authenticator_role = 'tester_plain'$$, '42501', NULL,
                 'a plain role cannot SET intracker.authenticator_role');
SELECT throws_ok($$ALTER ROLE tester_plain SET intracker.acting_user = '00000000-0000-4000-8000-00000000a11c'$$,
                 '42501', NULL, 'a plain role cannot ALTER ROLE ... SET intracker.acting_user for itself');
SELECT throws_ok($$CREATE FUNCTION pg_temp.sneaky() RETURNS uuid LANGUAGE sql
                   SET intracker.acting_user = '00000000-0000-4000-8000-00000000a11c'
                   AS 'SELECT intracker.current_user_id()'$$,
                 '42501', NULL, 'a plain role cannot smuggle intracker.acting_user into a function''s SET clause');
SELECT is(intracker.current_user_id(), NULL, 'after all those attempts the plain role is still nobody');

SET ROLE tester_admin;
SELECT throws_ok($$SET intracker.acting_user = '00000000-0000-4000-8000-00000000a11c'$$, '42501', NULL,
                 'even an intracker_admin member must use act_as, not SET');

RESET ROLE;
SELECT throws_ok($$SET intracker.acting_user = 'alice'$$, '22023', NULL,
                 'intracker.acting_user accepts only a uuid (or empty)');
SELECT throws_ok($$SET intracker.no_such_setting = 'x'$$, '42602', NULL,
                 'the intracker.* prefix is reserved: unknown settings are rejected');

SELECT * FROM finish();
ROLLBACK;
