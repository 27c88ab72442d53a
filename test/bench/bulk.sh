#!/usr/bin/env bash
# test/bench/bulk.sh — a team importing its backlog: bulk writes of todos,
# and what reading costs right after them (issue 13).
#
#   sudo test/bench/bulk.sh          # or as any non-root user
#
# (the extension installed first: make && sudo make install).  It starts its
# own throwaway cluster (test/bench/lib.sh), and prints, from one run:
#
#  1. The time to insert BENCH_SMALL (10,000) and BENCH_LARGE (100,000) todos
#     into a project of 8 members and 20 features, in one
#     INSERT INTO intracker.todos SELECT … (PostgREST's bulk POST is the same
#     single statement), and the ratio large / small.  Target: <= 11x (linear:
#     10x).
#  2. The same through 1,000-row batches, each statement its own transaction.
#     (The small loads are timed three times, into new projects: the median.)
#  3. Right after each load, without VACUUM, the time of team_context,
#     resume_context, claim_next_todo (the agent's "what am I on": it claims
#     once, then answers the same todo) and a read of member_load, against
#     the same calls after VACUUM (each the median of 5 means of BENCH_CALLS
#     calls).  Target: <= 1.2x.
#
# The rows are what an import brings: a third done, the rest open; each
# assigned round robin to a member, in a feature, with an estimate.  The
# writes and reads run as a non-superuser login role in intracker_user,
# authenticated with an API token, through the API's views and functions,
# as a client would.
#
# Environment: BENCH_SMALL (10000), BENCH_LARGE (100000), BENCH_CALLS (50,
# per read and state), BENCH_PORT.
set -euo pipefail

BENCH_NAME=bulk
. "$(dirname "$0")/lib.sh"

SMALL=${BENCH_SMALL:-10000}
LARGE=${BENCH_LARGE:-100000}
CALLS=${BENCH_CALLS:-50}
BATCH=1000

bench_start_cluster "${BENCH_PORT:-55761}"
sql -c 'CREATE EXTENSION intracker' -c 'CREATE ROLE bench_api LOGIN IN ROLE intracker_user' >/dev/null

# The team: an owner and 7 agents; one project of theirs per load.
OWNER=$(sql -c "SELECT id FROM intracker.create_user('owner@example.com', 'Owner', 'human')")
sql -c "SELECT intracker.create_user('agent' || i || '@example.com', 'Agent ' || i, 'agent') FROM generate_series(1, 7) AS i" >/dev/null
TOKEN=$(sql -c "SELECT intracker.act_as('$OWNER')" -c "SELECT token FROM intracker.create_api_token('bench')" | tail -n1)

# api SQL...: psql as bench_api, authenticated as the owner with the token.
api() { psql -X -q -A -t -v ON_ERROR_STOP=1 -U bench_api -c "SELECT intracker.authenticate('$TOKEN')" "$@" | tail -n +2; }

new_project() { # NAME -> id: a project with the 8 members and 20 features
	local id
	id=$(api -c "SELECT id FROM intracker.create_project('$1')")
	api -c "SELECT intracker.add_member('$id', u.id, 'editor') FROM intracker.users u WHERE u.id <> '$OWNER'" \
		-c "SELECT intracker.create_feature('$id', 'Feature ' || i) FROM generate_series(1, 20) AS i" >/dev/null
	echo "$id"
}

# The INSERT of todos FIRST..LAST of a project (one statement).
insert_sql() { # PROJECT FIRST LAST
	cat <<-SQL
	INSERT INTO intracker.todos (project_id, feature_id, title, estimate, priority, status, assigned_to)
	SELECT '$1', f.ids[1 + i % 20], 'Imported todo ' || i, 1 + i % 5,
	       (ARRAY['low', 'medium', 'high'])[1 + i % 3],
	       CASE WHEN i % 3 = 0 THEN 'done' ELSE 'todo' END, m.ids[1 + i % 8]
	  FROM generate_series($2, $3) AS i,
	       (SELECT array_agg(id ORDER BY title) AS ids FROM intracker.features WHERE project_id = '$1') AS f,
	       (SELECT array_agg(user_id ORDER BY user_id) AS ids FROM intracker.project_members WHERE project_id = '$1') AS m;
	SQL
}

now_ms() { date +%s%3N; }

# load PROJECT ROWS MODE -> milliseconds (MODE: one | batches)
load() {
	local started script
	script=$BENCH_TMP/load.sql
	if [[ $3 == one ]]; then
		insert_sql "$1" 1 "$2" >"$script"
	else
		: >"$script"
		for ((first = 1; first <= $2; first += BATCH)); do insert_sql "$1" "$first" $((first + BATCH - 1)) >>"$script"; done
	fi
	started=$(now_ms)
	api -f "$script" >/dev/null
	echo $(($(now_ms) - started))
}

# The time (ms) of each read of a project, in one session: the median of
# READ_REPEATS means of CALLS calls, after one warm-up call (on a 2-CPU VM
# one mean moves by a third from run to run): "team resume claim load".
READ_REPEATS=5
bench_define_read_ms
reads() { # PROJECT
	api -F ' ' -c "SELECT round(public.bench_read_ms('SELECT intracker.team_context(''$1'')', $CALLS, $READ_REPEATS)::numeric, 3),
	                      round(public.bench_read_ms('SELECT intracker.resume_context(''$1'')', $CALLS, $READ_REPEATS)::numeric, 3),
	                      round(public.bench_read_ms('SELECT * FROM intracker.claim_next_todo(''$1'')', $CALLS, $READ_REPEATS)::numeric, 3),
	                      round(public.bench_read_ms('SELECT * FROM intracker.member_load WHERE project_id = ''$1''', $CALLS, $READ_REPEATS)::numeric, 3)"
}

verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t ? "met" : "MISSED") }'; }

echo "bulk writes of todos, then reads without and with VACUUM  ($(bench_machine))"
echo "  $SMALL and $LARGE todos, 8 members, 20 features; reads: median of $READ_REPEATS means of $CALLS calls (ms)"
echo
printf '  %-9s %-8s %10s   %-42s %-42s\n' load rows "insert ms" "reads before VACUUM (team resume claim load)" "after VACUUM"
declare -A took
worst_read=0
for mode in one batches; do
	for rows in "$SMALL" "$LARGE"; do
		project=$(new_project "$mode-$rows")
		took[$mode.$rows]=$(load "$project" "$rows" "$mode")
		if [[ $rows == "$SMALL" ]]; then
			# the small load is short, so noise weighs more on it: the median of three
			took[$mode.$rows]=$(printf '%s\n' "${took[$mode.$rows]}" \
				"$(load "$(new_project "$mode-$rows-b")" "$rows" "$mode")" \
				"$(load "$(new_project "$mode-$rows-c")" "$rows" "$mode")" | median | cut -d. -f1)
		fi
		before=$(reads "$project")
		sql -c 'VACUUM' >/dev/null
		after=$(reads "$project")
		printf '  %-9s %-8s %10s   %-42s %-42s\n' "$mode" "$rows" "${took[$mode.$rows]}" "$before" "$after"
		read -r -a b <<<"$before"
		read -r -a a <<<"$after"
		for i in 0 1 2 3; do
			r=$(ratio "${b[$i]}" "${a[$i]}")
			worst_read=$(awk -v x="$r" -v y="$worst_read" 'BEGIN { print (x > y ? x : y) }')
		done
	done
done
echo
for mode in one batches; do
	r=$(ratio "${took[$mode.$LARGE]}" "${took[$mode.$SMALL]}")
	label=$([[ $mode == one ]] && echo "one statement" || echo "$BATCH-row batches")
	echo "  => $label: $LARGE todos / $SMALL todos = ${r}x (target <= 11x: $(verdict "$r" 11))"
done
echo "  => reads right after a load / after VACUUM, worst of the 4 reads x 4 loads = ${worst_read}x (target <= 1.2x: $(verdict "$worst_read" 1.2))"
drift=$(sql -c 'SELECT count(*) FROM intracker.verify_counters()')
echo "  intracker.verify_counters(): $drift drifted counters"
[[ $drift == 0 ]] || exit 1
