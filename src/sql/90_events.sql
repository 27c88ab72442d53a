-- Durable change events, LISTEN/NOTIFY and replay.
--
-- Every change to projects, members, features, todos, dependencies and
-- sessions appends one event to intracker_data.outbox in the writer's own
-- transaction (C trigger, src/events.c): an event exists exactly when its
-- change committed.  The publisher process (src/publisher.c) moves committed
-- events into intracker_data.events, numbering them with a gap-free
-- publication sequence (seq), and NOTIFYs each on channel "intracker" and on
-- the project's channel.  Clients replay what they missed with
-- intracker.events_since(last seq seen).  Stale writes rejected with
-- PT409/PT412 become conflict.rejected events, recorded by the publisher.
--
-- Both tables are WAL-logged: pending and published events survive crashes
-- and restarts.  pg_dump keeps both, and the outbox's sequence: a restore
-- gives back the same log (same seq, same event), still-pending events are
-- published after it, and the restored rows queue no event of their own.

CREATE SEQUENCE intracker_data.outbox_id_seq;
COMMENT ON SEQUENCE intracker_data.outbox_id_seq IS
    'Order in which events were written; the publication order within a batch.';

CREATE TABLE intracker_data.outbox (
    id              bigint PRIMARY KEY DEFAULT pg_catalog.nextval('intracker_data.outbox_id_seq'),
    type            text NOT NULL,
    project_id      uuid NOT NULL,
    entity_id       uuid NOT NULL,
    actor           uuid,
    version         integer,
    changes         jsonb NOT NULL DEFAULT '{}',
    occurred_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
ALTER SEQUENCE intracker_data.outbox_id_seq OWNED BY intracker_data.outbox.id;
COMMENT ON TABLE intracker_data.outbox IS
    'Events written by committed (or still running) transactions and not yet published; the publisher moves them to intracker_data.events. Only the extension owner writes it: nobody can forge an event. Dumped: events pending at the dump are published after the restore (restored rows queue none).';

CREATE TABLE intracker_data.events (
    seq             bigint PRIMARY KEY,
    outbox_id       bigint NOT NULL,
    type            text NOT NULL,
    project_id      uuid NOT NULL,
    entity_id       uuid NOT NULL,
    actor           uuid,
    version         integer,
    changes         jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL,
    published_at    timestamptz NOT NULL
);
CREATE INDEX events_project_seq_idx ON intracker_data.events (project_id, seq);
COMMENT ON TABLE intracker_data.events IS
    'Published events, numbered by seq: gap-free and increasing in publication order. Kept for intracker.event_retention (the newest is always kept).';
COMMENT ON COLUMN intracker_data.events.seq IS 'Publication sequence: replay with intracker.events_since(last seq seen).';
COMMENT ON COLUMN intracker_data.events.outbox_id IS 'The id the event had in the outbox (the order it was written in).';

-- Events the publisher could not publish or fan out on their own while the
-- events after them could be (src/publisher.c, "Dead letters"): kept with
-- their error instead of holding every project's events back, until an
-- admin requeues them with intracker.requeue_dead_events().
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

-- The published log is history, the outbox and the dead events are what is
-- still to publish: all dumped, with the outbox's sequence (outbox ids go on
-- after the restored ones).  pg_restore loads events before outbox (data is
-- restored in name order), so the publisher of a served database numbers
-- the restored pending events after the restored log.
SELECT pg_catalog.pg_extension_config_dump('intracker_data.events', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.dead_events', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.outbox_id_seq', '');

-- The outbox and the dead events have no policy: only their owner (the
-- trigger, the publisher) uses them.
ALTER TABLE intracker_data.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.dead_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.events ENABLE ROW LEVEL SECURITY;
-- Members read their projects' events but others' notifications; a user
-- reads the events of their own membership (so someone removed can still
-- learn it) and their own notifications; an admin who acts as nobody reads
-- everything (operations), one acting as a user what that user may.
CREATE POLICY events_select ON intracker_data.events FOR SELECT
    USING ((project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[])
            AND type NOT LIKE 'notification.%')
           OR ((type LIKE 'member.%' OR type LIKE 'notification.%')
               AND entity_id = (SELECT intracker.current_user_id()))
           OR ((SELECT intracker.current_user_id()) IS NULL
               AND pg_catalog.pg_has_role('intracker_admin', 'MEMBER')));

------------------------------------------------------------------------------
-- The outbox trigger (src/events.c).  Arguments: entity, id column, project
-- column, then "column:suffix" rules for the event type of an update,
-- "INSERT:suffix" / "DELETE:suffix", and "-column" for internal columns.
------------------------------------------------------------------------------

CREATE FUNCTION intracker_data.record_event()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_record_event';
COMMENT ON FUNCTION intracker_data.record_event() IS
    'Trigger: appends one event per changed row to intracker_data.outbox, with the changed fields (old -> new).';

CREATE TRIGGER projects_events AFTER INSERT OR UPDATE OR DELETE ON intracker_data.projects
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('project', 'id', 'id', 'status:status_changed');
CREATE TRIGGER project_members_events AFTER INSERT OR UPDATE OR DELETE ON intracker_data.project_members
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('member', 'user_id', 'project_id',
                                                             'INSERT:added', 'DELETE:removed');
CREATE TRIGGER features_events AFTER INSERT OR UPDATE OR DELETE ON intracker_data.features
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('feature', 'id', 'project_id',
                                                             'status:status_changed', 'assigned_to:assigned');
CREATE TRIGGER todos_events AFTER INSERT OR UPDATE OR DELETE ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('todo', 'id', 'project_id',
                                                             'status:status_changed', 'assigned_to:assigned',
                                                             '-open_blocker_count', '-open_dependent_count',
                                                             '-feature_active');
CREATE TRIGGER todo_dependencies_events AFTER INSERT OR UPDATE OR DELETE ON intracker_data.todo_dependencies
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('dependency', 'todo_id', 'project_id',
                                                             'INSERT:added', 'DELETE:removed');
CREATE TRIGGER sessions_events AFTER INSERT OR UPDATE OR DELETE ON intracker_data.sessions
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('session', 'id', 'project_id',
                                                             'INSERT:started', 'ended_at:ended');

------------------------------------------------------------------------------
-- API
------------------------------------------------------------------------------

-- Like intracker.sessions, the view applies the rule on session working
-- notes (intracker_data.may_read_session_notes: a session's events carry
-- its summary and next steps, whose author is the event's actor), so it
-- reads the table as its owner, keeps the rows the table's policy would,
-- and is a security barrier; users cannot read the table itself.
CREATE VIEW intracker.events WITH (security_barrier = true) AS
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
COMMENT ON VIEW intracker.events IS
    'Published change events of the projects you are a member of (and of your own memberships, removal included, and your own notifications), by publication sequence (seq). changes maps each changed field to {"old": ..., "new": ...}; viewers get session events without others'' summary and next steps. Members of intracker_admin acting as nobody see all events.';
COMMENT ON COLUMN intracker.events.seq IS 'Gap-free publication sequence over all projects; the "seq" of the NOTIFY payload.';
COMMENT ON COLUMN intracker.events.type IS 'entity.action: todo.created, todo.updated, todo.assigned, todo.status_changed, todo.deleted, feature.*, project.*, member.added/updated/removed, dependency.added/removed, session.started/updated/ended/deleted, comment.added/updated/deleted, notification.created (yours only: entity_id is you), conflict.rejected, webhook.disabled (by the deliverer: entity_id is the webhook).';
COMMENT ON COLUMN intracker.events.entity_id IS 'The todo, feature, project, session or comment; for member.* and notification.* the user; for dependency.* the dependent todo.';
COMMENT ON COLUMN intracker.events.actor IS 'The acting user (intracker.current_user_id()) of the change; NULL for maintenance without one.';
COMMENT ON COLUMN intracker.events.version IS 'The entity''s version after the change (for conflict.rejected, the current version that the write missed).';
COMMENT ON COLUMN intracker.events.occurred_at IS 'Start of the transaction that made the change.';

CREATE FUNCTION intracker.project_channel(project_id uuid)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'intracker_project_channel_sql';
COMMENT ON FUNCTION intracker.project_channel(uuid) IS
    'The NOTIFY channel of a project''s events ("intracker.project.<id>"). Channel "intracker" carries every event.';

CREATE FUNCTION intracker.listen_project(project_id uuid)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    channel text := intracker.project_channel(project_id);
BEGIN
    PERFORM intracker_data.require_role(project_id, 'viewer', 'listen to this project');
    EXECUTE format('LISTEN %I', channel);
    RETURN channel;
END
$$;
COMMENT ON FUNCTION intracker.listen_project(uuid) IS
    'LISTEN on the project''s event channel (members only; PT404 otherwise) and return its name. Payloads carry ids only: {"seq","type","project_id","entity_id","actor","version"}; read the full event with events_since().';

CREATE FUNCTION intracker_data.publish_pending_events()
RETURNS integer
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'intracker_publish_pending_events';
COMMENT ON FUNCTION intracker_data.publish_pending_events() IS
    'When no publisher serves this database (library not preloaded, or intracker.database names another), publishes pending events (without NOTIFY) so that events_since() sees them. Returns how many.';

-- Where a page of events_since ends: the seq of the max_events-th event
-- after after_seq of the project (of the caller's projects when NULL), or
-- NULL when fewer follow (of every project: the end of the log is near).
-- It only narrows the page's scan to a range of
-- seq, which the view's OR keeps the planner from doing (it sorted every
-- event after the page start, so a page cost what the rest of the log
-- did).  The page is still read through intracker.events: a bound too low
-- gives a short page, one too high a page cut at max_events, never a wrong
-- one.  SECURITY DEFINER, to use the (project_id, seq) index; it counts
-- only events of projects the caller is a member of, and of those not
-- others' notifications (which the view hides: counting them would end a
-- page early, even empty), so it reveals nothing.
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

CREATE FUNCTION intracker.events_since(after_seq bigint, project_id uuid DEFAULT NULL, max_events integer DEFAULT 1000)
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
COMMENT ON FUNCTION intracker.events_since(bigint, uuid, integer) IS
    'Replay: the events after seq after_seq that you may see (RLS), optionally of one project, in seq order, at most max_events (1..10000). To miss nothing: LISTEN first, then replay from the last seq you saw, then drop notifications whose seq you already have.';

CREATE FUNCTION intracker_data.worker_state(
    OUT pid integer, OUT state text, OUT events_per_second double precision,
    OUT started_at timestamptz, OUT last_error text, OUT last_error_at timestamptz,
    OUT rejected_writes_dropped bigint, OUT database text)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_worker_state';
COMMENT ON FUNCTION intracker_data.worker_state() IS
    'The publisher''s state from shared memory (C); read it through intracker.worker_status.';

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

CREATE FUNCTION intracker_data.wake_publisher()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_wake_publisher';
COMMENT ON FUNCTION intracker_data.wake_publisher() IS
    'Wake the publisher when the current transaction commits (nothing happens if it rolls back).';

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

-- For operators, once they fixed what made events dead: back to the outbox
-- under their first id, so they are published in their place in the order
-- of the events still waiting.  intracker_admin only (its only grant).
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

GRANT SELECT ON intracker.events, intracker.worker_status TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.requeue_dead_events(bigint[]) TO intracker_admin;
GRANT EXECUTE ON FUNCTION intracker.project_channel(uuid), intracker.listen_project(uuid),
    intracker_data.publish_pending_events(), intracker.events_since(bigint, uuid, integer),
    intracker_data.events_page_end(bigint, uuid, integer),
    intracker_data.worker_state(), intracker_data.event_log_state() TO intracker_user;
