-- test/bench/assignment_setup.sql — the data of test/bench/assignment.sh.
--
-- Run by assignment.sh as superuser with psql -v ON_ERROR_STOP=1 and the
-- variables small, large (todos of the two measured projects) and
-- throughput_todos (todos of each of the four throughput projects).
--
-- Users (fixed ids, 00000000-0000-4000-8000-00000000b0xx):
--   b000           owner of every project (eligible for auto-assignment)
--   b001 .. b009   editors (eligible); b001 and b002 have a (large) capacity,
--                  so the capacity test runs, the others are unlimited
--   b00a           viewer          (never eligible)
--   b00b           editor, unavailable
--   b00c           editor, capacity 0
--   b00d           "claim-bot", an agent editor; it pulls work with
--                  claim_next_todo in the measured projects, where it is
--                  available (taking an unassigned todo is an assignment to
--                  it, and an unavailable member may take none).  In the
--                  throughput projects it is unavailable, so that automatic
--                  assignment never gives it a todo (in progress or not).
-- So every measured project has 14 members of whom 11 are eligible.
--
-- Projects (bench.projects): 'throughput 1' .. 'throughput 4' and 'small'
-- and 'large'.  Todo number n of a project (1 .. todos) has the id
-- lpad(to_hex(base + n), 32, '0')::uuid, so a pgbench script addresses a
-- random todo from a random integer; features use base + 500000 + f.
--
-- Every project gets the same mix, so that size is the only difference:
--   status      55 % done, 5 % cancelled, 5 % review, 5 % in_progress,
--               5 % blocked (status), 25 % todo
--   assignee    all but 'todo'-status todos are assigned (to one of the 10
--               eligible members; 5 % of done ones to claim-bot, as if it
--               had finished them); of 'todo'-status todos 60 % are assigned
--               (noise for the claim: not claimable by claim-bot) and 40 %
--               unassigned: about 10 % of all todos are claim candidates
--   blockers    30 % of 'todo'-status todos are blocked by an open todo (in
--               progress or in review), so open_blocker_count > 0; another
--               10 % depend on a done todo (closed blocker, not counted)
--   priority    10 % critical, 25 % high, 45 % medium, 20 % low
--   estimate    1, 2, 3, 5 or 8;  due date on 30 %;  created over a year
--   features    one per 50 todos (1 in 5 in progress, 1 in 5 done), 70 % of
--               todos belong to one
-- The "random" choices are hashes of the todo number: the same data every run.
--
-- Everything goes straight into intracker_data tables with INSERT ... SELECT
-- (the API would take minutes for 100,000 todos), so the extension's
-- triggers do the bookkeeping as for any insert: member_load counters, claim
-- order counters (open_blocker_count, open_dependent_count, feature_active),
-- completion stamps.  assignment.sh then runs intracker.verify_counters()
-- and stops if any counter is off.

\ir lib.sql

CREATE FUNCTION bench.user_id(n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE
RETURN ('00000000-0000-4000-8000-00000000b0' || lpad(to_hex(n), 2, '0'))::uuid;

\o /dev/null
SELECT intracker.create_user(CASE WHEN n = 13 THEN 'claim-bot@bench.example' ELSE 'user' || n || '@bench.example' END,
                             CASE WHEN n = 13 THEN 'Claim bot' ELSE 'Bench user ' || n END,
                             kind => CASE WHEN n = 13 THEN 'agent' ELSE 'human' END,
                             user_id => bench.user_id(n))
  FROM generate_series(0, 13) AS n;

SELECT intracker.act_as(bench.user_id(0));
CREATE TABLE bench.projects (name text PRIMARY KEY, id uuid NOT NULL, base integer NOT NULL, todos integer NOT NULL);
INSERT INTO bench.projects
SELECT p.name, (intracker.create_project('Bench ' || p.name)).id, p.base, p.todos
  FROM (VALUES ('throughput 1', 1000000, :throughput_todos), ('throughput 2', 2000000, :throughput_todos),
               ('throughput 3', 3000000, :throughput_todos), ('throughput 4', 4000000, :throughput_todos),
               ('small', 10000000, :small), ('large', 20000000, :large)) AS p (name, base, todos);

SELECT intracker.add_member(p.id, bench.user_id(n),
                            CASE WHEN n = 10 THEN 'viewer' ELSE 'editor' END)
  FROM bench.projects p, generate_series(1, 13) AS n;
SELECT intracker.set_capacity(p.id, bench.user_id(n), CASE WHEN n = 12 THEN 0 ELSE 1000000000 END)
  FROM bench.projects p, (VALUES (1), (2), (12)) AS c (n);
-- Availability is set by the member themself.
SELECT intracker.act_as(bench.user_id(11));
SELECT intracker.set_availability(p.id, false) FROM bench.projects p;
SELECT intracker.act_as(bench.user_id(13));
SELECT intracker.set_availability(p.id, false) FROM bench.projects p WHERE p.name LIKE 'throughput %';
SELECT intracker.act_as(NULL);
\o

-- One project's features, todos and dependencies.  SET row_security = off:
-- the history is loaded as a restore would load it (restore mode,
-- src/trigger_util.c), so claim-bot keeps the todos it finished in projects
-- where it is unavailable now; the assignee rules judge new assignments.
CREATE FUNCTION bench.load(project_name text) RETURNS void
LANGUAGE plpgsql SET row_security = off AS $$
DECLARE
    p bench.projects;
    features integer;
    open_blockers integer;
    done_blockers integer;
BEGIN
    SELECT * INTO STRICT p FROM bench.projects WHERE name = project_name;
    features := greatest(1, p.todos / 50);

    INSERT INTO intracker_data.features (id, project_id, title, status, priority, assigned_to, created_by)
    SELECT bench.num_id(p.base + 500000 + f), p.id, 'bench feature ' || f,
           (ARRAY['in_progress', 'done', 'todo', 'todo', 'todo'])[1 + f % 5],
           (ARRAY['low', 'medium', 'high', 'critical'])[1 + f % 4],
           bench.user_id(f % 10), bench.user_id(0)
      FROM generate_series(1, features) AS f;

    INSERT INTO intracker_data.todos (id, project_id, feature_id, title, status, priority, estimate,
                                      assigned_to, created_by, due_date, created_at, updated_at)
    SELECT bench.num_id(p.base + t.n), p.id,
           CASE WHEN t.u_feature < 0.7 THEN bench.num_id(p.base + 500000 + 1 + t.n % features) END,
           'bench todo ' || t.n, t.status,
           CASE WHEN t.u_priority < 0.10 THEN 'critical' WHEN t.u_priority < 0.35 THEN 'high'
                WHEN t.u_priority < 0.80 THEN 'medium' ELSE 'low' END,
           (ARRAY[1, 2, 3, 5, 8])[1 + floor(t.u_estimate * 5)::integer],
           CASE WHEN t.status = 'todo' AND t.u_assignee < 0.4 THEN NULL
                WHEN t.status = 'done' AND t.u_assignee < 0.05 THEN bench.user_id(13)
                ELSE bench.user_id(floor(t.u_member * 10)::integer) END,
           bench.user_id(0),
           CASE WHEN t.u_due < 0.3 THEN current_date - 30 + floor(t.u_due * 300)::integer END,
           now() - t.u_age * interval '365 days', now() - t.u_age * interval '30 days'
      FROM (SELECT g.n,
                   CASE WHEN s < 0.55 THEN 'done' WHEN s < 0.60 THEN 'cancelled' WHEN s < 0.65 THEN 'review'
                        WHEN s < 0.70 THEN 'in_progress' WHEN s < 0.75 THEN 'blocked' ELSE 'todo' END AS status,
                   bench.u(g.n, 2) AS u_feature, bench.u(g.n, 3) AS u_priority, bench.u(g.n, 4) AS u_estimate,
                   bench.u(g.n, 5) AS u_assignee, bench.u(g.n, 6) AS u_member, bench.u(g.n, 7) AS u_due,
                   bench.u(g.n, 8) AS u_age
              FROM generate_series(1, p.todos) AS g (n), bench.u(g.n, 1) AS s) AS t;

    -- Blockers: open ones (in progress) for 30 % of the 'todo' todos, done
    -- ones for another 10 %; todo n gets blocker number n mod (count).
    -- Blockers themselves have no dependencies, so there are no cycles.
    SELECT count(*) FILTER (WHERE status = 'in_progress'), count(*) FILTER (WHERE status = 'done')
      INTO open_blockers, done_blockers
      FROM intracker_data.todos WHERE project_id = p.id;
    INSERT INTO intracker_data.todo_dependencies (todo_id, blocked_by, project_id, created_by)
    SELECT t.id, b.id, p.id, bench.user_id(0)
      FROM (SELECT id, n, bench.u(n, 9) AS u
              FROM (SELECT id, status, ('x' || right(id::text, 8))::bit(32)::integer - p.base AS n
                      FROM intracker_data.todos WHERE project_id = p.id) x
             WHERE status = 'todo') t
      JOIN (SELECT id, status, row_number() OVER (PARTITION BY status ORDER BY id) - 1 AS rn
              FROM intracker_data.todos
             WHERE project_id = p.id AND status IN ('in_progress', 'done')) b
        ON b.status = CASE WHEN t.u < 0.3 THEN 'in_progress' ELSE 'done' END
       AND b.rn = t.n % CASE WHEN t.u < 0.3 THEN open_blockers ELSE done_blockers END
     WHERE t.u < 0.4;
END
$$;

-- The "triaged" variant of a project, for the second claim measurement:
-- every unassigned critical or high 'todo' todo gets an assignee (one of the
-- 10 eligible members), as when a team lead hands out the important work and
-- leaves the rest for whoever pulls next.  Claim order puts these todos first
-- and nobody but their assignee may claim them, so claim_next_todo must step
-- over all of them.  A plain UPDATE: the triggers keep the counters.
CREATE FUNCTION bench.triage(project_name text) RETURNS bigint
LANGUAGE sql AS $$
    WITH triaged AS (
        UPDATE intracker_data.todos t
           SET assigned_to = bench.user_id(floor(bench.u(hashtext(t.id::text), 10) * 10)::integer)
          FROM bench.projects p
         WHERE p.name = project_name AND t.project_id = p.id
           AND t.status = 'todo' AND t.assigned_to IS NULL AND t.priority IN ('critical', 'high')
        RETURNING t.id)
    SELECT count(*) FROM triaged;
$$;
