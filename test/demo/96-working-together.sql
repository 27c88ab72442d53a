-- Demo section 10b: working together: a comment that @mentions, the inbox
-- it fills (also NOTIFYed on the user's own channel), a project document,
-- search, and the history that outlives the event log.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 10b. Working together: comments, @mentions, the inbox, documents, search, history'
\echo '================================================================================'
SELECT intracker.act_as(:'claude') AS acting \gset
SELECT id AS project FROM intracker.projects WHERE name = 'intracker' \gset
SELECT id AS todo FROM intracker.todos WHERE title = 'Add a health-check endpoint' \gset
\echo 'Claude comments on its todo and @mentions Ada (handles: GitHub login, else the email''s local part):'
SELECT handle, name FROM intracker.users ORDER BY handle;
SELECT left(body, 60) AS body, cardinality(mentions) AS members_mentioned
  FROM intracker.add_comment(:'todo', 'The probe needs no auth; @ada-lovelace can you confirm? cc @nobody');

\echo 'Ada''s inbox (she would hear it on intracker.user_channel(her id), after intracker.listen_me()):'
SELECT intracker.act_as(:'ada') AS acting \gset
SELECT kind, summary FROM intracker.get_my_notifications();
SELECT intracker.mark_notifications_read() AS marked_read;

\echo 'Ada writes the decision down where every agent finds it (team_context lists documents):'
SELECT title, kind, version
  FROM intracker.create_document(:'project', 'Health checks', 'Probes call GET /rpc/health: no auth, counts only.', 'decision');
SELECT d ->> 'title' AS title, d ->> 'kind' AS kind
  FROM jsonb_array_elements(intracker.team_context(:'project') -> 'documents') AS d;

\echo 'Search as you type ("heal" finds health), with the matches in bold:'
SELECT kind, title, snippet FROM intracker.search('heal', :'project');

\echo 'And the todo''s history, kept after the event log prunes it (intracker.history_retention):'
SELECT occurred_at::time(0) AS at, type, version, (SELECT string_agg(k, ', ') FROM jsonb_object_keys(changes) AS k) AS fields
  FROM intracker.history(:'todo', 5);
