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
COMMENT ON TABLE intracker_data.outbox IS
    'Events written by committed (or still running) transactions and not yet published; the publisher moves them to intracker_data.events. Only the extension owner writes it: nobody can forge an event. Not dumped (derived data, not dumped: pg_restore writes the restored rows through the triggers, which queue a *.created event for each).';
COMMENT ON FUNCTION intracker_data.publish_pending_events() IS
    'When no publisher serves this database (library not preloaded, or intracker.database names another), publishes pending events (without NOTIFY) so that events_since() sees them. Returns how many.';
COMMENT ON VIEW intracker.worker_status IS
    'The publisher, the process that numbers and NOTIFYs events (the view keeps its 0.4 name): pid, state (not running / waiting for database / waiting for extension / idle / publishing / retrying after error / serving another database), last published seq, backlog (events not yet published), events/s over the last ~10 s, last error, start time, rejected writes that found the queue full.';
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
                ELSE (SELECT pg_catalog.rtrim(deliverer_next_deliveries.github_api_url, '/') || '/repos/' || p.github_repo
                             || '/issues'
                             || CASE WHEN d.event_type = 'github.create_issue' THEN ''
                                     ELSE '/' || coalesce((SELECT t.github_issue FROM intracker_data.todos t
                                                            WHERE t.id = d.todo_id),
                                                          (SELECT c.issue_number FROM intracker_data.deliveries c
                                                            WHERE c.todo_id = d.todo_id
                                                              AND c.event_type = 'github.create_issue'
                                                              AND c.state = 'delivered'
                                                            ORDER BY c.position DESC LIMIT 1)) END
                        FROM intracker_data.projects p WHERE p.id = d.project_id) END AS url,
           CASE WHEN d.kind = 'webhook' THEN NULL
                WHEN (SELECT p.github_repo FROM intracker_data.projects p WHERE p.id = d.project_id) IS NULL
                  THEN 'the project has no GitHub repository'
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
 WHERE e.project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[])
    OR (e.type LIKE 'member.%' AND e.entity_id = (SELECT intracker.current_user_id()))
    OR ((SELECT intracker.current_user_id()) IS NULL AND pg_catalog.pg_has_role('intracker_admin', 'MEMBER'));
ALTER VIEW intracker.events RESET (security_invoker);
ALTER VIEW intracker.events SET (security_barrier = true);
COMMENT ON VIEW intracker.events IS
    'Published change events of the projects you are a member of (and of your own memberships, removal included), by publication sequence (seq). changes maps each changed field to {"old": ..., "new": ...}; viewers get session events without others'' summary and next steps. Members of intracker_admin acting as nobody see all events.';
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
    'The publisher, the process that numbers and NOTIFYs events (the view keeps its 0.4 name): pid, state (not running / waiting for database / waiting for extension / idle / publishing / retrying after error / serving another database), last published seq, backlog (events not yet published), events/s over the last ~10 s, last error, start time, rejected writes that found the queue full, events set aside as dead (intracker_data.dead_events).';
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

-- Last, as in src/sql/99_privileges.sql: nothing is PUBLIC, whatever this
-- script created (0.5 had also left the identity sequence of
-- github_inbound with its default privileges).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA intracker, intracker_data FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA intracker, intracker_data FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA intracker_data FROM PUBLIC;
