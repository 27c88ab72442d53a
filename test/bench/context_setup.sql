-- test/bench/context_setup.sql — the data of test/bench/context.sh.
--
-- Run by context.sh as superuser with psql -v ON_ERROR_STOP=1 and the
-- variables small and large (todos of the two measured projects).  It
-- creates the users, the two projects and the bench.load_* functions that
-- context.sh then calls (see "Loading" below).
--
-- Users (fixed ids, 00000000-0000-4000-8000-00000000c0xx, xx = n in hex):
--   n = 0          owner of both projects (human)
--   n = 1          "context-bot", an agent editor: the identity the
--                  measurements run as (see context.sh)
--   n = 2 .. 44    editors; every third one is an agent; n = 9, 19, 29, 39
--                  are unavailable
--   n = 45 .. 49   viewers (hold no work, record no sessions)
-- So both projects have the same 50 members.
--
-- Projects (bench.projects): 'small' (:small todos) and 'large' (:large
-- todos), same members, same mix, so that size is the only difference.
-- Todo number t of a project has the id lpad(to_hex(base + t), 32, '0');
-- feature f has base + 500000 + f; session s has base + 700000 + s.
--
-- The mix (the same in both projects; "random" choices are hashes of the
-- row number: the same data every run):
--   todos       80 % done (completed over the last year, about 1/365 of
--               them per UTC day, so "done today" and "points last 7 days"
--               are non-trivial), 4 % cancelled, 2 % review, 2 % in
--               progress, 2 % blocked (status, with a reason), 10 % todo.
--               So 16 % are open, about 350 per owner or editor at 100,000
--               todos and 35 at 10,000: every member's active_todos list
--               (10) is full in both projects.
--   assignee    every todo but half of the 'todo'-status ones is assigned,
--               to the owner or an editor (n = 0 .. 44)
--   priority    10 % critical, 25 % high, 45 % medium, 20 % low
--   estimate    1, 2, 3, 5 or 8;  due date on 30 %;  description on 20 %
--   blockers    30 % of 'todo'-status todos are blocked by an open todo (in
--               progress or review), another 10 % by a done one
--   features    one per 100 todos: 10 % in progress, 60 % done, 30 % todo;
--               70 % of todos belong to one
--   sessions    one per 5 todos (20,000 at 100,000 todos), spread evenly
--               over the owner and editors, over the last year, 30 minutes
--               to 4 hours long, each with a goal, a summary of 200-400
--               bytes (quotes, a newline, an emoji) and 2-3 next steps, a
--               fifth with blockers; the latest session of every fifth
--               member (n = 0, 5, .. 40) is still open.
--
-- Everything goes straight into intracker_data tables with INSERT ... SELECT
-- (the API would take minutes), so the extension's triggers do the
-- bookkeeping as for any insert: member_load and progress counters, claim
-- order counters.  context.sh then runs intracker.verify_counters() and
-- stops if any counter is off.

\ir lib.sql

CREATE FUNCTION bench.user_id(n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE
RETURN ('00000000-0000-4000-8000-00000000c0' || lpad(to_hex(n), 2, '0'))::uuid;

\o /dev/null
SELECT intracker.create_user(CASE WHEN n = 1 THEN 'context-bot@bench.example' ELSE 'user' || n || '@bench.example' END,
                             CASE WHEN n = 1 THEN 'Context bot' ELSE 'Bench user ' || lpad(n::text, 2, '0') END,
                             kind => CASE WHEN n = 1 OR n % 3 = 0 AND n BETWEEN 2 AND 44 THEN 'agent' ELSE 'human' END,
                             user_id => bench.user_id(n))
  FROM generate_series(0, 49) AS n;

SELECT intracker.act_as(bench.user_id(0));
CREATE TABLE bench.projects (name text PRIMARY KEY, id uuid NOT NULL, base integer NOT NULL, todos integer NOT NULL);
INSERT INTO bench.projects
SELECT p.name,
       (intracker.create_project('Bench ' || p.name,
                                 description => 'A project of ' || p.todos || ' todos for test/bench/context.sh. '
                                                || repeat('It has a description of realistic length, with "quotes" and a newline.' || E'\n', 5),
                                 github_repo => 'intracker/bench-' || p.name,
                                 resume_context => jsonb_build_object(
                                     'conventions', 'Run make check before pushing; one feature branch per todo.',
                                     'architecture', 'PostgreSQL extension in C; API views in schema intracker.',
                                     'contacts', jsonb_build_array('user0@bench.example', 'user2@bench.example')))).id,
       p.base, p.todos
  FROM (VALUES ('small', 10000000, :small), ('large', 20000000, :large)) AS p (name, base, todos);

SELECT intracker.add_member(p.id, bench.user_id(n), CASE WHEN n >= 45 THEN 'viewer' ELSE 'editor' END)
  FROM bench.projects p, generate_series(1, 49) AS n;
-- Availability is set by the member themself.
DO $$
DECLARE
    n integer;
BEGIN
    FOREACH n IN ARRAY ARRAY[9, 19, 29, 39] LOOP
        PERFORM intracker.act_as(bench.user_id(n));
        PERFORM intracker.set_availability(p.id, false) FROM bench.projects p;
    END LOOP;
    PERFORM intracker.act_as(NULL);
END
$$;
\o

-- Loading is split in transactions of a few thousand todos (BENCH_CHUNK):
-- the counter triggers update the same few counter rows (project_stats,
-- member_load, project_daily_done, feature_stats) once per todo, and within
-- one transaction each update of a row walks past all the earlier versions
-- of that row the transaction made, so one transaction of N todos costs
-- O(N^2): 100,000 todos in one INSERT took 77 s here, against 10 s in
-- chunks of 5,000 (pg_restore, which loads a table in one COPY, pays the
-- same).  context.sh calls bench.load_features, then bench.load_todos chunk
-- by chunk, then bench.load_links, each in its own transaction.

-- SET row_security = off: the history is loaded as a restore would load
-- it (restore mode, src/trigger_util.c), so work stays with members who
-- became unavailable since; the assignee rules judge new assignments only.
CREATE FUNCTION bench.load_features(project_name text) RETURNS void
LANGUAGE plpgsql SET row_security = off AS $$
DECLARE
    p bench.projects;
    features integer;
BEGIN
    SELECT * INTO STRICT p FROM bench.projects WHERE name = project_name;
    features := greatest(1, p.todos / 100);
    INSERT INTO intracker_data.features (id, project_id, title, description, status, priority, assigned_to,
                                         created_by, created_at)
    SELECT bench.num_id(p.base + 500000 + f), p.id, 'Bench feature ' || f || ': ' || left(md5(f::text), 12),
           'What feature ' || f || ' is about, in a sentence or two.',
           CASE WHEN f % 10 = 0 THEN 'in_progress' WHEN f % 10 < 7 THEN 'done' ELSE 'todo' END,
           (ARRAY['low', 'medium', 'high', 'critical'])[1 + f % 4],
           bench.user_id(f % 45), bench.user_id(0), now() - (1 - f::double precision / features) * interval '365 days'
      FROM generate_series(1, features) AS f;
END
$$;

-- Todos number first .. last of a project.
CREATE FUNCTION bench.load_todos(project_name text, first integer, last integer) RETURNS void
LANGUAGE plpgsql SET row_security = off AS $$
DECLARE
    p bench.projects;
    features integer;
BEGIN
    SELECT * INTO STRICT p FROM bench.projects WHERE name = project_name;
    features := greatest(1, p.todos / 100);
    INSERT INTO intracker_data.todos (id, project_id, feature_id, title, description, status, priority, estimate,
                                      assigned_to, created_by, blocked_reason, due_date,
                                      completed_at, created_at, updated_at)
    SELECT bench.num_id(p.base + t.n), p.id,
           CASE WHEN t.u_feature < 0.7 THEN bench.num_id(p.base + 500000 + 1 + t.n % features) END,
           'Bench todo ' || t.n || ': ' || left(md5(t.n::text), 8 + (t.n % 24)),
           CASE WHEN t.u_description < 0.2 THEN repeat('Details of todo ' || t.n || '. ', 8) END,
           t.status,
           CASE WHEN t.u_priority < 0.10 THEN 'critical' WHEN t.u_priority < 0.35 THEN 'high'
                WHEN t.u_priority < 0.80 THEN 'medium' ELSE 'low' END,
           (ARRAY[1, 2, 3, 5, 8])[1 + floor(t.u_estimate * 5)::integer],
           CASE WHEN t.status = 'todo' AND t.u_assignee < 0.5 THEN NULL
                ELSE bench.user_id(floor(t.u_member * 45)::integer) END,
           bench.user_id(0),
           CASE WHEN t.status = 'blocked' THEN 'Waiting for the "' || left(md5(t.n::text), 6) || '" API key from ops' END,
           CASE WHEN t.u_due < 0.3 THEN current_date - 30 + floor(t.u_due * 300)::integer END,
           t.completed_at,
           coalesce(t.completed_at - t.u_age * interval '60 days', now() - t.u_age * interval '365 days'),
           coalesce(t.completed_at, now() - t.u_age * interval '30 days')
      FROM (SELECT g.n, s.status,
                   CASE WHEN s.status = 'done' THEN now() - bench.u(g.n, 10) * interval '365 days' END AS completed_at,
                   bench.u(g.n, 2) AS u_feature, bench.u(g.n, 3) AS u_priority, bench.u(g.n, 4) AS u_estimate,
                   bench.u(g.n, 5) AS u_assignee, bench.u(g.n, 6) AS u_member, bench.u(g.n, 7) AS u_due,
                   bench.u(g.n, 8) AS u_age, bench.u(g.n, 11) AS u_description
              FROM generate_series(first, least(last, p.todos)) AS g (n),
                   LATERAL (SELECT CASE WHEN x < 0.80 THEN 'done' WHEN x < 0.84 THEN 'cancelled'
                                        WHEN x < 0.86 THEN 'review' WHEN x < 0.88 THEN 'in_progress'
                                        WHEN x < 0.90 THEN 'blocked' ELSE 'todo' END AS status
                              FROM bench.u(g.n, 1) AS x) AS s) AS t;
END
$$;

-- Dependencies and sessions, once all todos of the project are in.
CREATE FUNCTION bench.load_links(project_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p bench.projects;
    sessions integer;
    open_blockers integer;
    done_blockers integer;
BEGIN
    SELECT * INTO STRICT p FROM bench.projects WHERE name = project_name;
    sessions := greatest(1, p.todos / 5);

    -- Blockers: open ones (in progress or review) for 30 % of the 'todo'
    -- todos, done ones for another 10 %; todo n gets blocker number
    -- n mod (count).  Blockers themselves have no dependencies: no cycles.
    SELECT count(*) FILTER (WHERE status IN ('in_progress', 'review')), count(*) FILTER (WHERE status = 'done')
      INTO open_blockers, done_blockers
      FROM intracker_data.todos WHERE project_id = p.id;
    INSERT INTO intracker_data.todo_dependencies (todo_id, blocked_by, project_id, created_by)
    SELECT t.id, b.id, p.id, bench.user_id(0)
      FROM (SELECT id, n, bench.u(n, 9) AS u
              FROM (SELECT id, status, ('x' || right(id::text, 8))::bit(32)::integer - p.base AS n
                      FROM intracker_data.todos WHERE project_id = p.id) x
             WHERE status = 'todo') t
      JOIN (SELECT id, CASE WHEN status = 'done' THEN 'done' ELSE 'open' END AS kind,
                   row_number() OVER (PARTITION BY status = 'done' ORDER BY id) - 1 AS rn
              FROM intracker_data.todos
             WHERE project_id = p.id AND status IN ('in_progress', 'review', 'done')) b
        ON b.kind = CASE WHEN t.u < 0.3 THEN 'open' ELSE 'done' END
       AND b.rn = t.n % CASE WHEN t.u < 0.3 THEN open_blockers ELSE done_blockers END
     WHERE t.u < 0.4;

    INSERT INTO intracker_data.sessions (id, project_id, user_id, started_at, ended_at, goal, summary,
                                         next_steps, blockers, todo_ids)
    SELECT bench.num_id(p.base + 700000 + s.n), p.id, bench.user_id(floor(bench.u(s.n, 21) * 45)::integer),
           s.started_at, s.started_at + (30 + bench.u(s.n, 23) * 210) * interval '1 minute',
           'Session ' || s.n || ': work on todo ' || (1 + s.n * 7 % p.todos),
           'Finished the "' || left(md5(s.n::text), 10) || '" part of todo ' || (1 + s.n * 7 % p.todos)
               || E'.\nRefactored the parser, added tests, and reviewed a teammate''s change ✅. '
               || repeat('Notes on what was tried and why it did or did not work. ', 1 + s.n % 5),
           CASE WHEN s.n % 3 = 0
                THEN ARRAY['Write the migration for todo ' || (2 + s.n * 7 % p.todos), 'Ask for review', 'Update the docs']
                ELSE ARRAY['Continue with todo ' || (1 + s.n * 7 % p.todos), 'Run the full test suite'] END,
           CASE WHEN s.n % 5 = 0 THEN ARRAY['CI is flaky on the "integration" job'] ELSE '{}' END,
           ARRAY[bench.num_id(p.base + 1 + s.n * 7 % p.todos), bench.num_id(p.base + 1 + (s.n * 7 + 1) % p.todos)]
      FROM (SELECT g.n, now() - interval '4 hours' - bench.u(g.n, 22) * interval '365 days' AS started_at
              FROM generate_series(1, sessions) AS g (n)) AS s;
    -- The latest session of every fifth member is still open.
    UPDATE intracker_data.sessions s SET ended_at = NULL
     WHERE s.id IN (SELECT DISTINCT ON (x.user_id) x.id
                      FROM intracker_data.sessions x
                     WHERE x.project_id = p.id
                       AND x.user_id IN (SELECT bench.user_id(n) FROM generate_series(0, 40, 5) AS n)
                     ORDER BY x.user_id, x.started_at DESC);
END
$$;
