--
-- Change events (0.4): one event per changed row, written in the writer's
-- transaction; the types, the changed fields (old -> new), rolled-back work,
-- counter bookkeeping that is no event, replay with events_since under RLS,
-- and the errors.
--
-- This server's worker serves another database (intracker.database is
-- 'postgres'), so here events_since() publishes pending events itself and no
-- NOTIFY is sent; the Perl TAP tests (test/t/006-008) cover the worker,
-- NOTIFY and conflict.rejected.
--
-- Events are shown in seq order with what varies masked: ids become names,
-- timestamps "<time>".
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all

-- The events of one project after a given seq, one line each.
CREATE FUNCTION regress.events_of(project uuid, after bigint DEFAULT 0) RETURNS SETOF text
LANGUAGE sql VOLATILE AS $$
    SELECT regress.named(format('%s %s by %s v%s %s', e.type, e.entity_id, coalesce(e.actor::text, '-'),
                                coalesce(e.version::text, '-'), regress.mask(e.changes)))
      FROM intracker.events_since(after, project, 10000) e ORDER BY e.seq
$$;

SET ROLE regress_admin;
SELECT name FROM intracker.create_user('evan@example.com', 'Evan', user_id => '00000000-0000-0000-0000-0000000000d1');
SELECT name FROM intracker.create_user('erin@example.com', 'Erin', kind => 'agent', user_id => '00000000-0000-0000-0000-0000000000d2');
SELECT name FROM intracker.create_user('eve@example.com', 'Eve', user_id => '00000000-0000-0000-0000-0000000000d3');
INSERT INTO regress.names VALUES ('00000000-0000-0000-0000-0000000000d1', 'evan'),
                                 ('00000000-0000-0000-0000-0000000000d2', 'erin'),
                                 ('00000000-0000-0000-0000-0000000000d3', 'eve');

------------------------------------------------------------------------------
-- Every change type
------------------------------------------------------------------------------
SELECT intracker.act_as('00000000-0000-0000-0000-0000000000d1') IS NOT NULL AS acting_as_evan;
SELECT id AS ev FROM intracker.create_project('Events', 'Watch "this"') \gset
INSERT INTO regress.names VALUES (:'ev', 'ev');
SELECT role FROM intracker.add_member(:'ev', '00000000-0000-0000-0000-0000000000d2', 'viewer');
SELECT version FROM intracker.update_project(:'ev', '{"description": "Line 1\nLine \"2\" 🚀"}', 1);
SELECT version FROM intracker.update_project(:'ev', '{"status": "paused"}', 2);
UPDATE intracker.project_members SET role = 'editor' WHERE project_id = :'ev' AND user_id = '00000000-0000-0000-0000-0000000000d2';
SELECT id AS f FROM intracker.create_feature(:'ev', 'Feed') \gset
INSERT INTO regress.names VALUES (:'f', 'feed');
SELECT version FROM intracker.update_feature(:'f', '{"description": "the feed"}', 1);
SELECT version FROM intracker.assign_feature(:'f', '00000000-0000-0000-0000-0000000000d2');
SELECT version FROM intracker.update_feature(:'f', '{"status": "in_progress"}', 3);
SELECT id AS t1 FROM intracker.create_todo(:'ev', 'Write', feature_id => :'f', estimate => 3) \gset
SELECT id AS t2 FROM intracker.create_todo(:'ev', 'Review') \gset
INSERT INTO regress.names VALUES (:'t1', 'write'), (:'t2', 'review');
SELECT version FROM intracker.update_todo(:'t1', '{"title": "Write it", "priority": "high"}', 1);
SELECT version FROM intracker.assign_todo(:'t1', '00000000-0000-0000-0000-0000000000d2');
SELECT version FROM intracker.set_todo_status(:'t1', 'in_progress', 3);
-- Status and assignee in one update: the status change names the event.
SELECT version FROM intracker.update_todo(:'t2', '{"status": "in_progress", "assigned_to": "00000000-0000-0000-0000-0000000000d1"}', 1);
SELECT intracker.add_dependency(:'t2', :'t1') IS NOT NULL AS added;
SELECT intracker.remove_dependency(:'t2', :'t1') IS NOT NULL AS removed;
SELECT id AS s FROM intracker.start_session(:'ev', 'Ship the feed') \gset
INSERT INTO regress.names VALUES (:'s', 'session');
UPDATE intracker.sessions SET goal = 'Ship the feed today' WHERE id = :'s';
SELECT summary FROM intracker.end_session(:'s', 'Shipped', next_steps => '{"Announce"}');
DELETE FROM intracker.todos WHERE id = :'t2';
SELECT role FROM intracker.remove_member(:'ev', '00000000-0000-0000-0000-0000000000d2');
SELECT regress.events_of(:'ev');

-- Deleting a project: one event per deleted row, the project's first, then
-- the rows its deletion cascades to.
SELECT id AS gone FROM intracker.create_project('Short-lived') \gset
INSERT INTO regress.names VALUES (:'gone', 'gone');
SELECT id AS gone_todo FROM intracker.create_todo(:'gone', 'Never done') \gset
INSERT INTO regress.names VALUES (:'gone_todo', 'gone-todo');
SELECT max(seq) AS before_delete FROM intracker.events_since(0, :'gone') \gset
DELETE FROM intracker.projects WHERE id = :'gone';
-- Its members are gone too, so only an admin acting as nobody still sees
-- these (and each former member the event of their own removal).
SELECT intracker.act_as(NULL);
SELECT regress.events_of(:'gone', :before_delete);
SELECT intracker.act_as('00000000-0000-0000-0000-0000000000d1') IS NOT NULL AS acting_as_evan;
SELECT type FROM intracker.events WHERE project_id = :'gone' AND seq > :before_delete;

------------------------------------------------------------------------------
-- What is not an event
------------------------------------------------------------------------------
SELECT max(seq) AS mark FROM intracker.events_since(0, :'ev') \gset
-- Rolled back: nothing.
BEGIN;
SELECT version FROM intracker.update_todo(:'t1', '{"title": "Never"}', 5);
SELECT id IS NOT NULL AS created FROM intracker.create_todo(:'ev', 'Never either');
ROLLBACK;
SELECT count(*) AS events_after_rollback FROM intracker.events_since(:mark, :'ev');
-- A rolled-back savepoint drops only its own events.
BEGIN;
SELECT version FROM intracker.update_todo(:'t1', '{"description": "kept"}', 5);
SAVEPOINT before_title;
SELECT version FROM intracker.update_todo(:'t1', '{"title": "Dropped"}', 6);
ROLLBACK TO SAVEPOINT before_title;
COMMIT;
SELECT regress.events_of(:'ev', :mark);
SELECT max(seq) AS mark FROM intracker.events_since(0, :'ev') \gset
-- A stale write is refused and writes nothing (the worker would record a
-- conflict.rejected event; this database has none).
SELECT * FROM regress.try($$SELECT intracker.update_todo((SELECT id FROM regress.names WHERE name = 'write'), '{"title": "Stale"}', 1)$$);
-- An update that changes nothing a user sees: a dependency moves only the
-- blocked todo's internal counters, so the dependency is the only event.
SELECT id AS t3 FROM intracker.create_todo(:'ev', 'Blocked') \gset
INSERT INTO regress.names VALUES (:'t3', 'blocked');
SELECT intracker.add_dependency(:'t3', :'t1') IS NOT NULL AS added;
SELECT title, open_blocker_count FROM intracker_data.todos WHERE id = :'t3';
SELECT regress.events_of(:'ev', :mark);

------------------------------------------------------------------------------
-- Replay under RLS, paging, errors
------------------------------------------------------------------------------
-- (all but the notifications, which only their user sees: Erin's two, of
-- the feature and the todo Evan gave her)
SELECT count(*) AS all_of_ev FROM intracker.events_since(0, :'ev') WHERE type <> 'notification.created' \gset
SELECT count(*) AS evan_sees_notifications FROM intracker.events_since(0, :'ev') WHERE type = 'notification.created';
SELECT :all_of_ev AS all_of_ev;
-- Paging: pages of 4 concatenate to the whole list, in order.
WITH RECURSIVE pages (n, last_seq, seqs) AS (
    SELECT 0, 0::bigint, '{}'::bigint[]
  UNION ALL
    SELECT p.n + 1, page.last_seq, p.seqs || page.seqs
      FROM pages p,
           LATERAL (SELECT max(seq) AS last_seq, array_agg(seq ORDER BY seq) AS seqs
                      FROM intracker.events_since(p.last_seq, (SELECT id FROM regress.names WHERE name = 'ev'), 4)) page
     WHERE page.last_seq IS NOT NULL)
SELECT max(n) AS pages,
       (SELECT seqs FROM pages ORDER BY n DESC LIMIT 1)
         = (SELECT array_agg(seq ORDER BY seq) FROM intracker.events_since(0, (SELECT id FROM regress.names WHERE name = 'ev'))) AS same_events
  FROM pages;
SELECT intracker.act_as(NULL);
RESET ROLE;

-- RLS, as a plain (non-admin) role acting as each user.  Erin was removed
-- from the project: of its events she sees only those of her own membership
-- (so she can learn she was removed), and a project filter is PT404; Eve
-- never was a member.
SET intracker.acting_user = '00000000-0000-0000-0000-0000000000d2';
SET ROLE regress_plain;
SELECT type FROM intracker.events_since(0) WHERE project_id = :'ev' ORDER BY seq;
SELECT * FROM regress.try($$SELECT count(*) FROM intracker.events_since(0, (SELECT id FROM regress.names WHERE name = 'ev'))$$);
SELECT * FROM regress.try($$SELECT intracker.listen_project((SELECT id FROM regress.names WHERE name = 'ev'))$$);
RESET ROLE;
-- Back as a viewer, she sees every event of the project, and may listen.
SELECT intracker.act_as('00000000-0000-0000-0000-0000000000d1') IS NOT NULL AS acting_as_evan;
SELECT role FROM intracker.add_member(:'ev', '00000000-0000-0000-0000-0000000000d2', 'viewer');
SET intracker.acting_user = '00000000-0000-0000-0000-0000000000d2';
SET ROLE regress_plain;
SELECT count(*) = :all_of_ev + 1 AS erin_sees_all_and_her_return FROM intracker.events_since(0, :'ev') WHERE type <> 'notification.created';
SELECT regress.named(entity_id::text) AS notified, count(*) FROM intracker.events_since(0, :'ev')
 WHERE type = 'notification.created' GROUP BY 1;
SELECT regress.named(intracker.listen_project(:'ev')) AS channel;
UNLISTEN *;
RESET ROLE;
SET intracker.acting_user = '00000000-0000-0000-0000-0000000000d3';
SET ROLE regress_plain;
SELECT count(*) AS eve_sees FROM intracker.events_since(0) WHERE project_id = :'ev';
-- Nobody but the extension writes events or reads the outbox (the view
-- refuses the insert, before privileges: its changes column is computed).
SELECT * FROM regress.try($$INSERT INTO intracker.events (seq, type, project_id, entity_id, changes, occurred_at, published_at) VALUES (0, 'forged', gen_random_uuid(), gen_random_uuid(), '{}', now(), now())$$);
SELECT * FROM regress.try($$INSERT INTO intracker.events (seq, type, project_id, entity_id, occurred_at, published_at) VALUES (0, 'forged', gen_random_uuid(), gen_random_uuid(), now(), now())$$);
SELECT * FROM regress.try($$SELECT count(*) FROM intracker_data.outbox$$);
SELECT * FROM regress.try($$DELETE FROM intracker_data.events$$);
RESET ROLE;
RESET intracker.acting_user;

SET ROLE regress_admin;
SELECT intracker.act_as('00000000-0000-0000-0000-0000000000d1') IS NOT NULL AS acting_as_evan;
SELECT * FROM regress.try($$SELECT intracker.events_since(-1)$$);
SELECT * FROM regress.try($$SELECT intracker.events_since(NULL)$$);
SELECT * FROM regress.try($$SELECT intracker.events_since(0, max_events => 0)$$);
SELECT * FROM regress.try($$SELECT intracker.events_since(0, max_events => 10001)$$);
SELECT regress.named(intracker.project_channel(:'ev')) AS channel,
       intracker.project_channel(NULL) IS NULL AS null_channel;
-- An admin acting as a user sees what that user sees; acting as nobody, everything.
SELECT intracker.act_as('00000000-0000-0000-0000-0000000000d3') IS NOT NULL AS acting_as_eve;
SELECT count(*) AS admin_as_eve_sees FROM intracker.events WHERE project_id = :'ev';
SELECT * FROM regress.try($$SELECT count(*) FROM intracker.events_since(0, (SELECT id FROM regress.names WHERE name = 'ev'))$$);
SELECT intracker.act_as(NULL);
SELECT count(*) = :all_of_ev + 1 + 2 AS admin_as_nobody_sees_all FROM intracker.events WHERE project_id = :'ev';
RESET ROLE;

------------------------------------------------------------------------------
-- The publication sequence, seen whole (superuser): gap-free from 1, every
-- outbox row published by the reads above, and the status view agrees (no
-- pid: each database sees its own publisher, and this one has none).
------------------------------------------------------------------------------
SELECT min(seq) AS first_seq, max(seq) = count(*) AS gap_free,
       count(DISTINCT outbox_id) = count(*) AS each_once
  FROM intracker_data.events;
SELECT count(*) AS still_in_outbox FROM intracker_data.outbox;
SELECT state, pid IS NOT NULL AS has_pid,
       last_published_seq = (SELECT max(seq) FROM intracker_data.events) AS status_seq, backlog
  FROM intracker.worker_status;
-- seq follows the order the events were written in.
SELECT bool_and(outbox_id > previous) AS in_write_order
  FROM (SELECT outbox_id, lag(outbox_id, 1, 0::bigint) OVER (ORDER BY seq) AS previous FROM intracker_data.events) e;
