-- Demo section 4: a todo cannot start while a blocker is open.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 4. The dependency gate (as Claude)'
\echo '================================================================================'
SELECT intracker.act_as(:'claude') AS acting \gset
SELECT id AS t_config, version AS v_config FROM intracker.todos WHERE title = 'Write the PostgREST configuration example' \gset
SELECT id AS t_expose, version AS v_expose FROM intracker.todos WHERE title = 'Expose the intracker schema to PostgREST' \gset

\echo '"Write the PostgREST configuration example" is blocked by:'
SELECT b.title AS blocker, b.status
  FROM intracker.todo_dependencies d
  JOIN intracker.todos b ON b.id = d.blocked_by
 WHERE d.todo_id = :'t_config';

\echo 'Claude tries to start it anyway:'
\echo '  SELECT intracker.set_todo_status(<todo>, ''in_progress'', expected_version => ':v_config');'
\set expected 23514
\set ON_ERROR_STOP 0
SELECT title, status, version FROM intracker.set_todo_status(:'t_config', 'in_progress', :v_config);
\set ON_ERROR_STOP 1
\ir lib/expect_error.psql

\echo
\echo 'Claude finishes the blocker first, then starts the todo:'
SELECT title, status, version, to_char(completed_at, 'YYYY-MM-DD HH24:MI') AS completed_at
  FROM intracker.set_todo_status(:'t_expose', 'done', :v_expose);
SELECT title, status, version FROM intracker.set_todo_status(:'t_config', 'in_progress', :v_config);
