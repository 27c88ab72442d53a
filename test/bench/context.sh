#!/usr/bin/env bash
# test/bench/context.sh — what team_context and resume_context cost (issue 4).
#
# Run it where the extension is installed (`make && sudo make install`):
#
#   sudo test/bench/context.sh        # or as any non-root user
#
# It starts its own throwaway cluster (test/bench/lib.sh: unix socket only, in
# a temp dir, fsync / synchronous_commit / autovacuum off; as root the server
# runs as the user intracker_test), loads the data of context_setup.sql,
# measures, and removes the cluster however it exits.  About two and a half
# minutes.
#
# It prints, from one run:
#
#  -  The data: two projects with the same 50 members and the same mix,
#     'small' (10,000 todos, 2,000 sessions) and 'large' (100,000 todos,
#     20,000 sessions); see context_setup.sql for the mix.
#  0. Whether team_context returns at all at the configured
#     intracker.context_max_bytes (see "Hang guard" below).
#  1. The documents: size in bytes of team_context (at the configured
#     intracker.context_max_bytes and with the cap lifted), resume_context and
#     the naive query's document; checks that team_context's output is valid
#     JSON with the documented keys and no larger than context_max_bytes
#     (both as the compact serialization team_context measures and as the
#     jsonb text a client receives), and that the naive query computes the
#     same document as team_context with the cap lifted (all but
#     context_version, generated_at and "omitted"; nulls and missing keys
#     compare equal).
#  2. Per-call latency of seven arms, interleaved: team_context and
#     resume_context at 10k and 100k, the naive query (context_naive.sql) at
#     10k and 100k, and team_context with the byte cap lifted at 100k (the
#     same document as the naive query, so the like-for-like comparison).
#     Ratios: naive / team_context at 100k (target >= 20), team_context and
#     resume_context 100k / 10k (target <= 1.5 each); also naive 100k / 10k
#     and naive / uncapped team_context, for information.
#  3. Where the time of one team_context and one resume_context call at 100k
#     goes: pg_stat_statements over BENCH_BREAKDOWN_CALLS calls, planning and
#     execution of every statement the C code runs through SPI, and the rest
#     (parse and analysis of those statements, building and serializing the
#     JSON, jsonb_in).
#
# Method
#  - Identity and RLS: every measured call runs as intracker_bench, a
#    non-superuser LOGIN role in intracker_user whose identity is set by
#    ALTER ROLE ... SET intracker.acting_user (superuser only) to
#    "context-bot", an agent editor of both projects with open todos, a
#    current focus and sessions.  So RLS applies to team_context's own
#    queries and to the naive query's reads through the intracker.* views
#    alike, and no call pays for act_as().  (Superusers bypass RLS.)
#  - Per-call latency: pgbench -M prepared -c 1 (no CPU sharing between
#    clients), all seven scripts in ONE run, pgbench picking one at random
#    for each transaction by weight (the slow naive arms weight 1, the others
#    4, so that every arm gets enough samples), so all arms share the same
#    seconds: A B A B alternation taken to its limit, as in version_check.sh
#    and assignment.sh.  Every transaction is logged (-l); per round the
#    median latency of each arm and the ratios of those medians; the verdict
#    is the median over BENCH_ROUNDS rounds of each per-round ratio.  One
#    warm-up run, not counted.  Latencies include the client round trip and
#    the transfer of the document (pgbench reads and discards it).
#  - The naive query is the statement in context_naive.sql with the project
#    id written in as a literal: prepared once per connection and planned
#    for that very project, never again (team_context plans its statements
#    at every call).  It returns json, not jsonb.  Both favour the naive arm.
#  - The byte cap is lifted with set_config(..., is_local => true) in the
#    same statement, so it applies to that call only.
#  - Hang guard: team_context is first called once per project with a
#    BENCH_HANG_SECONDS client-side timeout.  If it does not return (an
#    early 0.3 looped forever in its trimming loop, which did not check for
#    interrupts, so neither statement_timeout nor pg_cancel_backend ended
#    it), the cluster is
#    restarted with an immediate shutdown, the failure is reported, and the
#    run goes on with intracker.context_max_bytes raised to
#    BENCH_FALLBACK_MAX_BYTES for the bench role, so that the other numbers
#    still come out.  The exit status is then 1.
#  - Data: loaded with INSERT ... SELECT straight into the intracker_data
#    tables (context_setup.sql), so the extension's triggers keep every
#    counter; intracker.verify_counters() must come back empty after loading
#    and after the runs, or the script stops / fails.  VACUUM ANALYZE before
#    measuring.  The calls are read-only, so the data stays the same.
#  - pg_stat_statements is preloaded for part 4, but with compute_query_id =
#    off and pg_stat_statements.track = none during parts 2 and 3 (the
#    breakdown session turns them on for itself), so it costs the measured
#    calls nothing.
#  - Exit status: 0 when everything ran and every check passed (a missed
#    target is reported, not an error: timings are not assertions); 1 when a
#    check failed (team_context hung, invalid or oversized document, naive
#    and team_context documents differ, counters drifted) or pgbench reported
#    failed transactions; 2 when the setup fails.
#
# Environment (defaults in brackets):
#   BENCH_ROUNDS [5]  BENCH_SECONDS [10]  BENCH_WARMUP_SECONDS [3]
#   BENCH_SMALL [10000]  BENCH_LARGE [100000]   todos of the two projects (sessions: one per 5 todos)
#   BENCH_CHUNK [2500]                          todos per loading transaction (see context_setup.sql)
#   BENCH_HANG_SECONDS [30]  BENCH_FALLBACK_MAX_BYTES [65536]
#   BENCH_BREAKDOWN_CALLS [20]  (0 skips part 4)
#   BENCH_EXTRA_SQL [none]  a SQL file run as superuser after loading, before measuring:
#                           to try a fix (say, an index) without rebuilding the extension
#   BENCH_PORT [55761]  PG_CONFIG [/usr/lib/postgresql/15/bin/pg_config]  KEEP_BENCH=1 keeps the temp dir
set -euo pipefail

BENCH_NAME=context
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP_SECONDS:-3}
SMALL=${BENCH_SMALL:-10000}
LARGE=${BENCH_LARGE:-100000}
CHUNK=${BENCH_CHUNK:-2500}
HANG_SECONDS=${BENCH_HANG_SECONDS:-30}
FALLBACK_MAX_BYTES=${BENCH_FALLBACK_MAX_BYTES:-65536}
BREAKDOWN_CALLS=${BENCH_BREAKDOWN_CALLS:-20}
PORT=${BENCH_PORT:-55761}
BENCH_ROLE=intracker_bench
# "context-bot" of context_setup.sql: the identity of every measured call.
ME=00000000-0000-4000-8000-00000000c001
TARGET_SPEEDUP=20
TARGET_GROWTH=1.5
UNCAPPED=16777216 # the largest intracker.context_max_bytes
(( SMALL >= 100 && LARGE >= 100 && SMALL <= 400000 && LARGE <= 400000 )) ||
	bench_die "100 to 400000 todos per project (todo, feature and session numbers share a 1,000,000 range)"
command -v python3 >/dev/null || bench_die "python3 not found (it checks the JSON)"

bench_start_cluster "$PORT" \
	"shared_preload_libraries = 'intracker,pg_stat_statements'" \
	"compute_query_id = off" \
	"pg_stat_statements.track = none"
TMP=$BENCH_TMP
FAILURES=()
fail() { FAILURES+=("$*"); echo "  FAILED: $*"; }

# --- data ----------------------------------------------------------------------

t0=$(date +%s.%N)
sql -v small="$SMALL" -v large="$LARGE" -f "$HERE/context_setup.sql" ||
	bench_die "setting up the bench data failed (error above)"
{
	for name in small large; do
		[[ $name == small ]] && todos=$SMALL || todos=$LARGE
		echo "SELECT bench.load_features('$name');"
		for ((first = 1; first <= todos; first += CHUNK)); do
			echo "SELECT bench.load_todos('$name', $first, $((first + CHUNK - 1)));"
		done
		echo "SELECT bench.load_links('$name');"
	done
} | sql >/dev/null || bench_die "loading the projects failed (error above)"
t1=$(date +%s.%N)
drift=$(sql -F ' | ' -c 'SELECT * FROM intracker.verify_counters()')
if [[ -n $drift ]]; then
	echo "$drift" | head -n 20 >&2
	bench_die "intracker.verify_counters() found drifted counters after loading (above: counter | project | entity | stored | actual)"
fi
t2=$(date +%s.%N)
sql <<EOF || bench_die "creating the bench role failed (error above)"
CREATE EXTENSION pg_stat_statements;
CREATE ROLE $BENCH_ROLE LOGIN IN ROLE intracker_user;
ALTER ROLE $BENCH_ROLE SET intracker.acting_user = '$ME';
EOF
if [[ -n ${BENCH_EXTRA_SQL:-} ]]; then
	sql -f "$BENCH_EXTRA_SQL" >/dev/null || bench_die "BENCH_EXTRA_SQL $BENCH_EXTRA_SQL failed (error above)"
fi
sql -c 'VACUUM ANALYZE' >/dev/null

SMALL_ID=$(sql -c "SELECT id FROM bench.projects WHERE name = 'small'")
LARGE_ID=$(sql -c "SELECT id FROM bench.projects WHERE name = 'large'")
# The bench role sees both projects through RLS, and is an editor.
visible=$(sql -U "$BENCH_ROLE" -c 'SELECT count(*) FROM intracker.todos')
[[ $visible == $((SMALL + LARGE)) ]] || bench_die "the bench role sees $visible todos, expected $((SMALL + LARGE))"
[[ $(sql -U "$BENCH_ROLE" -c "SELECT intracker_data.my_role('$LARGE_ID')") == editor ]] ||
	bench_die "the bench role is not an editor of the large project"
[[ $(sql -U "$BENCH_ROLE" -c 'SHOW is_superuser') == off ]] ||
	bench_die "the bench role is a superuser (RLS would not apply)"

# describe PROJECT_ID: one line about what the project holds.
describe() {
	sql -F ' ' -c "
		SELECT count(*), count(*) FILTER (WHERE t.status NOT IN ('done', 'cancelled')),
		       count(*) FILTER (WHERE t.status NOT IN ('done', 'cancelled') AND (t.status = 'blocked' OR t.open_blocker_count > 0)),
		       (SELECT count(*) FROM intracker_data.sessions s WHERE s.project_id = '$1'),
		       (SELECT count(*) FROM intracker_data.features f WHERE f.project_id = '$1'),
		       (SELECT count(*) FROM intracker_data.features f WHERE f.project_id = '$1' AND f.status = 'in_progress'),
		       (SELECT count(*) FROM intracker_data.project_members m WHERE m.project_id = '$1'),
		       count(*) FILTER (WHERE t.assigned_to = '$ME' AND t.status NOT IN ('done', 'cancelled'))
		  FROM intracker_data.todos t WHERE t.project_id = '$1'" |
		awk '{ printf "%d todos (%d open, %d blocked), %d sessions, %d features (%d in progress), %d members; context-bot has %d open todos", $1, $2, $3, $4, $5, $6, $7, $8 }'
}

kilo() { awk -v n="$1" 'BEGIN { if (n % 1000 == 0) printf "%dk", n / 1000; else print n }'; }
SMALL_K=$(kilo "$SMALL")
LARGE_K=$(kilo "$LARGE")
server_version=$(sql -c 'SHOW server_version')
echo "intracker context benchmark"
echo "  machine:    $(bench_machine)"
echo "  server:     PostgreSQL $server_version (throwaway cluster; fsync, synchronous_commit, autovacuum off)"
echo "  extension:  intracker $(sql -c "SELECT extversion FROM pg_extension WHERE extname = 'intracker'")"
printf '  data:       loaded in %.1f s (transactions of %d todos); intracker.verify_counters() after loading: no drift (%.1f s)\n' \
	"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$CHUNK" "$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')"
echo "              'small': $(describe "$SMALL_ID")"
echo "              'large': $(describe "$LARGE_ID")"
echo "  caller:     $BENCH_ROLE (not a superuser: RLS applies), acting as context-bot (agent, editor)"
[[ -z ${BENCH_EXTRA_SQL:-} ]] || echo "  what-if:    ran $BENCH_EXTRA_SQL after loading (not part of the extension)"
echo

# --- hang guard ------------------------------------------------------------------

MAX_BYTES=$(sql -U "$BENCH_ROLE" -c 'SHOW intracker.context_max_bytes' | awk '
	/kB$/ { printf "%d", $0 * 1024; next } /MB$/ { printf "%d", $0 * 1048576; next } { printf "%d", $0 }')
echo "0. Does team_context return at intracker.context_max_bytes = $MAX_BYTES? (one call per project, ${HANG_SECONDS} s timeout)"
for id in "$SMALL_ID" "$LARGE_ID"; do
	[[ $id == "$SMALL_ID" ]] && label=$SMALL_K || label=$LARGE_K
	rc=0
	out=$(timeout "$HANG_SECONDS" psql -X -A -t -v ON_ERROR_STOP=1 -U "$BENCH_ROLE" \
		-c "SELECT octet_length(intracker.team_context('$id')::text)" 2>&1) || rc=$?
	if (( rc == 0 )); then
		echo "  $label: returned $out bytes"
		continue
	fi
	if (( rc == 124 )); then
		fail "team_context ($label todos) did not return within $HANG_SECONDS s at context_max_bytes = $MAX_BYTES (it ignores cancel requests: restarting the cluster)"
		bench_restart_immediate
	else
		echo "$out" >&2
		fail "team_context ($label todos) failed at context_max_bytes = $MAX_BYTES (error above)"
	fi
	if (( MAX_BYTES == FALLBACK_MAX_BYTES )); then
		bench_die "team_context fails at the fallback cap too; nothing to measure"
	fi
	MAX_BYTES=$FALLBACK_MAX_BYTES
	sql -c "ALTER ROLE $BENCH_ROLE SET intracker.context_max_bytes = $MAX_BYTES"
	echo "  => measuring with intracker.context_max_bytes = $MAX_BYTES for $BENCH_ROLE from here on"
	rc=0
	out=$(timeout "$HANG_SECONDS" psql -X -A -t -v ON_ERROR_STOP=1 -U "$BENCH_ROLE" \
		-c "SELECT octet_length(intracker.team_context('$SMALL_ID')::text), octet_length(intracker.team_context('$LARGE_ID')::text)" 2>&1) || rc=$?
	if (( rc == 124 )); then
		bench_restart_immediate
		bench_die "team_context does not return at context_max_bytes = $MAX_BYTES either"
	fi
	(( rc == 0 )) || { echo "$out" >&2; bench_die "team_context fails at context_max_bytes = $MAX_BYTES (error above)"; }
	echo "  $SMALL_K / $LARGE_K at $MAX_BYTES: returned ${out/|/ \/ } bytes"
	break
done
echo

# --- documents -----------------------------------------------------------------

# naive_query ID: the naive statement with the project id written in.
naive_query() { sed "s/:project::uuid/'$1'::uuid/g" "$HERE/context_naive.sql"; }
for id in "$SMALL_ID" "$LARGE_ID"; do
	grep -q ":project" <(naive_query "$id") && bench_die "context_naive.sql uses :project other than as :project::uuid"
done
# as_bench SQL...: psql as the bench role (RLS on).
as_bench() { psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$BENCH_ROLE" "$@"; }
uncapped_call() { echo "SELECT intracker.team_context('$1') FROM (SELECT set_config('intracker.context_max_bytes', '$UNCAPPED', true)) AS uncapped"; }

echo "1. Documents (bytes of the text a client receives; compact = without the blanks jsonb's text form puts after ':' and ',')"
printf '  %-6s %24s %17s %15s %13s\n' todos "team_context (cap $MAX_BYTES)" "team_context (no cap)" resume_context "naive query"
for id in "$SMALL_ID" "$LARGE_ID"; do
	[[ $id == "$SMALL_ID" ]] && label=$SMALL_K || label=$LARGE_K
	as_bench -c "SELECT intracker.team_context('$id')" >"$TMP/tc_$label.json" || bench_die "team_context failed (error above)"
	as_bench -c "$(uncapped_call "$id")" >"$TMP/tcfull_$label.json" || bench_die "uncapped team_context failed (error above)"
	as_bench -c "SELECT intracker.resume_context('$id')" >"$TMP/rc_$label.json" || bench_die "resume_context failed (error above)"
	naive_query "$id" | as_bench >"$TMP/naive_$label.json" || bench_die "the naive query failed (error above)"
	# One line per document: bytes as received, compact bytes, or INVALID.
	read -r tc tc_c tcfull rc naive < <(python3 - "$TMP"/{tc,tcfull,rc,naive}_"$label".json <<'PY'
import json, sys
out = []
for i, path in enumerate(sys.argv[1:]):
    text = open(path, encoding="utf-8").read().rstrip("\n")
    try:
        doc = json.loads(text)
    except ValueError:
        out.append("INVALID")
        continue
    out.append(str(len(text.encode("utf-8"))))
    if i == 0:
        compact = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        out.append(str(len(compact.encode("utf-8"))))
print(" ".join(out))
PY
)
	printf '  %-6s %24s %17s %15s %13s\n' "$label" "$tc (compact $tc_c)" "$tcfull" "$rc" "$naive"
done

# Checks of team_context's output (and the naive query's).
echo "  checks:"
for label in "$SMALL_K" "$LARGE_K"; do
	report=$(python3 - "$TMP/tc_$label.json" "$TMP/rc_$label.json" "$MAX_BYTES" <<'PY'
import json, sys
tc_text = open(sys.argv[1], encoding="utf-8").read().rstrip("\n")
rc_text = open(sys.argv[2], encoding="utf-8").read().rstrip("\n")
cap = int(sys.argv[3])
problems = []
try:
    tc = json.loads(tc_text)
    rc = json.loads(rc_text)
except ValueError as e:
    print("FAIL invalid JSON: %s" % e)
    sys.exit()
need = {"project", "your_role", "team_members", "shared_blockers", "team_progress", "generated_at", "context_version"}
if set(tc) < need:
    problems.append("team_context lacks %s" % sorted(need - set(tc)))
need_rc = {"project", "last_session", "your_open_todos", "team_activity_in_your_features", "next_action",
           "generated_at", "context_version"}
if set(rc) < need_rc:
    problems.append("resume_context lacks %s" % sorted(need_rc - set(rc)))
size = len(tc_text.encode("utf-8"))
compact = len(json.dumps(tc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
if compact > cap:
    problems.append("compact size %d > context_max_bytes %d" % (compact, cap))
if size > cap:
    problems.append("size as received %d > context_max_bytes %d (compact %d)" % (size, cap, compact))
members = tc.get("team_members", [])
shown = sum(len(m.get("active_todos", [])) for m in members)
omitted_members = sum(m.get("active_todos_omitted", 0) for m in members)
with_todos = sum(1 for m in members if m.get("active_todos"))
omitted = tc.get("omitted", {})
summary = "%d members, %d of them with active_todos shown (%d todos shown, %d counted as omitted); %d shared blockers, %d features in progress shown; omitted: %s" % (
    len(members), with_todos, shown, omitted_members, len(tc.get("shared_blockers", [])),
    len(tc.get("team_progress", {}).get("features_in_progress", [])),
    ", ".join("%s %s" % (k, v["count"] if isinstance(v, dict) else v) for k, v in sorted(omitted.items())) or "nothing")
print(("FAIL " + "; ".join(problems)) if problems else "OK", "|", summary)
PY
)
	verdict=${report%% | *}
	echo "    team_context $label: ${report#* | }"
	if [[ $verdict == OK ]]; then
		echo "    team_context $label: valid JSON with the documented keys, within context_max_bytes = $MAX_BYTES as received"
	else
		fail "team_context $label: ${verdict#FAIL }"
	fi
done
for id in "$SMALL_ID" "$LARGE_ID"; do
	[[ $id == "$SMALL_ID" ]] && label=$SMALL_K || label=$LARGE_K
	diff=$({
		echo "SELECT string_agg(k, ', ' ORDER BY k) FILTER (WHERE jsonb_strip_nulls(tc -> k) IS DISTINCT FROM jsonb_strip_nulls(nv -> k))"
		echo "  FROM ($(uncapped_call "$id")) AS c (tc0),"
		echo "       (SELECT x::jsonb - 'generated_at' FROM ("
		naive_query "$id" | sed '$ s/;[[:space:]]*$//'
		echo "       ) AS q (x)) AS n (nv),"
		echo "       LATERAL (SELECT c.tc0 - '{context_version,generated_at,omitted}'::text[]) AS t (tc),"
		echo "       LATERAL jsonb_object_keys(t.tc || n.nv) AS k;"
	} | as_bench) || bench_die "comparing the documents failed (error above)"
	if [[ -z $diff ]]; then
		echo "    naive query $label = team_context $label with the cap lifted (all but context_version, generated_at, omitted)"
	else
		fail "the naive query's document differs from team_context's ($label, cap lifted) in: $diff"
	fi
done
echo

# --- pgbench scripts ---------------------------------------------------------------

ARMS=(tc_s tc_l rc_s rc_l naive_s naive_l tcfull_l)
WEIGHTS=(4 4 4 4 1 1 4)
for arm in "${ARMS[@]}"; do
	[[ $arm == *_s ]] && id=$SMALL_ID || id=$LARGE_ID
	case $arm in
	tc_*) echo "SELECT intracker.team_context('$id');" ;;
	rc_*) echo "SELECT intracker.resume_context('$id');" ;;
	naive_*) naive_query "$id" ;;
	tcfull_*) echo "$(uncapped_call "$id");" ;;
	esac >"$TMP/$arm.sql"
done

# run_round SECONDS: one pgbench run of all arms; sets P50[arm] (ms) and N[arm].
declare -A P50 N
run_round() {
	local rc=0 failed out args=() i
	for i in "${!ARMS[@]}"; do args+=(-f "$TMP/${ARMS[$i]}.sql@${WEIGHTS[$i]}"); done
	rm -rf "$TMP/log" && mkdir "$TMP/log"
	out=$(pgbench -n -M prepared -U "$BENCH_ROLE" -c 1 -T "$1" -l --log-prefix="$TMP/log/tx" "${args[@]}" 2>&1) || rc=$?
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out" | head -n1)
	if (( rc != 0 )) || [[ ${failed:-1} != 0 ]] || grep -q 'aborted' <<<"$out" || ! grep -q '^tps = ' <<<"$out"; then
		echo "pgbench failed (exit $rc, failed transactions: ${failed:-?}):" >&2
		grep -E 'ERROR|DETAIL|HINT|aborted|failed' <<<"$out" | sort | uniq -c | sort -rn | head -n 8 >&2
		echo "$BENCH_NAME: stopping, the numbers of a failing run would mean nothing" >&2
		exit 1
	fi
	cat "$TMP"/log/tx.* >"$TMP/log/all"
	# Log line: client_id transaction_no latency_us script_no epoch epoch_us
	for i in "${!ARMS[@]}"; do
		N[${ARMS[$i]}]=$(awk -v s="$i" '$4 == s' "$TMP/log/all" | wc -l)
		[[ ${N[${ARMS[$i]}]} -gt 0 ]] || bench_die "arm ${ARMS[$i]} ran no transaction in a round; raise BENCH_SECONDS"
		P50[${ARMS[$i]}]=$(awk -v s="$i" '$4 == s { print $3 / 1000 }' "$TMP/log/all" | median)
	done
}

at_least() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0 ? "met" : "MISSED") }'; }
at_most() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 <= t + 0 ? "met" : "MISSED") }'; }

echo "2. Per-call latency, median ms per round (incl. round trip and transfer), as $BENCH_ROLE:"
echo "   pgbench -M prepared -c 1 -T $SECONDS_PER_RUN, all arms interleaved in each run (weights: naive 1, others 4), $ROUNDS rounds"
echo "   tc = team_context (cap $MAX_BYTES), rc = resume_context, naive = context_naive.sql, tc* = team_context without cap"
run_round "$WARMUP"
printf '  %-6s %8s %8s %8s %8s %9s %9s %8s   %9s %9s %9s %9s\n' round \
	"tc $SMALL_K" "tc $LARGE_K" "rc $SMALL_K" "rc $LARGE_K" "nv $SMALL_K" "nv $LARGE_K" "tc* $LARGE_K" \
	"nv/tc" "nv/tc*" "tc grow" "rc grow"
declare -A SERIES
for ((r = 1; r <= ROUNDS; r++)); do
	run_round "$SECONDS_PER_RUN"
	speedup=$(ratio "${P50[naive_l]}" "${P50[tc_l]}")
	speedup_full=$(ratio "${P50[naive_l]}" "${P50[tcfull_l]}")
	tc_growth=$(ratio "${P50[tc_l]}" "${P50[tc_s]}")
	rc_growth=$(ratio "${P50[rc_l]}" "${P50[rc_s]}")
	naive_growth=$(ratio "${P50[naive_l]}" "${P50[naive_s]}")
	printf '  %-6s %8.2f %8.2f %8.2f %8.2f %9.2f %9.2f %8.2f   %9s %9s %9s %9s   (calls %s)\n' "$r" \
		"${P50[tc_s]}" "${P50[tc_l]}" "${P50[rc_s]}" "${P50[rc_l]}" "${P50[naive_s]}" "${P50[naive_l]}" "${P50[tcfull_l]}" \
		"$speedup" "$speedup_full" "$tc_growth" "$rc_growth" \
		"$(for a in "${ARMS[@]}"; do printf '%s/' "${N[$a]}"; done | sed 's:/$::')"
	for a in "${ARMS[@]}"; do SERIES[$a]+="${P50[$a]}"$'\n'; done
	SERIES[speedup]+="$speedup"$'\n' SERIES[speedup_full]+="$speedup_full"$'\n'
	SERIES[tc_growth]+="$tc_growth"$'\n' SERIES[rc_growth]+="$rc_growth"$'\n' SERIES[naive_growth]+="$naive_growth"$'\n'
done
declare -A MED
for key in "${!SERIES[@]}"; do MED[$key]=$(printf '%s' "${SERIES[$key]}" | median); done
range() { printf '%s' "${SERIES[$1]}" | sort -g | sed -n '1p;$p' | paste -sd ' ' | sed 's/ / .. /'; }
printf '  %-6s %8.2f %8.2f %8.2f %8.2f %9.2f %9.2f %8.2f   %9.2f %9.2f %9.2f %9.2f\n' median \
	"${MED[tc_s]}" "${MED[tc_l]}" "${MED[rc_s]}" "${MED[rc_l]}" "${MED[naive_s]}" "${MED[naive_l]}" "${MED[tcfull_l]}" \
	"${MED[speedup]}" "${MED[speedup_full]}" "${MED[tc_growth]}" "${MED[rc_growth]}"
echo

# --- where the time goes ----------------------------------------------------------------

# breakdown FUNCTION: pg_stat_statements over BREAKDOWN_CALLS calls at the large size.
breakdown() {
	local fn=$1 calls=""
	for ((i = 0; i < BREAKDOWN_CALLS; i++)); do calls+="SELECT octet_length(intracker.$fn('$LARGE_ID')::text);"$'\n'; done
	# Superuser for the SETs, then the bench role for the calls (RLS on).
	sql >/dev/null <<EOF || bench_die "the breakdown of $fn failed (error above)"
SET compute_query_id = on;
SET pg_stat_statements.track = 'all';
SET pg_stat_statements.track_planning = on;
SET intracker.acting_user = '$ME';
SET intracker.context_max_bytes = $MAX_BYTES;
SELECT intracker.$fn('$LARGE_ID') IS NULL;
SELECT pg_stat_statements_reset();
SET ROLE $BENCH_ROLE;
$calls
EOF
	# Statements the C code runs through SPI have parameters ($1 ...); the
	# others are those the RLS policies and helper functions run inside them.
	sql -F $'\t' -c "
		WITH s AS (
		    SELECT * FROM pg_stat_statements
		     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		       AND query !~* '^\\s*(SET|RESET|SELECT pg_stat_statements_reset)'),
		top AS (
		    SELECT calls, total_exec_time FROM s WHERE toplevel AND query LIKE '%intracker.$fn(%')
		SELECT 'total', top.calls, round((top.total_exec_time / top.calls)::numeric, 2), NULL, NULL FROM top
		UNION ALL
		SELECT 'spi', round(sum(s.calls)::numeric / top.calls, 1), round((sum(s.total_plan_time) / top.calls)::numeric, 2),
		       round((sum(s.total_exec_time) / top.calls)::numeric, 2), NULL
		  FROM s, top WHERE NOT s.toplevel AND s.query LIKE '%\$1%' GROUP BY top.calls
		UNION ALL
		SELECT 'helpers', round(sum(s.calls)::numeric / top.calls, 1), round((sum(s.total_plan_time) / top.calls)::numeric, 2),
		       round((sum(s.total_exec_time) / top.calls)::numeric, 2), NULL
		  FROM s, top WHERE NOT s.toplevel AND s.query NOT LIKE '%\$1%' GROUP BY top.calls
		UNION ALL
		(SELECT 'stmt', round(s.calls::numeric / top.calls, 1), round((s.total_plan_time / top.calls)::numeric, 2),
		        round((s.total_exec_time / top.calls)::numeric, 2),
		        left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90)
		   FROM s, top WHERE NOT s.toplevel AND s.query LIKE '%\$1%'
		  ORDER BY s.total_plan_time + s.total_exec_time DESC)" >"$TMP/breakdown_$fn.tsv" ||
		bench_die "reading pg_stat_statements failed (error above)"
	awk -F'\t' -v fn="$fn" -v size="$LARGE_K" '
		$1 == "total" { calls = $2; total = $3 }
		$1 == "spi" { nspi = $2; plan = $3; exec = $4 }
		$1 == "helpers" { nhelp = $2; hexec = $4 }
		$1 == "stmt" { stmts[++n] = sprintf("    %8s %8.2f %8.2f   %s", $2, $3, $4, $5) }
		END {
			printf "  %s, %s todos: %.2f ms per call (mean of %d; pg_stat_statements adds a little)\n", fn, size, total, calls
			printf "    statements run through SPI: %s per call, planning %.2f ms + execution %.2f ms\n", nspi, plan, exec
			printf "      (execution includes %s RLS / identity helper statements per call, %.2f ms of their own)\n", nhelp, hexec
			printf "    rest: %.2f ms (parse and analysis of those statements, building and serializing the JSON, jsonb_in)\n", total - plan - exec
			printf "    %8s %8s %8s   %s\n", "calls", "plan ms", "exec ms", "statement (per call)"
			for (i = 1; i <= n; i++) print stmts[i]
		}' "$TMP/breakdown_$fn.tsv"
}
if (( BREAKDOWN_CALLS > 0 )); then
	echo "3. Where the time goes (pg_stat_statements, track = all, track_planning = on; as $BENCH_ROLE)"
	breakdown team_context
	breakdown resume_context
	echo
fi

# The calls were read-only; the counters are still right.
drift=$(sql -F ' | ' -c 'SELECT * FROM intracker.verify_counters()')
[[ -z $drift ]] || { echo "$drift" | head -n 20; fail "intracker.verify_counters() found drifted counters after the runs"; }

echo "Summary ($(nproc) CPUs, PostgreSQL $server_version; median over $ROUNDS rounds of per-round medians, ms per call)"
printf '  %-52s %9s %9s %8s   %-9s %s\n' measure "$SMALL_K" "$LARGE_K" ratio target verdict
printf '  %-52s %9s %9.2f %8.2f   %-9s %s\n' "naive query / team_context at $LARGE_K (speed-up)" "" "${MED[tc_l]}" \
	"${MED[speedup]}" ">= $TARGET_SPEEDUP" "$(at_least "${MED[speedup]}" "$TARGET_SPEEDUP")  (range $(range speedup))"
printf '  %-52s %9.2f %9.2f %8.2f   %-9s %s\n' "team_context $LARGE_K / $SMALL_K (growth)" "${MED[tc_s]}" "${MED[tc_l]}" \
	"${MED[tc_growth]}" "<= $TARGET_GROWTH" "$(at_most "${MED[tc_growth]}" "$TARGET_GROWTH")  (range $(range tc_growth))"
printf '  %-52s %9.2f %9.2f %8.2f   %-9s %s\n' "resume_context $LARGE_K / $SMALL_K (growth)" "${MED[rc_s]}" "${MED[rc_l]}" \
	"${MED[rc_growth]}" "<= $TARGET_GROWTH" "$(at_most "${MED[rc_growth]}" "$TARGET_GROWTH")  (range $(range rc_growth))"
printf '  %-52s %9.2f %9.2f %8.2f   %s\n' "naive query $LARGE_K / $SMALL_K (growth, for comparison)" "${MED[naive_s]}" "${MED[naive_l]}" \
	"${MED[naive_growth]}" "(range $(range naive_growth))"
printf '  %-52s %9s %9.2f %8.2f   %s\n' "naive query / team_context without byte cap at $LARGE_K" "" "${MED[tcfull_l]}" \
	"${MED[speedup_full]}" "(the same document; range $(range speedup_full))"
echo "  team_context ran at intracker.context_max_bytes = $MAX_BYTES; pgbench: no failed transactions in any run"
if (( ${#FAILURES[@]} > 0 )); then
	echo
	echo "FAILED checks:"
	printf '  - %s\n' "${FAILURES[@]}"
	exit 1
fi
echo "  checks: documents valid and bounded, naive = team_context, counters without drift"
