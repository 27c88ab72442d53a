-- Demo section 7: what an agent reads to resume work on a project.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 7. Resuming work: what an agent reads first (as Claude, project intracker)'
\echo '================================================================================'
SELECT intracker.act_as(:'claude') AS acting \gset
SELECT id AS project FROM intracker.projects WHERE name = 'intracker' \gset

\echo 'The project''s resume_context (free notes and constraints, a JSON object):'
\pset tuples_only on
\pset format unaligned
SELECT jsonb_pretty(resume_context) FROM intracker.projects WHERE id = :'project';
\pset tuples_only off
\pset format aligned
\echo

\echo 'The last finished session in the project (intracker.sessions):'
\pset tuples_only on
\pset format unaligned
SELECT format(E'  by         %s (%s), %s to %s\n  goal       %s\n  summary    %s\n  next steps\n%s\n  blockers\n%s\n  worked on\n%s',
              u.name, u.kind, to_char(s.started_at, 'YYYY-MM-DD HH24:MI'), to_char(s.ended_at, 'HH24:MI'),
              s.goal, s.summary,
              (SELECT string_agg(format('    %s. %s', n, step), E'\n' ORDER BY n)
                 FROM unnest(s.next_steps) WITH ORDINALITY AS x(step, n)),
              (SELECT coalesce(string_agg(format('    - %s', blocker), E'\n'), '    (none)')
                 FROM unnest(s.blockers) AS blocker),
              (SELECT coalesce(string_agg(format('    - %s (now %s)', t.title, t.status), E'\n' ORDER BY t.title), '    (none)')
                 FROM intracker.todos t WHERE t.id = ANY (s.todo_ids)))
  FROM intracker.sessions s
  JOIN intracker.users u ON u.id = s.user_id
 WHERE s.project_id = :'project' AND s.ended_at IS NOT NULL
 ORDER BY s.ended_at DESC
 LIMIT 1;
\pset tuples_only off
\pset format aligned
\echo

\echo 'Open todos of the project, most urgent first:'
SELECT t.title, t.status, t.priority, t.estimate AS pts, coalesce(u.name, '-') AS assignee
  FROM intracker.todos t
  LEFT JOIN intracker.users u ON u.id = t.assigned_to
 WHERE t.project_id = :'project' AND t.status NOT IN ('done', 'cancelled')
 ORDER BY array_position('{critical,high,medium,low}', t.priority), t.title;
