-- Team context and resume context for agents (C + jansson, src/context.c),
-- and the dashboard.  Both documents read the progress counters
-- (40_features_todos.sql) and member load (70_assignment.sql) instead of
-- scanning a project's todos.

-- Indexes for the context documents: a member's open todos in importance
-- order, and a project's blocked todos.  Both cover open todos only, so
-- their size follows the open work, not the project's history.
CREATE INDEX todos_member_open ON intracker_data.todos
    (project_id, assigned_to, priority_rank DESC, due_date ASC NULLS LAST, created_at, id)
    WHERE status NOT IN ('done', 'cancelled');
CREATE INDEX todos_blocked_open ON intracker_data.todos (project_id, priority_rank DESC, created_at, id)
    WHERE status NOT IN ('done', 'cancelled') AND (status = 'blocked' OR open_blocker_count > 0);
-- resume_context's open todos of a member that are neither in progress nor
-- claimable (blocked, waiting for a blocker, in review), in claim order
-- (0.6; the other two parts have the claim indexes of 70_assignment.sql).
CREATE INDEX todos_member_waiting ON intracker_data.todos
    (project_id, assigned_to, priority_rank DESC, feature_active DESC, open_dependent_count DESC,
     due_date ASC NULLS LAST, created_at, id)
    WHERE status IN ('todo', 'blocked', 'review') AND NOT (status = 'todo' AND open_blocker_count = 0);
-- resume_context's recent activity in a feature.
CREATE INDEX todos_feature_recent ON intracker_data.todos (feature_id, updated_at DESC, id);

------------------------------------------------------------------------------
-- Dashboard
------------------------------------------------------------------------------

-- Points are bigint (sums of estimates); the counts of todos and features
-- are integer.
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

------------------------------------------------------------------------------
-- Context documents
------------------------------------------------------------------------------

-- No JIT: their queries are top-N walks of indexes, kept as generic plans
-- whose estimates, on a project of 100,000 todos, pass jit_above_cost; JIT
-- then compiled them at every call (15 ms) to run them in under one.
CREATE FUNCTION intracker.team_context(project_id uuid)
RETURNS jsonb
LANGUAGE c STABLE
SET jit = off
AS 'MODULE_PATHNAME', 'intracker_team_context';
COMMENT ON FUNCTION intracker.team_context(uuid) IS
    'The team''s current state as one JSON document for an agent: project and notes, each member''s focus, open todos and last session, shared blockers, progress. Bounded by intracker.context_todo_limit and intracker.context_max_bytes; says what it omitted and how to fetch it. context_version changes exactly when the content does.';

CREATE FUNCTION intracker.resume_context(project_id uuid)
RETURNS jsonb
LANGUAGE c STABLE
SET jit = off
AS 'MODULE_PATHNAME', 'intracker_resume_context';
COMMENT ON FUNCTION intracker.resume_context(uuid) IS
    'What you need to resume work in a project: its notes, your last session, your open todos in claim order and what blocks them, recent team activity in your features, and a next_action suggestion.';

GRANT SELECT ON intracker.team_dashboard TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker.team_context(uuid), intracker.resume_context(uuid) TO intracker_user;
