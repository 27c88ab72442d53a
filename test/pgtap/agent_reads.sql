-- test/pgtap/agent_reads.sql — the reading functions agents call (the MCP
-- server's listing tools): list_projects, list_features, list_todos,
-- get_my_todos, get_todo.  As PostgREST's role (RLS applies): members see
-- their projects' rows, filtered and bounded; others get PT404, anonymous
-- callers PT401.

BEGIN;
SELECT plan(21);

SELECT test_helpers.team_fixture();
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT test_helpers.feature('f_done', 'p1', status => 'done');
SELECT test_helpers.todo('t_low', 'p1', priority => 'low');
SELECT test_helpers.todo('t_crit', 'p1', 'editor', priority => 'critical', feature => 'f1');
SELECT test_helpers.todo('t_done', 'p1', priority => 'critical', status => 'done');
SELECT test_helpers.todo('t_mine', 'p1', 'owner', priority => 'high');
SELECT intracker.add_dependency(test_helpers.id('t_crit'), test_helpers.id('t_low'));
SELECT intracker.add_dependency(test_helpers.id('t_mine'), test_helpers.id('t_crit'));
SELECT intracker.act_as(test_helpers.id('outsider'));
INSERT INTO test_helpers.ids SELECT 'p2', p.id FROM intracker.create_project('Outsider''s') p;
SELECT test_helpers.todo('t_other', 'p2', 'outsider');
SELECT intracker.act_as(NULL);

SET LOCAL SESSION AUTHORIZATION authenticator;
SET LOCAL ROLE web_user;

SELECT test_helpers.as_user('viewer');
SELECT results_eq($$SELECT name FROM intracker.list_projects()$$, ARRAY['Project One'], 'list_projects: a member''s projects only');
SELECT results_eq($$SELECT test_helpers.name_of(id) FROM intracker.list_features(test_helpers.id('p1'))$$,
                  ARRAY['f1', 'f_done'], 'list_features: open features first');
SELECT results_eq($$SELECT test_helpers.name_of(id) FROM intracker.list_todos(test_helpers.id('p1'))$$,
                  ARRAY['t_crit', 't_mine', 't_low', 't_done'], 'list_todos: open first, then by priority');
SELECT results_eq($$SELECT test_helpers.name_of(id) FROM intracker.list_todos(test_helpers.id('p1'), status => 'done')$$,
                  ARRAY['t_done'], '... by status');
SELECT results_eq($$SELECT test_helpers.name_of(id) FROM intracker.list_todos(test_helpers.id('p1'), feature_id => test_helpers.id('f1'))$$,
                  ARRAY['t_crit'], '... by feature');
SELECT results_eq($$SELECT test_helpers.name_of(id) FROM intracker.list_todos(test_helpers.id('p1'), assigned_to => test_helpers.id('owner'))$$,
                  ARRAY['t_mine'], '... by assignee');
SELECT is((SELECT count(*)::int FROM intracker.list_todos(test_helpers.id('p1'), max_rows => 2)), 2, '... at most max_rows');
SELECT throws_ok($$SELECT * FROM intracker.list_todos(test_helpers.id('p1'), max_rows => 1001)$$, '22023', NULL,
                 '... max_rows over 1000 is refused');
SELECT throws_ok($$SELECT * FROM intracker.list_todos(test_helpers.id('p1'), max_rows => 0)$$, '22023', NULL,
                 '... and under 1');
SELECT throws_ok($$SELECT * FROM intracker.list_todos(test_helpers.id('p2'))$$, 'PT404', NULL,
                 'list_todos of a project you are not in: PT404');
SELECT throws_ok($$SELECT * FROM intracker.list_features(test_helpers.id('p2'))$$, 'PT404', NULL,
                 'list_features of a project you are not in: PT404');

SELECT is(intracker.get_todo(test_helpers.id('t_crit')) ->> 'title', 't_crit', 'get_todo: the todo');
SELECT is(intracker.get_todo(test_helpers.id('t_crit')) -> 'blocked_by' -> 0 ->> 'title', 't_low', '... with what blocks it');
SELECT is(intracker.get_todo(test_helpers.id('t_crit')) -> 'blocks' -> 0 ->> 'title', 't_mine', '... and what it blocks');
SELECT is(intracker.get_todo(test_helpers.id('t_low')) -> 'blocked_by', '[]'::jsonb, '... empty lists when there are none');
SELECT throws_ok(format('SELECT intracker.get_todo(%L)', test_helpers.id('t_other')), 'PT404', NULL,
                 'get_todo of another project''s todo: PT404');

SELECT test_helpers.as_user('owner');
SELECT results_eq($$SELECT test_helpers.name_of(id) FROM intracker.get_my_todos()$$, ARRAY['t_mine'], 'get_my_todos: your open todos');
SELECT results_eq($$SELECT test_helpers.name_of(id) FROM intracker.get_my_todos(test_helpers.id('p1'))$$, ARRAY['t_mine'],
                  '... in one project');
SELECT throws_ok($$SELECT * FROM intracker.get_my_todos(test_helpers.id('p2'))$$, 'PT404', NULL,
                 '... of a project you are not in: PT404');

SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$SELECT * FROM intracker.list_projects()$$, 'PT401', NULL, 'anonymous: list_projects is PT401');
SELECT throws_ok($$SELECT * FROM intracker.get_my_todos()$$, 'PT401', NULL, 'anonymous: get_my_todos is PT401');

SELECT * FROM finish();
ROLLBACK;
