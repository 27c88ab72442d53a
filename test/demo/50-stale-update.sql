-- Demo section 5: optimistic locking, a stale write rejected with PT409.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 5. Optimistic locking: a stale update is rejected (PT409)'
\echo '================================================================================'
SELECT intracker.act_as(:'grace') AS acting \gset
SELECT id AS todo, version AS v FROM intracker.todos WHERE title = 'JWT claims identity tests' \gset
\echo 'Two clients read the todo "JWT claims identity tests" at version' :v
SELECT title, estimate, priority, version FROM intracker.todos WHERE id = :'todo';

\echo 'Client A (Claude) raises the estimate, stating the version it read:'
\echo '  SELECT intracker.update_todo(<todo>, ''{"estimate": 5}'', expected_version => ':v');'
SELECT intracker.act_as(:'claude') AS acting \gset
SELECT title, estimate, version FROM intracker.update_todo(:'todo', '{"estimate": 5}', :v);

\echo 'Client B (Grace) renames it, also stating version ':v' - but the row has moved on:'
\echo '  SELECT intracker.update_todo(<todo>, ''{"title": "JWT identity tests"}'', expected_version => ':v');'
SELECT intracker.act_as(:'grace') AS acting \gset
\set expected PT409
\set ON_ERROR_STOP 0
SELECT title, estimate, version FROM intracker.update_todo(:'todo', '{"title": "JWT identity tests"}', :v);
\set ON_ERROR_STOP 1
\ir lib/expect_error.psql

\echo
\echo 'Nothing was written. Client B re-reads the row and retries with the current version:'
SELECT version AS v FROM intracker.todos WHERE id = :'todo' \gset
SELECT title, estimate, version FROM intracker.update_todo(:'todo', '{"title": "JWT identity tests"}', :v);

\echo 'The same check guards a plain UPDATE through the view (what a PostgREST PATCH does),'
\echo 'here based on the long-gone version 1:'
\echo '  UPDATE intracker.todos SET priority = ''critical'', version = 1 WHERE id = <todo>;'
\set expected PT409
\set ON_ERROR_STOP 0
UPDATE intracker.todos SET priority = 'critical', version = 1 WHERE id = :'todo';
\set ON_ERROR_STOP 1
\ir lib/expect_error.psql
