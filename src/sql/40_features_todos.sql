-- Features and todos: the work of a project, its progress counters, and the
-- API that creates and edits it.  Dependencies between todos, assignment and
-- claim order, and events build on these tables in later files.

-- assigned_to references the membership, not just the user: only members can
-- hold work, and removing a member unassigns their work (ON DELETE SET NULL
-- of that one column).  The plain FK to users lets PostgREST embed the user.
CREATE TABLE intracker_data.features (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    title           text NOT NULL
                    CONSTRAINT features_title_not_blank CHECK (btrim(title) <> '' AND length(title) <= 500),
    description     text,
    status          text NOT NULL DEFAULT 'todo'
                    CONSTRAINT features_status_valid CHECK (status IN ('todo', 'in_progress', 'blocked', 'done')),
    priority        text NOT NULL DEFAULT 'medium'
                    CONSTRAINT features_priority_valid CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    assigned_to     uuid REFERENCES intracker_data.users (id),
    created_by      uuid REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    completed_by    uuid REFERENCES intracker_data.users (id),
    completed_at    timestamptz,
    version         integer NOT NULL DEFAULT 1,
    -- 0.6: labels, and free-form data an integration keeps
    tags            text[] NOT NULL DEFAULT '{}',
    metadata        jsonb NOT NULL DEFAULT '{}'
                    CONSTRAINT features_metadata_object CHECK (jsonb_typeof(metadata) = 'object'
                                                               AND octet_length(metadata::text) <= 16384),
    CONSTRAINT features_id_project_key UNIQUE (id, project_id),
    CONSTRAINT features_assignee_is_member FOREIGN KEY (project_id, assigned_to)
        REFERENCES intracker_data.project_members (project_id, user_id) ON DELETE SET NULL (assigned_to)
);
CREATE INDEX features_project_id_idx ON intracker_data.features (project_id, status);
CREATE INDEX features_assigned_to_idx ON intracker_data.features (assigned_to, project_id);
CREATE INDEX features_created_by_idx ON intracker_data.features (created_by);
CREATE INDEX features_completed_by_idx ON intracker_data.features (completed_by);

CREATE TABLE intracker_data.todos (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    feature_id      uuid,
    title           text NOT NULL
                    CONSTRAINT todos_title_not_blank CHECK (btrim(title) <> '' AND length(title) <= 500),
    description     text,
    status          text NOT NULL DEFAULT 'todo'
                    CONSTRAINT todos_status_valid CHECK (status IN ('todo', 'in_progress', 'blocked', 'review', 'done', 'cancelled')),
    priority        text NOT NULL DEFAULT 'medium'
                    CONSTRAINT todos_priority_valid CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    -- bounded, so that one todo cannot carry a nonsensical load; the
    -- counters that add estimates up are bigint regardless
    estimate        integer NOT NULL DEFAULT 1
                    CONSTRAINT todos_estimate_range CHECK (estimate > 0 AND estimate <= 1000000),
    tags            text[] NOT NULL DEFAULT '{}',
    assigned_to     uuid REFERENCES intracker_data.users (id),
    created_by      uuid REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    completed_by    uuid REFERENCES intracker_data.users (id),
    blocked_reason  text,
    due_date        date,
    github_issue    integer CONSTRAINT todos_github_issue_positive CHECK (github_issue > 0),
    github_pr       integer CONSTRAINT todos_github_pr_positive CHECK (github_pr > 0),
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    -- claim order (70_assignment.sql): kept by triggers, not by users
    priority_rank   smallint GENERATED ALWAYS AS (
        CASE priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END) STORED,
    open_blocker_count bigint NOT NULL DEFAULT 0,
    open_dependent_count bigint NOT NULL DEFAULT 0,
    feature_active  boolean NOT NULL DEFAULT false,
    -- GitHub sync (92_github.sql)
    github_issue_url text
                    CONSTRAINT todos_github_issue_url_format CHECK (github_issue_url ~ '^https?://' AND length(github_issue_url) <= 2000),
    -- 0.6: free-form data an integration keeps
    metadata        jsonb NOT NULL DEFAULT '{}'
                    CONSTRAINT todos_metadata_object CHECK (jsonb_typeof(metadata) = 'object'
                                                            AND octet_length(metadata::text) <= 16384),
    CONSTRAINT todos_id_project_key UNIQUE (id, project_id),
    -- feature_id must belong to the same project; deleting the feature
    -- keeps the todo and clears only feature_id.
    CONSTRAINT todos_feature_same_project FOREIGN KEY (feature_id, project_id)
        REFERENCES intracker_data.features (id, project_id) ON DELETE SET NULL (feature_id),
    CONSTRAINT todos_assignee_is_member FOREIGN KEY (project_id, assigned_to)
        REFERENCES intracker_data.project_members (project_id, user_id) ON DELETE SET NULL (assigned_to)
);
CREATE INDEX todos_project_id_idx ON intracker_data.todos (project_id, status);
CREATE INDEX todos_feature_id_idx ON intracker_data.todos (feature_id, project_id);
CREATE INDEX todos_assigned_to_idx ON intracker_data.todos (assigned_to, project_id, status);
CREATE INDEX todos_created_by_idx ON intracker_data.todos (created_by);
CREATE INDEX todos_completed_by_idx ON intracker_data.todos (completed_by);
COMMENT ON COLUMN intracker_data.todos.open_blocker_count IS 'Internal: blockers of this todo that are not done or cancelled.';
COMMENT ON COLUMN intracker_data.todos.open_dependent_count IS 'Internal: open todos this todo blocks (how many it would unblock).';
COMMENT ON COLUMN intracker_data.todos.feature_active IS 'Internal: the todo''s feature is in progress.';

COMMENT ON CONSTRAINT features_title_not_blank ON intracker_data.features IS 'title must not be blank (at most 500 characters).';
COMMENT ON CONSTRAINT features_status_valid ON intracker_data.features IS 'status must be one of: todo, in_progress, blocked, done.';
COMMENT ON CONSTRAINT features_priority_valid ON intracker_data.features IS 'priority must be one of: low, medium, high, critical.';
COMMENT ON CONSTRAINT features_assignee_is_member ON intracker_data.features IS 'assigned_to must be a member of the project.';
COMMENT ON CONSTRAINT features_assigned_to_fkey ON intracker_data.features IS 'assigned_to must be a member of the project.';
COMMENT ON CONSTRAINT todos_title_not_blank ON intracker_data.todos IS 'title must not be blank (at most 500 characters).';
COMMENT ON CONSTRAINT todos_status_valid ON intracker_data.todos IS 'status must be one of: todo, in_progress, blocked, review, done, cancelled.';
COMMENT ON CONSTRAINT todos_priority_valid ON intracker_data.todos IS 'priority must be one of: low, medium, high, critical.';
COMMENT ON CONSTRAINT todos_estimate_range ON intracker_data.todos IS 'estimate must be a positive number of points, at most 1000000.';
COMMENT ON CONSTRAINT todos_github_issue_positive ON intracker_data.todos IS 'github_issue must be a positive issue number.';
COMMENT ON CONSTRAINT todos_github_pr_positive ON intracker_data.todos IS 'github_pr must be a positive pull request number.';
COMMENT ON CONSTRAINT todos_feature_same_project ON intracker_data.todos IS 'feature_id must be a feature of the same project.';
COMMENT ON CONSTRAINT todos_assignee_is_member ON intracker_data.todos IS 'assigned_to must be a member of the project.';
COMMENT ON CONSTRAINT todos_assigned_to_fkey ON intracker_data.todos IS 'assigned_to must be a member of the project.';
COMMENT ON CONSTRAINT todos_github_issue_url_format ON intracker_data.todos IS 'github_issue_url must be an http(s) URL.';
COMMENT ON CONSTRAINT features_metadata_object ON intracker_data.features IS 'metadata must be a JSON object of at most 16384 bytes.';
COMMENT ON CONSTRAINT todos_metadata_object ON intracker_data.todos IS 'metadata must be a JSON object of at most 16384 bytes.';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.features', '');
SELECT pg_catalog.pg_extension_config_dump('intracker_data.todos', '');

-- Changes of the internal counter columns alone leave version and
-- updated_at alone.
CREATE TRIGGER features_row_version BEFORE UPDATE ON intracker_data.features
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('feature');
CREATE TRIGGER todos_row_version BEFORE UPDATE ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('todo', 'open_blocker_count', 'open_dependent_count', 'feature_active');

CREATE TRIGGER features_track_completion BEFORE INSERT OR UPDATE OF status ON intracker_data.features
    FOR EACH ROW EXECUTE FUNCTION intracker_data.track_completion();
CREATE TRIGGER todos_track_completion BEFORE INSERT OR UPDATE OF status ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION intracker_data.track_completion();

------------------------------------------------------------------------------
-- Progress counters
--
-- Counts that would otherwise need a scan of every todo of a project (totals
-- by status, done today, points done this week, feature progress) are kept
-- incrementally by C statement triggers (src/progress_counters.c) in sharded
-- rows: each writer adds to the slot of its backend (8 slots), so concurrent
-- writers of one project rarely queue on one counter row; each statement
-- writes each counter row once.
-- The rows are versioned, as member_load's are (70_assignment.sql): a write
-- deletes its slot's row and inserts the successor one generation up, so a
-- snapshot sees exactly one row per slot.  Readers take each slot's newest
-- generation by a backward scan of the primary key (the *_counts functions
-- below), so the versions a long transaction keeps from being pruned lie
-- behind the rows read: reads cost the same whatever the write history
-- (test/bench/counters_history.sh).  A plain sum of the rows is also right,
-- but walks those versions.
-- They are derived data: not dumped, rebuilt by the trigger when pg_restore
-- inserts the todos; intracker.verify_counters() checks them.
-- They are bigint: a slot is not bounded by the number of todos (a todo
-- done by one slot and reopened by another moves both, as often as anyone
-- toggles it), and points add up estimates.
------------------------------------------------------------------------------

-- slot: 0 .. PROGRESS_SLOTS - 1 of progress_counters.c, the slots the
-- *_counts functions read.  generation comes last: ALTER EXTENSION UPDATE
-- adds it.
CREATE TABLE intracker_data.project_stats (
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    slot            smallint NOT NULL CHECK (slot BETWEEN 0 AND 7),
    todos_open      bigint NOT NULL DEFAULT 0,
    todos_done      bigint NOT NULL DEFAULT 0,
    todos_cancelled bigint NOT NULL DEFAULT 0,
    generation      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, slot, generation)
);
COMMENT ON TABLE intracker_data.project_stats IS
    'Todos of a project by state, sharded by writer slot (add up the newest generation of each slot: project_counts()); kept by a C trigger; derived data, not dumped.';

CREATE TABLE intracker_data.project_daily_done (
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    day             date NOT NULL,
    slot            smallint NOT NULL CHECK (slot BETWEEN 0 AND 7),
    todos_done      bigint NOT NULL DEFAULT 0,
    points_done     bigint NOT NULL DEFAULT 0,
    generation      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day, slot, generation)
);
COMMENT ON TABLE intracker_data.project_daily_done IS
    'Todos (and their points) of a project that are done, by the UTC day they were completed, sharded by writer slot (project_daily_counts()); kept by a C trigger; derived data, not dumped.';

CREATE TABLE intracker_data.feature_stats (
    feature_id      uuid NOT NULL REFERENCES intracker_data.features (id) ON DELETE CASCADE,
    slot            smallint NOT NULL CHECK (slot BETWEEN 0 AND 7),
    todos_total     bigint NOT NULL DEFAULT 0,
    todos_done      bigint NOT NULL DEFAULT 0,
    generation      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (feature_id, slot, generation)
);
COMMENT ON TABLE intracker_data.feature_stats IS
    'Non-cancelled and done todos of a feature, sharded by writer slot (feature_counts()); kept by a C trigger; derived data, not dumped.';
COMMENT ON COLUMN intracker_data.project_stats.generation IS
    'Each change of a slot''s counters replaces its row by one a generation up; readers take the newest they can see.';
COMMENT ON COLUMN intracker_data.project_daily_done.generation IS
    'Each change of a slot''s counters replaces its row by one a generation up; readers take the newest they can see.';
COMMENT ON COLUMN intracker_data.feature_stats.generation IS
    'Each change of a slot''s counters replaces its row by one a generation up; readers take the newest they can see.';
COMMENT ON CONSTRAINT project_stats_slot_check ON intracker_data.project_stats IS 'slot must be a writer slot, 0 to 7.';
COMMENT ON CONSTRAINT project_daily_done_slot_check ON intracker_data.project_daily_done IS 'slot must be a writer slot, 0 to 7.';
COMMENT ON CONSTRAINT feature_stats_slot_check ON intracker_data.feature_stats IS 'slot must be a writer slot, 0 to 7.';

ALTER TABLE intracker_data.project_stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.project_daily_done ENABLE ROW LEVEL SECURITY;
ALTER TABLE intracker_data.feature_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_stats_select ON intracker_data.project_stats FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY project_daily_done_select ON intracker_data.project_daily_done FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY feature_stats_select ON intracker_data.feature_stats FOR SELECT
    USING (EXISTS (SELECT FROM intracker_data.features f WHERE f.id = feature_id));

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

CREATE FUNCTION intracker_data.progress_counter()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'intracker_progress_counter';
COMMENT ON FUNCTION intracker_data.progress_counter() IS
    'AFTER STATEMENT trigger (C) on todos, with transition tables: applies the statement''s effect on project_stats, project_daily_done and feature_stats, each counter row once.';
-- One trigger per event: PostgreSQL gives transition tables only to a
-- trigger of one event, without a column list.
CREATE TRIGGER todos_progress_insert AFTER INSERT ON intracker_data.todos
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.progress_counter();
CREATE TRIGGER todos_progress_update AFTER UPDATE ON intracker_data.todos
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.progress_counter();
CREATE TRIGGER todos_progress_delete AFTER DELETE ON intracker_data.todos
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.progress_counter();

-- Recompute from scratch; a row is a counter that drifted (read through
-- intracker.verify_counters(), 70_assignment.sql).  Stored values are plain
-- sums of the rows the snapshot sees, right while each slot has one live
-- row, which slot_drift checks.
CREATE FUNCTION intracker_data.progress_counter_drift(project_id uuid)
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
COMMENT ON FUNCTION intracker_data.progress_counter_drift(uuid) IS
    'Drifted project_stats, project_daily_done and feature_stats counters (all projects when project_id is NULL).';

------------------------------------------------------------------------------
-- Row-level security, views, API
------------------------------------------------------------------------------

-- Viewers read; editors create and update; owners also delete.
ALTER TABLE intracker_data.features ENABLE ROW LEVEL SECURITY;
CREATE POLICY features_select ON intracker_data.features FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY features_insert ON intracker_data.features FOR INSERT
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY features_update ON intracker_data.features FOR UPDATE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY features_delete ON intracker_data.features FOR DELETE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));

ALTER TABLE intracker_data.todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY todos_select ON intracker_data.todos FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY todos_insert ON intracker_data.todos FOR INSERT
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY todos_update ON intracker_data.todos FOR UPDATE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY todos_delete ON intracker_data.todos FOR DELETE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));

-- Scalar subqueries (not a join) keep the view automatically updatable;
-- the progress comes from the counters, not from a scan of the todos.  The
-- slots add up to a count of todos, which fits an integer (the view's row
-- type is also what create_feature and its siblings return); div() keeps the
-- percentage truncated.
CREATE VIEW intracker.features WITH (security_invoker = true) AS
SELECT f.id, f.project_id, f.title, f.description, f.status, f.priority, f.assigned_to, f.created_by,
       f.created_at, f.updated_at, f.completed_at, f.completed_by, f.version,
       (SELECT c.todos_total::integer FROM intracker_data.feature_counts(f.id) c) AS todos_total,
       (SELECT c.todos_done::integer FROM intracker_data.feature_counts(f.id) c) AS todos_done,
       (SELECT CASE WHEN c.todos_total = 0 THEN CASE WHEN f.status = 'done' THEN 100 ELSE 0 END
                    ELSE div(100 * c.todos_done, c.todos_total)::integer END
          FROM intracker_data.feature_counts(f.id) c) AS progress,
       f.tags, f.metadata
  FROM intracker_data.features f;
COMMENT ON VIEW intracker.features IS 'Features of your projects with their progress. Editors create and update, owners delete; a stale version fails with PT409.';
COMMENT ON COLUMN intracker.features.todos_done IS 'Todos of the feature that are done.';
COMMENT ON COLUMN intracker.features.todos_total IS 'Todos of the feature, not counting cancelled ones.';
COMMENT ON COLUMN intracker.features.progress IS 'Percent (0-100) of the feature''s non-cancelled todos that are done; a feature without todos is 100 when done, else 0.';
COMMENT ON COLUMN intracker.features.tags IS 'Labels, as on todos and projects.';
COMMENT ON COLUMN intracker.features.metadata IS 'Free-form JSON object (at most 16 kB) for what an integration needs to keep.';

CREATE VIEW intracker.todos WITH (security_invoker = true) AS
SELECT id, project_id, feature_id, title, description, status, priority, estimate, tags, assigned_to,
       created_by, completed_by, blocked_reason, due_date, github_issue, github_pr,
       completed_at, created_at, updated_at, version, github_issue_url, metadata
  FROM intracker_data.todos;
COMMENT ON VIEW intracker.todos IS 'Todos of your projects. Editors create and update, owners delete; a stale version fails with PT409.';
COMMENT ON COLUMN intracker.todos.status IS 'todo, in_progress, blocked, review, done or cancelled. in_progress and done need every blocker done or cancelled.';
COMMENT ON COLUMN intracker.todos.estimate IS 'Positive integer points.';
COMMENT ON COLUMN intracker.todos.version IS 'Row version for optimistic locking: write back the version you read (SET version = n) and a stale write fails with PT409.';
COMMENT ON COLUMN intracker.todos.github_issue_url IS 'Web address of the linked GitHub issue (set by create_github_issue(), or by link_github_issue() for github.com).';
COMMENT ON COLUMN intracker.todos.metadata IS 'Free-form JSON object (at most 16 kB) for what an integration needs to keep.';

CREATE VIEW intracker.my_todos WITH (security_invoker = true) AS
SELECT id, project_id, feature_id, title, description, status, priority, estimate, tags, assigned_to,
       created_by, completed_by, blocked_reason, due_date, github_issue, github_pr,
       completed_at, created_at, updated_at, version, metadata
  FROM intracker_data.todos
 WHERE assigned_to = (SELECT intracker.current_user_id())
   AND status NOT IN ('done', 'cancelled');
COMMENT ON VIEW intracker.my_todos IS 'Open (not done, not cancelled) todos assigned to you, in all your projects.';

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
COMMENT ON FUNCTION intracker.create_feature(uuid, text, text, text, uuid, text, text[], jsonb) IS
    'Create a feature in a project. Editors and owners.';

CREATE FUNCTION intracker.update_feature(feature_id uuid, changes jsonb, expected_version integer)
RETURNS intracker.features
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    updated intracker.features;
BEGIN
    PERFORM intracker_data.apply_changes('intracker_data.features', feature_id, changes, expected_version);
    SELECT * INTO updated FROM intracker.features f WHERE f.id = update_feature.feature_id;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION intracker.update_feature(uuid, jsonb, integer) IS
    'Change fields of a feature (title, description, status, priority, assigned_to, tags, metadata). Editors and owners; PT409 if expected_version is stale.';

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
COMMENT ON FUNCTION intracker.create_todo(uuid, text, uuid, text, text, integer, text[], date, uuid, text, jsonb) IS
    'Create a todo in a project, optionally in a feature of the same project. Editors and owners.';

CREATE FUNCTION intracker.update_todo(todo_id uuid, changes jsonb, expected_version integer)
RETURNS intracker.todos
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    updated intracker.todos;
BEGIN
    PERFORM intracker_data.apply_changes('intracker_data.todos', todo_id, changes, expected_version);
    SELECT * INTO updated FROM intracker.todos t WHERE t.id = update_todo.todo_id;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION intracker.update_todo(uuid, jsonb, integer) IS
    'Change fields of a todo, e.g. {"title": "…", "estimate": 3}. Editors and owners; PT409 if expected_version is stale; 23514 if a status change is blocked.';
CREATE FUNCTION intracker.set_todo_status(todo_id uuid, status text, expected_version integer)
RETURNS intracker.todos
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT intracker.update_todo(todo_id, jsonb_build_object('status', status), expected_version);
END;
COMMENT ON FUNCTION intracker.set_todo_status(uuid, text, integer) IS
    'Move a todo to a status (todo, in_progress, blocked, review, done, cancelled). in_progress and done need every blocker done or cancelled.';

GRANT SELECT ON intracker_data.features, intracker_data.todos, intracker_data.project_stats,
    intracker_data.project_daily_done, intracker_data.feature_stats, intracker.features, intracker.todos,
    intracker.my_todos TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.project_counts(uuid), intracker_data.project_daily_counts(uuid, date, date),
    intracker_data.feature_counts(uuid) TO intracker_user;
GRANT INSERT (id, project_id, title, description, status, priority, assigned_to, tags, metadata),
      UPDATE (title, description, status, priority, assigned_to, version, tags, metadata), DELETE
    ON intracker.features, intracker_data.features TO intracker_user;
GRANT INSERT (id, project_id, feature_id, title, description, status, priority, estimate, tags,
              assigned_to, blocked_reason, due_date, github_issue, github_pr, metadata),
      UPDATE (feature_id, title, description, status, priority, estimate, tags, assigned_to,
              blocked_reason, due_date, github_issue, github_pr, version, metadata),
      DELETE
    ON intracker.todos, intracker_data.todos, intracker.my_todos TO intracker_user;
GRANT UPDATE (github_issue_url) ON intracker.todos, intracker_data.todos TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.progress_counter_drift(uuid),
    intracker.create_feature(uuid, text, text, text, uuid, text, text[], jsonb), intracker.update_feature(uuid, jsonb, integer),
    intracker.create_todo(uuid, text, uuid, text, text, integer, text[], date, uuid, text, jsonb),
    intracker.update_todo(uuid, jsonb, integer), intracker.set_todo_status(uuid, text, integer) TO intracker_user;
