-- test/bench/webhooks_setup.sql — the data of test/bench/webhooks.sh.
--
-- Run by webhooks.sh as superuser with psql -v ON_ERROR_STOP=1 and the
-- variables projects (how many projects), hooks (webhooks per project and
-- sink), todos (todos per project), sink (base URL of the sink that does
-- not log, e.g. http://127.0.0.1:PORT) and log_sink (base URL of the sink
-- that logs every request's arrival time).
--
-- Users (fixed ids): b000 owns every project, b001 is an editor of all of
-- them and the identity of the measured writes (webhooks.sh sets
-- intracker.acting_user for its write sessions).
--
-- Projects bench.projects 1 .. projects; todo number n (1 .. projects *
-- todos) is in project 1 + n % projects and has the id bench.num_id(n).
--
-- Webhooks (bench.hooks: set, project, k, id), all format json, event types
-- '*'; the odd-numbered hook of each project has a secret (its deliveries
-- are signed), the even-numbered one has none:
--   set 'tp'    hooks per project on the throughput sink, /ok/tp/p<project>/h<k>
--   set 'lat'   the same on the logging sink, /ok/lat/p<project>/h<k>
-- All are created inactive; webhooks.sh activates one set at a time (a
-- paused webhook gets no deliveries).  For each run with a hanging
-- endpoint it adds a fresh webhook at /hang/... with bench.add_hook() (set
-- 'hang<run>'), active during that run only.

\ir lib.sql

\o /dev/null
SELECT intracker.create_user('owner@bench.example', 'Bench owner', user_id => '00000000-0000-4000-8000-00000000b000');
SELECT intracker.create_user('editor@bench.example', 'Bench editor', user_id => '00000000-0000-4000-8000-00000000b001');
SELECT intracker.act_as('00000000-0000-4000-8000-00000000b000');
CREATE TABLE bench.projects AS
SELECT p.n, (intracker.create_project('Webhook bench project ' || p.n)).id AS id FROM generate_series(1, :projects) AS p(n);
SELECT intracker.add_member(id, '00000000-0000-4000-8000-00000000b001', 'editor') FROM bench.projects;

INSERT INTO intracker_data.todos (id, project_id, title, estimate, priority, created_by, assigned_to)
SELECT bench.num_id(g.n), p.id, 'bench todo ' || g.n, 1 + g.n % 8,
       (ARRAY['low', 'medium', 'high', 'critical'])[1 + g.n % 4],
       '00000000-0000-4000-8000-00000000b000', '00000000-0000-4000-8000-00000000b001'
  FROM generate_series(1, :projects * :todos) AS g(n)
  JOIN bench.projects p ON p.n = 1 + g.n % :projects;

-- One transaction: the webhooks are never active outside it, so the
-- todo.created events of the load (published meanwhile) get no deliveries.
BEGIN;
CREATE TABLE bench.hooks (set text, project integer, k integer, id uuid PRIMARY KEY);
INSERT INTO bench.hooks
SELECT s.set, p.n, h.k,
       (intracker.create_webhook(p.id, s.base || '/ok/' || s.set || '/p' || p.n || '/h' || h.k,
                                 secret => CASE WHEN h.k % 2 = 1 THEN 'bench secret ' || p.n || '/' || h.k END)).id
  FROM (VALUES ('tp', :'sink'), ('lat', :'log_sink')) AS s(set, base)
 CROSS JOIN bench.projects p
 CROSS JOIN generate_series(1, :hooks) AS h(k)
 ORDER BY s.set, p.n, h.k;
SELECT intracker.set_webhook_active(id, false) FROM bench.hooks;
COMMIT;
SELECT intracker.act_as(NULL);
\o

-- Activate exactly the webhooks of the given sets (text[]), as their owner.
CREATE FUNCTION bench.activate(sets text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM intracker.act_as('00000000-0000-4000-8000-00000000b000');
    PERFORM intracker.set_webhook_active(h.id, h.set = ANY (sets)) FROM bench.hooks h;
    PERFORM intracker.act_as(NULL);
END
$$;

-- One more webhook (unsigned) of a project, in set set_name; active at once.
CREATE FUNCTION bench.add_hook(set_name text, project integer, url text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    hook uuid;
BEGIN
    PERFORM intracker.act_as('00000000-0000-4000-8000-00000000b000');
    hook := (intracker.create_webhook((SELECT p.id FROM bench.projects p WHERE p.n = project), url)).id;
    PERFORM intracker.act_as(NULL);
    INSERT INTO bench.hooks VALUES (set_name, project, 1, hook);
    RETURN hook;
END
$$;

VACUUM ANALYZE;
