#!/usr/bin/env bash
# test/bench/counters_history.sh — do counter reads slow down as the
# counters' write history grows?  (issue 13, item 2)
#
#   sudo test/bench/counters_history.sh          # or as any non-root user
#
# (the extension installed first: make && sudo make install).  It starts its
# own throwaway cluster (test/bench/lib.sh), loads one hot project (8
# members, 5 features, BENCH_TODOS todos), and measures the reads that sum
# counters — a member_load read, the progress counters alone (the project's
# totals, its last 7 days, its features' progress: what team_dashboard and
# team_context read of them), team_context, claim_next_todo — three times:
#
#   fresh      after the load and a VACUUM
#   history    after BENCH_WRITES small transactions that each move one todo
#              to another member, state (a quarter of them to done or back)
#              and feature, so each rewrites member_load rows and the
#              project's, day's and features' counter rows, while one long
#              transaction stays open, so that no dead version of those rows
#              can be pruned
#   released   after the long transaction ends (no VACUUM)
#
# and prints history / fresh and released / fresh.  The counters' rows are
# versioned (a read finds each slot's newest generation first, whatever a
# long transaction pins).  team_context also reads todos, whose own
# versions the long transaction pins too: that part of its ratio is the
# data's history, not the counters'.  Target (issue 13): about 1 for the
# counters (reads independent of the write history).
#
# Environment: BENCH_TODOS (2000), BENCH_WRITES (5000), BENCH_CALLS (50), BENCH_PORT.
set -euo pipefail

BENCH_NAME=counters_history
. "$(dirname "$0")/lib.sh"

TODOS=${BENCH_TODOS:-2000}
WRITES=${BENCH_WRITES:-5000}
CALLS=${BENCH_CALLS:-50}

bench_start_cluster "${BENCH_PORT:-55791}"
sql -c 'CREATE EXTENSION intracker' >/dev/null
OWNER=$(sql -c "SELECT id FROM intracker.create_user('owner@example.com', 'Owner', 'human')")
PROJECT=$(sql -c "SELECT intracker.act_as('$OWNER')" -c "SELECT id FROM intracker.create_project('Hot')" | tail -n1)
sql -c "SELECT intracker.create_user('agent' || i || '@example.com', 'Agent ' || i, 'agent') FROM generate_series(1, 7) AS i" >/dev/null
sql -c "SELECT intracker.act_as('$OWNER')" \
	-c "SELECT intracker.add_member('$PROJECT', u.id, 'editor') FROM intracker.users u WHERE u.id <> '$OWNER'" \
	-c "SELECT intracker.create_feature('$PROJECT', 'Feature ' || i) FROM generate_series(1, 5) AS i" \
	-c "INSERT INTO intracker.todos (project_id, feature_id, title, estimate, assigned_to)
	    SELECT '$PROJECT', (SELECT array_agg(id) FROM intracker.features)[1 + i % 5], 'Todo ' || i, 1 + i % 3,
	           (SELECT array_agg(user_id ORDER BY user_id) FROM intracker.project_members)[1 + i % 8]
	      FROM generate_series(1, $TODOS) AS i" -c 'VACUUM ANALYZE' >/dev/null

bench_define_read_ms
# The progress counters as team_dashboard and team_context read them.
PROGRESS_READ="SELECT (SELECT todos_open FROM intracker_data.project_counts(''$PROJECT'')),
                      (SELECT sum(points_done) FROM intracker_data.project_daily_counts(''$PROJECT'', current_date - 6, current_date)),
                      (SELECT sum(c.todos_done) FROM intracker_data.features f CROSS JOIN LATERAL intracker_data.feature_counts(f.id) c
                        WHERE f.project_id = ''$PROJECT'')"
# The same sums over every row the snapshot sees: right (one live row per
# slot), but a scan that walks the versions a long transaction pins, as
# reads of the counters did when they were updated in place.
PLAIN_READ="SELECT (SELECT sum(todos_open) FROM intracker_data.project_stats WHERE project_id = ''$PROJECT''),
                   (SELECT sum(points_done) FROM intracker_data.project_daily_done
                     WHERE project_id = ''$PROJECT'' AND day > current_date - 7),
                   (SELECT sum(s.todos_done) FROM intracker_data.features f JOIN intracker_data.feature_stats s ON s.feature_id = f.id
                     WHERE f.project_id = ''$PROJECT'')"
reads() { # -> "load progress plain team claim" (ms, each the median of 5 means of CALLS calls)
	PGOPTIONS="-c intracker.acting_user=$OWNER" sql -F ' ' -c "SELECT
	    round(public.bench_read_ms('SELECT * FROM intracker.member_load WHERE project_id = ''$PROJECT''', $CALLS)::numeric, 3),
	    round(public.bench_read_ms('$PROGRESS_READ', $CALLS)::numeric, 3),
	    round(public.bench_read_ms('$PLAIN_READ', $CALLS)::numeric, 3),
	    round(public.bench_read_ms('SELECT intracker.team_context(''$PROJECT'')', $CALLS)::numeric, 3),
	    round(public.bench_read_ms('SELECT * FROM intracker.claim_next_todo(''$PROJECT'')', $CALLS)::numeric, 3)"
}

fresh=$(reads)

bench_begin_long_transaction intracker_data.member_load

# The small transactions: move a random todo to another member, state and
# feature.
cat >"$BENCH_TMP/write.sql" <<-SQL
\set n random(1, $TODOS)
\set r random(0, 999)
UPDATE intracker_data.todos SET assigned_to = (SELECT user_id FROM intracker_data.project_members
                                                WHERE project_id = '$PROJECT' ORDER BY user_id OFFSET :n % 8 LIMIT 1),
       status = (ARRAY['todo', 'in_progress', 'review', 'done'])[1 + :r % 4],
       feature_id = (SELECT id FROM intracker_data.features WHERE project_id = '$PROJECT' ORDER BY id OFFSET :r % 5 LIMIT 1)
 WHERE id = (SELECT id FROM intracker_data.todos WHERE project_id = '$PROJECT' ORDER BY id OFFSET :n - 1 LIMIT 1);
SQL
PGOPTIONS="-c intracker.acting_user=$OWNER" pgbench -n -M prepared -U postgres -t "$WRITES" -f "$BENCH_TMP/write.sql" \
	>"$BENCH_TMP/pgbench.out" 2>&1 || { cat "$BENCH_TMP/pgbench.out"; bench_die "pgbench failed"; }
history=$(reads)

bench_end_long_transaction
released=$(reads)

echo "counter reads vs the counters' write history  ($(bench_machine))"
echo "  one project of 8 members and $TODOS todos; $WRITES single-todo transactions; reads: median of 5 means of $CALLS calls (ms)"
row() { printf '  %-10s %12s %18s %12s %14s %16s\n' "$@"; }
row state member_load 'progress counters' 'plain sums' team_context claim_next_todo
read -r -a f <<<"$fresh"
read -r -a h <<<"$history"
read -r -a r <<<"$released"
row fresh "${f[@]}"
row history "${h[@]}"
row released "${r[@]}"
echo "  => with $WRITES writes behind a long transaction / fresh: member_load $(ratio "${h[0]}" "${f[0]}")x, progress counters $(ratio "${h[1]}" "${f[1]}")x (target about 1; plain sums of the same rows $(ratio "${h[2]}" "${f[2]}")x); team_context $(ratio "${h[3]}" "${f[3]}")x, claim_next_todo $(ratio "${h[4]}" "${f[4]}")x (they read todos too)"
echo "  => after the long transaction ended (no VACUUM) / fresh: member_load $(ratio "${r[0]}" "${f[0]}")x, progress counters $(ratio "${r[1]}" "${f[1]}")x, plain sums $(ratio "${r[2]}" "${f[2]}")x, team_context $(ratio "${r[3]}" "${f[3]}")x, claim_next_todo $(ratio "${r[4]}" "${f[4]}")x"
echo "  => progress counters / plain sums: fresh $(ratio "${f[1]}" "${f[2]}")x, behind the long transaction $(ratio "${h[1]}" "${h[2]}")x"
drift=$(sql -c 'SELECT count(*) FROM intracker.verify_counters()')
echo "  intracker.verify_counters(): $drift drifted counters"
[[ $drift == 0 ]] || exit 1
