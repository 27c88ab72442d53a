#!/usr/bin/env bash
# test/bench/assignment.sh — what automatic assignment and claim_next_todo cost (issue 3).
#
# Run it where the extension is installed (`make && sudo make install`):
#
#   sudo test/bench/assignment.sh        # or as any non-root user
#
# It starts its own throwaway cluster (test/bench/lib.sh: unix socket only, in
# a temp dir, shared_preload_libraries = 'intracker', fsync / synchronous_commit
# / autovacuum off; as root the server runs as the user intracker_test), loads
# the data of assignment_setup.sql, measures, and removes the cluster however
# it exits.  It takes about a minute and a half.
#
# It prints, from one run:
#
#  1. Auto-assign throughput: pgbench -M prepared -c 8 -j 2, each transaction
#     SELECT intracker.assign_todo(<random todo>) with no assignee (automatic),
#     as the owner.  Automatic assignment is serialised per project (an
#     advisory lock held to commit), so the same load is run on one project
#     and spread over four (each transaction picks a random project): the
#     second is faster only if the lock really is per project.  Runs alternate
#     one / four, one / four, ... so that drift hits both.
#  2. claim_next_todo per call at 1,000 versus 100,000 todos in the project
#     (target: ratio <= 1.2).
#     2b. The same after "triage": every unassigned critical or high todo of
#     both projects gets an assignee, so the todos claim order puts first are
#     ones the caller may not take.  Same target; this is the case that shows
#     whether the claim's index walk depends on the project's size.
#  3. assign_todo (automatic) per call at 1,000 versus 100,000 todos (target:
#     ratio <= 1.2).
#  (2 runs before 3 because 3 commits assignments, which would use up the
#  small project's claimable todos; 2 leaves the data as it found it.)
#
# Method
#  - Data (assignment_setup.sql): two measured projects, 'small' (BENCH_SMALL
#    todos) and 'large' (BENCH_LARGE), in the same database with the same 14
#    members (11 eligible for auto-assignment) and the same realistic mix:
#    most todos done, all but unstarted ones assigned, many blocked by open
#    todos, features in progress, due dates.  Plus four 'throughput' projects
#    of BENCH_TP_TODOS todos for part 1.  Loaded with INSERT ... SELECT
#    straight into intracker_data tables, so the extension's triggers keep the
#    counters; intracker.verify_counters() must come back empty after loading
#    and again at the end, or the script stops / fails.
#  - Per-call cost: pgbench -c 1 (no lock waits, no CPU sharing between
#    clients), both sizes in ONE run: the 1k and the 100k script with equal
#    weight, pgbench choosing one at random for each transaction, so both
#    sizes share the same seconds: A B A B alternation taken to its limit, as
#    in version_check.sh.  Every transaction is logged (-l); per round the
#    median latency of each size and their ratio; the verdict is the median
#    over BENCH_ROUNDS rounds of the per-round ratio.  "drift" is the mean
#    latency of the last quarter of a round over that of its first quarter:
#    about 1.0 unless a call gets slower as the round goes on (dead tuples).
#  - One short warm-up run per part, not counted.  VACUUM before every run so
#    each starts from the same table state (autovacuum is off).
#  - Identity: pgbench connects as superuser with
#    PGOPTIONS='-c intracker.acting_user=<uuid>' (the GUC that act_as() sets;
#    superusers may set it directly), so no act_as() call per transaction.
#    Superusers bypass RLS; the functions still check the caller's role.
#  - Each latency includes the client round trips (and for claim the BEGIN and
#    ROLLBACK), the same for both sizes; this dilutes a ratio a little.
#  - Any failed or aborted pgbench transaction makes the script exit 1, and so
#    does a call that did not do its job (assign_todo leaving a todo
#    unassigned, claim_next_todo returning nothing or the caller's todo in
#    progress: the scripts \gset the result with a WHERE that makes such a
#    call return no row, which pgbench counts as an error).  Missing a target
#    is reported, not an error (timings are not assertions).
#
# Environment (defaults in brackets):
#   BENCH_ROUNDS [5]  BENCH_SECONDS [3]        rounds and seconds per round, parts 2 and 3
#   BENCH_TP_ROUNDS [3]  BENCH_TP_SECONDS [4]  runs per arm and seconds per run, part 1
#   BENCH_WARMUP_SECONDS [2]
#   BENCH_SMALL [1000]  BENCH_LARGE [100000]  BENCH_TP_TODOS [2000]
#   BENCH_EXTRA_SQL [none]  a SQL file run as superuser after loading, before measuring:
#                           to try a fix (say, an index) without rebuilding the extension
#   BENCH_PORT [55751]  PG_CONFIG [/usr/lib/postgresql/15/bin/pg_config]  KEEP_BENCH=1 keeps the temp dir
set -euo pipefail

BENCH_NAME=assignment
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
SECONDS_PER_RUN=${BENCH_SECONDS:-3}
TP_ROUNDS=${BENCH_TP_ROUNDS:-3}
TP_SECONDS=${BENCH_TP_SECONDS:-4}
WARMUP=${BENCH_WARMUP_SECONDS:-2}
SMALL=${BENCH_SMALL:-1000}
LARGE=${BENCH_LARGE:-100000}
TP_TODOS=${BENCH_TP_TODOS:-2000}
PORT=${BENCH_PORT:-55751}
TP_CLIENTS=8
TP_JOBS=2
# Fixed user ids of assignment_setup.sql.
OWNER=00000000-0000-4000-8000-00000000b000
CLAIMER=00000000-0000-4000-8000-00000000b00d
TARGET=1.2
(( LARGE <= 500000 && SMALL <= 500000 && TP_TODOS <= 500000 )) ||
	bench_die "at most 500000 todos per project (todo and feature numbers share a 1,000,000 range)"

bench_start_cluster "$PORT"
TMP=$BENCH_TMP

# --- data ----------------------------------------------------------------------

t0=$(date +%s.%N)
sql -v small="$SMALL" -v large="$LARGE" -v throughput_todos="$TP_TODOS" -f "$HERE/assignment_setup.sql" ||
	bench_die "setting up the bench data failed (error above)"
for project in 'throughput 1' 'throughput 2' 'throughput 3' 'throughput 4' small large; do
	sql -c "SELECT bench.load('$project')" >/dev/null || bench_die "loading project '$project' failed (error above)"
done
t1=$(date +%s.%N)
drift=$(sql -F ' | ' -c 'SELECT * FROM intracker.verify_counters()')
if [[ -n $drift ]]; then
	echo "$drift" | head -n 20 >&2
	bench_die "intracker.verify_counters() found drifted counters after loading (above: counter | project | entity | stored | actual)"
fi
t2=$(date +%s.%N)
if [[ -n ${BENCH_EXTRA_SQL:-} ]]; then
	sql -f "$BENCH_EXTRA_SQL" >/dev/null || bench_die "BENCH_EXTRA_SQL $BENCH_EXTRA_SQL failed (error above)"
fi
sql -c 'VACUUM ANALYZE'

project_id() { sql -c "SELECT id FROM bench.projects WHERE name = '$1'"; }
project_base() { sql -c "SELECT base FROM bench.projects WHERE name = '$1'"; }
SMALL_ID=$(project_id small) SMALL_BASE=$(project_base small)
LARGE_ID=$(project_id large) LARGE_BASE=$(project_base large)
TP_BASE=$(project_base 'throughput 1')   # throughput k has base k * TP_BASE
[[ $(project_base 'throughput 4') == $((4 * TP_BASE)) ]] || bench_die "unexpected project bases"

# claimable PROJECT_ID: todos claim-bot could claim (unassigned or its own,
# 'todo', no open blocker) and, of the todos claim order puts first, how many
# it must step over before the first of them (assigned to someone else).
claimable() {
	sql -F ' ' -c "
		WITH candidates AS (
			SELECT assigned_to IS NULL OR assigned_to = '$CLAIMER' AS mine,
			       row_number() OVER (ORDER BY priority_rank DESC, feature_active DESC, open_dependent_count DESC,
			                                   due_date ASC NULLS LAST, created_at, id) AS pos
			  FROM intracker_data.todos
			 WHERE project_id = '$1' AND status = 'todo' AND open_blocker_count = 0)
		SELECT count(*) FILTER (WHERE mine), coalesce(min(pos) FILTER (WHERE mine) - 1, count(*)) FROM candidates"
}

# What the measured projects hold (printed in the header).
read -r small_total small_open small_claimable small_blocked < <(sql -F ' ' -c "
	SELECT count(*), count(*) FILTER (WHERE status NOT IN ('done', 'cancelled')),
	       count(*) FILTER (WHERE status = 'todo' AND open_blocker_count = 0 AND assigned_to IS NULL),
	       count(*) FILTER (WHERE open_blocker_count > 0)
	  FROM intracker_data.todos WHERE project_id = '$SMALL_ID'")
read -r large_total large_open large_claimable large_blocked < <(sql -F ' ' -c "
	SELECT count(*), count(*) FILTER (WHERE status NOT IN ('done', 'cancelled')),
	       count(*) FILTER (WHERE status = 'todo' AND open_blocker_count = 0 AND assigned_to IS NULL),
	       count(*) FILTER (WHERE open_blocker_count > 0)
	  FROM intracker_data.todos WHERE project_id = '$LARGE_ID'")
eligible=$(sql -c "
	SELECT count(*) FROM intracker.member_load l JOIN intracker_data.users u ON u.id = l.user_id
	 WHERE l.project_id = '$LARGE_ID' AND l.role IN ('owner', 'editor') AND l.available AND u.is_active
	   AND coalesce(l.capacity, 1) > 0")
members=$(sql -c "SELECT count(*) FROM intracker_data.project_members WHERE project_id = '$LARGE_ID'")

# --- pgbench scripts -------------------------------------------------------------
# Todo number n of a project has id lpad(to_hex(base + n), 32, '0')::uuid.

# Part 1: a random todo (any status: auto-assigning an assigned or finished
# todo is a valid call) of throughput project 1, or of a random one of the four.
cat >"$TMP/tp_one.sql" <<EOF
\set n $TP_BASE + random(1, $TP_TODOS)
SELECT assigned_to AS assignee FROM intracker.assign_todo(lpad(to_hex(:n::integer), 32, '0')::uuid) WHERE assigned_to IS NOT NULL \gset
EOF
cat >"$TMP/tp_four.sql" <<EOF
\set n random(1, 4) * $TP_BASE + random(1, $TP_TODOS)
SELECT assigned_to AS assignee FROM intracker.assign_todo(lpad(to_hex(:n::integer), 32, '0')::uuid) WHERE assigned_to IS NOT NULL \gset
EOF

# Part 2: claim, then ROLLBACK.  Why not claim and then finish the todo
# (set_todo_status done) so that the next call claims another?  Because that
# changes what is measured as the run goes on: the small project has only
# about 60 claimable todos, all used up within a fraction of a second, after
# which the calls would measure "nothing to claim" (or, with todos to spare,
# each size would be measured on a different, shrinking set).  With ROLLBACK
# every call finds the same table, the same best candidate behind the same
# noise (todos assigned to others, blocked, done) in both sizes, and still
# does all the work of a claim: the identity and role checks, the "already
# in progress?" check, the index walk in claim order with FOR UPDATE SKIP
# LOCKED, the UPDATE to assigned + in_progress with all its triggers
# (version, blocker gate, member_load, completion) and the read of the result
# through the view.  Only the commit is left out, a cost that does not depend
# on the project's size.  What ROLLBACK does leave behind is one dead row
# version per call (with its index entries) until the next VACUUM, as a
# committed claim-and-finish would; "drift" shows whether calls pay for them.
for size in small large; do
	[[ $size == small ]] && id=$SMALL_ID || id=$LARGE_ID
	cat >"$TMP/claim_$size.sql" <<EOF
BEGIN;
SELECT id AS claimed FROM intracker.claim_next_todo('$id') WHERE claim_reason NOT LIKE 'already in progress%' \gset
ROLLBACK;
EOF
done

# Part 3: a random todo of the project, committed (the real operation; the
# loads stay balanced because every call moves a todo to the least loaded).
for size in small large; do
	[[ $size == small ]] && base=$SMALL_BASE todos=$SMALL || base=$LARGE_BASE todos=$LARGE
	cat >"$TMP/assign_$size.sql" <<EOF
\set n $base + random(1, $todos)
SELECT assigned_to AS assignee FROM intracker.assign_todo(lpad(to_hex(:n::integer), 32, '0')::uuid) WHERE assigned_to IS NOT NULL \gset
EOF
done

# --- running ---------------------------------------------------------------------

# run_pgbench ACTING_USER PGBENCH_ARGS...: one pgbench run after a VACUUM;
# sets PGBENCH_OUT; exits 1 if any transaction failed or a client aborted.
run_pgbench() {
	local user=$1 rc=0 failed
	shift
	sql -c 'VACUUM intracker_data.todos, intracker_data.member_load, intracker_data.project_members'
	PGBENCH_OUT=$(PGOPTIONS="-c intracker.acting_user=$user" pgbench -n -M prepared -U postgres "$@" 2>&1) || rc=$?
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$PGBENCH_OUT" | head -n1)
	if (( rc != 0 )) || [[ ${failed:-1} != 0 ]] || grep -q 'aborted' <<<"$PGBENCH_OUT" ||
		! grep -q '^tps = ' <<<"$PGBENCH_OUT"; then
		echo "pgbench $* failed (exit $rc, failed transactions: ${failed:-?}):" >&2
		grep -E 'ERROR|DETAIL|HINT|aborted|failed|expected one row' <<<"$PGBENCH_OUT" | sort | uniq -c | sort -rn | head -n 8 >&2
		echo "$BENCH_NAME: stopping, the numbers of a failing run would mean nothing" >&2
		exit 1
	fi
}

# tp_run SCRIPT SECONDS: sets TPS.
tp_run() {
	run_pgbench "$OWNER" -c "$TP_CLIENTS" -j "$TP_JOBS" -T "$2" -f "$1"
	TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$PGBENCH_OUT")
}

# pair_run USER SCRIPT_SMALL SCRIPT_LARGE SECONDS: one pgbench -c 1 run of
# both scripts interleaved.  Sets, per size (S, L): P50_x (median latency,
# microseconds), MEAN_x, N_x (transactions), DRIFT_x (mean of the last quarter
# of the run / mean of the first quarter).
pair_run() {
	local log
	rm -rf "$TMP/log" && mkdir "$TMP/log"
	run_pgbench "$1" -c 1 -T "$4" -l --log-prefix="$TMP/log/tx" -f "$2@1" -f "$3@1"
	log=$TMP/log/all
	cat "$TMP"/log/tx.* >"$log"
	# Log line: client_id transaction_no latency_us script_no epoch epoch_us
	read -r MEAN_S N_S DRIFT_S MEAN_L N_L DRIFT_L < <(awk '
		NR == FNR { if ($2 + 1 > total) total = $2 + 1; next }
		{
			sum[$4] += $3; n[$4]++
			if ($2 < total / 4) { first[$4] += $3; nfirst[$4]++ }
			else if ($2 >= total * 3 / 4) { last[$4] += $3; nlast[$4]++ }
		}
		END {
			for (s = 0; s < 2; s++)
				printf "%.1f %d %.2f ", sum[s] / n[s], n[s], (last[s] / nlast[s]) / (first[s] / nfirst[s])
			print ""
		}' "$log" "$log")
	P50_S=$(awk '$4 == 0 { print $3 }' "$log" | median)
	P50_L=$(awk '$4 == 1 { print $3 }' "$log" | median)
}

verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 <= t + 0 ? "met" : "MISSED") }'; }

# compare_sizes LABEL USER SCRIPT_SMALL SCRIPT_LARGE: warm-up plus ROUNDS
# rounds; prints a table; sets SIZE_P50_S, SIZE_P50_L, SIZE_RATIO (medians
# over rounds) and SIZE_MEAN_RATIO.
compare_sizes() {
	local r ps="" pl="" ratios="" mratios="" rt mr
	pair_run "$2" "$3" "$4" "$WARMUP"
	printf '  %-6s %10s %10s %7s   %10s %10s %7s   %13s   %s\n' round "p50 ${SMALL_K}" "p50 ${LARGE_K}" ratio \
		"mean ${SMALL_K}" "mean ${LARGE_K}" ratio "drift ${SMALL_K}/${LARGE_K}" "calls ${SMALL_K}/${LARGE_K}"
	for ((r = 1; r <= ROUNDS; r++)); do
		pair_run "$2" "$3" "$4" "$SECONDS_PER_RUN"
		rt=$(ratio "$P50_L" "$P50_S")
		mr=$(ratio "$MEAN_L" "$MEAN_S")
		printf '  %-6s %7.0f us %7.0f us %7s   %7.0f us %7.0f us %7s   %6s / %-6s   %s\n' "$r" "$P50_S" "$P50_L" "$rt" \
			"$MEAN_S" "$MEAN_L" "$mr" "$DRIFT_S" "$DRIFT_L" "$N_S/$N_L"
		ps+="$P50_S"$'\n' pl+="$P50_L"$'\n' ratios+="$rt"$'\n' mratios+="$mr"$'\n'
	done
	SIZE_P50_S=$(printf '%s' "$ps" | median)
	SIZE_P50_L=$(printf '%s' "$pl" | median)
	SIZE_RATIO=$(printf '%s' "$ratios" | median | xargs printf '%.2f')
	SIZE_MEAN_RATIO=$(printf '%s' "$mratios" | median | xargs printf '%.2f')
	printf '  %-6s %7.0f us %7.0f us %7s   %31s   (ratio range %s)\n' median "$SIZE_P50_S" "$SIZE_P50_L" "$SIZE_RATIO" \
		"mean ratio $SIZE_MEAN_RATIO" "$(printf '%s' "$ratios" | sort -g | sed -n '1p;$p' | paste -sd ' ' | sed 's/ / .. /')"
	echo "  => $1: $LARGE_K/$SMALL_K = $SIZE_RATIO (target <= $TARGET: $(verdict "$SIZE_RATIO" "$TARGET"))"
}

kilo() { awk -v n="$1" 'BEGIN { if (n % 1000 == 0) printf "%dk", n / 1000; else print n }'; }
SMALL_K=$(kilo "$SMALL")
LARGE_K=$(kilo "$LARGE")

# --- report ----------------------------------------------------------------------

server_version=$(sql -c 'SHOW server_version')
echo "intracker assignment benchmark"
echo "  machine:    $(bench_machine)"
echo "  server:     PostgreSQL $server_version (throwaway cluster; fsync, synchronous_commit, autovacuum off)"
echo "  extension:  intracker $(sql -c "SELECT extversion FROM pg_extension WHERE extname = 'intracker'")"
printf '  data:       loaded in %.1f s; intracker.verify_counters() after loading: no drift (%.1f s)\n' \
	"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')"
echo "              every project: $members members, $eligible eligible for auto-assignment"
echo "              'small': $small_total todos, $small_open open, $small_blocked blocked by open todos, $small_claimable claimable (unassigned, unblocked, 'todo')"
echo "              'large': $large_total todos, $large_open open, $large_blocked blocked by open todos, $large_claimable claimable"
echo "              4 'throughput' projects of $TP_TODOS todos each (same mix)"
[[ -z ${BENCH_EXTRA_SQL:-} ]] || echo "  what-if:    ran $BENCH_EXTRA_SQL after loading (not part of the extension)"
echo

echo "1. Auto-assign throughput: SELECT intracker.assign_todo(<random todo>) as the owner,"
echo "   pgbench -M prepared -c $TP_CLIENTS -j $TP_JOBS -T $TP_SECONDS; runs alternate between the two arms"
echo "   A: all clients in one project   B: each transaction in a random one of four projects"
tp_run "$TMP/tp_one.sql" "$WARMUP"
tp_run "$TMP/tp_four.sql" "$WARMUP"
printf '  %-6s %18s %18s %7s\n' run "A: one project" "B: four projects" "B/A"
tps_a="" tps_b="" tp_ratios=""
for ((r = 1; r <= TP_ROUNDS; r++)); do
	tp_run "$TMP/tp_one.sql" "$TP_SECONDS"
	a=$TPS
	tp_run "$TMP/tp_four.sql" "$TP_SECONDS"
	b=$TPS
	printf '  %-6s %14.0f tps %14.0f tps %7s   (0 failed)\n' "$r" "$a" "$b" "$(ratio "$b" "$a")"
	tps_a+="$a"$'\n' tps_b+="$b"$'\n' tp_ratios+="$(ratio "$b" "$a")"$'\n'
done
TP_A=$(printf '%s' "$tps_a" | median)
TP_B=$(printf '%s' "$tps_b" | median)
TP_RATIO=$(printf '%s' "$tp_ratios" | median | xargs printf '%.2f')
printf '  %-6s %14.0f tps %14.0f tps %7s\n' median "$TP_A" "$TP_B" "$TP_RATIO"
echo "  => spreading the load over four projects: ${TP_RATIO}x the throughput of one project"
echo

read -r small_claimable small_skip < <(claimable "$SMALL_ID")
read -r large_claimable large_skip < <(claimable "$LARGE_ID")
echo "2. claim_next_todo per call, $SMALL_K vs $LARGE_K todos in the project, as claim-bot (agent editor):"
echo "   BEGIN; SELECT ... FROM intracker.claim_next_todo(<project>); ROLLBACK;"
echo "   assignees independent of priority: claim order reaches the first of claim-bot's $small_claimable / $large_claimable"
echo "   claimable todos after stepping over $small_skip ($SMALL_K) / $large_skip ($LARGE_K) todos assigned to others"
echo "   pgbench -M prepared -c 1 -T $SECONDS_PER_RUN, both sizes interleaved in each run, $ROUNDS rounds"
compare_sizes "claim_next_todo" "$CLAIMER" "$TMP/claim_small.sql" "$TMP/claim_large.sql"
CLAIM_P50_S=$SIZE_P50_S CLAIM_P50_L=$SIZE_P50_L CLAIM_RATIO=$SIZE_RATIO CLAIM_MEAN_RATIO=$SIZE_MEAN_RATIO
# ROLLBACK left the data as it was: claim-bot holds nothing in progress.
in_progress=$(sql -c "SELECT count(*) FROM intracker_data.todos WHERE assigned_to = '$CLAIMER' AND status = 'in_progress'")
[[ $in_progress == 0 ]] || bench_die "claim-bot has $in_progress todos in progress after the claim runs; ROLLBACK did not undo them?"
echo

read -r triaged_small < <(sql -c "SELECT bench.triage('small')")
read -r triaged_large < <(sql -c "SELECT bench.triage('large')")
sql -c 'VACUUM ANALYZE intracker_data.todos'
read -r small_claimable small_skip < <(claimable "$SMALL_ID")
read -r large_claimable large_skip < <(claimable "$LARGE_ID")
echo "2b. The same after triage: every unassigned critical or high todo now has an assignee ($triaged_small in 'small'," \
	"$triaged_large in 'large'),"
echo "   so claim order starts with todos claim-bot may not take: it steps over $small_skip ($SMALL_K) and $large_skip ($LARGE_K)"
echo "   before the first of its $small_claimable / $large_claimable claimable todos"
compare_sizes "claim_next_todo after triage" "$CLAIMER" "$TMP/claim_small.sql" "$TMP/claim_large.sql"
TRIAGE_P50_S=$SIZE_P50_S TRIAGE_P50_L=$SIZE_P50_L TRIAGE_RATIO=$SIZE_RATIO TRIAGE_MEAN_RATIO=$SIZE_MEAN_RATIO
echo

echo "3. Automatic assign_todo per call, $SMALL_K vs $LARGE_K todos in the project, as the owner:"
echo "   SELECT intracker.assign_todo(<random todo of the project>)   (committed)"
echo "   pgbench -M prepared -c 1 -T $SECONDS_PER_RUN, both sizes interleaved in each run, $ROUNDS rounds"
compare_sizes "assign_todo" "$OWNER" "$TMP/assign_small.sql" "$TMP/assign_large.sql"
ASSIGN_P50_S=$SIZE_P50_S ASSIGN_P50_L=$SIZE_P50_L ASSIGN_RATIO=$SIZE_RATIO ASSIGN_MEAN_RATIO=$SIZE_MEAN_RATIO
echo

# The counters survived thousands of concurrent and serial reassignments.
drift=$(sql -F ' | ' -c 'SELECT * FROM intracker.verify_counters()')
if [[ -n $drift ]]; then
	echo "$drift" | head -n 20 >&2
	echo "$BENCH_NAME: intracker.verify_counters() found drifted counters after the runs (above)" >&2
	exit 1
fi

echo "Summary ($(nproc) CPUs, PostgreSQL $server_version; latencies are medians, us per call incl. round trips)"
printf '  %-40s %14s %14s %7s   %-10s %s\n' measure "$SMALL_K / A" "$LARGE_K / B" ratio target verdict
printf '  %-40s %10.0f tps %10.0f tps %7s   %-10s %s\n' "auto-assign throughput, $TP_CLIENTS clients" "$TP_A" "$TP_B" "$TP_RATIO" \
	"> 1" "$(awk -v r="$TP_RATIO" 'BEGIN { print (r > 1 ? "lock is per project" : "NOT per project?") }')"
printf '  %-40s %11.0f us %11.0f us %7s   %-10s %s\n' "assign_todo (automatic) per call" "$ASSIGN_P50_S" "$ASSIGN_P50_L" \
	"$ASSIGN_RATIO" "<= $TARGET" "$(verdict "$ASSIGN_RATIO" "$TARGET")  (mean ratio $ASSIGN_MEAN_RATIO)"
printf '  %-40s %11.0f us %11.0f us %7s   %-10s %s\n' "claim_next_todo per call" "$CLAIM_P50_S" "$CLAIM_P50_L" \
	"$CLAIM_RATIO" "<= $TARGET" "$(verdict "$CLAIM_RATIO" "$TARGET")  (mean ratio $CLAIM_MEAN_RATIO)"
printf '  %-40s %11.0f us %11.0f us %7s   %-10s %s\n' "claim_next_todo per call, after triage" "$TRIAGE_P50_S" "$TRIAGE_P50_L" \
	"$TRIAGE_RATIO" "<= $TARGET" "$(verdict "$TRIAGE_RATIO" "$TARGET")  (mean ratio $TRIAGE_MEAN_RATIO)"
echo "  A: one project, B: four projects (throughput); $SMALL_K / $LARGE_K: todos in the project (per call)"
echo "  pgbench: no failed transactions in any run; intracker.verify_counters(): no drift after loading and after all runs"
