-- Demo section 3: an agent asks what is on its plate.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 3. An agent''s work list: SELECT * FROM intracker.my_todos  (as Claude, an AI agent)'
\echo '================================================================================'
SELECT intracker.act_as(:'claude') AS acting \gset

SELECT p.name AS project, t.title, t.status, t.priority, t.estimate AS pts, t.due_date AS due,
       coalesce((SELECT string_agg(b.title, ', ' ORDER BY b.title)
                   FROM intracker.todo_dependencies d
                   JOIN intracker.todos b ON b.id = d.blocked_by
                  WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled')), '-') AS "waiting for"
  FROM intracker.my_todos t
  JOIN intracker.projects p ON p.id = t.project_id
 ORDER BY array_position('{critical,high,medium,low}', t.priority), t.due_date NULLS LAST, t.title;
