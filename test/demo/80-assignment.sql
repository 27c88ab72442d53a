-- Demo section 8: handing out work fairly, and an agent claiming its next todo.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 8. Assignment: least-loaded, race-free (as Ada, owner of intracker)'
\echo '================================================================================'
SELECT intracker.act_as(:'ada') AS acting \gset
SELECT id AS project FROM intracker.projects WHERE name = 'intracker' \gset

\echo 'What automatic assignment decides on (SELECT * FROM intracker.member_load):'
SELECT u.name AS member, l.role, l.available, coalesce(l.capacity::text, 'unlimited') AS capacity,
       l.open_todos, l.open_points
  FROM intracker.member_load l JOIN intracker.users u ON u.id = l.user_id
 WHERE l.project_id = :'project' ORDER BY l.open_points, u.name;

\echo 'Three new todos, each given to whoever has the fewest open points (viewers never):'
SELECT t.title, t.estimate, u.name AS assigned_to, t.version
  FROM (VALUES (1, 'Document the GUCs', 2), (2, 'Add a pgbench scenario', 3),
               (3, 'Review the upgrade script', 1)) AS n (ord, title, estimate)
 CROSS JOIN LATERAL intracker.create_todo(:'project', n.title, estimate => n.estimate) AS c
 CROSS JOIN LATERAL intracker.assign_todo(c.id) AS t
  LEFT JOIN intracker.users u ON u.id = t.assigned_to
 ORDER BY n.ord;

\echo
\echo 'An agent asks for its next todo; it gets the most important one it may take, atomically:'
SELECT intracker.act_as(:'claude') AS acting \gset
\echo '  SELECT title, status, claim_reason FROM intracker.claim_next_todo(<project>);'
SELECT title, status, claim_reason FROM intracker.claim_next_todo(:'project');

\echo
\echo 'The counters behind all this never drift (SELECT * FROM intracker.verify_counters()):'
SELECT count(*) AS drifted_counters FROM intracker.verify_counters();
