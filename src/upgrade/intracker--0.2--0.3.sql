-- intracker 0.2 -> 0.3: team context and resume context for agents (C + jansson).
--
-- Progress counters that would otherwise need a scan of every todo of a
-- project (totals by status, done today, points done this week, feature
-- progress) are kept incrementally by a C trigger (src/progress_counters.c)
-- in sharded rows: each writer adds to the slot of its backend, so concurrent
-- writers of one project do not queue on a single counter row, and readers
-- add up at most 32 rows.  Like member_load they are derived data: not
-- dumped, rebuilt by the trigger when pg_restore inserts the todos;
-- intracker.verify_counters() checks them too.

\echo Use "ALTER EXTENSION intracker UPDATE TO '0.3'" to load this file. \quit

-- Every API call reads intracker_data.users first (require_user): taking it
-- before anything else makes concurrent writers wait for this update
-- instead of deadlocking with it half-way (a writer holding users and
-- waiting for a table the update already altered).
LOCK TABLE intracker_data.users IN ACCESS EXCLUSIVE MODE;

CREATE TABLE intracker_data.project_stats (
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    slot            smallint NOT NULL,
    todos_open      integer NOT NULL DEFAULT 0,
    todos_done      integer NOT NULL DEFAULT 0,
    todos_cancelled integer NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, slot)
);
COMMENT ON TABLE intracker_data.project_stats IS
    'Todos of a project by state, sharded by writer slot (sum the slots); kept by a C trigger; derived data, not dumped.';

CREATE TABLE intracker_data.project_daily_done (
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    day             date NOT NULL,
    slot            smallint NOT NULL,
    todos_done      integer NOT NULL DEFAULT 0,
    points_done     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day, slot)
);
COMMENT ON TABLE intracker_data.project_daily_done IS
    'Todos (and their points) of a project that are done, by the UTC day they were completed, sharded by writer slot; kept by a C trigger; derived data, not dumped.';

CREATE TABLE intracker_data.feature_stats (
    feature_id      uuid NOT NULL REFERENCES intracker_data.features (id) ON DELETE CASCADE,
    slot            smallint NOT NULL,
    todos_total     integer NOT NULL DEFAULT 0,
    todos_done      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (feature_id, slot)
);
COMMENT ON TABLE intracker_data.feature_stats IS
    'Non-cancelled and done todos of a feature, sharded by writer slot; kept by a C trigger; derived data, not dumped.';

ALTER TABLE intracker_data.project_stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.project_daily_done ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.feature_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_stats_select ON intracker_data.project_stats FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY project_daily_done_select ON intracker_data.project_daily_done FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY feature_stats_select ON intracker_data.feature_stats FOR SELECT
    USING (EXISTS (SELECT FROM intracker_data.features f WHERE f.id = feature_id));
REVOKE ALL ON intracker_data.project_stats, intracker_data.project_daily_done, intracker_data.feature_stats FROM PUBLIC;
GRANT SELECT ON intracker_data.project_stats, intracker_data.project_daily_done, intracker_data.feature_stats TO intracker_user;

CREATE FUNCTION intracker_data.progress_counter()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_progress_counter';
COMMENT ON FUNCTION intracker_data.progress_counter() IS
    'AFTER ROW trigger (C) on todos: applies the change''s effect on project_stats, project_daily_done and feature_stats.';
CREATE TRIGGER todos_progress AFTER INSERT OR DELETE OR UPDATE OF status, estimate, project_id, feature_id, completed_at
    ON intracker_data.todos FOR EACH ROW EXECUTE FUNCTION intracker_data.progress_counter();

-- Existing rows (an update from 0.2 with data), all in slot 0.
INSERT INTO intracker_data.project_stats (project_id, slot, todos_open, todos_done, todos_cancelled)
SELECT t.project_id, 0,
       count(*) FILTER (WHERE t.status NOT IN ('done', 'cancelled')),
       count(*) FILTER (WHERE t.status = 'done'),
       count(*) FILTER (WHERE t.status = 'cancelled')
  FROM intracker_data.todos t GROUP BY t.project_id;
INSERT INTO intracker_data.project_daily_done (project_id, day, slot, todos_done, points_done)
SELECT t.project_id, (t.completed_at AT TIME ZONE 'UTC')::date, 0, count(*), sum(t.estimate)
  FROM intracker_data.todos t
 WHERE t.status = 'done' AND t.completed_at IS NOT NULL
 GROUP BY 1, 2;
INSERT INTO intracker_data.feature_stats (feature_id, slot, todos_total, todos_done)
SELECT t.feature_id, 0, count(*) FILTER (WHERE t.status <> 'cancelled'), count(*) FILTER (WHERE t.status = 'done')
  FROM intracker_data.todos t WHERE t.feature_id IS NOT NULL GROUP BY t.feature_id;

-- Indexes for the context documents: a member's open todos in importance
-- order, and a project's blocked todos.  Both cover open todos only, so
-- their size follows the open work, not the project's history.
CREATE INDEX todos_member_open ON intracker_data.todos
    (project_id, assigned_to, priority_rank DESC, due_date ASC NULLS LAST, created_at, id)
    WHERE status NOT IN ('done', 'cancelled');
CREATE INDEX todos_blocked_open ON intracker_data.todos (project_id, priority_rank DESC, created_at, id)
    WHERE status NOT IN ('done', 'cancelled') AND (status = 'blocked' OR open_blocker_count > 0);
-- resume_context's recent activity in a feature.
CREATE INDEX todos_feature_recent ON intracker_data.todos (feature_id, updated_at DESC, id);

------------------------------------------------------------------------------
-- Feature progress from the counters, not from a scan of the feature's todos
------------------------------------------------------------------------------

CREATE OR REPLACE VIEW intracker.features WITH (security_invoker = true) AS
SELECT f.id, f.project_id, f.title, f.description, f.status, f.priority, f.assigned_to, f.created_by,
       f.created_at, f.updated_at, f.completed_at, f.completed_by, f.version,
       (SELECT coalesce(sum(s.todos_total), 0)::integer FROM intracker_data.feature_stats s
         WHERE s.feature_id = f.id) AS todos_total,
       (SELECT coalesce(sum(s.todos_done), 0)::integer FROM intracker_data.feature_stats s
         WHERE s.feature_id = f.id) AS todos_done,
       (SELECT CASE WHEN coalesce(sum(s.todos_total), 0) = 0
                    THEN CASE WHEN f.status = 'done' THEN 100 ELSE 0 END
                    ELSE (100 * sum(s.todos_done) / sum(s.todos_total))::integer END
          FROM intracker_data.feature_stats s
         WHERE s.feature_id = f.id) AS progress
  FROM intracker_data.features f;

------------------------------------------------------------------------------
-- Dashboard
------------------------------------------------------------------------------

CREATE VIEW intracker.team_dashboard WITH (security_invoker = true) AS
SELECT p.id AS project_id, p.name, p.status,
       (SELECT count(*) FROM intracker_data.project_members m WHERE m.project_id = p.id)::integer AS members,
       (s.todos_open + s.todos_done)::integer AS todos_total,
       s.todos_open::integer AS todos_open,
       s.todos_done::integer AS todos_done,
       CASE WHEN s.todos_open + s.todos_done = 0 THEN 0.000
            ELSE round(s.todos_done::numeric / (s.todos_open + s.todos_done), 3) END AS completion_rate,
       coalesce(d.today, 0)::integer AS todos_completed_today,
       coalesce(d.points_7d, 0)::integer AS points_done_last_7_days,
       (SELECT count(*) FROM intracker_data.features f
         WHERE f.project_id = p.id AND f.status = 'in_progress')::integer AS features_in_progress,
       (SELECT count(*) FROM intracker_data.todos t
         WHERE t.project_id = p.id AND t.status NOT IN ('done', 'cancelled')
           AND (t.status = 'blocked' OR t.open_blocker_count > 0))::integer AS todos_blocked
  FROM intracker_data.projects p
  CROSS JOIN LATERAL (SELECT coalesce(sum(ps.todos_open), 0) AS todos_open,
                             coalesce(sum(ps.todos_done), 0) AS todos_done
                        FROM intracker_data.project_stats ps WHERE ps.project_id = p.id) s
  CROSS JOIN LATERAL (SELECT sum(dd.todos_done) FILTER (WHERE dd.day = (now() AT TIME ZONE 'UTC')::date) AS today,
                             sum(dd.points_done) AS points_7d
                        FROM intracker_data.project_daily_done dd
                       WHERE dd.project_id = p.id
                         AND dd.day > (now() AT TIME ZONE 'UTC')::date - 7) d;
COMMENT ON VIEW intracker.team_dashboard IS
    'One row per project you are a member of, with the team counters of team_context: todos total (not cancelled), open and done, completion rate, todos completed today and points done in the last 7 days (UTC days), features in progress, blocked todos.';
REVOKE ALL ON intracker.team_dashboard FROM PUBLIC;
GRANT SELECT ON intracker.team_dashboard TO intracker_user;

------------------------------------------------------------------------------
-- Context documents (C, src/context.c)
------------------------------------------------------------------------------

CREATE FUNCTION intracker.team_context(project_id uuid)
RETURNS jsonb
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'intracker_team_context';
COMMENT ON FUNCTION intracker.team_context(uuid) IS
    'The team''s current state as one JSON document for an agent: project and notes, each member''s focus, open todos and last session, shared blockers, progress. Bounded by intracker.context_todo_limit and intracker.context_max_bytes; says what it omitted and how to fetch it. context_version changes exactly when the content does.';

CREATE FUNCTION intracker.resume_context(project_id uuid)
RETURNS jsonb
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'intracker_resume_context';
COMMENT ON FUNCTION intracker.resume_context(uuid) IS
    'What you need to resume work in a project: its notes, your last session, your open todos in claim order and what blocks them, recent team activity in your features, and a next_action suggestion.';

------------------------------------------------------------------------------
-- verify_counters checks the progress counters too
------------------------------------------------------------------------------

CREATE FUNCTION intracker_data.progress_counter_drift(project_id uuid)
RETURNS TABLE (counter text, project uuid, entity uuid, stored bigint, actual bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH project_drift AS (
        SELECT 'project_stats.' || c.name AS counter, p.id AS project_id, p.id AS entity_id, c.stored, c.actual
          FROM intracker_data.projects p
          CROSS JOIN LATERAL (SELECT coalesce(sum(s.todos_open), 0) AS open, coalesce(sum(s.todos_done), 0) AS done,
                                     coalesce(sum(s.todos_cancelled), 0) AS cancelled
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
          FROM (SELECT s.project_id, s.day, sum(s.todos_done) AS todos, sum(s.points_done) AS points
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
          CROSS JOIN LATERAL (SELECT coalesce(sum(s.todos_total), 0) AS total, coalesce(sum(s.todos_done), 0) AS done
                                FROM intracker_data.feature_stats s WHERE s.feature_id = f.id) AS st
          CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
                                     count(*) FILTER (WHERE t.status = 'done') AS done
                                FROM intracker_data.todos t WHERE t.feature_id = f.id) AS ac
          CROSS JOIN LATERAL (VALUES ('todos_total', st.total, ac.total), ('todos_done', st.done, ac.done)) AS c (name, stored, actual)
         WHERE (progress_counter_drift.project_id IS NULL OR f.project_id = progress_counter_drift.project_id)
           AND c.stored IS DISTINCT FROM c.actual
    )
    SELECT * FROM project_drift
    UNION ALL SELECT * FROM daily_drift
    UNION ALL SELECT * FROM feature_drift;
END;
COMMENT ON FUNCTION intracker_data.progress_counter_drift(uuid) IS
    'Drifted project_stats, project_daily_done and feature_stats counters (all projects when project_id is NULL).';

CREATE OR REPLACE FUNCTION intracker.verify_counters(project_id uuid DEFAULT NULL)
RETURNS TABLE (counter text, project uuid, entity uuid, stored bigint, actual bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM intracker_data.assignment_counter_drift(verify_counters.project_id)
    UNION ALL
    SELECT * FROM intracker_data.progress_counter_drift(verify_counters.project_id)
    ORDER BY 1, 2, 3;
END;

REVOKE ALL ON FUNCTION intracker_data.progress_counter(), intracker.team_context(uuid),
    intracker.resume_context(uuid), intracker_data.progress_counter_drift(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intracker.team_context(uuid), intracker.resume_context(uuid),
    intracker_data.progress_counter_drift(uuid) TO intracker_user;
