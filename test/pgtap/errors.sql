-- test/pgtap/errors.sql — the error contract of the public API.
--
--   PT404  missing or invisible (the same error for both: no leak)
--   42501  role too low
--   22023  invalid input, DETAIL naming the field
--   PT409  stale version (expected_version, or SET version = n); nothing written
--   PT412  If-Match header (request.headers) does not match
--   23514  rules: blocked status change (DETAIL names the blockers), dependency
--          cycle, last owner removed or demoted
--   23505  duplicates: a second open session, an email that exists (any case)
--
-- Runs as PostgREST's non-superuser role (authenticator -> web_user, JWT
-- claims), except the create_user checks, which need a member of
-- intracker_admin (tester_admin).

BEGIN;
SELECT plan(184);

------------------------------------------------------------------------------
-- Helpers: test_helpers.* (setup.sql: fixture ids, as_user, version_of and
-- title_of from above, throws_detail), and two of this file's own
-- (temporary, gone at ROLLBACK)
------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.if_match(header text) RETURNS void
LANGUAGE sql AS $$ SELECT set_config('request.headers', coalesce(jsonb_build_object('if-match', header)::text, ''), true) $$;

-- The error of sql with every occurrence of the id hidden replaced, so two
-- errors about different ids can be compared.
CREATE FUNCTION pg_temp.error_without(sql text, hidden uuid) RETURNS jsonb
LANGUAGE sql AS $$ SELECT replace(test_helpers.error_of(sql)::text, hidden::text, '<id>')::jsonb $$;

------------------------------------------------------------------------------
-- Fixture, as superuser, through the API
--
--   test_helpers.team_fixture(): users owner, editor, viewer, outsider and
--      newbie; P1 (owner; editor; viewer) with feature f1.
--   P1 also: todos alpha, bravo, charlie (for cycles), work (for versions),
--      gated (blocked by blocker); an open session of the editor, an ended
--      one of the owner.
--   P2 (outsider): feature f_p2, todo t_p2, open session s_p2.
--   P3 (owner): todo t_p3 (another project the owner can see).
--   gone is inactive; 'nothing' is an id of nothing at all.
------------------------------------------------------------------------------

SELECT test_helpers.team_fixture();
SELECT test_helpers.add_user('gone', '00000000-0000-4000-8000-000000000005');
UPDATE intracker_data.users SET is_active = false WHERE id = test_helpers.id('gone');
INSERT INTO test_helpers.ids VALUES ('nothing', '00000000-0000-4000-8000-00000000dead');

SELECT intracker.act_as(test_helpers.id('owner'));
INSERT INTO test_helpers.ids SELECT t, id FROM unnest(ARRAY['alpha', 'bravo', 'charlie', 'work', 'gated', 'blocker']) AS t,
                                               intracker.create_todo(test_helpers.id('p1'), initcap(t));
SELECT intracker.add_dependency(test_helpers.id('gated'), test_helpers.id('blocker'));
INSERT INTO test_helpers.ids SELECT 's_owner_ended', id FROM intracker.start_session(test_helpers.id('p1'));
SELECT intracker.end_session(test_helpers.id('s_owner_ended'), 'done');
INSERT INTO test_helpers.ids SELECT 'p3', id FROM intracker.create_project('Project Three');
INSERT INTO test_helpers.ids SELECT 't_p3', id FROM intracker.create_todo(test_helpers.id('p3'), 'Elsewhere');
SELECT intracker.act_as(test_helpers.id('editor'));
INSERT INTO test_helpers.ids SELECT 's_editor', id FROM intracker.start_session(test_helpers.id('p1'), 'Editing');
SELECT intracker.act_as(test_helpers.id('outsider'));
INSERT INTO test_helpers.ids SELECT 'p2', id FROM intracker.create_project('Project Two');
INSERT INTO test_helpers.ids SELECT 'f_p2', id FROM intracker.create_feature(test_helpers.id('p2'), 'Hidden feature');
INSERT INTO test_helpers.ids SELECT 't_p2', id FROM intracker.create_todo(test_helpers.id('p2'), 'Hidden todo');
INSERT INTO test_helpers.ids SELECT 't_p2b', id FROM intracker.create_todo(test_helpers.id('p2'), 'Hidden todo too');
SELECT intracker.add_dependency(test_helpers.id('t_p2b'), test_helpers.id('t_p2'));
INSERT INTO test_helpers.ids SELECT 's_p2', id FROM intracker.start_session(test_helpers.id('p2'));
SELECT intracker.act_as(NULL);

SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

------------------------------------------------------------------------------
-- PT404: missing or invisible, and the same error for both
------------------------------------------------------------------------------

SELECT test_helpers.as_user('owner');   -- member of P1 and P3, not of P2

SELECT throws_ok($$SELECT intracker.update_project(test_helpers.id('p2'), '{"name": "x"}', 1)$$, 'PT404', NULL,
                 'update_project of an invisible project: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.update_project(test_helpers.id('p2'), '{"name": "x"}', 1)$$, test_helpers.id('p2')),
          pg_temp.error_without($$SELECT intracker.update_project(test_helpers.id('nothing'), '{"name": "x"}', 1)$$, test_helpers.id('nothing')),
          'update_project: an invisible project and a missing one raise the same error');

SELECT throws_ok($$SELECT intracker.create_feature(test_helpers.id('p2'), 'x')$$, 'PT404', NULL,
                 'create_feature in an invisible project: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.create_feature(test_helpers.id('p2'), 'x')$$, test_helpers.id('p2')),
          pg_temp.error_without($$SELECT intracker.create_feature(test_helpers.id('nothing'), 'x')$$, test_helpers.id('nothing')),
          'create_feature: an invisible project and a missing one raise the same error');

SELECT throws_ok($$SELECT intracker.update_feature(test_helpers.id('f_p2'), '{"title": "x"}', 1)$$, 'PT404', NULL,
                 'update_feature of an invisible feature: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.update_feature(test_helpers.id('f_p2'), '{"title": "x"}', 1)$$, test_helpers.id('f_p2')),
          pg_temp.error_without($$SELECT intracker.update_feature(test_helpers.id('nothing'), '{"title": "x"}', 1)$$, test_helpers.id('nothing')),
          'update_feature: an invisible feature and a missing one raise the same error');

SELECT throws_ok($$SELECT intracker.create_todo(test_helpers.id('p2'), 'x')$$, 'PT404', NULL,
                 'create_todo in an invisible project: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.create_todo(test_helpers.id('p2'), 'x')$$, test_helpers.id('p2')),
          pg_temp.error_without($$SELECT intracker.create_todo(test_helpers.id('nothing'), 'x')$$, test_helpers.id('nothing')),
          'create_todo: an invisible project and a missing one raise the same error');

SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('t_p2'), '{"title": "x"}', 1)$$, 'PT404', NULL,
                 'update_todo of an invisible todo: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.update_todo(test_helpers.id('t_p2'), '{"title": "x"}', 1)$$, test_helpers.id('t_p2')),
          pg_temp.error_without($$SELECT intracker.update_todo(test_helpers.id('nothing'), '{"title": "x"}', 1)$$, test_helpers.id('nothing')),
          'update_todo: an invisible todo and a missing one raise the same error');

SELECT throws_ok($$SELECT intracker.set_todo_status(test_helpers.id('t_p2'), 'done', 1)$$, 'PT404', NULL,
                 'set_todo_status of an invisible todo: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.set_todo_status(test_helpers.id('t_p2'), 'done', 1)$$, test_helpers.id('t_p2')),
          pg_temp.error_without($$SELECT intracker.set_todo_status(test_helpers.id('nothing'), 'done', 1)$$, test_helpers.id('nothing')),
          'set_todo_status: an invisible todo and a missing one raise the same error');

SELECT throws_ok($$SELECT intracker.add_dependency(test_helpers.id('t_p2b'), test_helpers.id('t_p2'))$$, 'PT404', NULL,
                 'add_dependency between invisible todos: PT404');
SELECT throws_ok($$SELECT intracker.add_dependency(test_helpers.id('alpha'), test_helpers.id('t_p2'))$$, 'PT404', NULL,
                 'add_dependency on an invisible blocker: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.add_dependency(test_helpers.id('alpha'), test_helpers.id('t_p2'))$$, test_helpers.id('t_p2')),
          pg_temp.error_without($$SELECT intracker.add_dependency(test_helpers.id('alpha'), test_helpers.id('nothing'))$$, test_helpers.id('nothing')),
          'add_dependency: an invisible blocker and a missing one raise the same error');

SELECT throws_ok($$SELECT intracker.remove_dependency(test_helpers.id('t_p2b'), test_helpers.id('t_p2'))$$, 'PT404', NULL,
                 'remove_dependency of an invisible dependency: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.remove_dependency(test_helpers.id('t_p2b'), test_helpers.id('t_p2'))$$, test_helpers.id('t_p2b')),
          pg_temp.error_without($$SELECT intracker.remove_dependency(test_helpers.id('nothing'), test_helpers.id('t_p2'))$$, test_helpers.id('nothing')),
          'remove_dependency: an invisible todo and a missing one raise the same error');
SELECT throws_ok($$SELECT intracker.remove_dependency(test_helpers.id('alpha'), test_helpers.id('bravo'))$$, 'PT404', NULL,
                 'remove_dependency of a dependency that does not exist: PT404');

SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p2'), test_helpers.id('owner'), 'owner')$$, 'PT404', NULL,
                 'add_member to an invisible project: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.add_member(test_helpers.id('p2'), test_helpers.id('newbie'), 'viewer')$$, test_helpers.id('p2')),
          pg_temp.error_without($$SELECT intracker.add_member(test_helpers.id('nothing'), test_helpers.id('newbie'), 'viewer')$$, test_helpers.id('nothing')),
          'add_member: an invisible project and a missing one raise the same error');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('nothing'), 'viewer')$$, 'PT404', NULL,
                 'add_member of a user that does not exist: PT404');

SELECT throws_ok($$SELECT intracker.remove_member(test_helpers.id('p2'), test_helpers.id('outsider'))$$, 'PT404', NULL,
                 'remove_member from an invisible project: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.remove_member(test_helpers.id('p2'), test_helpers.id('outsider'))$$, test_helpers.id('p2')),
          pg_temp.error_without($$SELECT intracker.remove_member(test_helpers.id('nothing'), test_helpers.id('outsider'))$$, test_helpers.id('nothing')),
          'remove_member: an invisible project and a missing one raise the same error');
SELECT throws_ok($$SELECT intracker.remove_member(test_helpers.id('p1'), test_helpers.id('newbie'))$$, 'PT404', NULL,
                 'remove_member of someone who is not a member: PT404');

SELECT throws_ok($$SELECT intracker.start_session(test_helpers.id('p2'))$$, 'PT404', NULL,
                 'start_session in an invisible project: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.start_session(test_helpers.id('p2'))$$, test_helpers.id('p2')),
          pg_temp.error_without($$SELECT intracker.start_session(test_helpers.id('nothing'))$$, test_helpers.id('nothing')),
          'start_session: an invisible project and a missing one raise the same error');

SELECT throws_ok($$SELECT intracker.end_session(test_helpers.id('s_p2'), 'x')$$, 'PT404', NULL,
                 'end_session of an invisible session: PT404');
SELECT is(pg_temp.error_without($$SELECT intracker.end_session(test_helpers.id('s_p2'), 'x')$$, test_helpers.id('s_p2')),
          pg_temp.error_without($$SELECT intracker.end_session(test_helpers.id('nothing'), 'x')$$, test_helpers.id('nothing')),
          'end_session: an invisible session and a missing one raise the same error');

SELECT is(test_helpers.error_of($$SELECT intracker.update_todo(test_helpers.id('t_p2'), '{}', 1)$$) ->> 'message',
          format('todo %s not found', test_helpers.id('t_p2')), 'PT404 message: "todo <id> not found"');
SELECT isnt(test_helpers.error_of($$SELECT intracker.create_todo(test_helpers.id('p2'), 'x')$$) ->> 'hint', NULL,
            'PT404 has a HINT (does not exist or you are not a member)');

------------------------------------------------------------------------------
-- 42501: role too low
------------------------------------------------------------------------------

SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker.create_todo(test_helpers.id('p1'), 'x')$$, '42501', NULL, 'viewer: create_todo 42501');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('alpha'), '{"title": "x"}', 1)$$, '42501', NULL,
                 'viewer: update_todo 42501');
SELECT throws_ok($$SELECT intracker.set_todo_status(test_helpers.id('alpha'), 'done', 1)$$, '42501', NULL,
                 'viewer: set_todo_status 42501');
SELECT throws_ok($$SELECT intracker.create_feature(test_helpers.id('p1'), 'x')$$, '42501', NULL, 'viewer: create_feature 42501');
SELECT throws_ok($$SELECT intracker.update_feature(test_helpers.id('f1'), '{"title": "x"}', 1)$$, '42501', NULL,
                 'viewer: update_feature 42501');
SELECT throws_ok($$SELECT intracker.update_project(test_helpers.id('p1'), '{"name": "x"}', 1)$$, '42501', NULL,
                 'viewer: update_project 42501');
SELECT throws_ok($$SELECT intracker.add_dependency(test_helpers.id('alpha'), test_helpers.id('bravo'))$$, '42501', NULL,
                 'viewer: add_dependency 42501');
SELECT throws_ok($$SELECT intracker.remove_dependency(test_helpers.id('gated'), test_helpers.id('blocker'))$$, '42501', NULL,
                 'viewer: remove_dependency 42501');
SELECT throws_ok($$SELECT intracker.start_session(test_helpers.id('p1'))$$, '42501', NULL, 'viewer: start_session 42501');
SELECT test_helpers.throws_detail($$SELECT intracker.create_todo(test_helpers.id('p1'), 'x')$$, '42501', 'is viewer.*needs editor',
                                  'the 42501 DETAIL names the caller''s role and the role needed');
SELECT is(test_helpers.error_of($$SELECT intracker.create_todo(test_helpers.id('p1'), 'x')$$) ->> 'message',
          'permission denied to create todos', '42501 message: "permission denied to create todos" (no stray whitespace)');
SELECT throws_ok($$SELECT intracker.end_session(test_helpers.id('s_editor'), 'not mine')$$, '42501', NULL,
                 'viewer: ending another user''s session is 42501');

SELECT test_helpers.as_user('editor');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'viewer')$$, '42501', NULL,
                 'editor: add_member 42501');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('viewer'), 'editor')$$, '42501', NULL,
                 'editor: changing a role with add_member 42501');
SELECT throws_ok($$SELECT intracker.remove_member(test_helpers.id('p1'), test_helpers.id('viewer'))$$, '42501', NULL,
                 'editor: remove_member of someone else 42501');
SELECT throws_ok($$SELECT intracker.create_user('x@example.com', 'X')$$, '42501', NULL,
                 'create_user by a role outside intracker_admin: 42501');
SELECT throws_ok($$SELECT intracker.act_as(test_helpers.id('owner'))$$, '42501', NULL,
                 'act_as by a role outside intracker_admin: 42501');

SELECT test_helpers.as_user('owner');
SELECT throws_ok($$SELECT intracker.end_session(test_helpers.id('s_editor'), 'not mine')$$, '42501', NULL,
                 'owner: ending another user''s session is 42501');
SELECT test_helpers.throws_detail($$SELECT intracker.end_session(test_helpers.id('s_editor'), 'not mine')$$, '42501',
                                  test_helpers.id('editor')::text, 'the 42501 of end_session names the session''s user');

------------------------------------------------------------------------------
-- 22023: invalid input, DETAIL naming the field
------------------------------------------------------------------------------

SELECT test_helpers.as_user('owner');

-- create_project
SELECT test_helpers.throws_detail($$SELECT intracker.create_project('Repo', github_repo => 'not a repo')$$, '22023', 'github_repo',
                                  'create_project: github_repo "not a repo" is 22023 naming github_repo');
SELECT test_helpers.throws_detail($$SELECT intracker.create_project('Repo', github_repo => 'a/b/c')$$, '22023', 'github_repo',
                                  'create_project: github_repo "a/b/c" is 22023 naming github_repo');
SELECT test_helpers.throws_detail($$SELECT intracker.create_project('Repo', github_repo => 'https://github.com/octocat/hello')$$,
                                  '22023', 'github_repo', 'create_project: a github URL is not owner/name (22023)');
SELECT test_helpers.throws_detail($$SELECT intracker.create_project('Repo', github_repo => '-octocat/hello')$$, '22023', 'github_repo',
                                  'create_project: an owner starting with a hyphen is 22023');
SELECT lives_ok($$SELECT intracker.create_project('Repo', github_repo => 'octocat/hello-world.js')$$,
                'create_project: github_repo owner/name is accepted');
SELECT test_helpers.throws_detail($$SELECT intracker.create_project('Status', status => 'finished')$$, '22023', 'status',
                                  'create_project: bad status is 22023 naming status');
SELECT test_helpers.throws_detail($$SELECT intracker.create_project('   ')$$, '22023', 'name',
                                  'create_project: blank name is 22023 naming name');
SELECT test_helpers.throws_detail($$SELECT intracker.create_project('Ctx', resume_context => '[1, 2]')$$, '22023', 'resume_context',
                                  'create_project: a non-object resume_context is 22023 naming resume_context');
SELECT throws_ok($$INSERT INTO intracker.projects (name, version) VALUES ('Versioned', 7)$$, '22023', NULL,
                 'INSERT into intracker.projects with a version is 22023 (intracker sets it)');
SELECT throws_ok($$INSERT INTO intracker.projects (name, created_by) VALUES ('Forged', test_helpers.id('editor'))$$, '22023', NULL,
                 'INSERT into intracker.projects with created_by is 22023 (no forging the creator)');

-- update_project
SELECT test_helpers.throws_detail($$SELECT intracker.update_project(test_helpers.id('p1'), '{"github_repo": "nope"}', test_helpers.version_of(test_helpers.id('p1')))$$,
                                  '22023', 'github_repo', 'update_project: bad github_repo is 22023 naming github_repo');
SELECT test_helpers.throws_detail($$SELECT intracker.update_project(test_helpers.id('p1'), '{"tags": 5}', test_helpers.version_of(test_helpers.id('p1')))$$,
                                  '22023', 'tags', 'update_project: tags that are not an array is 22023 naming tags');

-- create_feature / update_feature
SELECT test_helpers.throws_detail($$SELECT intracker.create_feature(test_helpers.id('p1'), 'F', priority => 'urgent')$$, '22023', 'priority',
                                  'create_feature: bad priority is 22023 naming priority');
SELECT test_helpers.throws_detail($$SELECT intracker.create_feature(test_helpers.id('p1'), 'F', status => 'review')$$, '22023', 'status',
                                  'create_feature: status review (todos only) is 22023 naming status');
SELECT test_helpers.throws_detail($$SELECT intracker.create_feature(test_helpers.id('p1'), 'F', assigned_to => test_helpers.id('newbie'))$$,
                                  '22023', 'assigned_to', 'create_feature: assigning a non-member is 22023 naming assigned_to');
SELECT test_helpers.throws_detail($$SELECT intracker.update_feature(test_helpers.id('f1'), '{"status": "cancelled"}', test_helpers.version_of(test_helpers.id('f1')))$$,
                                  '22023', 'status', 'update_feature: bad status is 22023 naming status');
SELECT test_helpers.throws_detail($$SELECT intracker.update_feature(test_helpers.id('f1'), '{"title": ""}', test_helpers.version_of(test_helpers.id('f1')))$$,
                                  '22023', 'title', 'update_feature: empty title is 22023 naming title');

-- create_todo
SELECT test_helpers.throws_detail($$SELECT intracker.create_todo(test_helpers.id('p1'), 'T', priority => 'urgent')$$, '22023', 'priority',
                                  'create_todo: bad priority is 22023 naming priority');
SELECT test_helpers.throws_detail($$SELECT intracker.create_todo(test_helpers.id('p1'), 'T', status => 'doing')$$, '22023', 'status',
                                  'create_todo: bad status is 22023 naming status');
SELECT test_helpers.throws_detail($$SELECT intracker.create_todo(test_helpers.id('p1'), 'T', estimate => 0)$$, '22023', 'estimate',
                                  'create_todo: estimate 0 is 22023 naming estimate');
SELECT test_helpers.throws_detail($$SELECT intracker.create_todo(test_helpers.id('p1'), 'T', estimate => -3)$$, '22023', 'estimate',
                                  'create_todo: negative estimate is 22023 naming estimate');
SELECT test_helpers.throws_detail($$SELECT intracker.create_todo(test_helpers.id('p1'), ' ')$$, '22023', 'title',
                                  'create_todo: blank title is 22023 naming title');
SELECT test_helpers.throws_detail($$SELECT intracker.create_todo(test_helpers.id('p1'), 'T', feature_id => test_helpers.id('f_p2'))$$,
                                  '22023', 'feature_id', 'create_todo: a feature of another project is 22023 naming feature_id');
SELECT test_helpers.throws_detail($$SELECT intracker.create_todo(test_helpers.id('p1'), 'T', assigned_to => test_helpers.id('outsider'))$$,
                                  '22023', 'assigned_to', 'create_todo: assigning a non-member is 22023 naming assigned_to');
SELECT test_helpers.throws_detail($$SELECT intracker.create_todo(test_helpers.id('p1'), NULL)$$, '22023', 'title',
                                  'create_todo: NULL title is 22023 naming title');

-- update_todo: the changes object
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"priority": "urgent"}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'priority', 'update_todo: bad priority is 22023 naming priority');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"status": "doing"}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'status', 'update_todo: bad status is 22023 naming status');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"estimate": 0}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'estimate', 'update_todo: estimate 0 is 22023 naming estimate');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"estimate": "lots"}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'estimate', 'update_todo: a non-numeric estimate is 22023 naming estimate');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"estimate": 2.5}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'estimate', 'update_todo: a fractional estimate is 22023 naming estimate');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"estimate": 99999999999}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'estimate', 'update_todo: an out-of-range estimate is 22023 naming estimate');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"due_date": "someday"}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'due_date', 'update_todo: a malformed due_date is 22023 naming due_date');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"assigned_to": "bob"}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'assigned_to', 'update_todo: a malformed assigned_to is 22023 naming assigned_to');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), jsonb_build_object('assigned_to', test_helpers.id('outsider')), test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'assigned_to', 'update_todo: assigning a non-member is 22023 naming assigned_to');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), jsonb_build_object('feature_id', test_helpers.id('f_p2')), test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'feature_id', 'update_todo: a feature of another project is 22023 naming feature_id');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"github_pr": 0}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'github_pr', 'update_todo: github_pr 0 is 22023 naming github_pr');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"tags": "a,b"}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'tags', 'update_todo: tags that are not an array is 22023 naming tags');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"title": null}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'title', 'update_todo: a null title is 22023 naming title');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"estimate": null}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'estimate', 'update_todo: a null estimate is 22023 naming estimate');

SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '{"colour": "red"}', test_helpers.version_of(test_helpers.id('work')))$$,
                 '22023', 'field "colour" of a todo cannot be changed here', 'update_todo: an unknown key is 22023 naming it');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"colour": "red"}', test_helpers.version_of(test_helpers.id('work')))$$,
                                  '22023', 'title.*estimate', 'update_todo: the unknown-key DETAIL lists the changeable fields');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '{"title": "ok", "project_id": "00000000-0000-4000-8000-000000000000"}', test_helpers.version_of(test_helpers.id('work')))$$,
                 '22023', NULL, 'update_todo: project_id cannot be changed (22023)');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '{"created_by": "00000000-0000-4000-8000-000000000002"}', test_helpers.version_of(test_helpers.id('work')))$$,
                 '22023', NULL, 'update_todo: created_by cannot be changed (22023)');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '{"completed_at": "2020-01-01"}', test_helpers.version_of(test_helpers.id('work')))$$,
                 '22023', NULL, 'update_todo: completed_at cannot be changed (22023)');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '{"version": 99}', test_helpers.version_of(test_helpers.id('work')))$$,
                 '22023', 'field "version" of a todo cannot be changed here', 'update_todo: a "version" key is 22023');
SELECT matches(test_helpers.error_of($$SELECT intracker.update_todo(test_helpers.id('work'), '{"version": 99}', 1)$$) ->> 'hint',
               'expected_version', 'update_todo: the "version" key HINT points to expected_version');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '{"title": "x"}', NULL)$$, '22023',
                 'expected_version must not be null', 'update_todo: a null expected_version is 22023');
SELECT throws_ok($$SELECT intracker.update_feature(test_helpers.id('f1'), '{"title": "x"}', NULL)$$, '22023', NULL,
                 'update_feature: a null expected_version is 22023');
SELECT throws_ok($$SELECT intracker.update_project(test_helpers.id('p1'), '{"name": "x"}', NULL)$$, '22023', NULL,
                 'update_project: a null expected_version is 22023');
SELECT throws_ok($$SELECT intracker.set_todo_status(test_helpers.id('work'), 'review', NULL)$$, '22023', NULL,
                 'set_todo_status: a null expected_version is 22023');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '["title", "x"]', test_helpers.version_of(test_helpers.id('work')))$$,
                 '22023', 'changes must be a JSON object', 'update_todo: an array as changes is 22023');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '"title"', test_helpers.version_of(test_helpers.id('work')))$$,
                 '22023', 'changes must be a JSON object', 'update_todo: a string as changes is 22023');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), 'null', test_helpers.version_of(test_helpers.id('work')))$$,
                 '22023', 'changes must be a JSON object', 'update_todo: JSON null as changes is 22023');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), NULL, test_helpers.version_of(test_helpers.id('work')))$$,
                 '22023', 'changes must be a JSON object', 'update_todo: SQL NULL as changes is 22023');
SELECT throws_ok($$SELECT intracker.update_todo(NULL, '{"title": "x"}', 1)$$, '22023', NULL,
                 'update_todo: a null todo_id is 22023');
SELECT throws_ok($$SELECT intracker.set_todo_status(test_helpers.id('work'), 'paused', test_helpers.version_of(test_helpers.id('work')))$$,
                 '22023', NULL, 'set_todo_status: an unknown status is 22023');
SELECT is(test_helpers.version_of(test_helpers.id('work')), 1, 'none of the rejected updates wrote anything (version still 1)');

-- membership
SELECT test_helpers.throws_detail($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'admin')$$, '22023', 'role',
                                  'add_member: an unknown role is 22023 naming role');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('gone'), 'viewer')$$, '22023', NULL,
                 'add_member: an inactive user is 22023');

-- dependencies
SELECT test_helpers.throws_detail($$SELECT intracker.add_dependency(test_helpers.id('alpha'), test_helpers.id('alpha'))$$, '22023', 'blocked_by',
                                  'add_dependency: a todo blocking itself is 22023 naming blocked_by');
SELECT test_helpers.throws_detail($$SELECT intracker.add_dependency(test_helpers.id('alpha'), test_helpers.id('t_p3'))$$, '22023', 'blocked_by',
                                  'add_dependency: a blocker in another project is 22023 naming blocked_by');
SELECT throws_ok($$SELECT intracker.add_dependency(test_helpers.id('alpha'), NULL)$$, '22023', NULL,
                 'add_dependency: a null blocked_by is 22023');

-- sessions
SELECT throws_ok($$SELECT intracker.end_session(test_helpers.id('s_owner_ended'), 'again')$$, '22023',
                 format('session %s has already ended', test_helpers.id('s_owner_ended')),
                 'end_session: ending an ended session is 22023');
SELECT test_helpers.as_user('editor');
SELECT test_helpers.throws_detail($$SELECT intracker.end_session(test_helpers.id('s_editor'), 'x', todo_ids => ARRAY[test_helpers.id('t_p2')])$$,
                                  '22023', test_helpers.id('t_p2')::text, 'end_session: todo_ids of another project is 22023 naming them');
SELECT is((SELECT ended_at FROM intracker.sessions WHERE id = test_helpers.id('s_editor')), NULL,
          'the rejected end_session left the session open');

------------------------------------------------------------------------------
-- PT409: stale versions; nothing is written
------------------------------------------------------------------------------

SELECT test_helpers.as_user('editor');
SELECT is((intracker.update_todo(test_helpers.id('work'), '{"title": "Work v2"}', 1)).version, 2,
          'update_todo with the current version succeeds and returns version + 1');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '{"title": "Stale"}', 1)$$, 'PT409',
                 format('todo %s was changed by someone else', test_helpers.id('work')),
                 'update_todo with a stale expected_version: PT409');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '{"title": "Future"}', 5)$$, 'PT409', NULL,
                 'update_todo with a version from the future: PT409');
SELECT test_helpers.throws_detail($$SELECT intracker.update_todo(test_helpers.id('work'), '{"title": "Stale"}', 1)$$, 'PT409',
                                  'version 1.*current version is 2', 'the PT409 DETAIL gives the supplied and the current version');
SELECT is(test_helpers.error_of($$SELECT intracker.update_todo(test_helpers.id('work'), '{"title": "Stale"}', 1)$$) ->> 'hint',
          'Re-read the row and retry.', 'the PT409 HINT says to re-read and retry');
SELECT is(test_helpers.title_of(test_helpers.id('work')) || ' v' || test_helpers.version_of(test_helpers.id('work')), 'Work v2 v2',
          'after PT409 nothing was written (title and version unchanged)');

SELECT throws_ok($$SELECT intracker.set_todo_status(test_helpers.id('work'), 'review', 1)$$, 'PT409', NULL,
                 'set_todo_status with a stale version: PT409');
SELECT throws_ok($$SELECT intracker.update_feature(test_helpers.id('f1'), '{"title": "Stale"}', test_helpers.version_of(test_helpers.id('f1')) - 1)$$,
                 'PT409', NULL, 'update_feature with a stale version: PT409');
SELECT throws_ok($$SELECT intracker.update_project(test_helpers.id('p1'), '{"name": "Stale"}', test_helpers.version_of(test_helpers.id('p1')) + 1)$$,
                 'PT409', NULL, 'update_project with a wrong version: PT409');

-- Direct writes through the views: SET version = <the version read>.
SELECT throws_ok($$UPDATE intracker.todos SET title = 'Stale via view', version = 1 WHERE id = test_helpers.id('work')$$, 'PT409', NULL,
                 'UPDATE intracker.todos SET version = <stale>: PT409');
SELECT throws_ok($$UPDATE intracker.features SET title = 'Stale via view', version = version - 1 WHERE id = test_helpers.id('f1')$$,
                 'PT409', NULL, 'UPDATE intracker.features SET version = <stale>: PT409');
SELECT throws_ok($$UPDATE intracker.projects SET name = 'Stale via view', version = 0 WHERE id = test_helpers.id('p1')$$, 'PT409', NULL,
                 'UPDATE intracker.projects SET version = <stale>: PT409');
SELECT is(test_helpers.title_of(test_helpers.id('work')) || ' v' || test_helpers.version_of(test_helpers.id('work')), 'Work v2 v2',
          'after the stale view UPDATE nothing was written');
SELECT isnt(test_helpers.title_of(test_helpers.id('f1')), 'Stale via view', 'the stale feature UPDATE wrote nothing');
SELECT isnt(test_helpers.title_of(test_helpers.id('p1')), 'Stale via view', 'the stale project UPDATE wrote nothing');
SELECT lives_ok($$UPDATE intracker.todos SET title = 'Work v3', version = 2 WHERE id = test_helpers.id('work')$$,
                'UPDATE intracker.todos SET version = <current> succeeds');
SELECT is(test_helpers.version_of(test_helpers.id('work')), 3, '... and bumps the version by exactly one');
SELECT lives_ok($$UPDATE intracker.todos SET description = 'no version given' WHERE id = test_helpers.id('work')$$,
                'UPDATE without a version is not checked');
SELECT is(test_helpers.version_of(test_helpers.id('work')), 4, '... and still bumps the version by exactly one');

------------------------------------------------------------------------------
-- PT412: If-Match (request.headers)
------------------------------------------------------------------------------

-- work is at version 4.
SELECT pg_temp.if_match('"3"');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '{"title": "If-Match"}', 4)$$, 'PT412', NULL,
                 'If-Match "3" on a version-4 todo: PT412 (even with the right expected_version)');
SELECT throws_ok($$UPDATE intracker.todos SET title = 'If-Match' WHERE id = test_helpers.id('work')$$, 'PT412', NULL,
                 'If-Match "3" on a PATCH-like UPDATE through the view: PT412');
SELECT test_helpers.throws_detail($$UPDATE intracker.todos SET title = 'If-Match' WHERE id = test_helpers.id('work')$$, 'PT412',
                                  'current version is 4', 'the PT412 DETAIL gives the current version');
SELECT is(test_helpers.version_of(test_helpers.id('work')), 4, 'after PT412 nothing was written');
SELECT pg_temp.if_match('W/"3"');
SELECT throws_ok($$UPDATE intracker.todos SET title = 'If-Match' WHERE id = test_helpers.id('work')$$, 'PT412', NULL,
                 'If-Match W/"3" on version 4: PT412');
SELECT pg_temp.if_match('"4"');
SELECT lives_ok($$SELECT intracker.update_todo(test_helpers.id('work'), '{"title": "Matched"}', 4)$$,
                'If-Match "4" on version 4 succeeds');
SELECT pg_temp.if_match('W/"5"');
SELECT lives_ok($$UPDATE intracker.todos SET title = 'Matched weak' WHERE id = test_helpers.id('work')$$,
                'If-Match W/"5" (weak tag) on version 5 succeeds');
SELECT pg_temp.if_match('*');
SELECT lives_ok($$UPDATE intracker.todos SET title = 'Matched any' WHERE id = test_helpers.id('work')$$,
                'If-Match * succeeds');
SELECT pg_temp.if_match('"1", "7"');
SELECT lives_ok($$UPDATE intracker.todos SET title = 'Matched list' WHERE id = test_helpers.id('work')$$,
                'If-Match with a list containing the current version ("1", "7" on version 7) succeeds');
SELECT pg_temp.if_match('"80"');
SELECT throws_ok($$UPDATE intracker.todos SET title = 'Prefix' WHERE id = test_helpers.id('work')$$, 'PT412', NULL,
                 'If-Match "80" on version 8 is a mismatch (no prefix matching)');
SELECT pg_temp.if_match(NULL);
SELECT is(test_helpers.version_of(test_helpers.id('work')), 8, 'the matched writes each bumped the version once (4 -> 8)');

------------------------------------------------------------------------------
-- 23514: dependency gate, cycles, last owner
------------------------------------------------------------------------------

SELECT test_helpers.as_user('editor');
SELECT throws_ok($$SELECT intracker.set_todo_status(test_helpers.id('gated'), 'in_progress', test_helpers.version_of(test_helpers.id('gated')))$$,
                 '23514', NULL, 'a blocked todo cannot move to in_progress (23514)');
SELECT throws_ok($$SELECT intracker.set_todo_status(test_helpers.id('gated'), 'done', test_helpers.version_of(test_helpers.id('gated')))$$,
                 '23514', NULL, 'a blocked todo cannot move to done (23514)');
SELECT test_helpers.throws_detail($$SELECT intracker.set_todo_status(test_helpers.id('gated'), 'done', test_helpers.version_of(test_helpers.id('gated')))$$,
                                  '23514', test_helpers.id('blocker')::text || '.*Blocker', 'the 23514 DETAIL names the blocker (id and title)');
SELECT throws_ok($$UPDATE intracker.todos SET status = 'done' WHERE id = test_helpers.id('gated')$$, '23514', NULL,
                 'the gate holds for UPDATE through the view too');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('gated'), '{"status": "in_progress"}', test_helpers.version_of(test_helpers.id('gated')))$$,
                 '23514', NULL, 'the gate holds for update_todo');
SELECT is((SELECT status FROM intracker.todos WHERE id = test_helpers.id('gated')), 'todo', 'the gated todo is still todo');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('gated'), 'review', test_helpers.version_of(test_helpers.id('gated')))$$,
                'a blocked todo may still move to review (not gated)');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('blocker'), 'cancelled', test_helpers.version_of(test_helpers.id('blocker')))$$,
                'the blocker is cancelled');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('gated'), 'done', test_helpers.version_of(test_helpers.id('gated')))$$,
                'with its blocker cancelled the todo can be done');

-- cycles: alpha <- bravo (alpha blocked by bravo), bravo <- charlie
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('alpha'), test_helpers.id('bravo'))$$, 'alpha blocked by bravo');
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('alpha'), test_helpers.id('bravo'))$$,
                'adding the same dependency again is idempotent');
SELECT throws_ok($$SELECT intracker.add_dependency(test_helpers.id('bravo'), test_helpers.id('alpha'))$$, '23514',
                 'dependency would create a cycle', 'a direct cycle (bravo blocked by alpha) is 23514');
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('bravo'), test_helpers.id('charlie'))$$, 'bravo blocked by charlie');
SELECT throws_ok($$SELECT intracker.add_dependency(test_helpers.id('charlie'), test_helpers.id('alpha'))$$, '23514',
                 'dependency would create a cycle', 'a 3-long cycle (charlie blocked by alpha) is 23514');
SELECT test_helpers.throws_detail($$SELECT intracker.add_dependency(test_helpers.id('charlie'), test_helpers.id('alpha'))$$, '23514',
                                  test_helpers.id('bravo')::text, 'the cycle DETAIL shows the path through bravo');
SELECT throws_ok($$INSERT INTO intracker.todo_dependencies (todo_id, blocked_by, project_id)
                   VALUES (test_helpers.id('charlie'), test_helpers.id('alpha'), test_helpers.id('p1'))$$, '23514', NULL,
                 'the cycle check holds for INSERT through the view too');
SELECT is((SELECT count(*)::int FROM intracker.todo_dependencies WHERE project_id = test_helpers.id('p1')), 3,
          'only the three acyclic dependencies exist');

-- last owner
SELECT test_helpers.as_user('owner');
SELECT throws_ok($$SELECT intracker.remove_member(test_helpers.id('p1'), test_helpers.id('owner'))$$, '23514', NULL,
                 'the last owner cannot leave (23514)');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('owner'), 'editor')$$, '23514', NULL,
                 'the last owner cannot demote himself with add_member (23514)');
SELECT throws_ok($$UPDATE intracker.project_members SET role = 'viewer' WHERE project_id = test_helpers.id('p1') AND user_id = test_helpers.id('owner')$$,
                 '23514', NULL, 'the last owner cannot be demoted through the view (23514)');
SELECT throws_ok($$DELETE FROM intracker.project_members WHERE project_id = test_helpers.id('p1') AND user_id = test_helpers.id('owner')$$,
                 '23514', NULL, 'the last owner cannot be deleted through the view (23514)');
SELECT test_helpers.throws_detail($$SELECT intracker.remove_member(test_helpers.id('p1'), test_helpers.id('owner'))$$, '23514',
                                  'only owner', 'the last-owner DETAIL says he is the only owner');
SELECT lives_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('editor'), 'owner')$$, 'a second owner is added');
SELECT lives_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('owner'), 'editor')$$,
                'with a second owner the first may step down');
SELECT test_helpers.as_user('editor');
SELECT throws_ok($$SELECT intracker.remove_member(test_helpers.id('p1'), test_helpers.id('editor'))$$, '23514', NULL,
                 'now the new sole owner cannot leave');

------------------------------------------------------------------------------
-- 23505: duplicates
------------------------------------------------------------------------------

SELECT test_helpers.as_user('editor');   -- has the open session s_editor in P1
SELECT throws_ok($$SELECT intracker.start_session(test_helpers.id('p1'))$$, '23505', NULL,
                 'a second open session in the same project: 23505');
SELECT test_helpers.throws_detail($$SELECT intracker.start_session(test_helpers.id('p1'))$$, '23505', test_helpers.id('s_editor')::text,
                                  'the 23505 DETAIL names the open session');
SELECT throws_ok($$INSERT INTO intracker.sessions (project_id) VALUES (test_helpers.id('p1'))$$, '23505', NULL,
                 'a second open session inserted through the view: 23505');
SELECT lives_ok($$SELECT intracker.end_session(test_helpers.id('s_editor'), 'wrapping up')$$, 'the open session is ended');
SELECT lives_ok($$SELECT intracker.start_session(test_helpers.id('p1'))$$, 'after ending it a new session can start');

RESET SESSION AUTHORIZATION;
SET ROLE tester_admin;
SELECT throws_ok($$SELECT intracker.create_user('OWNER@Example.COM', 'Owner again')$$, '23505', NULL,
                 'create_user with an existing email in another case: 23505');
SELECT throws_ok($$SELECT intracker.create_user('fresh@example.com', 'Same id', user_id => test_helpers.id('owner'))$$, '23505', NULL,
                 'create_user with an existing id: 23505');
SELECT test_helpers.throws_detail($$SELECT intracker.create_user('not-an-email', 'X')$$, '22023', 'email',
                                  'create_user: a malformed email is 22023 naming email');
SELECT test_helpers.throws_detail($$SELECT intracker.create_user('robot@example.com', 'Robot', kind => 'robot')$$, '22023', 'kind',
                                  'create_user: an unknown kind is 22023 naming kind');
SELECT test_helpers.throws_detail($$SELECT intracker.create_user('gh@example.com', 'GH', github_username => 'bad--name')$$, '22023',
                                  'github_username', 'create_user: a malformed github_username is 22023 naming github_username');
SELECT test_helpers.throws_detail($$SELECT intracker.create_user('blank@example.com', ' ')$$, '22023', 'name',
                                  'create_user: a blank name is 22023 naming name');
SELECT is((intracker.create_user('agent@example.com', 'Agent', kind => 'agent')).kind, 'agent',
          'create_user by an intracker_admin member works and returns the row');
SELECT is((SELECT count(*)::int FROM intracker.users WHERE lower(email) IN ('owner@example.com', 'not-an-email', 'robot@example.com')), 1,
          'the rejected create_user calls wrote nothing');

-- The role check of update_* after a successful UPDATE (issue 13: it runs
-- when RLS does not judge the caller): the superuser, whom RLS lets change
-- any row, acting as a viewer still gets 42501, and nothing is written.
RESET ROLE;
SELECT intracker.act_as(test_helpers.id('owner'));
INSERT INTO test_helpers.ids SELECT 'su_t', id FROM intracker.create_todo(test_helpers.id('p1'), 'Viewers keep off');
SELECT intracker.act_as(test_helpers.id('viewer'));
SELECT throws_ok(format($$SELECT intracker.update_todo(%L, '{"title": "Viewer was here"}', 1)$$, test_helpers.id('su_t')),
                 '42501', NULL, 'update_todo by the superuser acting as a viewer: 42501 (RLS lets the UPDATE through)');
SELECT intracker.act_as(NULL);
SELECT is((SELECT title || ' v' || version FROM intracker_data.todos WHERE id = test_helpers.id('su_t')), 'Viewers keep off v1',
          '... and the row is as it was');

SELECT * FROM finish();
ROLLBACK;
