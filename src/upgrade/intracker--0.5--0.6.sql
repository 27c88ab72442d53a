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

-- Last, as in src/sql/99_privileges.sql: nothing is PUBLIC, whatever this
-- script created (0.5 had also left the identity sequence of
-- github_inbound with its default privileges).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA intracker, intracker_data FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA intracker, intracker_data FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA intracker_data FROM PUBLIC;
