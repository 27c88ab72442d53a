-- Webhooks, and the deliveries that carry events to them (and GitHub calls,
-- 92_github.sql, through the same queue).
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

-- '*', 'todo.*' or an exact type such as 'todo.status_changed'.  A NULL
-- element is invalid (bool_and would skip it and say true).
CREATE FUNCTION intracker_data.valid_event_patterns(patterns text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT pg_catalog.bool_and(p IS NOT NULL
                               AND p ~ ('^(\*|(project|feature|todo)\.(\*|created|updated|assigned|status_changed|deleted)'
                                        '|member\.(\*|added|updated|removed)|dependency\.(\*|added|removed)'
                                        '|session\.(\*|started|updated|ended|deleted)|conflict\.(\*|rejected)'
                                        '|comment\.(\*|added|updated|deleted)|document\.(\*|created|updated|deleted)'
                                        '|webhook\.(\*|disabled))$'))
      FROM pg_catalog.unnest(patterns) AS p;
END;
COMMENT ON FUNCTION intracker_data.valid_event_patterns(text[]) IS
    'True when every pattern is ''*'', ''entity.*'' or an event type that exists (entity.action); false when one is NULL.';

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
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- Disabled by the deliverer after a run of failures (0.6): inactive, and
    -- why.  set_webhook_active(id, true) clears both.
    disabled_at     timestamptz,
    disabled_reason text,
    CONSTRAINT webhooks_disabled_inactive CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL)
                                                 AND (disabled_at IS NULL OR NOT active))
);
CREATE INDEX webhooks_project_id_idx ON intracker_data.webhooks (project_id);
CREATE INDEX webhooks_created_by_idx ON intracker_data.webhooks (created_by);
COMMENT ON TABLE intracker_data.webhooks IS
    'HTTP endpoints that receive a project''s events. secret is readable by no API role.';
COMMENT ON CONSTRAINT webhooks_url_http ON intracker_data.webhooks IS 'url must be an http:// or https:// URL of at most 2000 characters, without spaces.';
COMMENT ON CONSTRAINT webhooks_event_types_valid ON intracker_data.webhooks IS 'event_types must hold 1 to 64 patterns, none of them null, each ''*'', ''entity.*'' (e.g. ''todo.*'') or an event type (e.g. ''todo.status_changed'').';
COMMENT ON CONSTRAINT webhooks_disabled_inactive ON intracker_data.webhooks IS 'disabled_at and disabled_reason are set together, and only on an inactive webhook.';
COMMENT ON CONSTRAINT webhooks_secret_length ON intracker_data.webhooks IS 'secret must be 1 to 1000 characters (or NULL for unsigned deliveries).';
COMMENT ON CONSTRAINT webhooks_format_valid ON intracker_data.webhooks IS 'format must be json (the event) or slack (a {"text": ...} message).';

CREATE SEQUENCE intracker_data.delivery_position_seq;
COMMENT ON SEQUENCE intracker_data.delivery_position_seq IS
    'Order of deliveries within their queue.';

CREATE TABLE intracker_data.deliveries (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    position        bigint NOT NULL DEFAULT pg_catalog.nextval('intracker_data.delivery_position_seq'),
    kind            text NOT NULL
                    CONSTRAINT deliveries_kind_valid CHECK (kind IN ('webhook', 'github')),
    -- The ordered queue: the webhook, or the project for its GitHub calls.
    -- No foreign keys: their checks would lock the project, webhook and
    -- todo rows (FOR KEY SHARE) in the publisher's fan-out, which would
    -- then wait for any user holding one of them (0.6).  Triggers below
    -- delete the deliveries of deleted rows instead.
    queue_id        uuid NOT NULL,
    project_id      uuid NOT NULL,
    webhook_id      uuid,
    todo_id         uuid,
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
    -- A GitHub call: the repository it was queued for (0.6), whatever the
    -- project's repository is when it is sent.
    github_repo     text,
    CONSTRAINT deliveries_target CHECK (CASE kind WHEN 'webhook' THEN webhook_id = queue_id
                                                  ELSE todo_id IS NOT NULL AND queue_id = project_id END),
    CONSTRAINT deliveries_github_repo_github_only CHECK (kind = 'github' OR github_repo IS NULL)
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
COMMENT ON CONSTRAINT deliveries_github_repo_github_only ON intracker_data.deliveries IS 'github_repo is set on GitHub calls only.';
COMMENT ON COLUMN intracker_data.deliveries.github_repo IS
    'GitHub calls: the repository (owner/name) the call was queued for; it is sent there even if the project''s repository changed since.';
COMMENT ON COLUMN intracker_data.deliveries.state IS
    'pending (not tried yet), failed (retried at next_attempt_at), delivered, dead (gave up).';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.webhooks', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.deliveries', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.delivery_position_seq', '');

-- Members see GitHub calls; only owners see webhooks and their deliveries
-- (a webhook URL is often itself a credential, e.g. Slack's).
ALTER TABLE intracker_data.webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY webhooks_select ON intracker_data.webhooks FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));
CREATE POLICY deliveries_select ON intracker_data.deliveries FOR SELECT
    USING (CASE kind WHEN 'webhook' THEN project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[])
                     ELSE project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]) END);

CREATE VIEW intracker.webhooks WITH (security_invoker = true) AS
SELECT w.id, w.project_id, w.url, w.event_types, w.format, w.active, w.signed,
       w.created_by, w.created_at, w.updated_at, w.disabled_at, w.disabled_reason
  FROM intracker_data.webhooks w;
COMMENT ON VIEW intracker.webhooks IS
    'Webhooks of the projects you own (never their secrets). Manage them with create_webhook(), set_webhook_active() and delete_webhook().';
COMMENT ON COLUMN intracker.webhooks.disabled_at IS
    'When the deliverer disabled the webhook after a run of failures (intracker.webhook_disable_after_dead, intracker.webhook_disable_after_failing); NULL unless disabled. set_webhook_active(id, true) enables it again.';
COMMENT ON COLUMN intracker.webhooks.disabled_reason IS 'Why the deliverer disabled the webhook (the run of failures); NULL unless disabled.';
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

CREATE FUNCTION intracker_data.check_webhook_url(url text)
RETURNS void
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'intracker_check_webhook_url';
COMMENT ON FUNCTION intracker_data.check_webhook_url(text) IS
    'Raises 22023 unless url is a well-formed http(s) URL, 42501 unless its host is in intracker.http_allowed_hosts (when that is set), and 42501 (refused by policy) when its host is a loopback, private or other non-public address while intracker.http_allow_private_networks is off. The deliverer checks again before every request, and checks the address it connects to.';

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
    'This database''s deliverer, the process that sends webhooks and GitHub calls: pid, state (starting / idle / delivering / retrying after error / waiting for extension / stopped; where none serves this database: serving another database / waiting for database / not served: intracker.max_databases reached / not running), requests in flight, deliveries pending and waiting for a retry, and since it started: attempts, delivered, dead, last error.';

------------------------------------------------------------------------------
-- Turning events into deliveries (called by the publisher)
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
        WHEN 'document' THEN (SELECT d.title FROM intracker_data.documents d WHERE d.id = e.entity_id)
        WHEN 'comment' THEN coalesce(
            (SELECT coalesce(t.title, f.title, d.title) FROM intracker_data.comments c
               LEFT JOIN intracker_data.todos t ON t.id = c.todo_id
               LEFT JOIN intracker_data.features f ON f.id = c.feature_id
               LEFT JOIN intracker_data.documents d ON d.id = c.document_id
              WHERE c.id = e.entity_id),
            (SELECT t.title FROM intracker_data.todos t
              WHERE t.id = coalesce(e.changes #>> '{todo_id,new}', e.changes #>> '{todo_id,old}')::uuid),
            (SELECT f.title FROM intracker_data.features f
              WHERE f.id = coalesce(e.changes #>> '{feature_id,new}', e.changes #>> '{feature_id,old}')::uuid),
            (SELECT d.title FROM intracker_data.documents d
              WHERE d.id = coalesce(e.changes #>> '{document_id,new}', e.changes #>> '{document_id,old}')::uuid),
            'a deleted item')
        END;
    title := coalesce(title, e.changes #>> '{title,new}', e.changes #>> '{title,old}', 'untitled');
    IF entity = 'dependency' THEN
        other := coalesce((SELECT t.title FROM intracker_data.todos t
                            WHERE t.id = coalesce(e.changes #>> '{blocked_by,new}', e.changes #>> '{blocked_by,old}')::uuid),
                          'another todo');
    END IF;

    message := CASE
        WHEN entity IN ('todo', 'feature', 'project', 'document') THEN CASE action
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
        WHEN entity = 'comment' THEN
            format('%s %s on *%s*%s', who,
                   CASE action WHEN 'added' THEN 'commented' WHEN 'deleted' THEN 'deleted a comment'
                               ELSE 'edited a comment' END,
                   title,
                   CASE WHEN action = 'deleted' THEN ''
                        ELSE ': ' || left(coalesce(e.changes #>> '{body,new}', ''), 200)
                             || CASE WHEN length(coalesce(e.changes #>> '{body,new}', '')) > 200 THEN '…' ELSE '' END END)
        WHEN entity = 'session' THEN
            format('%s %s on *%s*%s', who,
                   CASE action WHEN 'started' THEN 'started a work session' WHEN 'ended' THEN 'ended a work session'
                               WHEN 'deleted' THEN 'deleted a work session' ELSE 'updated a work session' END,
                   project,
                   coalesce(': ' || CASE action WHEN 'started' THEN e.changes #>> '{goal,new}'
                                                WHEN 'ended' THEN e.changes #>> '{summary,new}' END, ''))
        WHEN e.type = 'webhook.disabled' THEN
            format('%s disabled a webhook of *%s*: %s', who, project,
                   coalesce(e.changes #>> '{disabled_reason,new}', 'it kept failing'))
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
       AND e.type NOT LIKE 'notification.%'    -- a user's inbox is not the project's news
     ORDER BY e.seq, w.id;
    GET DIAGNOSTICS webhook_deliveries = ROW_COUNT;

    -- A linked todo that became done/cancelled closes its issue; one that
    -- left done/cancelled reopens it.  An issue still being created counts
    -- as linked: its queue sends the creation first, and the call goes to
    -- the creation's repository (the issue number will be one of it);
    -- otherwise to the project's repository as it is now, kept on the row.
    INSERT INTO intracker_data.deliveries (kind, queue_id, project_id, todo_id, event_seq, event_type, body,
                                           github_repo)
    SELECT 'github', e.project_id, e.project_id, e.entity_id, e.seq,
           CASE WHEN s.closes THEN 'github.close_issue' ELSE 'github.reopen_issue' END,
           CASE WHEN NOT s.closes THEN '{"state": "open"}'
                ELSE jsonb_build_object('state', 'closed',
                                        'state_reason', CASE e.changes #>> '{status,new}' WHEN 'done' THEN 'completed'
                                                                                         ELSE 'not_planned' END)::text
           END,
           coalesce((SELECT d.github_repo FROM intracker_data.deliveries d
                      WHERE d.todo_id = t.id AND d.event_type = 'github.create_issue'
                        AND d.state IN ('pending', 'failed')
                      ORDER BY d.position DESC LIMIT 1),
                    (SELECT p.github_repo FROM intracker_data.projects p WHERE p.id = e.project_id))
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
    'Called in the transaction that publishes events after_seq+1 .. last_seq: queues a delivery per matching active webhook and a GitHub close/reopen call (for the project''s repository now, or that of the issue still being created) per linked todo closed or reopened. Takes no row lock (the deliveries table has no foreign keys). Returns how many.';

------------------------------------------------------------------------------
-- Deleted rows, and webhooks that keep failing (the deliverer's bookkeeping)
------------------------------------------------------------------------------

-- The projects and webhooks deleted in the last hour, so that the
-- deliverer drops exactly the deliveries a delete left behind (a restore
-- loads deliveries before the webhooks and projects they name: a parent
-- missing for a moment is no orphan).
CREATE TABLE intracker_data.deleted_delivery_parents (
    parent_id       uuid PRIMARY KEY,
    deleted_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE intracker_data.deleted_delivery_parents IS
    'Projects and webhooks deleted in the last hour, for the deliverer only: it drops the deliveries the publisher queued for them while the delete was in progress (deliverer_drop_orphans). Transient (derived data, not dumped).';
ALTER TABLE intracker_data.deleted_delivery_parents ENABLE ROW LEVEL SECURITY;

-- Deleting a project, webhook or todo deletes its deliveries in the same
-- transaction (what ON DELETE CASCADE did until 0.5).  A delivery that the
-- publisher queues meanwhile, from a snapshot that still saw the row, is
-- left behind: the deliverer drops such orphans (deliverer_drop_orphans)
-- and marks a GitHub call of a deleted todo dead.  Statement-level, so that
-- deleting a project with thousands of todos is one DELETE per table.
-- SECURITY DEFINER: users may delete these rows, not deliveries.
CREATE FUNCTION intracker_data.drop_deliveries_of_deleted()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_TABLE_NAME = 'projects' THEN
        DELETE FROM intracker_data.deliveries d WHERE d.project_id IN (SELECT g.id FROM gone g);
    ELSIF TG_TABLE_NAME = 'webhooks' THEN
        DELETE FROM intracker_data.deliveries d WHERE d.webhook_id IN (SELECT g.id FROM gone g);
    ELSE
        DELETE FROM intracker_data.deliveries d WHERE d.todo_id IN (SELECT g.id FROM gone g);
    END IF;
    IF TG_TABLE_NAME <> 'todos' THEN
        INSERT INTO intracker_data.deleted_delivery_parents (parent_id)
        SELECT g.id FROM gone g
        ON CONFLICT DO NOTHING;
        -- at commit: it stops what it held of them and drops orphans
        PERFORM intracker_data.wake_deliverer();
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.drop_deliveries_of_deleted() IS
    'Trigger (AFTER DELETE, per statement, on projects, webhooks and todos): deletes the deliveries of the deleted rows.';
CREATE TRIGGER projects_drop_deliveries AFTER DELETE ON intracker_data.projects
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION intracker_data.drop_deliveries_of_deleted();
CREATE TRIGGER webhooks_drop_deliveries AFTER DELETE ON intracker_data.webhooks
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION intracker_data.drop_deliveries_of_deleted();
CREATE TRIGGER todos_drop_deliveries AFTER DELETE ON intracker_data.todos
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION intracker_data.drop_deliveries_of_deleted();

-- Deliveries of a webhook or project deleted in the last hour
-- (deleted_delivery_parents) are dropped: deleting it meant that, and the
-- publisher's transaction that queued them while the delete was in
-- progress has long committed within the hour.  Only those: a parent
-- missing for another reason (a restore loads deliveries before webhooks
-- and projects) is none of the sweep's business.  The cost follows the
-- deletions, not the deliveries (an index lookup per deleted parent).  Rows
-- locked meanwhile (a user's delete in progress) are left to it.  Health
-- rows of deleted webhooks go too.  A GitHub call of a deleted todo is not
-- looked for here: the deliverer makes it dead ("the todo was deleted") and
-- retention prunes it.
CREATE FUNCTION intracker_data.deliverer_drop_orphans()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dropped integer;
BEGIN
    DELETE FROM intracker_data.deliveries d
     WHERE d.id IN (SELECT o.id FROM intracker_data.deleted_delivery_parents g
                      JOIN intracker_data.deliveries o ON o.webhook_id = g.parent_id OR o.project_id = g.parent_id
                       FOR UPDATE OF o SKIP LOCKED);
    GET DIAGNOSTICS dropped = ROW_COUNT;
    DELETE FROM intracker_data.deleted_delivery_parents g WHERE g.deleted_at < now() - interval '1 hour';
    DELETE FROM intracker_data.webhook_health h
     WHERE NOT EXISTS (SELECT FROM intracker_data.webhooks w WHERE w.id = h.webhook_id);
    RETURN dropped;
END
$$;
COMMENT ON FUNCTION intracker_data.deliverer_drop_orphans() IS
    'The deliverer''s: drops the deliveries of webhooks and projects that were deleted (queued by the publisher while the delete was in progress); returns how many.';

-- A webhook whose endpoint keeps failing is disabled, as Stripe and Shopify
-- do, so that its queue cannot grow without bound: after
-- intracker.webhook_disable_after_dead dead deliveries in a row, or once
-- every attempt has failed for intracker.webhook_disable_after_failing.
-- The run is counted here, by the deliverer only: a user can hold no lock
-- on these rows (set_webhook_active and delete_webhook never write them),
-- so recording an outcome never waits for a user.  The counts belong to
-- one activation of the webhook, since = its updated_at: resuming or
-- pausing it starts them afresh.  A row exists while the webhook fails; a
-- delivered delivery deletes it.
CREATE TABLE intracker_data.webhook_health (
    webhook_id      uuid PRIMARY KEY,
    since           timestamptz NOT NULL,
    dead_in_a_row   integer NOT NULL DEFAULT 0,
    failing_since   timestamptz NOT NULL,
    last_failure_at timestamptz NOT NULL,
    disable_reason  text
);
COMMENT ON TABLE intracker_data.webhook_health IS
    'Webhooks that are failing, for the deliverer only: dead deliveries in a row and since when every attempt failed, counted since the webhook''s updated_at (since); disable_reason once a limit is reached and until the webhook is disabled. The deliverer''s running count (derived data, not dumped: a restore starts the counts afresh).';
COMMENT ON COLUMN intracker_data.webhook_health.since IS
    'The webhook''s updated_at the counts belong to; set_webhook_active() changes it, which starts them afresh.';
ALTER TABLE intracker_data.webhook_health ENABLE ROW LEVEL SECURITY;

-- What the attempts just recorded came to, for the active webhooks among
-- them: delivery ids, states and times in the order they happened.
CREATE FUNCTION intracker_data.webhook_outcomes(delivery_ids uuid[], states text[], attempted_at timestamptz[])
RETURNS TABLE (webhook_id uuid, since timestamptz, state text, attempted timestamptz, n bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT d.webhook_id, w.updated_at, o.state, o.attempted, o.n
      FROM ROWS FROM (pg_catalog.unnest(delivery_ids), pg_catalog.unnest(states), pg_catalog.unnest(attempted_at))
           WITH ORDINALITY AS o (id, state, attempted, n)
      JOIN intracker_data.deliveries d ON d.id = o.id AND d.kind = 'webhook'
      JOIN intracker_data.webhooks w ON w.id = d.webhook_id AND w.active;
END;
COMMENT ON FUNCTION intracker_data.webhook_outcomes(uuid[], text[], timestamptz[]) IS
    'deliverer_note_outcomes(): the recorded attempts of active webhooks, with the webhook and its updated_at, in order (n).';

-- Count the run of failures of each webhook among the recorded attempts;
-- returns how many webhooks have reached a limit and wait to be disabled
-- (deliverer_disable_webhooks).  dead_limit or failing_secs 0 turns that
-- rule off.
CREATE FUNCTION intracker_data.deliverer_note_outcomes(delivery_ids uuid[], states text[], attempted_at timestamptz[],
                                                       dead_limit integer, failing_secs integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    waiting integer;
BEGIN
    -- A delivered delivery ends the run: only what failed after it counts.
    DELETE FROM intracker_data.webhook_health h
     WHERE h.webhook_id IN (SELECT o.webhook_id
                              FROM intracker_data.webhook_outcomes(delivery_ids, states, attempted_at) o
                             WHERE o.state = 'delivered');
    INSERT INTO intracker_data.webhook_health AS h (webhook_id, since, dead_in_a_row, failing_since, last_failure_at)
    SELECT f.webhook_id, f.since, count(*) FILTER (WHERE f.state = 'dead'), min(f.attempted), max(f.attempted)
      FROM (SELECT o.webhook_id, o.since, o.state, o.attempted, o.n,
                   max(o.n) FILTER (WHERE o.state = 'delivered') OVER (PARTITION BY o.webhook_id) AS last_delivered
              FROM intracker_data.webhook_outcomes(delivery_ids, states, attempted_at) o) f
     WHERE f.state IN ('failed', 'dead') AND f.n > coalesce(f.last_delivered, 0)
     GROUP BY f.webhook_id, f.since
    ON CONFLICT (webhook_id) DO UPDATE
       SET dead_in_a_row = CASE WHEN h.since = excluded.since THEN h.dead_in_a_row ELSE 0 END + excluded.dead_in_a_row,
           failing_since = CASE WHEN h.since = excluded.since THEN h.failing_since ELSE excluded.failing_since END,
           disable_reason = CASE WHEN h.since = excluded.since THEN h.disable_reason END,
           last_failure_at = excluded.last_failure_at,
           since = excluded.since;

    UPDATE intracker_data.webhook_health h
       SET disable_reason = CASE WHEN dead_limit > 0 AND h.dead_in_a_row >= dead_limit
                                 THEN format('%s deliveries in a row were dead (intracker.webhook_disable_after_dead is %s)',
                                             h.dead_in_a_row, dead_limit)
                                 ELSE format('every delivery attempt failed for %s s or more (intracker.webhook_disable_after_failing is %s s)',
                                             failing_secs, failing_secs) END
     WHERE h.disable_reason IS NULL
       AND ((dead_limit > 0 AND h.dead_in_a_row >= dead_limit)
            OR (failing_secs > 0 AND h.last_failure_at - h.failing_since >= make_interval(secs => failing_secs)));

    SELECT count(*) INTO waiting FROM intracker_data.webhook_health h WHERE h.disable_reason IS NOT NULL;
    RETURN waiting;
END
$$;
COMMENT ON FUNCTION intracker_data.deliverer_note_outcomes(uuid[], text[], timestamptz[], integer, integer) IS
    'The deliverer''s, after recording attempts: counts each active webhook''s run of failures (dead deliveries in a row, time since every attempt failed) in webhook_health and marks those past a limit; returns how many wait to be disabled.';

-- Disable the webhooks that reached a limit: inactive, disabled_at and
-- disabled_reason set, their pending deliveries dead with the reason (so
-- that retention prunes them), and a webhook.disabled event in the
-- webhook's project.  A webhook row a user holds locked (an open
-- set_webhook_active or delete_webhook) is skipped and tried again in a
-- later round: the deliverer never waits for a user.  A webhook resumed,
-- paused or deleted since the limit was reached is left alone.
CREATE FUNCTION intracker_data.deliverer_disable_webhooks(OUT disabled integer, OUT waiting integer)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    due record;
    hook intracker_data.webhooks;
BEGIN
    disabled := 0;
    waiting := 0;
    FOR due IN SELECT h.webhook_id, h.since, h.disable_reason FROM intracker_data.webhook_health h
                WHERE h.disable_reason IS NOT NULL ORDER BY h.webhook_id LOOP
        SELECT w.* INTO hook FROM intracker_data.webhooks w WHERE w.id = due.webhook_id FOR UPDATE SKIP LOCKED;
        IF NOT FOUND AND EXISTS (SELECT FROM intracker_data.webhooks w WHERE w.id = due.webhook_id) THEN
            waiting := waiting + 1;
            CONTINUE;
        END IF;
        IF FOUND AND hook.active AND hook.updated_at = due.since THEN
            UPDATE intracker_data.webhooks w
               SET active = false, disabled_at = now(), disabled_reason = due.disable_reason, updated_at = now()
             WHERE w.id = hook.id;
            UPDATE intracker_data.deliveries d
               SET state = 'dead', last_error = 'the webhook was disabled: ' || due.disable_reason
             WHERE d.id IN (SELECT p.id FROM intracker_data.deliveries p
                             WHERE p.queue_id = hook.id AND p.state IN ('pending', 'failed')
                               FOR UPDATE SKIP LOCKED);
            INSERT INTO intracker_data.outbox (type, project_id, entity_id, changes)
            VALUES ('webhook.disabled', hook.project_id, hook.id,
                    jsonb_build_object('active', jsonb_build_object('old', true, 'new', false),
                                       'disabled_reason', jsonb_build_object('old', NULL, 'new', due.disable_reason)));
            disabled := disabled + 1;
        END IF;
        -- disabled, or no longer the activation the counts were about
        DELETE FROM intracker_data.webhook_health h WHERE h.webhook_id = due.webhook_id;
    END LOOP;
END
$$;
COMMENT ON FUNCTION intracker_data.deliverer_disable_webhooks() IS
    'The deliverer''s: disables the webhooks webhook_health marked (inactive, disabled_at, disabled_reason; pending deliveries dead; a webhook.disabled event), skipping rows a user holds locked; returns how many were disabled and how many wait for a lock.';

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
                  w.created_by, w.created_at, w.updated_at, w.disabled_at, w.disabled_reason
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
    'Owners: deliver the project''s events matching event_types (''*'', ''todo.*'', ''todo.status_changed'', ''comment.*'', ...; never notifications) to url (http or https) as json (the event) or slack ({"text": ...}). With a secret, each request carries X-Intracker-Signature-256: sha256=<hex HMAC-SHA256 of the body>. The secret is never shown again.';

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
    -- Enabling clears a disable; a new updated_at also starts the
    -- deliverer's count of failures afresh (webhook_health.since).
    UPDATE intracker_data.webhooks AS w
       SET active = set_webhook_active.active, updated_at = now(),
           disabled_at = CASE WHEN set_webhook_active.active THEN NULL ELSE w.disabled_at END,
           disabled_reason = CASE WHEN set_webhook_active.active THEN NULL ELSE w.disabled_reason END
     WHERE w.id = webhook_id
    RETURNING w.id, w.project_id, w.url, w.event_types, w.format, w.active, w.signed,
              w.created_by, w.created_at, w.updated_at, w.disabled_at, w.disabled_reason
    INTO changed;
    -- resumed: its waiting deliveries go out again; paused: the deliverer
    -- stops what it already held of them
    PERFORM intracker_data.wake_deliverer();
    RETURN changed;
END
$$;
COMMENT ON FUNCTION intracker.set_webhook_active(uuid, boolean) IS
    'Owners: pause (false) or resume (true) a webhook. A paused webhook gets no new deliveries; the ones already queued wait and go out, in order, when it is resumed (a request already in flight finishes). Resuming a webhook the deliverer disabled clears disabled_at and disabled_reason and starts its count of failures afresh.';

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
              w.created_by, w.created_at, w.updated_at, w.disabled_at, w.disabled_reason
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
    PERFORM intracker_data.require_writable_identity();
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
           (kind, queue_id, project_id, webhook_id, todo_id, event_seq, event_type, body, redelivery_of,
            github_repo)
    VALUES (original.kind, original.queue_id, original.project_id, original.webhook_id, original.todo_id,
            original.event_seq, original.event_type, original.body, original.id, original.github_repo)
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
    'Send a delivered or dead delivery (or GitHub call) again, as a new delivery with a new id (redelivery_of names the original), after the ones already queued for its webhook. A GitHub call goes to the repository of the original. Owners for webhooks, editors for GitHub calls.';

-- Never the secret column: API roles read webhooks through the column list.
GRANT SELECT (id, project_id, url, event_types, signed, format, active, created_by, created_at, updated_at,
              disabled_at, disabled_reason)
    ON intracker_data.webhooks TO intracker_user;
GRANT SELECT ON intracker_data.deliveries, intracker.webhooks, intracker.webhook_deliveries,
    intracker.deliverer_status TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.deliverer_state(), intracker_data.delivery_backlog(),
    intracker.create_webhook(uuid, text, text[], text, text), intracker.set_webhook_active(uuid, boolean),
    intracker.delete_webhook(uuid), intracker.redeliver(uuid) TO intracker_user;
