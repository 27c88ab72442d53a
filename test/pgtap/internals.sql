-- test/pgtap/internals.sql — the internal helpers in intracker_data, called
-- by users as an attacker would call them.  0.5 let any user lock any
-- user's row (lock_user_if_active, which held up an admin's
-- set_user_active) and ask whether any id is a user (user_is_active).
-- schema.sql lists the helpers a user may execute, with the reason for each;
-- here the sensitive ones are called: by a non-member, a viewer, an editor,
-- an anonymous request, a user in no project and an admin who is not a
-- superuser.
--
-- As PostgREST's non-superuser role (session_user authenticator, SET ROLE
-- web_user, the user from request.jwt.claims).  One transaction, rolled back.

BEGIN;
SELECT plan(27);

-- The team of test_helpers.team_fixture(): owner, editor and viewer in p1;
-- outsider and newbie in no project.  gone is deactivated.
SELECT test_helpers.team_fixture();
SELECT test_helpers.add_user('gone', '00000000-0000-4000-8000-000000000005');
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('gone'), 'editor');
SELECT intracker.act_as(NULL);
SELECT intracker.set_user_active(test_helpers.id('gone'), false);
INSERT INTO test_helpers.ids VALUES ('nobody', '00000000-0000-4000-8000-0000000000ff');

-- The error a statement raises, without the ids in it (for comparing the
-- answers about two different ids).
CREATE FUNCTION pg_temp.answer(sql text) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(regexp_replace(test_helpers.error_of(sql)::text,
                                   '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g'),
                    'no error')
$$;
-- Advisory locks this session holds.
CREATE FUNCTION pg_temp.advisory_locks_held() RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
$$;

SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

------------------------------------------------------------------------------
-- Whether an id is a user: no user may ask
------------------------------------------------------------------------------

SELECT test_helpers.as_user('editor');
SELECT throws_ok($$SELECT intracker_data.user_is_active(test_helpers.id('owner'))$$, '42501', NULL,
                 'a user cannot call user_is_active');
SELECT hasnt_function('intracker_data', 'lock_user_if_active', 'lock_user_if_active, which locked any user''s row, is gone');
SELECT is(test_helpers.affected($$SELECT FROM intracker_data.users WHERE id = test_helpers.id('owner') FOR SHARE$$), 0,
          'a user cannot lock a fellow member''s row with SELECT ... FOR SHARE (RLS: the UPDATE policy is their own row)');
SELECT is(test_helpers.affected($$SELECT FROM intracker.users WHERE id = test_helpers.id('owner') FOR SHARE$$), 0,
          'nor through the API view');
SELECT is(test_helpers.affected($$SELECT FROM intracker.users WHERE id = test_helpers.id('editor') FOR SHARE$$), 1,
          'a user locks their own row only (as any UPDATE of it would)');

-- add_member tells owners whether an id is a user, and nobody else.
SELECT is(pg_temp.answer($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'viewer')$$),
          pg_temp.answer($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('nobody'), 'viewer')$$),
          'an editor gets the same refusal from add_member for a user and for an id that is no user');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('nobody'), 'viewer')$$, '42501', NULL,
                 'namely permission denied (editors do not manage members)');
SELECT test_helpers.as_user('outsider');
SELECT is(pg_temp.answer($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'viewer')$$),
          pg_temp.answer($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('nobody'), 'viewer')$$),
          'a non-member gets the same answer for a user and for an id that is no user');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'viewer')$$, 'PT404', NULL,
                 'namely the project is not found');
SELECT test_helpers.as_user('owner');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('nobody'), 'viewer')$$, 'PT404',
                 'user 00000000-0000-4000-8000-0000000000ff not found', 'an owner learns that an id is no user');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('gone'), 'viewer')$$, '22023',
                 'user 00000000-0000-4000-8000-000000000005 is inactive', '... or that a user is inactive');
SELECT is((intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'viewer')).role, 'viewer',
          '... and adds an active user who shares no project with them (users are looked up past RLS)');

-- require_user: the acting user's own row, whatever RLS shows.
SELECT test_helpers.as_user('outsider');
SELECT is(intracker_data.require_user(), test_helpers.id('outsider'), 'a user in no project is still a user');
SELECT test_helpers.as_user('gone');
SELECT throws_ok($$SELECT intracker_data.require_user()$$, 'PT401', 'user 00000000-0000-4000-8000-000000000005 is not an active intracker user',
                 'a deactivated user is refused');
SELECT test_helpers.as_user('nobody');
SELECT throws_ok($$SELECT intracker_data.require_user()$$, 'PT401', NULL, 'an id that is no user is refused the same way');

------------------------------------------------------------------------------
-- The assignment lock: editors and owners of the project only
------------------------------------------------------------------------------

SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$SELECT intracker_data.lock_assignment(test_helpers.id('p1'))$$, '42501', NULL,
                 'a non-member cannot take a project''s assignment lock');
SELECT is(pg_temp.answer($$SELECT intracker_data.lock_assignment(test_helpers.id('p1'))$$),
          pg_temp.answer($$SELECT intracker_data.lock_assignment(test_helpers.id('nobody'))$$),
          '... and learns nothing about whether the project exists');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker_data.lock_assignment(test_helpers.id('p1'))$$, '42501', NULL,
                 'a viewer cannot take it');
SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$SELECT intracker_data.lock_assignment(test_helpers.id('p1'))$$, '42501', NULL,
                 'an anonymous request cannot take it');
SELECT is(pg_temp.advisory_locks_held(), 0::bigint, 'none of them holds an advisory lock now');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$SELECT intracker_data.lock_assignment(test_helpers.id('p1'))$$, 'an editor takes it');
SELECT is(pg_temp.advisory_locks_held(), 1::bigint, '... and holds it until the transaction ends');

------------------------------------------------------------------------------
-- Trigger functions and the webhook checks: not callable at all
------------------------------------------------------------------------------

SELECT is_empty($$
    SELECT f FROM unnest(ARRAY['intracker_data.row_version()', 'intracker_data.track_completion()',
                               'intracker_data.project_keeps_an_owner()', 'intracker_data.projects_view_insert()',
                               'intracker_data.todos_blocker_gate()', 'intracker_data.todo_dependencies_no_cycle()']) AS f
     WHERE test_helpers.error_of(format('SELECT %s', f)) ->> 'sqlstate' <> '42501'
$$, 'a user calling a trigger function is refused for lack of privilege (42501), not merely for calling it outside a trigger');
SELECT throws_ok($$SELECT intracker_data.check_webhook_url('http://example.com/')$$, '42501', NULL,
                 'a user cannot call check_webhook_url (create_webhook, SECURITY DEFINER, calls it)');
SELECT throws_ok($$SELECT intracker_data.valid_event_patterns('{*}')$$, '42501', NULL,
                 '... nor valid_event_patterns');
SELECT throws_ok($$SELECT intracker_data.event_matches('todo.created', '{*}')$$, '42501', NULL,
                 '... nor event_matches');

------------------------------------------------------------------------------
-- act_as: an admin who is not a superuser still asks about any user
------------------------------------------------------------------------------

RESET ROLE;
RESET SESSION AUTHORIZATION;
SET ROLE tester_admin;
SELECT throws_ok($$SELECT intracker.act_as(test_helpers.id('nobody'))$$, 'PT404', NULL,
                 'act_as (intracker_admin) tells an id that is no user');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
