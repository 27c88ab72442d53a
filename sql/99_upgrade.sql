--
-- The upgrade chain: install 0.1, fill it, update to the current version.
-- Then from 0.4: install it, fill it (events published and one still in the
-- outbox), update to 0.5, use the new and the changed objects on the old
-- rows, update to the current version and compare the updated extension
-- with a fresh install.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
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

------------------------------------------------------------------------------
-- 0.4 -> 0.5
------------------------------------------------------------------------------

-- The extension's objects as definitions, by name (no oids), for comparing
-- an updated installation with a fresh one (the helper test/t/013_upgrade.pl
-- uses too).
\set ECHO none
\i test/helpers/extension_catalog.sql
\set ECHO all

DROP EXTENSION intracker CASCADE;
CREATE EXTENSION intracker VERSION '0.4';
SELECT extversion FROM pg_extension WHERE extname = 'intracker';

SET ROLE regress_admin;
SELECT name FROM intracker.create_user('olga@example.com', 'Olga', user_id => '00000000-0000-0000-0000-0000000005e1');
SELECT name FROM intracker.create_user('pete@example.com', 'Pete', user_id => '00000000-0000-0000-0000-0000000005e2');
INSERT INTO regress.names VALUES ('00000000-0000-0000-0000-0000000005e1', 'olga'),
                                 ('00000000-0000-0000-0000-0000000005e2', 'pete');
SELECT intracker.act_as('00000000-0000-0000-0000-0000000005e1') IS NOT NULL AS acting;
SELECT id AS p4 FROM intracker.create_project('Before 0.5', github_repo => 'acme/legacy') \gset
INSERT INTO regress.names VALUES (:'p4', 'p4');
SELECT role FROM intracker.add_member(:'p4', '00000000-0000-0000-0000-0000000005e2', 'editor');
INSERT INTO intracker.todos (id, project_id, title, estimate, status, github_issue)
VALUES ('00000000-0000-0000-0000-0000000005f1', :'p4', 'Old open', 2, 'todo', 7),
       ('00000000-0000-0000-0000-0000000005f2', :'p4', 'Old done', 1, 'done', NULL);
INSERT INTO regress.names VALUES ('00000000-0000-0000-0000-0000000005f1', 'old-open'),
                                 ('00000000-0000-0000-0000-0000000005f2', 'old-done');
-- Published before the update ...
SELECT count(*) AS published_at_0_4 FROM intracker.events_since(0);
-- ... and one event still in the outbox when the update runs.
SELECT version FROM intracker.update_todo('00000000-0000-0000-0000-0000000005f2', '{"title": "Old done, renamed"}', 1);
SELECT intracker.act_as(NULL);
RESET ROLE;
SELECT count(*) AS in_outbox FROM intracker_data.outbox;

ALTER EXTENSION intracker UPDATE TO '0.5';
SELECT extversion FROM pg_extension WHERE extname = 'intracker';

SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-0000000005e1') IS NOT NULL AS acting;
-- Old rows have the new column, empty; the functions that return
-- intracker.todos return it too.
SELECT title, status, github_issue, github_issue_url FROM intracker.todos ORDER BY title;
SELECT title, github_issue_url FROM intracker.create_todo(:'p4', 'New after 0.5', estimate => 3);
SELECT title, version, github_issue_url FROM intracker.update_todo('00000000-0000-0000-0000-0000000005f1', '{"priority": "high"}', 1);
SELECT title, regress.named(assigned_to::text) AS assigned_to, github_issue_url
  FROM intracker.assign_todo('00000000-0000-0000-0000-0000000005f1', '00000000-0000-0000-0000-0000000005e2');
SELECT title, assigned_to, github_issue_url FROM intracker.unassign_todo('00000000-0000-0000-0000-0000000005f1');
SELECT title, status, version, github_issue_url FROM intracker.set_todo_status('00000000-0000-0000-0000-0000000005f1', 'in_progress', 4);
SELECT title, github_issue, github_issue_url FROM intracker.link_github_issue('00000000-0000-0000-0000-0000000005f1', 12);
SELECT count(*) AS drifted_counters FROM intracker.verify_counters();
-- A webhook created after the update gets the events published from then
-- on, the one left in the outbox included; the earlier ones were published
-- (and fanned out to nobody) before it existed.
SELECT url, event_types, format, active, signed
  FROM intracker.create_webhook(:'p4', 'http://localhost:9/legacy', '{todo.*}');
SELECT count(*) > 0 AS published_now FROM intracker.events_since(0);
SELECT d.event_seq, d.event_type, regress.named(e.entity_id::text) AS entity, d.state
  FROM intracker.webhook_deliveries d JOIN intracker.events e ON e.seq = d.event_seq
 ORDER BY d.event_seq;
SELECT bool_and(d.payload::jsonb = to_jsonb(e) - 'outbox_id') AS payloads_are_the_events
  FROM intracker.webhook_deliveries d JOIN intracker_data.events e ON e.seq = d.event_seq;
SELECT github_repo, has_token, has_webhook_secret FROM intracker.github_settings;
SELECT intracker.act_as(NULL);
RESET ROLE;

-- On to the current version; the updated extension is the one a fresh
-- install creates.
ALTER EXTENSION intracker UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'intracker';
CREATE TABLE regress.updated_catalog AS SELECT * FROM catalog_check.extension_catalog();
SELECT count(*) > 500 AS catalog_snapshot_taken,
       count(*) FILTER (WHERE kind = 'member' AND object LIKE 'table intracker_data.%') AS tables
  FROM regress.updated_catalog;
DROP EXTENSION intracker CASCADE;
CREATE EXTENSION intracker;
SELECT extversion FROM pg_extension WHERE extname = 'intracker';
(SELECT 'only after the update' AS side, * FROM regress.updated_catalog
 EXCEPT SELECT 'only after the update', * FROM catalog_check.extension_catalog())
UNION ALL
(SELECT 'only in a fresh install', * FROM catalog_check.extension_catalog()
 EXCEPT SELECT 'only in a fresh install', * FROM regress.updated_catalog)
ORDER BY 1, 2, 3;
