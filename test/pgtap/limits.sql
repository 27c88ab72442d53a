-- test/pgtap/limits.sql — issue 12, items 11 and 14 (claim order): numbers
-- and dates at their limits.
--
--   E  estimates are bounded (1 .. 1000000): 2^31-1 is refused with 22023
--      naming estimate, on every write path
--   L  a member past 2^31-1 open points: 2,148 todos at the maximum
--      estimate; the load, the done points of a day, the dashboard and the
--      context documents follow, verify_counters() finds no drift, and the
--      member can still be given work
--   K  every other counter takes a step past 2^31-1 (set there by hand)
--   C  claim order compares due dates as dates: 2030 before 12345
--
-- Runs as PostgREST does (authenticator, web_user, JWT claims); section K
-- sets counters as the superuser.

BEGIN;
SELECT plan(34);

SELECT count(test_helpers.add_user(u, ('00000000-0000-4000-b000-0000000000' || n)::uuid))
  FROM (VALUES ('boss', '01'), ('heavy', '02'), ('light', '03')) AS x (u, n);
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('boss');
INSERT INTO test_helpers.ids SELECT p, (intracker.create_project(initcap(p))).id FROM unnest(ARRAY['big', 'dates']) p;
SELECT count(intracker.add_member(test_helpers.id(p), test_helpers.id(u), 'editor'))
  FROM (VALUES ('big', 'heavy'), ('big', 'light'), ('dates', 'heavy')) AS m (p, u);
SELECT test_helpers.todo('small', 'big');

------------------------------------------------------------------------------
-- E. Estimates are bounded
------------------------------------------------------------------------------

SELECT is(test_helpers.error_of($$SELECT intracker.create_todo(test_helpers.id('big'), 'Huge', estimate => 2147483647)$$) - 'message' - 'hint',
          '{"sqlstate": "22023", "detail": "estimate must be a positive number of points, at most 1000000.", "column": "estimate"}'::jsonb,
          'create_todo with an estimate of 2^31-1 raises 22023 naming estimate, the bound in DETAIL');
SELECT is(test_helpers.error_of($$SELECT intracker.update_todo(test_helpers.id('small'), '{"estimate": 2147483647}', 1)$$) - 'message' - 'hint',
          '{"sqlstate": "22023", "detail": "estimate must be a positive number of points, at most 1000000.", "column": "estimate"}'::jsonb,
          'update_todo to an estimate of 2^31-1 raises 22023 naming estimate');
SELECT is(test_helpers.error_of($$SELECT intracker.create_todo(test_helpers.id('big'), 'Huge', estimate => 1000001)$$) ->> 'sqlstate',
          '22023', 'the bound is 1000000: 1000001 is refused');
SELECT throws_ok($$INSERT INTO intracker.todos (project_id, title, estimate) VALUES (test_helpers.id('big'), 'Huge', 2147483647)$$,
                 '23514', NULL, 'INSERT through the view (PostgREST POST) is refused by the CHECK (23514)');
SELECT throws_ok($$UPDATE intracker.todos SET estimate = 2147483647 WHERE id = test_helpers.id('small')$$,
                 '23514', NULL, 'UPDATE through the view (PostgREST PATCH) too');
SELECT is((intracker.update_todo(test_helpers.id('small'), '{"estimate": 1000000}',
                                  (SELECT version FROM intracker.todos WHERE id = test_helpers.id('small')))).estimate,
          1000000, 'the maximum itself is accepted');

------------------------------------------------------------------------------
-- L. A member past 2^31-1 open points
------------------------------------------------------------------------------

-- 2,148 todos of 1,000,000 points: 2,148,000,000 > 2,147,483,647.  One
-- statement, as a PostgREST bulk POST would be.
SELECT lives_ok($$INSERT INTO intracker.todos (project_id, title, estimate, assigned_to)
                  SELECT test_helpers.id('big'), 'Load ' || i, 1000000, test_helpers.id('heavy')
                    FROM generate_series(1, 2148) i$$,
                'heavy is given 2,148 todos at the maximum estimate');
SELECT results_eq($$SELECT open_todos, open_points FROM intracker.member_load
                     WHERE project_id = test_helpers.id('big') AND user_id = test_helpers.id('heavy')$$,
                  $$VALUES (2148, 2148000000::bigint)$$, 'member_load shows 2,148,000,000 open points');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('big'))$$, 'verify_counters: no drift');
SELECT is((SELECT (intracker.team_context(test_helpers.id('big')) -> 'team_members') @? '$[*] ? (@.open_points == 2148000000)'),
          true, 'team_context reports the load');
SELECT results_eq($$SELECT test_helpers.name_of(assigned_to) FROM intracker.assign_todo(test_helpers.id('small'), test_helpers.id('heavy'))$$,
                  $$VALUES ('heavy')$$, 'heavy can still be given work, manually');
SELECT lives_ok($$SELECT intracker.set_availability(test_helpers.id('big'), false)$$,
                '(boss, the owner, takes no automatic work in big)');
SELECT test_helpers.todo('auto1', 'big', estimate => 7);
SELECT test_helpers.todo('auto2', 'big', estimate => 7);
SELECT is(test_helpers.name_of((intracker.assign_todo(test_helpers.id('auto1'))).assigned_to), 'light',
          'automatic assignment compares the loads: light first');
SELECT is(test_helpers.name_of((intracker.assign_todo(test_helpers.id('auto2'))).assigned_to), 'light',
          '... and again (heavy''s load is far larger, not wrapped around)');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('big'), test_helpers.id('heavy'), 2147483647)$$,
                'heavy''s capacity is the largest integer, less than the load');
SELECT is(test_helpers.error_of($$SELECT intracker.create_todo(test_helpers.id('big'), 'One more', assigned_to => test_helpers.id('heavy'))$$)
            ->> 'detail',
          'Open points 2149000000 plus this todo''s 1 would exceed capacity 2147483647.',
          'a capacity check past 2^31-1 compares exactly and says so');
SELECT lives_ok($$SELECT intracker.set_capacity(test_helpers.id('big'), test_helpers.id('heavy'), NULL)$$, 'unlimited again');

-- Everything done on one day: the day's points pass 2^31-1.
SELECT lives_ok($$UPDATE intracker.todos SET status = 'done' WHERE project_id = test_helpers.id('big') AND title LIKE 'Load %'$$,
                'heavy finishes the 2,148 todos at once');
SELECT results_eq($$SELECT todos_done, points_done_last_7_days FROM intracker.team_dashboard WHERE project_id = test_helpers.id('big')$$,
                  $$VALUES (2148, 2148000000::bigint)$$, 'team_dashboard: 2,148,000,000 points done this week');
SELECT is((intracker.team_context(test_helpers.id('big')) #>> '{team_progress,points_done_last_7_days}')::bigint, 2148000000::bigint,
          'team_context: the same');
SELECT is_empty($$SELECT * FROM intracker.verify_counters(test_helpers.id('big'))$$, 'verify_counters: no drift after completing them');

------------------------------------------------------------------------------
-- K. The other counters take a step past 2^31-1 (set there by hand; the
--    drift that leaves is the exact difference, summed without overflow)
------------------------------------------------------------------------------

SELECT test_helpers.feature('kf', 'big');
SELECT test_helpers.todo('k_blocker', 'big');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT lives_ok($$UPDATE intracker_data.todos SET open_dependent_count = open_dependent_count + 2147483647
                   WHERE id = test_helpers.id('k_blocker')$$,
                '(set: a blocker''s open_dependent_count 2^31-1 above the truth)');
SELECT lives_ok($$UPDATE intracker_data.member_load
                     SET open_todos = open_todos + 2147483647, open_features = open_features + 2147483647
                   WHERE project_id = test_helpers.id('big') AND user_id = test_helpers.id('light')$$,
                '(set: light''s open_todos and open_features 2^31-1 above the truth)');
-- Every writer slot, whichever this backend's is: its live row (the slots
-- in use) or a first one.
SELECT lives_ok($$WITH raised AS (UPDATE intracker_data.project_stats
                                     SET todos_open = todos_open + 2147483647, todos_done = todos_done + 2147483647,
                                         todos_cancelled = todos_cancelled + 2147483647
                                   WHERE project_id = test_helpers.id('big') RETURNING slot)
                  INSERT INTO intracker_data.project_stats (project_id, slot, todos_open, todos_done, todos_cancelled)
                  SELECT test_helpers.id('big'), n, 2147483647, 2147483647, 2147483647 FROM generate_series(0, 7) n
                   WHERE n NOT IN (SELECT slot FROM raised)$$,
                '(set: every project_stats slot of big 2^31-1 above the truth)');
SELECT lives_ok($$INSERT INTO intracker_data.feature_stats (feature_id, slot, todos_total, todos_done)
                  SELECT test_helpers.id('kf'), n, 2147483647, 2147483647 FROM generate_series(0, 7) n$$,
                '(set: every feature_stats slot of kf 2^31-1 above the truth)');
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('boss');
SELECT lives_ok($$SELECT intracker.create_todo(test_helpers.id('big'), 'Step', feature_id => test_helpers.id('kf'),
                                               assigned_to => test_helpers.id('light'))$$,
                'a new todo in a feature, assigned: project, feature and load counters each take a step');
SELECT lives_ok($$SELECT intracker.create_feature(test_helpers.id('big'), 'Step', assigned_to => test_helpers.id('light'))$$,
                'a new assigned feature: open_features takes a step');
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('auto1'), test_helpers.id('k_blocker'))$$,
                'a new dependency: the blocker''s open_dependent_count takes a step');
SELECT results_eq($$SELECT counter, stored - actual FROM intracker.verify_counters(test_helpers.id('big'))
                     WHERE counter NOT LIKE 'project_daily_done%' ORDER BY 1$$,
                  $$VALUES ('feature_stats.todos_done', 8 * 2147483647::bigint), ('feature_stats.todos_total', 8 * 2147483647::bigint),
                           ('member_load.open_features', 2147483647::bigint), ('member_load.open_todos', 2147483647::bigint),
                           ('project_stats.todos_cancelled', 8 * 2147483647::bigint), ('project_stats.todos_done', 8 * 2147483647::bigint),
                           ('project_stats.todos_open', 8 * 2147483647::bigint), ('todos.open_dependent_count', 2147483647::bigint)$$,
                  'every counter went one past 2^31-1: verify_counters shows exactly the amount set by hand, nothing else');
SELECT is((SELECT open_dependent_count::bigint FROM intracker_data.todos WHERE id = test_helpers.id('k_blocker')), 2147483648::bigint,
          'open_dependent_count is 2^31');
SELECT test_helpers.as_user('light');
SELECT results_eq($$SELECT title, claim_reason FROM intracker.claim_next_todo(test_helpers.id('big'))$$,
                  $$VALUES ('k_blocker', 'priority medium; unblocks 2147483648 todos; oldest of its rank')$$,
                  'claim_next_todo takes it before light''s own todos and says how many it unblocks');

------------------------------------------------------------------------------
-- C. Claim order compares due dates as dates
------------------------------------------------------------------------------

-- The caller's own best todo against the best unassigned one: the two are
-- compared with each other (0.5 compared text keys, '123450101' < '20300101').
SELECT test_helpers.as_user('boss');
SELECT test_helpers.todo('far', 'dates', 'heavy', due => '12345-01-01');
SELECT test_helpers.todo('near', 'dates', due => '2030-01-01');
SELECT test_helpers.as_user('heavy');
SELECT results_eq($$SELECT title, claim_reason FROM intracker.claim_next_todo(test_helpers.id('dates'))$$,
                  $$VALUES ('near', 'priority medium; due 2030-01-01; oldest of its rank')$$,
                  'claim_next_todo takes the todo due in 2030 before the caller''s own due in 12345, all else equal');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('near'), 'done', 2)$$, 'heavy finishes it');
SELECT results_eq($$SELECT title, claim_reason FROM intracker.claim_next_todo(test_helpers.id('dates'))$$,
                  $$VALUES ('far', 'priority medium; due 12345-01-01; oldest of its rank')$$,
                  'then the one due in 12345');

SELECT * FROM finish();
ROLLBACK;
