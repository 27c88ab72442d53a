#!/usr/bin/env bash
# test/bench/first_import.sh — the context reads right after a team's first
# large import, before anything analyzed the todos (issue 13).
#
#   sudo test/bench/first_import.sh          # or as any non-root user
#
# (the extension installed first: make && sudo make install).  A throwaway
# cluster (test/bench/lib.sh, autovacuum off) gets one project of 8 members
# and 20 features, then BENCH_TODOS todos in one INSERT into tables that were
# never analyzed, as on a new server.  It times team_context, resume_context
# and claim_next_todo right after the import, then after ANALYZE, and prints
# the ratios.  bulk.sh measures imports into analyzed tables; this is the
# case it does not see: without statistics, the planner may pick plans that
# read a member's whole history (on a default server, autovacuum analyzes
# the table a minute or so after the import; a statement that inserts
# 1,000 todos or more into a never-analyzed table analyzes it itself, see
# src/import_statistics.c).  Target: about 1.
#
# Environment: BENCH_TODOS (100000), BENCH_CALLS (50), BENCH_PORT.
set -euo pipefail

BENCH_NAME=first_import
. "$(dirname "$0")/lib.sh"

TODOS=${BENCH_TODOS:-100000}
CALLS=${BENCH_CALLS:-50}

bench_start_cluster "${BENCH_PORT:-55803}"
sql -c 'CREATE EXTENSION intracker' >/dev/null
OWNER=$(sql -c "SELECT id FROM intracker.create_user('owner@example.com', 'Owner', 'human')")
sql -c "SELECT intracker.create_user('agent' || i || '@example.com', 'Agent ' || i, 'agent') FROM generate_series(1, 7) AS i" >/dev/null
as_owner() { PGOPTIONS="-c intracker.acting_user=$OWNER" sql "$@"; }
PROJECT=$(as_owner -c "SELECT id FROM intracker.create_project('Imported')")
as_owner -c "SELECT intracker.add_member('$PROJECT', u.id, 'editor') FROM intracker.users u WHERE u.id <> '$OWNER'" \
	-c "SELECT intracker.create_feature('$PROJECT', 'Feature ' || i) FROM generate_series(1, 20) AS i" >/dev/null
as_owner -c "INSERT INTO intracker.todos (project_id, feature_id, title, estimate, priority, status, assigned_to)
	SELECT '$PROJECT', f.ids[1 + i % 20], 'Imported todo ' || i, 1 + i % 5, (ARRAY['low', 'medium', 'high'])[1 + i % 3],
	       CASE WHEN i % 3 = 0 THEN 'done' ELSE 'todo' END, m.ids[1 + i % 8]
	  FROM generate_series(1, $TODOS) AS i,
	       (SELECT array_agg(id ORDER BY title) AS ids FROM intracker.features WHERE project_id = '$PROJECT') AS f,
	       (SELECT array_agg(user_id ORDER BY user_id) AS ids FROM intracker.project_members WHERE project_id = '$PROJECT') AS m" >/dev/null

bench_define_read_ms
reads() { # -> "team resume claim" (ms); a new session each time, as a new client plans afresh
	as_owner -F ' ' -c "SELECT round(public.bench_read_ms('SELECT intracker.team_context(''$PROJECT'')', $CALLS)::numeric, 3),
	                           round(public.bench_read_ms('SELECT intracker.resume_context(''$PROJECT'')', $CALLS)::numeric, 3),
	                           round(public.bench_read_ms('SELECT * FROM intracker.claim_next_todo(''$PROJECT'')', $CALLS)::numeric, 3)"
}
imported=$(reads)
sql -c 'ANALYZE' >/dev/null
analyzed=$(reads)

read -r -a i <<<"$imported"
read -r -a a <<<"$analyzed"
echo "context reads after a first import of $TODOS todos into never-analyzed tables  ($(bench_machine))"
echo "  reads: median of 5 means of $CALLS calls (ms)"
printf '  %-16s %14s %16s %16s\n' state team_context resume_context claim_next_todo
printf '  %-16s %14s %16s %16s\n' 'right after' "${i[@]}"
printf '  %-16s %14s %16s %16s\n' 'after ANALYZE' "${a[@]}"
echo "  => right after / after ANALYZE: team_context $(ratio "${i[0]}" "${a[0]}")x, resume_context $(ratio "${i[1]}" "${a[1]}")x, claim_next_todo $(ratio "${i[2]}" "${a[2]}")x (target about 1)"
