--
-- Features and todos: creation, updates, optimistic locking, completion,
-- progress, and what each role may do.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
\set tracker '(SELECT id FROM regress.names WHERE name = ''tracker'')'

SELECT title, status, priority, version, progress
  FROM intracker.create_feature(:tracker, 'Login', 'Sign in with GitHub', 'high');
INSERT INTO regress.names SELECT id, 'login' FROM intracker.features WHERE title = 'Login';
\set login '(SELECT id FROM regress.names WHERE name = ''login'')'

-- Todos with fixed ids through the view (as PostgREST POST /todos would).
INSERT INTO intracker.todos (id, project_id, feature_id, title, priority, estimate, assigned_to)
VALUES ('00000000-0000-0000-0000-0000000000a1', :tracker, :login, 'OAuth callback', 'high', 3, '00000000-0000-0000-0000-00000000000b'),
       ('00000000-0000-0000-0000-0000000000a2', :tracker, :login, 'Session cookie', 'medium', 2, NULL),
       ('00000000-0000-0000-0000-0000000000a3', :tracker, :login, 'Logout button', 'low', 1, '00000000-0000-0000-0000-00000000000b')
RETURNING title, status, priority, estimate, regress.named(assigned_to::text) AS assigned_to,
          regress.named(created_by::text) AS created_by, version;
INSERT INTO regress.names VALUES ('00000000-0000-0000-0000-0000000000a1', 'callback'),
    ('00000000-0000-0000-0000-0000000000a2', 'cookie'), ('00000000-0000-0000-0000-0000000000a3', 'logout');

SELECT title, status, priority, estimate, tags, version
  FROM intracker.create_todo(:tracker, 'Write docs', estimate => 5, tags => '{docs}', due_date => '2030-01-31');

-- Bad input is refused with 22023 and a DETAIL naming the field.
SELECT * FROM regress.try($$SELECT intracker.create_todo((SELECT id FROM regress.names WHERE name = 'tracker'), 'X', estimate => 0)$$);
SELECT * FROM regress.try($$SELECT intracker.create_todo((SELECT id FROM regress.names WHERE name = 'tracker'), 'X', priority => 'urgent')$$);
SELECT * FROM regress.try($$SELECT intracker.create_todo((SELECT id FROM regress.names WHERE name = 'tracker'), '')$$);
SELECT * FROM regress.try($$SELECT intracker.create_todo((SELECT id FROM regress.names WHERE name = 'tracker'), 'X', assigned_to => '00000000-0000-0000-0000-00000000000d')$$);
SELECT * FROM regress.try($$SELECT intracker.create_feature((SELECT id FROM regress.names WHERE name = 'tracker'), 'X', priority => 'p0')$$);

-- A feature of another project cannot hold this project's todos.
SELECT id AS other_project FROM intracker.create_project('Other') \gset
SELECT id AS other_feature FROM intracker.create_feature(:'other_project', 'Elsewhere') \gset
SELECT * FROM regress.try(format($$SELECT intracker.create_todo((SELECT id FROM regress.names WHERE name = 'tracker'), 'X', %L)$$, :'other_feature'));
DELETE FROM intracker.projects WHERE id = :'other_project';

-- update_todo: fields change, version goes up by exactly one.
SELECT title, estimate, tags, version
  FROM intracker.update_todo('00000000-0000-0000-0000-0000000000a2', '{"title": "Secure session cookie", "estimate": 3, "tags": ["security"]}', 1);
-- A stale expected_version is rejected with PT409 and nothing is written.
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-0000000000a2', '{"title": "Lost update"}', 1)$$);
SELECT title, version FROM intracker.todos WHERE id = '00000000-0000-0000-0000-0000000000a2';
-- The same through UPDATE on the view (PostgREST PATCH with version in the body).
SELECT * FROM regress.try($$UPDATE intracker.todos SET title = 'Lost again', version = 1 WHERE id = '00000000-0000-0000-0000-0000000000a2'$$);
UPDATE intracker.todos SET title = 'Session cookie', version = 2 WHERE id = '00000000-0000-0000-0000-0000000000a2'
RETURNING title, version;
-- Without a version the write is unconditional, but still bumps it.
UPDATE intracker.todos SET priority = 'high' WHERE id = '00000000-0000-0000-0000-0000000000a2'
RETURNING priority, version;
-- Every row of a multi-row update is bumped once.
WITH changed AS (
    UPDATE intracker.todos SET tags = tags || '{auth}' WHERE feature_id = :login
    RETURNING regress.named(id::text) AS todo, tags, version)
SELECT * FROM changed ORDER BY todo;

-- If-Match (PostgREST request header) is checked against the current version.
SELECT set_config('request.headers', '{"if-match": "\"3\""}', false) IS NOT NULL AS header_set;
SELECT * FROM regress.try($$UPDATE intracker.todos SET estimate = 4 WHERE id = '00000000-0000-0000-0000-0000000000a2'$$);
SELECT set_config('request.headers', '{"if-match": "W/\"5\""}', false) IS NOT NULL AS header_set;
UPDATE intracker.todos SET estimate = 4 WHERE id = '00000000-0000-0000-0000-0000000000a2' RETURNING estimate, version;
SELECT set_config('request.headers', '{"if-match": "*"}', false) IS NOT NULL AS header_set;
UPDATE intracker.todos SET estimate = 5 WHERE id = '00000000-0000-0000-0000-0000000000a2' RETURNING estimate, version;
RESET request.headers;

-- Changes must name changeable fields, with values of the right type.
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-0000000000a2', '{"version": 9}', 7)$$);
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-0000000000a2', '{"created_by": null}', 7)$$);
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-0000000000a2', '{"estimate": "lots"}', 7)$$);
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-0000000000a2', '{"due_date": "someday"}', 7)$$);
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-0000000000a2', '{"status": "finished"}', 7)$$);
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-0000000000a2', '[1, 2]', 7)$$);
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-0000000000a2', '{"title": "X"}', NULL)$$);
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-000000000999', '{"title": "X"}', 1)$$);
SELECT title, version FROM intracker.todos WHERE id = '00000000-0000-0000-0000-0000000000a2';

-- Completion: done sets completed_at and completed_by, reopening clears them;
-- feature progress counts done todos, not cancelled ones.
SELECT status, completed_at IS NOT NULL AS completed, regress.named(completed_by::text) AS completed_by, version
  FROM intracker.set_todo_status('00000000-0000-0000-0000-0000000000a1', 'done', 2);
SELECT status, version FROM intracker.set_todo_status('00000000-0000-0000-0000-0000000000a3', 'cancelled', 2);
SELECT title, todos_total, todos_done, progress FROM intracker.features;
SELECT status, completed_at IS NOT NULL AS completed, completed_by, version
  FROM intracker.set_todo_status('00000000-0000-0000-0000-0000000000a1', 'review', 3);
SELECT title, todos_total, todos_done, progress FROM intracker.features;

-- Features: update_feature and PATCH-style updates, same locking.
SELECT title, status, completed_at IS NOT NULL AS completed, version
  FROM intracker.update_feature(:login, '{"status": "in_progress", "assigned_to": "00000000-0000-0000-0000-00000000000b"}', 1);
SELECT * FROM regress.try($$SELECT intracker.update_feature((SELECT id FROM regress.names WHERE name = 'login'), '{"status": "shipped"}', 2)$$);
SELECT * FROM regress.try($$UPDATE intracker.features SET title = 'Stale', version = 1 WHERE title = 'Login'$$);

-- my_todos: the caller's open todos.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT title, status FROM intracker.my_todos ORDER BY title;

-- Editors (the bot) cannot delete; viewers (Vic) cannot write at all.
WITH deleted AS (DELETE FROM intracker.todos RETURNING 1) SELECT count(*) AS deleted_by_editor FROM deleted;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic;
SELECT count(*) AS todos_vic_sees FROM intracker.todos;
SELECT * FROM regress.try($$SELECT intracker.create_todo((SELECT id FROM regress.names WHERE name = 'tracker'), 'Sneaky')$$);
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-0000000000a2', '{"title": "Sneaky"}', 7)$$);
SELECT * FROM regress.try($$INSERT INTO intracker.todos (project_id, title) VALUES ((SELECT id FROM regress.names WHERE name = 'tracker'), 'Sneaky')$$);
WITH changed AS (UPDATE intracker.todos SET title = 'Sneaky' RETURNING 1) SELECT count(*) AS updated_by_viewer FROM changed;

-- Removing a member unassigns their work in that project (and bumps versions).
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT regress.named(user_id::text) AS removed FROM intracker.remove_member(:tracker, '00000000-0000-0000-0000-00000000000b');
SELECT regress.named(id::text) AS todo, assigned_to, version FROM intracker.todos WHERE feature_id = :login ORDER BY 1;
SELECT title, assigned_to, version FROM intracker.features;
SELECT role FROM intracker.add_member(:tracker, '00000000-0000-0000-0000-00000000000b', 'editor');

SELECT intracker.act_as(NULL);
RESET ROLE;
