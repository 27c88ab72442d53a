-- Demo section 9b: live events.  test/bin/demo runs a real libpq listener
-- (test/helpers/listen.c) on channel "intracker" in the background; its
-- "[live]" lines appear as the publisher publishes each committed change.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 10. Live events: every committed change is NOTIFYed by the publisher, and replayable'
\echo '================================================================================'
SELECT intracker.act_as(:'ada') AS acting \gset
SELECT id AS project FROM intracker.projects WHERE name = 'intracker' \gset
SELECT max(seq) AS before FROM intracker.events_since(0, :'project', 10000) \gset
\echo 'A listener is connected (LISTEN intracker). Ada files a todo and gives it to Claude,'
\echo 'who starts it:'
SELECT intracker.act_as(:'ada') AS acting \gset
SELECT id AS todo, version AS v FROM intracker.create_todo(:'project', 'Add a health-check endpoint', priority => 'high') \gset
SELECT pg_sleep(0.2) AS pause \gset
SELECT version AS v FROM intracker.assign_todo(:'todo', :'claude', :v) \gset
SELECT pg_sleep(0.2) AS pause \gset
SELECT intracker.act_as(:'claude') AS acting \gset
SELECT pg_sleep(0.2) AS pause \gset
SELECT version AS v FROM intracker.set_todo_status(:'todo', 'in_progress', :v) \gset
SELECT pg_sleep(0.2) AS pause \gset

\echo 'Grace edits the same todo from a stale copy: rejected (PT409), and the team hears about it:'
SELECT intracker.act_as(:'grace') AS acting \gset
\set expected PT409
\set ON_ERROR_STOP 0
SELECT version FROM intracker.update_todo(:'todo', '{"priority": "critical"}', 1);
\set ON_ERROR_STOP 1
\ir lib/expect_error.psql
SELECT pg_sleep(0.2) AS pause \gset

\echo 'A rolled-back change is no event at all:'
BEGIN;
SELECT title FROM intracker.create_todo(:'project', 'An idea we roll back');
ROLLBACK;
SELECT pg_sleep(0.2) AS pause \gset

\echo
\echo 'Payloads carry ids only (LISTEN ignores row-level security). A client that was away'
\echo 'replays the full events, with the changed fields, from the last seq it saw:'
\echo '  SELECT seq, type, version, changes FROM intracker.events_since(<last seq seen>, <project>);'
\echo '  (ids and creation stamps left out of changes here)'
SELECT seq, type, version, changes - 'id' - 'created_at' - 'created_by' - 'project_id' AS changes
  FROM intracker.events_since(:before, :'project');

\echo 'The publisher (intracker.worker_status):'
SELECT pid IS NOT NULL AS running, state, database, last_published_seq, backlog FROM intracker.worker_status;
SELECT intracker.act_as(NULL) AS acting \gset
