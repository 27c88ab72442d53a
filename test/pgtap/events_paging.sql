-- test/pgtap/events_paging.sql — issue 13: events_since() narrows each page's
-- scan to a range of seq (intracker_data.events_page_end) so that a page
-- costs the same anywhere in the log.  The range is only a hint: paging
-- through the whole log, with any page size, for one project or for all the
-- caller's projects, must return exactly what intracker.events shows the
-- caller, in order, each event once, and end only at the real end.
--
-- The log mixes three projects (p: ann and bob; q: bob only; r: cat only),
-- events of ann's membership in r (member.*: ann sees them, not r's
-- others), and long runs of one project, so that page ends and the other
-- projects' events fall anywhere.  As PostgREST's non-superuser role.

BEGIN;
SELECT plan(19);

SELECT count(test_helpers.add_user(u, ('00000000-0000-4000-a000-0000000000' || n)::uuid))
  FROM (VALUES ('ann', '01'), ('bob', '02'), ('cat', '03')) AS x (u, n);
SELECT intracker.act_as(test_helpers.id('ann'));
INSERT INTO test_helpers.ids SELECT 'p', id FROM intracker.create_project('P');
SELECT intracker.add_member(test_helpers.id('p'), test_helpers.id('bob'), 'viewer');
SELECT intracker.act_as(test_helpers.id('bob'));
INSERT INTO test_helpers.ids SELECT 'q', id FROM intracker.create_project('Q');
SELECT intracker.act_as(test_helpers.id('cat'));
INSERT INTO test_helpers.ids SELECT 'r', id FROM intracker.create_project('R');
SELECT intracker.act_as(NULL);
SELECT intracker_data.publish_pending_events();

-- 600 synthetic events after those: runs of 1 to 40 events of one project,
-- now and then one about ann's membership in r, and notifications in p,
-- which only their user sees: now and then ann's or bob's, and a run of 40
-- of bob's (longer than a page: ann's pages must pass over them).
INSERT INTO intracker_data.events (seq, outbox_id, type, project_id, entity_id, actor, version, changes,
                                   occurred_at, published_at)
SELECT m.top + i, m.top + i,
       CASE WHEN i % 97 = 0 THEN 'member.updated' WHEN x.notification THEN 'notification.created' ELSE 'todo.updated' END,
       test_helpers.id(CASE WHEN i % 97 = 0 THEN 'r' WHEN x.notification THEN 'p'
                            ELSE (ARRAY['p', 'q', 'r'])[1 + (i / (1 + i % 40)) % 3] END),
       CASE WHEN i % 97 = 0 THEN test_helpers.id('ann')
            WHEN x.notification THEN test_helpers.id(CASE WHEN i % 2 = 0 AND i NOT BETWEEN 300 AND 339 THEN 'ann' ELSE 'bob' END)
            ELSE gen_random_uuid() END,
       NULL, 1, '{}', now(), now()
  FROM generate_series(1, 600) AS i
 CROSS JOIN LATERAL (SELECT i % 97 <> 0 AND (i % 7 = 3 OR i BETWEEN 300 AND 339) AS notification) AS x,
       (SELECT coalesce(max(seq), 0) AS top FROM intracker_data.events) AS m;

-- Every event through events_since, page after page: the seqs in order.
CREATE FUNCTION pg_temp.paged(project uuid, page integer) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    after bigint := 0;
    got bigint[] := '{}';
    page_seqs bigint[];
BEGIN
    LOOP
        SELECT array_agg(e.seq ORDER BY e.seq) INTO page_seqs FROM intracker.events_since(after, project, page) AS e;
        EXIT WHEN page_seqs IS NULL;
        got := got || page_seqs;
        after := page_seqs[array_upper(page_seqs, 1)];
    END LOOP;
    RETURN got;
END
$$;
-- What the caller sees of the log, through the view.
CREATE FUNCTION pg_temp.visible(project uuid) RETURNS bigint[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(e.seq ORDER BY e.seq), '{}') FROM intracker.events e
     WHERE project IS NULL OR e.project_id = project
$$;
GRANT EXECUTE ON FUNCTION pg_temp.paged(uuid, integer), pg_temp.visible(uuid) TO PUBLIC;

SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;

SELECT test_helpers.as_user('ann');
SELECT cmp_ok(cardinality(pg_temp.visible(NULL)), '>', 200, 'ann sees p''s events and those of her membership in r');
SELECT ok(pg_temp.visible(NULL) @> pg_temp.visible(test_helpers.id('p')) AND
          cardinality(pg_temp.visible(NULL)) > cardinality(pg_temp.visible(test_helpers.id('p'))),
          '... more than p''s: the member.* events of r are hers too');
SELECT is(pg_temp.paged(NULL, 7), pg_temp.visible(NULL), 'ann pages through all she may see by 7: every event once, in order');
SELECT is(pg_temp.paged(NULL, 1), pg_temp.visible(NULL), '... by 1');
SELECT is(pg_temp.paged(NULL, 10000), pg_temp.visible(NULL), '... in one page');
SELECT is(pg_temp.paged(test_helpers.id('p'), 5), pg_temp.visible(test_helpers.id('p')), 'ann pages through p by 5');
SELECT is(pg_temp.paged(test_helpers.id('p'), 40), pg_temp.visible(test_helpers.id('p')), '... by 40');
SELECT is((SELECT count(*)::int FROM intracker.events e
            WHERE e.type LIKE 'notification.%' AND e.entity_id <> intracker.current_user_id()), 0,
          'ann sees no one else''s notifications (p has bob''s)');
SELECT cmp_ok((SELECT count(*)::int FROM intracker.events e WHERE e.type LIKE 'notification.%'), '>', 20, '... and her own');

SELECT test_helpers.as_user('bob');
SELECT is(pg_temp.paged(NULL, 13), pg_temp.visible(NULL), 'bob (p and q) pages through all he may see by 13');
SELECT is(pg_temp.paged(test_helpers.id('q'), 3), pg_temp.visible(test_helpers.id('q')), 'bob pages through q by 3');
SELECT is(pg_temp.paged(test_helpers.id('p'), 4), pg_temp.visible(test_helpers.id('p')), 'bob pages through p (his notifications included) by 4');
SELECT is((SELECT count(*)::int FROM intracker.events_since(0, NULL, 10000) e WHERE e.project_id = test_helpers.id('r')), 0,
          'bob gets nothing of r');
SELECT throws_ok(format('SELECT * FROM intracker.events_since(0, %L, 10)', test_helpers.id('r')), 'PT404', NULL,
                 'nor when he asks for it by name (PT404)');

-- The page bound reveals nothing: of a project the caller is not in it is NULL.
SELECT is(intracker_data.events_page_end(0, test_helpers.id('r'), 1), NULL, 'events_page_end of a project bob is not in: NULL');
SELECT isnt(intracker_data.events_page_end(0, test_helpers.id('q'), 1), NULL, '... of his own: a seq');

SELECT test_helpers.as_user('cat');
SELECT is(pg_temp.paged(NULL, 11), pg_temp.visible(NULL), 'cat (r) pages through all she may see by 11');

RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT intracker.act_as(NULL);
SELECT count(*) AS all_events FROM intracker_data.events \gset
SET ROLE tester_admin;
SELECT is(pg_temp.paged(NULL, 50), pg_temp.visible(NULL), 'an admin acting as nobody pages through the whole log by 50');
SELECT is(cardinality(pg_temp.visible(NULL)), :all_events, '... which is every event');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
