--
-- Todo dependencies: same project, no cycles, and the status gate.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
\set tracker '(SELECT id FROM regress.names WHERE name = ''tracker'')'

-- A chain: deploy is blocked by tests, tests by build.
INSERT INTO intracker.todos (id, project_id, title)
VALUES ('00000000-0000-0000-0000-0000000000b1', :tracker, 'Build'),
       ('00000000-0000-0000-0000-0000000000b2', :tracker, 'Tests'),
       ('00000000-0000-0000-0000-0000000000b3', :tracker, 'Deploy');
INSERT INTO regress.names VALUES ('00000000-0000-0000-0000-0000000000b1', 'build'),
    ('00000000-0000-0000-0000-0000000000b2', 'tests'), ('00000000-0000-0000-0000-0000000000b3', 'deploy');

SELECT regress.named(todo_id::text) AS todo, regress.named(blocked_by::text) AS blocked_by
  FROM intracker.add_dependency('00000000-0000-0000-0000-0000000000b3', '00000000-0000-0000-0000-0000000000b2');
SELECT regress.named(todo_id::text) AS todo, regress.named(blocked_by::text) AS blocked_by
  FROM intracker.add_dependency('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000b1');
-- Adding the same dependency again is a no-op.
SELECT regress.named(todo_id::text) AS todo, regress.named(blocked_by::text) AS blocked_by
  FROM intracker.add_dependency('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000b1');
SELECT count(*) AS dependencies FROM intracker.todo_dependencies;

-- Cycles are rejected: directly, through a chain, and a todo blocking itself.
SELECT * FROM regress.try($$SELECT intracker.add_dependency('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000b3')$$);
SELECT * FROM regress.try($$SELECT intracker.add_dependency('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000b3')$$);
SELECT * FROM regress.try($$SELECT intracker.add_dependency('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000b1')$$);
SELECT * FROM regress.try($$INSERT INTO intracker.todo_dependencies (todo_id, blocked_by, project_id)
                            VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000b3',
                                    (SELECT id FROM regress.names WHERE name = 'tracker'))$$);
-- Unknown todos are not found.
SELECT * FROM regress.try($$SELECT intracker.add_dependency('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-000000000999')$$);

-- The gate: a todo cannot start or finish while a blocker is open.
SELECT * FROM regress.try($$SELECT intracker.set_todo_status('00000000-0000-0000-0000-0000000000b3', 'in_progress', 1)$$);
SELECT * FROM regress.try($$UPDATE intracker.todos SET status = 'done' WHERE id = '00000000-0000-0000-0000-0000000000b2'$$);
-- Other moves are allowed while blocked.
SELECT status, version FROM intracker.set_todo_status('00000000-0000-0000-0000-0000000000b3', 'blocked', 1);
SELECT status, version FROM intracker.set_todo_status('00000000-0000-0000-0000-0000000000b1', 'done', 1);
SELECT status, version FROM intracker.set_todo_status('00000000-0000-0000-0000-0000000000b2', 'in_progress', 1);
SELECT * FROM regress.try($$SELECT intracker.set_todo_status('00000000-0000-0000-0000-0000000000b3', 'done', 2)$$);
-- A cancelled blocker no longer blocks.
SELECT status FROM intracker.set_todo_status('00000000-0000-0000-0000-0000000000b2', 'cancelled', 2);
SELECT status, version FROM intracker.set_todo_status('00000000-0000-0000-0000-0000000000b3', 'in_progress', 2);

-- Removing dependencies: editors may; a missing one is not found.
SELECT regress.named(todo_id::text) AS removed_todo, regress.named(blocked_by::text) AS removed_blocker
  FROM intracker.remove_dependency('00000000-0000-0000-0000-0000000000b3', '00000000-0000-0000-0000-0000000000b2');
SELECT * FROM regress.try($$SELECT intracker.remove_dependency('00000000-0000-0000-0000-0000000000b3', '00000000-0000-0000-0000-0000000000b2')$$);

-- Viewers cannot touch dependencies.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic;
SELECT * FROM regress.try($$SELECT intracker.add_dependency('00000000-0000-0000-0000-0000000000b3', '00000000-0000-0000-0000-0000000000b1')$$);
SELECT * FROM regress.try($$SELECT intracker.remove_dependency('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000b1')$$);

-- Deleting a todo (an owner) removes its dependencies.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
DELETE FROM intracker.todos WHERE id = '00000000-0000-0000-0000-0000000000b1';
SELECT count(*) AS dependencies_left FROM intracker.todo_dependencies;

-- The cycle check visits each reachable todo once, however many paths lead
-- to it.  Forty layers of two todos, each blocked by both todos of the next
-- layer, make 2^40 paths from the top to the bottom (0.5 walked them all:
-- this never finished; the timeout only guards against a hang).
SET statement_timeout = '60s';
SELECT id AS deep FROM intracker.create_project('Deep') \gset
INSERT INTO regress.names VALUES (:'deep', 'deep');
INSERT INTO intracker.todos (id, project_id, title)
SELECT ('00000000-0000-0000-00dd-' || lpad(n::text, 12, '0'))::uuid, :'deep', 'layer todo ' || n
  FROM generate_series(1, 81) AS n;
INSERT INTO regress.names SELECT ('00000000-0000-0000-00dd-' || lpad(n::text, 12, '0'))::uuid, 'L' || n
  FROM generate_series(1, 81) AS n;
SELECT count(*) AS dependencies
  FROM generate_series(1, 39) AS k, generate_series(0, 1) AS a, generate_series(0, 1) AS b,
       intracker.add_dependency(('00000000-0000-0000-00dd-' || lpad((2 * k - 1 + a)::text, 12, '0'))::uuid,
                                ('00000000-0000-0000-00dd-' || lpad((2 * k + 1 + b)::text, 12, '0'))::uuid);
-- A new todo blocked by the top: accepted.
SELECT regress.named(blocked_by::text) AS accepted
  FROM intracker.add_dependency('00000000-0000-0000-00dd-000000000081', '00000000-0000-0000-00dd-000000000001');
-- The bottom blocked by the top closes cycles through every layer: refused,
-- with one of them in the DETAIL, shortened (12 of its 41 todos shown).
SELECT * FROM regress.try($$SELECT intracker.add_dependency('00000000-0000-0000-00dd-000000000079', '00000000-0000-0000-00dd-000000000001')$$);
RESET statement_timeout;

SELECT intracker.act_as(NULL);
RESET ROLE;
