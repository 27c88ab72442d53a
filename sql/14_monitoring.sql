--
-- Operations (0.6): the metrics a monitoring role reads, health() that
-- anyone may ask.  (This database is not the one the worker serves.)  The
-- rules in depth: test/pgtap/monitoring.sql; the exporter, the alert rules,
-- a counter check: test/t/030_monitoring.pl.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
SET ROLE pg_monitor;
SELECT name, type, labels FROM intracker.metrics ORDER BY name, labels::text;
SELECT value AS publisher_up FROM intracker.metrics WHERE name = 'intracker_publisher_up';
RESET ROLE;
SET ROLE regress_plain;
SELECT * FROM regress.try($$SELECT count(*) FROM intracker.metrics$$);
SELECT jsonb_pretty(intracker.health());
RESET ROLE;
