-- test/pgtap/assignment.sql — issue 3: fair assignment, member settings,
-- load counters, claim_next_todo and rebalance (intracker 0.2).
--
-- Everything runs as a NON-superuser with an identity: PostgREST's path
-- (session_user authenticator, SET ROLE web_user, request.jwt.claims "sub"),
-- except set_user_active, which needs intracker_admin (tester_admin).  Only
-- the users and one created_at are made as the superuser.  One transaction,
-- rolled back.
--
-- The cast (fixed ids, so that "lowest user id" is testable).  Users that
-- must never be chosen automatically have the LOWEST ids, so that if any rule
-- failed to exclude them they would win every tie:
--
--   vic  ...01  viewer everywhere            amy  ...a1  editor
--   ina  ...02  editor, deactivated in D     ben  ...b2  editor
--   una  ...03  editor, unavailable in auto  cat  ...c3  editor
--   nil  ...04  editor, capacity 0 in auto   out  ...e5  member of nothing
--   cap  ...05  editor, capacity 2 in auto   zed  ...f0  owner of every project
--
-- Sections: A member settings, B member_load view, C who may call, D
-- set_user_active, E manual assignment, F eligibility, T tie-breaks, G
-- versions, H features, I counters, K dependency counters and versions,
-- L claim_next_todo, R rebalance, S search_path safety of the C trigger.

BEGIN;
SELECT plan(259);

------------------------------------------------------------------------------
-- Helpers: test_helpers.* (setup.sql: fixture ids and names, as_user, todo,
-- feature), and this file's own (temporary, gone at ROLLBACK)
------------------------------------------------------------------------------

-- Timestamps and versions remembered between steps.
CREATE TEMP TABLE marks (name text PRIMARY KEY, ts timestamptz, n integer);
GRANT SELECT, INSERT, UPDATE, DELETE ON marks TO PUBLIC;

-- Automatic assignment of a todo, for real: the chosen member's name.
CREATE FUNCTION pg_temp.auto(todo text) RETURNS text
LANGUAGE sql AS $$ SELECT test_helpers.name_of(t.assigned_to) FROM intracker.assign_todo(test_helpers.id(todo)) t $$;
CREATE FUNCTION pg_temp.auto_feature(feature text) RETURNS text
LANGUAGE sql AS $$ SELECT test_helpers.name_of(f.assigned_to) FROM intracker.assign_feature(test_helpers.id(feature)) f $$;

-- Automatic assignment as a dry run: whom it would choose ('<nobody>' when
-- nobody is eligible); a subtransaction undoes the assignment.
CREATE FUNCTION pg_temp.would_assign(todo text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    chosen text;
BEGIN
    BEGIN
        SELECT test_helpers.name_of(t.assigned_to) INTO chosen FROM intracker.assign_todo(test_helpers.id(todo)) t;
        RAISE EXCEPTION USING ERRCODE = 'ZZDRY', MESSAGE = coalesce(chosen, '<nobody>');
    EXCEPTION WHEN SQLSTATE 'ZZDRY' THEN
        RETURN SQLERRM;
    END;
END
$$;

-- A member's counters in a project as the acting user sees them:
-- 'open_todos/open_points/open_features', NULL when there is no row.
CREATE FUNCTION pg_temp.load(project text, member text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT l.open_todos || '/' || l.open_points || '/' || l.open_features
      FROM intracker.member_load l
     WHERE l.project_id = test_helpers.id(project) AND l.user_id = test_helpers.id(member)
$$;
CREATE FUNCTION pg_temp.last_assigned(project text, member text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT l.last_assigned_at FROM intracker.member_load l
     WHERE l.project_id = test_helpers.id(project) AND l.user_id = test_helpers.id(member)
$$;

-- A todo as the acting user sees it.
CREATE FUNCTION pg_temp.assignee(todo text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT test_helpers.name_of(assigned_to) FROM intracker.todos WHERE id = test_helpers.id(todo) $$;
CREATE FUNCTION pg_temp.version(todo text) RETURNS integer
LANGUAGE sql STABLE AS $$ SELECT version FROM intracker.todos WHERE id = test_helpers.id(todo) $$;
CREATE FUNCTION pg_temp.fversion(feature text) RETURNS integer
LANGUAGE sql STABLE AS $$ SELECT version FROM intracker.features WHERE id = test_helpers.id(feature) $$;

------------------------------------------------------------------------------
-- Fixture
------------------------------------------------------------------------------

-- Users (creating users needs intracker_admin; done as the superuser).
SELECT count(test_helpers.add_user(name, id::uuid))
  FROM (VALUES ('vic', '00000000-0000-4000-8000-000000000001'),
               ('ina', '00000000-0000-4000-8000-000000000002'),
               ('una', '00000000-0000-4000-8000-000000000003'),
               ('nil', '00000000-0000-4000-8000-000000000004'),
               ('cap', '00000000-0000-4000-8000-000000000005'),
               ('amy', '00000000-0000-4000-8000-0000000000a1'),
               ('ben', '00000000-0000-4000-8000-0000000000b2'),
               ('cat', '00000000-0000-4000-8000-0000000000c3'),
               ('out', '00000000-0000-4000-8000-0000000000e5'),
               ('zed', '00000000-0000-4000-8000-0000000000f0')) AS u (name, id);
INSERT INTO test_helpers.ids VALUES ('ghost', '00000000-0000-4000-8000-0000000000ff');

-- From here on: PostgREST's connection, as the authenticated role.
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

-- zed creates every project; memberships as in the header.
SELECT test_helpers.as_user('zed');
INSERT INTO test_helpers.ids SELECT p, (intracker.create_project(initcap(p))).id
  FROM unnest(ARRAY['main', 'auto', 'tie', 'feat', 'cnt', 'del', 'int', 'claim', 'reb']) AS p;
SELECT count(intracker.add_member(test_helpers.id(p), test_helpers.id(u), r))
  FROM (VALUES ('main', 'amy', 'editor'), ('main', 'ben', 'editor'), ('main', 'cat', 'editor'),
               ('main', 'ina', 'editor'), ('main', 'vic', 'viewer'),
               ('auto', 'vic', 'viewer'), ('auto', 'ina', 'editor'), ('auto', 'una', 'editor'),
               ('auto', 'nil', 'editor'), ('auto', 'cap', 'editor'), ('auto', 'amy', 'editor'),
               ('auto', 'ben', 'editor'),
               ('tie', 'amy', 'editor'), ('tie', 'ben', 'editor'), ('tie', 'vic', 'viewer'),
               ('feat', 'amy', 'editor'), ('feat', 'ben', 'editor'), ('feat', 'vic', 'viewer'),
               ('cnt', 'amy', 'editor'), ('cnt', 'ben', 'editor'),
               ('del', 'amy', 'editor'),
               ('int', 'amy', 'editor'),
               ('claim', 'amy', 'editor'), ('claim', 'ben', 'editor'), ('claim', 'vic', 'viewer'),
               ('reb', 'amy', 'editor'), ('reb', 'ben', 'editor'), ('reb', 'cat', 'editor'),
               ('reb', 'vic', 'viewer')) AS m (p, u, r);

SELECT is(session_user::text || '/' || current_user::text || '/' || test_helpers.name_of(intracker.current_user_id()),
          'authenticator/web_user/zed', 'the tests run as PostgREST does: authenticator, role web_user, JWT sub');

------------------------------------------------------------------------------
-- A. Member settings: set_availability (self) and set_capacity (owners)
------------------------------------------------------------------------------

SELECT test_helpers.as_user('vic');
SELECT results_eq($$SELECT test_helpers.name_of(user_id), role, available FROM intracker.set_availability(test_helpers.id('main'), false)$$,
                  $$VALUES ('vic', 'viewer', false)$$,
                  'set_availability: any member, even a viewer, sets their own availability and gets their member_load row');
SELECT test_helpers.as_user('amy');
SELECT results_eq($$SELECT test_helpers.name_of(user_id), role, available FROM intracker.set_availability(test_helpers.id('main'), false)$$,
                  $$VALUES ('amy', 'editor', false)$$, 'set_availability: an editor sets their own availability');
SELECT results_eq($$SELECT test_helpers.name_of(user_id) FROM intracker.member_load
                     WHERE project_id = test_helpers.id('main') AND NOT available ORDER BY 1$$,
                  $$VALUES ('amy'), ('vic')$$, 'set_availability changes only the caller''s own row');
SELECT results_eq($$SELECT available FROM intracker.set_availability(test_helpers.id('main'), true)$$,
                  $$VALUES (true)$$, 'set_availability(true) makes the member available again');
SELECT throws_ok($$SELECT intracker.set_availability(test_helpers.id('main'), NULL)$$, '22023', 'invalid value for available',
                 'set_availability(NULL) raises 22023');
SELECT test_helpers.as_user('vic');
SELECT lives_ok($$SELECT intracker.set_availability(test_helpers.id('main'), true)$$, 'the viewer becomes available again');
SELECT test_helpers.as_user('out');
SELECT throws_ok($$SELECT intracker.set_availability(test_helpers.id('main'), false)$$, 'PT404', NULL,
                 'set_availability by a non-member raises PT404');

SELECT test_helpers.as_user('zed');
SELECT results_eq($$SELECT test_helpers.name_of(user_id), capacity FROM intracker.set_capacity(test_helpers.id('main'), test_helpers.id('ben'), 5)$$,
                  $$VALUES ('ben', 5)$$, 'set_capacity: the owner sets a member''s capacity');
SELECT is(test_helpers.error_of($$SELECT intracker.set_capacity(test_helpers.id('main'), test_helpers.id('ben'), -1)$$)
            - 'message' - 'hint',
          '{"sqlstate": "22023", "detail": "capacity must be zero or more points (NULL means unlimited).", "column": "capacity"}'::jsonb,
          'set_capacity(-1) raises 22023 with the rule as DETAIL, naming the column');
SELECT throws_ok($$SELECT intracker.set_capacity(test_helpers.id('main'), test_helpers.id('out'), 3)$$, 'PT404', NULL,
                 'set_capacity for a user who is not a member raises PT404');
SELECT results_eq($$SELECT capacity FROM intracker.member_load WHERE project_id = test_helpers.id('main') AND user_id = test_helpers.id('ben')$$,
                  $$VALUES (5)$$, 'failed set_capacity calls changed nothing');
SELECT test_helpers.as_user('amy');
SELECT throws_ok($$SELECT intracker.set_capacity(test_helpers.id('main'), test_helpers.id('ben'), 3)$$, '42501', NULL,
                 'set_capacity by an editor raises 42501 (owners only)');
SELECT throws_ok($$SELECT intracker.set_capacity(test_helpers.id('main'), test_helpers.id('amy'), 30)$$, '42501', NULL,
                 'an editor cannot raise their own capacity either (42501)');
SELECT test_helpers.as_user('vic');
SELECT throws_ok($$SELECT intracker.set_capacity(test_helpers.id('main'), test_helpers.id('vic'), 3)$$, '42501', NULL,
                 'set_capacity by a viewer raises 42501');
SELECT test_helpers.as_user('out');
SELECT throws_ok($$SELECT intracker.set_capacity(test_helpers.id('main'), test_helpers.id('ben'), 3)$$, 'PT404', NULL,
                 'set_capacity by a non-member raises PT404');
SELECT test_helpers.as_user('zed');
SELECT results_eq($$SELECT capacity FROM intracker.set_capacity(test_helpers.id('main'), test_helpers.id('ben'), NULL)$$,
                  $$VALUES (NULL::integer)$$, 'set_capacity(NULL) makes the capacity unlimited again');

-- The settings and the counters cannot be written around the functions.
SELECT throws_ok($$UPDATE intracker_data.project_members SET capacity = 99 WHERE project_id = test_helpers.id('main')$$,
                 '42501', NULL, 'even an owner cannot UPDATE project_members.capacity directly');
SELECT test_helpers.as_user('amy');
SELECT throws_ok($$UPDATE intracker_data.project_members SET available = false WHERE user_id = test_helpers.id('amy')$$,
                 '42501', NULL, 'a member cannot UPDATE project_members.available directly');
SELECT throws_ok($$UPDATE intracker_data.member_load SET open_points = 0$$, '42501', NULL,
                 'intracker_data.member_load cannot be updated by API users');
SELECT throws_ok($$INSERT INTO intracker_data.member_load (project_id, user_id) VALUES (test_helpers.id('main'), test_helpers.id('out'))$$,
                 '42501', NULL, 'intracker_data.member_load cannot be inserted into by API users');
SELECT throws_ok($$UPDATE intracker.member_load SET capacity = 1$$, '55000', NULL,
                 'intracker.member_load is a read-only view: UPDATE raises 55000');
SELECT throws_ok($$DELETE FROM intracker.member_load$$, '55000', NULL,
                 'intracker.member_load is a read-only view: DELETE raises 55000');

------------------------------------------------------------------------------
-- B. The view intracker.member_load: contents and visibility
------------------------------------------------------------------------------

SELECT test_helpers.as_user('amy');
SELECT results_eq($$
    SELECT test_helpers.name_of(user_id), role, available, capacity, open_todos, open_points, open_features, last_assigned_at
      FROM intracker.member_load WHERE project_id = test_helpers.id('main') ORDER BY 1
$$, $$ VALUES ('amy', 'editor', true, NULL::integer, 0, 0::bigint, 0, NULL::timestamptz),
              ('ben', 'editor', true, NULL, 0, 0, 0, NULL),
              ('cat', 'editor', true, NULL, 0, 0, 0, NULL),
              ('ina', 'editor', true, NULL, 0, 0, 0, NULL),
              ('vic', 'viewer', true, NULL, 0, 0, 0, NULL),
              ('zed', 'owner', true, NULL, 0, 0, 0, NULL) $$,
  'member_load: one row per member with role, availability, capacity and zero counters to begin with');
SELECT test_helpers.as_user('vic');
SELECT is((SELECT count(*)::int FROM intracker.member_load WHERE project_id = test_helpers.id('main')), 6,
          'a viewer sees the load of every member of the project');
SELECT test_helpers.as_user('out');
SELECT is_empty($$SELECT * FROM intracker.member_load$$, 'a non-member sees no member_load rows at all');
SELECT is_empty($$SELECT * FROM intracker_data.member_load$$, 'a non-member sees no rows of intracker_data.member_load either');
SELECT test_helpers.as_user('amy');
SELECT set_eq($$SELECT DISTINCT test_helpers.name_of(project_id) FROM intracker.member_load$$,
              ARRAY['main', 'auto', 'tie', 'feat', 'cnt', 'del', 'int', 'claim', 'reb'],
              'a member sees member_load rows of exactly their projects');
SELECT test_helpers.as_user(NULL);
SELECT is_empty($$SELECT * FROM intracker.member_load$$, 'an anonymous request sees no member_load rows');

------------------------------------------------------------------------------
-- C. Who may call: editors/owners assign; viewers 42501, non-members
--    PT404, anonymous PT401 — and nothing is written
------------------------------------------------------------------------------

SELECT test_helpers.as_user('zed');
SELECT test_helpers.todo('m1', 'main', estimate => 2);
SELECT test_helpers.feature('mf', 'main');

SELECT test_helpers.as_user('vic');
SELECT throws_ok($$SELECT intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('amy'))$$, '42501', NULL,
                 'viewer: assign_todo (manual) raises 42501');
SELECT throws_ok($$SELECT intracker.assign_todo(test_helpers.id('m1'))$$, '42501', NULL,
                 'viewer: assign_todo (automatic) raises 42501');
SELECT throws_ok($$SELECT intracker.assign_feature(test_helpers.id('mf'), test_helpers.id('amy'))$$, '42501', NULL,
                 'viewer: assign_feature raises 42501');
SELECT throws_ok($$SELECT intracker.unassign_todo(test_helpers.id('m1'))$$, '42501', NULL,
                 'viewer: unassign_todo raises 42501');
SELECT throws_ok($$SELECT * FROM intracker.claim_next_todo(test_helpers.id('main'))$$, '42501', NULL,
                 'viewer: claim_next_todo raises 42501');
SELECT throws_ok($$SELECT * FROM intracker.rebalance(test_helpers.id('main'))$$, '42501', NULL,
                 'viewer: rebalance raises 42501');

SELECT test_helpers.as_user('out');
SELECT throws_ok($$SELECT intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('amy'))$$, 'PT404', NULL,
                 'non-member: assign_todo raises PT404');
SELECT throws_ok($$SELECT intracker.assign_todo(test_helpers.id('m1'))$$, 'PT404', NULL,
                 'non-member: automatic assign_todo raises PT404');
SELECT throws_ok($$SELECT intracker.assign_feature(test_helpers.id('mf'))$$, 'PT404', NULL,
                 'non-member: assign_feature raises PT404');
SELECT throws_ok($$SELECT intracker.unassign_todo(test_helpers.id('m1'))$$, 'PT404', NULL,
                 'non-member: unassign_todo raises PT404');
SELECT throws_ok($$SELECT * FROM intracker.claim_next_todo(test_helpers.id('main'))$$, 'PT404', NULL,
                 'non-member: claim_next_todo raises PT404');
SELECT throws_ok($$SELECT * FROM intracker.rebalance(test_helpers.id('main'), false)$$, 'PT404', NULL,
                 'non-member: rebalance raises PT404');

SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$SELECT intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('amy'))$$, 'PT401', NULL,
                 'anonymous: assign_todo raises PT401');
SELECT throws_ok($$SELECT intracker.assign_todo(test_helpers.id('m1'))$$, 'PT401', NULL,
                 'anonymous: automatic assign_todo raises PT401');
SELECT throws_ok($$SELECT intracker.assign_feature(test_helpers.id('mf'))$$, 'PT401', NULL,
                 'anonymous: assign_feature raises PT401');
SELECT throws_ok($$SELECT intracker.unassign_todo(test_helpers.id('m1'))$$, 'PT401', NULL,
                 'anonymous: unassign_todo raises PT401');
SELECT throws_ok($$SELECT * FROM intracker.claim_next_todo(test_helpers.id('main'))$$, 'PT401', NULL,
                 'anonymous: claim_next_todo raises PT401');
SELECT throws_ok($$SELECT * FROM intracker.rebalance(test_helpers.id('main'))$$, 'PT401', NULL,
                 'anonymous: rebalance raises PT401');
SELECT throws_ok($$SELECT intracker.set_availability(test_helpers.id('main'), true)$$, 'PT401', NULL,
                 'anonymous: set_availability raises PT401');
SELECT throws_ok($$SELECT intracker.set_capacity(test_helpers.id('main'), test_helpers.id('amy'), 1)$$, 'PT401', NULL,
                 'anonymous: set_capacity raises PT401');

SELECT test_helpers.as_user('amy');
SELECT throws_ok($$SELECT intracker.assign_todo(NULL, test_helpers.id('amy'))$$, '22023', NULL,
                 'assign_todo(NULL todo id) raises 22023');
SELECT throws_ok($$SELECT intracker.assign_todo(test_helpers.id('ghost'))$$, 'PT404', NULL,
                 'assign_todo of a todo that does not exist raises PT404');
SELECT results_eq($$SELECT assigned_to, version FROM intracker.todos WHERE id = test_helpers.id('m1')$$,
                  $$VALUES (NULL::uuid, 1)$$, 'the refused calls wrote nothing (m1 unassigned, version 1)');

------------------------------------------------------------------------------
-- D. set_user_active: admins only; deactivation unassigns open work
------------------------------------------------------------------------------

-- ina's work in main: two open todos, one done todo, an open and a done feature.
SELECT test_helpers.as_user('zed');
SELECT test_helpers.todo('ina_open', 'main', 'ina', estimate => 3);
SELECT test_helpers.todo('ina_prog', 'main', 'ina', estimate => 2, status => 'in_progress');
SELECT test_helpers.todo('ina_done', 'main', 'ina', estimate => 4, status => 'done');
SELECT test_helpers.feature('ina_feat', 'main', assignee => 'ina');
SELECT test_helpers.feature('ina_feat_done', 'main', 'done', assignee => 'ina');
SELECT is(pg_temp.load('main', 'ina'), '2/5/1', 'inserts count: ina has 2 open todos, 5 open points, 1 open feature');

SELECT throws_ok($$SELECT intracker.set_user_active(test_helpers.id('ina'), false)$$, '42501', NULL,
                 'set_user_active by a non-admin (even a project owner) raises 42501');

RESET ROLE;
RESET SESSION AUTHORIZATION;
SET ROLE tester_admin;
SELECT throws_ok($$SELECT intracker.set_user_active(test_helpers.id('ghost'), false)$$, 'PT404', NULL,
                 'set_user_active of an unknown user raises PT404');
SELECT throws_ok($$SELECT intracker.set_user_active(test_helpers.id('ina'), NULL)$$, '22023', NULL,
                 'set_user_active(NULL) raises 22023');
SELECT results_eq($$SELECT test_helpers.name_of(id), is_active FROM intracker.set_user_active(test_helpers.id('ina'), false)$$,
                  $$VALUES ('ina', false)$$, 'an intracker_admin deactivates a user');
RESET ROLE;
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

SELECT test_helpers.as_user('zed');
SELECT results_eq($$SELECT name, pg_temp.assignee(name) FROM unnest(ARRAY['ina_open', 'ina_prog', 'ina_done']) AS name ORDER BY 1$$,
                  $$VALUES ('ina_done', 'ina'), ('ina_open', NULL), ('ina_prog', NULL)$$,
                  'deactivation unassigned the open todos, not the done one');
SELECT results_eq($$SELECT test_helpers.name_of(id), test_helpers.name_of(assigned_to) FROM intracker.features
                     WHERE id IN (test_helpers.id('ina_feat'), test_helpers.id('ina_feat_done')) ORDER BY 1$$,
                  $$VALUES ('ina_feat', NULL), ('ina_feat_done', 'ina')$$,
                  'deactivation unassigned the open feature, not the done one');
SELECT is(pg_temp.version('ina_open'), 2, 'the unassignment is a write: version bumped');
SELECT is(pg_temp.load('main', 'ina'), '0/0/0', 'the deactivated user''s counters are back to zero');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('main'))$$,
                'verify_counters: no drift after deactivation');
SELECT test_helpers.as_user('ina');
SELECT throws_ok($$SELECT intracker.set_availability(test_helpers.id('main'), true)$$, 'PT401', NULL,
                 'a deactivated user cannot act (PT401)');

------------------------------------------------------------------------------
-- E. Manual assignment in main (zed owner; amy, ben, cat editors; ina
--    inactive editor; vic viewer; out outsider)
------------------------------------------------------------------------------

SELECT test_helpers.as_user('amy');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to), version FROM intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('ben'))$$,
                  $$VALUES ('ben', 2)$$, 'manual: an editor assigns a todo to an editor; version bumped');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to), version FROM intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('zed'))$$,
                  $$VALUES ('zed', 3)$$, 'manual: to the owner');
SELECT is(pg_temp.load('main', 'ben') || ' ' || pg_temp.load('main', 'zed'), '0/0/0 1/2/0',
          'manual reassignment moves the load from the old to the new assignee');

SELECT is(test_helpers.error_of($$SELECT intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('out'))$$) ->> 'sqlstate', '22023',
          'manual: a non-member raises 22023');
SELECT matches(test_helpers.error_of($$SELECT intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('out'))$$) ->> 'message',
               'not a member', '... saying the user is not a member');
SELECT is(test_helpers.error_of($$SELECT intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('ghost'))$$) ->> 'sqlstate', '22023',
          'manual: an id that is no user at all raises 22023 too');
SELECT throws_ok($$SELECT intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('vic'))$$, '42501', 'viewers cannot be assigned work',
                 'manual: a viewer raises 42501');
SELECT is(test_helpers.error_of($$SELECT intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('ina'))$$) - 'hint' - 'detail',
          jsonb_build_object('sqlstate', '22023', 'message', format('user %s is inactive', test_helpers.id('ina'))),
          'manual: an inactive member raises 22023 "user ... is inactive"');
SELECT test_helpers.as_user('cat');
SELECT lives_ok($$SELECT intracker.set_availability(test_helpers.id('main'), false)$$, 'cat becomes unavailable');
SELECT test_helpers.as_user('amy');
SELECT throws_ok($$SELECT intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('cat'))$$, '22023',
                 format('user %s is not available in project %s', test_helpers.id('cat'), test_helpers.id('main')),
                 'manual: an unavailable member raises 22023');
SELECT test_helpers.as_user('cat');
SELECT lives_ok($$SELECT intracker.set_availability(test_helpers.id('main'), true)$$, 'cat is available again');
SELECT test_helpers.as_user('amy');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to) FROM intracker.assign_todo(test_helpers.id('m1'), test_helpers.id('cat'))$$,
                  $$VALUES ('cat')$$, '... and can be assigned again');

-- Capacity: ben may hold 5 points.
SELECT test_helpers.as_user('zed');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('main'), test_helpers.id('ben'), 5)$$, 'ben''s capacity is 5');
SELECT test_helpers.todo('c3', 'main', estimate => 3);
SELECT test_helpers.todo('c2', 'main', estimate => 2);
SELECT test_helpers.todo('c1', 'main', estimate => 1);
SELECT test_helpers.as_user('amy');
SELECT is((intracker.assign_todo(test_helpers.id('c3'), test_helpers.id('ben'))).assigned_to, test_helpers.id('ben'),
          'capacity: 0 + 3 <= 5 is fine');
SELECT is((intracker.assign_todo(test_helpers.id('c2'), test_helpers.id('ben'))).assigned_to, test_helpers.id('ben'),
          'capacity: 3 + 2 = 5 is exactly the capacity, still fine');
SELECT is(test_helpers.error_of($$SELECT intracker.assign_todo(test_helpers.id('c1'), test_helpers.id('ben'))$$) - 'hint',
          jsonb_build_object('sqlstate', '22023',
                             'message', format('user %s has no capacity for this todo', test_helpers.id('ben')),
                             'detail', 'Open points 5 plus this todo''s 1 would exceed capacity 5.'),
          'capacity: 5 + 1 > 5 raises 22023 with load, estimate and capacity in DETAIL');
SELECT is((intracker.assign_todo(test_helpers.id('c3'), test_helpers.id('ben'))).assigned_to, test_helpers.id('ben'),
          'capacity: re-assigning ben''s own todo to ben does not count its points twice');
SELECT test_helpers.as_user('zed');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('main'), test_helpers.id('cat'), 0)$$, 'cat''s capacity is 0');
SELECT test_helpers.as_user('amy');
SELECT is(test_helpers.error_of($$SELECT intracker.assign_todo(test_helpers.id('c1'), test_helpers.id('cat'))$$) ->> 'sqlstate', '22023',
          'capacity 0: even a manual assignment of 1 point raises 22023');
SELECT matches(test_helpers.error_of($$SELECT intracker.assign_todo(test_helpers.id('c1'), test_helpers.id('cat'))$$) ->> 'detail',
               'capacity 0\.$', '... naming capacity 0 in DETAIL');
SELECT results_eq($$SELECT assigned_to, version FROM intracker.todos WHERE id = test_helpers.id('c1')$$,
                  $$VALUES (NULL::uuid, 1)$$, 'refused manual assignments wrote nothing');
SELECT is(pg_temp.load('main', 'ben') || ' ' || pg_temp.load('main', 'cat'), '2/5/0 1/2/0',
          '... and left the counters alone');
SELECT test_helpers.as_user('zed');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('main'), u, NULL) FROM unnest(ARRAY[test_helpers.id('ben'), test_helpers.id('cat')]) u$$,
                'capacities back to unlimited');

------------------------------------------------------------------------------
-- F. Automatic assignment: who is eligible (project auto)
--
-- una unavailable, nil capacity 0, cap capacity 2; vic viewer; ina inactive.
-- All have lower ids than amy, ben and zed, and nobody has any load yet.
------------------------------------------------------------------------------

SELECT test_helpers.as_user('una');
SELECT lives_ok($$SELECT intracker.set_availability(test_helpers.id('auto'), false)$$, 'una becomes unavailable in auto');
SELECT test_helpers.as_user('zed');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('auto'), test_helpers.id('nil'), 0)$$, 'nil''s capacity is 0');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('auto'), test_helpers.id('cap'), 2)$$, 'cap''s capacity is 2');
SELECT test_helpers.todo('a3', 'auto', estimate => 3);
SELECT test_helpers.todo('a2', 'auto', estimate => 2);
SELECT test_helpers.todo('a1', 'auto', estimate => 1);

SELECT is(pg_temp.would_assign('a3'), 'amy',
          'auto: skips the viewer, the inactive, the unavailable, capacity 0 and a member without room; lowest id among the rest');
SELECT is(pg_temp.would_assign('a2'), 'cap', 'auto: load + estimate = capacity is eligible (cap, 0 + 2 <= 2)');
SELECT is(pg_temp.would_assign('a1'), 'cap', 'auto: a member with capacity is eligible while the estimate fits');
SELECT results_eq($$SELECT assigned_to, version FROM intracker.todos WHERE id = test_helpers.id('a3')$$,
                  $$VALUES (NULL::uuid, 1)$$, '(the dry runs above left the todo as it was)');

-- Lift one rule at a time: the member it excluded wins.
SELECT test_helpers.as_user('una');
SELECT lives_ok($$SELECT intracker.set_availability(test_helpers.id('auto'), true)$$, 'una available');
SELECT test_helpers.as_user('zed');
SELECT is(pg_temp.would_assign('a3'), 'una', 'availability is what excluded una');
SELECT test_helpers.as_user('una');
SELECT lives_ok($$SELECT intracker.set_availability(test_helpers.id('auto'), false)$$, 'una unavailable again');
SELECT test_helpers.as_user('zed');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('auto'), test_helpers.id('nil'), NULL)$$, 'nil unlimited');
SELECT is(pg_temp.would_assign('a3'), 'nil', 'capacity 0 is what excluded nil');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('auto'), test_helpers.id('nil'), 0)$$, 'nil capacity 0 again');
SELECT lives_ok($$SELECT intracker.add_member(test_helpers.id('auto'), test_helpers.id('vic'), 'editor')$$, 'vic made an editor');
SELECT is(pg_temp.would_assign('a3'), 'vic', 'the viewer role is what excluded vic');
SELECT lives_ok($$SELECT intracker.add_member(test_helpers.id('auto'), test_helpers.id('vic'), 'viewer')$$, 'vic a viewer again');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('auto'), test_helpers.id('cap'), 3)$$, 'cap capacity 3');
SELECT is(pg_temp.would_assign('a3'), 'cap', 'lack of room is what excluded cap (0 + 3 <= 3 now)');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('auto'), test_helpers.id('cap'), 2)$$, 'cap capacity 2 again');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SET ROLE tester_admin;
SELECT lives_ok($$SELECT intracker.set_user_active(test_helpers.id('ina'), true)$$, 'ina reactivated');
RESET ROLE;
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT is(pg_temp.would_assign('a3'), 'ina', 'being inactive is what excluded ina');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SET ROLE tester_admin;
SELECT lives_ok($$SELECT intracker.set_user_active(test_helpers.id('ina'), false)$$, 'ina deactivated again');
RESET ROLE;
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

-- Nobody eligible: a NOTICE (not an error), and the todo stays as it is.
SELECT test_helpers.as_user('zed');
SELECT test_helpers.todo('n5', 'auto', estimate => 5);
SELECT test_helpers.todo('n3', 'auto', estimate => 3);
SELECT lives_ok($$SELECT intracker.assign_todo(test_helpers.id('n3'), test_helpers.id('amy'))$$, 'n3 assigned to amy by hand');
SELECT test_helpers.as_user('amy');
SELECT lives_ok($$SELECT intracker.set_availability(test_helpers.id('auto'), false)$$, 'amy unavailable');
SELECT test_helpers.as_user('ben');
SELECT lives_ok($$SELECT intracker.set_availability(test_helpers.id('auto'), false)$$, 'ben unavailable');
SELECT test_helpers.as_user('zed');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('auto'), test_helpers.id('zed'), 0)$$, 'zed capacity 0');
-- Now only cap (capacity 2, empty) is eligible, and neither todo fits.
SELECT lives_ok($$SELECT intracker.assign_todo(test_helpers.id('n5'))$$,
                'nobody eligible: automatic assignment does not fail the transaction');
SELECT results_eq($$SELECT assigned_to, version FROM intracker.assign_todo(test_helpers.id('n5'))$$,
                  $$VALUES (NULL::uuid, 1)$$, 'nobody eligible: the unassigned todo comes back unassigned, version unchanged');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to), version FROM intracker.assign_todo(test_helpers.id('n3'))$$,
                  $$VALUES ('amy', 2)$$, 'nobody eligible: an assigned todo keeps its assignee (amy, now unavailable), version unchanged');
SELECT is(pg_temp.load('auto', 'amy') || ' ' || pg_temp.load('auto', 'cap'), '1/3/0 0/0/0',
          'nobody eligible: the counters did not move');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('auto'))$$, 'verify_counters: no drift in auto');

------------------------------------------------------------------------------
-- T. Tie-breaks (project tie: zed owner, amy and ben editors, vic viewer)
--    least open points; then least recently assigned (never assigned
--    first); then lowest user id
------------------------------------------------------------------------------

SELECT test_helpers.as_user('zed');
SELECT test_helpers.todo(t, 'tie', estimate => e)
  FROM (VALUES ('t1', 2), ('t2', 2), ('t3', 1), ('t4', 1), ('t5', 1), ('t6', 1), ('t7', 1),
               ('u1', 1), ('t8', 1), ('t9', 1), ('t10', 1)) AS x (t, e);

SELECT is(pg_temp.auto('t1'), 'amy', 'tie 0/0/0, never assigned: lowest user id (amy; vic is a viewer)');
SELECT is(pg_temp.auto('t2'), 'ben', 'ben and zed tie at 0 points, never assigned: lowest user id (ben)');
SELECT is(pg_temp.auto('t3'), 'zed', 'least open points wins (zed 0 < 2)');
SELECT is(pg_temp.auto('t4'), 'zed', 'least open points wins even right after an assignment (zed 1 < 2)');
SELECT ok(pg_temp.last_assigned('tie', 'amy') < pg_temp.last_assigned('tie', 'ben')
          AND pg_temp.last_assigned('tie', 'ben') < pg_temp.last_assigned('tie', 'zed'),
          'last_assigned_at records the order of assignments (amy, ben, zed)');
SELECT is(pg_temp.auto('t5'), 'amy', 'all at 2 points: the least recently assigned (amy)');
SELECT is(pg_temp.auto('t6'), 'ben', 'ben and zed at 2: ben was assigned before zed');
SELECT is(pg_temp.auto('t7'), 'zed', 'zed has the fewest points');

-- Re-assigning a todo excludes its own estimate from its assignee's load:
-- zed holds t7 (3 points with it, 2 without); amy and ben have 3.
INSERT INTO marks SELECT 'zed@t7', pg_temp.last_assigned('tie', 'zed');
SELECT is(pg_temp.would_assign('t7'), 'zed', 'reassigning: the todo''s own estimate does not count against its assignee');
SELECT is(pg_temp.auto('t7'), 'zed', 'reassigning t7 automatically keeps it with zed');
SELECT is(pg_temp.load('tie', 'zed'), '3/3/0', '... without counting it twice');
SELECT is(pg_temp.last_assigned('tie', 'zed'), (SELECT ts FROM marks WHERE name = 'zed@t7'),
          '... and without restamping last_assigned_at (not a new assignment)');

-- amy gets and loses u1: her points are back to 3, her stamp is the newest.
SELECT lives_ok($$SELECT intracker.assign_todo(test_helpers.id('u1'), test_helpers.id('amy'))$$, 'u1 assigned to amy by hand');
SELECT lives_ok($$SELECT intracker.unassign_todo(test_helpers.id('u1'))$$, 'and unassigned');
SELECT is(pg_temp.auto('t8'), 'ben', 'all at 3: ben is the least recently assigned');
SELECT is(pg_temp.auto('t9'), 'zed',
          'amy and zed at 3: zed was assigned longer ago, which beats amy''s lower user id');

-- A member never assigned (last_assigned_at NULL) goes first on equal load.
SELECT lives_ok($$SELECT intracker.add_member(test_helpers.id('tie'), test_helpers.id('cat'), 'editor')$$, 'cat joins tie');
SELECT lives_ok($$SELECT intracker.unassign_todo(test_helpers.id(t)) FROM unnest(ARRAY['t1', 't5']) t$$,
                'amy''s todos unassigned: amy 0 points but assigned before');
SELECT is(pg_temp.auto('t10'), 'cat', 'amy and cat at 0 points: never-assigned cat first, despite amy''s lower id');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('tie'))$$, 'verify_counters: no drift in tie');

------------------------------------------------------------------------------
-- G. Assignments are writes: version bumped, expected_version obeyed
------------------------------------------------------------------------------

SELECT test_helpers.as_user('zed');
SELECT test_helpers.todo('ver', 'main', estimate => 1);
SELECT test_helpers.feature('fver', 'main');
SELECT test_helpers.as_user('amy');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to), version FROM intracker.assign_todo(test_helpers.id('ver'), test_helpers.id('amy'), 1)$$,
                  $$VALUES ('amy', 2)$$, 'assign_todo with the current expected_version: assigned, version 2');
SELECT is(test_helpers.error_of($$SELECT intracker.assign_todo(test_helpers.id('ver'), test_helpers.id('ben'), 1)$$) - 'message' - 'detail',
          '{"sqlstate": "PT409", "hint": "Re-read the row and retry."}'::jsonb,
          'manual assign_todo with a stale expected_version raises PT409');
SELECT throws_ok($$SELECT intracker.assign_todo(test_helpers.id('ver'), NULL, 1)$$, 'PT409', NULL,
                 'automatic assign_todo with a stale expected_version raises PT409');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to), version FROM intracker.todos WHERE id = test_helpers.id('ver')$$,
                  $$VALUES ('amy', 2)$$, 'stale assignments wrote nothing');
SELECT is(pg_temp.load('main', 'ben'), '2/5/0', '... and did not touch the would-be assignee''s counters');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to), version FROM intracker.assign_todo(test_helpers.id('ver'), test_helpers.id('ben'), 2)$$,
                  $$VALUES ('ben', 3)$$, 'with the current version the reassignment goes through');
SELECT throws_ok($$SELECT intracker.unassign_todo(test_helpers.id('ver'), 2)$$, 'PT409', NULL,
                 'unassign_todo with a stale expected_version raises PT409');
SELECT is(pg_temp.assignee('ver'), 'ben', '... and leaves the assignee');
SELECT results_eq($$SELECT assigned_to, version FROM intracker.unassign_todo(test_helpers.id('ver'), 3)$$,
                  $$VALUES (NULL::uuid, 4)$$, 'unassign_todo with the current version: unassigned, version 4');
SELECT is(pg_temp.load('main', 'ben'), '2/5/0', 'unassigning took the points off ben');
SELECT is((intracker.assign_todo(test_helpers.id('ver'))).version, 5,
          'automatic assignment without expected_version bumps the version by exactly 1');
SELECT is((intracker.unassign_todo(test_helpers.id('ver'))).version, 6,
          'unassign_todo without expected_version bumps the version by exactly 1');
SELECT throws_ok($$SELECT intracker.assign_feature(test_helpers.id('fver'), test_helpers.id('amy'), 7)$$, 'PT409', NULL,
                 'assign_feature with a stale expected_version raises PT409');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to), version FROM intracker.assign_feature(test_helpers.id('fver'), test_helpers.id('amy'), 1)$$,
                  $$VALUES ('amy', 2)$$, 'assign_feature with the current version: assigned, version 2');

------------------------------------------------------------------------------
-- H. Features (project feat: zed owner, amy and ben editors, vic viewer):
--    fewest open features first, then fewest open points, then the ties
------------------------------------------------------------------------------

SELECT test_helpers.as_user('zed');
SELECT test_helpers.feature(f, 'feat') FROM unnest(ARRAY['fa', 'fb', 'fc', 'fd', 'fe']) f;
SELECT test_helpers.todo('ft', 'feat', 'amy', estimate => 3);
SELECT is(pg_temp.auto_feature('fa'), 'ben', 'features: all 0 features; ben and zed have 0 points, ben the lower id');
SELECT is(pg_temp.auto_feature('fb'), 'zed', 'features: amy and zed 0 features; zed has fewer points');
SELECT is(pg_temp.auto_feature('fc'), 'amy', 'features: fewest open features beats fewer points (amy 0 features, 3 points)');
SELECT is(pg_temp.auto_feature('fd'), 'ben', 'features: all 1 feature; ben and zed 0 points; ben assigned before zed');
SELECT is(pg_temp.load('feat', 'amy') || ' ' || pg_temp.load('feat', 'ben') || ' ' || pg_temp.load('feat', 'zed'),
          '1/3/1 0/0/2 0/0/1', 'open_features counts each member''s open features');
SELECT throws_ok($$SELECT intracker.assign_feature(test_helpers.id('fe'), test_helpers.id('vic'))$$, '42501', NULL,
                 'assign_feature to a viewer raises 42501');
SELECT throws_ok($$SELECT intracker.assign_feature(test_helpers.id('fe'), test_helpers.id('out'))$$, '22023', NULL,
                 'assign_feature to a non-member raises 22023');
SELECT lives_ok($$SELECT intracker.update_feature(test_helpers.id('fd'), '{"status": "done"}', 2)$$, 'fd is done');
SELECT is(pg_temp.load('feat', 'ben'), '0/0/1', 'a done feature no longer counts');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to), version FROM intracker.assign_feature(test_helpers.id('fa'), test_helpers.id('amy'), 2)$$,
                  $$VALUES ('amy', 3)$$, 'manual assign_feature to an editor: assigned, version bumped');
SELECT is(pg_temp.load('feat', 'amy') || ' ' || pg_temp.load('feat', 'ben'), '1/3/2 0/0/0',
          'reassigning a feature moves it between the counters');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('feat'))$$, 'verify_counters: no drift in feat');

------------------------------------------------------------------------------
-- I. Counters follow every change (project cnt: zed owner, amy, ben)
------------------------------------------------------------------------------

SELECT test_helpers.as_user('zed');
SELECT test_helpers.todo('k1', 'cnt', 'amy', estimate => 2);
SELECT test_helpers.todo('k2', 'cnt', 'amy', estimate => 3);
SELECT test_helpers.todo('k3', 'cnt', 'amy', estimate => 5);
SELECT test_helpers.todo('k4', 'cnt', 'ben', estimate => 1);
SELECT test_helpers.todo('k9', 'cnt', 'ben', estimate => 4, status => 'done');
SELECT test_helpers.feature('kf', 'cnt', assignee => 'ben');
SELECT is(pg_temp.load('cnt', 'amy') || ' ' || pg_temp.load('cnt', 'ben'), '3/10/0 1/1/1',
          'counters after inserts (a done todo carries no load)');

SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('k1'), 'in_progress', 1)$$, 'k1 in progress');
SELECT is(pg_temp.load('cnt', 'amy'), '3/10/0', 'in_progress is still open: no change');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('k1'), 'done', 2)$$, 'k1 done');
SELECT is(pg_temp.load('cnt', 'amy'), '2/8/0', 'done: one todo and 2 points fewer');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('k2'), 'cancelled', 1)$$, 'k2 cancelled');
SELECT is(pg_temp.load('cnt', 'amy'), '1/5/0', 'cancelled: one todo and 3 points fewer');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('k1'), 'todo', 3)$$, 'k1 reopened');
SELECT is(pg_temp.load('cnt', 'amy'), '2/7/0', 'reopened: counts again');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('cnt'))$$, 'verify_counters: no drift after status changes');

SELECT lives_ok($$SELECT intracker.update_todo(test_helpers.id('k3'), '{"estimate": 8}', 1)$$, 'k3 re-estimated 5 -> 8');
SELECT is(pg_temp.load('cnt', 'amy'), '2/10/0', 'an estimate change moves the open points');
SELECT lives_ok($$SELECT intracker.update_todo(test_helpers.id('k2'), '{"estimate": 9}', 2)$$, 'cancelled k2 re-estimated');
SELECT is(pg_temp.load('cnt', 'amy'), '2/10/0', 'the estimate of a closed todo carries no load');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('cnt'))$$, 'verify_counters: no drift after estimate changes');

SELECT lives_ok($$SELECT intracker.assign_todo(test_helpers.id('k3'), test_helpers.id('ben'))$$, 'k3 reassigned to ben');
SELECT is(pg_temp.load('cnt', 'amy') || ' ' || pg_temp.load('cnt', 'ben'), '1/2/0 2/9/1', 'reassignment moves todo and points');
UPDATE intracker.todos SET assigned_to = test_helpers.id('amy'), version = 1 WHERE id = test_helpers.id('k4');
SELECT is(pg_temp.load('cnt', 'amy') || ' ' || pg_temp.load('cnt', 'ben'), '2/3/0 1/8/1',
          'a direct UPDATE through the view (PostgREST PATCH) keeps the counters too');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('cnt'))$$, 'verify_counters: no drift after reassignments');

-- member_load's rows are versioned: each change replaced a member's row by
-- its successor, one generation up, and one row per member is live.
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT results_eq($$SELECT count(*)::integer, min(generation) > 0 FROM intracker_data.member_load
                     WHERE project_id = test_helpers.id('cnt') AND user_id = test_helpers.id('amy')$$,
                  $$VALUES (1, true)$$,
                  'member_load: one live row per member, generations up from the first (0) after the changes');
INSERT INTO intracker_data.member_load (project_id, user_id, generation)
VALUES (test_helpers.id('cnt'), test_helpers.id('amy'), -1);
SELECT results_eq($$SELECT counter, stored, actual FROM intracker.verify_counters(test_helpers.id('cnt'))$$,
                  $$VALUES ('member_load.live_rows', 2::bigint, 1::bigint)$$,
                  'verify_counters: a second live row of a member is drift');
DELETE FROM intracker_data.member_load
 WHERE project_id = test_helpers.id('cnt') AND user_id = test_helpers.id('amy') AND generation = -1;
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

DELETE FROM intracker.todos WHERE id IN (test_helpers.id('k1'), test_helpers.id('k9'));
SELECT is(pg_temp.load('cnt', 'amy') || ' ' || pg_temp.load('cnt', 'ben'), '1/1/0 1/8/1',
          'deleting an open todo takes its load off; deleting a done one changes nothing');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('cnt'))$$, 'verify_counters: no drift after deletions');

SELECT lives_ok($$SELECT intracker.remove_member(test_helpers.id('cnt'), test_helpers.id('ben'))$$, 'ben removed from cnt');
SELECT is(pg_temp.assignee('k3'), NULL, 'member removal unassigns their open todos');
SELECT is((SELECT assigned_to FROM intracker.features WHERE id = test_helpers.id('kf')), NULL,
          'member removal unassigns their features');
SELECT is(pg_temp.load('cnt', 'ben'), NULL, 'the removed member has no member_load row any more');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('cnt'))$$, 'verify_counters: no drift after member removal');
SELECT lives_ok($$SELECT intracker.add_member(test_helpers.id('cnt'), test_helpers.id('ben'), 'editor')$$, 'ben rejoins');
SELECT is(pg_temp.load('cnt', 'ben'), '0/0/0', 'a rejoining member starts from zero');
SELECT test_helpers.as_user('amy');
SELECT lives_ok($$SELECT intracker.remove_member(test_helpers.id('cnt'), test_helpers.id('amy'))$$, 'amy leaves cnt');
SELECT test_helpers.as_user('zed');
SELECT is(pg_temp.assignee('k4'), NULL, 'leaving a project unassigns your todos there too');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('cnt'))$$, 'verify_counters: no drift after a member left');

------------------------------------------------------------------------------
-- K. Dependency counters and the row version
------------------------------------------------------------------------------

-- Deleting a todo takes it out of its neighbours' counters (project del).
SELECT test_helpers.todo('d_blocker', 'del');
SELECT test_helpers.todo('d_waiting', 'del');
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('d_waiting'), test_helpers.id('d_blocker'))$$, 'd_waiting is blocked by d_blocker');
DELETE FROM intracker.todos WHERE id = test_helpers.id('d_blocker');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('del')) WHERE entity = test_helpers.id('d_waiting')$$,
                'deleting an open blocker: its dependent''s open_blocker_count follows (verify_counters)');
SELECT test_helpers.as_user('amy');
SELECT results_eq($$SELECT title FROM intracker.claim_next_todo(test_helpers.id('del'))$$, $$VALUES ('d_waiting')$$,
                  'a todo whose only blocker was deleted can be claimed');
SELECT test_helpers.as_user('zed');
SELECT test_helpers.todo('d_first', 'del');
SELECT test_helpers.todo('d_second', 'del');
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('d_second'), test_helpers.id('d_first'))$$, 'd_second is blocked by d_first');
DELETE FROM intracker.todos WHERE id = test_helpers.id('d_second');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('del')) WHERE entity = test_helpers.id('d_first')$$,
                'deleting an open dependent: its blocker''s open_dependent_count follows (verify_counters)');

-- Counter-only updates are not changes of the row: no version bump
-- (project int).
SELECT test_helpers.feature('fi', 'int');
INSERT INTO test_helpers.ids SELECT n, (intracker.create_todo(test_helpers.id('int'), n, feature_id => test_helpers.id('fi'))).id
  FROM unnest(ARRAY['j_a', 'j_b']) n;
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('j_b'), test_helpers.id('j_a'))$$, 'j_b is blocked by j_a');
SELECT results_eq($$SELECT title, version, open_blocker_count, open_dependent_count FROM intracker_data.todos
                     WHERE project_id = test_helpers.id('int') ORDER BY title$$,
                  $$VALUES ('j_a', 1, 0::bigint, 1::bigint), ('j_b', 1, 1, 0)$$,
                  'adding a dependency updates both counters and neither version');
SELECT lives_ok($$SELECT intracker.update_feature(test_helpers.id('fi'), '{"status": "in_progress"}', 1)$$, 'fi in progress');
SELECT results_eq($$SELECT title, version, feature_active FROM intracker_data.todos
                     WHERE project_id = test_helpers.id('int') ORDER BY title$$,
                  $$VALUES ('j_a', 1, true), ('j_b', 1, true)$$,
                  'a feature going in progress sets feature_active on its todos without bumping their versions');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('j_a'), 'done', 1)$$, 'the blocker j_a is done');
SELECT results_eq($$SELECT version, open_blocker_count FROM intracker_data.todos WHERE id = test_helpers.id('j_b')$$,
                  $$VALUES (1, 0::bigint)$$, 'completing a blocker does not change the dependent''s version');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('j_a'), 'todo', 2)$$, 'j_a reopened');
SELECT results_eq($$SELECT version, open_blocker_count FROM intracker_data.todos WHERE id = test_helpers.id('j_b')$$,
                  $$VALUES (1, 1::bigint)$$, 'reopening the blocker: j_b blocked again, still version 1');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('j_a'), 'cancelled', 3)$$, 'j_a cancelled');
SELECT results_eq($$SELECT version, open_blocker_count FROM intracker_data.todos WHERE id = test_helpers.id('j_b')$$,
                  $$VALUES (1, 0::bigint)$$, 'a cancelled blocker no longer blocks; still version 1');
SELECT results_eq($$SELECT title, version FROM intracker.update_todo(test_helpers.id('j_b'), '{"title": "j_b renamed"}', 1)$$,
                  $$VALUES ('j_b renamed', 2)$$, 'a real change of the dependent still bumps its version (control)');
SELECT throws_ok($$UPDATE intracker_data.todos SET open_blocker_count = 0 WHERE id = test_helpers.id('j_b')$$, '42501', NULL,
                 'API users cannot write the internal counters');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('int'))$$, 'verify_counters: no drift in int');

------------------------------------------------------------------------------
-- L. claim_next_todo (project claim: zed owner, amy and ben editors, vic viewer)
--
-- Order: priority, then feature in progress, then open dependents, then
-- due date, then created_at, then id.  Ids are fixed so that the id
-- tie-break is known; c_old is made older than the others.
------------------------------------------------------------------------------

SELECT test_helpers.feature('ui', 'claim', 'in_progress');
INSERT INTO test_helpers.ids VALUES
    ('c_other',   '00000000-0000-4000-8000-00000000c001'),
    ('c_low',     '00000000-0000-4000-8000-00000000c010'),
    ('c_crit',    '00000000-0000-4000-8000-00000000c011'),
    ('c_blocker', '00000000-0000-4000-8000-00000000c012'),
    ('c_held',    '00000000-0000-4000-8000-00000000c013'),
    ('c_plain',   '00000000-0000-4000-8000-00000000c020'),
    ('c_ui',      '00000000-0000-4000-8000-00000000c021'),
    ('c_unblock', '00000000-0000-4000-8000-00000000c022'),
    ('c_due_late','00000000-0000-4000-8000-00000000c023'),
    ('c_due_soon','00000000-0000-4000-8000-00000000c024'),
    ('c_id_a',    '00000000-0000-4000-8000-00000000c025'),
    ('c_id_b',    '00000000-0000-4000-8000-00000000c026'),
    ('c_old',     '00000000-0000-4000-8000-00000000c02f'),
    ('c_mine',    '00000000-0000-4000-8000-00000000c030'),
    ('c_review',  '00000000-0000-4000-8000-00000000c040');
INSERT INTO intracker.todos (id, project_id, feature_id, title, priority, due_date, assigned_to, status)
SELECT test_helpers.id(n), test_helpers.id('claim'), test_helpers.id(f), n, p, d, test_helpers.id(a), s
  FROM (VALUES ('c_other',    NULL, 'high',     NULL::date,   'ben', 'todo'),    -- someone else's
               ('c_low',      NULL, 'low',      NULL,         NULL,  'todo'),    -- blocked by c_unblock
               ('c_crit',     NULL, 'critical', NULL,         NULL,  'todo'),    -- blocked by c_blocker
               ('c_blocker',  NULL, 'medium',   NULL,         NULL,  'todo'),
               ('c_held',     NULL, 'critical', NULL,         NULL,  'blocked'), -- status blocked: not claimable
               ('c_plain',    NULL, 'high',     NULL,         NULL,  'todo'),
               ('c_ui',       'ui', 'high',     NULL,         NULL,  'todo'),
               ('c_unblock',  NULL, 'high',     NULL,         NULL,  'todo'),
               ('c_due_late', NULL, 'high',     '2031-01-01', NULL,  'todo'),
               ('c_due_soon', NULL, 'high',     '2030-01-01', NULL,  'todo'),
               ('c_id_a',     NULL, 'high',     NULL,         NULL,  'todo'),
               ('c_id_b',     NULL, 'high',     NULL,         NULL,  'todo'),
               ('c_old',      NULL, 'high',     NULL,         NULL,  'todo'),
               ('c_mine',     NULL, 'medium',   NULL,         'amy', 'todo'),    -- amy's own
               ('c_review',   NULL, 'critical', NULL,         NULL,  'review')   -- under review: not claimable
       ) AS x (n, f, p, d, a, s);
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('c_crit'), test_helpers.id('c_blocker'))$$,
                'c_crit is blocked by c_blocker');
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('c_low'), test_helpers.id('c_unblock'))$$,
                'c_low is blocked by c_unblock');
-- Age: c_old was created a day earlier (created_at is not writable through the API).
RESET ROLE;
RESET SESSION AUTHORIZATION;
UPDATE intracker_data.todos SET created_at = created_at - interval '1 day' WHERE id = test_helpers.id('c_old');
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

SELECT test_helpers.as_user('vic');
SELECT throws_ok($$SELECT * FROM intracker.claim_next_todo(test_helpers.id('claim'))$$, '42501', NULL,
                 'a viewer cannot claim (42501)');

SELECT test_helpers.as_user('amy');
SELECT results_eq($$SELECT title, status, test_helpers.name_of(assigned_to), version FROM intracker.claim_next_todo(test_helpers.id('claim'))$$,
                  $$VALUES ('c_ui', 'in_progress', 'amy', 2)$$,
                  'claim: highest open priority (critical ones are blocked), and of those the todo of the feature in progress; assigned to the caller, in_progress, version bumped');
SELECT results_eq($$SELECT id, title FROM intracker.claim_next_todo(test_helpers.id('claim'))$$,
                  $$VALUES (test_helpers.id('c_ui'), 'c_ui')$$,
                  'asking again returns the todo already in progress');
SELECT matches((SELECT claim_reason FROM intracker.claim_next_todo(test_helpers.id('claim'))), '^already in progress',
               '... with the reason "already in progress"');
SELECT is((SELECT count(*)::int FROM intracker.todos WHERE project_id = test_helpers.id('claim') AND status = 'in_progress'), 1,
          '... and claims nothing more');
SELECT is(pg_temp.load('claim', 'amy'), '2/2/0', 'the claim counts in amy''s load (c_mine and c_ui)');

-- Finish the current todo, claim the next; check the reason on the way.
CREATE FUNCTION pg_temp.finish_and_claim(status text DEFAULT 'done') RETURNS TABLE (title text, claim_reason text)
LANGUAGE sql AS $$
    SELECT intracker.set_todo_status(t.id, finish_and_claim.status, t.version)
      FROM intracker.todos t
     WHERE t.project_id = test_helpers.id('claim') AND t.status = 'in_progress'
       AND t.assigned_to = intracker.current_user_id();
    SELECT c.title, c.claim_reason FROM intracker.claim_next_todo(test_helpers.id('claim')) c;
$$;
SELECT results_eq($$SELECT title, claim_reason FROM pg_temp.finish_and_claim()$$,
                  $$VALUES ('c_unblock', 'priority high; unblocks 1 todo; oldest of its rank')$$,
                  'next: among equal priority, the todo that unblocks the most; the reason names priority and what it unblocks');
SELECT results_eq($$SELECT title FROM pg_temp.finish_and_claim('cancelled')$$, $$VALUES ('c_due_soon')$$,
                  'next: the earliest due date');
SELECT matches((SELECT claim_reason FROM intracker.claim_next_todo(test_helpers.id('claim'))), '^already in progress',
               '(c_due_soon in progress)');
SELECT results_eq($$SELECT title FROM pg_temp.finish_and_claim()$$, $$VALUES ('c_due_late')$$,
                  'next: the later due date before todos without one');
SELECT results_eq($$SELECT title FROM pg_temp.finish_and_claim()$$, $$VALUES ('c_old')$$,
                  'next: the oldest todo, though its id is the highest');
SELECT results_eq($$SELECT title FROM pg_temp.finish_and_claim()$$, $$VALUES ('c_plain')$$,
                  'next: same age, the lowest id (c_plain < c_id_a < c_id_b; c_other is ben''s)');
SELECT results_eq($$SELECT title FROM pg_temp.finish_and_claim()$$, $$VALUES ('c_id_a')$$, 'next: c_id_a');
SELECT results_eq($$SELECT title FROM pg_temp.finish_and_claim()$$, $$VALUES ('c_id_b')$$, 'next: c_id_b');
SELECT results_eq($$SELECT title, claim_reason FROM pg_temp.finish_and_claim()$$,
                  $$VALUES ('c_blocker', 'priority medium; unblocks 1 todo; oldest of its rank')$$,
                  'high ones done: c_blocker (medium, unblocks c_crit) before amy''s own c_mine (medium)');
SELECT results_eq($$SELECT title, claim_reason FROM pg_temp.finish_and_claim()$$,
                  $$VALUES ('c_crit', 'priority critical; oldest of its rank')$$,
                  'its blocker done, the critical c_crit is claimable and comes first');
SELECT results_eq($$SELECT title, test_helpers.name_of(assigned_to) FROM intracker.todos WHERE id = test_helpers.id('c_mine')$$,
                  $$VALUES ('c_mine', 'amy')$$, '(c_mine is still waiting, assigned to amy)');
SELECT results_eq($$SELECT title FROM pg_temp.finish_and_claim()$$, $$VALUES ('c_mine')$$,
                  'a todo assigned to the caller is claimable');
SELECT results_eq($$SELECT title FROM pg_temp.finish_and_claim()$$, $$VALUES ('c_low')$$,
                  'last: the low one, unblocked when its blocker was cancelled');
SELECT is_empty($$SELECT * FROM pg_temp.finish_and_claim()$$,
                'nothing claimable (ben''s todo, a blocked-status and a review todo remain): no row');
SELECT results_eq($$SELECT test_helpers.name_of(id), status, test_helpers.name_of(assigned_to) FROM intracker.todos
                     WHERE project_id = test_helpers.id('claim') AND status <> 'done' AND status <> 'cancelled' ORDER BY 1$$,
                  $$VALUES ('c_held', 'blocked', NULL), ('c_other', 'todo', 'ben'), ('c_review', 'review', NULL)$$,
                  'amy never claimed another member''s todo or a todo not in status todo');
SELECT test_helpers.as_user('ben');
SELECT results_eq($$SELECT title, status FROM intracker.claim_next_todo(test_helpers.id('claim'))$$,
                  $$VALUES ('c_other', 'in_progress')$$, 'ben claims the todo assigned to him');
SELECT test_helpers.as_user('zed');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('claim'))$$, 'verify_counters: no drift after the claims');

-- Dependency gating: a todo blocked by an open todo is skipped even when it
-- is the only candidate, and becomes claimable once the blocker is done.
SELECT test_helpers.todo('g_blocker', 'claim', 'ben', estimate => 1, status => 'in_progress');
SELECT test_helpers.todo('g_waiting', 'claim');
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('g_waiting'), test_helpers.id('g_blocker'))$$, 'g_waiting blocked by g_blocker');
SELECT test_helpers.as_user('amy');
SELECT is_empty($$SELECT * FROM intracker.claim_next_todo(test_helpers.id('claim'))$$,
                'gating: the only open todo is blocked (its blocker is in progress): no row');
SELECT test_helpers.as_user('ben');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('g_blocker'), 'done', 1)$$, 'ben finishes g_blocker');
SELECT test_helpers.as_user('amy');
SELECT results_eq($$SELECT title FROM intracker.claim_next_todo(test_helpers.id('claim'))$$, $$VALUES ('g_waiting')$$,
                  'gating: claimable once the blocker is done');

------------------------------------------------------------------------------
-- R. rebalance (project reb: zed owner; amy, ben, cat editors, cat capacity 4;
--    vic viewer)
------------------------------------------------------------------------------

SELECT test_helpers.as_user('zed');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('reb'), test_helpers.id('cat'), 4)$$, 'cat''s capacity in reb is 4');
SELECT test_helpers.todo('r1', 'reb', 'amy', estimate => 5);
SELECT test_helpers.todo('r2', 'reb', 'amy', estimate => 3);
SELECT test_helpers.todo('r3', 'reb', 'amy', estimate => 2);
SELECT test_helpers.todo('r4', 'reb', 'amy', estimate => 4, status => 'in_progress');  -- started: never moved
SELECT test_helpers.todo('r5', 'reb', 'amy', estimate => 1);
SELECT test_helpers.todo('r6', 'reb', 'ben', estimate => 1);
SELECT test_helpers.todo('r7', 'reb', 'zed', estimate => 2);
SELECT is((SELECT string_agg(test_helpers.name_of(user_id) || '=' || open_points, ' ' ORDER BY test_helpers.name_of(user_id)) FROM intracker.member_load
            WHERE project_id = test_helpers.id('reb')),
          'amy=15 ben=1 cat=0 vic=0 zed=2', 'before: amy carries 15 points');

SELECT test_helpers.as_user('amy');
SELECT throws_ok($$SELECT * FROM intracker.rebalance(test_helpers.id('reb'))$$, '42501', NULL, 'rebalance by an editor raises 42501');
SELECT throws_ok($$SELECT * FROM intracker.rebalance(test_helpers.id('reb'), false)$$, '42501', NULL,
                 'rebalance (not dry) by an editor raises 42501');

SELECT test_helpers.as_user('zed');
INSERT INTO marks SELECT name, NULL, pg_temp.version(name) FROM unnest(ARRAY['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']) name;
-- Expected plan: each step moves the largest unstarted todo of the most
-- loaded member that fits the least loaded eligible member and narrows
-- their gap: r2 (3) to cat (r1 would exceed cat's capacity), r1 to ben, r3
-- to zed (r4 is larger but in progress), r6 from ben to cat (fills cat to 4).
SELECT results_eq($$SELECT title, estimate, test_helpers.name_of(from_user), test_helpers.name_of(to_user), todo_id
                     FROM intracker.rebalance(test_helpers.id('reb'))$$,
                  $$VALUES ('r2', 3, 'amy', 'cat', test_helpers.id('r2')), ('r1', 5, 'amy', 'ben', test_helpers.id('r1')),
                           ('r3', 2, 'amy', 'zed', test_helpers.id('r3')), ('r6', 1, 'ben', 'cat', test_helpers.id('r6'))$$,
                  'rebalance (dry run by default) returns the moves it would make');
SELECT is_empty($$SELECT m.name FROM marks m JOIN intracker.todos t ON t.id = test_helpers.id(m.name)
                   WHERE m.name LIKE 'r_' AND (t.version <> m.n OR t.assigned_to IS DISTINCT FROM
                         test_helpers.id(CASE WHEN m.name = 'r6' THEN 'ben' WHEN m.name = 'r7' THEN 'zed' ELSE 'amy' END))$$,
                'the dry run changed no assignment and no version');
SELECT is((SELECT string_agg(test_helpers.name_of(user_id) || '=' || open_points, ' ' ORDER BY test_helpers.name_of(user_id)) FROM intracker.member_load
            WHERE project_id = test_helpers.id('reb')),
          'amy=15 ben=1 cat=0 vic=0 zed=2', 'the dry run changed no counter');

SELECT results_eq($$SELECT title, estimate, test_helpers.name_of(from_user), test_helpers.name_of(to_user)
                     FROM intracker.rebalance(test_helpers.id('reb'), dry_run => false)$$,
                  $$VALUES ('r2', 3, 'amy', 'cat'), ('r1', 5, 'amy', 'ben'), ('r3', 2, 'amy', 'zed'), ('r6', 1, 'ben', 'cat')$$,
                  'rebalance(dry_run => false) makes the same moves and returns them');
SELECT results_eq($$SELECT name, pg_temp.assignee(name) FROM unnest(ARRAY['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']) name ORDER BY 1$$,
                  $$VALUES ('r1', 'ben'), ('r2', 'cat'), ('r3', 'zed'), ('r4', 'amy'), ('r5', 'amy'), ('r6', 'cat'), ('r7', 'zed')$$,
                  'the todos were reassigned as returned; the in-progress r4 stayed with amy');
SELECT results_eq($$SELECT m.name, t.version - m.n FROM marks m JOIN intracker.todos t ON t.id = test_helpers.id(m.name)
                     WHERE m.name LIKE 'r_' ORDER BY 1$$,
                  $$VALUES ('r1', 1), ('r2', 1), ('r3', 1), ('r4', 0), ('r5', 0), ('r6', 1), ('r7', 0)$$,
                  'versions bumped by 1 on the moved todos only');
SELECT is((SELECT string_agg(test_helpers.name_of(user_id) || '=' || open_points, ' ' ORDER BY test_helpers.name_of(user_id)) FROM intracker.member_load
            WHERE project_id = test_helpers.id('reb')),
          'amy=5 ben=5 cat=4 vic=0 zed=4', 'after: spread among eligible members 15 -> 1, cat at (not over) its capacity 4');
SELECT is_empty($$SELECT * FROM intracker.rebalance(test_helpers.id('reb'))$$, 'a balanced project has nothing to move');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('reb'))$$, 'verify_counters: no drift after rebalance');
-- (del is left out: a drift there is reported by section K.)
SELECT is_empty($$SELECT * FROM intracker.verify_counters() WHERE project <> test_helpers.id('del')$$,
                'verify_counters(): no drift in any of zed''s other projects');

------------------------------------------------------------------------------
-- S. The C counter trigger runs as the table owner: it must not resolve
--    operators through the caller's search_path.  An API user with a schema
--    of their own puts an operator "+" (integer, integer) before pg_catalog
--    and writes a todo directly (as PostgREST PATCH does).
------------------------------------------------------------------------------

RESET ROLE;
RESET SESSION AUTHORIZATION;
CREATE SCHEMA assignment_test_own AUTHORIZATION web_user;
CREATE TEMP TABLE witness (who text, superuser boolean);
GRANT INSERT, SELECT ON witness TO PUBLIC;
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
CREATE FUNCTION assignment_test_own.plus(integer, integer) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pg_temp.witness SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;
    RETURN $1 OPERATOR(pg_catalog.+) $2;
END
$$;
CREATE OPERATOR assignment_test_own.+ (LEFTARG = integer, RIGHTARG = integer,
                                       FUNCTION = assignment_test_own.plus);
SELECT test_helpers.as_user('zed');
SELECT test_helpers.todo('s1', 'main', estimate => 1);
SELECT set_config('search_path', 'assignment_test_own, pg_catalog', true);
UPDATE intracker.todos SET assigned_to = test_helpers.id('amy'), version = 1 WHERE id = test_helpers.id('s1');
RESET search_path;
SELECT is(pg_temp.assignee('s1'), 'amy', '(the direct assignment went through)');
SELECT is_empty($$SELECT * FROM witness WHERE who <> 'web_user' OR superuser$$,
                'no code from the caller''s search_path ran as the table owner (superuser) inside the counter trigger');

SELECT * FROM finish();
ROLLBACK;
