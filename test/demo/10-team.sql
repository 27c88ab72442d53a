-- Demo section 1: the team, its projects and who may do what.
\ir lib/settings.psql

\echo
\echo '================================================================================'
\echo ' 1. The team: projects and members'
\echo '================================================================================'
\echo 'Acting as Ada Lovelace, a member of all three projects:  SELECT intracker.act_as(<Ada''s id>);'
SELECT intracker.act_as(:'ada') AS acting \gset

SELECT p.name AS project, p.status, p.github_repo, array_to_string(p.tags, ', ') AS tags,
       (SELECT count(*) FROM intracker.todos t WHERE t.project_id = p.id) AS todos,
       (SELECT count(*) FROM intracker.features f WHERE f.project_id = p.id) AS features
  FROM intracker.projects p
 ORDER BY p.name;

\echo 'Members and their role per project (owner: everything; editor: create and edit; viewer: read):'
SELECT u.name AS member, u.kind,
       coalesce(max(m.role) FILTER (WHERE p.name = 'intracker'), '-') AS intracker,
       coalesce(max(m.role) FILTER (WHERE p.name = 'Website'), '-') AS "Website",
       coalesce(max(m.role) FILTER (WHERE p.name = 'Mobile app'), '-') AS "Mobile app"
  FROM intracker.project_members m
  JOIN intracker.projects p ON p.id = m.project_id
  JOIN intracker.users u ON u.id = m.user_id
 GROUP BY u.name, u.kind
 ORDER BY u.kind DESC, u.name;

\echo 'Row-level security: each user sees only the projects they are a member of.'
\pset tuples_only on
\pset format unaligned
\set sees 'SELECT format(''  %-18s sees %s'', (SELECT name FROM intracker.users WHERE id = intracker.current_user_id()), coalesce(string_agg(name, '', '' ORDER BY name), ''nothing'')) FROM intracker.projects'
SELECT intracker.act_as(:'ada') AS acting \gset
:sees;
SELECT intracker.act_as(:'grace') AS acting \gset
:sees;
SELECT intracker.act_as(:'margaret') AS acting \gset
:sees;
SELECT intracker.act_as(:'claude') AS acting \gset
:sees;
SELECT intracker.act_as(:'codex') AS acting \gset
:sees;
\pset tuples_only off
\pset format aligned
\echo

\echo 'Who is working right now (open sessions, as Ada):'
SELECT intracker.act_as(:'ada') AS acting \gset
SELECT u.name AS who, u.kind, p.name AS project, s.goal, to_char(s.started_at, 'YYYY-MM-DD HH24:MI') AS since
  FROM intracker.sessions s
  JOIN intracker.users u ON u.id = s.user_id
  JOIN intracker.projects p ON p.id = s.project_id
 WHERE s.ended_at IS NULL;
