-- Demo section 9c: webhooks and GitHub.  test/bin/demo runs a small local
-- HTTP server (test/helpers/http_sink.c) that also fakes GitHub's issue
-- API; the demo prints what it received after this section.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 11. Webhooks and GitHub: the deliverer sends, signed, in order, with retries'
\echo '================================================================================'
SELECT intracker.act_as(:'ada') AS acting \gset
SELECT id AS project FROM intracker.projects WHERE name = 'intracker' \gset
\echo 'Ada (owner) sends the team chat every todo change in plain words, and a CI hook the'
\echo 'status changes as signed JSON; the secret is never shown again:'
SELECT format, event_types, signed
  FROM intracker.create_webhook(:'project', :'sink' || '/ok/chat', '{todo.*}', format => 'slack');
SELECT format, event_types, signed
  FROM intracker.create_webhook(:'project', :'sink' || '/fail/1/ci', '{todo.status_changed}',
                                secret => 'demo-secret');
\echo '(The receiver is on 127.0.0.1: this demo server allows the local network,'
\echo 'intracker.http_allow_private_networks = on; by default a webhook or GitHub call to a'
\echo 'loopback, private or link-local address is refused by policy.)'
\echo 'A URL that is not http(s) is refused:'
\set expected 22023
\set ON_ERROR_STOP 0
SELECT intracker.create_webhook(:'project', 'file:///etc/passwd');
\set ON_ERROR_STOP 1
\ir lib/expect_error.psql

\echo 'GitHub: the token is write-only; members only see that one is set.'
SELECT github_repo, has_token FROM intracker.set_github_token(:'project', 'ghp_demo_token');

\echo 'Ada files a todo and asks for a GitHub issue; Claude finishes it, which closes the issue:'
SELECT id AS todo, version AS v FROM intracker.create_todo(:'project', 'Document the webhook headers') \gset
SELECT action, state FROM intracker.create_github_issue(:'todo');
SELECT pg_sleep(0.5) AS pause \gset
SELECT github_issue, github_issue_url FROM intracker.todos WHERE id = :'todo';
SELECT version AS v FROM intracker.todos WHERE id = :'todo' \gset
SELECT version AS v FROM intracker.assign_todo(:'todo', :'claude', :v) \gset
SELECT intracker.act_as(:'claude') AS acting \gset
SELECT version AS v FROM intracker.set_todo_status(:'todo', 'in_progress', :v) \gset
SELECT version AS v FROM intracker.set_todo_status(:'todo', 'done', :v) \gset
SELECT intracker.act_as(:'ada') AS acting \gset

\echo 'Waiting for the deliverer (the CI hook answers 500 once, so its first delivery is retried):'
DO $$
BEGIN
    FOR i IN 1 .. 100 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM intracker.webhook_deliveries WHERE state IN ('pending', 'failed'))
              AND NOT EXISTS (SELECT FROM intracker.github_calls WHERE state IN ('pending', 'failed'));
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
SELECT w.format, d.event_type, d.state, d.attempts, d.last_status
  FROM intracker.webhook_deliveries d JOIN intracker.webhooks w ON w.id = d.webhook_id
 WHERE d.event_seq > (SELECT max(seq) - 20 FROM intracker.events)
 ORDER BY d.event_seq, w.format;
SELECT action, state, attempts, last_status FROM intracker.github_calls ORDER BY created_at;
SELECT state, delivered, dead FROM intracker.deliverer_status;
SELECT intracker.act_as(NULL) AS acting \gset
