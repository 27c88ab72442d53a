-- test/bench/context_naive.sql — team_context's document, the naive way.
--
-- The comparison arm of test/bench/context.sh: what a developer would write
-- without the counters and without C: one SQL statement that builds the
-- same document as intracker.team_context(project) with json_build_object
-- and json_agg, aggregating todos and sessions directly.  It runs as the
-- bench's non-superuser member, through the intracker.* API views, so RLS
-- applies exactly as it does to team_context's own queries.
--
-- The project is the variable "project", always written with a uuid cast
-- after it.  context.sh writes the project id in its place (so pgbench
-- prepares the statement with the id as a literal), and psql can run the
-- file as is: psql -v project="'<uuid>'" -f context_naive.sql.  The
-- variable must not appear in any other form, not even in a comment.
--
-- What it computes (the same fields, order and limits as team_context,
-- context_todo_limit = 10; see context.sh, which checks that the two
-- documents are equal with team_context's byte cap lifted):
--   project        the project row and its resume_context notes
--   your_role      the caller's role
--   team_members   every member (role, then name, then id), each with
--                  open_todos and open_points (count and sum over the
--                  member's open todos), current_focus (latest updated
--                  in-progress todo) and its feature, active_todos (the 10
--                  most important open todos: priority, due date, created,
--                  id), active_todos_omitted when there are more, and
--                  last_session (latest started session)
--   shared_blockers  the 10 most important open todos that are blocked
--                  (status 'blocked' or an open blocker), each with its open
--                  blockers
--   team_progress  features in progress (10 most important, with todo
--                  counts and percent done), totals by status, completion
--                  rate, todos completed today and points done in the last 7
--                  days (UTC days), number of features in progress and of
--                  blocked todos
--   generated_at   now()
-- Not computed: context_version (a hash of the rest), the "omitted" object
-- (what the list limits and the byte cap left out, with fetch queries), and
-- no byte cap: the document is returned whole.
--
-- How (fair, not a strawman): every list that has an index in its order is
-- read the ordinary SQL way, and each table is read once where it can be:
--   - one pass over the project's todos computes totals by status, done
--     today and points in the last 7 days (aggregates with FILTER; without
--     counters they need every todo, done ones included);
--   - one pass over the project's open todos (partial index) gives each
--     member's open count, points and top 10 (window functions), the
--     current focus and the blocked todos;
--   - feature progress aggregates the todos of the features shown only;
--   - the last session per member is DISTINCT ON over the project's
--     sessions.
-- Output is json (no jsonb conversion), which if anything favours it.
WITH
me AS (
    SELECT intracker.current_user_id() AS id
),
open_todos AS (
    SELECT t.id, t.title, t.status, t.priority, t.estimate, t.due_date, t.version, t.assigned_to,
           t.feature_id, t.blocked_reason, t.created_at, t.updated_at,
           CASE t.priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END AS prank
      FROM intracker.todos t
     WHERE t.project_id = :project::uuid AND t.status NOT IN ('done', 'cancelled')
),
member_todos AS (
    SELECT o.*,
           row_number() OVER (PARTITION BY o.assigned_to
                              ORDER BY o.prank DESC, o.due_date ASC NULLS LAST, o.created_at, o.id) AS pos,
           count(*) OVER (PARTITION BY o.assigned_to) AS n_open,
           sum(o.estimate) OVER (PARTITION BY o.assigned_to) AS open_points
      FROM open_todos o
     WHERE o.assigned_to IS NOT NULL
),
member_lists AS (
    SELECT mt.assigned_to AS user_id, max(mt.n_open) AS n_open, max(mt.open_points) AS open_points,
           json_agg(json_build_object('id', mt.id, 'title', mt.title, 'status', mt.status,
                                      'priority', mt.priority, 'estimate', mt.estimate,
                                      'due_date', mt.due_date, 'version', mt.version)
                    ORDER BY mt.pos) FILTER (WHERE mt.pos <= 10) AS todos
      FROM member_todos mt
     GROUP BY mt.assigned_to
),
focus AS (
    SELECT DISTINCT ON (o.assigned_to) o.assigned_to AS user_id, o.id, o.title, o.version, o.feature_id
      FROM open_todos o
     WHERE o.status = 'in_progress' AND o.assigned_to IS NOT NULL
     ORDER BY o.assigned_to, o.updated_at DESC, o.id
),
last_sessions AS (
    SELECT DISTINCT ON (s.user_id) s.user_id, s.started_at, s.ended_at, s.goal, s.summary, s.next_steps
      FROM intracker.sessions s
     WHERE s.project_id = :project::uuid
     ORDER BY s.user_id, s.started_at DESC
),
open_blockers AS (
    SELECT d.todo_id, b.id, b.title, b.status, b.assigned_to, b.created_at
      FROM intracker.todo_dependencies d
      JOIN intracker.todos b ON b.id = d.blocked_by
     WHERE d.project_id = :project::uuid AND b.status NOT IN ('done', 'cancelled')
),
blocked AS (
    SELECT o.*, row_number() OVER (ORDER BY o.prank DESC, o.created_at, o.id) AS pos
      FROM open_todos o
     WHERE o.status = 'blocked' OR o.id IN (SELECT ob.todo_id FROM open_blockers ob)
),
totals AS (
    SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS todos_total,
           count(*) FILTER (WHERE t.status NOT IN ('done', 'cancelled')) AS todos_open,
           count(*) FILTER (WHERE t.status = 'done') AS todos_done,
           count(*) FILTER (WHERE t.status = 'done'
                              AND (t.completed_at AT TIME ZONE 'UTC')::date = (now() AT TIME ZONE 'UTC')::date) AS done_today,
           coalesce(sum(t.estimate) FILTER (WHERE t.status = 'done'
                              AND (t.completed_at AT TIME ZONE 'UTC')::date > (now() AT TIME ZONE 'UTC')::date - 7), 0) AS points_7d
      FROM intracker.todos t
     WHERE t.project_id = :project::uuid
),
features_in_progress AS (
    SELECT f.id, f.title, f.priority, f.assigned_to, f.created_at,
           CASE f.priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END AS prank,
           count(*) OVER () AS n
      FROM intracker.features f
     WHERE f.project_id = :project::uuid AND f.status = 'in_progress'
),
shown_features AS (
    SELECT f.*, c.total, c.done
      FROM (SELECT * FROM features_in_progress ORDER BY prank DESC, created_at, id LIMIT 10) f
      CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE t.status <> 'cancelled') AS total,
                                 count(*) FILTER (WHERE t.status = 'done') AS done
                            FROM intracker.todos t WHERE t.feature_id = f.id) c
)
SELECT json_build_object(
    'project', (SELECT json_build_object('id', p.id, 'name', p.name, 'status', p.status,
                                         'description', p.description, 'github_repo', p.github_repo,
                                         'notes', p.resume_context)
                  FROM intracker.projects p WHERE p.id = :project::uuid),
    'your_role', (SELECT m.role FROM intracker.project_members m, me
                   WHERE m.project_id = :project::uuid AND m.user_id = me.id),
    'team_members', (
        SELECT json_agg(json_build_object(
                   'user_id', m.user_id, 'name', u.name, 'kind', u.kind, 'role', m.role, 'available', ml.available,
                   'open_todos', coalesce(l.n_open, 0), 'open_points', coalesce(l.open_points, 0),
                   'current_focus', CASE WHEN fo.id IS NOT NULL
                                         THEN json_build_object('id', fo.id, 'title', fo.title, 'version', fo.version) END,
                   'working_on_feature', CASE WHEN ff.id IS NOT NULL
                                              THEN json_build_object('id', ff.id, 'title', ff.title) END,
                   'active_todos', coalesce(l.todos, '[]'),
                   'active_todos_omitted', CASE WHEN l.n_open > 10 THEN l.n_open - 10 END,
                   'last_session', CASE WHEN s.user_id IS NOT NULL
                                        THEN json_build_object('started_at', s.started_at, 'ended_at', s.ended_at,
                                                               'goal', s.goal, 'summary', s.summary,
                                                               'next_steps', s.next_steps) END)
                ORDER BY CASE m.role WHEN 'owner' THEN 3 WHEN 'editor' THEN 2 ELSE 1 END DESC, u.name, m.user_id)
          FROM intracker.project_members m
          JOIN intracker.users u ON u.id = m.user_id
          JOIN intracker.member_load ml ON ml.project_id = m.project_id AND ml.user_id = m.user_id
          LEFT JOIN member_lists l ON l.user_id = m.user_id
          LEFT JOIN focus fo ON fo.user_id = m.user_id
          LEFT JOIN intracker.features ff ON ff.id = fo.feature_id
          LEFT JOIN last_sessions s ON s.user_id = m.user_id
         WHERE m.project_id = :project::uuid),
    'shared_blockers', coalesce((
        SELECT json_agg(json_build_object(
                   'id', b.id, 'title', b.title, 'status', b.status, 'priority', b.priority, 'estimate', b.estimate,
                   'due_date', b.due_date, 'version', b.version, 'blocked_reason', b.blocked_reason,
                   'assigned_to', b.assigned_to,
                   'blocked_by', coalesce((SELECT json_agg(json_build_object('id', ob.id, 'title', ob.title,
                                                                             'status', ob.status, 'assigned_to', ob.assigned_to)
                                                           ORDER BY ob.created_at, ob.id)
                                             FROM open_blockers ob WHERE ob.todo_id = b.id), '[]'))
                ORDER BY b.pos)
          FROM blocked b WHERE b.pos <= 10), '[]'),
    'team_progress', (
        SELECT json_build_object(
                   'features_in_progress', coalesce((
                       SELECT json_agg(json_build_object(
                                  'id', sf.id, 'title', sf.title, 'priority', sf.priority, 'assigned_to', sf.assigned_to,
                                  'todos_total', sf.total, 'todos_done', sf.done,
                                  'progress', CASE WHEN sf.total = 0 THEN 0 ELSE (100 * sf.done / sf.total)::integer END)
                               ORDER BY sf.prank DESC, sf.created_at, sf.id)
                         FROM shown_features sf), '[]'),
                   'todos_total', tt.todos_total, 'todos_open', tt.todos_open, 'todos_done', tt.todos_done,
                   'completion_rate', CASE WHEN tt.todos_total = 0 THEN 0
                                           ELSE round(tt.todos_done::numeric / tt.todos_total, 3) END,
                   'todos_completed_today', tt.done_today,
                   'points_done_last_7_days', tt.points_7d,
                   'features_in_progress_count', coalesce((SELECT max(n) FROM features_in_progress), 0),
                   'todos_blocked_count', (SELECT count(*) FROM blocked))
          FROM totals tt),
    'generated_at', now());
