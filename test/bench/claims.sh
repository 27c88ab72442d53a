#!/usr/bin/env bash
# test/bench/claims.sh — claim_next_todo against the queue design it must
# keep up with (issue 13).
#
#   sudo test/bench/claims.sh          # or as any non-root user
#
# (the extension installed first: make && sudo make install).  It starts its
# own throwaway cluster (test/bench/lib.sh), loads one project of 8 agents
# and BENCH_TODOS open, unassigned todos, and prints, from one run, the
# claims per second of 8 concurrent claimers (one pgbench per agent, acting
# as that agent through intracker.acting_user, as test/bench/assignment.sh
# does) for:
#
#   A: SELECT id FROM intracker.claim_next_todo(<project>)
#   B: a bare SKIP LOCKED dequeue on the same table and indexes, the design
#      of pgmq and Graphile Worker:
#      UPDATE intracker.todos SET assigned_to = <me>, status = 'in_progress'
#       WHERE id = (SELECT id FROM intracker.todos WHERE project_id = <p>
#                     AND status = 'todo' AND assigned_to IS NULL
#                   ORDER BY <claim order> FOR UPDATE SKIP LOCKED LIMIT 1)
#      RETURNING id
#
# Each transaction claims one todo and then puts it back in the queue (the
# same UPDATE in both arms), so that the queue keeps its size however long
# the run: an agent's loop of claim, work, let go, claim the next.  Rounds alternate the arms (BENCH_ROUNDS rounds of
# BENCH_SECONDS each per arm, after a warm-up); the verdict is the median of
# the per-round ratios A / B.  Target: >= 0.5.
#
# Environment: BENCH_TODOS (20000), BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_PORT.
set -euo pipefail

BENCH_NAME=claims
. "$(dirname "$0")/lib.sh"

TODOS=${BENCH_TODOS:-20000}
ROUNDS=${BENCH_ROUNDS:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
CLAIMERS=8

bench_start_cluster "${BENCH_PORT:-55771}" "max_connections = 50"
sql -c 'CREATE EXTENSION intracker' >/dev/null

OWNER=$(sql -c "SELECT id FROM intracker.create_user('owner@example.com', 'Owner', 'human')")
PROJECT=$(sql -c "SELECT intracker.act_as('$OWNER')" -c "SELECT id FROM intracker.create_project('Queue')" | tail -n1)
declare -a AGENT
for ((i = 0; i < CLAIMERS; i++)); do
	AGENT[i]=$(sql -c "SELECT id FROM intracker.create_user('agent$i@example.com', 'Agent $i', 'agent')")
	sql -c "SELECT intracker.act_as('$OWNER')" -c "SELECT intracker.add_member('$PROJECT', '${AGENT[i]}', 'editor')" >/dev/null
done
sql -c "SELECT intracker.act_as('$OWNER')" \
	-c "INSERT INTO intracker.todos (project_id, title, priority, estimate)
	    SELECT '$PROJECT', 'Queued ' || i, (ARRAY['low', 'medium', 'high', 'critical'])[1 + i % 4], 1 + i % 3
	      FROM generate_series(1, $TODOS) AS i" -c 'VACUUM ANALYZE' >/dev/null

ORDER="priority_rank DESC, feature_active DESC, open_dependent_count DESC, due_date ASC NULLS LAST, created_at, id"
script() { # ARM AGENT_INDEX -> a pgbench script
	if [[ $1 == A ]]; then
		echo "SELECT id AS claimed FROM intracker.claim_next_todo('$PROJECT') \\gset"
	else
		# the claim order's columns are internal: the dequeue reads the table
		echo "UPDATE intracker_data.todos SET assigned_to = '${AGENT[$2]}', status = 'in_progress'
 WHERE id = (SELECT id FROM intracker_data.todos WHERE project_id = '$PROJECT' AND status = 'todo'
               AND assigned_to IS NULL AND open_blocker_count = 0
             ORDER BY $ORDER FOR UPDATE SKIP LOCKED LIMIT 1)
 RETURNING id AS claimed \\gset"
	fi
	echo "UPDATE intracker.todos SET status = 'todo', assigned_to = NULL WHERE id = :claimed;"
}

# run ARM SECONDS -> claims per second of the 8 claimers together
run() {
	local i pids=() total=0 n
	for ((i = 0; i < CLAIMERS; i++)); do
		script "$1" "$i" >"$BENCH_TMP/$1.$i.sql"
		PGOPTIONS="-c intracker.acting_user=${AGENT[i]}" pgbench -n -M prepared -U postgres -T "$2" \
			-f "$BENCH_TMP/$1.$i.sql" >"$BENCH_TMP/$1.$i.out" 2>&1 &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do wait "$pid" || { cat "$BENCH_TMP"/*.out >&2; bench_die "pgbench failed"; }; done
	for ((i = 0; i < CLAIMERS; i++)); do
		n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$BENCH_TMP/$1.$i.out")
		total=$((total + n))
	done
	awk -v n="$total" -v s="$2" 'BEGIN { printf "%.0f", n / s }'
}

echo "claim_next_todo vs a bare SKIP LOCKED dequeue, $CLAIMERS concurrent claimers in one project of $TODOS todos  ($(bench_machine))"
echo "  each transaction: claim one todo, put it back; rounds of ${SECONDS_PER_RUN} s per arm, alternating"
echo
printf '  %-7s %20s %20s %8s\n' round "A: claim_next_todo" "B: SKIP LOCKED" ratio
ratios=()
for ((round = 0; round <= ROUNDS; round++)); do
	a=$(run A "$SECONDS_PER_RUN")
	b=$(run B "$SECONDS_PER_RUN")
	r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
	if ((round == 0)); then
		printf '  %-7s %16s /s %16s /s %8s\n' warm-up "$a" "$b" "$r"
		continue
	fi
	printf '  %-7s %16s /s %16s /s %8s\n' "$round" "$a" "$b" "$r"
	ratios+=("$r")
done
median_ratio=$(printf '%s\n' "${ratios[@]}" | median)
verdict=$(awk -v r="$median_ratio" 'BEGIN { print (r >= 0.5 ? "met" : "MISSED") }')
echo "  => claims/s claim_next_todo / SKIP LOCKED = $median_ratio (median of $ROUNDS rounds; target >= 0.5: $verdict)"
left=$(sql -c "SELECT count(*) FROM intracker_data.todos WHERE status = 'todo'")
echo "  todos in the queue at the end: $left of $TODOS"
drift=$(sql -c 'SELECT count(*) FROM intracker.verify_counters()')
echo "  intracker.verify_counters(): $drift drifted counters"
[[ $drift == 0 ]] || exit 1
