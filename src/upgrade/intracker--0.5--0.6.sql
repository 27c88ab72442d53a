-- intracker 0.5 -> 0.6: the layout release.  The install script of 0.6 is
-- built from the current definitions (src/sql/); this script brings a 0.5
-- installation to exactly the same catalog, which test/t/013_upgrade.pl
-- checks object by object.

\echo Use "ALTER EXTENSION intracker UPDATE TO '0.6'" to load this file. \quit

-- Every API call reads intracker_data.users first (require_user): taking it
-- before anything else makes concurrent writers wait for this update
-- instead of deadlocking with it half-way (a writer holding users and
-- waiting for a table the update already altered).
LOCK TABLE intracker_data.users IN ACCESS EXCLUSIVE MODE;

-- The three processes are the supervisor, the publisher and the deliverer;
-- the comments say which one does what ("the worker" said it of two).
COMMENT ON FUNCTION intracker_data.publish_pending_events() IS
    'When no publisher serves this database (library not preloaded, or intracker.database names another), publishes pending events (without NOTIFY) so that events_since() sees them. Returns how many.';
COMMENT ON FUNCTION intracker_data.check_webhook_url(text) IS
    'Raises 22023 unless url is a well-formed http(s) URL, 42501 unless its host is in intracker.http_allowed_hosts (when that is set). The deliverer checks again before every request.';
COMMENT ON TABLE intracker_data.github_credentials IS
    'GitHub token (for the deliverer''s API calls) and webhook secret (to verify inbound deliveries) of a project. Set by owners with set_github_token() and set_github_webhook_secret(); never readable through the API.';
COMMENT ON FUNCTION intracker.set_github_token(uuid, text) IS
    'Owners: the GitHub token the deliverer uses for this project''s repository (NULL removes it). Nobody can read it back; intracker.github_settings shows whether one is set.';
COMMENT ON FUNCTION intracker.link_github_issue(uuid, integer) IS
    'Editors: link a todo to an existing issue of the project''s repository. From then on the deliverer closes the issue when the todo becomes done or cancelled and reopens it when the todo is reopened.';
COMMENT ON FUNCTION intracker.create_github_issue(uuid) IS
    'Editors: the deliverer creates an issue for the todo in the project''s repository and stores its number and URL on the todo. Returns the queued call (see intracker.github_calls).';
-- 0.3 added the progress counters to what verify_counters checks.
COMMENT ON FUNCTION intracker.verify_counters(uuid) IS
    'Recompute every incrementally maintained counter (member load, claim order, progress) from scratch for your projects; returns one row per counter that drifted, none when all agree.';

-- The dependency cycle check visits each reachable todo once (0.5 walked
-- every path, exponential through shared blockers) and keeps its DETAIL
-- short.
CREATE OR REPLACE FUNCTION intracker_data.todo_dependencies_no_cycle()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    shown_each_end CONSTANT integer := 6;
    parents jsonb;
    step uuid;
    walk uuid[];
    cycle text[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('intracker.todo_dependencies:' || NEW.project_id::text, 0));
    IF NEW.todo_id = NEW.blocked_by THEN
        RETURN NEW;     -- the CHECK constraint todo_dependencies_not_self says why
    END IF;

    -- The blockers of each todo reached come from an index scan per todo
    -- (OFFSET 0 keeps the planner from turning it into a join, which
    -- without fresh statistics it may hash over the whole table at every
    -- step).
    IF NOT EXISTS (WITH RECURSIVE reach (todo_id) AS (
                       SELECT NEW.blocked_by
                       UNION
                       SELECT b.blocked_by
                         FROM reach r
                        CROSS JOIN LATERAL (SELECT d.blocked_by FROM intracker_data.todo_dependencies d
                                             WHERE d.todo_id = r.todo_id OFFSET 0) b)
                   SELECT FROM reach r WHERE r.todo_id = NEW.todo_id) THEN
        RETURN NEW;
    END IF;

    WITH RECURSIVE reach (todo_id) AS (
        SELECT NEW.blocked_by
        UNION
        SELECT b.blocked_by
          FROM reach r
         CROSS JOIN LATERAL (SELECT d.blocked_by FROM intracker_data.todo_dependencies d
                              WHERE d.todo_id = r.todo_id OFFSET 0) b)
    SELECT jsonb_object_agg(p.blocked_by, p.parent) INTO parents
      FROM (SELECT b.blocked_by, min(r.todo_id::text) AS parent
              FROM reach r
             CROSS JOIN LATERAL (SELECT d.blocked_by FROM intracker_data.todo_dependencies d
                                  WHERE d.todo_id = r.todo_id OFFSET 0) b
             GROUP BY b.blocked_by) p;
    -- From todo_id up the parents to blocked_by: the cycle backwards.  (walk
    -- appears once in the append, so plpgsql appends in place.)
    step := NEW.todo_id;
    walk := ARRAY[step];
    WHILE step <> NEW.blocked_by LOOP
        step := (parents ->> step::text)::uuid;
        walk := array_append(walk, step);
    END LOOP;
    -- todo_id, then the walk reversed: blocked_by ... todo_id
    SELECT array_agg(w.todo_id::text ORDER BY w.n) INTO cycle
      FROM (SELECT NEW.todo_id AS todo_id, 0::bigint AS n
            UNION ALL
            SELECT x.todo_id, cardinality(walk) + 1 - x.n FROM unnest(walk) WITH ORDINALITY AS x (todo_id, n)) w;
    IF cardinality(cycle) > 2 * shown_each_end THEN
        cycle := cycle[1:shown_each_end]
                 || format('… %s more …', cardinality(cycle) - 2 * shown_each_end)
                 || cycle[cardinality(cycle) - shown_each_end + 1:];
    END IF;
    RAISE EXCEPTION 'dependency would create a cycle'
        USING ERRCODE = '23514',
              DETAIL = format('Todo %s would block itself: %s.', NEW.todo_id, array_to_string(cycle, ' is blocked by ')),
              HINT = 'Remove one of the existing dependencies first.';
END
$$;
COMMENT ON FUNCTION intracker_data.todo_dependencies_no_cycle() IS
    'Trigger: rejects a dependency that would close a cycle (23514 with the cycle in DETAIL, shortened past 12 todos); visits each reachable todo once.';

-- Issue 12, webhooks and GitHub calls (0.6).
--
-- Webhooks that keep failing are disabled by the deliverer: two columns
-- say when and why (set together, only on an inactive webhook).
ALTER TABLE intracker_data.webhooks
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN disabled_reason text,
    ADD CONSTRAINT webhooks_disabled_inactive CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL)
                                                     AND (disabled_at IS NULL OR NOT active));
COMMENT ON CONSTRAINT webhooks_disabled_inactive ON intracker_data.webhooks IS 'disabled_at and disabled_reason are set together, and only on an inactive webhook.';

-- event_types may no longer hold NULL (0.5 accepted '{NULL}').  NULL
-- elements are dropped; a webhook that held nothing else matched no event
-- at all: it is disabled, saying why, with '{*}' in place of the NULLs so
-- that the row is valid.
UPDATE intracker_data.webhooks w
   SET event_types = CASE WHEN cardinality(array_remove(w.event_types, NULL)) > 0
                          THEN array_remove(w.event_types, NULL) ELSE '{*}' END,
       active = active AND cardinality(array_remove(w.event_types, NULL)) > 0,
       disabled_at = CASE WHEN cardinality(array_remove(w.event_types, NULL)) = 0 THEN now() END,
       disabled_reason = CASE WHEN cardinality(array_remove(w.event_types, NULL)) = 0
                              THEN 'event_types held only NULL, which matched no event and is refused since 0.6: '
                                   'delete the webhook and create it again with the event types you want' END
 WHERE array_position(w.event_types, NULL) IS NOT NULL;
CREATE OR REPLACE FUNCTION intracker_data.valid_event_patterns(patterns text[])
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
COMMENT ON CONSTRAINT webhooks_event_types_valid ON intracker_data.webhooks IS 'event_types must hold 1 to 64 patterns, none of them null, each ''*'', ''entity.*'' (e.g. ''todo.*'') or an event type (e.g. ''todo.status_changed'').';

CREATE OR REPLACE VIEW intracker.webhooks WITH (security_invoker = true) AS
SELECT w.id, w.project_id, w.url, w.event_types, w.format, w.active, w.signed,
       w.created_by, w.created_at, w.updated_at, w.disabled_at, w.disabled_reason
  FROM intracker_data.webhooks w;
COMMENT ON COLUMN intracker.webhooks.disabled_at IS
    'When the deliverer disabled the webhook after a run of failures (intracker.webhook_disable_after_dead, intracker.webhook_disable_after_failing); NULL unless disabled. set_webhook_active(id, true) enables it again.';
COMMENT ON COLUMN intracker.webhooks.disabled_reason IS 'Why the deliverer disabled the webhook (the run of failures); NULL unless disabled.';
GRANT SELECT (disabled_at, disabled_reason) ON intracker_data.webhooks TO intracker_user;

-- Deliveries: no foreign keys (their checks made the publisher's fan-out
-- wait for any user holding a project, webhook or todo row); triggers
-- delete the deliveries of deleted rows instead.  A GitHub call keeps the
-- repository it was queued for (for calls already queued: the project's
-- repository now).
ALTER TABLE intracker_data.deliveries
    DROP CONSTRAINT deliveries_project_id_fkey,
    DROP CONSTRAINT deliveries_webhook_id_fkey,
    DROP CONSTRAINT deliveries_todo_id_fkey,
    ADD COLUMN github_repo text,
    ADD CONSTRAINT deliveries_github_repo_github_only CHECK (kind = 'github' OR github_repo IS NULL);
COMMENT ON CONSTRAINT deliveries_github_repo_github_only ON intracker_data.deliveries IS 'github_repo is set on GitHub calls only.';
COMMENT ON COLUMN intracker_data.deliveries.github_repo IS
    'GitHub calls: the repository (owner/name) the call was queued for; it is sent there even if the project''s repository changed since.';
UPDATE intracker_data.deliveries d SET github_repo = p.github_repo
  FROM intracker_data.projects p
 WHERE d.kind = 'github' AND p.id = d.project_id;
-- Deliveries whose project, webhook or todo is gone would have gone with
-- it; the foreign keys guaranteed there were none.

-- The deliverer reads its load through a function, by column name (it was
-- a statement in C read by position).
CREATE FUNCTION intracker_data.deliverer_next_deliveries(busy uuid[], github_api_url text, chain_length integer)
RETURNS TABLE (id uuid, queue_id uuid, is_github boolean, event_type text, body text, attempts integer,
               next_attempt_at timestamptz, url text, problem text, credential text, todo_id uuid)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH queues AS (
        SELECT w.id FROM intracker_data.webhooks w WHERE w.active
        UNION ALL
        SELECT c.project_id FROM intracker_data.github_credentials c WHERE c.token IS NOT NULL
    )
    SELECT d.id, d.queue_id, d.kind = 'github' AS is_github, d.event_type, d.body, d.attempts, d.next_attempt_at,
           CASE WHEN d.kind = 'webhook' THEN w.url
                ELSE pg_catalog.rtrim(deliverer_next_deliveries.github_api_url, '/') || '/repos/' || d.github_repo
                     || '/issues'
                     || CASE WHEN d.event_type = 'github.create_issue' THEN ''
                             ELSE '/' || coalesce((SELECT t.github_issue FROM intracker_data.todos t
                                                    WHERE t.id = d.todo_id),
                                                  (SELECT c.issue_number FROM intracker_data.deliveries c
                                                    WHERE c.todo_id = d.todo_id
                                                      AND c.event_type = 'github.create_issue'
                                                      AND c.state = 'delivered'
                                                    ORDER BY c.position DESC LIMIT 1)) END END AS url,
           CASE WHEN d.kind = 'webhook' THEN NULL
                WHEN d.github_repo IS NULL
                  THEN 'the project had no GitHub repository when the call was queued'
                WHEN (SELECT t.id FROM intracker_data.todos t WHERE t.id = d.todo_id) IS NULL
                  THEN 'the todo was deleted'
                ELSE 'the todo has no linked GitHub issue' END AS problem,
           CASE WHEN d.kind = 'webhook' THEN w.secret
                ELSE (SELECT c.token FROM intracker_data.github_credentials c WHERE c.project_id = d.project_id) END
             AS credential,
           d.todo_id
      FROM queues q
     CROSS JOIN LATERAL (SELECT * FROM intracker_data.deliveries d
                          WHERE d.queue_id = q.id AND d.state IN ('pending', 'failed')
                          ORDER BY d.position LIMIT deliverer_next_deliveries.chain_length) d
      LEFT JOIN intracker_data.webhooks w ON w.id = d.webhook_id
     WHERE q.id <> ALL (deliverer_next_deliveries.busy)
     ORDER BY q.id, d.position;
END;
COMMENT ON FUNCTION intracker_data.deliverer_next_deliveries(uuid[], text, integer) IS
    'The deliverer''s load: each active queue''s next deliveries (at most chain_length) but those of the busy queues, with URL, body, credential or the problem that stops one; secrets included, so for the deliverer only.';

-- Session working notes (summary, next steps): one rule for every place
-- they appear.  Viewers read them only in their own sessions; the views
-- intracker.sessions and intracker.events apply it, reading their tables
-- as the owner behind a security barrier, and users no longer read the
-- note columns of intracker_data.sessions nor intracker_data.events.
CREATE FUNCTION intracker_data.may_read_session_notes(project_id uuid, author uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN author = intracker.current_user_id()
       OR intracker_data.role_rank(intracker_data.my_role(project_id)) >= intracker_data.role_rank('editor')
       OR (intracker.current_user_id() IS NULL AND pg_catalog.pg_has_role('intracker_admin', 'MEMBER'));
COMMENT ON FUNCTION intracker_data.may_read_session_notes(uuid, uuid) IS
    'Whether the acting user may read a session''s summary and next steps: its author, editors and owners of the project, admins acting as nobody; not viewers.';

CREATE OR REPLACE VIEW intracker.sessions AS
SELECT s.id, s.project_id, s.user_id, s.started_at, s.ended_at, s.goal,
       CASE WHEN intracker_data.may_read_session_notes(s.project_id, s.user_id) THEN s.summary END AS summary,
       CASE WHEN intracker_data.may_read_session_notes(s.project_id, s.user_id) THEN s.next_steps END AS next_steps,
       s.blockers, s.todo_ids
  FROM intracker_data.sessions s
 WHERE s.project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]);
ALTER VIEW intracker.sessions RESET (security_invoker);
ALTER VIEW intracker.sessions SET (security_barrier = true);
COMMENT ON VIEW intracker.sessions IS 'Work sessions of people and agents in your projects; one open session per user and project. Summary and next steps (working notes) are NULL for viewers but in their own sessions.';
CREATE FUNCTION intracker_data.sessions_view_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written uuid;
    result intracker.sessions;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO intracker_data.sessions AS s (id, project_id, user_id, goal)
        VALUES (coalesce(NEW.id, gen_random_uuid()), NEW.project_id, coalesce(NEW.user_id, intracker.current_user_id()),
                NEW.goal)
        RETURNING s.id INTO written;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE intracker_data.sessions AS s
           SET goal = NEW.goal, summary = NEW.summary, next_steps = NEW.next_steps, blockers = NEW.blockers,
               todo_ids = NEW.todo_ids, ended_at = NEW.ended_at
         WHERE s.id = OLD.id
        RETURNING s.id INTO written;
    ELSE
        DELETE FROM intracker_data.sessions AS s WHERE s.id = OLD.id RETURNING s.id INTO written;
        RETURN CASE WHEN written IS NULL THEN NULL ELSE OLD END;
    END IF;
    IF written IS NULL THEN
        RETURN NULL;    -- RLS hid the row: nothing written, no row reported
    END IF;
    SELECT * INTO result FROM intracker.sessions v WHERE v.id = written;
    RETURN result;
END
$$;
COMMENT ON FUNCTION intracker_data.sessions_view_write() IS
    'INSTEAD OF INSERT/UPDATE/DELETE on intracker.sessions: writes the table as the caller (RLS applies) and returns the view''s row.';
CREATE TRIGGER sessions_write INSTEAD OF INSERT OR UPDATE OR DELETE ON intracker.sessions
    FOR EACH ROW EXECUTE FUNCTION intracker_data.sessions_view_write();
CREATE OR REPLACE FUNCTION intracker.start_session(project_id uuid, goal text DEFAULT NULL)
RETURNS intracker.sessions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    open_session uuid;
    started intracker.sessions;
BEGIN
    PERFORM intracker_data.require_role(start_session.project_id, 'editor', 'record work sessions');
    SELECT s.id INTO open_session FROM intracker_data.sessions s
     WHERE s.project_id = start_session.project_id AND s.user_id = me AND s.ended_at IS NULL;
    IF open_session IS NOT NULL THEN
        RAISE EXCEPTION 'you already have an open session in project %', start_session.project_id
            USING ERRCODE = '23505',
                  DETAIL = format('Session %s is still open.', open_session),
                  HINT = 'End it with intracker.end_session() first.';
    END IF;
    INSERT INTO intracker_data.sessions AS s (project_id, user_id, goal)
    VALUES (start_session.project_id, me, start_session.goal)
    RETURNING s.id INTO started.id;
    SELECT * INTO started FROM intracker.sessions v WHERE v.id = started.id;
    RETURN started;
END
$$;
CREATE OR REPLACE FUNCTION intracker.end_session(session_id uuid, summary text, next_steps text[] DEFAULT NULL,
                                      blockers text[] DEFAULT NULL, todo_ids uuid[] DEFAULT NULL)
RETURNS intracker.sessions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    session record;
    unknown_todos uuid[];
    ended intracker.sessions;
BEGIN
    SELECT s.id, s.project_id, s.user_id INTO session FROM intracker_data.sessions s WHERE s.id = end_session.session_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'session % not found', end_session.session_id
            USING ERRCODE = 'PT404',
                  HINT = 'The session does not exist or you are not a member of its project.';
    END IF;
    IF session.user_id <> me THEN
        RAISE EXCEPTION 'permission denied to end another user''s session'
            USING ERRCODE = '42501',
                  DETAIL = format('Session %s belongs to user %s.', session.id, session.user_id);
    END IF;
    SELECT array_agg(wanted) INTO unknown_todos
      FROM unnest(end_session.todo_ids) AS wanted
     WHERE NOT EXISTS (SELECT FROM intracker_data.todos t WHERE t.id = wanted AND t.project_id = session.project_id);
    IF unknown_todos IS NOT NULL THEN
        RAISE EXCEPTION 'invalid value for todo_ids'
            USING ERRCODE = '22023',
                  DETAIL = format('Not todos of project %s: %s.', session.project_id, array_to_string(unknown_todos, ', '));
    END IF;

    -- "ended_at IS NULL" here, not in a check above, so that of two
    -- concurrent calls exactly one ends the session.
    UPDATE intracker_data.sessions AS s
       SET ended_at = now(),
           summary = end_session.summary,
           next_steps = coalesce(end_session.next_steps, '{}'),
           blockers = coalesce(end_session.blockers, '{}'),
           todo_ids = coalesce(end_session.todo_ids, '{}')
     WHERE s.id = session.id AND s.ended_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'session % has already ended', session.id
            USING ERRCODE = '22023',
                  HINT = 'Start a new session with intracker.start_session().';
    END IF;
    SELECT * INTO ended FROM intracker.sessions v WHERE v.id = session.id;
    RETURN ended;
END
$$;
REVOKE SELECT ON intracker_data.sessions FROM intracker_user;
GRANT SELECT (id, project_id, user_id, started_at, ended_at, goal, blockers, todo_ids)
    ON intracker_data.sessions TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.may_read_session_notes(uuid, uuid) TO intracker_user;

CREATE OR REPLACE VIEW intracker.events AS
SELECT e.seq, e.type, e.project_id, e.entity_id, e.actor, e.version,
       CASE WHEN e.type LIKE 'session.%' AND NOT intracker_data.may_read_session_notes(e.project_id, e.actor)
            THEN e.changes - 'summary' - 'next_steps' ELSE e.changes END AS changes,
       e.occurred_at, e.published_at
  FROM intracker_data.events e
 WHERE (e.project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[])
        AND e.type NOT LIKE 'notification.%')
    OR ((e.type LIKE 'member.%' OR e.type LIKE 'notification.%')
        AND e.entity_id = (SELECT intracker.current_user_id()))
    OR ((SELECT intracker.current_user_id()) IS NULL AND pg_catalog.pg_has_role('intracker_admin', 'MEMBER'));
ALTER VIEW intracker.events RESET (security_invoker);
ALTER VIEW intracker.events SET (security_barrier = true);
COMMENT ON VIEW intracker.events IS
    'Published change events of the projects you are a member of (and of your own memberships, removal included, and your own notifications), by publication sequence (seq). changes maps each changed field to {"old": ..., "new": ...}; viewers get session events without others'' summary and next steps. Members of intracker_admin acting as nobody see all events.';
REVOKE SELECT ON intracker_data.events FROM intracker_user;

-- intracker.github_settings filters projects itself: without a security
-- barrier a function in a caller's WHERE clause could see other projects'
-- rows first.
ALTER VIEW intracker.github_settings SET (security_barrier = true);

-- Dead events: an event that alone cannot be published or fanned out is
-- set aside (intracker_data.dead_events) instead of holding back every
-- project's events; worker_status counts them (a new last column, so the
-- view and the function under it are made again).
CREATE TABLE intracker_data.dead_events (
    outbox_id       bigint PRIMARY KEY,
    type            text NOT NULL,
    project_id      uuid NOT NULL,
    entity_id       uuid NOT NULL,
    actor           uuid,
    version         integer,
    changes         jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL,
    sqlstate        text NOT NULL,
    error           text NOT NULL,
    dead_at         timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE intracker_data.dead_events IS
    'Outbox events the publisher set aside because they alone could not be published or fanned out (the error says why); intracker.worker_status counts them, intracker.requeue_dead_events() puts them back.';
SELECT pg_catalog.pg_extension_config_dump('intracker_data.dead_events', '');
ALTER TABLE intracker_data.dead_events ENABLE ROW LEVEL SECURITY;
DROP VIEW intracker.worker_status;
DROP FUNCTION intracker_data.event_log_state();
CREATE FUNCTION intracker_data.event_log_state(OUT backlog bigint, OUT last_seq bigint, OUT dead_events bigint)
RETURNS record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT (SELECT pg_catalog.count(*) FROM intracker_data.outbox),
           (SELECT coalesce(pg_catalog.max(seq), 0) FROM intracker_data.events),
           (SELECT pg_catalog.count(*) FROM intracker_data.dead_events);
END;
COMMENT ON FUNCTION intracker_data.event_log_state() IS
    'Events waiting in the outbox, the last published seq and the dead events (whoever may read it: the counts reveal no content).';
CREATE VIEW intracker.worker_status WITH (security_invoker = true) AS
SELECT w.pid,
       w.state,
       w.database,
       l.last_seq AS last_published_seq,
       l.backlog,
       w.events_per_second,
       w.last_error,
       w.last_error_at,
       w.started_at,
       w.rejected_writes_dropped,
       l.dead_events
  FROM intracker_data.worker_state() w, intracker_data.event_log_state() l;
COMMENT ON VIEW intracker.worker_status IS
    'This database''s publisher, the process that numbers and NOTIFYs events (the view keeps its 0.4 name): pid, state (starting / idle / publishing / retrying after error / waiting for extension / waiting for restore / stopped; where no publisher serves this database: serving another database / waiting for database / not served: intracker.max_databases reached / not running), the intracker.database setting, last published seq, backlog (events not yet published), events/s over the last ~10 s, last error, start time, rejected writes that found the queue full, events set aside as dead (intracker_data.dead_events).';

-- Many databases per server (issue 17): each database sees its own deliverer.
COMMENT ON VIEW intracker.deliverer_status IS
    'This database''s deliverer, the process that sends webhooks and GitHub calls: pid, state (starting / idle / delivering / retrying after error / waiting for extension / stopped; where none serves this database: serving another database / waiting for database / not served: intracker.max_databases reached / not running), requests in flight, deliveries pending and waiting for a retry, and since it started: attempts, delivered, dead, last error.';
GRANT SELECT ON intracker.worker_status TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.event_log_state() TO intracker_user;
CREATE FUNCTION intracker_data.wake_publisher()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_wake_publisher';
COMMENT ON FUNCTION intracker_data.wake_publisher() IS
    'Wake the publisher when the current transaction commits (nothing happens if it rolls back).';
CREATE FUNCTION intracker.requeue_dead_events(outbox_ids bigint[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    requeued integer;
BEGIN
    PERFORM intracker_data.require_writable_identity();
    WITH moved AS (
        DELETE FROM intracker_data.dead_events d
         WHERE requeue_dead_events.outbox_ids IS NULL OR d.outbox_id = ANY (requeue_dead_events.outbox_ids)
        RETURNING d.*
    )
    INSERT INTO intracker_data.outbox (id, type, project_id, entity_id, actor, version, changes, occurred_at)
    SELECT m.outbox_id, m.type, m.project_id, m.entity_id, m.actor, m.version, m.changes, m.occurred_at FROM moved m;
    GET DIAGNOSTICS requeued = ROW_COUNT;
    PERFORM intracker_data.wake_publisher();
    RETURN requeued;
END
$$;
COMMENT ON FUNCTION intracker.requeue_dead_events(bigint[]) IS
    'intracker_admin: put dead events (all, or those with the given outbox ids) back in the outbox, to be published again; returns how many. See intracker.worker_status.dead_events.';
GRANT EXECUTE ON FUNCTION intracker.requeue_dead_events(bigint[]) TO intracker_admin;

------------------------------------------------------------------------------
-- Issue 12, item 11: counters that cannot overflow, estimates bounded.
------------------------------------------------------------------------------

-- Counters become bigint (a member's open points add up estimates without
-- bound; a sharded slot moves with every status toggle).  What reads the
-- counter columns must let go of them while their types change: the two
-- drift functions (BEGIN ATOMIC bodies depend on columns) and
-- intracker.features get placeholder bodies with the same signature for a
-- moment, since dropping them would drop verify_counters() and the functions
-- that return intracker.features; intracker.member_load and
-- intracker.team_dashboard change column types, so they are dropped with
-- what returns member_load's row type and created again below.
CREATE OR REPLACE FUNCTION intracker_data.assignment_counter_drift(project_id uuid)
RETURNS TABLE (counter text, project uuid, entity uuid, stored bigint, actual bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT NULL::text, NULL::uuid, NULL::uuid, NULL::bigint, NULL::bigint WHERE false;
END;
CREATE OR REPLACE FUNCTION intracker_data.progress_counter_drift(project_id uuid)
RETURNS TABLE (counter text, project uuid, entity uuid, stored bigint, actual bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT NULL::text, NULL::uuid, NULL::uuid, NULL::bigint, NULL::bigint WHERE false;
END;
CREATE OR REPLACE VIEW intracker.features WITH (security_invoker = true) AS
SELECT f.id, f.project_id, f.title, f.description, f.status, f.priority, f.assigned_to, f.created_by,
       f.created_at, f.updated_at, f.completed_at, f.completed_by, f.version,
       0 AS todos_total, 0 AS todos_done, 0 AS progress
  FROM intracker_data.features f;
DROP FUNCTION intracker.set_availability(uuid, boolean);
DROP FUNCTION intracker.set_capacity(uuid, uuid, integer);
DROP VIEW intracker.member_load;
DROP VIEW intracker.team_dashboard;

ALTER TABLE intracker_data.member_load
    ALTER COLUMN open_todos TYPE bigint, ALTER COLUMN open_points TYPE bigint, ALTER COLUMN open_features TYPE bigint;
-- Versioned rows (issue 13, 70_assignment.sql): the rows there are become
-- generation 0.
ALTER TABLE intracker_data.member_load
    ADD COLUMN generation bigint NOT NULL DEFAULT 0,
    DROP CONSTRAINT member_load_pkey,
    ADD PRIMARY KEY (project_id, user_id, generation);
COMMENT ON COLUMN intracker_data.member_load.generation IS
    'Each change of the counters replaces the row by one a generation up; readers take the newest they can see.';
ALTER TABLE intracker_data.project_stats
    ALTER COLUMN todos_open TYPE bigint, ALTER COLUMN todos_done TYPE bigint, ALTER COLUMN todos_cancelled TYPE bigint;
ALTER TABLE intracker_data.project_daily_done
    ALTER COLUMN todos_done TYPE bigint, ALTER COLUMN points_done TYPE bigint;
ALTER TABLE intracker_data.feature_stats
    ALTER COLUMN todos_total TYPE bigint, ALTER COLUMN todos_done TYPE bigint;

-- Versioned progress counters in 8 slots (issue 13, 40_features_todos.sql):
-- the 32 slots of 0.5 fold into slot % 8, a generation up from the rows
-- they replace; every new write goes to the slots 0 .. 7.
ALTER TABLE intracker_data.project_stats
    ADD COLUMN generation bigint NOT NULL DEFAULT 0,
    DROP CONSTRAINT project_stats_pkey,
    ADD PRIMARY KEY (project_id, slot, generation);
WITH old AS (DELETE FROM intracker_data.project_stats RETURNING *)
INSERT INTO intracker_data.project_stats (project_id, slot, todos_open, todos_done, todos_cancelled, generation)
SELECT project_id, slot % 8, sum(todos_open), sum(todos_done), sum(todos_cancelled), 1 FROM old GROUP BY project_id, slot % 8;
ALTER TABLE intracker_data.project_stats ADD CHECK (slot BETWEEN 0 AND 7);
ALTER TABLE intracker_data.project_daily_done
    ADD COLUMN generation bigint NOT NULL DEFAULT 0,
    DROP CONSTRAINT project_daily_done_pkey,
    ADD PRIMARY KEY (project_id, day, slot, generation);
WITH old AS (DELETE FROM intracker_data.project_daily_done RETURNING *)
INSERT INTO intracker_data.project_daily_done (project_id, day, slot, todos_done, points_done, generation)
SELECT project_id, day, slot % 8, sum(todos_done), sum(points_done), 1 FROM old GROUP BY project_id, day, slot % 8;
ALTER TABLE intracker_data.project_daily_done ADD CHECK (slot BETWEEN 0 AND 7);
ALTER TABLE intracker_data.feature_stats
    ADD COLUMN generation bigint NOT NULL DEFAULT 0,
    DROP CONSTRAINT feature_stats_pkey,
    ADD PRIMARY KEY (feature_id, slot, generation);
WITH old AS (DELETE FROM intracker_data.feature_stats RETURNING *)
INSERT INTO intracker_data.feature_stats (feature_id, slot, todos_total, todos_done, generation)
SELECT feature_id, slot % 8, sum(todos_total), sum(todos_done), 1 FROM old GROUP BY feature_id, slot % 8;
ALTER TABLE intracker_data.feature_stats ADD CHECK (slot BETWEEN 0 AND 7);
COMMENT ON CONSTRAINT project_stats_slot_check ON intracker_data.project_stats IS 'slot must be a writer slot, 0 to 7.';
COMMENT ON CONSTRAINT project_daily_done_slot_check ON intracker_data.project_daily_done IS 'slot must be a writer slot, 0 to 7.';
COMMENT ON CONSTRAINT feature_stats_slot_check ON intracker_data.feature_stats IS 'slot must be a writer slot, 0 to 7.';
COMMENT ON TABLE intracker_data.project_stats IS
    'Todos of a project by state, sharded by writer slot (add up the newest generation of each slot: project_counts()); kept by a C trigger; derived data, not dumped.';
COMMENT ON TABLE intracker_data.project_daily_done IS
    'Todos (and their points) of a project that are done, by the UTC day they were completed, sharded by writer slot (project_daily_counts()); kept by a C trigger; derived data, not dumped.';
COMMENT ON TABLE intracker_data.feature_stats IS
    'Non-cancelled and done todos of a feature, sharded by writer slot (feature_counts()); kept by a C trigger; derived data, not dumped.';
COMMENT ON COLUMN intracker_data.project_stats.generation IS
    'Each change of a slot''s counters replaces its row by one a generation up; readers take the newest they can see.';
COMMENT ON COLUMN intracker_data.project_daily_done.generation IS
    'Each change of a slot''s counters replaces its row by one a generation up; readers take the newest they can see.';
COMMENT ON COLUMN intracker_data.feature_stats.generation IS
    'Each change of a slot''s counters replaces its row by one a generation up; readers take the newest they can see.';

-- The live counts: the newest generation of each slot (src/progress_reads.c
-- descends the primary key once per slot, backwards, so the versions a long
-- transaction pins lie behind what it reads).  With the privileges of a
-- SELECT on the table: RLS applies to the rows read.
CREATE FUNCTION intracker_data.project_counts(project_id uuid, OUT todos_open bigint, OUT todos_done bigint,
                                              OUT todos_cancelled bigint)
RETURNS record
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'intracker_project_counts';
COMMENT ON FUNCTION intracker_data.project_counts(uuid) IS
    'A project''s todos open, done and cancelled: the newest generation of each of its project_stats slots, added up (zeros for a project you may not read).';

CREATE FUNCTION intracker_data.project_daily_counts(project_id uuid, first_day date, last_day date)
RETURNS TABLE (day date, todos_done bigint, points_done bigint)
LANGUAGE c STABLE STRICT ROWS 7
AS 'MODULE_PATHNAME', 'intracker_project_daily_counts';
COMMENT ON FUNCTION intracker_data.project_daily_counts(uuid, date, date) IS
    'A project''s todos and points done on each UTC day from first_day to last_day (at most 366 days; the days with any): the newest generation of each project_daily_done slot, added up.';

CREATE FUNCTION intracker_data.feature_counts(feature_id uuid, OUT todos_total bigint, OUT todos_done bigint)
RETURNS record
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'intracker_feature_counts';
COMMENT ON FUNCTION intracker_data.feature_counts(uuid) IS
    'A feature''s non-cancelled and done todos: the newest generation of each of its feature_stats slots, added up (zeros for a feature you may not read).';
GRANT EXECUTE ON FUNCTION intracker_data.project_counts(uuid), intracker_data.project_daily_counts(uuid, date, date),
    intracker_data.feature_counts(uuid) TO intracker_user;
ALTER TABLE intracker_data.todos
    ALTER COLUMN open_blocker_count TYPE bigint, ALTER COLUMN open_dependent_count TYPE bigint;

-- Estimates are bounded to 1 .. 1000000 points.  Larger ones already stored
-- are clamped to the maximum rather than refused (the update must not fail
-- on existing data, and estimate is NOT NULL): they keep meaning "very
-- large", and the change is an ordinary write of the todo, after the
-- counters above are wide enough to take it: a new version, a todo.updated
-- event, and loads and progress adjusted by the counter triggers.
ALTER TABLE intracker_data.todos DROP CONSTRAINT todos_estimate_positive;
UPDATE intracker_data.todos SET estimate = 1000000 WHERE estimate > 1000000;
ALTER TABLE intracker_data.todos
    ADD CONSTRAINT todos_estimate_range CHECK (estimate > 0 AND estimate <= 1000000);
COMMENT ON CONSTRAINT todos_estimate_range ON intracker_data.todos IS 'estimate must be a positive number of points, at most 1000000.';

-- The views and functions let go of above, as they are now.
CREATE OR REPLACE FUNCTION intracker_data.assignment_counter_drift(project_id uuid)
RETURNS TABLE (counter text, project uuid, entity uuid, stored bigint, actual bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH actual_load AS (
        SELECT m.project_id, m.user_id,
               (SELECT count(*) FROM intracker_data.todos t
                 WHERE t.project_id = m.project_id AND t.assigned_to = m.user_id
                   AND t.status NOT IN ('done', 'cancelled')) AS open_todos,
               (SELECT coalesce(sum(t.estimate), 0) FROM intracker_data.todos t
                 WHERE t.project_id = m.project_id AND t.assigned_to = m.user_id
                   AND t.status NOT IN ('done', 'cancelled')) AS open_points,
               (SELECT count(*) FROM intracker_data.features f
                 WHERE f.project_id = m.project_id AND f.assigned_to = m.user_id AND f.status <> 'done') AS open_features
          FROM intracker_data.project_members m
         WHERE assignment_counter_drift.project_id IS NULL OR m.project_id = assignment_counter_drift.project_id
    ), load_drift AS (
        SELECT 'member_load.' || c.name AS counter, a.project_id, a.user_id AS entity_id, c.stored, c.actual
          FROM actual_load a
          LEFT JOIN LATERAL (SELECT * FROM intracker_data.member_load x
                              WHERE x.project_id = a.project_id AND x.user_id = a.user_id
                              ORDER BY x.generation DESC LIMIT 1) l ON true
          CROSS JOIN LATERAL (VALUES ('open_todos', l.open_todos::bigint, a.open_todos),
                                     ('open_points', l.open_points::bigint, a.open_points),
                                     ('open_features', l.open_features::bigint, a.open_features),
                                     ('live_rows', (SELECT count(*) FROM intracker_data.member_load x
                                                     WHERE x.project_id = a.project_id AND x.user_id = a.user_id), 1)
                                    ) AS c (name, stored, actual)
         WHERE c.stored IS DISTINCT FROM c.actual
    ), todo_drift AS (
        SELECT 'todos.' || c.name AS counter, t.project_id, t.id AS entity_id, c.stored, c.actual
          FROM intracker_data.todos t
          CROSS JOIN LATERAL (VALUES
              ('open_blocker_count', t.open_blocker_count::bigint,
               (SELECT count(*) FROM intracker_data.todo_dependencies d JOIN intracker_data.todos b ON b.id = d.blocked_by
                 WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled'))),
              ('open_dependent_count', t.open_dependent_count::bigint,
               (SELECT count(*) FROM intracker_data.todo_dependencies d JOIN intracker_data.todos x ON x.id = d.todo_id
                 WHERE d.blocked_by = t.id AND x.status NOT IN ('done', 'cancelled'))),
              ('feature_active', t.feature_active::integer::bigint,
               coalesce((SELECT (f.status = 'in_progress')::integer FROM intracker_data.features f WHERE f.id = t.feature_id), 0)::bigint)
          ) AS c (name, stored, actual)
         WHERE (assignment_counter_drift.project_id IS NULL OR t.project_id = assignment_counter_drift.project_id)
           AND c.stored IS DISTINCT FROM c.actual
    )
    SELECT * FROM load_drift
    UNION ALL
    SELECT * FROM todo_drift;
END;
CREATE OR REPLACE FUNCTION intracker_data.progress_counter_drift(project_id uuid)
RETURNS TABLE (counter text, project uuid, entity uuid, stored bigint, actual bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH project_drift AS (
        SELECT 'project_stats.' || c.name AS counter, p.id AS project_id, p.id AS entity_id, c.stored, c.actual
          FROM intracker_data.projects p
          CROSS JOIN LATERAL (SELECT coalesce(sum(s.todos_open), 0)::bigint AS open,
                                     coalesce(sum(s.todos_done), 0)::bigint AS done,
                                     coalesce(sum(s.todos_cancelled), 0)::bigint AS cancelled
                                FROM intracker_data.project_stats s WHERE s.project_id = p.id) AS st
          CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE t.status NOT IN ('done', 'cancelled')) AS open,
                                     count(*) FILTER (WHERE t.status = 'done') AS done,
                                     count(*) FILTER (WHERE t.status = 'cancelled') AS cancelled
                                FROM intracker_data.todos t WHERE t.project_id = p.id) AS ac
          CROSS JOIN LATERAL (VALUES ('todos_open', st.open, ac.open), ('todos_done', st.done, ac.done),
                                     ('todos_cancelled', st.cancelled, ac.cancelled)) AS c (name, stored, actual)
         WHERE (progress_counter_drift.project_id IS NULL OR p.id = progress_counter_drift.project_id)
           AND c.stored IS DISTINCT FROM c.actual
    ), daily_drift AS (
        SELECT 'project_daily_done.' || c.name || '@' || coalesce(st.day, ac.day) AS counter,
               coalesce(st.project_id, ac.project_id) AS project_id, coalesce(st.project_id, ac.project_id) AS entity_id,
               c.stored, c.actual
          FROM (SELECT s.project_id, s.day, sum(s.todos_done)::bigint AS todos, sum(s.points_done)::bigint AS points
                  FROM intracker_data.project_daily_done s GROUP BY 1, 2) st
          FULL JOIN (SELECT t.project_id, (t.completed_at AT TIME ZONE 'UTC')::date AS day,
                            count(*) AS todos, sum(t.estimate) AS points
                       FROM intracker_data.todos t WHERE t.status = 'done' AND t.completed_at IS NOT NULL
                      GROUP BY 1, 2) ac ON ac.project_id = st.project_id AND ac.day = st.day
          CROSS JOIN LATERAL (VALUES ('todos_done', coalesce(st.todos, 0), coalesce(ac.todos, 0)),
                                     ('points_done', coalesce(st.points, 0), coalesce(ac.points, 0))) AS c (name, stored, actual)
         WHERE (progress_counter_drift.project_id IS NULL OR coalesce(st.project_id, ac.project_id) = progress_counter_drift.project_id)
           AND c.stored IS DISTINCT FROM c.actual
    ), feature_drift AS (
        SELECT 'feature_stats.' || c.name AS counter, f.project_id, f.id AS entity_id, c.stored, c.actual
          FROM intracker_data.features f
          CROSS JOIN LATERAL (SELECT coalesce(sum(s.todos_total), 0)::bigint AS total,
                                     coalesce(sum(s.todos_done), 0)::bigint AS done
                                FROM intracker_data.feature_stats s WHERE s.feature_id = f.id) AS st
          CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
                                     count(*) FILTER (WHERE t.status = 'done') AS done
                                FROM intracker_data.todos t WHERE t.feature_id = f.id) AS ac
          CROSS JOIN LATERAL (VALUES ('todos_total', st.total, ac.total), ('todos_done', st.done, ac.done)) AS c (name, stored, actual)
         WHERE (progress_counter_drift.project_id IS NULL OR f.project_id = progress_counter_drift.project_id)
           AND c.stored IS DISTINCT FROM c.actual
    ), slot_drift AS (
        -- a slot has one live row: its newest generation
        SELECT 'project_stats.live_rows@' || s.slot, s.project_id, s.project_id, count(*), 1::bigint
          FROM intracker_data.project_stats s
         WHERE progress_counter_drift.project_id IS NULL OR s.project_id = progress_counter_drift.project_id
         GROUP BY s.project_id, s.slot HAVING count(*) <> 1
        UNION ALL
        SELECT 'project_daily_done.live_rows@' || s.day || '/' || s.slot, s.project_id, s.project_id, count(*), 1
          FROM intracker_data.project_daily_done s
         WHERE progress_counter_drift.project_id IS NULL OR s.project_id = progress_counter_drift.project_id
         GROUP BY s.project_id, s.day, s.slot HAVING count(*) <> 1
        UNION ALL
        SELECT 'feature_stats.live_rows@' || s.slot, f.project_id, s.feature_id, count(*), 1
          FROM intracker_data.feature_stats s JOIN intracker_data.features f ON f.id = s.feature_id
         WHERE progress_counter_drift.project_id IS NULL OR f.project_id = progress_counter_drift.project_id
         GROUP BY f.project_id, s.feature_id, s.slot HAVING count(*) <> 1
    )
    SELECT * FROM project_drift
    UNION ALL SELECT * FROM daily_drift
    UNION ALL SELECT * FROM feature_drift
    UNION ALL SELECT * FROM slot_drift;
END;
CREATE OR REPLACE VIEW intracker.features WITH (security_invoker = true) AS
SELECT f.id, f.project_id, f.title, f.description, f.status, f.priority, f.assigned_to, f.created_by,
       f.created_at, f.updated_at, f.completed_at, f.completed_by, f.version,
       (SELECT c.todos_total::integer FROM intracker_data.feature_counts(f.id) c) AS todos_total,
       (SELECT c.todos_done::integer FROM intracker_data.feature_counts(f.id) c) AS todos_done,
       (SELECT CASE WHEN c.todos_total = 0 THEN CASE WHEN f.status = 'done' THEN 100 ELSE 0 END
                    ELSE div(100 * c.todos_done, c.todos_total)::integer END
          FROM intracker_data.feature_counts(f.id) c) AS progress
  FROM intracker_data.features f;
CREATE VIEW intracker.member_load WITH (security_invoker = true) AS
SELECT m.project_id, m.user_id, m.role, m.available, m.capacity,
       coalesce(l.open_todos, 0)::integer AS open_todos, coalesce(l.open_points, 0) AS open_points,
       coalesce(l.open_features, 0)::integer AS open_features, l.last_assigned_at
  FROM intracker_data.project_members m
  LEFT JOIN LATERAL (SELECT * FROM intracker_data.member_load x
                      WHERE x.project_id = m.project_id AND x.user_id = m.user_id
                      ORDER BY x.generation DESC LIMIT 1) l ON true;
COMMENT ON VIEW intracker.member_load IS
    'What automatic assignment decides on, per member of your projects: role, availability, capacity (max open points; NULL unlimited, 0 never auto-assigned), open todos and points, open features, last assignment.';
COMMENT ON COLUMN intracker.member_load.open_points IS 'Sum of the estimates of the member''s open (not done or cancelled) todos in the project.';
CREATE FUNCTION intracker.set_availability(project_id uuid, available boolean)
RETURNS intracker.member_load
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    result intracker.member_load;
BEGIN
    -- SECURITY DEFINER: members change their own availability, while only
    -- owners may otherwise update memberships.
    PERFORM intracker_data.require_role(set_availability.project_id, 'viewer', 'set your availability');
    IF set_availability.available IS NULL THEN
        RAISE EXCEPTION 'invalid value for available'
            USING ERRCODE = '22023', DETAIL = 'available must be true or false.';
    END IF;
    UPDATE intracker_data.project_members m SET available = set_availability.available
     WHERE m.project_id = set_availability.project_id AND m.user_id = me;
    SELECT * INTO result FROM intracker.member_load l
     WHERE l.project_id = set_availability.project_id AND l.user_id = me;
    RETURN result;
END
$$;
COMMENT ON FUNCTION intracker.set_availability(uuid, boolean) IS
    'Mark yourself available or not for automatic assignment in a project.';
CREATE FUNCTION intracker.set_capacity(project_id uuid, user_id uuid, capacity integer)
RETURNS intracker.member_load
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result intracker.member_load;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(set_capacity.project_id, 'owner', 'set capacities');
    UPDATE intracker_data.project_members m SET capacity = set_capacity.capacity
     WHERE m.project_id = set_capacity.project_id AND m.user_id = set_capacity.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % is not a member of project %', set_capacity.user_id, set_capacity.project_id
            USING ERRCODE = 'PT404';
    END IF;
    SELECT * INTO result FROM intracker.member_load l
     WHERE l.project_id = set_capacity.project_id AND l.user_id = set_capacity.user_id;
    RETURN result;
EXCEPTION
    WHEN check_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.set_capacity(uuid, uuid, integer) IS
    'Owners: set a member''s capacity, the most open estimate points automatic assignment gives them (NULL unlimited, 0 never).';
CREATE VIEW intracker.team_dashboard WITH (security_invoker = true) AS
SELECT p.id AS project_id, p.name, p.status,
       (SELECT count(*) FROM intracker_data.project_members m WHERE m.project_id = p.id)::integer AS members,
       (s.todos_open + s.todos_done)::integer AS todos_total,
       s.todos_open::integer AS todos_open,
       s.todos_done::integer AS todos_done,
       CASE WHEN s.todos_open + s.todos_done = 0 THEN 0.000
            ELSE round(s.todos_done::numeric / (s.todos_open + s.todos_done), 3) END AS completion_rate,
       coalesce(d.today, 0)::integer AS todos_completed_today,
       coalesce(d.points_7d, 0)::bigint AS points_done_last_7_days,
       (SELECT count(*) FROM intracker_data.features f
         WHERE f.project_id = p.id AND f.status = 'in_progress')::integer AS features_in_progress,
       (SELECT count(*) FROM intracker_data.todos t
         WHERE t.project_id = p.id AND t.status NOT IN ('done', 'cancelled')
           AND (t.status = 'blocked' OR t.open_blocker_count > 0))::integer AS todos_blocked
  FROM intracker_data.projects p
  CROSS JOIN LATERAL intracker_data.project_counts(p.id) s
  CROSS JOIN LATERAL (SELECT sum(dd.todos_done) FILTER (WHERE dd.day = (now() AT TIME ZONE 'UTC')::date) AS today,
                             sum(dd.points_done) AS points_7d
                        FROM intracker_data.project_daily_counts(p.id, (now() AT TIME ZONE 'UTC')::date - 6,
                                                                 (now() AT TIME ZONE 'UTC')::date) dd) d;
COMMENT ON VIEW intracker.team_dashboard IS
    'One row per project you are a member of, with the team counters of team_context: todos total (not cancelled), open and done, completion rate, todos completed today and points done in the last 7 days (UTC days), features in progress, blocked todos.';
GRANT SELECT ON intracker.member_load, intracker.team_dashboard TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.set_availability(uuid, boolean), intracker.set_capacity(uuid, uuid, integer)
    TO intracker_user;

-- rebalance keeps its loads in bigint.
CREATE OR REPLACE FUNCTION intracker.rebalance(project_id uuid, dry_run boolean DEFAULT true)
RETURNS TABLE (todo_id uuid, title text, estimate integer, from_user uuid, to_user uuid)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    heaviest record;
    lightest record;
    candidate record;
    moves integer := 0;
BEGIN
    PERFORM intracker_data.require_role(rebalance.project_id, 'owner', 'rebalance');
    IF NOT dry_run THEN
        -- a real run is a write, whether or not it finds a move to make
        PERFORM intracker_data.require_writable_identity();
    END IF;
    PERFORM intracker_data.lock_assignment(rebalance.project_id);

    CREATE TEMP TABLE IF NOT EXISTS pg_temp.rebalance_load (user_id uuid PRIMARY KEY, points bigint, eligible boolean, capacity integer) ON COMMIT DROP;
    TRUNCATE pg_temp.rebalance_load;
    INSERT INTO pg_temp.rebalance_load
    SELECT l.user_id, l.open_points,
           l.role IN ('owner', 'editor') AND l.available AND u.is_active AND coalesce(l.capacity, 1) > 0,
           l.capacity
      FROM intracker.member_load l JOIN intracker_data.users u ON u.id = l.user_id
     WHERE l.project_id = rebalance.project_id;
    CREATE TEMP TABLE IF NOT EXISTS pg_temp.rebalance_moved (todo_id uuid PRIMARY KEY) ON COMMIT DROP;
    TRUNCATE pg_temp.rebalance_moved;

    LOOP
        SELECT * INTO lightest FROM pg_temp.rebalance_load WHERE eligible ORDER BY points, user_id LIMIT 1;
        SELECT * INTO heaviest FROM pg_temp.rebalance_load ORDER BY points DESC, user_id LIMIT 1;
        EXIT WHEN lightest IS NULL OR heaviest IS NULL OR heaviest.user_id = lightest.user_id;
        -- The largest unstarted todo whose move narrows the gap and fits.
        SELECT t.id, t.title, t.estimate INTO candidate
          FROM intracker_data.todos t
         WHERE t.project_id = rebalance.project_id AND t.assigned_to = heaviest.user_id AND t.status = 'todo'
           AND t.estimate < heaviest.points - lightest.points
           AND (lightest.capacity IS NULL OR lightest.points + t.estimate <= lightest.capacity)
           AND t.id NOT IN (SELECT m.todo_id FROM pg_temp.rebalance_moved m)
         ORDER BY t.estimate DESC, t.created_at, t.id
         LIMIT 1;
        EXIT WHEN candidate IS NULL;

        IF NOT dry_run THEN
            UPDATE intracker_data.todos t SET assigned_to = lightest.user_id WHERE t.id = candidate.id;
        END IF;
        INSERT INTO pg_temp.rebalance_moved VALUES (candidate.id);
        UPDATE pg_temp.rebalance_load SET points = points - candidate.estimate WHERE user_id = heaviest.user_id;
        UPDATE pg_temp.rebalance_load SET points = points + candidate.estimate WHERE user_id = lightest.user_id;
        todo_id := candidate.id; title := candidate.title; estimate := candidate.estimate;
        from_user := heaviest.user_id; to_user := lightest.user_id;
        RETURN NEXT;
        moves := moves + 1;
        EXIT WHEN moves >= 10000;
    END LOOP;
END
$$;

------------------------------------------------------------------------------
-- Issue 12, item 10: one rule for every assignee.
------------------------------------------------------------------------------

-- Who may hold work: one trigger for every write that names an assignee.
CREATE FUNCTION intracker_data.check_assignee()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_check_assignee';
COMMENT ON FUNCTION intracker_data.check_assignee() IS
    'BEFORE ROW trigger (C) on todos and features: refuses a new assignee who is not a member, a viewer, inactive, unavailable or without capacity for the row, with the errors of assign_todo; rows restored from a dump are accepted as they were.';
CREATE TRIGGER todos_assignee_eligible BEFORE INSERT OR UPDATE OF assigned_to, project_id
    ON intracker_data.todos FOR EACH ROW EXECUTE FUNCTION intracker_data.check_assignee('todo');
CREATE TRIGGER features_assignee_eligible BEFORE INSERT OR UPDATE OF assigned_to, project_id
    ON intracker_data.features FOR EACH ROW EXECUTE FUNCTION intracker_data.check_assignee('feature');

------------------------------------------------------------------------------
-- Issue 12, item 13: nothing in intracker_data is executable by
-- intracker_user unless the API needs it, and what it needs leaks nothing.
------------------------------------------------------------------------------

-- Assignment no longer locks the assignee's row (check_assignee decides);
-- any user could lock any user's row with it.
DROP FUNCTION intracker_data.lock_user_if_active(uuid);

-- Only act_as() asks about another user (intracker_admin only).
REVOKE EXECUTE ON FUNCTION intracker_data.user_is_active(uuid) FROM intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.user_is_active(uuid) TO intracker_admin;
COMMENT ON FUNCTION intracker_data.user_is_active(uuid) IS 'is_active of a user, NULL if no such user (for act_as(): intracker_admin only).';

-- Trigger functions need no grant (a trigger runs its function whoever
-- fires it); the webhook checks run inside SECURITY DEFINER functions.
REVOKE EXECUTE ON FUNCTION intracker_data.row_version(), intracker_data.track_completion(),
    intracker_data.project_keeps_an_owner(), intracker_data.projects_view_insert(),
    intracker_data.todos_blocker_gate(), intracker_data.todo_dependencies_no_cycle(),
    intracker_data.valid_event_patterns(text[]), intracker_data.event_matches(text, text[]),
    intracker_data.check_webhook_url(text) FROM intracker_user;

CREATE OR REPLACE FUNCTION intracker_data.require_user()
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker.current_user_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'not authenticated'
            USING ERRCODE = 'PT401',
                  DETAIL = 'This function acts on behalf of a user, and no user is identified.',
                  HINT = 'Send a JWT through PostgREST, call intracker.authenticate() with an API token, or as a member of intracker_admin call intracker.act_as(user_id).';
    END IF;
    IF NOT coalesce((SELECT u.is_active FROM intracker_data.users u WHERE u.id = me), false) THEN
        RAISE EXCEPTION 'user % is not an active intracker user', me
            USING ERRCODE = 'PT401',
                  HINT = 'The identified user does not exist or was deactivated.';
    END IF;
    RETURN me;
END
$$;
COMMENT ON FUNCTION intracker_data.require_user() IS 'The acting user''s id; raises PT401 when there is none or it is inactive.';

-- Only a project's owners learn whether an id they hold is an (active)
-- user: the check reads users whatever RLS shows, after the role check.
CREATE FUNCTION intracker_data.require_joinable_user(project_id uuid, user_id uuid)
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    active boolean;
BEGIN
    PERFORM intracker_data.require_role(require_joinable_user.project_id, 'owner', 'manage members');
    active := (SELECT u.is_active FROM intracker_data.users u WHERE u.id = require_joinable_user.user_id);
    IF active IS NULL THEN
        RAISE EXCEPTION 'user % not found', require_joinable_user.user_id USING ERRCODE = 'PT404';
    ELSIF NOT active THEN
        RAISE EXCEPTION 'user % is inactive', require_joinable_user.user_id
            USING ERRCODE = '22023', HINT = 'Only active users can join projects.';
    END IF;
END
$$;
COMMENT ON FUNCTION intracker_data.require_joinable_user(uuid, uuid) IS
    'For add_member: the acting user must own the project (PT401/PT404/42501), and user_id must be an active user (PT404, 22023).';
GRANT EXECUTE ON FUNCTION intracker_data.require_joinable_user(uuid, uuid) TO intracker_user;

CREATE OR REPLACE FUNCTION intracker.add_member(project_id uuid, user_id uuid, role text)
RETURNS intracker.project_members
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    added intracker.project_members;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_joinable_user(add_member.project_id, add_member.user_id);
    INSERT INTO intracker_data.project_members AS m (project_id, user_id, role)
    VALUES (add_member.project_id, add_member.user_id, add_member.role)
    ON CONFLICT ON CONSTRAINT project_members_pkey DO UPDATE SET role = EXCLUDED.role
    RETURNING m.project_id, m.user_id, m.role, m.created_at INTO added;
    RETURN added;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;

CREATE OR REPLACE FUNCTION intracker_data.lock_assignment(project_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF coalesce(intracker_data.role_rank(intracker_data.my_role(lock_assignment.project_id)), 0)
       < intracker_data.role_rank('editor') THEN
        RAISE EXCEPTION 'permission denied to lock assignment in project %', lock_assignment.project_id
            USING ERRCODE = '42501',
                  DETAIL = 'Only the project''s editors and owners assign work there.';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('intracker.assign:' || lock_assignment.project_id::text, 0));
END
$$;
COMMENT ON FUNCTION intracker_data.lock_assignment(uuid) IS
    'Transaction-level advisory lock serialising automatic assignment and rebalancing in a project (its editors and owners only; 42501 otherwise).';


------------------------------------------------------------------------------
-- Issue 12, item 9: a restore gives back the event log and the counters'
-- state, and queues nothing.
------------------------------------------------------------------------------

CREATE FUNCTION intracker_data.restoring()
RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'intracker_sql_restoring';
COMMENT ON FUNCTION intracker_data.restoring() IS
    'True while this session restores a dump (a superuser''s client session with row_security off, as pg_restore runs): triggers then take restored rows as they were.';

-- Restored rows queue no event (src/events.c) and count nothing in
-- member_load (src/load_counters.c, and here): the outbox, its sequence and
-- member_load are dumped.
CREATE OR REPLACE FUNCTION intracker_data.create_member_load()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF intracker_data.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO intracker_data.member_load (project_id, user_id)
    SELECT NEW.project_id, NEW.user_id
     WHERE NOT EXISTS (SELECT FROM intracker_data.member_load l
                        WHERE l.project_id = NEW.project_id AND l.user_id = NEW.user_id);
    RETURN NULL;
END
$$;
SELECT pg_catalog.pg_extension_config_dump('intracker_data.member_load', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.outbox_id_seq', '');
-- Events a restore loads into the outbox wake the publisher too: nothing
-- else would until the next change (only in restore mode, so that the
-- writes of every event do not pay for a statement trigger).
CREATE FUNCTION intracker_data.wake_publisher_at_commit()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_wake_publisher';
COMMENT ON FUNCTION intracker_data.wake_publisher_at_commit() IS
    'Statement trigger (C) on the outbox, for the rows a restore loads: wakes the publisher when the transaction commits.';
CREATE TRIGGER outbox_restored_wakes_publisher AFTER INSERT ON intracker_data.outbox
    FOR EACH STATEMENT WHEN (intracker_data.restoring())
    EXECUTE FUNCTION intracker_data.wake_publisher_at_commit();
COMMENT ON TABLE intracker_data.member_load IS
    'Per-member load counters (open todos, open points, open features) and the last automatic assignment, maintained by C triggers; the live row of a member is its newest generation. Dumped (last_assigned_at is history no row implies); restored rows count nothing.';
COMMENT ON TABLE intracker_data.outbox IS
    'Events written by committed (or still running) transactions and not yet published; the publisher moves them to intracker_data.events. Only the extension owner writes it: nobody can forge an event. Dumped: events pending at the dump are published after the restore (restored rows queue none).';

------------------------------------------------------------------------------
-- Issue 12, items 5, 7, 14, 15: webhooks and GitHub calls (continued from
-- the start of this script).
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

-- The functions that write deliveries or show webhooks.
CREATE OR REPLACE FUNCTION intracker_data.fan_out_events(after_seq bigint, last_seq bigint)
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
CREATE OR REPLACE FUNCTION intracker_data.slack_text(e intracker_data.events)
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
CREATE OR REPLACE FUNCTION intracker.create_webhook(project_id uuid, url text, event_types text[] DEFAULT '{*}',
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
CREATE OR REPLACE FUNCTION intracker.set_webhook_active(webhook_id uuid, active boolean)
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
CREATE OR REPLACE FUNCTION intracker.delete_webhook(webhook_id uuid)
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
CREATE OR REPLACE FUNCTION intracker.redeliver(delivery_id uuid)
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
COMMENT ON FUNCTION intracker_data.fan_out_events(bigint, bigint) IS
    'Called in the transaction that publishes events after_seq+1 .. last_seq: queues a delivery per matching active webhook and a GitHub close/reopen call (for the project''s repository now, or that of the issue still being created) per linked todo closed or reopened. Takes no row lock (the deliveries table has no foreign keys). Returns how many.';
COMMENT ON FUNCTION intracker.set_webhook_active(uuid, boolean) IS
    'Owners: pause (false) or resume (true) a webhook. A paused webhook gets no new deliveries; the ones already queued wait and go out, in order, when it is resumed (a request already in flight finishes). Resuming a webhook the deliverer disabled clears disabled_at and disabled_reason and starts its count of failures afresh.';
COMMENT ON FUNCTION intracker.redeliver(uuid) IS
    'Send a delivered or dead delivery (or GitHub call) again, as a new delivery with a new id (redelivery_of names the original), after the ones already queued for its webhook. A GitHub call goes to the repository of the original. Owners for webhooks, editors for GitHub calls.';
COMMENT ON FUNCTION intracker_data.check_webhook_url(text) IS
    'Raises 22023 unless url is a well-formed http(s) URL, 42501 unless its host is in intracker.http_allowed_hosts (when that is set), and 42501 (refused by policy) when its host is a loopback, private or other non-public address while intracker.http_allow_private_networks is off. The deliverer checks again before every request, and checks the address it connects to.';

-- GitHub: the repository is an owner's to change; a call goes to the one it
-- was queued for.
CREATE OR REPLACE VIEW intracker.github_calls WITH (security_invoker = true) AS
SELECT d.id, d.project_id, d.todo_id, pg_catalog.substr(d.event_type, 8) AS action, d.event_seq,
       d.state, d.attempts, d.last_status, d.last_error,
       CASE WHEN d.state IN ('pending', 'failed') THEN d.next_attempt_at END AS next_attempt_at,
       d.duration_ms, d.created_at, d.last_attempt_at, d.delivered_at, d.redelivery_of, d.body AS request_body,
       d.issue_number, d.issue_url, d.github_repo
  FROM intracker_data.deliveries d
 WHERE d.kind = 'github';
COMMENT ON COLUMN intracker.github_calls.github_repo IS 'The repository (owner/name) the call was queued for, and is sent to, even if the project''s repository changed since.';
CREATE OR REPLACE FUNCTION intracker.create_github_issue(todo_id uuid)
RETURNS intracker.github_calls
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    project uuid;
    repo text;
    todo intracker_data.todos;
    call_id uuid;
    result intracker.github_calls;
BEGIN
    -- As definer RLS does not hide the todo: say "not found" to non-members
    -- before anything else, as project_of() does under RLS.
    PERFORM intracker_data.require_user();
    PERFORM intracker_data.require_writable_identity();
    IF create_github_issue.todo_id IS NULL THEN
        RAISE EXCEPTION 'todo id must not be null' USING ERRCODE = '22023';
    END IF;
    project := (SELECT t.project_id FROM intracker_data.todos t WHERE t.id = create_github_issue.todo_id);
    IF project IS NULL OR intracker_data.my_role(project) IS NULL THEN
        RAISE EXCEPTION 'todo % not found', create_github_issue.todo_id
            USING ERRCODE = 'PT404', HINT = 'The todo does not exist or you are not a member of its project.';
    END IF;
    PERFORM intracker_data.require_role(project, 'editor', 'create GitHub issues');
    repo := intracker_data.require_github(project, true);
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
    -- The call goes to the repository of now, kept on the row: a later
    -- change of the project's repository does not redirect it.
    INSERT INTO intracker_data.deliveries AS d (kind, queue_id, project_id, todo_id, event_type, body, github_repo)
    VALUES ('github', project, project, todo.id, 'github.create_issue',
            jsonb_build_object('title', todo.title,
                               'body', concat_ws(E'\n\n', todo.description,
                                                 format('_Tracked in intracker as todo %s._', todo.id)))::text,
            repo)
    RETURNING d.id INTO call_id;
    PERFORM intracker_data.wake_deliverer();
    SELECT c.* INTO result FROM intracker.github_calls c WHERE c.id = call_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION intracker.create_github_issue(uuid) IS
    'Editors: the deliverer creates an issue for the todo in the project''s repository (as it is now: the call keeps it) and stores its number and URL on the todo. Returns the queued call (see intracker.github_calls).';
CREATE FUNCTION intracker_data.github_repo_owner_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.github_repo IS DISTINCT FROM OLD.github_repo AND intracker.current_user_id() IS NOT NULL THEN
        PERFORM intracker_data.require_role(NEW.id, 'owner', 'change the GitHub repository');
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.github_repo_owner_only() IS
    'Trigger: a change of a project''s github_repo by a user who is not an owner of the project is refused (42501).';
CREATE TRIGGER projects_github_repo_owner_only BEFORE UPDATE OF github_repo ON intracker_data.projects
    FOR EACH ROW EXECUTE FUNCTION intracker_data.github_repo_owner_only();
COMMENT ON FUNCTION intracker.update_project(uuid, jsonb, integer) IS
    'Change fields of a project (name, description, status, tags, github_repo, resume_context). Editors and owners, github_repo owners only (42501); PT409 if expected_version is stale.';
COMMENT ON COLUMN intracker.projects.github_repo IS 'GitHub repository as owner/name; only owners change it (the deliverer spends the owner''s token there).';
COMMENT ON COLUMN intracker.events.type IS 'entity.action: todo.created, todo.updated, todo.assigned, todo.status_changed, todo.deleted, feature.*, project.*, member.added/updated/removed, dependency.added/removed, session.started/updated/ended/deleted, conflict.rejected, webhook.disabled (by the deliverer: entity_id is the webhook).';
-- End of issue 12, webhooks and GitHub calls.

------------------------------------------------------------------------------
-- Reading functions for agents (src/sql/85_agent_reads.sql, as it is there)
------------------------------------------------------------------------------

-- Reading functions for agents: what the views show, as functions with
-- filters and bounds, so that each is one tool of intracker-mcp (src/mcp/)
-- and one /rpc/ call of PostgREST.  They run as the caller: RLS decides
-- what they see, and a project the caller is not in is PT404, not an empty
-- list (as everywhere in the API).

CREATE FUNCTION intracker.list_projects()
RETURNS SETOF intracker.projects
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_user();
    RETURN QUERY SELECT p.* FROM intracker.projects p ORDER BY p.name, p.id;
END
$$;
COMMENT ON FUNCTION intracker.list_projects() IS
    'The projects you are a member of, by name.';

CREATE FUNCTION intracker.list_features(project_id uuid)
RETURNS SETOF intracker.features
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_role(list_features.project_id, 'viewer', 'list features');
    RETURN QUERY
    SELECT f.* FROM intracker.features f
     WHERE f.project_id = list_features.project_id
     ORDER BY f.status = 'done', array_position(ARRAY['low', 'medium', 'high', 'critical'], f.priority) DESC, f.created_at, f.id;
END
$$;
COMMENT ON FUNCTION intracker.list_features(uuid) IS
    'The features of a project with their progress: open ones first, then by priority and age.';

CREATE FUNCTION intracker.list_todos(project_id uuid, status text DEFAULT NULL, feature_id uuid DEFAULT NULL,
                                     assigned_to uuid DEFAULT NULL, max_rows integer DEFAULT 100)
RETURNS SETOF intracker.todos
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_role(list_todos.project_id, 'viewer', 'list todos');
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT t.* FROM intracker.todos t
     WHERE t.project_id = list_todos.project_id
       AND (list_todos.status IS NULL OR t.status = list_todos.status)
       AND (list_todos.feature_id IS NULL OR t.feature_id = list_todos.feature_id)
       AND (list_todos.assigned_to IS NULL OR t.assigned_to = list_todos.assigned_to)
     ORDER BY t.status IN ('done', 'cancelled'), array_position(ARRAY['low', 'medium', 'high', 'critical'], t.priority) DESC,
              t.due_date NULLS LAST, t.created_at, t.id
     LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION intracker.list_todos(uuid, text, uuid, uuid, integer) IS
    'The todos of a project, filtered by status, feature and assignee (each optional), open ones first, then by priority, due date and age; at most max_rows (1 to 1000, default 100).';

CREATE FUNCTION intracker.get_my_todos(project_id uuid DEFAULT NULL)
RETURNS SETOF intracker.my_todos
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF get_my_todos.project_id IS NULL THEN
        PERFORM intracker_data.require_user();
    ELSE
        PERFORM intracker_data.require_role(get_my_todos.project_id, 'viewer', 'list your todos');
    END IF;
    RETURN QUERY
    SELECT t.* FROM intracker.my_todos t
     WHERE get_my_todos.project_id IS NULL OR t.project_id = get_my_todos.project_id
     ORDER BY array_position(ARRAY['low', 'medium', 'high', 'critical'], t.priority) DESC, t.due_date NULLS LAST, t.created_at, t.id;
END
$$;
COMMENT ON FUNCTION intracker.get_my_todos(uuid) IS
    'Your open todos (not done, not cancelled), in one project or all, by priority, due date and age.';

CREATE FUNCTION intracker.get_todo(todo_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found intracker.todos;
BEGIN
    PERFORM intracker_data.project_of('intracker_data.todos', get_todo.todo_id);
    SELECT t.* INTO found FROM intracker.todos t WHERE t.id = get_todo.todo_id;
    RETURN to_jsonb(found) || jsonb_build_object(
        'blocked_by', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', b.id, 'title', b.title, 'status', b.status)
                                                 ORDER BY b.title, b.id), '[]')
                         FROM intracker.todo_dependencies d JOIN intracker.todos b ON b.id = d.blocked_by
                        WHERE d.todo_id = get_todo.todo_id),
        'blocks', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'title', x.title, 'status', x.status)
                                             ORDER BY x.title, x.id), '[]')
                     FROM intracker.todo_dependencies d JOIN intracker.todos x ON x.id = d.todo_id
                    WHERE d.blocked_by = get_todo.todo_id));
END
$$;
COMMENT ON FUNCTION intracker.get_todo(uuid) IS
    'One todo as jsonb, with blocked_by (the todos it waits for) and blocks (the todos waiting for it), each with id, title and status.';

GRANT EXECUTE ON FUNCTION intracker.list_projects(), intracker.list_features(uuid),
    intracker.list_todos(uuid, text, uuid, uuid, integer), intracker.get_my_todos(uuid), intracker.get_todo(uuid)
    TO intracker_user;

------------------------------------------------------------------------------
-- Credentials (src/sql/95_credentials.sql, as it is there), and
-- last_login_at, which login and authenticate note, is no change of a user.
------------------------------------------------------------------------------

DROP TRIGGER users_row_version ON intracker_data.users;
CREATE TRIGGER users_row_version BEFORE UPDATE ON intracker_data.users
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('user', 'last_login_at');

-- Credentials: API tokens for agents and scripts, passwords and login for
-- PostgREST's web clients, authenticate() for everyone else, and what a
-- read-only token may not do.  The C side is src/authentication.c (with
-- the design notes), src/identity.c (the identity they set) and
-- src/login_throttle.c (failed logins).

------------------------------------------------------------------------------
-- API tokens
------------------------------------------------------------------------------

CREATE TABLE intracker_data.api_tokens (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES intracker_data.users (id) ON DELETE CASCADE,
    name            text NOT NULL
                    CONSTRAINT api_tokens_name_not_blank CHECK (btrim(name) <> '' AND length(name) <= 200),
    selector        text NOT NULL
                    CONSTRAINT api_tokens_selector_key UNIQUE,
    token_hash      bytea NOT NULL,
    read_only       boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz
                    CONSTRAINT api_tokens_expires_in_future CHECK (expires_at > created_at),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_tokens_user_id_idx ON intracker_data.api_tokens (user_id);
COMMENT ON TABLE intracker_data.api_tokens IS
    'API tokens: the selector (the characters after itk_ that find the row) and the SHA-256 of the whole token; never the token.';
COMMENT ON CONSTRAINT api_tokens_name_not_blank ON intracker_data.api_tokens IS 'name must not be blank (at most 200 characters).';
COMMENT ON CONSTRAINT api_tokens_expires_in_future ON intracker_data.api_tokens IS 'expires_at must be in the future.';
SELECT pg_catalog.pg_extension_config_dump('intracker_data.api_tokens', '');

-- Users see their own tokens, admins all; nobody writes them but the
-- functions below (no grant), and nobody reads token_hash (no grant).
ALTER TABLE intracker_data.api_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_tokens_select ON intracker_data.api_tokens FOR SELECT
    USING (user_id = (SELECT intracker.current_user_id()) OR pg_has_role('intracker_admin', 'MEMBER'));

CREATE VIEW intracker.api_tokens WITH (security_invoker = true) AS
SELECT id, user_id, name, 'itk_' || selector AS token_prefix, read_only, created_at, expires_at,
       last_used_at, revoked_at
  FROM intracker_data.api_tokens;
COMMENT ON VIEW intracker.api_tokens IS
    'Your API tokens (members of intracker_admin: everyone''s). Never the token nor its hash.';
COMMENT ON COLUMN intracker.api_tokens.token_prefix IS
    'The token''s first 16 characters: enough to recognise it, nothing that helps to guess the rest.';
COMMENT ON COLUMN intracker.api_tokens.last_used_at IS
    'Last authenticate() with it, to the minute.';

CREATE FUNCTION intracker.create_api_token(name text, expires_at timestamptz DEFAULT NULL,
                                           read_only boolean DEFAULT false, user_id uuid DEFAULT NULL)
RETURNS TABLE (token_id uuid, token text)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_create_api_token';
COMMENT ON FUNCTION intracker.create_api_token(text, timestamptz, boolean, uuid) IS
    'A new API token (itk_...) for yourself, or for user_id (members of intracker_admin only), shown this once. read_only tokens may read, not write. At most 100 usable tokens per user.';

CREATE FUNCTION intracker.revoke_api_token(token_id uuid)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_revoke_api_token';
COMMENT ON FUNCTION intracker.revoke_api_token(uuid) IS
    'Revoke an API token (yours, or anyone''s for members of intracker_admin): authenticate() refuses it, and sessions that use it lose their identity at their next transaction.';

-- The helpers below are called by the C functions as the extension's
-- owner (see src/authentication.c) and granted to nobody.

CREATE FUNCTION intracker_data.store_api_token(owner uuid, name text, selector text, token_hash bytea,
                                               read_only boolean, expires_at timestamptz)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner_active boolean;
    created uuid;
    violated text;
    violated_column text;
BEGIN
    -- locks the user row: a concurrent deactivation or token count waits
    SELECT u.is_active INTO owner_active FROM intracker_data.users u WHERE u.id = owner FOR SHARE;
    IF owner_active IS NULL THEN
        RAISE EXCEPTION 'user % not found', owner USING ERRCODE = 'PT404';
    ELSIF NOT owner_active THEN
        RAISE EXCEPTION 'user % is inactive', owner
            USING ERRCODE = '22023', DETAIL = 'Inactive users cannot have new tokens.';
    END IF;
    IF (SELECT count(*) FROM intracker_data.api_tokens t
         WHERE t.user_id = owner AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())) >= 100 THEN
        RAISE EXCEPTION 'too many API tokens'
            USING ERRCODE = '54000',
                  DETAIL = 'A user has at most 100 tokens that are neither revoked nor expired.',
                  HINT = 'Revoke tokens you no longer use (intracker.revoke_api_token).';
    END IF;
    INSERT INTO intracker_data.api_tokens AS t (user_id, name, selector, token_hash, read_only, expires_at)
    VALUES (owner, store_api_token.name, store_api_token.selector, store_api_token.token_hash,
            store_api_token.read_only, store_api_token.expires_at)
    RETURNING t.id INTO created;
    RETURN created;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker_data.store_api_token(uuid, text, text, bytea, boolean, timestamptz) IS
    'For create_api_token() only (run as the extension''s owner): stores a token''s selector and hash.';

CREATE FUNCTION intracker_data.revoke_api_token_as(token_id uuid, revoker uuid, any_user boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE intracker_data.api_tokens t SET revoked_at = coalesce(t.revoked_at, now())
     WHERE t.id = token_id AND (any_user OR t.user_id = revoker);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'API token % not found', token_id
            USING ERRCODE = 'PT404',
                  HINT = 'intracker.api_tokens lists your tokens.';
    END IF;
END
$$;
COMMENT ON FUNCTION intracker_data.revoke_api_token_as(uuid, uuid, boolean) IS
    'For revoke_api_token() only (run as the extension''s owner): revokes a token of revoker''s, or any token when any_user.';

CREATE FUNCTION intracker_data.api_token_by_selector(selector text)
RETURNS TABLE (id uuid, user_id uuid, token_hash bytea, read_only boolean, usable boolean, recently_used boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- plpgsql, not sql: its plan is kept for the session (a sql function
    -- with SET is planned again at every call)
    RETURN QUERY
    SELECT t.id, t.user_id, t.token_hash, t.read_only,
           t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.is_active,
           coalesce(t.last_used_at >= now() - interval '1 minute', false)
      FROM intracker_data.api_tokens t
      JOIN intracker_data.users u ON u.id = t.user_id
     WHERE t.selector = api_token_by_selector.selector;
END
$$;
COMMENT ON FUNCTION intracker_data.api_token_by_selector(text) IS
    'For authenticate() only (run as the extension''s owner): the token with this selector, whether it may be used, and whether its use was noted in the last minute.';

-- last_used_at (and the user's last_login_at) to the minute: not every
-- authenticate() is a write, and a row another session holds is skipped,
-- never waited for.
CREATE FUNCTION intracker_data.note_api_token_use(token_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner uuid;
BEGIN
    UPDATE intracker_data.api_tokens t SET last_used_at = now()
     WHERE t.id = (SELECT s.id FROM intracker_data.api_tokens s
                    WHERE s.id = token_id AND (s.last_used_at IS NULL OR s.last_used_at < now() - interval '1 minute')
                      FOR UPDATE SKIP LOCKED)
    RETURNING t.user_id INTO owner;
    IF owner IS NOT NULL THEN
        PERFORM intracker_data.note_login(owner);
    END IF;
END
$$;
COMMENT ON FUNCTION intracker_data.note_api_token_use(uuid) IS
    'For authenticate() only (run as the extension''s owner): sets last_used_at and the user''s last_login_at, at most once a minute, without waiting for a lock.';

-- Answers about the calling session's own token only (its credential
-- setting), so it tells nobody anything about other tokens.
CREATE FUNCTION intracker_data.session_token_is_valid()
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN EXISTS (
        SELECT FROM intracker_data.api_tokens t
          JOIN intracker_data.users u ON u.id = t.user_id
         WHERE t.id = split_part(current_setting('intracker.acting_credential'), ':', 2)::uuid
           AND t.user_id = current_setting('intracker.acting_user')::uuid
           AND t.revoked_at IS NULL
           AND (t.expires_at IS NULL OR t.expires_at > now())
           AND u.is_active);
END
$$;
COMMENT ON FUNCTION intracker_data.session_token_is_valid() IS
    'Whether the API token the session authenticated with still holds (not revoked, not expired, user active); identity.c asks once per transaction.';

------------------------------------------------------------------------------
-- Passwords and login
------------------------------------------------------------------------------

CREATE TABLE intracker_data.user_passwords (
    user_id         uuid PRIMARY KEY REFERENCES intracker_data.users (id) ON DELETE CASCADE,
    secret          text NOT NULL
                    CONSTRAINT user_passwords_secret_is_scram CHECK (secret LIKE 'SCRAM-SHA-256$%'),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON CONSTRAINT user_passwords_secret_is_scram ON intracker_data.user_passwords IS 'secret must be a SCRAM-SHA-256 secret.';
COMMENT ON TABLE intracker_data.user_passwords IS
    'Users'' passwords as SCRAM-SHA-256 secrets (salted, 4096 iterations, as PostgreSQL stores role passwords). No role but the owner reads them.';
SELECT pg_catalog.pg_extension_config_dump('intracker_data.user_passwords', '');
ALTER TABLE intracker_data.user_passwords ENABLE ROW LEVEL SECURITY;

-- One function, not two overloads (PostgREST resolves /rpc/set_password
-- by its arguments' names, and intracker has no overloaded API function).
CREATE FUNCTION intracker.set_password(password text, user_id uuid DEFAULT NULL)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_set_password';
COMMENT ON FUNCTION intracker.set_password(text, uuid) IS
    'Set your password for intracker.login(), or user_id''s (members of intracker_admin only): at least 12 characters and 5 different ones, at most 1024 bytes, not containing the email''s name.';

CREATE FUNCTION intracker_data.password_secret(password text, email text)
RETURNS text
LANGUAGE c STRICT VOLATILE
AS 'MODULE_PATHNAME', 'intracker_password_secret';
COMMENT ON FUNCTION intracker_data.password_secret(text, text) IS
    'The SCRAM-SHA-256 secret of a password that keeps the strength rules (22023 otherwise).';

CREATE FUNCTION intracker_data.store_password(user_id uuid, password text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    email text := (SELECT u.email FROM intracker_data.users u WHERE u.id = store_password.user_id);
BEGIN
    IF email IS NULL THEN
        RAISE EXCEPTION 'user % not found', user_id USING ERRCODE = 'PT404';
    END IF;
    INSERT INTO intracker_data.user_passwords AS p (user_id, secret)
    VALUES (store_password.user_id, intracker_data.password_secret(password, email))
    ON CONFLICT ON CONSTRAINT user_passwords_pkey
    DO UPDATE SET secret = excluded.secret, updated_at = now();
END
$$;
COMMENT ON FUNCTION intracker_data.store_password(uuid, text) IS
    'For set_password() only (run as the extension''s owner): checks and stores a password''s secret.';

CREATE FUNCTION intracker_data.login_candidate(email text)
RETURNS TABLE (user_id uuid, secret text, usable boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id, p.secret, u.is_active
      FROM intracker_data.users u
      LEFT JOIN intracker_data.user_passwords p ON p.user_id = u.id
     WHERE lower(u.email) = lower(login_candidate.email)
$$;
COMMENT ON FUNCTION intracker_data.login_candidate(text) IS
    'For login() only (run as the extension''s owner): the user of an email, their password secret, and whether they are active.';

CREATE FUNCTION intracker_data.note_login(user_id uuid)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE intracker_data.users u SET last_login_at = now()
     WHERE u.id = (SELECT s.id FROM intracker_data.users s
                    WHERE s.id = note_login.user_id
                      AND (s.last_login_at IS NULL OR s.last_login_at < now() - interval '1 minute')
                      FOR UPDATE SKIP LOCKED)
$$;
COMMENT ON FUNCTION intracker_data.note_login(uuid) IS
    'For login() and authenticate() only (run as the extension''s owner): sets last_login_at, at most once a minute, without waiting for a lock.';

CREATE FUNCTION intracker.login(email text, password text)
RETURNS jsonb
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_login';
COMMENT ON FUNCTION intracker.login(text, text) IS
    'A JWT for PostgREST and authenticate(): {"token", "expires_at", "user_id"}. Wrong email or password: PT401; 10 failures for an email within 15 minutes: PT429 until the window has passed. Needs intracker preloaded and intracker.jwt_secret.';

CREATE FUNCTION intracker.authenticate(token text)
RETURNS uuid
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_authenticate';
COMMENT ON FUNCTION intracker.authenticate(text) IS
    'Make the user of an API token or of a JWT from login() the session''s identity, as act_as() does (undone by ROLLBACK, RESET ALL, DISCARD ALL); NULL signs out. Any bad token: PT401.';

------------------------------------------------------------------------------
-- Read-only tokens
--
-- While a read-only token is the identity, no statement may write a table
-- users write: one statement trigger per table, so that functions, views
-- and PostgREST are refused alike.  Functions that write only tables of
-- their own call require_writable_identity() instead.
------------------------------------------------------------------------------

CREATE FUNCTION intracker_data.refuse_read_only_write()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_refuse_read_only_write';
COMMENT ON FUNCTION intracker_data.refuse_read_only_write() IS
    'Statement trigger (C): 42501 when the identity is a read-only API token.';

CREATE FUNCTION intracker_data.require_writable_identity()
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_refuse_read_only_write';
COMMENT ON FUNCTION intracker_data.require_writable_identity() IS
    '42501 when the identity is a read-only API token.';

CREATE TRIGGER users_refuse_read_only BEFORE INSERT OR DELETE OR UPDATE OF email, name, github_username, avatar_url, kind, is_active
    ON intracker_data.users FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER projects_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.projects FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER project_members_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.project_members FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER features_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.features FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER todos_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.todos FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER todo_dependencies_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.todo_dependencies FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER sessions_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.sessions FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER webhooks_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.webhooks FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER github_credentials_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.github_credentials FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();

-- The trigger functions are executable by no one (see 99_privileges.sql);
-- these are the grants the API needs.
GRANT SELECT ON intracker.api_tokens TO intracker_user;
GRANT SELECT (id, user_id, name, selector, read_only, created_at, expires_at, last_used_at, revoked_at)
    ON intracker_data.api_tokens TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.create_api_token(text, timestamptz, boolean, uuid),
    intracker.revoke_api_token(uuid), intracker.set_password(text, uuid),
    intracker.login(text, text), intracker.authenticate(text),
    intracker_data.session_token_is_valid(), intracker_data.require_writable_identity()
    TO intracker_user;

------------------------------------------------------------------------------
-- Counters kept per statement (issue 13): the member_load and progress
-- counter functions (the same C, which reads a row trigger's one row or a
-- statement trigger's transition tables) become statement triggers, one per
-- event.
------------------------------------------------------------------------------

DROP TRIGGER todos_member_load ON intracker_data.todos;
DROP TRIGGER features_member_load ON intracker_data.features;
DROP TRIGGER todos_progress ON intracker_data.todos;

COMMENT ON FUNCTION intracker_data.member_load_counter() IS
    'AFTER STATEMENT trigger (C) on todos and features, with transition tables: applies the statement''s effect on its assignees'' member_load counters, each member''s row once.';
CREATE TRIGGER todos_member_load_insert AFTER INSERT ON intracker_data.todos
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();
CREATE TRIGGER todos_member_load_update AFTER UPDATE ON intracker_data.todos
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();
CREATE TRIGGER todos_member_load_delete AFTER DELETE ON intracker_data.todos
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();
CREATE TRIGGER features_member_load_insert AFTER INSERT ON intracker_data.features
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();
CREATE TRIGGER features_member_load_update AFTER UPDATE ON intracker_data.features
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();
CREATE TRIGGER features_member_load_delete AFTER DELETE ON intracker_data.features
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.member_load_counter();

COMMENT ON FUNCTION intracker_data.progress_counter() IS
    'AFTER STATEMENT trigger (C) on todos, with transition tables: applies the statement''s effect on project_stats, project_daily_done and feature_stats, each counter row once.';
CREATE TRIGGER todos_progress_insert AFTER INSERT ON intracker_data.todos
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.progress_counter();
CREATE TRIGGER todos_progress_update AFTER UPDATE ON intracker_data.todos
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.progress_counter();
CREATE TRIGGER todos_progress_delete AFTER DELETE ON intracker_data.todos
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.progress_counter();

------------------------------------------------------------------------------
-- update_* at the speed of the UPDATE they run (issue 13): apply_changes in
-- C, keeping each UPDATE's plan; the per-field diagnosis of a bad value
-- moves to explain_bad_value.
------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION intracker_data.apply_changes(entity regclass, row_id uuid, changes jsonb,
                                                        expected_version integer)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_apply_changes';
ALTER FUNCTION intracker_data.apply_changes(regclass, uuid, jsonb, integer) RESET search_path;
COMMENT ON FUNCTION intracker_data.apply_changes(regclass, uuid, jsonb, integer) IS
    'Shared body of the update_* functions (C): validates a changes object and applies it in one optimistic-locked UPDATE, planned once per session for each set of fields.';

CREATE FUNCTION intracker_data.explain_bad_value(entity regclass, changes jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    field text;
    problem text;
    entity_name text := rtrim((SELECT c.relname FROM pg_class c WHERE c.oid = entity), 's');
BEGIN
    FOR field IN SELECT jsonb_object_keys(changes) LOOP
        BEGIN
            EXECUTE format('SELECT FROM jsonb_populate_record(NULL::%s, $1)', entity)
                USING jsonb_build_object(field, changes -> field);
        EXCEPTION WHEN data_exception THEN
            GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT;
            RAISE EXCEPTION 'invalid value for %', field
                USING ERRCODE = '22023',
                      DETAIL = format('%s of a %s: %s.', field, entity_name, problem),
                      COLUMN = field;
        END;
    END LOOP;
END
$$;
COMMENT ON FUNCTION intracker_data.explain_bad_value(regclass, jsonb) IS
    'Raises 22023 naming the first field of changes whose value does not convert to its column''s type; returns if all convert.';
GRANT EXECUTE ON FUNCTION intracker_data.explain_bad_value(regclass, jsonb) TO intracker_user;

------------------------------------------------------------------------------
-- events_since pages at the same cost at the start and at the end of the
-- log (issue 13): each page's scan is narrowed to a range of seq.
------------------------------------------------------------------------------

-- Where a page of events_since ends: the seq of the max_events-th event
-- after after_seq of the project (of the caller's projects when NULL), or
-- NULL when fewer follow (of every project: the end of the log is near).
-- It only narrows the page's scan to a range of
-- seq, which the view's OR keeps the planner from doing (it sorted every
-- event after the page start, so a page cost what the rest of the log
-- did).  The page is still read through intracker.events: a bound too low
-- gives a short page, one too high a page cut at max_events, never a wrong
-- one.  SECURITY DEFINER, to use the (project_id, seq) index; it counts
-- only events of projects the caller is a member of, so it reveals nothing.
CREATE FUNCTION intracker_data.events_page_end(after_seq bigint, project_id uuid, max_events integer)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF project_id IS NOT NULL THEN
        IF intracker_data.my_role(project_id) IS NULL THEN
            RETURN NULL;
        END IF;
        RETURN (SELECT e.seq FROM intracker_data.events e
                 WHERE e.project_id = events_page_end.project_id AND e.seq > after_seq
                   AND (e.type NOT LIKE 'notification.%' OR e.entity_id = intracker.current_user_id())
                 ORDER BY e.seq OFFSET max_events - 1 LIMIT 1);
    END IF;
    -- Each project's page end, from its index; the first of them is at or
    -- after the end of the page of all of them together (too high is fine).
    RETURN (SELECT min(b.seq)
              FROM pg_catalog.unnest(intracker_data.my_project_ids('viewer')) AS p (id)
             CROSS JOIN LATERAL (SELECT e.seq FROM intracker_data.events e
                                  WHERE e.project_id = p.id AND e.seq > after_seq
                                    AND (e.type NOT LIKE 'notification.%' OR e.entity_id = intracker.current_user_id())
                                  ORDER BY e.seq OFFSET max_events - 1 LIMIT 1) AS b);
END
$$;
COMMENT ON FUNCTION intracker_data.events_page_end(bigint, uuid, integer) IS
    'The seq at which a page of events_since ends (the max_events-th event after after_seq of the project, or of the caller''s projects), or NULL when fewer follow; counts only the caller''s projects.';

CREATE OR REPLACE FUNCTION intracker.events_since(after_seq bigint, project_id uuid DEFAULT NULL, max_events integer DEFAULT 1000)
RETURNS SETOF intracker.events
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    page_end bigint;
BEGIN
    IF after_seq IS NULL OR after_seq < 0 THEN
        RAISE EXCEPTION 'after_seq must be 0 or a seq you have seen'
            USING ERRCODE = '22023',
                  DETAIL = format('after_seq is %s.', coalesce(after_seq::text, 'NULL')),
                  HINT = 'Pass 0 to read from the oldest retained event.';
    END IF;
    IF max_events IS NULL OR max_events NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max_events must be between 1 and 10000'
            USING ERRCODE = '22023',
                  DETAIL = format('max_events is %s.', coalesce(max_events::text, 'NULL')),
                  HINT = 'Read in pages: call again with the last seq returned.';
    END IF;
    IF project_id IS NOT NULL
       AND NOT (intracker.current_user_id() IS NULL AND pg_has_role('intracker_admin', 'MEMBER')) THEN
        PERFORM intracker_data.require_role(project_id, 'viewer', 'read this project''s events');
    END IF;

    PERFORM intracker_data.publish_pending_events();
    page_end := coalesce(intracker_data.events_page_end(after_seq, project_id, max_events), 9223372036854775807);

    IF project_id IS NULL THEN
        RETURN QUERY
            SELECT e.* FROM intracker.events e
             WHERE e.seq > after_seq AND e.seq <= page_end
             ORDER BY e.seq LIMIT max_events;
    ELSE
        RETURN QUERY
            SELECT e.* FROM intracker.events e
             WHERE e.project_id = events_since.project_id AND e.seq > after_seq AND e.seq <= page_end
             ORDER BY e.seq LIMIT max_events;
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION intracker_data.events_page_end(bigint, uuid, integer) TO intracker_user;

-- Whether the identity is a read-only token, for clients (intracker-mcp).
CREATE FUNCTION intracker.identity_is_read_only()
RETURNS boolean
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'intracker_identity_is_read_only_sql';
COMMENT ON FUNCTION intracker.identity_is_read_only() IS
    'True when the session''s identity comes from a read-only API token (writes fail with 42501): a client can offer only what reads.';
GRANT EXECUTE ON FUNCTION intracker.identity_is_read_only() TO intracker_user;

------------------------------------------------------------------------------
-- Handles (issue 16): how users @mention each other.  Existing users get a
-- free handle each, in the order they were created.
------------------------------------------------------------------------------

ALTER TABLE intracker_data.users ADD COLUMN handle text;
-- A free handle for a user: their GitHub login, else the local part of
-- their email, made to fit the format, with -2, -3 … when another user has
-- it already (in any case).  Users get one on creation (users_fill_handle,
-- SECURITY DEFINER: it must see every handle, not only those of the users
-- the creator shares a project with); two users created at once with the
-- same base can still meet the unique index (23505): create them again.
CREATE FUNCTION intracker_data.free_handle(github_username text, email text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base text := left(regexp_replace(regexp_replace(coalesce(github_username, split_part(email, '@', 1)),
                                                    '[^A-Za-z0-9_-]+', '-', 'g'),
                                     '^[_-]+', ''), 32);
    candidate text;
    n integer := 1;
BEGIN
    IF base = '' THEN
        base := 'user';
    END IF;
    candidate := base;
    WHILE EXISTS (SELECT FROM intracker_data.users u WHERE lower(u.handle) = lower(candidate)) LOOP
        n := n + 1;
        candidate := base || '-' || n;
    END LOOP;
    RETURN candidate;
END
$$;
COMMENT ON FUNCTION intracker_data.free_handle(text, text) IS
    'A handle no user has (regardless of case), from a GitHub login or else an email''s local part.';

CREATE FUNCTION intracker_data.fill_handle()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.handle IS NULL THEN
        NEW.handle := intracker_data.free_handle(NEW.github_username, NEW.email);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.fill_handle() IS
    'Trigger: gives a new user without a handle a free one (free_handle).';
DO $handles$
DECLARE
    u record;
BEGIN
    FOR u IN SELECT id, github_username, email FROM intracker_data.users ORDER BY created_at, id LOOP
        UPDATE intracker_data.users SET handle = intracker_data.free_handle(u.github_username, u.email) WHERE id = u.id;
    END LOOP;
END
$handles$;
ALTER TABLE intracker_data.users ALTER COLUMN handle SET NOT NULL,
    ADD CONSTRAINT users_handle_format CHECK (handle ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,38}$');
CREATE UNIQUE INDEX users_handle_key ON intracker_data.users (lower(handle));
COMMENT ON CONSTRAINT users_handle_format ON intracker_data.users IS 'handle must be a letter or digit, then letters, digits, _ and -, at most 39 characters.';
CREATE TRIGGER users_fill_handle BEFORE INSERT ON intracker_data.users
    FOR EACH ROW EXECUTE FUNCTION intracker_data.fill_handle();

CREATE OR REPLACE VIEW intracker.users WITH (security_invoker = true) AS
SELECT id, email, name, github_username, avatar_url, kind, is_active, last_login_at, created_at, updated_at, handle
  FROM intracker_data.users;
COMMENT ON VIEW intracker.users IS 'Users you share a project with, and yourself. You may update your own name, github_username, avatar_url and handle.';
COMMENT ON COLUMN intracker.users.handle IS 'How others @mention you: unique regardless of case; from your GitHub login or email at creation; yours to change.';
GRANT UPDATE (handle) ON intracker.users, intracker_data.users TO intracker_user;

CREATE OR REPLACE FUNCTION intracker.create_user(email text, name text, kind text DEFAULT 'human',
                                      github_username text DEFAULT NULL, user_id uuid DEFAULT NULL)
RETURNS intracker.users
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    created intracker.users;
    violated text;
    violated_column text;
BEGIN
    IF NOT pg_has_role('intracker_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to create users'
            USING ERRCODE = '42501',
                  DETAIL = 'Only members of intracker_admin create users.',
                  HINT = 'Ask an administrator to create the user.';
    END IF;
    INSERT INTO intracker_data.users AS u (id, email, name, kind, github_username)
    VALUES (coalesce(create_user.user_id, gen_random_uuid()), create_user.email, create_user.name,
            create_user.kind, create_user.github_username)
    RETURNING u.id, u.email, u.name, u.github_username, u.avatar_url, u.kind, u.is_active,
              u.last_login_at, u.created_at, u.updated_at, u.handle
         INTO created;
    RETURN created;
EXCEPTION
    WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
        IF violated = 'users_pkey' THEN
            RAISE EXCEPTION 'a user with id % already exists', create_user.user_id USING ERRCODE = '23505';
        END IF;
        IF violated = 'users_handle_key' THEN
            RAISE EXCEPTION 'another user took the same handle at the same time'
                USING ERRCODE = '23505', HINT = 'Create the user again: it gets the next free handle.';
        END IF;
        RAISE EXCEPTION 'a user with email % already exists', create_user.email
            USING ERRCODE = '23505',
                  HINT = 'Emails are unique regardless of case.';
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
CREATE OR REPLACE FUNCTION intracker.set_user_active(user_id uuid, active boolean)
RETURNS intracker.users
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    changed intracker.users;
BEGIN
    IF NOT pg_has_role('intracker_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to activate or deactivate users'
            USING ERRCODE = '42501',
                  DETAIL = 'Only members of intracker_admin manage users.';
    END IF;
    IF active IS NULL THEN
        RAISE EXCEPTION 'active must not be null' USING ERRCODE = '22023';
    END IF;
    UPDATE intracker_data.users AS u SET is_active = set_user_active.active
     WHERE u.id = set_user_active.user_id
    RETURNING u.id, u.email, u.name, u.github_username, u.avatar_url, u.kind, u.is_active,
              u.last_login_at, u.created_at, u.updated_at, u.handle
         INTO changed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', set_user_active.user_id USING ERRCODE = 'PT404';
    END IF;
    RETURN changed;
END
$$;
DROP TRIGGER users_refuse_read_only ON intracker_data.users;
CREATE TRIGGER users_refuse_read_only BEFORE INSERT OR DELETE OR UPDATE OF email, name, github_username, avatar_url, kind, is_active, handle
    ON intracker_data.users FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();

------------------------------------------------------------------------------
-- Metadata and labels (issue 16): a metadata object on projects, features
-- and todos, tags on features; create_* take them.
------------------------------------------------------------------------------

ALTER TABLE intracker_data.projects ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'
    CONSTRAINT projects_metadata_object CHECK (jsonb_typeof(metadata) = 'object' AND octet_length(metadata::text) <= 16384);
ALTER TABLE intracker_data.features ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'
    CONSTRAINT features_metadata_object CHECK (jsonb_typeof(metadata) = 'object' AND octet_length(metadata::text) <= 16384);
ALTER TABLE intracker_data.todos ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'
    CONSTRAINT todos_metadata_object CHECK (jsonb_typeof(metadata) = 'object' AND octet_length(metadata::text) <= 16384);
COMMENT ON CONSTRAINT projects_metadata_object ON intracker_data.projects IS 'metadata must be a JSON object of at most 16384 bytes.';
COMMENT ON CONSTRAINT features_metadata_object ON intracker_data.features IS 'metadata must be a JSON object of at most 16384 bytes.';
COMMENT ON CONSTRAINT todos_metadata_object ON intracker_data.todos IS 'metadata must be a JSON object of at most 16384 bytes.';

CREATE OR REPLACE VIEW intracker.projects WITH (security_invoker = true) AS
SELECT id, name, description, status, tags, github_repo, resume_context, created_by, created_at, updated_at, version,
       metadata
  FROM intracker_data.projects;
CREATE OR REPLACE VIEW intracker.features WITH (security_invoker = true) AS
SELECT f.id, f.project_id, f.title, f.description, f.status, f.priority, f.assigned_to, f.created_by,
       f.created_at, f.updated_at, f.completed_at, f.completed_by, f.version,
       (SELECT c.todos_total::integer FROM intracker_data.feature_counts(f.id) c) AS todos_total,
       (SELECT c.todos_done::integer FROM intracker_data.feature_counts(f.id) c) AS todos_done,
       (SELECT CASE WHEN c.todos_total = 0 THEN CASE WHEN f.status = 'done' THEN 100 ELSE 0 END
                    ELSE div(100 * c.todos_done, c.todos_total)::integer END
          FROM intracker_data.feature_counts(f.id) c) AS progress,
       f.tags, f.metadata
  FROM intracker_data.features f;
CREATE OR REPLACE VIEW intracker.todos WITH (security_invoker = true) AS
SELECT id, project_id, feature_id, title, description, status, priority, estimate, tags, assigned_to,
       created_by, completed_by, blocked_reason, due_date, github_issue, github_pr,
       completed_at, created_at, updated_at, version, github_issue_url, metadata
  FROM intracker_data.todos;
CREATE OR REPLACE VIEW intracker.my_todos WITH (security_invoker = true) AS
SELECT id, project_id, feature_id, title, description, status, priority, estimate, tags, assigned_to,
       created_by, completed_by, blocked_reason, due_date, github_issue, github_pr,
       completed_at, created_at, updated_at, version, metadata
  FROM intracker_data.todos
 WHERE assigned_to = (SELECT intracker.current_user_id())
   AND status NOT IN ('done', 'cancelled');
COMMENT ON COLUMN intracker.projects.metadata IS 'Free-form JSON object (at most 16 kB) for what an integration needs to keep.';
COMMENT ON COLUMN intracker.features.tags IS 'Labels, as on todos and projects.';
COMMENT ON COLUMN intracker.features.metadata IS 'Free-form JSON object (at most 16 kB) for what an integration needs to keep.';
COMMENT ON COLUMN intracker.todos.metadata IS 'Free-form JSON object (at most 16 kB) for what an integration needs to keep.';
GRANT UPDATE (metadata) ON intracker.projects, intracker_data.projects TO intracker_user;
GRANT INSERT (tags, metadata), UPDATE (tags, metadata) ON intracker.features, intracker_data.features TO intracker_user;
GRANT INSERT (metadata), UPDATE (metadata) ON intracker.todos, intracker_data.todos, intracker.my_todos TO intracker_user;

DROP FUNCTION intracker.create_project(text, text, text, text[], jsonb, text);
DROP FUNCTION intracker.create_feature(uuid, text, text, text, uuid, text);
DROP FUNCTION intracker.create_todo(uuid, text, uuid, text, text, integer, text[], date, uuid, text);
CREATE FUNCTION intracker.create_project(name text, description text DEFAULT NULL, github_repo text DEFAULT NULL,
                                         tags text[] DEFAULT '{}', resume_context jsonb DEFAULT '{}',
                                         status text DEFAULT 'active', metadata jsonb DEFAULT '{}')
RETURNS intracker.projects
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    created intracker.projects;
    violated text;
    violated_column text;
BEGIN
    -- SECURITY DEFINER: the creator is not yet a member, so neither the
    -- project row nor its owner membership would pass RLS.
    INSERT INTO intracker_data.projects AS p (name, description, github_repo, tags, resume_context, status, created_by,
                                              metadata)
    VALUES (create_project.name, create_project.description, create_project.github_repo,
            coalesce(create_project.tags, '{}'), coalesce(create_project.resume_context, '{}'),
            coalesce(create_project.status, 'active'), me, coalesce(create_project.metadata, '{}'))
    RETURNING p.id, p.name, p.description, p.status, p.tags, p.github_repo, p.resume_context,
              p.created_by, p.created_at, p.updated_at, p.version, p.metadata
         INTO created;
    INSERT INTO intracker_data.project_members (project_id, user_id, role) VALUES (created.id, me, 'owner');
    RETURN created;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
CREATE OR REPLACE FUNCTION intracker_data.projects_view_insert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.id IS NOT NULL OR NEW.version IS NOT NULL OR NEW.created_by IS NOT NULL THEN
        RAISE EXCEPTION 'id, version and created_by of a new project are set by intracker'
            USING ERRCODE = '22023',
                  HINT = 'Leave them out of the insert.';
    END IF;
    NEW := intracker.create_project(NEW.name, NEW.description, NEW.github_repo,
                                    NEW.tags, NEW.resume_context, NEW.status, NEW.metadata);
    RETURN NEW;
END
$$;
CREATE FUNCTION intracker.create_feature(project_id uuid, title text, description text DEFAULT NULL,
                                         priority text DEFAULT 'medium', assigned_to uuid DEFAULT NULL,
                                         status text DEFAULT 'todo', tags text[] DEFAULT '{}',
                                         metadata jsonb DEFAULT '{}')
RETURNS intracker.features
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id uuid;
    created intracker.features;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(create_feature.project_id, 'editor', 'create features');
    INSERT INTO intracker_data.features AS f (project_id, title, description, priority, assigned_to, status, tags,
                                              metadata)
    VALUES (create_feature.project_id, create_feature.title, create_feature.description,
            create_feature.priority, create_feature.assigned_to, create_feature.status,
            coalesce(create_feature.tags, '{}'), coalesce(create_feature.metadata, '{}'))
    RETURNING f.id INTO new_id;
    SELECT * INTO created FROM intracker.features f WHERE f.id = new_id;
    RETURN created;
EXCEPTION
    WHEN check_violation OR foreign_key_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
CREATE FUNCTION intracker.create_todo(project_id uuid, title text, feature_id uuid DEFAULT NULL,
                                      description text DEFAULT NULL, priority text DEFAULT 'medium',
                                      estimate integer DEFAULT 1, tags text[] DEFAULT '{}',
                                      due_date date DEFAULT NULL, assigned_to uuid DEFAULT NULL,
                                      status text DEFAULT 'todo', metadata jsonb DEFAULT '{}')
RETURNS intracker.todos
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id uuid;
    created intracker.todos;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(create_todo.project_id, 'editor', 'create todos');
    INSERT INTO intracker_data.todos AS t (project_id, title, feature_id, description, priority, estimate,
                                           tags, due_date, assigned_to, status, metadata)
    VALUES (create_todo.project_id, create_todo.title, create_todo.feature_id, create_todo.description,
            create_todo.priority, create_todo.estimate, coalesce(create_todo.tags, '{}'),
            create_todo.due_date, create_todo.assigned_to, create_todo.status, coalesce(create_todo.metadata, '{}'))
    RETURNING t.id INTO new_id;
    SELECT * INTO created FROM intracker.todos t WHERE t.id = new_id;
    RETURN created;
EXCEPTION
    WHEN check_violation OR foreign_key_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.create_project(text, text, text, text[], jsonb, text, jsonb) IS
    'Create a project; you become its owner.';
COMMENT ON FUNCTION intracker.create_feature(uuid, text, text, text, uuid, text, text[], jsonb) IS
    'Create a feature in a project. Editors and owners.';
COMMENT ON FUNCTION intracker.create_todo(uuid, text, uuid, text, text, integer, text[], date, uuid, text, jsonb) IS
    'Create a todo in a project, optionally in a feature of the same project. Editors and owners.';
COMMENT ON FUNCTION intracker.update_project(uuid, jsonb, integer) IS
    'Change fields of a project (name, description, status, tags, github_repo, resume_context, metadata). Editors and owners, github_repo owners only (42501); PT409 if expected_version is stale.';
COMMENT ON FUNCTION intracker.update_feature(uuid, jsonb, integer) IS
    'Change fields of a feature (title, description, status, priority, assigned_to, tags, metadata). Editors and owners; PT409 if expected_version is stale.';
-- SQL-standard bodies expanded the views' columns when they were created:
-- again, with the new ones.
CREATE OR REPLACE FUNCTION intracker.assign_todo(todo_id uuid, assignee uuid DEFAULT NULL, expected_version integer DEFAULT NULL)
RETURNS intracker.todos
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT intracker_data.assign('intracker_data.todos', todo_id, assignee, expected_version);
    SELECT t.* FROM intracker.todos t WHERE t.id = assign_todo.todo_id;
END;
CREATE OR REPLACE FUNCTION intracker.assign_feature(feature_id uuid, assignee uuid DEFAULT NULL, expected_version integer DEFAULT NULL)
RETURNS intracker.features
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT intracker_data.assign('intracker_data.features', feature_id, assignee, expected_version);
    SELECT f.* FROM intracker.features f WHERE f.id = assign_feature.feature_id;
END;
GRANT EXECUTE ON FUNCTION intracker.create_project(text, text, text, text[], jsonb, text, jsonb),
    intracker.create_feature(uuid, text, text, text, uuid, text, text[], jsonb),
    intracker.create_todo(uuid, text, uuid, text, text, integer, text[], date, uuid, text, jsonb) TO intracker_user;


-- Webhooks may follow comments and documents (issue 16).
COMMENT ON FUNCTION intracker.create_webhook(uuid, text, text[], text, text) IS
    'Owners: deliver the project''s events matching event_types (''*'', ''todo.*'', ''todo.status_changed'', ''comment.*'', ...; never notifications) to url (http or https) as json (the event) or slack ({"text": ...}). With a secret, each request carries X-Intracker-Signature-256: sha256=<hex HMAC-SHA256 of the body>. The secret is never shown again.';

------------------------------------------------------------------------------
-- The context documents without JIT (issue 13; src/sql/80_context.sql says why).
------------------------------------------------------------------------------

ALTER FUNCTION intracker.team_context(uuid) SET jit = off;
ALTER FUNCTION intracker.resume_context(uuid) SET jit = off;

------------------------------------------------------------------------------
-- resume_context's waiting todos from an index of their own (issue 13),
-- as in src/sql/80_context.sql.
------------------------------------------------------------------------------

CREATE INDEX todos_member_waiting ON intracker_data.todos
    (project_id, assigned_to, priority_rank DESC, feature_active DESC, open_dependent_count DESC,
     due_date ASC NULLS LAST, created_at, id)
    WHERE status IN ('todo', 'blocked', 'review') AND NOT (status = 'todo' AND open_blocker_count = 0);

------------------------------------------------------------------------------
-- History that lasts (issue 16): src/sql/93_history.sql, whole, and the
-- changes still in the event log copied into it.
------------------------------------------------------------------------------

-- History that lasts: every change of a project, feature, todo, comment or
-- document (and of a todo's dependencies), from its creation on, kept after
-- the event log has pruned it.  intracker.event_retention bounds replay;
-- intracker.history_retention (default forever) bounds history.
--
-- The publisher copies each published event of those kinds here, in the
-- transaction that publishes it (src/publication.c), so the history is
-- exactly the published changes, in seq order, and costs writers nothing.
-- A project's history goes with the project.  Readers see the history of
-- their projects' entities (RLS); no column of these entities is hidden
-- from viewers (the session notes, which are, have no history here).

CREATE TABLE intracker_data.history (
    seq             bigint PRIMARY KEY,
    type            text NOT NULL,
    project_id      uuid NOT NULL,
    entity_id       uuid NOT NULL,
    actor           uuid,
    version         integer,
    changes         jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX history_entity_idx ON intracker_data.history (entity_id, seq DESC);
CREATE INDEX history_project_idx ON intracker_data.history (project_id);
COMMENT ON TABLE intracker_data.history IS
    'Published changes of projects, features, todos (and their dependencies), comments and documents, kept for intracker.history_retention (default forever); read with intracker.history().';
SELECT pg_catalog.pg_extension_config_dump('intracker_data.history', '');

ALTER TABLE intracker_data.history ENABLE ROW LEVEL SECURITY;
CREATE POLICY history_select ON intracker_data.history FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[])
           OR ((SELECT intracker.current_user_id()) IS NULL
               AND pg_catalog.pg_has_role('intracker_admin', 'MEMBER')));

-- Called by the publisher for each batch it publishes.  Events of a project
-- deleted meanwhile are not kept: its history went with it.
CREATE FUNCTION intracker_data.record_history(after_seq bigint, last_seq bigint)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO intracker_data.history (seq, type, project_id, entity_id, actor, version, changes, occurred_at)
    SELECT e.seq, e.type, e.project_id, e.entity_id, e.actor, e.version, e.changes, e.occurred_at
      FROM intracker_data.events e
     WHERE e.seq > record_history.after_seq AND e.seq <= record_history.last_seq
       AND split_part(e.type, '.', 1) IN ('project', 'feature', 'todo', 'dependency', 'comment', 'document')
       AND EXISTS (SELECT FROM intracker_data.projects p WHERE p.id = e.project_id)
     ORDER BY e.seq;
END;
COMMENT ON FUNCTION intracker_data.record_history(bigint, bigint) IS
    'Copies the published events after after_seq up to last_seq that are changes of a project, feature, todo (or its dependencies), comment or document into intracker_data.history (for the publisher).';

CREATE FUNCTION intracker_data.forget_project_history()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM intracker_data.history h WHERE h.project_id = OLD.id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.forget_project_history() IS
    'Trigger: a deleted project''s history goes with it.';
CREATE TRIGGER projects_forget_history AFTER DELETE ON intracker_data.projects
    FOR EACH ROW EXECUTE FUNCTION intracker_data.forget_project_history();

CREATE FUNCTION intracker.history(entity_id uuid, max_entries integer DEFAULT 100, before timestamptz DEFAULT NULL)
RETURNS TABLE (seq bigint, occurred_at timestamptz, actor uuid, type text, version integer, changes jsonb)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_user();
    IF max_entries IS NULL OR max_entries NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max_entries must be between 1 and 10000'
            USING ERRCODE = '22023',
                  DETAIL = format('max_entries is %s.', coalesce(max_entries::text, 'NULL')),
                  HINT = 'Read older entries with before => the occurred_at of the oldest you have.';
    END IF;
    PERFORM intracker_data.publish_pending_events();
    -- The changes of one transaction share their occurred_at, so a page
    -- ends at a transaction boundary: paging with before => the oldest
    -- occurred_at of a page then misses nothing.  (A page is cut inside a
    -- transaction only when that one transaction alone has more than
    -- max_entries changes of the entity.)
    RETURN QUERY
        WITH page AS (
            SELECT h.*, row_number() OVER (ORDER BY h.seq DESC) AS n
              FROM (SELECT h.* FROM intracker_data.history h
                     WHERE h.entity_id = history.entity_id
                       AND (history.before IS NULL OR h.occurred_at < history.before)
                     ORDER BY h.seq DESC
                     LIMIT max_entries + 1) h),
        cut AS (SELECT p.occurred_at FROM page p WHERE p.n = max_entries + 1)
        SELECT p.seq, p.occurred_at, p.actor, p.type, p.version, p.changes
          FROM page p
         WHERE p.n <= max_entries
           AND (NOT EXISTS (SELECT FROM cut)
                OR p.occurred_at <> (SELECT c.occurred_at FROM cut c)
                OR NOT EXISTS (SELECT FROM page q
                                WHERE q.n <= max_entries AND q.occurred_at <> (SELECT c.occurred_at FROM cut c)))
         ORDER BY p.seq DESC;
    IF NOT FOUND
       AND NOT EXISTS (SELECT FROM intracker_data.history h WHERE h.entity_id = history.entity_id)
       AND NOT EXISTS (SELECT FROM intracker_data.todos t WHERE t.id = history.entity_id)
       AND NOT EXISTS (SELECT FROM intracker_data.features f WHERE f.id = history.entity_id)
       AND NOT EXISTS (SELECT FROM intracker_data.projects p WHERE p.id = history.entity_id) THEN
        RAISE EXCEPTION 'no history of % found', coalesce(entity_id::text, 'NULL')
            USING ERRCODE = 'PT404',
                  HINT = 'Pass the id of a project, feature, todo, comment or document of a project you are a member of.';
    END IF;
END
$$;
COMMENT ON FUNCTION intracker.history(uuid, integer, timestamptz) IS
    'Every change of a project, feature, todo (its dependencies included), comment or document since its creation, deleted ones included, newest first: seq, occurred_at, actor, type, version and changes ({"field": {"old", "new"}}); at most max_entries (1 to 10000), ending at a transaction boundary, so that before => the oldest occurred_at of a page gives the next. Kept for intracker.history_retention (default forever), whatever intracker.event_retention.';

GRANT SELECT ON intracker_data.history TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.history(uuid, integer, timestamptz) TO intracker_user;

INSERT INTO intracker_data.history (seq, type, project_id, entity_id, actor, version, changes, occurred_at)
SELECT e.seq, e.type, e.project_id, e.entity_id, e.actor, e.version, e.changes, e.occurred_at
  FROM intracker_data.events e
 WHERE split_part(e.type, '.', 1) IN ('project', 'feature', 'todo', 'dependency', 'comment', 'document')
   AND EXISTS (SELECT FROM intracker_data.projects p WHERE p.id = e.project_id)
 ORDER BY e.seq;

------------------------------------------------------------------------------
-- Project documents (issue 16): src/sql/96_documents.sql, whole, and
-- project_of() knowing them.
------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION intracker_data.project_of(entity regclass, row_id uuid)
RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    project uuid;
    entity_name text := rtrim((SELECT c.relname FROM pg_class c WHERE c.oid = entity), 's');
BEGIN
    -- Without this an anonymous caller would be told "not found" (RLS hides
    -- everything from it) instead of how to authenticate.
    PERFORM intracker_data.require_user();
    IF row_id IS NULL THEN
        RAISE EXCEPTION '% id must not be null', entity_name USING ERRCODE = '22023';
    END IF;
    -- Static queries, planned once per session.
    CASE entity
        WHEN 'intracker_data.todos'::regclass THEN
            SELECT t.project_id INTO project FROM intracker_data.todos t WHERE t.id = row_id;
        WHEN 'intracker_data.features'::regclass THEN
            SELECT f.project_id INTO project FROM intracker_data.features f WHERE f.id = row_id;
        WHEN 'intracker_data.projects'::regclass THEN
            SELECT p.id INTO project FROM intracker_data.projects p WHERE p.id = row_id;
        WHEN 'intracker_data.documents'::regclass THEN
            SELECT d.project_id INTO project FROM intracker_data.documents d WHERE d.id = row_id;
    END CASE;
    IF project IS NULL THEN
        RAISE EXCEPTION '% % not found', entity_name, row_id
            USING ERRCODE = 'PT404',
                  HINT = CASE WHEN entity = 'intracker_data.projects'::regclass
                              THEN 'The project does not exist or you are not a member of it.'
                              ELSE format('The %s does not exist or you are not a member of its project.', entity_name) END;
    END IF;
    RETURN project;
END
$$;

-- Project documents: the specs, decisions and runbooks an agent reads
-- before it starts.  Versioned like todos (optimistic locking, events),
-- commentable (97_comments.sql), searchable and in the history; the context
-- documents list their titles.  Editors and owners write them, members
-- read them; a document's author or an owner deletes it.  Bodies are
-- Markdown, at most 200,000 characters.

CREATE TABLE intracker_data.documents (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    title           text NOT NULL
                    CONSTRAINT documents_title_not_blank CHECK (btrim(title) <> '' AND length(title) <= 500),
    body            text NOT NULL DEFAULT ''
                    CONSTRAINT documents_body_length CHECK (length(body) <= 200000),
    kind            text NOT NULL DEFAULT 'note'
                    CONSTRAINT documents_kind_valid CHECK (kind IN ('note', 'spec', 'decision', 'runbook')),
    created_by      uuid REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT documents_id_project_key UNIQUE (id, project_id)
);
CREATE INDEX documents_project_updated_idx ON intracker_data.documents (project_id, updated_at DESC);
CREATE INDEX documents_created_by_idx ON intracker_data.documents (created_by);
COMMENT ON TABLE intracker_data.documents IS 'Project documents (intracker.documents is the API).';
COMMENT ON CONSTRAINT documents_title_not_blank ON intracker_data.documents IS 'title must not be blank (at most 500 characters).';
COMMENT ON CONSTRAINT documents_body_length ON intracker_data.documents IS 'body must be at most 200000 characters.';
COMMENT ON CONSTRAINT documents_kind_valid ON intracker_data.documents IS 'kind must be one of: note, spec, decision, runbook.';
COMMENT ON CONSTRAINT documents_project_id_fkey ON intracker_data.documents IS 'project_id must be a project.';
COMMENT ON CONSTRAINT documents_created_by_fkey ON intracker_data.documents IS 'created_by must be a user.';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.documents', '');

CREATE TRIGGER documents_row_version BEFORE UPDATE ON intracker_data.documents
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('document');

ALTER TABLE intracker_data.documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY documents_select ON intracker_data.documents FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY documents_insert ON intracker_data.documents FOR INSERT
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY documents_update ON intracker_data.documents FOR UPDATE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY documents_delete ON intracker_data.documents FOR DELETE
    USING ((created_by = (SELECT intracker.current_user_id())
            AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
           OR project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));

CREATE VIEW intracker.documents WITH (security_invoker = true) AS
SELECT id, project_id, title, body, kind, created_by, created_at, updated_at, version
  FROM intracker_data.documents;
COMMENT ON VIEW intracker.documents IS
    'Specs, decisions, runbooks and notes of your projects (Markdown, at most 200,000 characters). Editors create and update them (a stale version fails with PT409); their author or an owner deletes them.';
COMMENT ON COLUMN intracker.documents.kind IS 'note, spec, decision or runbook.';
COMMENT ON COLUMN intracker.documents.version IS 'Optimistic lock: pass it as expected_version to update_document() (or SET version = n).';

CREATE FUNCTION intracker.create_document(project_id uuid, title text, body text, kind text DEFAULT 'note')
RETURNS intracker.documents
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id uuid;
    created intracker.documents;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(create_document.project_id, 'editor', 'create documents');
    INSERT INTO intracker_data.documents AS d (project_id, title, body, kind)
    VALUES (create_document.project_id, create_document.title, create_document.body, create_document.kind)
    RETURNING d.id INTO new_id;
    SELECT * INTO created FROM intracker.documents d WHERE d.id = new_id;
    RETURN created;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.create_document(uuid, text, text, text) IS
    'Create a document of a project: kind note (default), spec, decision or runbook; Markdown body of at most 200,000 characters. Editors and owners.';

CREATE FUNCTION intracker.update_document(document_id uuid, changes jsonb, expected_version integer)
RETURNS intracker.documents
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    updated intracker.documents;
BEGIN
    PERFORM intracker_data.apply_changes('intracker_data.documents', document_id, changes, expected_version);
    SELECT * INTO updated FROM intracker.documents d WHERE d.id = update_document.document_id;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION intracker.update_document(uuid, jsonb, integer) IS
    'Change fields of a document (title, body, kind), e.g. {"body": "…"}. Editors and owners; PT409 if expected_version is stale.';

CREATE FUNCTION intracker.delete_document(document_id uuid)
RETURNS intracker.documents
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    target intracker.documents;
BEGIN
    PERFORM intracker_data.project_of('intracker_data.documents', document_id);    -- PT404 unless visible
    SELECT * INTO target FROM intracker.documents d WHERE d.id = delete_document.document_id;
    IF target.created_by IS DISTINCT FROM me THEN
        PERFORM intracker_data.require_role(target.project_id, 'owner', 'delete another user''s document');
    ELSE
        PERFORM intracker_data.require_role(target.project_id, 'editor', 'delete documents');
    END IF;
    DELETE FROM intracker_data.documents AS d WHERE d.id = target.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % not found', target.id
            USING ERRCODE = 'PT404',
                  HINT = 'It was deleted meanwhile.';
    END IF;
    RETURN target;
END
$$;
COMMENT ON FUNCTION intracker.delete_document(uuid) IS
    'Delete a document and return it as it was: its author (an editor), or an owner of the project. Its comments go with it.';

-- For agents (one tool each in intracker-mcp): the list without bodies,
-- and one document whole.
CREATE FUNCTION intracker.list_documents(project_id uuid, of_kind text DEFAULT NULL)
RETURNS TABLE (id uuid, title text, kind text, created_by uuid, created_at timestamptz, updated_at timestamptz,
               version integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_role(list_documents.project_id, 'viewer', 'list documents');
    RETURN QUERY
    SELECT d.id, d.title, d.kind, d.created_by, d.created_at, d.updated_at, d.version
      FROM intracker.documents d
     WHERE d.project_id = list_documents.project_id
       AND (list_documents.of_kind IS NULL OR d.kind = list_documents.of_kind)
     ORDER BY d.updated_at DESC, d.id;
END
$$;
COMMENT ON FUNCTION intracker.list_documents(uuid, text) IS
    'The documents of a project (only those of_kind note, spec, decision or runbook, optionally) without their bodies, most recently updated first; read one with get_document().';

CREATE FUNCTION intracker.get_document(document_id uuid)
RETURNS intracker.documents
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_document intracker.documents;
BEGIN
    PERFORM intracker_data.project_of('intracker_data.documents', document_id);    -- PT404 unless visible
    SELECT * INTO found_document FROM intracker.documents d WHERE d.id = get_document.document_id;
    RETURN found_document;
END
$$;
COMMENT ON FUNCTION intracker.get_document(uuid) IS 'One document of your projects, body included.';

CREATE TRIGGER documents_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.documents FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();
CREATE TRIGGER documents_events AFTER INSERT OR UPDATE OR DELETE ON intracker_data.documents
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('document', 'id', 'project_id');

GRANT SELECT ON intracker_data.documents, intracker.documents TO intracker_user;
GRANT INSERT (id, project_id, title, body, kind), UPDATE (title, body, kind, version), DELETE
    ON intracker_data.documents, intracker.documents TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.create_document(uuid, text, text, text),
    intracker.update_document(uuid, jsonb, integer), intracker.delete_document(uuid),
    intracker.list_documents(uuid, text), intracker.get_document(uuid) TO intracker_user;

------------------------------------------------------------------------------
-- Comments, mentions and the inbox (issue 16): src/sql/97_comments.sql and
-- src/sql/98_notifications.sql, whole; notification events are their
-- user's only.
------------------------------------------------------------------------------

ALTER POLICY events_select ON intracker_data.events
    USING ((project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[])
            AND type NOT LIKE 'notification.%')
           OR ((type LIKE 'member.%' OR type LIKE 'notification.%')
               AND entity_id = (SELECT intracker.current_user_id()))
           OR ((SELECT intracker.current_user_id()) IS NULL
               AND pg_catalog.pg_has_role('intracker_admin', 'MEMBER')));
COMMENT ON COLUMN intracker.events.type IS 'entity.action: todo.created, todo.updated, todo.assigned, todo.status_changed, todo.deleted, feature.*, project.*, member.added/updated/removed, dependency.added/removed, session.started/updated/ended/deleted, comment.added/updated/deleted, notification.created (yours only: entity_id is you), conflict.rejected, webhook.disabled (by the deliverer: entity_id is the webhook).';
COMMENT ON COLUMN intracker.events.entity_id IS 'The todo, feature, project, session or comment; for member.* and notification.* the user; for dependency.* the dependent todo.';

-- Comments on todos, features and documents, and @mentions.
--
-- A comment belongs to exactly one todo, feature or document of its
-- project and goes with it.  Editors and owners comment, every member reads; an author edits
-- their own comments (optimistic locking, like todos) and deletes them, an
-- owner deletes any.  Bodies are Markdown, kept as text, at most
-- 20,000 characters.
--
-- "@handle" in a comment (or a todo's description, 98_notifications.sql)
-- mentions the project member with that handle, regardless of case.  A
-- handle of anyone else mentions no one: the comment's mentions list only
-- members, so it tells nothing about who else exists.  mentions is set when
-- the body is written, so renaming a handle later changes no past mention.

-- The members of a project that a text mentions, in id order.  SECURITY
-- DEFINER, to read the project's memberships directly; it answers only to a
-- member of the project (nobody else learns who is in it) and names only
-- its active members.  A handle starts after a character that cannot be part of an address or a
-- handle (so "ann@example.com" mentions no one) and ends where handle
-- characters do.
CREATE FUNCTION intracker_data.mentioned_members(project_id uuid, body text)
RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF body IS NULL OR strpos(body, '@') = 0 OR intracker_data.my_role(project_id) IS NULL THEN
        RETURN '{}';
    END IF;
    RETURN (SELECT coalesce(array_agg(DISTINCT m.user_id ORDER BY m.user_id), '{}')
              FROM regexp_matches(body, '(?<![A-Za-z0-9_.@-])@([A-Za-z0-9][A-Za-z0-9_-]{0,38})(?![A-Za-z0-9_-])', 'g')
                   AS h (handle)
              JOIN intracker_data.users u ON lower(u.handle) = lower(h.handle[1]) AND u.is_active
              JOIN intracker_data.project_members m ON m.user_id = u.id
                                                   AND m.project_id = mentioned_members.project_id);
END
$$;
COMMENT ON FUNCTION intracker_data.mentioned_members(uuid, text) IS
    'The active members of a project that a text @mentions by handle (regardless of case), in id order; empty unless the acting user is a member.';

CREATE TABLE intracker_data.comments (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    todo_id         uuid,
    feature_id      uuid,
    document_id     uuid,
    author          uuid NOT NULL REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    body            text NOT NULL
                    CONSTRAINT comments_body_length CHECK (btrim(body) <> '' AND length(body) <= 20000),
    mentions        uuid[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT comments_one_subject CHECK (num_nonnulls(todo_id, feature_id, document_id) = 1),
    CONSTRAINT comments_todo_same_project FOREIGN KEY (todo_id, project_id)
        REFERENCES intracker_data.todos (id, project_id) ON DELETE CASCADE,
    CONSTRAINT comments_feature_same_project FOREIGN KEY (feature_id, project_id)
        REFERENCES intracker_data.features (id, project_id) ON DELETE CASCADE,
    CONSTRAINT comments_document_same_project FOREIGN KEY (document_id, project_id)
        REFERENCES intracker_data.documents (id, project_id) ON DELETE CASCADE
);
CREATE INDEX comments_todo_id_idx ON intracker_data.comments (todo_id, project_id);
CREATE INDEX comments_feature_id_idx ON intracker_data.comments (feature_id, project_id);
CREATE INDEX comments_document_id_idx ON intracker_data.comments (document_id, project_id);
CREATE INDEX comments_project_id_idx ON intracker_data.comments (project_id, created_at);
CREATE INDEX comments_author_idx ON intracker_data.comments (author);
COMMENT ON TABLE intracker_data.comments IS 'Comments on todos, features and documents (intracker.comments is the API).';

COMMENT ON CONSTRAINT comments_body_length ON intracker_data.comments IS 'body must not be blank (at most 20000 characters).';
COMMENT ON CONSTRAINT comments_one_subject ON intracker_data.comments IS 'exactly one of todo_id, feature_id and document_id must be set.';
COMMENT ON CONSTRAINT comments_todo_same_project ON intracker_data.comments IS 'todo_id must be a todo of the same project.';
COMMENT ON CONSTRAINT comments_feature_same_project ON intracker_data.comments IS 'feature_id must be a feature of the same project.';
COMMENT ON CONSTRAINT comments_document_same_project ON intracker_data.comments IS 'document_id must be a document of the same project.';
COMMENT ON CONSTRAINT comments_author_fkey ON intracker_data.comments IS 'author must be a user.';
COMMENT ON CONSTRAINT comments_project_id_fkey ON intracker_data.comments IS 'project_id must be a project.';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.comments', '');

CREATE TRIGGER comments_row_version BEFORE UPDATE ON intracker_data.comments
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('comment');

-- Before a comment is written: its project is its subject's (so a client
-- posting to the view names the todo, feature or document only), and its mentions
-- are read from the body.  A restored comment keeps what it had.
CREATE FUNCTION intracker_data.comment_before_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF intracker_data.restoring() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' AND NEW.project_id IS NULL THEN
        -- as the caller: a subject they cannot see leaves it NULL (23502)
        NEW.project_id := coalesce((SELECT t.project_id FROM intracker_data.todos t WHERE t.id = NEW.todo_id),
                                   (SELECT f.project_id FROM intracker_data.features f WHERE f.id = NEW.feature_id),
                                   (SELECT d.project_id FROM intracker_data.documents d WHERE d.id = NEW.document_id));
    END IF;
    IF TG_OP = 'INSERT' OR NEW.body IS DISTINCT FROM OLD.body THEN
        NEW.mentions := intracker_data.mentioned_members(NEW.project_id, NEW.body);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.comment_before_write() IS
    'Trigger: fills a new comment''s project from its todo, feature or document, and its mentions from its body.';
CREATE TRIGGER comments_before_write BEFORE INSERT OR UPDATE OF body ON intracker_data.comments
    FOR EACH ROW EXECUTE FUNCTION intracker_data.comment_before_write();

-- Members read a project's comments; editors and owners write their own;
-- an author (still a member) or an owner deletes.
ALTER TABLE intracker_data.comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY comments_select ON intracker_data.comments FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY comments_insert ON intracker_data.comments FOR INSERT
    WITH CHECK (author = (SELECT intracker.current_user_id())
                AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY comments_update ON intracker_data.comments FOR UPDATE
    USING (author = (SELECT intracker.current_user_id())
           AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
    WITH CHECK (author = (SELECT intracker.current_user_id())
                AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY comments_delete ON intracker_data.comments FOR DELETE
    USING ((author = (SELECT intracker.current_user_id())
            AND project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]))
           OR project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));

CREATE VIEW intracker.comments WITH (security_invoker = true) AS
SELECT id, project_id, todo_id, feature_id, author, body, mentions, created_at, updated_at, version, document_id
  FROM intracker_data.comments;
COMMENT ON VIEW intracker.comments IS
    'Comments on the todos, features and documents of your projects (Markdown, at most 20,000 characters). Editors and owners add them; authors edit and delete their own; owners delete any.';
COMMENT ON COLUMN intracker.comments.todo_id IS 'The todo commented on (else NULL).';
COMMENT ON COLUMN intracker.comments.feature_id IS 'The feature commented on (else NULL).';
COMMENT ON COLUMN intracker.comments.document_id IS 'The document commented on (else NULL).';
COMMENT ON COLUMN intracker.comments.mentions IS 'The project members the body @mentions by handle, as of the body''s last edit.';
COMMENT ON COLUMN intracker.comments.version IS 'Optimistic lock: pass it as expected_version to update_comment().';

-- A comment as the caller sees it; PT404 when it does not exist or its
-- project is not theirs.
CREATE FUNCTION intracker_data.visible_comment(comment_id uuid)
RETURNS intracker_data.comments
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    visible intracker_data.comments;
BEGIN
    PERFORM intracker_data.require_user();
    SELECT * INTO visible FROM intracker_data.comments c WHERE c.id = comment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'comment % not found', coalesce(comment_id::text, 'NULL')
            USING ERRCODE = 'PT404',
                  HINT = 'The comment does not exist or you are not a member of its project.';
    END IF;
    RETURN visible;
END
$$;
COMMENT ON FUNCTION intracker_data.visible_comment(uuid) IS 'A comment the caller may read; PT404 otherwise.';

-- What an id names that comments may be about: a todo, a feature or a
-- document the caller can see (RLS), and its project; all NULL otherwise.
CREATE FUNCTION intracker_data.comment_subject(entity_id uuid, OUT todo_id uuid, OUT feature_id uuid,
                                               OUT document_id uuid, OUT project_id uuid)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT t.id, t.project_id INTO todo_id, project_id FROM intracker_data.todos t WHERE t.id = entity_id;
    IF project_id IS NULL THEN
        SELECT f.id, f.project_id INTO feature_id, project_id FROM intracker_data.features f WHERE f.id = entity_id;
    END IF;
    IF project_id IS NULL THEN
        SELECT d.id, d.project_id INTO document_id, project_id FROM intracker_data.documents d WHERE d.id = entity_id;
    END IF;
END
$$;
COMMENT ON FUNCTION intracker_data.comment_subject(uuid) IS
    'The todo, feature or document an id names, as the caller sees it, and its project; NULLs when it names none.';

CREATE FUNCTION intracker.add_comment(entity_id uuid, body text)
RETURNS intracker.comments
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    subject record;
    added intracker.comments;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_user();
    subject := intracker_data.comment_subject(entity_id);
    IF subject.project_id IS NULL THEN
        RAISE EXCEPTION 'todo, feature or document % not found', coalesce(entity_id::text, 'NULL')
            USING ERRCODE = 'PT404',
                  HINT = 'Comment on a todo, a feature or a document of a project you are a member of.';
    END IF;
    PERFORM intracker_data.require_role(subject.project_id, 'editor', 'comment');
    -- author: the column's default, the acting user (users may not name one)
    INSERT INTO intracker_data.comments AS c (project_id, todo_id, feature_id, document_id, body)
    VALUES (subject.project_id, subject.todo_id, subject.feature_id, subject.document_id, add_comment.body)
    RETURNING c.id, c.project_id, c.todo_id, c.feature_id, c.author, c.body, c.mentions, c.created_at,
              c.updated_at, c.version, c.document_id
         INTO added;
    RETURN added;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.add_comment(uuid, text) IS
    'Comment on a todo, a feature or a document (entity_id is any of them): Markdown, at most 20,000 characters; @handle mentions a member. Editors and owners.';

CREATE FUNCTION intracker.update_comment(comment_id uuid, body text, expected_version integer)
RETURNS intracker.comments
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    target intracker_data.comments := intracker_data.visible_comment(comment_id);
    updated intracker.comments;
    violated text;
    violated_column text;
BEGIN
    IF target.author <> me THEN
        RAISE EXCEPTION 'permission denied to edit another user''s comment'
            USING ERRCODE = '42501',
                  DETAIL = format('Comment %s was written by user %s.', target.id, target.author),
                  HINT = 'Add a comment of your own instead.';
    END IF;
    PERFORM intracker_data.require_role(target.project_id, 'editor', 'edit comments');
    IF expected_version IS NULL THEN
        RAISE EXCEPTION 'expected_version must not be null'
            USING ERRCODE = '22023',
                  HINT = format('Pass the version you read (%s is current).', target.version);
    END IF;
    UPDATE intracker_data.comments AS c
       SET body = update_comment.body, version = update_comment.expected_version
     WHERE c.id = target.id
    RETURNING c.id, c.project_id, c.todo_id, c.feature_id, c.author, c.body, c.mentions, c.created_at,
              c.updated_at, c.version, c.document_id
         INTO updated;
    IF updated.id IS NULL THEN
        RAISE EXCEPTION 'comment % not found', target.id
            USING ERRCODE = 'PT404',
                  HINT = 'It was deleted meanwhile.';
    END IF;
    RETURN updated;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.update_comment(uuid, text, integer) IS
    'Replace the body of your comment; PT409 if expected_version is stale. Its author only (an editor or owner).';

CREATE FUNCTION intracker.delete_comment(comment_id uuid)
RETURNS intracker.comments
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    target intracker_data.comments := intracker_data.visible_comment(comment_id);
    deleted intracker.comments;
BEGIN
    IF target.author <> me THEN
        PERFORM intracker_data.require_role(target.project_id, 'owner', 'delete another user''s comment');
    END IF;
    DELETE FROM intracker_data.comments AS c WHERE c.id = target.id
    RETURNING c.id, c.project_id, c.todo_id, c.feature_id, c.author, c.body, c.mentions, c.created_at,
              c.updated_at, c.version, c.document_id
         INTO deleted;
    IF deleted.id IS NULL THEN
        RAISE EXCEPTION 'comment % not found', target.id
            USING ERRCODE = 'PT404',
                  HINT = 'It was deleted meanwhile.';
    END IF;
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION intracker.delete_comment(uuid) IS
    'Delete a comment and return it as it was: your own, or any in a project you own.';

-- For agents: the conversation on a todo, feature or document, oldest first.
CREATE FUNCTION intracker.list_comments(entity_id uuid, max_rows integer DEFAULT 100)
RETURNS SETOF intracker.comments
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_user();
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000' USING ERRCODE = '22023';
    END IF;
    IF (intracker_data.comment_subject(entity_id)).project_id IS NULL THEN
        RAISE EXCEPTION 'todo, feature or document % not found', coalesce(entity_id::text, 'NULL')
            USING ERRCODE = 'PT404',
                  HINT = 'It does not exist or you are not a member of its project.';
    END IF;
    RETURN QUERY
    SELECT c.* FROM intracker.comments c
     WHERE c.todo_id = list_comments.entity_id OR c.feature_id = list_comments.entity_id
        OR c.document_id = list_comments.entity_id
     ORDER BY c.created_at, c.id
     LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION intracker.list_comments(uuid, integer) IS
    'The comments on a todo, feature or document, oldest first; at most max_rows (1 to 1000, default 100).';

CREATE TRIGGER comments_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.comments FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();

CREATE TRIGGER comments_events AFTER INSERT OR UPDATE OR DELETE ON intracker_data.comments
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('comment', 'id', 'project_id',
                                                             'INSERT:added');

GRANT SELECT ON intracker_data.comments, intracker.comments TO intracker_user;
GRANT INSERT (id, project_id, todo_id, feature_id, document_id, body), UPDATE (body, version), DELETE
    ON intracker_data.comments, intracker.comments TO intracker_user;
-- comment_before_write runs as the writer (RLS judges the subject it reads),
-- so writers ask restoring() themselves: it says only whether their own
-- session restores a dump.
GRANT EXECUTE ON FUNCTION intracker_data.restoring(), intracker_data.mentioned_members(uuid, text), intracker_data.visible_comment(uuid),
    intracker_data.comment_subject(uuid),
    intracker.add_comment(uuid, text), intracker.update_comment(uuid, text, integer),
    intracker.delete_comment(uuid), intracker.list_comments(uuid, integer) TO intracker_user;

-- The inbox: what needs a user's attention, written when it happens.
--
--   mention     someone @mentioned you in a comment, or in a todo's or a
--               feature's description (entity: the comment, todo or feature)
--   assigned    someone else gave you a todo or a feature (entity: it)
--   comment     someone commented on a todo or feature assigned to you
--               (entity: the comment; a mention of you in it is a mention)
--   unblocked   your open todo's last open blocker was finished or removed
--               (entity: the todo)
--
-- Nobody is notified of their own acts, only active members of the
-- project are notified, and one act notifies a user once.  Each
-- notification is also an event (notification.created, entity_id: the
-- user), published like every event but NOTIFYed on the user's own channel
-- (intracker.user_channel(), LISTENed by intracker.listen_me()) instead of
-- the project's, and readable in the event log by its user only.  Read
-- notifications go after intracker.event_retention (src/publisher.c);
-- unread ones stay.

CREATE TABLE intracker_data.notifications (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES intracker_data.users (id) ON DELETE CASCADE,
    kind            text NOT NULL
                    CONSTRAINT notifications_kind_valid CHECK (kind IN ('mention', 'assigned', 'comment', 'unblocked')),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    entity_id       uuid NOT NULL,
    actor           uuid REFERENCES intracker_data.users (id) ON DELETE SET NULL,
    summary         text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz
);
CREATE INDEX notifications_user_idx ON intracker_data.notifications (user_id, created_at DESC);
CREATE INDEX notifications_unread_idx ON intracker_data.notifications (user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_read_idx ON intracker_data.notifications (read_at) WHERE read_at IS NOT NULL;
CREATE INDEX notifications_project_idx ON intracker_data.notifications (project_id);
CREATE INDEX notifications_actor_idx ON intracker_data.notifications (actor);
COMMENT ON CONSTRAINT notifications_kind_valid ON intracker_data.notifications IS
    'kind must be one of: mention, assigned, comment, unblocked.';
COMMENT ON TABLE intracker_data.notifications IS
    'Users'' inboxes (intracker.my_notifications is the API); written by triggers only.';
SELECT pg_catalog.pg_extension_config_dump('intracker_data.notifications', '');

-- A user reads and marks their own notifications; only the triggers below
-- (as the extension's owner) write them.
ALTER TABLE intracker_data.notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_select ON intracker_data.notifications FOR SELECT
    USING (user_id = (SELECT intracker.current_user_id()));
CREATE POLICY notifications_update ON intracker_data.notifications FOR UPDATE
    USING (user_id = (SELECT intracker.current_user_id()))
    WITH CHECK (user_id = (SELECT intracker.current_user_id()));

CREATE VIEW intracker.my_notifications WITH (security_invoker = true) AS
SELECT id, kind, project_id, entity_id, actor, summary, created_at, read_at
  FROM intracker_data.notifications
 WHERE user_id = (SELECT intracker.current_user_id());
COMMENT ON VIEW intracker.my_notifications IS
    'Your inbox: mentions of you, work given to you, comments on your work, your todos unblocked; never your own acts. Mark them read with mark_notifications_read() (or by setting read_at).';
COMMENT ON COLUMN intracker.my_notifications.kind IS 'mention, assigned, comment or unblocked.';
COMMENT ON COLUMN intracker.my_notifications.entity_id IS
    'What it is about: the comment (comment, and mention in a comment), the todo or feature (assigned, unblocked, mention in a description).';
COMMENT ON COLUMN intracker.my_notifications.actor IS 'Who did it (NULL: maintenance without an acting user).';
COMMENT ON COLUMN intracker.my_notifications.summary IS 'One line in plain words, e.g. ''Ann mentioned you in a comment on todo "Fix login"''.';
COMMENT ON COLUMN intracker.my_notifications.read_at IS 'When you marked it read; NULL while unread.';

CREATE FUNCTION intracker.mark_notifications_read(notification_ids uuid[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    marked integer;
BEGIN
    UPDATE intracker_data.notifications AS n
       SET read_at = now()
     WHERE n.user_id = me AND n.read_at IS NULL
       AND (notification_ids IS NULL OR n.id = ANY (notification_ids));
    GET DIAGNOSTICS marked = ROW_COUNT;
    RETURN marked;
END
$$;
COMMENT ON FUNCTION intracker.mark_notifications_read(uuid[]) IS
    'Mark your unread notifications read: those listed, or all of them (NULL). Returns how many it marked; ids that are not your unread notifications are passed over.';

-- For agents: the inbox, newest first.
CREATE FUNCTION intracker.get_my_notifications(unread_only boolean DEFAULT true, max_rows integer DEFAULT 50)
RETURNS SETOF intracker.my_notifications
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_user();
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT n.* FROM intracker.my_notifications n
     WHERE NOT coalesce(unread_only, true) OR n.read_at IS NULL
     ORDER BY n.created_at DESC, n.id
     LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION intracker.get_my_notifications(boolean, integer) IS
    'Your notifications, newest first: unread ones only (default) or all; at most max_rows (1 to 1000, default 50).';

CREATE FUNCTION intracker.user_channel(user_id uuid)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'intracker_user_channel_sql';
COMMENT ON FUNCTION intracker.user_channel(uuid) IS
    'The NOTIFY channel of a user''s notifications ("intracker.user.<id>"). Payloads carry ids only, as on project channels.';

CREATE FUNCTION intracker.listen_me()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    channel text := intracker.user_channel(intracker_data.require_user());
BEGIN
    EXECUTE format('LISTEN %I', channel);
    RETURN channel;
END
$$;
COMMENT ON FUNCTION intracker.listen_me() IS
    'LISTEN on your notifications'' channel and return its name; each new notification sends {"seq","type":"notification.created","project_id","entity_id" (you),"actor","version"}. Read them in intracker.my_notifications.';

------------------------------------------------------------------------------
-- Writing notifications
--
-- The triggers are SECURITY DEFINER: users cannot write notifications
-- themselves (nor call intracker_data.notify, which has no grant), and a
-- trigger function cannot be called outside its trigger.  The acting user
-- (intracker.current_user_id()) is the same inside.  A restore writes none:
-- the dump has the notifications.
------------------------------------------------------------------------------

-- Notify the active members of a project among recipients, except the
-- acting user, once each.
CREATE FUNCTION intracker_data.notify(kind text, project_id uuid, entity_id uuid, recipients uuid[], summary text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO intracker_data.notifications (user_id, kind, project_id, entity_id, actor, summary)
    SELECT m.user_id, notify.kind, notify.project_id, notify.entity_id, intracker.current_user_id(), notify.summary
      FROM intracker_data.project_members m
      JOIN intracker_data.users u ON u.id = m.user_id AND u.is_active
     WHERE m.project_id = notify.project_id
       AND m.user_id = ANY (notify.recipients)
       AND m.user_id IS DISTINCT FROM intracker.current_user_id()
     ORDER BY m.user_id;
END;
COMMENT ON FUNCTION intracker_data.notify(text, uuid, uuid, uuid[], text) IS
    'Writes a notification for each active member of the project among recipients but the acting user (for the notification triggers only).';

-- How a notification names who acted.
CREATE FUNCTION intracker_data.actor_name()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT u.name FROM intracker_data.users u WHERE u.id = intracker.current_user_id()), 'intracker');
COMMENT ON FUNCTION intracker_data.actor_name() IS 'The acting user''s name for notification summaries (''intracker'' without one).';

-- Todos and features created (argument: 'todo' or 'feature'), per
-- statement: one "assigned" per assignee (an import of 10,000 todos for 8
-- members notifies each of them once, naming the first and counting the
-- rest), and the members @mentioned in the descriptions.
CREATE FUNCTION intracker_data.notify_created_work()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    entity text := TG_ARGV[0];
    me uuid := intracker.current_user_id();
BEGIN
    IF intracker_data.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO intracker_data.notifications (user_id, kind, project_id, entity_id, actor, summary)
    SELECT a.assignee, 'assigned', a.project_id, a.firsts[1], me,
           CASE WHEN a.n = 1 THEN format('%s assigned you %s "%s"', intracker_data.actor_name(), entity, a.titles[1])
                ELSE format('%s assigned you %s %ss: "%s" and %s more', intracker_data.actor_name(), a.n, entity,
                            a.titles[1], a.n - 1) END
      FROM (SELECT w.project_id, w.assigned_to AS assignee, count(*) AS n,
                   array_agg(w.id ORDER BY w.created_at, w.id) AS firsts,
                   array_agg(w.title ORDER BY w.created_at, w.id) AS titles
              FROM created_rows w
             WHERE w.assigned_to IS NOT NULL AND w.assigned_to IS DISTINCT FROM me
             GROUP BY w.project_id, w.assigned_to) AS a
      JOIN intracker_data.users u ON u.id = a.assignee AND u.is_active
     ORDER BY a.assignee;
    PERFORM intracker_data.notify('mention', w.project_id, w.id,
                                  intracker_data.mentioned_members(w.project_id, w.description),
                                  format('%s mentioned you in %s "%s"', intracker_data.actor_name(), entity, w.title))
       FROM created_rows w
      WHERE strpos(w.description, '@') > 0;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.notify_created_work() IS
    'Statement trigger on todos and features created: one "assigned" per assignee (first and count), and the members @mentioned in descriptions.';

-- Todos and features changed (argument: 'todo' or 'feature'): given to
-- someone, @mentions added to the description, a todo unblocked.  The
-- triggers' WHEN clauses call this only when one of them may have happened,
-- so other writes pay nothing.
CREATE FUNCTION intracker_data.notify_changed_work()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    entity text := TG_ARGV[0];
    mentioned uuid[];
BEGIN
    IF NEW.assigned_to IS NOT NULL AND NEW.assigned_to IS DISTINCT FROM OLD.assigned_to THEN
        PERFORM intracker_data.notify('assigned', NEW.project_id, NEW.id, ARRAY[NEW.assigned_to],
                                      format('%s assigned you %s "%s"', intracker_data.actor_name(), entity, NEW.title));
    END IF;
    IF NEW.description IS DISTINCT FROM OLD.description THEN
        mentioned := ARRAY(SELECT unnest(intracker_data.mentioned_members(NEW.project_id, NEW.description))
                           EXCEPT SELECT unnest(intracker_data.mentioned_members(OLD.project_id, OLD.description)));
        PERFORM intracker_data.notify('mention', NEW.project_id, NEW.id, mentioned,
                                      format('%s mentioned you in %s "%s"', intracker_data.actor_name(), entity, NEW.title));
    END IF;
    IF entity = 'todo' THEN
        IF OLD.open_blocker_count > 0 AND NEW.open_blocker_count = 0 AND NEW.assigned_to IS NOT NULL
           AND NEW.status NOT IN ('done', 'cancelled') THEN
            PERFORM intracker_data.notify('unblocked', NEW.project_id, NEW.id, ARRAY[NEW.assigned_to],
                                          format('Your todo "%s" is unblocked (%s finished or removed its last open blocker)',
                                                 NEW.title, intracker_data.actor_name()));
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.notify_changed_work() IS
    'Row trigger on todos and features changed: notifies the new assignee (assigned), members newly @mentioned in the description (mention), and the assignee of a todo whose last open blocker went (unblocked).';

CREATE TRIGGER todos_notify_created AFTER INSERT ON intracker_data.todos
    REFERENCING NEW TABLE AS created_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.notify_created_work('todo');
CREATE TRIGGER todos_notify_changed AFTER UPDATE OF assigned_to, description, open_blocker_count ON intracker_data.todos
    FOR EACH ROW WHEN ((NEW.assigned_to IS NOT NULL AND NEW.assigned_to IS DISTINCT FROM OLD.assigned_to)
                       OR (NEW.description IS DISTINCT FROM OLD.description AND strpos(NEW.description, '@') > 0)
                       OR (OLD.open_blocker_count > 0 AND NEW.open_blocker_count = 0 AND NEW.assigned_to IS NOT NULL))
    EXECUTE FUNCTION intracker_data.notify_changed_work('todo');
CREATE TRIGGER features_notify_created AFTER INSERT ON intracker_data.features
    REFERENCING NEW TABLE AS created_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.notify_created_work('feature');
CREATE TRIGGER features_notify_changed AFTER UPDATE OF assigned_to, description ON intracker_data.features
    FOR EACH ROW WHEN ((NEW.assigned_to IS NOT NULL AND NEW.assigned_to IS DISTINCT FROM OLD.assigned_to)
                       OR (NEW.description IS DISTINCT FROM OLD.description AND strpos(NEW.description, '@') > 0))
    EXECUTE FUNCTION intracker_data.notify_changed_work('feature');

-- Comments: members newly @mentioned (mention), and on a new comment the
-- assignee of its todo or feature (comment) unless it mentions them
-- (documents have no assignee).
CREATE FUNCTION intracker_data.comment_notifications()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mentioned uuid[] := NEW.mentions;
    subject text;
    title text;
    assignee uuid;
BEGIN
    IF intracker_data.restoring() THEN
        RETURN NULL;
    END IF;
    IF NEW.todo_id IS NOT NULL THEN
        SELECT 'todo', t.title, t.assigned_to INTO subject, title, assignee FROM intracker_data.todos t WHERE t.id = NEW.todo_id;
    ELSIF NEW.feature_id IS NOT NULL THEN
        SELECT 'feature', f.title, f.assigned_to INTO subject, title, assignee FROM intracker_data.features f WHERE f.id = NEW.feature_id;
    ELSE
        SELECT 'document', d.title INTO subject, title FROM intracker_data.documents d WHERE d.id = NEW.document_id;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        mentioned := ARRAY(SELECT unnest(NEW.mentions) EXCEPT SELECT unnest(OLD.mentions));
    END IF;
    PERFORM intracker_data.notify('mention', NEW.project_id, NEW.id, mentioned,
                                  format('%s mentioned you in a comment on %s "%s"', intracker_data.actor_name(), subject, title));
    IF TG_OP = 'INSERT' AND assignee IS NOT NULL AND NOT assignee = ANY (NEW.mentions) THEN
        PERFORM intracker_data.notify('comment', NEW.project_id, NEW.id, ARRAY[assignee],
                                      format('%s commented on your %s "%s"', intracker_data.actor_name(), subject, title));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION intracker_data.comment_notifications() IS
    'Trigger on comments: notifies members newly @mentioned (mention) and, for a new comment, the assignee of its todo or feature (comment).';
CREATE TRIGGER comments_notify AFTER INSERT OR UPDATE OF body ON intracker_data.comments
    FOR EACH ROW EXECUTE FUNCTION intracker_data.comment_notifications();

-- Marking read is a write: not with a read-only token.
CREATE TRIGGER notifications_refuse_read_only BEFORE UPDATE
    ON intracker_data.notifications FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();

-- Each notification is an event of its user (entity_id), NOTIFYed on
-- their channel (src/publication.c).
CREATE TRIGGER notifications_events AFTER INSERT ON intracker_data.notifications
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('notification', 'user_id', 'project_id',
                                                             'INSERT:created');

GRANT SELECT ON intracker_data.notifications, intracker.my_notifications TO intracker_user;
GRANT UPDATE (read_at) ON intracker_data.notifications, intracker.my_notifications TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.mark_notifications_read(uuid[]), intracker.get_my_notifications(boolean, integer),
    intracker.user_channel(uuid),
    intracker.listen_me() TO intracker_user;

------------------------------------------------------------------------------
-- Full-text search (issue 16): src/sql/98_search.sql, whole.
------------------------------------------------------------------------------

-- Full-text search over todos, features, comments, documents and sessions.
--
-- intracker.search() takes what people type into a search box: web-search
-- syntax (quoted phrases, "or", -excluded words), the last word matched as
-- a prefix so that results come while typing, parsed with the text search
-- configuration intracker.search_config ('simple' by default: no stemming,
-- no stop words, any language).  It finds only what the caller may read:
-- it runs as the data's owner (SECURITY DEFINER, as the context documents
-- do) and keeps to the caller's projects itself, as row-level security
-- would, and searches session notes (summary, next steps) only where the
-- caller may read them (viewers: their own).  The statements it builds
-- hold nothing of the caller's but the configuration's name, quoted.
--
-- Each kind stores its texts' vector under 'simple' (a generated column,
-- titles weighing more than bodies) with a GIN index on it; search() reads
-- those under the default configuration, and under another one computes
-- the vectors in its statements, which indexes a database adds for that
-- configuration serve (README, "Search").  Of a kind's matches the 1,000
-- most recently updated are ranked, so a word found everywhere costs what
-- 1,000 rows do.  Snippets are cut from the first 20,000 characters of a
-- text.

-- Titles (weight A) and bodies (weight B) as one vector.  Runs of 2,048
-- characters or more without a space (a pasted blob) are left out, as
-- to_tsvector would, but without its NOTICE on every write.
CREATE FUNCTION intracker_data.search_vector(config regconfig, title text, body text)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN setweight(to_tsvector(config, regexp_replace(coalesce(title, ''), '(?:\S{128}){16}\S*', ' ', 'g')), 'A')
       || setweight(to_tsvector(config, regexp_replace(coalesce(body, ''), '(?:\S{128}){16}\S*', ' ', 'g')), 'B');
COMMENT ON FUNCTION intracker_data.search_vector(regconfig, text, text) IS
    'The search vector of a title (weight A) and a body (weight B) under a text search configuration; what the search indexes hold.';

-- A list's items as one text.  array_to_string() is STABLE (any element
-- type's output may be); for text it is not, and index expressions need
-- IMMUTABLE.
CREATE FUNCTION intracker_data.words_of(items text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN array_to_string(items, ' ');
COMMENT ON FUNCTION intracker_data.words_of(text[]) IS 'The items of a text list as one text (for the session search indexes).';

-- Each kind's vector under 'simple', stored: computed when its texts are
-- written (not when other columns change), indexed, and read by the
-- ranking instead of parsing the texts again.  Not in the API's views.
ALTER TABLE intracker_data.todos ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', title, description)) STORED;
ALTER TABLE intracker_data.features ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', title, description)) STORED;
ALTER TABLE intracker_data.comments ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', NULL, body)) STORED;
ALTER TABLE intracker_data.documents ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', title, body)) STORED;
-- Sessions: what every member reads, and the working notes apart.
ALTER TABLE intracker_data.sessions ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', goal, intracker_data.words_of(blockers))) STORED;
ALTER TABLE intracker_data.sessions ADD COLUMN notes_search_vector tsvector
    GENERATED ALWAYS AS (intracker_data.search_vector('simple', summary, intracker_data.words_of(next_steps))) STORED;
COMMENT ON COLUMN intracker_data.todos.search_vector IS 'Internal: title and description for search() (simple configuration).';
COMMENT ON COLUMN intracker_data.features.search_vector IS 'Internal: title and description for search() (simple configuration).';
COMMENT ON COLUMN intracker_data.comments.search_vector IS 'Internal: the body for search() (simple configuration).';
COMMENT ON COLUMN intracker_data.documents.search_vector IS 'Internal: title and body for search() (simple configuration).';
COMMENT ON COLUMN intracker_data.sessions.search_vector IS 'Internal: goal and blockers for search() (simple configuration).';
COMMENT ON COLUMN intracker_data.sessions.notes_search_vector IS 'Internal: summary and next steps (working notes) for search() (simple configuration).';
-- A GIN index batches new entries in a pending list that every search
-- reads through until (auto)vacuum merges it: a small one keeps searches
-- fast between vacuums, at the cost of merging more often.
CREATE INDEX todos_search_idx ON intracker_data.todos USING gin (search_vector) WITH (gin_pending_list_limit = 256);
CREATE INDEX features_search_idx ON intracker_data.features USING gin (search_vector) WITH (gin_pending_list_limit = 256);
CREATE INDEX comments_search_idx ON intracker_data.comments USING gin (search_vector) WITH (gin_pending_list_limit = 256);
CREATE INDEX documents_search_idx ON intracker_data.documents USING gin (search_vector) WITH (gin_pending_list_limit = 256);
CREATE INDEX sessions_search_idx ON intracker_data.sessions USING gin (search_vector) WITH (gin_pending_list_limit = 256);
CREATE INDEX sessions_notes_search_idx ON intracker_data.sessions USING gin (notes_search_vector)
    WITH (gin_pending_list_limit = 256);

-- A search box's text as a tsquery: websearch_to_tsquery's syntax, and its
-- last word a prefix (unless it ends a quoted phrase or is excluded), so
-- that "oauth cal" finds "OAuth callback".  NULL when nothing searchable
-- is left (only stop words or punctuation).
CREATE FUNCTION intracker_data.search_query(config regconfig, query text)
RETURNS tsquery
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parsed text := websearch_to_tsquery(config, query)::text;
    last_word text := (regexp_match(btrim(query), '(\S+)$'))[1];
BEGIN
    IF parsed = '' THEN
        RETURN NULL;
    END IF;
    IF right(btrim(query), 1) <> '"' AND left(last_word, 1) <> '-' AND lower(last_word) <> 'or'
       AND parsed ~ '''(?:[^'']|'''')*''$' THEN
        parsed := parsed || ':*';
    END IF;
    RETURN parsed::tsquery;
END
$$;
COMMENT ON FUNCTION intracker_data.search_query(regconfig, text) IS
    'A search box''s text as a tsquery: web-search syntax, its last word matched as a prefix; NULL when nothing searchable is left.';

-- A kind's search vector in a statement of search_hits(): its stored
-- column under 'simple', else the texts' vector under config (which the
-- indexes a database adds for that configuration serve).  alias.title and
-- alias.body are columns; a body that is a list (blockers, next_steps) is
-- joined.
CREATE FUNCTION intracker_data.search_vector_of(config regconfig, alias text, title text, body text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE
    WHEN config = 'simple'::regconfig THEN
        alias || '.' || CASE title WHEN 'summary' THEN 'notes_search_vector' ELSE 'search_vector' END
    ELSE format('intracker_data.search_vector(%L, %s, %s)', config,
                coalesce(alias || '.' || title, 'NULL'),
                CASE WHEN body IN ('blockers', 'next_steps') THEN format('intracker_data.words_of(%s.%s)', alias, body)
                     ELSE alias || '.' || body END)
    END;
COMMENT ON FUNCTION intracker_data.search_vector_of(regconfig, text, text, text) IS
    'The search vector of a kind''s texts as search_hits() spells it in a statement: the stored column under simple, the computed vector otherwise.';

-- The search itself, as the data's owner; intracker.search() below is the
-- API.  (Two functions, because plpgsql refuses an argument and a result
-- column of the same name, project_id, which the API has.)
CREATE FUNCTION intracker_data.search_hits(query text, in_project uuid, kinds text[], max_results integer)
RETURNS TABLE (kind text, id uuid, project_id uuid, title text, snippet text, rank real, updated_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    all_kinds constant text[] := ARRAY['todo', 'feature', 'comment', 'document', 'session'];
    config regconfig;
    parsed tsquery;
    projects uuid[];
    -- each kind's best matches: its statement, with the configuration spelled out
    best text[] := '{}';
    ranked_per_kind constant integer := 1000;
    kind_of record;
BEGIN
    PERFORM intracker_data.require_user();
    IF query IS NULL OR btrim(query) = '' OR length(query) > 1000 THEN
        RAISE EXCEPTION 'query must be 1 to 1000 characters'
            USING ERRCODE = '22023',
                  HINT = 'Words, "quoted phrases", or between words, -word to exclude one.';
    END IF;
    IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'max_results must be between 1 and 100'
            USING ERRCODE = '22023',
                  DETAIL = format('max_results is %s.', coalesce(max_results::text, 'NULL'));
    END IF;
    IF kinds IS NOT NULL AND (cardinality(kinds) = 0 OR NOT kinds <@ all_kinds OR array_position(kinds, NULL) IS NOT NULL) THEN
        RAISE EXCEPTION 'invalid value for kinds'
            USING ERRCODE = '22023',
                  DETAIL = format('kinds is %s.', kinds),
                  HINT = 'Any of todo, feature, comment, document, session; NULL for all.';
    END IF;
    BEGIN
        config := current_setting('intracker.search_config')::regconfig;
    EXCEPTION WHEN undefined_object OR invalid_text_representation THEN
        RAISE EXCEPTION 'intracker.search_config is not a text search configuration'
            USING ERRCODE = '22023',
                  DETAIL = format('intracker.search_config is %L.', current_setting('intracker.search_config')),
                  HINT = 'SELECT cfgname FROM pg_ts_config lists them; ''simple'' is the default.';
    END;
    IF in_project IS NOT NULL THEN
        PERFORM intracker_data.require_role(in_project, 'viewer', 'search this project');
        projects := ARRAY[in_project];
    ELSE
        projects := intracker_data.my_project_ids('viewer');
    END IF;
    parsed := intracker_data.search_query(config, query);
    IF parsed IS NULL THEN
        RETURN;
    END IF;

    -- Each kind's best: of its matches in the caller's projects (through
    -- its index), the RANKED_PER_KIND most recently updated are ranked, so
    -- that a word found everywhere costs what that many rows do.
    FOR kind_of IN
        SELECT * FROM (VALUES ('todo', 'todos', 'title', 'description', 'k.title'),
                              ('feature', 'features', 'title', 'description', 'k.title'),
                              -- a comment is titled by what it is about
                              ('comment', 'comments', NULL, 'body',
                               'coalesce((SELECT t.title FROM intracker_data.todos t WHERE t.id = k.todo_id),
                                         (SELECT f.title FROM intracker_data.features f WHERE f.id = k.feature_id),
                                         (SELECT d.title FROM intracker_data.documents d WHERE d.id = k.document_id))'),
                              ('document', 'documents', 'title', 'body', 'k.title'))
                     AS k (kind, table_name, title_column, body_column, title)
         WHERE kinds IS NULL OR k.kind = ANY (kinds)
    LOOP
        best := best || format($q$
            SELECT %1$L::text AS kind, k.id, k.project_id, %2$s AS title, left(coalesce(k.%3$I, ''), 20000) AS body,
                   ts_rank_cd(k.v, $1, 32) AS rank, k.updated_at
              FROM (SELECT k.*, %4$s AS v FROM intracker_data.%5$I k
                     WHERE %4$s @@ $1 AND k.project_id = ANY ($2)
                     ORDER BY k.updated_at DESC LIMIT %6$s) k
             ORDER BY rank DESC, k.updated_at DESC LIMIT $3$q$,
            kind_of.kind, kind_of.title, kind_of.body_column,
            intracker_data.search_vector_of(config, 'k', kind_of.title_column, kind_of.body_column),
            kind_of.table_name, ranked_per_kind);
    END LOOP;
    IF kinds IS NULL OR 'session' = ANY (kinds) THEN
        -- the notes only where the caller may read them
        best := best || format($q$
            SELECT 'session'::text AS kind, s.id, s.project_id, coalesce(s.goal, 'Work session') AS title,
                   left(concat_ws(E'\n', array_to_string(s.blockers, E'\n'),
                                  CASE WHEN s.notes THEN s.summary END,
                                  CASE WHEN s.notes THEN array_to_string(s.next_steps, E'\n') END), 20000) AS body,
                   greatest(ts_rank_cd(s.v, $1, 32), CASE WHEN s.notes THEN ts_rank_cd(s.notes_v, $1, 32) END) AS rank,
                   s.updated_at
              FROM (SELECT s.*, %1$s AS v, %2$s AS notes_v, coalesce(s.ended_at, s.started_at) AS updated_at,
                           intracker_data.may_read_session_notes(s.project_id, s.user_id) AS notes
                      FROM intracker_data.sessions s
                     WHERE (%1$s @@ $1 OR %2$s @@ $1) AND s.project_id = ANY ($2)
                     ORDER BY coalesce(s.ended_at, s.started_at) DESC LIMIT %3$s) s
             WHERE s.v @@ $1 OR (s.notes AND s.notes_v @@ $1)
             ORDER BY rank DESC, s.updated_at DESC LIMIT $3$q$,
            intracker_data.search_vector_of(config, 's', 'goal', 'blockers'),
            intracker_data.search_vector_of(config, 's', 'summary', 'next_steps'), ranked_per_kind);
    END IF;

    -- The best of all kinds; snippets for those only (ts_headline reads
    -- the whole text).
    -- (the body's snippet, or the title's when only the title matched)
    RETURN QUERY EXECUTE format($q$
        SELECT b.kind, b.id, b.project_id, b.title,
               CASE WHEN strpos(h.snippet, '**') > 0 OR b.title IS NULL THEN h.snippet
                    ELSE ts_headline(%1$L, b.title, $1, 'StartSel=**, StopSel=**, HighlightAll=true') END,
               b.rank, b.updated_at
          FROM (SELECT * FROM (%2$s) AS every_kind ORDER BY rank DESC, updated_at DESC, id LIMIT $3) AS b
         CROSS JOIN LATERAL (SELECT ts_headline(%1$L, coalesce(b.body, ''), $1,
                                                'StartSel=**, StopSel=**, MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "')
                                    AS snippet) AS h
         ORDER BY b.rank DESC, b.updated_at DESC, b.id$q$,
        config, array_to_string(ARRAY(SELECT '(' || statement || ')' FROM unnest(best) AS statement), ' UNION ALL '))
        USING parsed, projects, max_results;
END
$$;
COMMENT ON FUNCTION intracker_data.search_hits(text, uuid, text[], integer) IS
    'The body of intracker.search() (in_project: its project_id).';

CREATE FUNCTION intracker.search(query text, project_id uuid DEFAULT NULL, kinds text[] DEFAULT NULL,
                                 max_results integer DEFAULT 20)
RETURNS TABLE (kind text, id uuid, project_id uuid, title text, snippet text, rank real, updated_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM intracker_data.search_hits(query, project_id, kinds, max_results);
END;
COMMENT ON FUNCTION intracker.search(text, uuid, text[], integer) IS
    'Full-text search of what you may read: kind (todo, feature, comment, document, session), id, project_id, title, snippet (matches in **bold**), rank, updated_at; best first. Web-search syntax ("phrase", or, -word), the last word a prefix; in one project or all of yours; kinds NULL for all; at most max_results (1 to 100). Parsed with intracker.search_config (default simple).';

-- Writers compute the indexed vectors (index expressions run as the
-- writer), so they execute these two pure functions.
GRANT EXECUTE ON FUNCTION intracker.search(text, uuid, text[], integer),
    intracker_data.search_hits(text, uuid, text[], integer),
    intracker_data.search_vector(regconfig, text, text), intracker_data.words_of(text[]) TO intracker_user;

------------------------------------------------------------------------------
-- Metrics and health (issue 17): src/sql/94_monitoring.sql, whole.
------------------------------------------------------------------------------

-- Operations: metrics for Prometheus and a health check.
--
-- intracker.metrics is one row per sample (name, labels, value, type, help)
-- that a monitoring role reads; src/monitoring/ has the queries file that
-- postgres_exporter serves them with, and the alert rules.  Counters that
-- count acts (conflicts, claims, automatic assignments, deliveries) live in
-- shared memory, per database served, and start from 0 when the server
-- begins serving it, as Prometheus counters may; the others are read from small tables or partial indexes, never from
-- the todos, so a scrape costs the same at any size.  No label names a
-- project or a user.
--
-- intracker.health() is the load balancer's question, answered for anyone
-- (PostgREST's anonymous role: GET /rpc/health) with states and counts
-- only.

CREATE FUNCTION intracker_data.activity_counts(OUT activity text, OUT entity text, OUT count bigint)
RETURNS SETOF record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_activity_counts';
COMMENT ON FUNCTION intracker_data.activity_counts() IS
    'This database''s conflicts (by entity), claims and automatic assignments since the server began serving it, from shared memory (C); none where no publisher serves it (or the library is not preloaded).';

CREATE FUNCTION intracker_data.counter_check(OUT drifted bigint, OUT checked_at timestamptz)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_counter_check';
COMMENT ON FUNCTION intracker_data.counter_check() IS
    'The publisher''s last check of the counters (every intracker.counter_check_interval): how many differed from the todos, and when; NULLs before the first or where no publisher serves.';

-- How long the oldest event waiting in the outbox has waited (0 when none
-- waits), for the metrics and health(), which read the outbox as its owner.
CREATE FUNCTION intracker_data.oldest_unpublished_seconds()
RETURNS double precision
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce(extract(epoch FROM now() - (SELECT o.occurred_at FROM intracker_data.outbox o ORDER BY o.id LIMIT 1)), 0);
COMMENT ON FUNCTION intracker_data.oldest_unpublished_seconds() IS
    'Seconds the oldest event in the outbox has waited; 0 when none waits.';

-- The samples.  SECURITY DEFINER: it counts tables monitoring roles cannot
-- read (the outbox, the deliveries), and returns counts only.
CREATE FUNCTION intracker_data.metric_samples(OUT name text, OUT labels jsonb, OUT value double precision,
                                              OUT type text, OUT help text)
RETURNS SETOF record
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH publisher AS (SELECT w.*, w.pid IS NOT NULL AND w.database = current_database() AS here
                         FROM intracker_data.worker_state() w),
         checked AS (SELECT * FROM intracker_data.counter_check() c WHERE c.checked_at IS NOT NULL),
         deliverer AS (SELECT * FROM intracker_data.deliverer_state()),
         log AS (SELECT * FROM intracker_data.event_log_state()),
         backlog AS (SELECT * FROM intracker_data.delivery_backlog()),
         recent AS (SELECT d.duration_ms / 1000.0 AS duration,
                           extract(epoch FROM d.delivered_at - coalesce(e.occurred_at, d.created_at)) AS lag
                      FROM (SELECT * FROM intracker_data.deliveries d
                             WHERE d.state IN ('delivered', 'dead') ORDER BY d.created_at DESC LIMIT 1000) d
                      LEFT JOIN intracker_data.events e ON e.seq = d.event_seq
                     WHERE d.state = 'delivered'),
         quantiles AS (SELECT q, percentile_cont(q) WITHIN GROUP (ORDER BY r.duration) AS duration,
                              percentile_cont(q) WITHIN GROUP (ORDER BY r.lag) AS lag
                         FROM recent r, unnest(ARRAY[0.5, 0.9, 0.99]) AS q GROUP BY q)
    SELECT 'intracker_publisher_up', '{}'::jsonb, p.here::int::float8,
           'gauge', 'Whether the publisher runs in this database (1) or not (0).'
      FROM publisher p
    UNION ALL
    SELECT 'intracker_deliverer_up', '{}', (d.pid IS NOT NULL AND p.here)::int, 'gauge',
           'Whether the deliverer (webhooks, GitHub calls) runs in this database.'
      FROM deliverer d, publisher p
    UNION ALL
    SELECT 'intracker_events_published_total', '{}', l.last_seq, 'counter',
           'Events published (the last publication sequence number).'
      FROM log l
    UNION ALL
    SELECT 'intracker_events_unpublished', '{}', l.backlog, 'gauge', 'Events waiting in the outbox.'
      FROM log l
    UNION ALL
    SELECT 'intracker_events_oldest_unpublished_seconds', '{}', intracker_data.oldest_unpublished_seconds(),
           'gauge', 'Age of the oldest event waiting in the outbox (0 when none waits).'
    UNION ALL
    SELECT 'intracker_events_dead', '{}', l.dead_events, 'gauge',
           'Events set aside because they could not be published (intracker.requeue_dead_events puts them back).'
      FROM log l
    UNION ALL
    SELECT 'intracker_deliveries_waiting', jsonb_build_object('state', s.state), s.n, 'gauge',
           'Deliveries not yet sent: pending, or failed and waiting for a retry.'
      FROM backlog b, LATERAL (VALUES ('pending', b.pending), ('failed', b.failed)) AS s (state, n)
    UNION ALL
    SELECT 'intracker_deliveries_finished_total', jsonb_build_object('outcome', s.outcome), s.n, 'counter',
           'Deliveries finished since the deliverer started: delivered, or dead after their last attempt.'
      FROM deliverer d, LATERAL (VALUES ('delivered', d.delivered), ('dead', d.dead)) AS s (outcome, n)
    UNION ALL
    SELECT 'intracker_delivery_attempts_total', '{}', d.attempts, 'counter',
           'HTTP attempts of deliveries since the deliverer started.'
      FROM deliverer d
    UNION ALL
    SELECT 'intracker_webhooks_disabled', '{}', (SELECT count(*) FROM intracker_data.webhooks w WHERE w.disabled_at IS NOT NULL),
           'gauge', 'Webhooks the deliverer disabled after a run of failures.'
    UNION ALL
    SELECT 'intracker_delivery_duration_seconds', jsonb_build_object('quantile', q.q::text), q.duration, 'gauge',
           'Duration of the HTTP request of the last 1,000 delivered deliveries, by quantile.'
      FROM quantiles q WHERE q.duration IS NOT NULL
    UNION ALL
    SELECT 'intracker_delivery_lag_seconds', jsonb_build_object('quantile', q.q::text), q.lag, 'gauge',
           'From the change''s transaction to its delivery, of the last 1,000 delivered deliveries, by quantile.'
      FROM quantiles q WHERE q.lag IS NOT NULL
    UNION ALL
    SELECT CASE a.activity WHEN 'conflict' THEN 'intracker_conflicts_total' WHEN 'claim' THEN 'intracker_claims_total'
                ELSE 'intracker_automatic_assignments_total' END,
           CASE WHEN a.entity IS NULL THEN '{}' ELSE jsonb_build_object('entity', a.entity) END,
           a.count, 'counter',
           CASE a.activity WHEN 'conflict' THEN 'Stale writes rejected (PT409, PT412) in this database since the server began serving it, by entity.'
                           WHEN 'claim' THEN 'Todos claimed by claim_next_todo in this database since the server began serving it.'
                           ELSE 'Automatic assignments (assign_todo, assign_feature without assignee) in this database since the server began serving it.' END
      FROM intracker_data.activity_counts() a
    UNION ALL
    SELECT 'intracker_rejected_writes_dropped_total', '{}', coalesce(p.rejected_writes_dropped, 0), 'counter',
           'Rejected writes not recorded as conflict.rejected events because the queue was full.'
      FROM publisher p
    UNION ALL
    SELECT 'intracker_counters_drifted', '{}', c.drifted, 'gauge',
           'Counters (member load, progress) that differed from the todos at the publisher''s last check (intracker.verify_counters lists them).'
      FROM checked c
    UNION ALL
    SELECT 'intracker_counters_check_age_seconds', '{}', extract(epoch FROM now() - c.checked_at), 'gauge',
           'Time since the publisher last checked the counters (every intracker.counter_check_interval).'
      FROM checked c;
END;
COMMENT ON FUNCTION intracker_data.metric_samples() IS
    'The samples of intracker.metrics (counts only, no project or user labels).';

CREATE VIEW intracker.metrics WITH (security_invoker = true) AS
SELECT m.name, m.labels, m.value, m.type, m.help FROM intracker_data.metric_samples() m;
COMMENT ON VIEW intracker.metrics IS
    'Prometheus samples of intracker: name, labels (no project or user), value, type (counter or gauge), help. For members of intracker_admin and pg_monitor; src/monitoring/ has the postgres_exporter queries and the alert rules.';

CREATE FUNCTION intracker.health()
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    publisher record;
    deliverer record;
    log record;
    waiting record;
    oldest double precision;
    disabled bigint;
    served boolean;       -- should a publisher serve this database?
    checks jsonb;
BEGIN
    -- (each database sees its own publisher and deliverer, or no pid)
    SELECT * INTO publisher FROM intracker_data.worker_state();
    SELECT * INTO deliverer FROM intracker_data.deliverer_state();
    -- the publisher's state says whether intracker.database covers this
    -- database; without the supervisor, the setting does
    served := CASE WHEN publisher.state = 'not running'
                   THEN current_setting('intracker.database') IN (current_database(), '*')
                   ELSE publisher.state NOT IN ('serving another database', 'waiting for database') END;
    -- counted up to 10,001 at most: anyone may ask, and this must stay cheap
    -- however far behind the worker is
    SELECT (SELECT count(*) FROM (SELECT FROM intracker_data.outbox LIMIT 10001) o) AS backlog,
           (SELECT count(*) FROM (SELECT FROM intracker_data.dead_events LIMIT 10001) d) AS dead_events
      INTO log;
    SELECT (SELECT count(*) FROM (SELECT FROM intracker_data.deliveries d
                                   WHERE d.state IN ('pending', 'failed') LIMIT 10001) w) AS waiting
      INTO waiting;
    oldest := intracker_data.oldest_unpublished_seconds();
    disabled := (SELECT count(*) FROM intracker_data.webhooks w WHERE w.disabled_at IS NOT NULL);

    checks := jsonb_build_object(
        'publisher', CASE
            WHEN publisher.pid IS NULL AND served THEN
                jsonb_build_object('state', 'down', 'reason',
                                   format('the publisher is not running (%s): no events are published or NOTIFYed', publisher.state))
            WHEN publisher.pid IS NULL THEN
                jsonb_build_object('state', 'degraded', 'reason', 'no publisher serves this database: events are published when read, without NOTIFY')
            WHEN oldest >= 60 THEN
                jsonb_build_object('state', 'degraded', 'reason', format('the oldest unpublished event is %s s old', round(oldest)))
            ELSE jsonb_build_object('state', 'ok', 'backlog', log.backlog) END,
        'deliverer', CASE
            WHEN deliverer.pid IS NULL AND waiting.waiting > 0 THEN
                jsonb_build_object('state', 'degraded', 'reason', format('the deliverer is not running; %s deliveries wait', waiting.waiting))
            WHEN deliverer.pid IS NULL THEN
                jsonb_build_object('state', CASE WHEN served THEN 'degraded' ELSE 'ok' END,
                                   'reason', 'the deliverer is not running')
            ELSE jsonb_build_object('state', 'ok', 'waiting', waiting.waiting) END,
        'dead_events', CASE WHEN log.dead_events > 0 THEN
                jsonb_build_object('state', 'degraded', 'reason', format('%s events could not be published', log.dead_events))
            ELSE jsonb_build_object('state', 'ok') END,
        'webhooks', CASE WHEN disabled > 0 THEN
                jsonb_build_object('state', 'degraded', 'reason', format('%s webhooks were disabled after failing', disabled))
            ELSE jsonb_build_object('state', 'ok') END);
    RETURN jsonb_build_object(
        'status', CASE WHEN jsonb_path_exists(checks, '$.*.state ? (@ == "down")') THEN 'down'
                       WHEN jsonb_path_exists(checks, '$.*.state ? (@ == "degraded")') THEN 'degraded'
                       ELSE 'ok' END,
        'checks', checks);
END
$$;
COMMENT ON FUNCTION intracker.health() IS
    'Health for load balancers and probes: {"status": "ok" | "degraded" | "down", "checks": {publisher, deliverer, dead_events, webhooks: {"state", "reason"}}}. Down: the publisher of this database is not running. For anyone, the anonymous web role included (PostgREST GET /rpc/health): states and counts only (counts stop at 10,001).';

-- A monitoring role (postgres_exporter's, a member of pg_monitor) reads
-- the metrics and nothing else of the API.
GRANT USAGE ON SCHEMA intracker, intracker_data TO pg_monitor;
GRANT SELECT ON intracker.metrics TO intracker_admin, pg_monitor;
GRANT EXECUTE ON FUNCTION intracker_data.metric_samples() TO intracker_admin, pg_monitor;
GRANT EXECUTE ON FUNCTION intracker.health() TO intracker_user, intracker_admin, pg_monitor;

------------------------------------------------------------------------------
-- Issue 13: what every row of an import paid for.  role_rank is inlined at
-- last (not STRICT, 10_api_rules.sql), and todos_init_counters reads the
-- feature without the caller's RLS (70_assignment.sql says why that is safe).
------------------------------------------------------------------------------

ALTER FUNCTION intracker_data.todos_init_counters() SECURITY DEFINER;

CREATE OR REPLACE FUNCTION intracker_data.role_rank(role text)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE role WHEN 'viewer' THEN 1 WHEN 'editor' THEN 2 WHEN 'owner' THEN 3 END;

-- Last, as in src/sql/99_privileges.sql: nothing is PUBLIC, whatever this
-- script created (0.5 had also left the identity sequence of
-- github_inbound with its default privileges).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA intracker, intracker_data FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA intracker, intracker_data FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA intracker_data FROM PUBLIC;
