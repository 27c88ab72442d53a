-- Operations: metrics for Prometheus and a health check.
--
-- intracker.metrics is one row per sample (name, labels, value, type, help)
-- that a monitoring role reads; src/monitoring/ has the queries file that
-- postgres_exporter serves them with, and the alert rules.  Counters that
-- count acts (conflicts, claims, automatic assignments, deliveries) live in
-- shared memory, per database served, and start from 0 when the server
-- begins serving it, as Prometheus counters may; the others are read from small tables or partial indexes, never from
-- the todos, so a scrape costs the same at any size.  No label names a
-- project or a user.
--
-- intracker.health() is the load balancer's question, answered for anyone
-- (PostgREST's anonymous role: GET /rpc/health) with states and counts
-- only.

CREATE FUNCTION intracker_data.activity_counts(OUT activity text, OUT entity text, OUT count bigint)
RETURNS SETOF record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_activity_counts';
COMMENT ON FUNCTION intracker_data.activity_counts() IS
    'This database''s conflicts (by entity), claims and automatic assignments since the server began serving it, from shared memory (C); none where no publisher serves it (or the library is not preloaded).';

CREATE FUNCTION intracker_data.counter_check(OUT drifted bigint, OUT checked_at timestamptz)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intracker_counter_check';
COMMENT ON FUNCTION intracker_data.counter_check() IS
    'The publisher''s last check of the counters (every intracker.counter_check_interval): how many differed from the todos, and when; NULLs before the first or where no publisher serves.';

-- How long the oldest event waiting in the outbox has waited (0 when none
-- waits), for the metrics and health(), which read the outbox as its owner.
CREATE FUNCTION intracker_data.oldest_unpublished_seconds()
RETURNS double precision
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce(extract(epoch FROM now() - (SELECT o.occurred_at FROM intracker_data.outbox o ORDER BY o.id LIMIT 1)), 0);
COMMENT ON FUNCTION intracker_data.oldest_unpublished_seconds() IS
    'Seconds the oldest event in the outbox has waited; 0 when none waits.';

-- The samples.  SECURITY DEFINER: it counts tables monitoring roles cannot
-- read (the outbox, the deliveries), and returns counts only.
CREATE FUNCTION intracker_data.metric_samples(OUT name text, OUT labels jsonb, OUT value double precision,
                                              OUT type text, OUT help text)
RETURNS SETOF record
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH publisher AS (SELECT w.*, w.pid IS NOT NULL AND w.database = current_database() AS here
                         FROM intracker_data.worker_state() w),
         checked AS (SELECT * FROM intracker_data.counter_check() c WHERE c.checked_at IS NOT NULL),
         deliverer AS (SELECT * FROM intracker_data.deliverer_state()),
         log AS (SELECT * FROM intracker_data.event_log_state()),
         backlog AS (SELECT * FROM intracker_data.delivery_backlog()),
         recent AS (SELECT d.duration_ms / 1000.0 AS duration,
                           extract(epoch FROM d.delivered_at - coalesce(e.occurred_at, d.created_at)) AS lag
                      FROM (SELECT * FROM intracker_data.deliveries d
                             WHERE d.state IN ('delivered', 'dead') ORDER BY d.created_at DESC LIMIT 1000) d
                      LEFT JOIN intracker_data.events e ON e.seq = d.event_seq
                     WHERE d.state = 'delivered'),
         quantiles AS (SELECT q, percentile_cont(q) WITHIN GROUP (ORDER BY r.duration) AS duration,
                              percentile_cont(q) WITHIN GROUP (ORDER BY r.lag) AS lag
                         FROM recent r, unnest(ARRAY[0.5, 0.9, 0.99]) AS q GROUP BY q)
    SELECT 'intracker_publisher_up', '{}'::jsonb, p.here::int::float8,
           'gauge', 'Whether the publisher runs in this database (1) or not (0).'
      FROM publisher p
    UNION ALL
    SELECT 'intracker_deliverer_up', '{}', (d.pid IS NOT NULL AND p.here)::int, 'gauge',
           'Whether the deliverer (webhooks, GitHub calls) runs in this database.'
      FROM deliverer d, publisher p
    UNION ALL
    SELECT 'intracker_events_published_total', '{}', l.last_seq, 'counter',
           'Events published (the last publication sequence number).'
      FROM log l
    UNION ALL
    SELECT 'intracker_events_unpublished', '{}', l.backlog, 'gauge', 'Events waiting in the outbox.'
      FROM log l
    UNION ALL
    SELECT 'intracker_events_oldest_unpublished_seconds', '{}', intracker_data.oldest_unpublished_seconds(),
           'gauge', 'Age of the oldest event waiting in the outbox (0 when none waits).'
    UNION ALL
    SELECT 'intracker_events_dead', '{}', l.dead_events, 'gauge',
           'Events set aside because they could not be published (intracker.requeue_dead_events puts them back).'
      FROM log l
    UNION ALL
    SELECT 'intracker_deliveries_waiting', jsonb_build_object('state', s.state), s.n, 'gauge',
           'Deliveries not yet sent: pending, or failed and waiting for a retry.'
      FROM backlog b, LATERAL (VALUES ('pending', b.pending), ('failed', b.failed)) AS s (state, n)
    UNION ALL
    SELECT 'intracker_deliveries_finished_total', jsonb_build_object('outcome', s.outcome), s.n, 'counter',
           'Deliveries finished since the deliverer started: delivered, or dead after their last attempt.'
      FROM deliverer d, LATERAL (VALUES ('delivered', d.delivered), ('dead', d.dead)) AS s (outcome, n)
    UNION ALL
    SELECT 'intracker_delivery_attempts_total', '{}', d.attempts, 'counter',
           'HTTP attempts of deliveries since the deliverer started.'
      FROM deliverer d
    UNION ALL
    SELECT 'intracker_webhooks_disabled', '{}', (SELECT count(*) FROM intracker_data.webhooks w WHERE w.disabled_at IS NOT NULL),
           'gauge', 'Webhooks the deliverer disabled after a run of failures.'
    UNION ALL
    SELECT 'intracker_delivery_duration_seconds', jsonb_build_object('quantile', q.q::text), q.duration, 'gauge',
           'Duration of the HTTP request of the last 1,000 delivered deliveries, by quantile.'
      FROM quantiles q WHERE q.duration IS NOT NULL
    UNION ALL
    SELECT 'intracker_delivery_lag_seconds', jsonb_build_object('quantile', q.q::text), q.lag, 'gauge',
           'From the change''s transaction to its delivery, of the last 1,000 delivered deliveries, by quantile.'
      FROM quantiles q WHERE q.lag IS NOT NULL
    UNION ALL
    SELECT CASE a.activity WHEN 'conflict' THEN 'intracker_conflicts_total' WHEN 'claim' THEN 'intracker_claims_total'
                ELSE 'intracker_automatic_assignments_total' END,
           CASE WHEN a.entity IS NULL THEN '{}' ELSE jsonb_build_object('entity', a.entity) END,
           a.count, 'counter',
           CASE a.activity WHEN 'conflict' THEN 'Stale writes rejected (PT409, PT412) in this database since the server began serving it, by entity.'
                           WHEN 'claim' THEN 'Todos claimed by claim_next_todo in this database since the server began serving it.'
                           ELSE 'Automatic assignments (assign_todo, assign_feature without assignee) in this database since the server began serving it.' END
      FROM intracker_data.activity_counts() a
    UNION ALL
    SELECT 'intracker_rejected_writes_dropped_total', '{}', coalesce(p.rejected_writes_dropped, 0), 'counter',
           'Rejected writes not recorded as conflict.rejected events because the queue was full.'
      FROM publisher p
    UNION ALL
    SELECT 'intracker_counters_drifted', '{}', c.drifted, 'gauge',
           'Counters (member load, progress) that differed from the todos at the publisher''s last check (intracker.verify_counters lists them).'
      FROM checked c
    UNION ALL
    SELECT 'intracker_counters_check_age_seconds', '{}', extract(epoch FROM now() - c.checked_at), 'gauge',
           'Time since the publisher last checked the counters (every intracker.counter_check_interval).'
      FROM checked c;
END;
COMMENT ON FUNCTION intracker_data.metric_samples() IS
    'The samples of intracker.metrics (counts only, no project or user labels).';

CREATE VIEW intracker.metrics WITH (security_invoker = true) AS
SELECT m.name, m.labels, m.value, m.type, m.help FROM intracker_data.metric_samples() m;
COMMENT ON VIEW intracker.metrics IS
    'Prometheus samples of intracker: name, labels (no project or user), value, type (counter or gauge), help. For members of intracker_admin and pg_monitor; src/monitoring/ has the postgres_exporter queries and the alert rules.';

CREATE FUNCTION intracker.health()
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    publisher record;
    deliverer record;
    log record;
    waiting record;
    oldest double precision;
    disabled bigint;
    served boolean;       -- should a publisher serve this database?
    checks jsonb;
BEGIN
    -- (each database sees its own publisher and deliverer, or no pid)
    SELECT * INTO publisher FROM intracker_data.worker_state();
    SELECT * INTO deliverer FROM intracker_data.deliverer_state();
    -- the publisher's state says whether intracker.database covers this
    -- database; without the supervisor, the setting does
    served := CASE WHEN publisher.state = 'not running'
                   THEN current_setting('intracker.database') IN (current_database(), '*')
                   ELSE publisher.state NOT IN ('serving another database', 'waiting for database') END;
    -- counted up to 10,001 at most: anyone may ask, and this must stay cheap
    -- however far behind the worker is
    SELECT (SELECT count(*) FROM (SELECT FROM intracker_data.outbox LIMIT 10001) o) AS backlog,
           (SELECT count(*) FROM (SELECT FROM intracker_data.dead_events LIMIT 10001) d) AS dead_events
      INTO log;
    SELECT (SELECT count(*) FROM (SELECT FROM intracker_data.deliveries d
                                   WHERE d.state IN ('pending', 'failed') LIMIT 10001) w) AS waiting
      INTO waiting;
    oldest := intracker_data.oldest_unpublished_seconds();
    disabled := (SELECT count(*) FROM intracker_data.webhooks w WHERE w.disabled_at IS NOT NULL);

    checks := jsonb_build_object(
        'publisher', CASE
            WHEN publisher.pid IS NULL AND served THEN
                jsonb_build_object('state', 'down', 'reason',
                                   format('the publisher is not running (%s): no events are published or NOTIFYed', publisher.state))
            WHEN publisher.pid IS NULL THEN
                jsonb_build_object('state', 'degraded', 'reason', 'no publisher serves this database: events are published when read, without NOTIFY')
            WHEN oldest >= 60 THEN
                jsonb_build_object('state', 'degraded', 'reason', format('the oldest unpublished event is %s s old', round(oldest)))
            ELSE jsonb_build_object('state', 'ok', 'backlog', log.backlog) END,
        'deliverer', CASE
            WHEN deliverer.pid IS NULL AND waiting.waiting > 0 THEN
                jsonb_build_object('state', 'degraded', 'reason', format('the deliverer is not running; %s deliveries wait', waiting.waiting))
            WHEN deliverer.pid IS NULL THEN
                jsonb_build_object('state', CASE WHEN served THEN 'degraded' ELSE 'ok' END,
                                   'reason', 'the deliverer is not running')
            ELSE jsonb_build_object('state', 'ok', 'waiting', waiting.waiting) END,
        'dead_events', CASE WHEN log.dead_events > 0 THEN
                jsonb_build_object('state', 'degraded', 'reason', format('%s events could not be published', log.dead_events))
            ELSE jsonb_build_object('state', 'ok') END,
        'webhooks', CASE WHEN disabled > 0 THEN
                jsonb_build_object('state', 'degraded', 'reason', format('%s webhooks were disabled after failing', disabled))
            ELSE jsonb_build_object('state', 'ok') END);
    RETURN jsonb_build_object(
        'status', CASE WHEN jsonb_path_exists(checks, '$.*.state ? (@ == "down")') THEN 'down'
                       WHEN jsonb_path_exists(checks, '$.*.state ? (@ == "degraded")') THEN 'degraded'
                       ELSE 'ok' END,
        'checks', checks);
END
$$;
COMMENT ON FUNCTION intracker.health() IS
    'Health for load balancers and probes: {"status": "ok" | "degraded" | "down", "checks": {publisher, deliverer, dead_events, webhooks: {"state", "reason"}}}. Down: the publisher of this database is not running. For anyone, the anonymous web role included (PostgREST GET /rpc/health): states and counts only (counts stop at 10,001).';

-- A monitoring role (postgres_exporter's, a member of pg_monitor) reads
-- the metrics and nothing else of the API.
GRANT USAGE ON SCHEMA intracker, intracker_data TO pg_monitor;
GRANT SELECT ON intracker.metrics TO intracker_admin, pg_monitor;
GRANT EXECUTE ON FUNCTION intracker_data.metric_samples() TO intracker_admin, pg_monitor;
GRANT EXECUTE ON FUNCTION intracker.health() TO intracker_user, intracker_admin, pg_monitor;
