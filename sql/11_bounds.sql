--
-- Bounds (issue 12, item 11): an estimate is 1 to 1000000 points, and the
-- counters that add estimates up are bigint.  0.5 accepted any positive
-- estimate, and one todo of 2^31-1 points left its assignee unable to take
-- any more work; the update to 0.6 clamps such estimates to the maximum.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
DROP EXTENSION intracker;
CREATE EXTENSION intracker VERSION '0.5';

SET ROLE regress_admin;
SELECT name FROM intracker.create_user('huge@example.com', 'Huge Hugo', user_id => '00000000-0000-0000-0000-0000000011a1');
INSERT INTO regress.names VALUES ('00000000-0000-0000-0000-0000000011a1', 'hugo');
SELECT intracker.act_as('00000000-0000-0000-0000-0000000011a1') IS NOT NULL AS acting;
SELECT id AS big FROM intracker.create_project('Big numbers') \gset
INSERT INTO regress.names VALUES (:'big', 'big');
INSERT INTO intracker.todos (id, project_id, title, estimate, assigned_to, status)
VALUES ('00000000-0000-0000-0000-0000000011f1', :'big', 'Open, assigned', 2147483647, '00000000-0000-0000-0000-0000000011a1', 'todo'),
       ('00000000-0000-0000-0000-0000000011f2', :'big', 'Done', 2147483647, '00000000-0000-0000-0000-0000000011a1', 'done'),
       ('00000000-0000-0000-0000-0000000011f3', :'big', 'Open, unassigned', 2000000, NULL, 'todo'),
       ('00000000-0000-0000-0000-0000000011f4', :'big', 'Small', 3, NULL, 'todo');
INSERT INTO regress.names VALUES ('00000000-0000-0000-0000-0000000011f4', 'small');
-- 0.5: the assignee of 2^31-1 open points can be given nothing more.
SELECT * FROM regress.try($$SELECT intracker.assign_todo('00000000-0000-0000-0000-0000000011f4', '00000000-0000-0000-0000-0000000011a1')$$);
SELECT intracker.act_as(NULL);
RESET ROLE;

ALTER EXTENSION intracker UPDATE TO '0.6';
SELECT extversion FROM pg_extension WHERE extname = 'intracker';

-- Estimates above the maximum were clamped to it, as a write of the todo
-- (a new version), and every counter followed.
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-0000000011a1') IS NOT NULL AS acting;
SELECT title, estimate, version FROM intracker.todos ORDER BY title;
SELECT open_todos, open_points FROM intracker.member_load WHERE project_id = :'big';
SELECT todos_done, points_done_last_7_days FROM intracker.team_dashboard WHERE project_id = :'big';
SELECT count(*) AS drifted_counters FROM intracker.verify_counters();
-- The clamp is announced like any change.
SELECT type, changes -> 'estimate' AS estimate FROM intracker.events_since(0)
 WHERE entity_id IN ('00000000-0000-0000-0000-0000000011f1', '00000000-0000-0000-0000-0000000011f2',
                     '00000000-0000-0000-0000-0000000011f3')
 ORDER BY seq;
-- hugo takes work again.
SELECT title, regress.named(assigned_to::text) AS assigned_to
  FROM intracker.assign_todo('00000000-0000-0000-0000-0000000011f4', '00000000-0000-0000-0000-0000000011a1');
SELECT open_todos, open_points FROM intracker.member_load WHERE project_id = :'big';

-- The bound, on every write path that takes an estimate.
SELECT * FROM regress.try($$SELECT intracker.create_todo((SELECT id FROM regress.names WHERE name = 'big'), 'Huge', estimate => 2147483647)$$, true);
SELECT * FROM regress.try($$SELECT intracker.update_todo('00000000-0000-0000-0000-0000000011f4', '{"estimate": 1000001}', 2)$$, true);
SELECT * FROM regress.try($$INSERT INTO intracker.todos (project_id, title, estimate) VALUES ((SELECT id FROM regress.names WHERE name = 'big'), 'Huge', 2147483647)$$);
SELECT title, estimate FROM intracker.create_todo(:'big', 'Largest', estimate => 1000000);
SELECT intracker.act_as(NULL);
RESET ROLE;
