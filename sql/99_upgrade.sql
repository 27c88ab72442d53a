--
-- The upgrade chain: install 0.1, fill it, update to the current version.
--
DROP EXTENSION intracker CASCADE;
CREATE EXTENSION intracker VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'intracker';

SET ROLE regress_admin;
SELECT name FROM intracker.create_user('old@example.com', 'Old Timer', user_id => '00000000-0000-0000-0000-0000000000e1');
SELECT name FROM intracker.create_user('new@example.com', 'Newcomer', user_id => '00000000-0000-0000-0000-0000000000e2');
SELECT intracker.act_as('00000000-0000-0000-0000-0000000000e1') IS NOT NULL AS acting;
SELECT id AS legacy FROM intracker.create_project('Legacy') \gset
SELECT role FROM intracker.add_member(:'legacy', '00000000-0000-0000-0000-0000000000e2', 'editor');
SELECT id AS feature FROM intracker.create_feature(:'legacy', 'Old feature', status => 'in_progress') \gset
INSERT INTO intracker.todos (id, project_id, feature_id, title, estimate, assigned_to, status)
VALUES ('00000000-0000-0000-0000-0000000000f1', :'legacy', :'feature', 'Blocker', 2, '00000000-0000-0000-0000-0000000000e1', 'todo'),
       ('00000000-0000-0000-0000-0000000000f2', :'legacy', NULL, 'Blocked', 3, '00000000-0000-0000-0000-0000000000e1', 'todo'),
       ('00000000-0000-0000-0000-0000000000f3', :'legacy', NULL, 'Finished', 5, '00000000-0000-0000-0000-0000000000e2', 'done');
SELECT intracker.add_dependency('00000000-0000-0000-0000-0000000000f2', '00000000-0000-0000-0000-0000000000f1') IS NOT NULL AS blocked;
RESET ROLE;

ALTER EXTENSION intracker UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'intracker';

-- The update derived the counters from the existing rows.
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-0000000000e1') IS NOT NULL AS acting;
SELECT u.name, l.role, l.open_todos, l.open_points
  FROM intracker.member_load l JOIN intracker.users u ON u.id = l.user_id ORDER BY 1;
SELECT title, open_blocker_count, open_dependent_count, feature_active
  FROM intracker_data.todos ORDER BY title;
SELECT count(*) AS drifted_counters FROM intracker.verify_counters();
-- The 0.3 progress counters too: the dashboard and feature progress.
SELECT name, todos_total, todos_open, todos_done, completion_rate, todos_completed_today,
       points_done_last_7_days, features_in_progress, todos_blocked
  FROM intracker.team_dashboard;
SELECT title, todos_total, todos_done, progress FROM intracker.features;
-- And the new functions work on old data.
SELECT d->'team_progress'->'todos_total' AS todos_total, d->'team_progress'->'todos_done' AS todos_done,
       jsonb_array_length(d->'shared_blockers') AS shared_blockers,
       jsonb_array_length(d->'team_members') AS members
  FROM intracker.team_context(:'legacy') AS d;
SELECT regress.named(intracker.resume_context(:'legacy')->>'next_action') AS next_action;
SELECT title, claim_reason FROM intracker.claim_next_todo(:'legacy');
SELECT intracker.act_as(NULL);
RESET ROLE;

-- 0.4: rows written before the update have no events; changes after it do,
-- numbered from 1: the claim above, then this status change.
SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-0000000000e1') IS NOT NULL AS acting;
SELECT count(*) AS events_so_far FROM intracker.events_since(0);
SELECT version FROM intracker.set_todo_status('00000000-0000-0000-0000-0000000000f3', 'todo',
    (SELECT version FROM intracker.todos WHERE id = '00000000-0000-0000-0000-0000000000f3'));
SELECT seq, type, regress.named(entity_id::text) AS entity, changes->'status' AS status
  FROM intracker.events_since(0);
SELECT intracker.act_as(NULL);
RESET ROLE;
