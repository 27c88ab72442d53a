#!/usr/bin/env bash
# test/bench/monitoring.sh — the cost of a scrape (issue 17).
#
#   sudo test/bench/monitoring.sh          # or as any non-root user
#
# (the extension installed first: make && sudo make install).  It starts its
# own throwaway cluster (test/bench/lib.sh, the worker running) and prints,
# from one run, the time of reading intracker.metrics (as a pg_monitor role,
# as postgres_exporter does) and of intracker.health() (as an API role) with
# BENCH_SMALL todos (10,000) and then BENCH_LARGE (1,000,000), each the
# median of 5 means of BENCH_CALLS calls, and the ratios large / small.
# Target: <= 1.5x (a scrape every 15 s of a server with 1,000,000 todos
# costs under 10 ms).  The todos (and 5,000 recent deliveries, the same at
# both sizes) are loaded by the superuser with triggers off
# (session_replication_role = replica): the metrics read no todo.
#
# Environment: BENCH_SMALL (10000), BENCH_LARGE (1000000), BENCH_CALLS (50),
# BENCH_PORT.
set -euo pipefail

BENCH_NAME=monitoring
. "$(dirname "$0")/lib.sh"

SMALL=${BENCH_SMALL:-10000}
LARGE=${BENCH_LARGE:-1000000}
CALLS=${BENCH_CALLS:-50}

bench_start_cluster "${BENCH_PORT:-55791}"
sql >/dev/null <<'SQL'
CREATE EXTENSION intracker;
CREATE ROLE bench_monitor LOGIN IN ROLE pg_monitor;
CREATE ROLE bench_api LOGIN IN ROLE intracker_user;
SQL
bench_define_read_ms
OWNER=$(sql -c "SELECT id FROM intracker.create_user('owner@example.com', 'Owner')")
PROJECT=$(sql -c "SELECT intracker.act_as('$OWNER')" -c "SELECT id FROM intracker.create_project('Big')" | tail -n1)
TOKEN=$(sql -c "SELECT intracker.act_as('$OWNER')" -c "SELECT token FROM intracker.create_api_token('bench')" | tail -n1)

# A webhook's recent deliveries, as event_retention keeps them whatever the
# number of todos: 5,000 delivered.
sql >/dev/null <<SQL
SET session_replication_role = replica;
INSERT INTO intracker_data.deliveries (kind, queue_id, project_id, webhook_id, event_type, body, state, attempts,
                                       duration_ms, created_at, delivered_at)
SELECT 'webhook', w, '$PROJECT', w, 'todo.created', '{}', 'delivered', 1, 5 + n % 50, now() - n * interval '1 s', now()
  FROM generate_series(1, 5000) AS n, (SELECT gen_random_uuid() AS w) AS hook;
SQL

# load_up_to N: the project has N todos
loaded=0
load_up_to() {
	sql >/dev/null <<-SQL
	SET session_replication_role = replica;
	INSERT INTO intracker_data.todos (project_id, title, description, created_by)
	SELECT '$PROJECT', 'Todo ' || n, 'Imported todo number ' || n, '$OWNER' FROM generate_series($loaded + 1, $1) AS n;
	RESET session_replication_role;
	VACUUM ANALYZE;
	SQL
	loaded=$1
}
measure() { # -> "metrics health"
	echo "$(psql -X -q -A -t -U bench_monitor -c "SELECT round(public.bench_read_ms('SELECT count(*) FROM intracker.metrics', $CALLS)::numeric, 3)")" \
		"$(psql -X -q -A -t -U bench_api -c "SELECT intracker.authenticate('$TOKEN')" \
			-c "SELECT round(public.bench_read_ms('SELECT intracker.health()', $CALLS)::numeric, 3)" | tail -n1)"
}
verdict() { awk -v r="$1" 'BEGIN { print (r <= 1.5 ? "met" : "MISSED") }'; }

echo "reading intracker.metrics and intracker.health()  ($(bench_machine))"
echo "  median of 5 means of $CALLS calls (ms)"
echo
printf '  %-10s %-12s %s\n' todos metrics health
load_up_to "$SMALL"
read -r m_small h_small <<<"$(measure)"
printf '  %-10s %-12s %s\n' "$SMALL" "$m_small" "$h_small"
load_up_to "$LARGE"
read -r m_large h_large <<<"$(measure)"
printf '  %-10s %-12s %s\n' "$LARGE" "$m_large" "$h_large"
echo
r=$(ratio "$m_large" "$m_small")
echo "  => intracker.metrics at $LARGE / $SMALL todos = ${r}x (target <= 1.5x: $(verdict "$r")); a scrape: $m_large ms"
r=$(ratio "$h_large" "$h_small")
echo "  => intracker.health() at $LARGE / $SMALL todos = ${r}x (target <= 1.5x: $(verdict "$r"))"
