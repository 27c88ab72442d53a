-- test/bench/events_setup.sql — the data of test/bench/events.sh.
--
-- Run by events.sh as superuser with psql -v ON_ERROR_STOP=1 and the
-- variables todos (how many todos) and bench_role (the login role the
-- writers use).
--
-- Ten projects owned by b000, the todos spread over them round-robin; b001
-- is an editor of all ten and the identity of every measured write (the
-- bench role acts as b001 through ALTER ROLE ... SET intracker.acting_user,
-- so RLS and the editor check apply and no write pays for act_as()).
-- Todo number n (1 .. todos) has the id lpad(to_hex(n), 32, '0')::uuid, so
-- the bench program turns an entity_id of a payload back into n.
--
-- The naive alternative (arm B): bench.naive_notify(), a plain PL/pgSQL
-- AFTER ROW trigger that calls pg_notify() in the writer's transaction with
-- the same payload fields intracker's worker sends (type, project_id,
-- entity_id, actor, version; no seq: there is no publication order) on the
-- same two channels ('intracker' and the project's channel).  It picks the
-- event type with intracker's precedence (status_changed, assigned,
-- updated) but computes no "changes" and writes nothing: no durability, no
-- replay.  It is created DISABLED; events.sh enables exactly one of
-- todos_events (intracker) and todos_naive_notify (naive) per arm.

\set ON_ERROR_STOP 1
\o /dev/null
CREATE EXTENSION intracker;
CREATE SCHEMA bench;

SELECT intracker.create_user('owner@bench.example', 'Bench owner', user_id => '00000000-0000-4000-8000-00000000b000');
SELECT intracker.create_user('editor@bench.example', 'Bench editor', user_id => '00000000-0000-4000-8000-00000000b001');
SELECT intracker.act_as('00000000-0000-4000-8000-00000000b000');
CREATE TABLE bench.projects AS
SELECT p.n, (intracker.create_project('Bench project ' || p.n)).id AS id FROM generate_series(0, 9) AS p(n);
SELECT intracker.add_member(id, '00000000-0000-4000-8000-00000000b001', 'editor') FROM bench.projects;
INSERT INTO intracker_data.todos (id, project_id, title, estimate, priority, created_by, assigned_to)
SELECT lpad(to_hex(g.n), 32, '0')::uuid, p.id, 'bench todo ' || g.n, 1 + g.n % 8,
       (ARRAY['low', 'medium', 'high', 'critical'])[1 + g.n % 4],
       '00000000-0000-4000-8000-00000000b000', '00000000-0000-4000-8000-00000000b001'
  FROM generate_series(1, :todos) AS g(n)
  JOIN bench.projects p ON p.n = g.n % 10;
SELECT intracker.act_as(NULL);
\o

-- Arm B: the naive alternative.
CREATE FUNCTION bench.naive_notify()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    r intracker_data.todos;
    kind text;
    payload text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
        kind := 'deleted';
    ELSE
        r := NEW;
        kind := CASE WHEN TG_OP = 'INSERT' THEN 'created'
                     WHEN NEW.status IS DISTINCT FROM OLD.status THEN 'status_changed'
                     WHEN NEW.assigned_to IS DISTINCT FROM OLD.assigned_to THEN 'assigned'
                     ELSE 'updated' END;
    END IF;
    payload := json_build_object('type', 'todo.' || kind, 'project_id', r.project_id, 'entity_id', r.id,
                                 'actor', intracker.current_user_id(), 'version', r.version)::text;
    PERFORM pg_notify('intracker', payload);
    PERFORM pg_notify('intracker.project.' || r.project_id, payload);
    RETURN NULL;
END
$$;
CREATE TRIGGER todos_naive_notify AFTER INSERT OR UPDATE OR DELETE ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION bench.naive_notify();
ALTER TABLE intracker_data.todos DISABLE TRIGGER todos_naive_notify;

CREATE ROLE :"bench_role" LOGIN IN ROLE intracker_user;
ALTER ROLE :"bench_role" SET intracker.acting_user = '00000000-0000-4000-8000-00000000b001';
VACUUM ANALYZE;
