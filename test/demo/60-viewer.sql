-- Demo section 6: what a viewer, and a non-member, cannot do.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 6. Roles: what a viewer cannot do (as Margaret, viewer of intracker and Website)'
\echo '================================================================================'
SELECT intracker.act_as(:'ada') AS acting \gset
SELECT id AS t_mobile FROM intracker.todos WHERE title = 'Local SQLite cache' \gset
SELECT intracker.act_as(:'margaret') AS acting \gset
SELECT id AS todo, version AS v FROM intracker.todos WHERE title = 'Background worker skeleton' \gset

\echo 'Margaret reads everything in her projects:'
SELECT p.name AS project, count(t.id) AS todos_she_can_read
  FROM intracker.projects p
  LEFT JOIN intracker.todos t ON t.project_id = p.id
 GROUP BY p.name
 ORDER BY p.name;

\echo 'She tries to re-prioritise "Background worker skeleton" (intracker):'
\set expected 42501
\set ON_ERROR_STOP 0
SELECT title, priority, version FROM intracker.update_todo(:'todo', '{"priority": "low"}', :v);
\set ON_ERROR_STOP 1
\ir lib/expect_error.psql

\echo
\echo 'She tries to add a todo:'
\set expected 42501
\set ON_ERROR_STOP 0
SELECT title FROM intracker.create_todo(
    (SELECT id FROM intracker.projects WHERE name = 'intracker'), 'Sneaky todo');
\set ON_ERROR_STOP 1
\ir lib/expect_error.psql

\echo
\echo 'A direct UPDATE through the view changes nothing: row-level security lets a viewer read the row, not write it.'
WITH changed AS (
    UPDATE intracker.todos SET priority = 'low' WHERE id = :'todo' RETURNING id
)
SELECT count(*) AS rows_updated FROM changed;

\echo 'The Mobile app is not her project: she cannot see it, nor learn that its todos exist.'
SELECT count(*) AS mobile_app_todos_visible
  FROM intracker.todos t JOIN intracker.projects p ON p.id = t.project_id
 WHERE p.name = 'Mobile app';
\echo 'Changing a Mobile app todo by its id gets "not found", the same answer as for an id that does not exist:'
\set expected PT404
\set ON_ERROR_STOP 0
SELECT title FROM intracker.update_todo(:'t_mobile', '{"priority": "low"}', 1);
\set ON_ERROR_STOP 1
\ir lib/expect_error.psql
