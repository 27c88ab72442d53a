-- test/pgtap/rls.sql — the row-level security matrix.
--
-- For each role in a project (owner, editor, viewer), a non-member and an
-- anonymous caller, and for each API view, what SELECT, INSERT, UPDATE and
-- DELETE through schema intracker may do; then the same roles against the
-- write functions.  Superusers bypass RLS, so every check runs as the
-- non-superuser PostgREST role: session_user authenticator, SET ROLE
-- web_user (a member of intracker_user), the user chosen by the JWT claims
-- (request.jwt.claims), exactly as PostgREST does it.  The last section
-- repeats a few checks with the other identity mechanism, act_as() from a
-- member of intracker_admin.
--
-- Expectations: hidden rows are simply not there (SELECT returns nothing,
-- UPDATE/DELETE affect 0 rows); an INSERT that the policy refuses fails with
-- 42501 "new row violates row-level security policy".
--
-- Helpers (setup.sql): test_helpers.id()/ids() (fixture ids by name),
-- as_user() (the JWT claims of a fixture user; NULL = anonymous),
-- affected() (rows an INSERT/UPDATE/DELETE affected, as the caller),
-- version_of() (a row's version, from above).

BEGIN;
SELECT plan(209);

------------------------------------------------------------------------------
-- Fixture, as superuser, through the API
--
--   test_helpers.team_fixture(): users owner, editor, viewer, outsider and
--       newbie; P1 (owner; editor; viewer) with feature f1.
--   P1 also: extra (viewer) is a member; feature f_del; todos t1 (in f1,
--       assigned to editor), t2, t_del; dependencies t2 <- t1 (t2 is blocked
--       by t1), t_del <- t1; an ended and an open session each of owner and
--       editor.
--   P2 (outsider): feature f2; todos t4 (assigned to outsider), t5; t5 <- t4;
--       an open session of outsider.
--   newbie belongs to no project.
------------------------------------------------------------------------------

SELECT test_helpers.team_fixture();
SELECT test_helpers.add_user('extra', '00000000-0000-4000-8000-000000000005');

SELECT intracker.act_as(test_helpers.id('owner'));
SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('extra'), 'viewer');
INSERT INTO test_helpers.ids SELECT 'f_del', id FROM intracker.create_feature(test_helpers.id('p1'), 'Feature to delete');
INSERT INTO test_helpers.ids SELECT 't1', id FROM intracker.create_todo(test_helpers.id('p1'), 'Todo one', feature_id => test_helpers.id('f1'),
                                                                        assigned_to => test_helpers.id('editor'));
INSERT INTO test_helpers.ids SELECT 't2', id FROM intracker.create_todo(test_helpers.id('p1'), 'Todo two');
INSERT INTO test_helpers.ids SELECT 't_del', id FROM intracker.create_todo(test_helpers.id('p1'), 'Todo to delete');
SELECT intracker.add_dependency(test_helpers.id('t2'), test_helpers.id('t1'));
SELECT intracker.add_dependency(test_helpers.id('t_del'), test_helpers.id('t1'));
INSERT INTO test_helpers.ids SELECT 's_owner', id FROM intracker.start_session(test_helpers.id('p1'), 'Owner works');
SELECT intracker.end_session(test_helpers.id('s_owner'), 'Owner done');
INSERT INTO test_helpers.ids SELECT 's_owner_open', id FROM intracker.start_session(test_helpers.id('p1'), 'Owner works again');
SELECT intracker.act_as(test_helpers.id('editor'));
INSERT INTO test_helpers.ids SELECT 's_editor', id FROM intracker.start_session(test_helpers.id('p1'), 'Editor works');
SELECT intracker.end_session(test_helpers.id('s_editor'), 'Editor done');
INSERT INTO test_helpers.ids SELECT 's_editor_open', id FROM intracker.start_session(test_helpers.id('p1'), 'Editor works again');

SELECT intracker.act_as(test_helpers.id('outsider'));
INSERT INTO test_helpers.ids SELECT 'p2', id FROM intracker.create_project('Project Two');
INSERT INTO test_helpers.ids SELECT 'f2', id FROM intracker.create_feature(test_helpers.id('p2'), 'Feature two');
INSERT INTO test_helpers.ids SELECT 't4', id FROM intracker.create_todo(test_helpers.id('p2'), 'Todo four', assigned_to => test_helpers.id('outsider'));
INSERT INTO test_helpers.ids SELECT 't5', id FROM intracker.create_todo(test_helpers.id('p2'), 'Todo five');
SELECT intracker.add_dependency(test_helpers.id('t5'), test_helpers.id('t4'));
INSERT INTO test_helpers.ids SELECT 's_out', id FROM intracker.start_session(test_helpers.id('p2'), 'Outsider works');
SELECT intracker.act_as(NULL);

-- From here on: PostgREST's connection, a non-superuser.
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT ok(NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user),
          'the matrix runs as a role that neither is a superuser nor bypasses RLS');

------------------------------------------------------------------------------
-- SELECT
------------------------------------------------------------------------------

-- projects
SELECT test_helpers.as_user('owner');
SELECT set_eq('SELECT id FROM intracker.projects', test_helpers.ids('p1'), 'owner sees only P1');
SELECT test_helpers.as_user('editor');
SELECT set_eq('SELECT id FROM intracker.projects', test_helpers.ids('p1'), 'editor sees only P1');
SELECT test_helpers.as_user('viewer');
SELECT set_eq('SELECT id FROM intracker.projects', test_helpers.ids('p1'), 'viewer sees only P1');
SELECT test_helpers.as_user('outsider');
SELECT set_eq('SELECT id FROM intracker.projects', test_helpers.ids('p2'), 'non-member of P1 sees only his P2');
SELECT test_helpers.as_user(NULL);
SELECT is_empty('SELECT id FROM intracker.projects', 'anonymous sees no projects');

-- project_members
SELECT test_helpers.as_user('owner');
SELECT set_eq('SELECT user_id FROM intracker.project_members', test_helpers.ids('owner', 'editor', 'viewer', 'extra'),
              'owner sees the members of P1');
SELECT test_helpers.as_user('editor');
SELECT set_eq('SELECT user_id FROM intracker.project_members', test_helpers.ids('owner', 'editor', 'viewer', 'extra'),
              'editor sees the members of P1');
SELECT test_helpers.as_user('viewer');
SELECT set_eq('SELECT user_id FROM intracker.project_members', test_helpers.ids('owner', 'editor', 'viewer', 'extra'),
              'viewer sees the members of P1');
SELECT test_helpers.as_user('outsider');
SELECT set_eq('SELECT project_id FROM intracker.project_members', test_helpers.ids('p2'),
              'non-member sees only the memberships of his own project');
SELECT test_helpers.as_user(NULL);
SELECT is_empty('SELECT * FROM intracker.project_members', 'anonymous sees no memberships');

-- features
SELECT test_helpers.as_user('owner');
SELECT set_eq('SELECT id FROM intracker.features', test_helpers.ids('f1', 'f_del'), 'owner sees the features of P1');
SELECT test_helpers.as_user('editor');
SELECT set_eq('SELECT id FROM intracker.features', test_helpers.ids('f1', 'f_del'), 'editor sees the features of P1');
SELECT test_helpers.as_user('viewer');
SELECT set_eq('SELECT id FROM intracker.features', test_helpers.ids('f1', 'f_del'), 'viewer sees the features of P1');
SELECT test_helpers.as_user('outsider');
SELECT set_eq('SELECT id FROM intracker.features', test_helpers.ids('f2'), 'non-member sees no feature of P1');
SELECT test_helpers.as_user(NULL);
SELECT is_empty('SELECT * FROM intracker.features', 'anonymous sees no features');

-- todos
SELECT test_helpers.as_user('owner');
SELECT set_eq('SELECT id FROM intracker.todos', test_helpers.ids('t1', 't2', 't_del'), 'owner sees the todos of P1');
SELECT test_helpers.as_user('editor');
SELECT set_eq('SELECT id FROM intracker.todos', test_helpers.ids('t1', 't2', 't_del'), 'editor sees the todos of P1');
SELECT test_helpers.as_user('viewer');
SELECT set_eq('SELECT id FROM intracker.todos', test_helpers.ids('t1', 't2', 't_del'), 'viewer sees the todos of P1');
SELECT test_helpers.as_user('outsider');
SELECT set_eq('SELECT id FROM intracker.todos', test_helpers.ids('t4', 't5'), 'non-member sees no todo of P1');
SELECT test_helpers.as_user(NULL);
SELECT is_empty('SELECT * FROM intracker.todos', 'anonymous sees no todos');

-- todo_dependencies
SELECT test_helpers.as_user('owner');
SELECT set_eq('SELECT todo_id FROM intracker.todo_dependencies', test_helpers.ids('t2', 't_del'),
              'owner sees the dependencies of P1');
SELECT test_helpers.as_user('editor');
SELECT set_eq('SELECT todo_id FROM intracker.todo_dependencies', test_helpers.ids('t2', 't_del'),
              'editor sees the dependencies of P1');
SELECT test_helpers.as_user('viewer');
SELECT set_eq('SELECT todo_id FROM intracker.todo_dependencies', test_helpers.ids('t2', 't_del'),
              'viewer sees the dependencies of P1');
SELECT test_helpers.as_user('outsider');
SELECT set_eq('SELECT todo_id FROM intracker.todo_dependencies', test_helpers.ids('t5'),
              'non-member sees no dependency of P1');
SELECT test_helpers.as_user(NULL);
SELECT is_empty('SELECT * FROM intracker.todo_dependencies', 'anonymous sees no dependencies');

-- sessions
SELECT test_helpers.as_user('owner');
SELECT set_eq('SELECT id FROM intracker.sessions', test_helpers.ids('s_owner', 's_editor', 's_owner_open', 's_editor_open'),
              'owner sees all sessions of P1');
SELECT test_helpers.as_user('editor');
SELECT set_eq('SELECT id FROM intracker.sessions', test_helpers.ids('s_owner', 's_editor', 's_owner_open', 's_editor_open'),
              'editor sees all sessions of P1');
SELECT test_helpers.as_user('viewer');
SELECT set_eq('SELECT id FROM intracker.sessions', test_helpers.ids('s_owner', 's_editor', 's_owner_open', 's_editor_open'),
              'viewer sees all sessions of P1');
SELECT test_helpers.as_user('outsider');
SELECT set_eq('SELECT id FROM intracker.sessions', test_helpers.ids('s_out'), 'non-member sees no session of P1');
SELECT test_helpers.as_user(NULL);
SELECT is_empty('SELECT * FROM intracker.sessions', 'anonymous sees no sessions');

-- users: yourself and the people you share a project with
SELECT test_helpers.as_user('owner');
SELECT set_eq('SELECT id FROM intracker.users', test_helpers.ids('owner', 'editor', 'viewer', 'extra'),
              'owner sees himself and the members of P1');
SELECT test_helpers.as_user('editor');
SELECT set_eq('SELECT id FROM intracker.users', test_helpers.ids('owner', 'editor', 'viewer', 'extra'),
              'editor sees himself and the members of P1');
SELECT test_helpers.as_user('viewer');
SELECT set_eq('SELECT id FROM intracker.users', test_helpers.ids('owner', 'editor', 'viewer', 'extra'),
              'viewer sees himself and the members of P1');
SELECT test_helpers.as_user('outsider');
SELECT set_eq('SELECT id FROM intracker.users', test_helpers.ids('outsider'),
              'non-member sees only himself (P2 has no other member)');
SELECT test_helpers.as_user('newbie');
SELECT set_eq('SELECT id FROM intracker.users', test_helpers.ids('newbie'), 'a user without projects sees only himself');
SELECT test_helpers.as_user(NULL);
SELECT is_empty('SELECT * FROM intracker.users', 'anonymous sees no users');

-- my_todos: open todos assigned to the caller
SELECT test_helpers.as_user('editor');
SELECT set_eq('SELECT id FROM intracker.my_todos', test_helpers.ids('t1'), 'editor''s my_todos is his assigned todo');
SELECT test_helpers.as_user('owner');
SELECT is_empty('SELECT * FROM intracker.my_todos', 'owner has nothing assigned');
SELECT test_helpers.as_user('outsider');
SELECT set_eq('SELECT id FROM intracker.my_todos', test_helpers.ids('t4'), 'non-member''s my_todos holds only his P2 todo');
SELECT test_helpers.as_user(NULL);
SELECT is_empty('SELECT * FROM intracker.my_todos', 'anonymous has no todos');

-- The computed progress of a feature counts only todos the caller may see.
SELECT test_helpers.as_user('viewer');
SELECT is((SELECT todos_total FROM intracker.features WHERE id = test_helpers.id('f1')), 1,
          'viewer sees feature progress computed from P1''s todos');

------------------------------------------------------------------------------
-- Functions, role by role (anonymous callers: see identity.sql)
------------------------------------------------------------------------------

-- update_project
SELECT test_helpers.as_user('owner');
SELECT lives_ok($$SELECT intracker.update_project(test_helpers.id('p1'), '{"description": "owner was here"}',
                                                 test_helpers.version_of(test_helpers.id('p1')))$$,
                'owner: update_project works');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$SELECT intracker.update_project(test_helpers.id('p1'), '{"description": "editor was here"}',
                                                 test_helpers.version_of(test_helpers.id('p1')))$$,
                'editor: update_project works');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker.update_project(test_helpers.id('p1'), '{"description": "viewer"}',
                                                  test_helpers.version_of(test_helpers.id('p1')))$$,
                 '42501', NULL, 'viewer: update_project raises 42501');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$SELECT intracker.update_project(test_helpers.id('p1'), '{"description": "outsider"}',
                                                  test_helpers.version_of(test_helpers.id('p1')))$$,
                 'PT404', NULL, 'non-member: update_project raises PT404');

-- create_feature / update_feature
SELECT test_helpers.as_user('owner');
SELECT lives_ok($$SELECT intracker.create_feature(test_helpers.id('p1'), 'Owner feature')$$, 'owner: create_feature works');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$SELECT intracker.create_feature(test_helpers.id('p1'), 'Editor feature')$$, 'editor: create_feature works');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker.create_feature(test_helpers.id('p1'), 'Viewer feature')$$, '42501', NULL,
                 'viewer: create_feature raises 42501');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$SELECT intracker.create_feature(test_helpers.id('p1'), 'Outsider feature')$$, 'PT404', NULL,
                 'non-member: create_feature raises PT404');

SELECT test_helpers.as_user('owner');
SELECT lives_ok($$SELECT intracker.update_feature(test_helpers.id('f1'), '{"priority": "high"}',
                                                 test_helpers.version_of(test_helpers.id('f1')))$$,
                'owner: update_feature works');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$SELECT intracker.update_feature(test_helpers.id('f1'), '{"priority": "low"}',
                                                 test_helpers.version_of(test_helpers.id('f1')))$$,
                'editor: update_feature works');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker.update_feature(test_helpers.id('f1'), '{"priority": "critical"}',
                                                  test_helpers.version_of(test_helpers.id('f1')))$$,
                 '42501', NULL, 'viewer: update_feature raises 42501');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$SELECT intracker.update_feature(test_helpers.id('f1'), '{"priority": "critical"}',
                                                  test_helpers.version_of(test_helpers.id('f1')))$$,
                 'PT404', NULL, 'non-member: update_feature raises PT404');

-- create_todo / update_todo / set_todo_status
SELECT test_helpers.as_user('owner');
SELECT lives_ok($$INSERT INTO test_helpers.ids SELECT 'fn_owner_todo', id FROM intracker.create_todo(test_helpers.id('p1'), 'Owner todo (fn)')$$,
                'owner: create_todo works');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$INSERT INTO test_helpers.ids SELECT 'fn_editor_todo', id FROM intracker.create_todo(test_helpers.id('p1'), 'Editor todo (fn)')$$,
                'editor: create_todo works');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker.create_todo(test_helpers.id('p1'), 'Viewer todo')$$, '42501', NULL,
                 'viewer: create_todo raises 42501');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$SELECT intracker.create_todo(test_helpers.id('p1'), 'Outsider todo')$$, 'PT404', NULL,
                 'non-member: create_todo raises PT404');

SELECT test_helpers.as_user('owner');
SELECT lives_ok($$SELECT intracker.update_todo(test_helpers.id('t1'), '{"estimate": 3}', test_helpers.version_of(test_helpers.id('t1')))$$,
                'owner: update_todo works');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$SELECT intracker.update_todo(test_helpers.id('t1'), '{"estimate": 5}', test_helpers.version_of(test_helpers.id('t1')))$$,
                'editor: update_todo works');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('t1'), '{"estimate": 8}', test_helpers.version_of(test_helpers.id('t1')))$$,
                 '42501', NULL, 'viewer: update_todo raises 42501');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$SELECT intracker.update_todo(test_helpers.id('t1'), '{"estimate": 8}', test_helpers.version_of(test_helpers.id('t1')))$$,
                 'PT404', NULL, 'non-member: update_todo raises PT404');

SELECT test_helpers.as_user('owner');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('t2'), 'review', test_helpers.version_of(test_helpers.id('t2')))$$,
                'owner: set_todo_status works');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$SELECT intracker.set_todo_status(test_helpers.id('t2'), 'todo', test_helpers.version_of(test_helpers.id('t2')))$$,
                'editor: set_todo_status works');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker.set_todo_status(test_helpers.id('t2'), 'review', test_helpers.version_of(test_helpers.id('t2')))$$,
                 '42501', NULL, 'viewer: set_todo_status raises 42501');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$SELECT intracker.set_todo_status(test_helpers.id('t2'), 'review', test_helpers.version_of(test_helpers.id('t2')))$$,
                 'PT404', NULL, 'non-member: set_todo_status raises PT404');

-- add_dependency / remove_dependency (editors both add and remove)
SELECT test_helpers.as_user('owner');
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('fn_owner_todo'), test_helpers.id('t1'))$$,
                'owner: add_dependency works');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$SELECT intracker.add_dependency(test_helpers.id('fn_editor_todo'), test_helpers.id('t1'))$$,
                'editor: add_dependency works');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker.add_dependency(test_helpers.id('fn_editor_todo'), test_helpers.id('t2'))$$, '42501', NULL,
                 'viewer: add_dependency raises 42501');
SELECT throws_ok($$SELECT intracker.remove_dependency(test_helpers.id('fn_editor_todo'), test_helpers.id('t1'))$$, '42501', NULL,
                 'viewer: remove_dependency raises 42501');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$SELECT intracker.add_dependency(test_helpers.id('fn_editor_todo'), test_helpers.id('t2'))$$, 'PT404', NULL,
                 'non-member: add_dependency raises PT404');
SELECT throws_ok($$SELECT intracker.remove_dependency(test_helpers.id('fn_editor_todo'), test_helpers.id('t1'))$$, 'PT404', NULL,
                 'non-member: remove_dependency raises PT404');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$SELECT intracker.remove_dependency(test_helpers.id('fn_owner_todo'), test_helpers.id('t1'))$$,
                'editor: remove_dependency works (on a dependency the owner added)');
SELECT test_helpers.as_user('owner');
SELECT lives_ok($$SELECT intracker.remove_dependency(test_helpers.id('fn_editor_todo'), test_helpers.id('t1'))$$,
                'owner: remove_dependency works');

-- add_member / remove_member (owners manage members)
SELECT test_helpers.as_user('editor');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'viewer')$$, '42501', NULL,
                 'editor: add_member raises 42501');
SELECT throws_ok($$SELECT intracker.remove_member(test_helpers.id('p1'), test_helpers.id('viewer'))$$, '42501', NULL,
                 'editor: remove_member of someone else raises 42501');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'viewer')$$, '42501', NULL,
                 'viewer: add_member raises 42501');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('viewer'), 'owner')$$, '42501', NULL,
                 'viewer: cannot promote himself with add_member (42501)');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('outsider'), 'owner')$$, 'PT404', NULL,
                 'non-member: cannot add himself to P1 (PT404)');
SELECT throws_ok($$SELECT intracker.remove_member(test_helpers.id('p1'), test_helpers.id('viewer'))$$, 'PT404', NULL,
                 'non-member: remove_member raises PT404');
SELECT test_helpers.as_user('owner');
SELECT lives_ok($$SELECT intracker.add_member(test_helpers.id('p1'), test_helpers.id('newbie'), 'viewer')$$,
                'owner: add_member works');
SELECT lives_ok($$SELECT intracker.remove_member(test_helpers.id('p1'), test_helpers.id('newbie'))$$,
                'owner: remove_member works');

-- start_session / end_session (editors and owners record their own)
SELECT test_helpers.as_user('owner');
SELECT lives_ok($$SELECT intracker.end_session(test_helpers.id('s_owner_open'), 'done')$$, 'owner: end_session of his own works');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$SELECT intracker.end_session(test_helpers.id('s_editor_open'), 'done')$$, 'editor: end_session of his own works');
SELECT test_helpers.as_user('owner');
SELECT lives_ok($$SELECT intracker.start_session(test_helpers.id('p1'))$$, 'owner: start_session works');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$SELECT intracker.start_session(test_helpers.id('p1'))$$, 'editor: start_session works');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$SELECT intracker.start_session(test_helpers.id('p1'))$$, '42501', NULL, 'viewer: start_session raises 42501');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$SELECT intracker.start_session(test_helpers.id('p1'))$$, 'PT404', NULL, 'non-member: start_session raises PT404');
SELECT throws_ok($$SELECT intracker.end_session(test_helpers.id('s_editor'), 'not mine')$$, 'PT404', NULL,
                 'non-member: end_session of a P1 session raises PT404');
-- (not assertions) close the sessions just started, for the INSERT tests below
SELECT test_helpers.as_user('owner');
SELECT test_helpers.affected($$UPDATE intracker.sessions SET ended_at = now() WHERE ended_at IS NULL AND user_id = test_helpers.id('owner')$$);
SELECT test_helpers.as_user('editor');
SELECT test_helpers.affected($$UPDATE intracker.sessions SET ended_at = now() WHERE ended_at IS NULL AND user_id = test_helpers.id('editor')$$);

------------------------------------------------------------------------------
-- INSERT through the views
------------------------------------------------------------------------------

-- projects: anyone identified may create one (INSTEAD OF trigger -> create_project)
SELECT test_helpers.as_user('owner');
SELECT lives_ok($$INSERT INTO intracker.projects (name) VALUES ('Owner''s new project')$$, 'owner: INSERT a project works');
SELECT test_helpers.as_user('editor');
SELECT lives_ok($$INSERT INTO intracker.projects (name) VALUES ('Editor''s new project')$$, 'editor: INSERT a project works');
SELECT results_eq($$SELECT m.role FROM intracker.project_members m JOIN intracker.projects p ON p.id = m.project_id
                     WHERE p.name = 'Editor''s new project' AND m.user_id = test_helpers.id('editor')$$,
                  ARRAY['owner'], 'the creator of a project inserted through the view is its owner');
SELECT test_helpers.as_user('viewer');
SELECT lives_ok($$INSERT INTO intracker.projects (name) VALUES ('Viewer''s new project')$$, 'viewer: INSERT a project works');
SELECT test_helpers.as_user('outsider');
SELECT lives_ok($$INSERT INTO intracker.projects (name) VALUES ('Outsider''s new project')$$, 'non-member: INSERT a project works');
INSERT INTO test_helpers.ids SELECT 'outsider_new', id FROM intracker.projects WHERE name = 'Outsider''s new project';
SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$INSERT INTO intracker.projects (name) VALUES ('Anonymous project')$$, 'PT401', NULL,
                 'anonymous: INSERT a project raises PT401');

-- project_members: owners only
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$INSERT INTO intracker.project_members (project_id, user_id, role)
                                   VALUES (test_helpers.id('p1'), test_helpers.id('newbie'), 'viewer')$$), 1,
          'owner: INSERT a member works');
SELECT test_helpers.as_user('editor');
SELECT throws_ok($$INSERT INTO intracker.project_members (project_id, user_id, role)
                   VALUES (test_helpers.id('p1'), test_helpers.id('outsider'), 'viewer')$$,
                 '42501', 'new row violates row-level security policy for table "project_members"',
                 'editor: INSERT a member violates RLS (42501)');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$INSERT INTO intracker.project_members (project_id, user_id, role)
                   VALUES (test_helpers.id('p1'), test_helpers.id('outsider'), 'viewer')$$,
                 '42501', 'new row violates row-level security policy for table "project_members"',
                 'viewer: INSERT a member violates RLS (42501)');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$INSERT INTO intracker.project_members (project_id, user_id, role)
                   VALUES (test_helpers.id('p1'), test_helpers.id('outsider'), 'owner')$$,
                 '42501', 'new row violates row-level security policy for table "project_members"',
                 'non-member: INSERT himself as owner of P1 violates RLS (42501)');
SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$INSERT INTO intracker.project_members (project_id, user_id, role)
                   VALUES (test_helpers.id('p1'), test_helpers.id('outsider'), 'viewer')$$,
                 '42501', 'new row violates row-level security policy for table "project_members"',
                 'anonymous: INSERT a member violates RLS (42501)');

-- features: editors and owners
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$INSERT INTO intracker.features (project_id, title) VALUES (test_helpers.id('p1'), 'Owner view feature')$$),
          1, 'owner: INSERT a feature works');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$INSERT INTO intracker.features (project_id, title) VALUES (test_helpers.id('p1'), 'Editor view feature')$$),
          1, 'editor: INSERT a feature works');
SELECT is((SELECT created_by FROM intracker.features WHERE title = 'Editor view feature'), test_helpers.id('editor'),
          'a feature inserted through the view is created_by the caller');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$INSERT INTO intracker.features (project_id, title) VALUES (test_helpers.id('p1'), 'Viewer feature')$$,
                 '42501', 'new row violates row-level security policy for table "features"',
                 'viewer: INSERT a feature violates RLS (42501)');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$INSERT INTO intracker.features (project_id, title) VALUES (test_helpers.id('p1'), 'Outsider feature')$$,
                 '42501', 'new row violates row-level security policy for table "features"',
                 'non-member: INSERT a feature violates RLS (42501)');
SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$INSERT INTO intracker.features (project_id, title) VALUES (test_helpers.id('p1'), 'Anonymous feature')$$,
                 '42501', 'new row violates row-level security policy for table "features"',
                 'anonymous: INSERT a feature violates RLS (42501)');

-- todos: editors and owners
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$INSERT INTO intracker.todos (project_id, title) VALUES (test_helpers.id('p1'), 'Owner view todo')$$),
          1, 'owner: INSERT a todo works');
INSERT INTO test_helpers.ids SELECT 'owner_todo', id FROM intracker.todos WHERE title = 'Owner view todo';
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$INSERT INTO intracker.todos (project_id, title) VALUES (test_helpers.id('p1'), 'Editor view todo')$$),
          1, 'editor: INSERT a todo works');
INSERT INTO test_helpers.ids SELECT 'editor_todo', id FROM intracker.todos WHERE title = 'Editor view todo';
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$INSERT INTO intracker.todos (project_id, title) VALUES (test_helpers.id('p1'), 'Viewer todo')$$,
                 '42501', 'new row violates row-level security policy for table "todos"',
                 'viewer: INSERT a todo violates RLS (42501)');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$INSERT INTO intracker.todos (project_id, title) VALUES (test_helpers.id('p1'), 'Outsider todo')$$,
                 '42501', 'new row violates row-level security policy for table "todos"',
                 'non-member: INSERT a todo violates RLS (42501)');
SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$INSERT INTO intracker.todos (project_id, title) VALUES (test_helpers.id('p1'), 'Anonymous todo')$$,
                 '42501', 'new row violates row-level security policy for table "todos"',
                 'anonymous: INSERT a todo violates RLS (42501)');

-- todo_dependencies: editors and owners
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$INSERT INTO intracker.todo_dependencies (todo_id, blocked_by, project_id)
                                   VALUES (test_helpers.id('owner_todo'), test_helpers.id('t1'), test_helpers.id('p1'))$$),
          1, 'owner: INSERT a dependency works');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$INSERT INTO intracker.todo_dependencies (todo_id, blocked_by, project_id)
                                   VALUES (test_helpers.id('editor_todo'), test_helpers.id('t1'), test_helpers.id('p1'))$$),
          1, 'editor: INSERT a dependency works');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$INSERT INTO intracker.todo_dependencies (todo_id, blocked_by, project_id)
                   VALUES (test_helpers.id('editor_todo'), test_helpers.id('t2'), test_helpers.id('p1'))$$,
                 '42501', 'new row violates row-level security policy for table "todo_dependencies"',
                 'viewer: INSERT a dependency violates RLS (42501)');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$INSERT INTO intracker.todo_dependencies (todo_id, blocked_by, project_id)
                   VALUES (test_helpers.id('editor_todo'), test_helpers.id('t2'), test_helpers.id('p1'))$$,
                 '42501', 'new row violates row-level security policy for table "todo_dependencies"',
                 'non-member: INSERT a dependency violates RLS (42501)');
SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$INSERT INTO intracker.todo_dependencies (todo_id, blocked_by, project_id)
                   VALUES (test_helpers.id('editor_todo'), test_helpers.id('t2'), test_helpers.id('p1'))$$,
                 '42501', 'new row violates row-level security policy for table "todo_dependencies"',
                 'anonymous: INSERT a dependency violates RLS (42501)');

-- sessions: editors and owners, for themselves
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$INSERT INTO intracker.sessions (project_id, goal) VALUES (test_helpers.id('p1'), 'Owner via view')$$),
          1, 'owner: INSERT a session works');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$INSERT INTO intracker.sessions (project_id, goal) VALUES (test_helpers.id('p1'), 'Editor via view')$$),
          1, 'editor: INSERT a session works');
SELECT is((SELECT user_id FROM intracker.sessions WHERE goal = 'Editor via view'), test_helpers.id('editor'),
          'a session inserted through the view belongs to the caller');
SELECT throws_ok($$INSERT INTO intracker.sessions (project_id, user_id, goal) VALUES (test_helpers.id('p1'), test_helpers.id('owner'), 'Spoofed')$$,
                 '42501', NULL, 'editor: INSERT a session for another user is refused (42501)');
SELECT test_helpers.as_user('viewer');
SELECT throws_ok($$INSERT INTO intracker.sessions (project_id, goal) VALUES (test_helpers.id('p1'), 'Viewer via view')$$,
                 '42501', 'new row violates row-level security policy for table "sessions"',
                 'viewer: INSERT a session violates RLS (42501)');
SELECT test_helpers.as_user('outsider');
SELECT throws_ok($$INSERT INTO intracker.sessions (project_id, goal) VALUES (test_helpers.id('p1'), 'Outsider via view')$$,
                 '42501', 'new row violates row-level security policy for table "sessions"',
                 'non-member: INSERT a session violates RLS (42501)');
SELECT test_helpers.as_user(NULL);
SELECT throws_ok($$INSERT INTO intracker.sessions (project_id, goal) VALUES (test_helpers.id('p1'), 'Anonymous via view')$$,
                 '42501', 'new row violates row-level security policy for table "sessions"',
                 'anonymous: INSERT a session violates RLS (42501)');

-- users: only intracker.create_user (admins) creates users
SELECT test_helpers.as_user('owner');
SELECT throws_ok($$INSERT INTO intracker.users (email, name) VALUES ('sneaky@example.com', 'Sneaky')$$, '42501', NULL,
                 'owner: INSERT into intracker.users is not permitted (42501)');

------------------------------------------------------------------------------
-- UPDATE through the views (hidden rows: 0 rows updated)
------------------------------------------------------------------------------

-- projects: editors and owners
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$UPDATE intracker.projects SET description = 'by owner' WHERE id = test_helpers.id('p1')$$), 1,
          'owner: UPDATE P1 updates 1 row');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$UPDATE intracker.projects SET description = 'by editor' WHERE id = test_helpers.id('p1')$$), 1,
          'editor: UPDATE P1 updates 1 row');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$UPDATE intracker.projects SET description = 'by viewer' WHERE id = test_helpers.id('p1')$$), 0,
          'viewer: UPDATE P1 updates 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$UPDATE intracker.projects SET description = 'by outsider' WHERE id = test_helpers.id('p1')$$), 0,
          'non-member: UPDATE P1 updates 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$UPDATE intracker.projects SET description = 'by anonymous'$$), 0,
          'anonymous: UPDATE projects updates 0 rows');
SELECT test_helpers.as_user('owner');
SELECT is((SELECT description FROM intracker.projects WHERE id = test_helpers.id('p1')), 'by editor',
          'P1 kept the editor''s description: the refused updates changed nothing');

-- project_members: owners only
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$UPDATE intracker.project_members SET role = 'editor'
                                   WHERE project_id = test_helpers.id('p1') AND user_id = test_helpers.id('extra')$$), 1,
          'owner: UPDATE a member''s role updates 1 row');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$UPDATE intracker.project_members SET role = 'owner'
                                   WHERE project_id = test_helpers.id('p1') AND user_id = test_helpers.id('editor')$$), 0,
          'editor: promoting himself in P1 updates 0 rows');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$UPDATE intracker.project_members SET role = 'owner'
                                   WHERE project_id = test_helpers.id('p1') AND user_id = test_helpers.id('viewer')$$), 0,
          'viewer: promoting himself in P1 updates 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$UPDATE intracker.project_members SET role = 'viewer' WHERE project_id = test_helpers.id('p1')$$), 0,
          'non-member: UPDATE P1''s members updates 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$UPDATE intracker.project_members SET role = 'viewer'$$), 0,
          'anonymous: UPDATE members updates 0 rows');
SELECT test_helpers.as_user('owner');
SELECT set_eq($$SELECT user_id || ':' || role FROM intracker.project_members WHERE project_id = test_helpers.id('p1')$$,
              ARRAY[test_helpers.id('owner') || ':owner', test_helpers.id('editor') || ':editor', test_helpers.id('viewer') || ':viewer',
                    test_helpers.id('extra') || ':editor', test_helpers.id('newbie') || ':viewer'],
              'P1''s roles are the owner''s choice only');

-- features: editors and owners
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$UPDATE intracker.features SET title = 'F1 by owner' WHERE id = test_helpers.id('f1')$$), 1,
          'owner: UPDATE a feature updates 1 row');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$UPDATE intracker.features SET title = 'F1 by editor' WHERE id = test_helpers.id('f1')$$), 1,
          'editor: UPDATE a feature updates 1 row');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$UPDATE intracker.features SET title = 'F1 by viewer' WHERE id = test_helpers.id('f1')$$), 0,
          'viewer: UPDATE a feature updates 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$UPDATE intracker.features SET title = 'F1 by outsider' WHERE id = test_helpers.id('f1')$$), 0,
          'non-member: UPDATE a P1 feature updates 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$UPDATE intracker.features SET title = 'F1 by anonymous'$$), 0,
          'anonymous: UPDATE features updates 0 rows');
SELECT test_helpers.as_user('viewer');
SELECT is((SELECT title FROM intracker.features WHERE id = test_helpers.id('f1')), 'F1 by editor',
          'the feature kept the editor''s title');

-- todos: editors and owners
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$UPDATE intracker.todos SET title = 'T1 by owner' WHERE id = test_helpers.id('t1')$$), 1,
          'owner: UPDATE a todo updates 1 row');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$UPDATE intracker.todos SET title = 'T1 by editor' WHERE id = test_helpers.id('t1')$$), 1,
          'editor: UPDATE a todo updates 1 row');
SELECT throws_ok($$UPDATE intracker.todos SET project_id = test_helpers.id('p2') WHERE id = test_helpers.id('t1')$$, '42501', NULL,
                 'editor: moving a todo to another project is not permitted (42501)');
SELECT is(test_helpers.affected($$UPDATE intracker.my_todos SET description = 'mine' WHERE id = test_helpers.id('t1')$$), 1,
          'editor: UPDATE through my_todos updates his assigned todo');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$UPDATE intracker.todos SET title = 'T1 by viewer' WHERE id = test_helpers.id('t1')$$), 0,
          'viewer: UPDATE a todo updates 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$UPDATE intracker.todos SET title = 'T1 by outsider' WHERE id = test_helpers.id('t1')$$), 0,
          'non-member: UPDATE a P1 todo updates 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$UPDATE intracker.todos SET title = 'by anonymous'$$), 0,
          'anonymous: UPDATE todos updates 0 rows');
SELECT test_helpers.as_user('viewer');
SELECT is((SELECT title || ' / ' || description FROM intracker.todos WHERE id = test_helpers.id('t1')), 'T1 by editor / mine',
          'the todo kept the editor''s changes');

-- todo_dependencies: never updated
SELECT test_helpers.as_user('owner');
SELECT throws_ok($$UPDATE intracker.todo_dependencies SET blocked_by = test_helpers.id('t2') WHERE todo_id = test_helpers.id('owner_todo')$$,
                 '42501', NULL, 'owner: UPDATE a dependency is not permitted (42501)');

-- sessions: one's own, as editor or owner
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$UPDATE intracker.sessions SET summary = 'editor edit' WHERE id = test_helpers.id('s_editor')$$), 1,
          'editor: UPDATE his own session updates 1 row');
SELECT throws_ok($$UPDATE intracker.sessions SET user_id = test_helpers.id('owner') WHERE id = test_helpers.id('s_editor')$$,
                 '42501', NULL, 'editor: handing his session to another user is not permitted (42501)');
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$UPDATE intracker.sessions SET summary = 'owner edit' WHERE id = test_helpers.id('s_owner')$$), 1,
          'owner: UPDATE his own session updates 1 row');
SELECT is(test_helpers.affected($$UPDATE intracker.sessions SET summary = 'owner edit' WHERE id = test_helpers.id('s_editor')$$), 0,
          'owner: UPDATE another user''s session updates 0 rows');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$UPDATE intracker.sessions SET summary = 'viewer edit'$$), 0,
          'viewer: UPDATE sessions updates 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$UPDATE intracker.sessions SET summary = 'outsider edit' WHERE project_id = test_helpers.id('p1')$$), 0,
          'non-member: UPDATE P1 sessions updates 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$UPDATE intracker.sessions SET summary = 'anonymous edit'$$), 0,
          'anonymous: UPDATE sessions updates 0 rows');
SELECT test_helpers.as_user('editor');
SELECT is((SELECT summary FROM intracker.sessions WHERE id = test_helpers.id('s_editor')), 'editor edit',
          'the editor''s session kept his summary');

-- users: oneself, and only name / github_username / avatar_url
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$UPDATE intracker.users SET name = 'Olivia Owner'$$), 1,
          'owner: UPDATE users updates only his own row');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$UPDATE intracker.users SET name = 'Mallory' WHERE id = test_helpers.id('owner')$$), 0,
          'editor: UPDATE another user''s name updates 0 rows');
SELECT is(test_helpers.affected($$UPDATE intracker.users SET github_username = 'ed-itor' WHERE id = test_helpers.id('editor')$$), 1,
          'editor: UPDATE his own github_username updates 1 row');
SELECT throws_ok($$UPDATE intracker.users SET email = 'new@example.com' WHERE id = test_helpers.id('editor')$$, '42501', NULL,
                 'editor: changing his own email is not permitted (42501)');
SELECT throws_ok($$UPDATE intracker.users SET is_active = true WHERE id = test_helpers.id('editor')$$, '42501', NULL,
                 'editor: changing is_active is not permitted (42501)');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$UPDATE intracker.users SET avatar_url = 'https://example.com/v.png' WHERE id = test_helpers.id('viewer')$$), 1,
          'viewer: UPDATE his own avatar_url updates 1 row');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$UPDATE intracker.users SET name = 'Mallory' WHERE id = test_helpers.id('owner')$$), 0,
          'non-member: UPDATE a user he cannot see updates 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$UPDATE intracker.users SET name = 'Mallory'$$), 0,
          'anonymous: UPDATE users updates 0 rows');
SELECT test_helpers.as_user('editor');
SELECT is((SELECT name FROM intracker.users WHERE id = test_helpers.id('owner')), 'Olivia Owner',
          'the owner''s name is the one he chose');

------------------------------------------------------------------------------
-- DELETE through the views (hidden rows: 0 rows deleted)
------------------------------------------------------------------------------

-- todo_dependencies: editors and owners
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$DELETE FROM intracker.todo_dependencies WHERE todo_id = test_helpers.id('t2')$$), 0,
          'viewer: DELETE a dependency deletes 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$DELETE FROM intracker.todo_dependencies WHERE todo_id = test_helpers.id('t2')$$), 0,
          'non-member: DELETE a P1 dependency deletes 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$DELETE FROM intracker.todo_dependencies$$), 0,
          'anonymous: DELETE dependencies deletes 0 rows');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$DELETE FROM intracker.todo_dependencies WHERE todo_id = test_helpers.id('t2')$$), 1,
          'editor: DELETE a dependency deletes 1 row');
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$DELETE FROM intracker.todo_dependencies WHERE todo_id = test_helpers.id('t_del')$$), 1,
          'owner: DELETE a dependency deletes 1 row');

-- todos: owners only
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$DELETE FROM intracker.todos WHERE id = test_helpers.id('t_del')$$), 0,
          'editor: DELETE a todo deletes 0 rows');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$DELETE FROM intracker.todos WHERE id = test_helpers.id('t_del')$$), 0,
          'viewer: DELETE a todo deletes 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$DELETE FROM intracker.todos WHERE id = test_helpers.id('t_del')$$), 0,
          'non-member: DELETE a P1 todo deletes 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$DELETE FROM intracker.todos$$), 0, 'anonymous: DELETE todos deletes 0 rows');
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$DELETE FROM intracker.todos WHERE id = test_helpers.id('t_del')$$), 1,
          'owner: DELETE a todo deletes 1 row');

-- features: owners only
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$DELETE FROM intracker.features WHERE id = test_helpers.id('f_del')$$), 0,
          'editor: DELETE a feature deletes 0 rows');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$DELETE FROM intracker.features WHERE id = test_helpers.id('f_del')$$), 0,
          'viewer: DELETE a feature deletes 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$DELETE FROM intracker.features WHERE id = test_helpers.id('f_del')$$), 0,
          'non-member: DELETE a P1 feature deletes 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$DELETE FROM intracker.features$$), 0, 'anonymous: DELETE features deletes 0 rows');
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$DELETE FROM intracker.features WHERE id = test_helpers.id('f_del')$$), 1,
          'owner: DELETE a feature deletes 1 row');

-- sessions: owners delete any session of their project
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$DELETE FROM intracker.sessions WHERE id = test_helpers.id('s_editor')$$), 0,
          'editor: DELETE even his own session deletes 0 rows');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$DELETE FROM intracker.sessions WHERE id = test_helpers.id('s_editor')$$), 0,
          'viewer: DELETE a session deletes 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$DELETE FROM intracker.sessions WHERE id = test_helpers.id('s_editor')$$), 0,
          'non-member: DELETE a P1 session deletes 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$DELETE FROM intracker.sessions$$), 0, 'anonymous: DELETE sessions deletes 0 rows');
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$DELETE FROM intracker.sessions WHERE id = test_helpers.id('s_editor')$$), 1,
          'owner: DELETE another member''s session deletes 1 row');

-- users: never deleted through the API
SELECT throws_ok($$DELETE FROM intracker.users WHERE id = test_helpers.id('owner')$$, '42501', NULL,
                 'owner: DELETE from intracker.users is not permitted (42501)');

-- projects: owners only
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$DELETE FROM intracker.projects WHERE id = test_helpers.id('p1')$$), 0,
          'editor: DELETE P1 deletes 0 rows');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$DELETE FROM intracker.projects WHERE id = test_helpers.id('p1')$$), 0,
          'viewer: DELETE P1 deletes 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$DELETE FROM intracker.projects WHERE id = test_helpers.id('p1')$$), 0,
          'non-member: DELETE P1 deletes 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$DELETE FROM intracker.projects$$), 0, 'anonymous: DELETE projects deletes 0 rows');
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$DELETE FROM intracker.projects WHERE name = 'Editor''s new project'$$), 1,
          'editor: DELETE a project he owns deletes 1 row');
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$DELETE FROM intracker.projects WHERE name = 'Owner''s new project'$$), 1,
          'owner: DELETE his project deletes 1 row');

-- project_members: owners remove anyone; every member may leave
SELECT test_helpers.as_user('editor');
SELECT is(test_helpers.affected($$DELETE FROM intracker.project_members WHERE user_id = test_helpers.id('viewer')$$), 0,
          'editor: DELETE another member deletes 0 rows');
SELECT test_helpers.as_user('viewer');
SELECT is(test_helpers.affected($$DELETE FROM intracker.project_members WHERE user_id = test_helpers.id('editor')$$), 0,
          'viewer: DELETE another member deletes 0 rows');
SELECT test_helpers.as_user('outsider');
SELECT is(test_helpers.affected($$DELETE FROM intracker.project_members WHERE project_id = test_helpers.id('p1')$$), 0,
          'non-member: DELETE P1''s members deletes 0 rows');
SELECT test_helpers.as_user(NULL);
SELECT is(test_helpers.affected($$DELETE FROM intracker.project_members$$), 0, 'anonymous: DELETE members deletes 0 rows');
SELECT test_helpers.as_user('owner');
SELECT is(test_helpers.affected($$DELETE FROM intracker.project_members
                                  WHERE project_id = test_helpers.id('p1') AND user_id = test_helpers.id('newbie')$$), 1,
          'owner: DELETE a member deletes 1 row');
SELECT test_helpers.as_user('extra');
SELECT is(test_helpers.affected($$DELETE FROM intracker.project_members WHERE user_id = test_helpers.id('extra')$$), 1,
          'a member may leave: DELETE his own membership deletes 1 row');
SELECT is_empty('SELECT * FROM intracker.projects WHERE id = test_helpers.id(''p1'')', '... and then no longer sees the project');
SELECT test_helpers.as_user('viewer');
SELECT lives_ok($$SELECT intracker.remove_member(test_helpers.id('p1'), test_helpers.id('viewer'))$$,
                'a viewer may leave with remove_member');
SELECT is_empty('SELECT * FROM intracker.todos', '... and then sees no todos');

------------------------------------------------------------------------------
-- The other identity mechanism: act_as() from a member of intracker_admin
------------------------------------------------------------------------------

RESET SESSION AUTHORIZATION;
SET ROLE tester_admin;
SELECT intracker.act_as(test_helpers.id('outsider'));
SELECT set_eq('SELECT id FROM intracker.projects', test_helpers.ids('p2', 'outsider_new'),
              'act_as(non-member): the admin role sees only the user''s projects');
SELECT is(test_helpers.affected($$UPDATE intracker.todos SET title = 'admin was here' WHERE project_id = test_helpers.id('p1')$$), 0,
          'act_as(non-member): UPDATE of P1 todos updates 0 rows');
SELECT intracker.act_as(test_helpers.id('editor'));
SELECT is(test_helpers.affected($$DELETE FROM intracker.todos WHERE id = test_helpers.id('t1')$$), 0,
          'act_as(editor): DELETE a todo deletes 0 rows');
SELECT throws_ok($$INSERT INTO intracker.todos (project_id, title) VALUES (test_helpers.id('p2'), 'Wrong project')$$,
                 '42501', 'new row violates row-level security policy for table "todos"',
                 'act_as(editor): INSERT a todo into P2 violates RLS (42501)');
SELECT ok((SELECT count(*) FROM intracker.users) >= 6,
          'act_as: an intracker_admin member sees every user (by policy), whoever it acts as');

SELECT * FROM finish();
ROLLBACK;
