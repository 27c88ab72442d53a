-- Demo section 2: features with their progress, todos by status.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 2. Features and their progress (as Ada)'
\echo '================================================================================'
SELECT intracker.act_as(:'ada') AS acting \gset

SELECT p.name AS project, f.title AS feature, f.status, f.priority, coalesce(u.name, '-') AS assignee,
       format('%s/%s', f.todos_done, f.todos_total) AS "done/total",
       format('%3s%% %s', f.progress, repeat('#', f.progress / 10) || repeat('.', 10 - f.progress / 10)) AS progress
  FROM intracker.features f
  JOIN intracker.projects p ON p.id = f.project_id
  LEFT JOIN intracker.users u ON u.id = f.assigned_to
 ORDER BY p.name, f.created_at;

\echo 'Todos by status, and the points (estimates) still open:'
SELECT p.name AS project,
       count(*) FILTER (WHERE t.status = 'todo') AS todo,
       count(*) FILTER (WHERE t.status = 'in_progress') AS in_progress,
       count(*) FILTER (WHERE t.status = 'blocked') AS blocked,
       count(*) FILTER (WHERE t.status = 'review') AS review,
       count(*) FILTER (WHERE t.status = 'done') AS done,
       count(*) FILTER (WHERE t.status = 'cancelled') AS cancelled,
       coalesce(sum(t.estimate) FILTER (WHERE t.status NOT IN ('done', 'cancelled')), 0) AS open_points
  FROM intracker.todos t
  JOIN intracker.projects p ON p.id = t.project_id
 GROUP BY p.name
 ORDER BY p.name;
