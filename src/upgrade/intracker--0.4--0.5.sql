-- intracker 0.4 -> 0.5: webhooks and GitHub sync, delivered by the worker.
--
-- When the publisher numbers a batch of events (src/publisher.c) it also
-- turns them, in the same transaction, into deliveries: one per matching
-- active webhook, and one GitHub call per linked todo that was closed or
-- reopened (intracker_data.fan_out_events below).  A delivery is a durable
-- row, so nothing is lost when a process dies; the deliverer process
-- (src/deliverer.c) sends them with libcurl and records each result in a
-- transaction of its own, never holding one open across network I/O.
--
-- Each delivery belongs to one queue (a webhook, or a project's GitHub
-- repository) and a queue is delivered in order: a delivery waits while an
-- earlier one of its queue is pending or being retried.  At-least-once: a
-- crash between sending and recording sends again, with the same
-- X-Intracker-Delivery id.
--
-- Secrets (webhook secrets, GitHub tokens) are written through SECURITY
-- DEFINER functions for owners and are readable by no API role.

\echo Use "ALTER EXTENSION intracker UPDATE TO '0.5'" to load this file. \quit

-- Every API call reads intracker_data.users first (require_user): taking it
-- before anything else makes concurrent writers wait for this update
-- instead of deadlocking with it half-way (a writer holding users and
-- waiting for a table the update already altered).
LOCK TABLE intracker_data.users IN ACCESS EXCLUSIVE MODE;

------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------

-- '*', 'todo.*' or an exact type such as 'todo.status_changed'.
CREATE FUNCTION intracker_data.valid_event_patterns(patterns text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT pg_catalog.bool_and(p ~ ('^(\*|(project|feature|todo)\.(\*|created|updated|assigned|status_changed|deleted)'
                                    '|member\.(\*|added|updated|removed)|dependency\.(\*|added|removed)'
                                    '|session\.(\*|started|updated|ended|deleted)|conflict\.(\*|rejected))$'))
      FROM pg_catalog.unnest(patterns) AS p;
END;
COMMENT ON FUNCTION intracker_data.valid_event_patterns(text[]) IS
    'True when every pattern is ''*'', ''entity.*'' or an event type that exists (entity.action).';

CREATE FUNCTION intracker_data.event_matches(event_type text, patterns text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '*' = ANY (patterns) OR event_type = ANY (patterns)
       OR pg_catalog.split_part(event_type, '.', 1) || '.*' = ANY (patterns);
COMMENT ON FUNCTION intracker_data.event_matches(text, text[]) IS
    'Does an event type match a webhook''s event_types?';

CREATE TABLE intracker_data.webhooks (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    url             text NOT NULL
                    CONSTRAINT webhooks_url_http CHECK (url ~* '^https?://[^/?#[:space:]]+([/?#][^[:space:]]*)?$' AND length(url) <= 2000),
    event_types     text[] NOT NULL DEFAULT '{*}'
                    CONSTRAINT webhooks_event_types_valid CHECK (cardinality(event_types) BETWEEN 1 AND 64
                                                                 AND intracker_data.valid_event_patterns(event_types)),
    secret          text
                    CONSTRAINT webhooks_secret_length CHECK (length(secret) BETWEEN 1 AND 1000),
    signed          boolean GENERATED ALWAYS AS (secret IS NOT NULL) STORED,
    format          text NOT NULL DEFAULT 'json'
                    CONSTRAINT webhooks_format_valid CHECK (format IN ('json', 'slack')),
    active          boolean NOT NULL DEFAULT true,
    created_by      uuid REFERENCES intracker_data.users (id),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX webhooks_project_id_idx ON intracker_data.webhooks (project_id);
CREATE INDEX webhooks_created_by_idx ON intracker_data.webhooks (created_by);
COMMENT ON TABLE intracker_data.webhooks IS
    'HTTP endpoints that receive a project''s events. secret is readable by no API role.';
COMMENT ON CONSTRAINT webhooks_url_http ON intracker_data.webhooks IS 'url must be an http:// or https:// URL of at most 2000 characters, without spaces.';
COMMENT ON CONSTRAINT webhooks_event_types_valid ON intracker_data.webhooks IS 'event_types must hold 1 to 64 patterns, each ''*'', ''entity.*'' (e.g. ''todo.*'') or an event type (e.g. ''todo.status_changed'').';
COMMENT ON CONSTRAINT webhooks_secret_length ON intracker_data.webhooks IS 'secret must be 1 to 1000 characters (or NULL for unsigned deliveries).';
COMMENT ON CONSTRAINT webhooks_format_valid ON intracker_data.webhooks IS 'format must be json (the event) or slack (a {"text": ...} message).';

-- The GitHub credentials of a project.  No API role has any privilege on it.
CREATE TABLE intracker_data.github_credentials (
    project_id      uuid PRIMARY KEY REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    token           text
                    CONSTRAINT github_credentials_token_format CHECK (token ~ '^[!-~]+$' AND length(token) <= 1000),
    webhook_secret  text
                    CONSTRAINT github_credentials_webhook_secret_length CHECK (length(webhook_secret) BETWEEN 1 AND 1000),
    updated_by      uuid REFERENCES intracker_data.users (id),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX github_credentials_updated_by_idx ON intracker_data.github_credentials (updated_by);
COMMENT ON TABLE intracker_data.github_credentials IS
    'GitHub token (for the worker''s API calls) and webhook secret (to verify inbound deliveries) of a project. Set by owners with set_github_token() and set_github_webhook_secret(); never readable through the API.';
COMMENT ON CONSTRAINT github_credentials_token_format ON intracker_data.github_credentials IS 'token must be 1 to 1000 printable ASCII characters without spaces.';
COMMENT ON CONSTRAINT github_credentials_webhook_secret_length ON intracker_data.github_credentials IS 'webhook_secret must be 1 to 1000 characters.';

ALTER TABLE intracker_data.todos ADD COLUMN github_issue_url text
    CONSTRAINT todos_github_issue_url_format CHECK (github_issue_url ~ '^https?://' AND length(github_issue_url) <= 2000);
COMMENT ON CONSTRAINT todos_github_issue_url_format ON intracker_data.todos IS 'github_issue_url must be an http(s) URL.';

CREATE SEQUENCE intracker_data.delivery_position_seq;
COMMENT ON SEQUENCE intracker_data.delivery_position_seq IS
    'Order of deliveries within their queue.';

CREATE TABLE intracker_data.deliveries (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    position        bigint NOT NULL DEFAULT pg_catalog.nextval('intracker_data.delivery_position_seq'),
    kind            text NOT NULL
                    CONSTRAINT deliveries_kind_valid CHECK (kind IN ('webhook', 'github')),
    -- The ordered queue: the webhook, or the project for its GitHub calls.
    queue_id        uuid NOT NULL,
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    webhook_id      uuid REFERENCES intracker_data.webhooks (id) ON DELETE CASCADE,
    todo_id         uuid REFERENCES intracker_data.todos (id) ON DELETE CASCADE,
    event_seq       bigint,
    event_type      text NOT NULL,
    body            text NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CONSTRAINT deliveries_state_valid CHECK (state IN ('pending', 'delivered', 'failed', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    last_status     integer,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_attempt_at timestamptz,
    duration_ms     double precision,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    delivered_at    timestamptz,
    redelivery_of   uuid,
    -- create_issue: the issue GitHub created (the deliverer then links the todo)
    issue_number    integer,
    issue_url       text,
    CONSTRAINT deliveries_target CHECK (CASE kind WHEN 'webhook' THEN webhook_id = queue_id
                                                  ELSE todo_id IS NOT NULL AND queue_id = project_id END)
);
-- The deliverer's work list: each queue's undelivered deliveries in order.
CREATE INDEX deliveries_queue_idx ON intracker_data.deliveries (queue_id, position)
    WHERE state IN ('pending', 'failed');
CREATE INDEX deliveries_project_idx ON intracker_data.deliveries (project_id, created_at);
CREATE INDEX deliveries_webhook_id_idx ON intracker_data.deliveries (webhook_id);
CREATE INDEX deliveries_todo_id_idx ON intracker_data.deliveries (todo_id);
CREATE INDEX deliveries_done_idx ON intracker_data.deliveries (created_at) WHERE state IN ('delivered', 'dead');
CREATE INDEX deliveries_created_issue_idx ON intracker_data.deliveries (todo_id)
    WHERE event_type = 'github.create_issue' AND state = 'delivered';
COMMENT ON TABLE intracker_data.deliveries IS
    'Outgoing HTTP calls: webhook deliveries and GitHub API calls, durable until delivered or dead; delivered and dead ones are kept for intracker.event_retention.';
COMMENT ON CONSTRAINT deliveries_kind_valid ON intracker_data.deliveries IS 'kind must be webhook or github.';
COMMENT ON CONSTRAINT deliveries_state_valid ON intracker_data.deliveries IS 'state must be pending, delivered, failed or dead.';
COMMENT ON CONSTRAINT deliveries_target ON intracker_data.deliveries IS 'A webhook delivery is queued on its webhook; a GitHub call names its todo and is queued on its project.';
COMMENT ON COLUMN intracker_data.deliveries.state IS
    'pending (not tried yet), failed (retried at next_attempt_at), delivered, dead (gave up).';

-- Inbound GitHub webhook deliveries and what became of them.
CREATE TABLE intracker_data.github_inbound (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    event           text NOT NULL,
    action          text,
    issue_number    integer,
    pr_number       integer,
    todo_id         uuid REFERENCES intracker_data.todos (id) ON DELETE SET NULL,
    outcome         text NOT NULL
                    CONSTRAINT github_inbound_outcome_valid CHECK (outcome IN ('applied', 'unchanged', 'ignored', 'no linked todo', 'conflict', 'rejected')),
    detail          text,
    received_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX github_inbound_project_idx ON intracker_data.github_inbound (project_id, received_at);
CREATE INDEX github_inbound_todo_id_idx ON intracker_data.github_inbound (todo_id);
COMMENT ON CONSTRAINT github_inbound_outcome_valid ON intracker_data.github_inbound IS 'outcome must be applied, unchanged, ignored, no linked todo, conflict or rejected.';
COMMENT ON TABLE intracker_data.github_inbound IS
    'What github_webhook() did with each inbound GitHub event (a conflict is kept here, not lost).';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.webhooks', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.github_credentials', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.deliveries', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.github_inbound', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.delivery_position_seq', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.github_inbound_id_seq', '');

-- Members see GitHub calls and inbound results; only owners see webhooks and
-- their deliveries (a webhook URL is often itself a credential, e.g. Slack's).
ALTER TABLE intracker_data.webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.github_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.github_inbound ENABLE ROW LEVEL SECURITY;
CREATE POLICY webhooks_select ON intracker_data.webhooks FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));
CREATE POLICY deliveries_select ON intracker_data.deliveries FOR SELECT
    USING (CASE kind WHEN 'webhook' THEN project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[])
                     ELSE project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]) END);
CREATE POLICY github_inbound_select ON intracker_data.github_inbound FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));

REVOKE ALL ON intracker_data.webhooks, intracker_data.github_credentials, intracker_data.deliveries,
    intracker_data.github_inbound, intracker_data.delivery_position_seq FROM PUBLIC;
GRANT SELECT (id, project_id, url, event_types, signed, format, active, created_by, created_at, updated_at)
    ON intracker_data.webhooks TO intracker_user;
GRANT SELECT ON intracker_data.deliveries, intracker_data.github_inbound TO intracker_user;

------------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------------

-- Appending a column to a view used as a row type: CREATE OR REPLACE keeps
-- the functions that return intracker.todos.
CREATE OR REPLACE VIEW intracker.todos WITH (security_invoker = true) AS
SELECT id, project_id, feature_id, title, description, status, priority, estimate, tags, assigned_to,
       created_by, completed_by, blocked_reason, due_date, github_issue, github_pr,
       completed_at, created_at, updated_at, version, github_issue_url
  FROM intracker_data.todos;
-- The SQL-standard bodies returning intracker.todos were bound to its old
-- column list: recompiled against the new one (same signature, comment and
-- privileges).
CREATE OR REPLACE FUNCTION intracker.assign_todo(todo_id uuid, assignee uuid DEFAULT NULL, expected_version integer DEFAULT NULL)
RETURNS intracker.todos
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT intracker_data.assign('intracker_data.todos', todo_id, assignee, expected_version);
    SELECT t.* FROM intracker.todos t WHERE t.id = assign_todo.todo_id;
END;
CREATE OR REPLACE FUNCTION intracker.set_todo_status(todo_id uuid, status text, expected_version integer)
RETURNS intracker.todos
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT intracker.update_todo(todo_id, jsonb_build_object('status', status), expected_version);
END;
-- Sessions that planned a call of the other functions returning
-- intracker.todos before this update expect its old column list (the plan
-- cache does not follow a view's row type); touching them, definitions
-- unchanged, makes those sessions plan again.
ALTER FUNCTION intracker.create_todo(uuid, text, uuid, text, text, integer, text[], date, uuid, text) COST 100;
ALTER FUNCTION intracker.update_todo(uuid, jsonb, integer) COST 100;
ALTER FUNCTION intracker.unassign_todo(uuid, integer) COST 100;
COMMENT ON COLUMN intracker.todos.github_issue_url IS 'Web address of the linked GitHub issue (set by create_github_issue(), or by link_github_issue() for github.com).';
GRANT UPDATE (github_issue_url) ON intracker.todos, intracker_data.todos TO intracker_user;

CREATE VIEW intracker.webhooks WITH (security_invoker = true) AS
SELECT w.id, w.project_id, w.url, w.event_types, w.format, w.active, w.signed,
       w.created_by, w.created_at, w.updated_at
  FROM intracker_data.webhooks w;
COMMENT ON VIEW intracker.webhooks IS
    'Webhooks of the projects you own (never their secrets). Manage them with create_webhook(), set_webhook_active() and delete_webhook().';
COMMENT ON COLUMN intracker.webhooks.signed IS 'Whether deliveries carry X-Intracker-Signature-256 (a secret is set).';
COMMENT ON COLUMN intracker.webhooks.event_types IS 'Event types delivered: ''*'', ''entity.*'' or exact types such as ''todo.status_changed''.';
COMMENT ON COLUMN intracker.webhooks.format IS 'json (the event as JSON) or slack (a {"text": ...} message for Slack-compatible incoming webhooks).';

CREATE VIEW intracker.webhook_deliveries WITH (security_invoker = true) AS
SELECT d.id, d.webhook_id, d.project_id, d.event_seq, d.event_type, d.state, d.attempts,
       d.last_status, d.last_error,
       CASE WHEN d.state IN ('pending', 'failed') THEN d.next_attempt_at END AS next_attempt_at,
       d.duration_ms, d.created_at, d.last_attempt_at, d.delivered_at, d.redelivery_of, d.body AS payload
  FROM intracker_data.deliveries d
 WHERE d.kind = 'webhook';
COMMENT ON VIEW intracker.webhook_deliveries IS
    'Deliveries of your projects'' webhooks (owners): state pending (not tried yet), failed (retried at next_attempt_at), delivered or dead; attempts, last HTTP status and error, duration of the last attempt.';
COMMENT ON COLUMN intracker.webhook_deliveries.id IS 'Sent as the X-Intracker-Delivery header: the same on every attempt, so receivers can drop duplicates.';
COMMENT ON COLUMN intracker.webhook_deliveries.duration_ms IS 'Duration of the last attempt in milliseconds.';
COMMENT ON COLUMN intracker.webhook_deliveries.payload IS 'The request body, exactly as sent (and signed).';

CREATE VIEW intracker.github_calls WITH (security_invoker = true) AS
SELECT d.id, d.project_id, d.todo_id, pg_catalog.substr(d.event_type, 8) AS action, d.event_seq,
       d.state, d.attempts, d.last_status, d.last_error,
       CASE WHEN d.state IN ('pending', 'failed') THEN d.next_attempt_at END AS next_attempt_at,
       d.duration_ms, d.created_at, d.last_attempt_at, d.delivered_at, d.redelivery_of, d.body AS request_body,
       d.issue_number, d.issue_url
  FROM intracker_data.deliveries d
 WHERE d.kind = 'github';
COMMENT ON VIEW intracker.github_calls IS
    'GitHub API calls of your projects: create_issue, close_issue, reopen_issue, with the same states and retries as webhook deliveries.';
COMMENT ON COLUMN intracker.github_calls.issue_number IS 'create_issue: the number of the issue GitHub created (stored on the todo as github_issue).';

CREATE VIEW intracker.github_inbound WITH (security_invoker = true) AS
SELECT id, project_id, event, action, issue_number, pr_number, todo_id, outcome, detail, received_at
  FROM intracker_data.github_inbound;
COMMENT ON VIEW intracker.github_inbound IS
    'Inbound GitHub events received by github_webhook() and their outcome: applied, unchanged, ignored, no linked todo, conflict (a concurrent change won; nothing applied) or rejected (the change was not allowed).';

-- Members see whether GitHub sync is configured, never the secrets.
CREATE VIEW intracker.github_settings AS
SELECT p.id AS project_id, p.github_repo,
       c.token IS NOT NULL AS has_token,
       c.webhook_secret IS NOT NULL AS has_webhook_secret,
       c.updated_by, c.updated_at
  FROM intracker_data.projects p
  LEFT JOIN intracker_data.github_credentials c ON c.project_id = p.id
 WHERE p.id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]);
COMMENT ON VIEW intracker.github_settings IS
    'GitHub sync of your projects: the repository and whether a token and a webhook secret are set (never their values).';

------------------------------------------------------------------------------
-- C helpers (src/signature.c, src/http.c, src/worker.c)
------------------------------------------------------------------------------

CREATE FUNCTION intracker_data.signature_matches(secret text, body text, signature text)
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'intracker_signature_matches';
COMMENT ON FUNCTION intracker_data.signature_matches(text, text, text) IS
    'Is signature "sha256=<hex HMAC-SHA256 of body with secret>"? Compared in constant time; false for NULL arguments.';

CREATE FUNCTION intracker_data.check_webhook_url(url text)
RETURNS void
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'intracker_check_webhook_url';
COMMENT ON FUNCTION intracker_data.check_webhook_url(text) IS
    'Raises 22023 unless url is a well-formed http(s) URL, 42501 unless its host is in intracker.http_allowed_hosts (when that is set). The worker checks again before every request.';

CREATE FUNCTION intracker_data.wake_deliverer()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_wake_deliverer';
COMMENT ON FUNCTION intracker_data.wake_deliverer() IS
    'Wake the deliverer when the current transaction commits (nothing happens if it rolls back).';

CREATE FUNCTION intracker_data.deliverer_state(
    OUT pid integer, OUT state text, OUT in_flight integer, OUT attempts bigint,
    OUT delivered bigint, OUT dead bigint, OUT last_error text, OUT last_error_at timestamptz,
    OUT started_at timestamptz)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_deliverer_state';
COMMENT ON FUNCTION intracker_data.deliverer_state() IS
    'The deliverer''s state from shared memory (C); read it through intracker.deliverer_status.';

CREATE FUNCTION intracker_data.delivery_backlog(OUT pending bigint, OUT failed bigint)
RETURNS record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT pg_catalog.count(*) FILTER (WHERE d.state = 'pending'), pg_catalog.count(*) FILTER (WHERE d.state = 'failed')
      FROM intracker_data.deliveries d WHERE d.state IN ('pending', 'failed');
END;
COMMENT ON FUNCTION intracker_data.delivery_backlog() IS
    'Deliveries not yet sent (pending) and waiting for a retry (failed), over all projects (counts only).';

CREATE VIEW intracker.deliverer_status WITH (security_invoker = true) AS
SELECT s.pid, s.state, s.in_flight, b.pending, b.failed AS waiting_for_retry, s.attempts, s.delivered, s.dead,
       s.last_error, s.last_error_at, s.started_at
  FROM intracker_data.deliverer_state() s, intracker_data.delivery_backlog() b;
COMMENT ON VIEW intracker.deliverer_status IS
    'The process that sends webhooks and GitHub calls: pid, state (not running / stopped / starting / waiting for extension / idle / delivering / retrying after error / serving another database), requests in flight, deliveries pending and waiting for a retry, and since it started: attempts, delivered, dead, last error.';

------------------------------------------------------------------------------
-- Turning events into deliveries (called by the publisher, src/publisher.c)
------------------------------------------------------------------------------

CREATE FUNCTION intracker_data.event_json(e intracker_data.events)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.jsonb_build_object('seq', e.seq, 'type', e.type, 'project_id', e.project_id,
                                     'entity_id', e.entity_id, 'actor', e.actor, 'version', e.version,
                                     'changes', e.changes, 'occurred_at', e.occurred_at,
                                     'published_at', e.published_at)::text;
COMMENT ON FUNCTION intracker_data.event_json(intracker_data.events) IS
    'The body of a json-format webhook delivery: the whole event.';

-- Plain words for chat: "Ann moved *Fix login* to done".  Names are read
-- when the event is published; a deleted entity is named from its event.
CREATE FUNCTION intracker_data.slack_text(e intracker_data.events)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    entity text := split_part(e.type, '.', 1);
    action text := split_part(e.type, '.', 2);
    -- no acting user: the worker itself, or an inbound GitHub event
    who text := coalesce((SELECT u.name FROM intracker_data.users u WHERE u.id = e.actor), 'intracker');
    project text := coalesce((SELECT p.name FROM intracker_data.projects p WHERE p.id = e.project_id),
                             e.changes #>> '{name,old}', 'a deleted project');
    title text;
    other text;
    message text;
BEGIN
    title := CASE entity
        WHEN 'todo' THEN (SELECT t.title FROM intracker_data.todos t WHERE t.id = e.entity_id)
        WHEN 'feature' THEN (SELECT f.title FROM intracker_data.features f WHERE f.id = e.entity_id)
        WHEN 'project' THEN project
        WHEN 'conflict' THEN coalesce((SELECT t.title FROM intracker_data.todos t WHERE t.id = e.entity_id),
                                      (SELECT f.title FROM intracker_data.features f WHERE f.id = e.entity_id),
                                      (SELECT p.name FROM intracker_data.projects p WHERE p.id = e.entity_id))
        WHEN 'dependency' THEN (SELECT t.title FROM intracker_data.todos t WHERE t.id = e.entity_id)
        END;
    title := coalesce(title, e.changes #>> '{title,new}', e.changes #>> '{title,old}', 'untitled');
    IF entity = 'dependency' THEN
        other := coalesce((SELECT t.title FROM intracker_data.todos t
                            WHERE t.id = coalesce(e.changes #>> '{blocked_by,new}', e.changes #>> '{blocked_by,old}')::uuid),
                          'another todo');
    END IF;

    message := CASE
        WHEN entity IN ('todo', 'feature', 'project') THEN CASE action
            WHEN 'status_changed' THEN format('%s moved *%s* to %s', who, title, e.changes #>> '{status,new}')
            WHEN 'updated' THEN
                CASE WHEN e.changes #>> '{github_issue,new}' IS NOT NULL
                     THEN format('%s linked *%s* to GitHub issue #%s', who, title, e.changes #>> '{github_issue,new}')
                     ELSE format('%s updated %s *%s*', who, entity, title) END
            WHEN 'assigned' THEN
                CASE WHEN e.changes #>> '{assigned_to,new}' IS NULL THEN format('%s unassigned *%s*', who, title)
                     ELSE format('%s assigned *%s* to %s', who, title,
                                 coalesce((SELECT u.name FROM intracker_data.users u
                                            WHERE u.id = (e.changes #>> '{assigned_to,new}')::uuid), 'someone'))
                END
            ELSE format('%s %s %s *%s*', who, CASE action WHEN 'created' THEN 'created' WHEN 'deleted' THEN 'deleted'
                                                        ELSE 'updated' END, entity, title)
            END
        WHEN entity = 'member' THEN
            format('%s %s %s %s *%s*%s', who,
                   CASE action WHEN 'added' THEN 'added' WHEN 'removed' THEN 'removed' ELSE 'changed the role of' END,
                   coalesce((SELECT u.name FROM intracker_data.users u WHERE u.id = e.entity_id), 'someone'),
                   CASE action WHEN 'added' THEN 'to' WHEN 'removed' THEN 'from' ELSE 'in' END,
                   project,
                   CASE WHEN e.changes #>> '{role,new}' IS NOT NULL THEN ' as ' || (e.changes #>> '{role,new}') ELSE '' END)
        WHEN entity = 'dependency' THEN
            format('%s %s *%s* %s *%s*', who, CASE action WHEN 'added' THEN 'marked' ELSE 'unmarked' END, title,
                   'as blocked by', other)
        WHEN entity = 'session' THEN
            format('%s %s on *%s*%s', who,
                   CASE action WHEN 'started' THEN 'started a work session' WHEN 'ended' THEN 'ended a work session'
                               WHEN 'deleted' THEN 'deleted a work session' ELSE 'updated a work session' END,
                   project,
                   coalesce(': ' || CASE action WHEN 'started' THEN e.changes #>> '{goal,new}'
                                                WHEN 'ended' THEN e.changes #>> '{summary,new}' END, ''))
        WHEN e.type = 'conflict.rejected' THEN
            format('%s''s change to %s *%s* was rejected: it was based on version %s, the current one is %s',
                   who, e.changes ->> 'entity', title, coalesce(e.changes ->> 'attempted_version', 'none'),
                   e.changes ->> 'current_version')
        ELSE format('%s: %s in *%s*', who, e.type, project)
        END;
    -- Slack's three control characters
    RETURN replace(replace(replace(message, '&', '&amp;'), '<', '&lt;'), '>', '&gt;');
END
$$;
COMMENT ON FUNCTION intracker_data.slack_text(intracker_data.events) IS
    'The text of a slack-format delivery, in plain words ("Ann moved *Fix login* to done"), with &, < and > escaped.';

CREATE FUNCTION intracker_data.fan_out_events(after_seq bigint, last_seq bigint)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    webhook_deliveries integer;
    github_calls integer;
BEGIN
    INSERT INTO intracker_data.deliveries (kind, queue_id, project_id, webhook_id, event_seq, event_type, body)
    SELECT 'webhook', w.id, e.project_id, w.id, e.seq, e.type,
           CASE w.format WHEN 'slack' THEN jsonb_build_object('text', intracker_data.slack_text(e))::text
                         ELSE intracker_data.event_json(e) END
      FROM intracker_data.events e
      JOIN intracker_data.webhooks w ON w.project_id = e.project_id AND w.active
     WHERE e.seq > after_seq AND e.seq <= last_seq
       AND intracker_data.event_matches(e.type, w.event_types)
     ORDER BY e.seq, w.id;
    GET DIAGNOSTICS webhook_deliveries = ROW_COUNT;

    -- A linked todo that became done/cancelled closes its issue; one that
    -- left done/cancelled reopens it.  An issue still being created counts
    -- as linked: its queue sends the creation first.
    INSERT INTO intracker_data.deliveries (kind, queue_id, project_id, todo_id, event_seq, event_type, body)
    SELECT 'github', e.project_id, e.project_id, e.entity_id, e.seq,
           CASE WHEN s.closes THEN 'github.close_issue' ELSE 'github.reopen_issue' END,
           CASE WHEN NOT s.closes THEN '{"state": "open"}'
                ELSE jsonb_build_object('state', 'closed',
                                        'state_reason', CASE e.changes #>> '{status,new}' WHEN 'done' THEN 'completed'
                                                                                         ELSE 'not_planned' END)::text
           END
      FROM intracker_data.events e
      JOIN intracker_data.github_credentials c ON c.project_id = e.project_id AND c.token IS NOT NULL
      JOIN intracker_data.todos t ON t.id = e.entity_id
      CROSS JOIN LATERAL (SELECT coalesce(e.changes #>> '{status,new}' IN ('done', 'cancelled'), false) AS closes,
                                 coalesce(e.changes #>> '{status,old}' IN ('done', 'cancelled'), false) AS was_closed) s
     WHERE e.seq > after_seq AND e.seq <= last_seq
       AND e.type = 'todo.status_changed' AND s.closes <> s.was_closed
       AND (t.github_issue IS NOT NULL
            OR EXISTS (SELECT FROM intracker_data.deliveries d
                        WHERE d.todo_id = t.id AND d.event_type = 'github.create_issue'
                          AND d.state IN ('pending', 'failed')))
     ORDER BY e.seq;
    GET DIAGNOSTICS github_calls = ROW_COUNT;
    RETURN webhook_deliveries + github_calls;
END
$$;
COMMENT ON FUNCTION intracker_data.fan_out_events(bigint, bigint) IS
    'Called in the transaction that publishes events after_seq+1 .. last_seq: queues a delivery per matching active webhook and a GitHub close/reopen call per linked todo closed or reopened. Returns how many.';

------------------------------------------------------------------------------
-- API: webhooks
------------------------------------------------------------------------------

-- SECURITY DEFINER: secrets go where no API role can read them; each
-- function checks the caller's role first.

CREATE FUNCTION intracker.create_webhook(project_id uuid, url text, event_types text[] DEFAULT '{*}',
                                         secret text DEFAULT NULL, format text DEFAULT 'json')
RETURNS intracker.webhooks
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    created intracker.webhooks;
    problem text;
    problem_column text;
BEGIN
    PERFORM intracker_data.require_role(create_webhook.project_id, 'owner', 'manage webhooks');
    PERFORM intracker_data.check_webhook_url(create_webhook.url);
    BEGIN
        INSERT INTO intracker_data.webhooks AS w (project_id, url, event_types, secret, format, created_by)
        VALUES (create_webhook.project_id, create_webhook.url, create_webhook.event_types,
                create_webhook.secret, create_webhook.format, intracker.current_user_id())
        RETURNING w.id, w.project_id, w.url, w.event_types, w.format, w.active, w.signed,
                  w.created_by, w.created_at, w.updated_at
        INTO created;
    EXCEPTION
        WHEN check_violation OR not_null_violation THEN
            GET STACKED DIAGNOSTICS problem = CONSTRAINT_NAME, problem_column = COLUMN_NAME;
            PERFORM intracker_data.explain_violation(problem, problem_column);
            RAISE;
    END;
    RETURN created;
END
$$;
COMMENT ON FUNCTION intracker.create_webhook(uuid, text, text[], text, text) IS
    'Owners: deliver the project''s events matching event_types (''*'', ''todo.*'', ''todo.status_changed'', ...) to url (http or https) as json (the event) or slack ({"text": ...}). With a secret, each request carries X-Intracker-Signature-256: sha256=<hex HMAC-SHA256 of the body>. The secret is never shown again.';

CREATE FUNCTION intracker_data.owned_webhook(webhook_id uuid, action text)
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    project uuid;
BEGIN
    PERFORM intracker_data.require_user();
    SELECT w.project_id INTO project FROM intracker_data.webhooks w WHERE w.id = webhook_id;
    IF project IS NULL OR intracker_data.my_role(project) IS NULL THEN
        RAISE EXCEPTION 'webhook % not found', webhook_id
            USING ERRCODE = 'PT404', HINT = 'The webhook does not exist or is not in a project of yours.';
    END IF;
    PERFORM intracker_data.require_role(project, 'owner', action);
    RETURN project;
END
$$;
COMMENT ON FUNCTION intracker_data.owned_webhook(uuid, text) IS
    'PT404 unless the webhook is in one of the caller''s projects, 42501 unless the caller owns it; returns the project.';

CREATE FUNCTION intracker.set_webhook_active(webhook_id uuid, active boolean)
RETURNS intracker.webhooks
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    changed intracker.webhooks;
BEGIN
    PERFORM intracker_data.owned_webhook(webhook_id, 'manage webhooks');
    IF active IS NULL THEN
        RAISE EXCEPTION 'active must not be null' USING ERRCODE = '22023', HINT = 'Pass true or false.';
    END IF;
    UPDATE intracker_data.webhooks AS w SET active = set_webhook_active.active, updated_at = now()
     WHERE w.id = webhook_id
    RETURNING w.id, w.project_id, w.url, w.event_types, w.format, w.active, w.signed,
              w.created_by, w.created_at, w.updated_at
    INTO changed;
    -- resumed: its waiting deliveries go out again; paused: the deliverer
    -- stops what it already held of them
    PERFORM intracker_data.wake_deliverer();
    RETURN changed;
END
$$;
COMMENT ON FUNCTION intracker.set_webhook_active(uuid, boolean) IS
    'Owners: pause (false) or resume (true) a webhook. A paused webhook gets no new deliveries; the ones already queued wait and go out, in order, when it is resumed (a request already in flight finishes).';

CREATE FUNCTION intracker.delete_webhook(webhook_id uuid)
RETURNS intracker.webhooks
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deleted intracker.webhooks;
BEGIN
    PERFORM intracker_data.owned_webhook(webhook_id, 'manage webhooks');
    PERFORM intracker_data.wake_deliverer();    -- it drops what it held of them
    DELETE FROM intracker_data.webhooks AS w WHERE w.id = webhook_id
    RETURNING w.id, w.project_id, w.url, w.event_types, w.format, w.active, w.signed,
              w.created_by, w.created_at, w.updated_at
    INTO deleted;
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION intracker.delete_webhook(uuid) IS
    'Owners: delete a webhook with its deliveries (pending ones are not sent). Returns the webhook as it was.';

CREATE FUNCTION intracker.redeliver(delivery_id uuid)
RETURNS intracker.webhook_deliveries
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    original intracker_data.deliveries;
    copy_id uuid;
    result intracker.webhook_deliveries;
BEGIN
    PERFORM intracker_data.require_user();
    SELECT d.* INTO original FROM intracker_data.deliveries d WHERE d.id = delivery_id;
    IF original.id IS NULL OR intracker_data.my_role(original.project_id) IS NULL THEN
        RAISE EXCEPTION 'delivery % not found', delivery_id
            USING ERRCODE = 'PT404', HINT = 'The delivery does not exist, was pruned, or is not in a project of yours.';
    END IF;
    PERFORM intracker_data.require_role(original.project_id,
                                        CASE original.kind WHEN 'webhook' THEN 'owner' ELSE 'editor' END,
                                        'redeliver');
    IF original.state IN ('pending', 'failed') THEN
        RAISE EXCEPTION 'delivery % is still being delivered', delivery_id
            USING ERRCODE = '55000',
                  DETAIL = format('Its state is %s, attempt %s.', original.state, original.attempts),
                  HINT = 'Redeliver a delivery once it is delivered or dead.';
    END IF;
    -- A new delivery (new id: the receiver is meant to act on it again) at
    -- the end of its queue.
    INSERT INTO intracker_data.deliveries AS d
           (kind, queue_id, project_id, webhook_id, todo_id, event_seq, event_type, body, redelivery_of)
    VALUES (original.kind, original.queue_id, original.project_id, original.webhook_id, original.todo_id,
            original.event_seq, original.event_type, original.body, original.id)
    RETURNING d.id INTO copy_id;
    PERFORM intracker_data.wake_deliverer();
    SELECT v.* INTO result FROM intracker.webhook_deliveries v WHERE v.id = copy_id;
    IF result.id IS NULL THEN       -- a GitHub call: same columns, other view
        SELECT d.id, d.webhook_id, d.project_id, d.event_seq, d.event_type, d.state, d.attempts, d.last_status,
               d.last_error, d.next_attempt_at, d.duration_ms, d.created_at, d.last_attempt_at, d.delivered_at,
               d.redelivery_of, d.body
          INTO result FROM intracker_data.deliveries d WHERE d.id = copy_id;
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION intracker.redeliver(uuid) IS
    'Send a delivered or dead delivery (or GitHub call) again, as a new delivery with a new id (redelivery_of names the original), after the ones already queued for its webhook. Owners for webhooks, editors for GitHub calls.';

------------------------------------------------------------------------------
-- API: GitHub
------------------------------------------------------------------------------

-- The one writer of github_credentials: stores one credential (token or
-- webhook_secret) of a project for its owner and returns the settings row.
CREATE FUNCTION intracker_data.store_github_credential(project_id uuid, credential text, value text)
RETURNS intracker.github_settings
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    is_token boolean := credential = 'token';
    result intracker.github_settings;
    problem text;
    problem_column text;
BEGIN
    PERFORM intracker_data.require_role(store_github_credential.project_id, 'owner',
                                        'set the GitHub ' || replace(credential, '_', ' '));
    BEGIN
        INSERT INTO intracker_data.github_credentials AS c (project_id, token, webhook_secret, updated_by)
        VALUES (store_github_credential.project_id, CASE WHEN is_token THEN value END,
                CASE WHEN NOT is_token THEN value END, intracker.current_user_id())
        ON CONFLICT ON CONSTRAINT github_credentials_pkey DO UPDATE
           SET token = CASE WHEN is_token THEN excluded.token ELSE c.token END,
               webhook_secret = CASE WHEN is_token THEN c.webhook_secret ELSE excluded.webhook_secret END,
               updated_by = excluded.updated_by, updated_at = now();
    EXCEPTION
        WHEN check_violation THEN
            GET STACKED DIAGNOSTICS problem = CONSTRAINT_NAME, problem_column = COLUMN_NAME;
            PERFORM intracker_data.explain_violation(problem, coalesce(nullif(problem_column, ''), credential));
            RAISE;
    END;
    SELECT s.* INTO result FROM intracker.github_settings s WHERE s.project_id = store_github_credential.project_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION intracker_data.store_github_credential(uuid, text, text) IS
    'Shared body of set_github_token() and set_github_webhook_secret(): owners only; credential is ''token'' or ''webhook_secret''.';

CREATE FUNCTION intracker.set_github_token(project_id uuid, token text)
RETURNS intracker.github_settings
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN intracker_data.store_github_credential(project_id, 'token', token);
COMMENT ON FUNCTION intracker.set_github_token(uuid, text) IS
    'Owners: the GitHub token the worker uses for this project''s repository (NULL removes it). Nobody can read it back; intracker.github_settings shows whether one is set.';

CREATE FUNCTION intracker.set_github_webhook_secret(project_id uuid, secret text)
RETURNS intracker.github_settings
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN intracker_data.store_github_credential(project_id, 'webhook_secret', secret);
COMMENT ON FUNCTION intracker.set_github_webhook_secret(uuid, text) IS
    'Owners: the secret of the GitHub webhook that calls intracker.github_webhook() for this project''s repository (NULL removes it). Nobody can read it back.';

-- The project's repository and token, or 55000 saying what is missing.
CREATE FUNCTION intracker_data.require_github(project_id uuid, need_token boolean)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    repo text;
BEGIN
    PERFORM intracker_data.require_role(require_github.project_id, 'viewer', 'use GitHub sync');
    repo := (SELECT p.github_repo FROM intracker_data.projects p WHERE p.id = require_github.project_id);
    IF repo IS NULL THEN
        RAISE EXCEPTION 'project % has no GitHub repository', project_id
            USING ERRCODE = '55000', HINT = 'Set github_repo with intracker.update_project().';
    END IF;
    IF need_token AND NOT EXISTS (SELECT FROM intracker_data.github_credentials c
                                   WHERE c.project_id = require_github.project_id AND c.token IS NOT NULL) THEN
        RAISE EXCEPTION 'project % has no GitHub token', project_id
            USING ERRCODE = '55000', HINT = 'A project owner can set one with intracker.set_github_token().';
    END IF;
    RETURN repo;
END
$$;
COMMENT ON FUNCTION intracker_data.require_github(uuid, boolean) IS
    'The project''s github_repo for a member of it (PT404 otherwise); 55000 when it (or, with need_token, the token) is not set.';

CREATE FUNCTION intracker.link_github_issue(todo_id uuid, issue_number integer)
RETURNS intracker.todos
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    project uuid := intracker_data.project_of('intracker_data.todos', link_github_issue.todo_id);
    repo text;
    linked intracker.todos;
BEGIN
    PERFORM intracker_data.require_role(project, 'editor', 'link GitHub issues');
    IF issue_number IS NULL OR issue_number <= 0 THEN
        RAISE EXCEPTION 'issue_number must be a positive issue number'
            USING ERRCODE = '22023', DETAIL = format('issue_number is %s.', coalesce(issue_number::text, 'NULL'));
    END IF;
    repo := intracker_data.require_github(project, false);
    UPDATE intracker_data.todos t
       SET github_issue = issue_number,
           github_issue_url = CASE WHEN rtrim(coalesce(current_setting('intracker.github_api_url', true), ''), '/') = 'https://api.github.com'
                                   THEN format('https://github.com/%s/issues/%s', repo, issue_number) END
     WHERE t.id = link_github_issue.todo_id;
    SELECT v.* INTO linked FROM intracker.todos v WHERE v.id = link_github_issue.todo_id;
    RETURN linked;
END
$$;
COMMENT ON FUNCTION intracker.link_github_issue(uuid, integer) IS
    'Editors: link a todo to an existing issue of the project''s repository. From then on the worker closes the issue when the todo becomes done or cancelled and reopens it when the todo is reopened.';

CREATE FUNCTION intracker.create_github_issue(todo_id uuid)
RETURNS intracker.github_calls
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    project uuid;
    todo intracker_data.todos;
    call_id uuid;
    result intracker.github_calls;
BEGIN
    -- As definer RLS does not hide the todo: say "not found" to non-members
    -- before anything else, as project_of() does under RLS.
    PERFORM intracker_data.require_user();
    IF create_github_issue.todo_id IS NULL THEN
        RAISE EXCEPTION 'todo id must not be null' USING ERRCODE = '22023';
    END IF;
    project := (SELECT t.project_id FROM intracker_data.todos t WHERE t.id = create_github_issue.todo_id);
    IF project IS NULL OR intracker_data.my_role(project) IS NULL THEN
        RAISE EXCEPTION 'todo % not found', create_github_issue.todo_id
            USING ERRCODE = 'PT404', HINT = 'The todo does not exist or you are not a member of its project.';
    END IF;
    PERFORM intracker_data.require_role(project, 'editor', 'create GitHub issues');
    PERFORM intracker_data.require_github(project, true);
    SELECT t.* INTO todo FROM intracker_data.todos t WHERE t.id = create_github_issue.todo_id FOR UPDATE;
    IF todo.github_issue IS NOT NULL THEN
        RAISE EXCEPTION 'todo % is already linked to GitHub issue #%', todo.id, todo.github_issue
            USING ERRCODE = '55000';
    END IF;
    IF EXISTS (SELECT FROM intracker_data.deliveries d
                WHERE d.todo_id = todo.id AND d.event_type = 'github.create_issue' AND d.state IN ('pending', 'failed')) THEN
        RAISE EXCEPTION 'a GitHub issue for todo % is already being created', todo.id
            USING ERRCODE = '55000', HINT = 'See intracker.github_calls.';
    END IF;
    INSERT INTO intracker_data.deliveries AS d (kind, queue_id, project_id, todo_id, event_type, body)
    VALUES ('github', project, project, todo.id, 'github.create_issue',
            jsonb_build_object('title', todo.title,
                               'body', concat_ws(E'\n\n', todo.description,
                                                 format('_Tracked in intracker as todo %s._', todo.id)))::text)
    RETURNING d.id INTO call_id;
    PERFORM intracker_data.wake_deliverer();
    SELECT c.* INTO result FROM intracker.github_calls c WHERE c.id = call_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION intracker.create_github_issue(uuid) IS
    'Editors: the worker creates an issue for the todo in the project''s repository and stores its number and URL on the todo. Returns the queued call (see intracker.github_calls).';

-- One inbound change to one todo, with optimistic locking: the version read
-- is written back, so a concurrent change makes this one fail (PT409) and
-- the conflict is recorded instead of silently overwritten.
CREATE FUNCTION intracker_data.apply_github_change(project uuid, event text, action text, issue integer,
                                                   pr integer, target_status text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    todo record;
    outcome text;
    detail text;
    results jsonb := '[]';
BEGIN
    FOR todo IN SELECT t.id, t.status, t.version FROM intracker_data.todos t
                 WHERE t.project_id = project AND t.github_issue = issue ORDER BY t.id LOOP
        detail := NULL;
        IF todo.status = target_status
           OR (target_status = 'todo' AND todo.status NOT IN ('done', 'cancelled')) THEN
            outcome := 'unchanged';
        ELSE
            BEGIN
                UPDATE intracker_data.todos t
                   SET status = target_status, version = todo.version, github_pr = coalesce(pr, t.github_pr)
                 WHERE t.id = todo.id;
                outcome := 'applied';
                detail := format('%s -> %s', todo.status, target_status);
            EXCEPTION
                WHEN SQLSTATE 'PT409' THEN
                    outcome := 'conflict';
                    detail := format('%s (wanted %s -> %s)', SQLERRM, todo.status, target_status);
                WHEN raise_exception OR check_violation OR SQLSTATE '23514' OR SQLSTATE '55000' THEN
                    outcome := 'rejected';
                    detail := SQLERRM;
            END;
        END IF;
        INSERT INTO intracker_data.github_inbound (project_id, event, action, issue_number, pr_number, todo_id, outcome, detail)
        VALUES (project, event, action, issue, pr, todo.id, outcome, detail);
        results := results || jsonb_build_object('todo_id', todo.id, 'outcome', outcome, 'detail', detail);
    END LOOP;
    IF results = '[]' THEN
        INSERT INTO intracker_data.github_inbound (project_id, event, action, issue_number, pr_number, outcome)
        VALUES (project, event, action, issue, pr, 'no linked todo');
        results := jsonb_build_array(jsonb_build_object('issue', issue, 'outcome', 'no linked todo'));
    END IF;
    RETURN results;
END
$$;
COMMENT ON FUNCTION intracker_data.apply_github_change(uuid, text, text, integer, integer, text) IS
    'github_webhook(): move the todos linked to an issue to target_status under optimistic locking; records each outcome in github_inbound.';

CREATE FUNCTION intracker.github_webhook(payload jsonb, signature text DEFAULT NULL, event text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    repo text := payload #>> '{repository,full_name}';
    action text := payload ->> 'action';
    headers jsonb := nullif(current_setting('request.headers', true), '')::jsonb;
    project record;
    verified uuid[] := '{}';
    results jsonb := '[]';
    pr integer;
    issue integer;
    pr_text text;
BEGIN
    -- Through PostgREST the signature and event arrive as headers.
    signature := coalesce(signature, headers ->> 'x-hub-signature-256');
    event := coalesce(event, headers ->> 'x-github-event');
    IF repo IS NULL OR event IS NULL THEN
        RAISE EXCEPTION 'not a GitHub webhook delivery'
            USING ERRCODE = '22023',
                  DETAIL = format('repository.full_name is %s, event is %s.', coalesce(repo, 'missing'), coalesce(event, 'missing')),
                  HINT = 'Pass the X-GitHub-Event header as event and the X-Hub-Signature-256 header as signature.';
    END IF;
    FOR project IN SELECT p.id, c.webhook_secret FROM intracker_data.projects p
                     JOIN intracker_data.github_credentials c ON c.project_id = p.id
                    WHERE lower(p.github_repo) = lower(repo) AND c.webhook_secret IS NOT NULL LOOP
        IF intracker_data.signature_matches(project.webhook_secret, payload::text, signature) THEN
            verified := verified || project.id;
        END IF;
    END LOOP;
    IF cardinality(verified) = 0 THEN
        RAISE EXCEPTION 'invalid webhook signature'
            USING ERRCODE = 'PT401',
                  DETAIL = format('No project linked to %s has a GitHub webhook secret that signs this payload.', repo),
                  HINT = 'Set the same secret in GitHub and with intracker.set_github_webhook_secret(); the signature covers the payload''s jsonb text.';
    END IF;

    FOR i IN 1 .. cardinality(verified) LOOP
        IF event = 'issues' AND action IN ('closed', 'reopened') THEN
            issue := (payload #>> '{issue,number}')::integer;
            results := results || intracker_data.apply_github_change(
                verified[i], event, action, issue, NULL,
                CASE WHEN action = 'reopened' THEN 'todo'
                     WHEN payload #>> '{issue,state_reason}' = 'not_planned' THEN 'cancelled'
                     ELSE 'done' END);
        ELSIF event = 'pull_request' AND action = 'closed' AND (payload #>> '{pull_request,merged}')::boolean THEN
            pr := (payload #>> '{pull_request,number}')::integer;
            pr_text := concat_ws(E'\n', payload #>> '{pull_request,title}', payload #>> '{pull_request,body}');
            FOR issue IN SELECT DISTINCT m[1]::integer
                           FROM regexp_matches(pr_text, '\m(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+#([0-9]{1,9})\M', 'gi') AS m LOOP
                results := results || intracker_data.apply_github_change(verified[i], event, action, issue, pr, 'done');
            END LOOP;
            IF results = '[]' THEN
                INSERT INTO intracker_data.github_inbound (project_id, event, action, pr_number, outcome, detail)
                VALUES (verified[i], event, action, pr, 'ignored', 'the pull request names no issue with "Fixes #N"');
            END IF;
        ELSE
            INSERT INTO intracker_data.github_inbound (project_id, event, action, issue_number, pr_number, outcome)
            VALUES (verified[i], event, action, (payload #>> '{issue,number}')::integer,
                    (payload #>> '{pull_request,number}')::integer, 'ignored');
        END IF;
    END LOOP;
    RETURN jsonb_build_object('event', event, 'action', action, 'projects', to_jsonb(verified), 'results', results);
END
$$;
COMMENT ON FUNCTION intracker.github_webhook(jsonb, text, text) IS
    'Inbound GitHub webhook (PostgREST RPC): verifies signature (X-Hub-Signature-256, sha256=<hex HMAC>) with the GitHub webhook secret of the projects linked to payload.repository.full_name (PT401 when none matches), then applies: issues closed -> linked todos done (cancelled when not planned), reopened -> todo; a merged pull request saying "Fixes #N" -> the todos linked to #N done, with the PR recorded. Every outcome, conflicts included, is kept in intracker.github_inbound. signature and event default to the request''s X-Hub-Signature-256 and X-GitHub-Event headers.';

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION intracker_data.valid_event_patterns(text[]), intracker_data.event_matches(text, text[]),
    intracker_data.signature_matches(text, text, text), intracker_data.check_webhook_url(text),
    intracker_data.wake_deliverer(), intracker_data.event_json(intracker_data.events),
    intracker_data.slack_text(intracker_data.events), intracker_data.fan_out_events(bigint, bigint),
    intracker.create_webhook(uuid, text, text[], text, text), intracker_data.owned_webhook(uuid, text),
    intracker.set_webhook_active(uuid, boolean), intracker.delete_webhook(uuid), intracker.redeliver(uuid),
    intracker.set_github_token(uuid, text), intracker.set_github_webhook_secret(uuid, text),
    intracker_data.store_github_credential(uuid, text, text),
    intracker_data.require_github(uuid, boolean), intracker.link_github_issue(uuid, integer),
    intracker.create_github_issue(uuid), intracker_data.apply_github_change(uuid, text, text, integer, integer, text),
    intracker.github_webhook(jsonb, text, text), intracker_data.deliverer_state(),
    intracker_data.delivery_backlog() FROM PUBLIC;
REVOKE ALL ON intracker.deliverer_status, intracker.webhooks, intracker.webhook_deliveries, intracker.github_calls,
    intracker.github_inbound, intracker.github_settings FROM PUBLIC;
GRANT SELECT ON intracker.deliverer_status, intracker.webhooks, intracker.webhook_deliveries, intracker.github_calls,
    intracker.github_inbound, intracker.github_settings TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.valid_event_patterns(text[]), intracker_data.event_matches(text, text[]),
    intracker_data.check_webhook_url(text),
    intracker.create_webhook(uuid, text, text[], text, text), intracker.set_webhook_active(uuid, boolean),
    intracker.delete_webhook(uuid), intracker.redeliver(uuid),
    intracker.set_github_token(uuid, text), intracker.set_github_webhook_secret(uuid, text),
    intracker.link_github_issue(uuid, integer), intracker.create_github_issue(uuid),
    intracker_data.require_github(uuid, boolean), intracker_data.deliverer_state(),
    intracker_data.delivery_backlog(),
    intracker.github_webhook(jsonb, text, text) TO intracker_user;
