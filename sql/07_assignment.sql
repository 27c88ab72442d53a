--
-- Assignment: manual and automatic, the load counters behind it, and
-- claim_next_todo's order.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT id AS crew FROM intracker.create_project('Crew') \gset
INSERT INTO regress.names VALUES (:'crew', 'crew');
SELECT role FROM intracker.add_member(:'crew', '00000000-0000-0000-0000-00000000000b', 'editor');
SELECT role FROM intracker.add_member(:'crew', '00000000-0000-0000-0000-00000000000c', 'viewer');

-- What the algorithm decides on: everyone starts empty.
SELECT regress.named(user_id::text) AS member, role, available, capacity, open_todos, open_points
  FROM intracker.member_load WHERE project_id = :'crew' ORDER BY 1;

-- Automatic assignment: least open points first; on a tie the least recently
-- assigned, then the lowest user id.  Viewers are never chosen.
INSERT INTO intracker.todos (id, project_id, title, estimate)
SELECT ('00000000-0000-0000-0000-0000000001' || lpad(i::text, 2, '0'))::uuid, :'crew', 'Task ' || i, e
  FROM unnest(ARRAY[3, 1, 1, 2, 5, 1]) WITH ORDINALITY AS x (e, i);
SELECT t.title, t.estimate, regress.named((intracker.assign_todo(t.id)).assigned_to::text) AS assigned_to
  FROM (SELECT * FROM intracker.todos WHERE project_id = :'crew' ORDER BY title) t;
SELECT regress.named(user_id::text) AS member, open_todos, open_points
  FROM intracker.member_load WHERE project_id = :'crew' ORDER BY 1;

-- Manual assignment checks eligibility.
SELECT * FROM regress.try($$SELECT intracker.assign_todo('00000000-0000-0000-0000-000000000101', '00000000-0000-0000-0000-00000000000c')$$);
SELECT * FROM regress.try($$SELECT intracker.assign_todo('00000000-0000-0000-0000-000000000101', '00000000-0000-0000-0000-00000000000d')$$);
SELECT regress.named(user_id::text) AS member, capacity FROM intracker.set_capacity(:'crew', '00000000-0000-0000-0000-00000000000b', 6);
SELECT * FROM regress.try($$SELECT intracker.assign_todo('00000000-0000-0000-0000-000000000105', '00000000-0000-0000-0000-00000000000b')$$);
SELECT * FROM regress.try($$SELECT intracker.set_capacity((SELECT id FROM regress.names WHERE name = 'crew'), '00000000-0000-0000-0000-00000000000b', -1)$$);
-- A stale expected_version is rejected as for any write.
SELECT * FROM regress.try($$SELECT intracker.assign_todo('00000000-0000-0000-0000-000000000101', '00000000-0000-0000-0000-00000000000a', 1)$$);

-- Nobody eligible: a NOTICE, and the todo stays as it is.
SELECT regress.named(user_id::text) AS member, capacity FROM intracker.set_capacity(:'crew', '00000000-0000-0000-0000-00000000000b', 0);
SELECT regress.named(user_id::text) AS member, available FROM intracker.set_availability(:'crew', false);
INSERT INTO intracker.todos (id, project_id, title) VALUES ('00000000-0000-0000-0000-000000000107', :'crew', 'Task 7');
SELECT title, assigned_to FROM intracker.assign_todo('00000000-0000-0000-0000-000000000107');
SELECT regress.named(user_id::text) AS member, available FROM intracker.set_availability(:'crew', true);
SELECT regress.named(user_id::text) AS member, capacity FROM intracker.set_capacity(:'crew', '00000000-0000-0000-0000-00000000000b', NULL);

-- Counters follow every change: status, estimate, reassignment, deletion.
SELECT status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000105', 'done', 2);
SELECT estimate FROM intracker.update_todo('00000000-0000-0000-0000-000000000102', '{"estimate": 4}', 2);
SELECT regress.named(assigned_to::text) AS assigned_to FROM intracker.assign_todo('00000000-0000-0000-0000-000000000103', '00000000-0000-0000-0000-00000000000a');
DELETE FROM intracker.todos WHERE id = '00000000-0000-0000-0000-000000000106';
SELECT regress.named(user_id::text) AS member, open_todos, open_points
  FROM intracker.member_load WHERE project_id = :'crew' ORDER BY 1;
SELECT count(*) AS drifted_counters FROM intracker.verify_counters();

-- Rebalance: a dry run first, then for real.
UPDATE intracker.todos SET assigned_to = '00000000-0000-0000-0000-00000000000a' WHERE project_id = :'crew' AND status = 'todo';
SELECT regress.named(user_id::text) AS member, open_points FROM intracker.member_load WHERE project_id = :'crew' AND role <> 'viewer' ORDER BY 1;
SELECT title, estimate, regress.named(from_user::text) AS from_user, regress.named(to_user::text) AS to_user
  FROM intracker.rebalance(:'crew');
SELECT title, estimate, regress.named(from_user::text) AS from_user, regress.named(to_user::text) AS to_user
  FROM intracker.rebalance(:'crew', dry_run => false);
SELECT regress.named(user_id::text) AS member, open_points FROM intracker.member_load WHERE project_id = :'crew' AND role <> 'viewer' ORDER BY 1;
SELECT count(*) AS drifted_counters FROM intracker.verify_counters();

-- claim_next_todo: priority first, then todos of a feature in progress, then
-- how many todos each unblocks, then due date; blocked todos wait.
UPDATE intracker.todos SET status = 'cancelled' WHERE project_id = :'crew' AND status <> 'done';
SELECT id AS ui FROM intracker.create_feature(:'crew', 'UI', status => 'in_progress') \gset
INSERT INTO intracker.todos (id, project_id, feature_id, title, priority, due_date)
VALUES ('00000000-0000-0000-0000-000000000201', :'crew', NULL, 'Plain high', 'high', NULL),
       ('00000000-0000-0000-0000-000000000202', :'crew', :'ui', 'UI high', 'high', NULL),
       ('00000000-0000-0000-0000-000000000203', :'crew', NULL, 'Unblocker high', 'high', NULL),
       ('00000000-0000-0000-0000-000000000204', :'crew', NULL, 'Due high', 'high', '2030-01-01'),
       ('00000000-0000-0000-0000-000000000205', :'crew', NULL, 'Blocked critical', 'critical', NULL),
       ('00000000-0000-0000-0000-000000000206', :'crew', NULL, 'Low', 'low', NULL);
SELECT intracker.add_dependency('00000000-0000-0000-0000-000000000205', '00000000-0000-0000-0000-000000000206') IS NOT NULL AS blocked;
SELECT intracker.add_dependency('00000000-0000-0000-0000-000000000201', '00000000-0000-0000-0000-000000000203') IS NOT NULL AS blocked;

SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT title, status, regress.named(assigned_to::text) AS assigned_to, claim_reason FROM intracker.claim_next_todo(:'crew');
-- Asking again returns the todo already in progress.
SELECT title, claim_reason FROM intracker.claim_next_todo(:'crew');
SELECT status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000202', 'done', 2);
SELECT title, claim_reason FROM intracker.claim_next_todo(:'crew');
SELECT status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000203', 'done', 2);
SELECT title, claim_reason FROM intracker.claim_next_todo(:'crew');
SELECT status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000204', 'done', 2);
SELECT title, claim_reason FROM intracker.claim_next_todo(:'crew');
SELECT status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000201', 'cancelled', 2);
-- Only the blocked critical todo and its low blocker are left: the blocker comes first.
SELECT title, claim_reason FROM intracker.claim_next_todo(:'crew');
SELECT status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000206', 'cancelled', 2);
-- Cancelling the blocker changed the counters of the todo it blocked, not its version.
SELECT title, version FROM intracker.todos WHERE id = '00000000-0000-0000-0000-000000000205';
SELECT title, claim_reason FROM intracker.claim_next_todo(:'crew');

-- Viewers cannot claim.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic;
SELECT * FROM regress.try($$SELECT intracker.claim_next_todo((SELECT id FROM regress.names WHERE name = 'crew'))$$);

-- Deactivating a user unassigns their open work.
RESET ROLE;
SELECT name, is_active FROM intracker.set_user_active('00000000-0000-0000-0000-00000000000b', false);
SELECT count(*) AS open_todos_of_bot FROM intracker_data.todos
 WHERE assigned_to = '00000000-0000-0000-0000-00000000000b' AND status NOT IN ('done', 'cancelled');
SELECT name, is_active FROM intracker.set_user_active('00000000-0000-0000-0000-00000000000b', true);
SELECT count(*) AS drifted_counters FROM intracker.verify_counters();
SET ROLE regress_admin;

-- Nothing claimable: no row, and a NOTICE naming what is blocked.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT status FROM intracker.set_todo_status('00000000-0000-0000-0000-000000000205', 'done', 3);
INSERT INTO intracker.todos (id, project_id, title, assigned_to, status)
VALUES ('00000000-0000-0000-0000-000000000301', :'crew', 'Review', '00000000-0000-0000-0000-00000000000a', 'in_progress'),
       ('00000000-0000-0000-0000-000000000302', :'crew', 'Merge', NULL, 'todo');
SELECT intracker.add_dependency('00000000-0000-0000-0000-000000000302', '00000000-0000-0000-0000-000000000301') IS NOT NULL AS blocked;
SELECT title FROM intracker.claim_next_todo(:'crew');

SELECT intracker.act_as(NULL);
RESET ROLE;
