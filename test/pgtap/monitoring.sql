-- test/pgtap/monitoring.sql — issue 17: intracker.metrics and intracker.health().
-- The samples and their types; labels name no project or user; who may
-- read them; health's shape and states, for anyone, revealing nothing.
-- (This database is not one the worker serves: the publisher and the
-- deliverer are not running for it, and the counters of acts, kept per
-- database served, are absent.)  test/t/030_monitoring.pl has the worker,
-- the counters of acts, the exporter and the alert rules;
-- test/t/032_many_databases.pl the counters of each database its own.

BEGIN;
SELECT plan(14);

CREATE FUNCTION pg_temp.sample(metric text, label_filter jsonb DEFAULT '{}') RETURNS double precision
LANGUAGE sql AS $$ SELECT sum(value) FROM intracker.metrics WHERE name = metric AND labels @> label_filter $$;

SELECT set_eq($$SELECT DISTINCT name FROM intracker.metrics$$,
    ARRAY['intracker_publisher_up', 'intracker_deliverer_up', 'intracker_events_published_total', 'intracker_events_unpublished',
          'intracker_events_oldest_unpublished_seconds', 'intracker_events_dead', 'intracker_deliveries_waiting',
          'intracker_deliveries_finished_total', 'intracker_delivery_attempts_total', 'intracker_webhooks_disabled',
          'intracker_rejected_writes_dropped_total'],
    'the samples (delivery durations and lags appear once something was delivered; the counters of acts where a publisher serves)');
SELECT is_empty($$SELECT name FROM intracker.metrics WHERE type NOT IN ('counter', 'gauge') OR help = ''
                    OR (type = 'counter') <> (name LIKE '%\_total')$$,
                'each is a counter (named *_total) or a gauge, with its help');
SELECT is_empty($$SELECT name, labels FROM intracker.metrics, jsonb_each_text(labels) AS l (k, v)
                   WHERE l.v ~ '[0-9a-f]{8}-[0-9a-f]{4}-' OR l.k NOT IN ('state', 'outcome', 'quantile', 'entity')$$,
                'labels are states, outcomes, quantiles and entities: no project, no user');
SELECT is(pg_temp.sample('intracker_publisher_up'), 0::float8, 'the publisher does not run for this database: publisher_up 0');

SELECT test_helpers.team_fixture();
SELECT intracker.act_as(test_helpers.id('owner'));
SELECT test_helpers.todo('t1', 'p1');
SELECT throws_ok(format($$SELECT intracker.update_todo(%L, '{"title": "stale"}', 7)$$, test_helpers.id('t1')), 'PT409', NULL, 'a stale write');
SELECT is((SELECT count(*)::int FROM intracker.claim_next_todo(test_helpers.id('p1'))), 1, 'a claim');
SELECT test_helpers.todo('t2', 'p1');
SELECT isnt((intracker.assign_todo(test_helpers.id('t2'))).assigned_to, NULL, 'an automatic assignment');
SELECT is_empty($$SELECT name FROM intracker.metrics
                   WHERE name IN ('intracker_conflicts_total', 'intracker_claims_total', 'intracker_automatic_assignments_total')$$,
                '... counted nowhere: no publisher serves this database');
SELECT intracker.act_as(NULL);
SELECT cmp_ok(pg_temp.sample('intracker_events_unpublished'), '>', 0::float8, 'the events of this transaction wait in the outbox');

-- Who reads what.
SET ROLE tester_plain;
SELECT throws_ok($$SELECT * FROM intracker.metrics$$, '42501', NULL, 'an API role may not read the metrics');
SELECT is(intracker.health() ->> 'status', 'degraded', '... but health(): degraded, as no publisher serves this database');
RESET ROLE;
SET SESSION AUTHORIZATION authenticator;
SET ROLE web_user;
SELECT test_helpers.as_user(NULL);
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(intracker.health() -> 'checks') AS k),
          ARRAY['dead_events', 'deliverer', 'publisher', 'webhooks'], 'the anonymous web role calls health(): its checks');
SELECT ok(intracker.health()::text !~ '[0-9a-f]{8}-[0-9a-f]{4}-' AND intracker.health() #>> '{checks,publisher,state}' = 'degraded'
          AND intracker.health() #>> '{checks,dead_events,state}' = 'ok',
          '... states and counts, no id of anything');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SET ROLE pg_monitor;
SELECT cmp_ok((SELECT count(*)::int FROM intracker.metrics), '>', 10, 'pg_monitor reads the metrics');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
