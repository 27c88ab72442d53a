-- Demo section 9: the team context document an agent reads in one call.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 9. The team context: one JSON document (as Claude, project intracker)'
\echo '================================================================================'
SELECT intracker.act_as(:'claude') AS acting \gset
SELECT id AS project FROM intracker.projects WHERE name = 'intracker' \gset

\echo 'The dashboard (SELECT * FROM intracker.team_dashboard):'
SELECT name, members, todos_total, todos_open, todos_done, completion_rate,
       todos_completed_today, points_done_last_7_days, features_in_progress, todos_blocked
  FROM intracker.team_dashboard ORDER BY name;

\echo
\echo '  SET intracker.context_todo_limit = 3;'
\echo '  SELECT intracker.team_context(<project>);'
SET intracker.context_todo_limit = 3;
\pset tuples_only on
\pset format unaligned
SELECT jsonb_pretty(intracker.team_context(:'project'));
\echo
\echo 'And what Claude reads to resume its own work (SELECT intracker.resume_context(<project>)):'
SELECT jsonb_pretty(intracker.resume_context(:'project') - 'project');
\pset tuples_only off
\pset format aligned
RESET intracker.context_todo_limit;
