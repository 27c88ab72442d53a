-- test/pgtap/history.sql — issue 16: intracker.history(), the lasting history
-- of projects, features, todos (with their dependencies), comments and
-- documents.  Per role (owner, editor, viewer, non-member, anonymous); past
-- the event log's pruning; deleted entities; paging with before at
-- transaction boundaries; bad arguments.  test/t/029_history.pl has the
-- publisher, retention and pg_dump/pg_restore.
--
-- As PostgREST's non-superuser role.  Everything here is one transaction
-- (so one occurred_at); the paging cases use history rows written from
-- above with times of their own.

BEGIN;
SELECT plan(23);

SELECT test_helpers.team_fixture();
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT test_helpers.todo('t1', 'p1');
SELECT intracker.update_todo(test_helpers.id('t1'), '{"title": "t1 renamed"}', 1);
SELECT intracker.set_todo_status(test_helpers.id('t1'), 'in_progress', 2);
SELECT test_helpers.todo('blocker', 'p1');
SELECT intracker.add_dependency(test_helpers.id('t1'), test_helpers.id('blocker'));
INSERT INTO test_helpers.ids SELECT 'c1', id FROM intracker.add_comment(test_helpers.id('t1'), 'first');
SELECT intracker.update_comment(test_helpers.id('c1'), 'first, edited', 1);
INSERT INTO test_helpers.ids SELECT 'd1', id FROM intracker.create_document(test_helpers.id('p1'), 'Spec', 'v1', 'spec');
SELECT intracker.update_document(test_helpers.id('d1'), '{"body": "v2"}', 1);
SELECT test_helpers.todo('doomed', 'p1');
DELETE FROM intracker.todos WHERE id = test_helpers.id('doomed');
SELECT intracker.act_as(NULL);
SELECT intracker_data.publish_pending_events();

-- The event log forgets (as retention would): history does not.
DELETE FROM intracker_data.events WHERE seq < (SELECT max(seq) FROM intracker_data.events);

SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('viewer');
SELECT is((SELECT array_agg(type || ' v' || coalesce(version::text, '-') ORDER BY seq DESC) FROM intracker.history(test_helpers.id('t1'))),
          ARRAY['dependency.added v-', 'todo.status_changed v3', 'todo.updated v2', 'todo.created v1'],
          'a todo''s history, newest first, its dependencies included, after the event log pruned it (as a viewer)');
SELECT is((SELECT changes FROM intracker.history(test_helpers.id('t1')) WHERE type = 'todo.updated'),
          '{"title": {"old": "t1", "new": "t1 renamed"}}'::jsonb, '... with the changed fields, old and new');
SELECT ok((SELECT bool_and(actor = test_helpers.id('owner')) FROM intracker.history(test_helpers.id('t1'))), '... and who made each');
SELECT is((SELECT array_agg(type ORDER BY seq) FROM intracker.history(test_helpers.id('c1'))), ARRAY['comment.added', 'comment.updated'],
          'a comment''s history');
SELECT is((SELECT array_agg(type ORDER BY seq) FROM intracker.history(test_helpers.id('d1'))), ARRAY['document.created', 'document.updated'],
          'a document''s history');
SELECT is((SELECT array_agg(type ORDER BY seq) FROM intracker.history(test_helpers.id('p1'))), ARRAY['project.created'],
          'a project''s history (its own changes)');
SELECT is((SELECT array_agg(type ORDER BY seq) FROM intracker.history(test_helpers.id('doomed'))), ARRAY['todo.created', 'todo.deleted'],
          'a deleted todo''s history stays');
SELECT is((SELECT count(*)::int FROM intracker.history(test_helpers.id('t1'), 2)), 2, 'max_entries bounds it');
SELECT is((SELECT count(*)::int FROM intracker.history(test_helpers.id('blocker'))), 1, 'the blocker has its own (created)');

SELECT test_helpers.as_user('outsider');
SELECT throws_ok(format($$SELECT * FROM intracker.history(%L)$$, test_helpers.id('t1')), 'PT404', NULL, 'a non-member: PT404');
SELECT throws_ok(format($$SELECT * FROM intracker.history(%L)$$, test_helpers.id('doomed')), 'PT404', NULL,
                 '... also for a deleted todo of the project');
SELECT is((SELECT count(*)::int FROM intracker_data.history), 0, '... who reads no row of the table either (RLS)');
SELECT test_helpers.as_user(NULL);
SELECT throws_ok(format($$SELECT * FROM intracker.history(%L)$$, test_helpers.id('t1')), 'PT401', NULL, 'anonymous: PT401');
SELECT test_helpers.as_user('editor');
SELECT throws_ok($$SELECT * FROM intracker.history(gen_random_uuid())$$, 'PT404', NULL, 'an unknown id: PT404');
SELECT throws_ok(format($$SELECT * FROM intracker.history(%L, 0)$$, test_helpers.id('t1')), '22023', NULL, 'max_entries 0: 22023');
SELECT throws_ok(format($$SELECT * FROM intracker.history(%L, 10001)$$, test_helpers.id('t1')), '22023', NULL, 'max_entries 10001: 22023');
SELECT is((SELECT count(*)::int FROM intracker.history(test_helpers.id('t1'), before => now())), 0,
          'before => now(): nothing older than this transaction');
SELECT throws_ok($$INSERT INTO intracker_data.history VALUES (0, 'todo.forged', gen_random_uuid(), gen_random_uuid(), NULL, 1, '{}', now())$$,
                 '42501', NULL, 'nobody writes history');

-- Paging: a todo changed in 5 transactions of 3 changes each (written from
-- above, each transaction a minute apart).
RESET ROLE;
RESET SESSION AUTHORIZATION;
INSERT INTO test_helpers.ids VALUES ('paged', gen_random_uuid());
INSERT INTO intracker_data.history (seq, type, project_id, entity_id, actor, version, changes, occurred_at)
SELECT 1000000 + i, 'todo.updated', test_helpers.id('p1'), test_helpers.id('paged'), NULL, i, '{}',
       '2026-01-01'::timestamptz + (i / 3) * interval '1 minute'
  FROM generate_series(0, 14) AS i;
CREATE FUNCTION pg_temp.all_pages(page integer) RETURNS integer[]
LANGUAGE plpgsql AS $$
DECLARE
    got integer[] := '{}';
    oldest timestamptz;
    versions integer[];
BEGIN
    LOOP
        SELECT array_agg(h.version ORDER BY h.seq DESC), min(h.occurred_at) INTO versions, oldest
          FROM intracker.history(test_helpers.id('paged'), page, oldest) h;
        EXIT WHEN versions IS NULL;
        got := got || versions;
    END LOOP;
    RETURN got;
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.all_pages(integer) TO PUBLIC;
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user('viewer');
SELECT is((SELECT array_agg(version ORDER BY seq DESC) FROM intracker.history(test_helpers.id('paged'), 4)), ARRAY[14, 13, 12],
          'a page of 4 ends at a transaction boundary (3 changes)');
SELECT is(pg_temp.all_pages(4), ARRAY(SELECT generate_series(14, 0, -1)), 'paging by 4 with before: every change once, newest first');
SELECT is(pg_temp.all_pages(7), ARRAY(SELECT generate_series(14, 0, -1)), '... by 7');
SELECT is((SELECT count(*)::int FROM intracker.history(test_helpers.id('paged'), 2)), 2,
          'a page smaller than one transaction''s changes is cut inside it (max_entries holds)');

-- A project's history goes with it.
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT intracker.act_as(test_helpers.id('owner'));
DELETE FROM intracker.projects WHERE id = test_helpers.id('p1');
SELECT intracker.act_as(NULL);
SELECT intracker_data.publish_pending_events();
SELECT is((SELECT count(*)::int FROM intracker_data.history WHERE project_id = test_helpers.id('p1')), 0,
          'deleting a project deletes its history, and the deletion''s events add none');

SELECT * FROM finish();
ROLLBACK;
