#!/usr/bin/env bash
# test/bench/webhooks.sh — what the webhook deliverer sustains (issue 6).
#
# Run it where the extension is installed (`make && sudo make install`):
#
#   sudo test/bench/webhooks.sh           # or as any non-root user
#   sudo test/bench/webhooks.sh --quick   # smaller numbers, about a minute
#
# It starts its own throwaway cluster (test/bench/lib.sh: unix socket only, in
# a temp dir, shared_preload_libraries = 'intracker', fsync / synchronous_commit
# / autovacuum off; as root the server runs as the user intracker_test) with
# intracker.database = 'postgres', the bench database, so the publisher and
# the deliverer serve it; builds the local HTTP sink test/helpers/http_sink.c
# (cc -O2) into the temp dir and starts two of them on 127.0.0.1 (as the same
# unprivileged user): "tp", which logs nothing (throughput), and "log", which
# logs every request with its arrival time (latency).  Loads the data of
# webhooks_setup.sql, measures, and removes everything however it exits.
# About three minutes on 2 CPUs.
#
# It prints, from one run:
#
#  1. Sustained deliveries/s: BENCH_PROJECTS (4) projects x BENCH_HOOKS (2)
#     webhooks each on the tp sink (format json; every other webhook has a
#     secret, so half the requests are signed with HMAC-SHA256), and
#     BENCH_TP_EVENTS events written as fast as one session can, in
#     transactions of BENCH_BATCH rows.  Rate = deliveries / (commit of the
#     first writing transaction -> delivered_at of the last delivery).
#     Median of BENCH_TP_ROUNDS runs.  Target: >= 2,000/s, 10x the 200/s
#     pg_net documents.
#  2. Commit -> delivery latency p50 / p99 / max at a steady BENCH_LAT_RATE
#     (300) events/s for BENCH_LAT_SECONDS, one autocommit UPDATE per event
#     (pgbench -R, 4 clients), the same webhook layout on the logging sink.
#     Latency = the sink's arrival time t - the event's occurred_at from the
#     body.  occurred_at is the start of the writing transaction (now()),
#     so for these one-statement transactions it is the commit minus the
#     statement's own duration (pgbench's latency average, printed): the
#     numbers are high by at most that.  Also split at the body's
#     published_at (the start of the publisher's round that took the event).
#     No target: printed for information.
#  3. Throughput with one endpoint hanging: as 1, with BENCH_HANG_EVENTS
#     events, in two arms measured side by side: A the healthy webhooks
#     only, B the same plus one more webhook (project 1) at /hang/ on the
#     same sink, which reads the request and never answers, so every
#     attempt runs into intracker.http_timeout (BENCH_HTTP_TIMEOUT, 2 s) and
#     is retried (after intracker.http_retry_base_delay, 1 s, doubling).
#     Each B run gets a fresh hanging webhook, created just before it
#     (bench.add_hook()) and paused after it: an old one would soon spend
#     its time waiting for a retry minutes away, not hanging.  Healthy
#     deliveries/s of each arm; loss = 1 - B/A per round;
#     BENCH_HANG_ROUNDS rounds, A B in odd rounds and B A in even ones; the
#     verdict is the median loss.  Target: < 10 %.  Also per run: the
#     deliverer's CPU time per healthy delivery (which waiting for a CPU
#     does not inflate), and the share of the machine's CPU time other
#     processes took; a round where that share differs by more than 10
#     points between A and B is marked * and the median loss of the other
#     rounds is printed too.
#  4. Worker memory over BENCH_MEM_DELIVERIES (100,000) deliveries, after
#     parts 1-3 (warm): VmRSS and RssAnon of the deliverer and of the
#     publisher (/proc/<pid>/status; pids from intracker.deliverer_status
#     and intracker.worker_status) before, after every fifth of the
#     deliveries and after; and the total of their memory contexts
#     (pg_log_backend_memory_contexts, "Grand total" in the server log)
#     before and after.  VmRSS counts the shared-buffer pages a process has
#     touched (RssShmem), which grows as it reads more of shared_buffers and
#     is not memory it owns; RssAnon is its private memory.  Target: flat,
#     i.e. the deliverer's RssAnon grows by at most 1 MB (10 bytes per
#     delivery) and its memory contexts by at most 256 kB.
#
# Method
#  - Events: UPDATE intracker_data.todos SET title = ... WHERE id =
#    ANY(<BENCH_BATCH todos>) as a superuser session with
#    intracker.acting_user set to an editor (so every event has an actor);
#    each row's title really changes, so each row is one todo.updated event
#    of its project; the todos are spread evenly over the projects, so an
#    event makes BENCH_HOOKS deliveries.  One session writes the batches
#    back to back (psql), which is much faster than the deliverer sends:
#    the backlog builds up and the deliverer runs flat out.
#  - Exactly the webhooks of the run are active (bench.activate() of
#    webhooks_setup.sql): a paused webhook gets no deliveries.  After a B
#    run the script waits until the paused hanging webhook's last request
#    has timed out (nothing in flight), so it never hangs into the next run.
#  - A run ends when the publisher has published every event of the run,
#    the deliverer's delivered count (intracker_data.deliverer_state(),
#    shared memory, polled every 0.2 s) has grown by the run's deliveries
#    and no delivery of the healthy webhooks is pending or failed in the
#    table; the times come from the database (delivered_at is taken
#    by the deliverer when the answer arrived; the first commit's time is
#    clock_timestamp() read by the writing session right after it), so the
#    polling does not blur them.  Every healthy delivery of a run must be
#    delivered (none dead, no retry), or the script exits 1.
#  - Before every run: VACUUM ANALYZE of todos, outbox, events and
#    deliveries (autovacuum is off), and one short warm-up of each kind of
#    run first, not counted.
#  - Where the time goes (printed, not judged): CPU time of the deliverer,
#    the publisher, the writing session's backend (read by that backend
#    itself from /proc/self/stat before it ends) and the tp sink over each
#    part-1 run as a % of one CPU, and the whole machine's busy % of all
#    CPUs with the part of it spent outside this bench's cluster and sinks
#    ("others": other work on the machine disturbs the numbers; shown for
#    part 3's runs too).  A process near 100 % of a core is a bottleneck;
#    a machine near 100 % means they all share too few CPUs.  Part 1 also
#    shows the drain rate: deliveries after the last writing commit / the
#    time from it to the last delivery, when the writer no longer competes.
#  - Cross-checks at the end: each sink's request count (SIGUSR1 ->
#    "COUNT n") equals the attempts the database recorded for its webhooks;
#    in part 2 every signed request's X-Intracker-Signature-256 is checked
#    against the body; the deliverer's pid and started_at did not change
#    (no crash and restart during the run).
#  - fsync and synchronous_commit are off (lib.sh): recording deliveries
#    costs no WAL flush; with durable commits every round of the deliverer
#    and the publisher would wait for one.
#  - Exit status: 0 when everything ran and every check passed (a missed
#    target is reported, not an error); 1 when a delivery was lost, dead or
#    late beyond BENCH_TIMEOUT, a worker's round failed (state 'retrying
#    after error': the bench stops at once and prints the workers' status),
#    a cross-check failed or the deliverer restarted; 2 when the setup
#    fails (also when the deliverer fails from the start).
#
# Options: --quick (the smaller defaults in brackets below), --help.
# Environment (defaults in brackets, --quick's second):
#   BENCH_PROJECTS [4]  BENCH_HOOKS [2] healthy webhooks per project  BENCH_TODOS [2500] per project
#   BENCH_BATCH [500] rows per writing transaction
#   BENCH_TP_EVENTS [40000 / 8000]  BENCH_TP_ROUNDS [3 / 2]           part 1
#   BENCH_LAT_RATE [300]  BENCH_LAT_SECONDS [20 / 6]                  part 2
#   BENCH_HANG_EVENTS [20000 / 10000]  BENCH_HANG_ROUNDS [7 / 3]      part 3
#   BENCH_MEM_DELIVERIES [100000 / 20000]                             part 4
#   BENCH_CONCURRENCY [32] intracker.http_max_concurrency  BENCH_HTTP_TIMEOUT [2s] intracker.http_timeout
#   BENCH_TIMEOUT [120] seconds a run may take before it counts as stuck
#   BENCH_EXTRA_CONF [none]  one more postgresql.conf line, e.g. 'intracker.publish_batch_size = 100'
#   BENCH_PORT [55781]  PG_CONFIG [/usr/lib/postgresql/15/bin/pg_config]  KEEP_BENCH=1 keeps the temp dir
#   With sudo, pass them as `sudo BENCH_TP_ROUNDS=5 test/bench/webhooks.sh`.
set -euo pipefail

BENCH_NAME=webhooks
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

QUICK=0
for arg in "$@"; do
	case $arg in
		--quick) QUICK=1 ;;
		-h | --help)
			sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
			exit 0
			;;
		*) bench_die "unknown argument '$arg' (--quick, --help)" ;;
	esac
done
q() { if (( QUICK )); then echo "$2"; else echo "$1"; fi; }

PROJECTS=${BENCH_PROJECTS:-4}
HOOKS=${BENCH_HOOKS:-2}
TODOS=${BENCH_TODOS:-2500}
BATCH=${BENCH_BATCH:-500}
TP_EVENTS=${BENCH_TP_EVENTS:-$(q 40000 8000)}
TP_ROUNDS=${BENCH_TP_ROUNDS:-$(q 3 2)}
LAT_RATE=${BENCH_LAT_RATE:-300}
LAT_SECONDS=${BENCH_LAT_SECONDS:-$(q 20 6)}
HANG_EVENTS=${BENCH_HANG_EVENTS:-$(q 20000 10000)}
HANG_ROUNDS=${BENCH_HANG_ROUNDS:-$(q 7 3)}
MEM_DELIVERIES=${BENCH_MEM_DELIVERIES:-$(q 100000 20000)}
CONCURRENCY=${BENCH_CONCURRENCY:-32}
HTTP_TIMEOUT=${BENCH_HTTP_TIMEOUT:-2s}
TIMEOUT=${BENCH_TIMEOUT:-120}
PORT=${BENCH_PORT:-55781}
BENCH_DB=postgres
EDITOR_ID=00000000-0000-4000-8000-00000000b001
TOTAL_TODOS=$((PROJECTS * TODOS))
MEM_STEPS=5
WARMUP_EVENTS=2000
TARGET_RATE=2000
TARGET_LOSS=10
TARGET_ANON_KB=1024
TARGET_CTX_KB=256
(( PROJECTS >= 1 && HOOKS >= 1 && TODOS >= 1 )) || bench_die "BENCH_PROJECTS, BENCH_HOOKS and BENCH_TODOS must be positive"
(( BATCH >= 1 && BATCH <= TOTAL_TODOS )) || bench_die "BENCH_BATCH must be 1 .. BENCH_PROJECTS * BENCH_TODOS ($TOTAL_TODOS)"
(( MEM_DELIVERIES % (HOOKS * MEM_STEPS) == 0 )) || bench_die "BENCH_MEM_DELIVERIES must be a multiple of $((HOOKS * MEM_STEPS))"
command -v cc >/dev/null || bench_die "cc not found (it builds test/helpers/http_sink.c)"
perl -MJSON::PP -MDigest::SHA -MTime::Local -e 1 2>/dev/null || bench_die "perl with JSON::PP, Digest::SHA and Time::Local is needed"
[[ -f $HERE/../helpers/http_sink.c ]] || bench_die "test/helpers/http_sink.c not found"

extra_conf=()
[[ -n ${BENCH_EXTRA_CONF:-} ]] && extra_conf=("$BENCH_EXTRA_CONF")
# The sinks are on 127.0.0.1, a loopback address: allowed explicitly (off by default).
bench_start_cluster "$PORT" "intracker.database = '$BENCH_DB'" "intracker.http_allow_private_networks = on" \
	"intracker.http_max_concurrency = $CONCURRENCY" "intracker.http_timeout = '$HTTP_TIMEOUT'" \
	${extra_conf[@]+"${extra_conf[@]}"}
TMP=$BENCH_TMP
TIMEOUT_MS=$(sql -c "SELECT setting FROM pg_settings WHERE name = 'intracker.http_timeout'")
FAILURES=()
fail() { FAILURES+=("$*"); echo "  FAILED: $*"; }

# --- sinks ---------------------------------------------------------------------

cc -O2 -o "$TMP/http_sink" "$HERE/../helpers/http_sink.c" 2>"$TMP/cc.log" ||
	{ cat "$TMP/cc.log" >&2; bench_die "building http_sink.c failed"; }

# start_sink NAME [LOGFILE]: runs as the server user; its pid in $TMP/NAME.pid
# (the sink's own: sh execs it), its stdout (PORT, COUNT lines) in $TMP/NAME.out.
declare -A SINK_PORT
start_sink() {
	local name=$1 log=${2:-} i
	(cd / && as_server_user sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$TMP/$name.pid" \
		"$TMP/http_sink" --port-file "$TMP/$name.port" ${log:+--log "$log"}) >"$TMP/$name.out" 2>"$TMP/$name.err" &
	for ((i = 0; i < 100; i++)); do
		[[ -s $TMP/$name.port ]] && break
		sleep 0.05
	done
	[[ -s $TMP/$name.port ]] || { cat "$TMP/$name.err" >&2; bench_die "the $name sink did not start"; }
	SINK_PORT[$name]=$(<"$TMP/$name.port")
}
stop_sinks() {
	local name pid
	for name in tp log; do
		[[ -s $TMP/$name.pid ]] || continue
		pid=$(<"$TMP/$name.pid")
		kill -TERM "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap 'stop_sinks; bench_cleanup' EXIT

# sink_count NAME: asks the sink for its request count (SIGUSR1 -> "COUNT n").
sink_count() {
	local name=$1 before i
	before=$(grep -c '^COUNT ' "$TMP/$name.out" || true)
	kill -USR1 "$(<"$TMP/$name.pid")"
	for ((i = 0; i < 100; i++)); do
		(( $(grep -c '^COUNT ' "$TMP/$name.out" || true) > before )) && break
		sleep 0.05
	done
	grep '^COUNT ' "$TMP/$name.out" | tail -n1 | cut -d' ' -f2
}

start_sink tp
start_sink log "$TMP/log.jsonl"

# --- data ----------------------------------------------------------------------

sql -d "$BENCH_DB" -v projects="$PROJECTS" -v hooks="$HOOKS" -v todos="$TODOS" \
	-v sink="http://127.0.0.1:${SINK_PORT[tp]}" -v log_sink="http://127.0.0.1:${SINK_PORT[log]}" \
	-f "$HERE/webhooks_setup.sql" || bench_die "setting up the bench data failed (error above)"

for ((i = 0; ; i++)); do
	read -r wstate backlog dstate < <(sql -d "$BENCH_DB" -F ' ' -c \
		'SELECT w.state, w.backlog, d.state FROM intracker.worker_status w, intracker.deliverer_status d')
	[[ $wstate =~ ^(idle|publishing)$ && $backlog == 0 && $dstate =~ ^(idle|delivering)$ ]] && break
	(( i < 300 )) || bench_die "the workers are not serving $BENCH_DB (publisher '$wstate', backlog $backlog, deliverer '$dstate' after 30 s;" \
		"deliverer's last error: $(sql -d "$BENCH_DB" -c 'SELECT last_error FROM intracker.deliverer_status'))"
	sleep 0.1
done
read -r DELIVERER_PID DELIVERER_STARTED PUBLISHER_PID < <(sql -d "$BENCH_DB" -F ' ' -c \
	"SELECT d.pid, extract(epoch FROM d.started_at), w.pid FROM intracker.deliverer_status d, intracker.worker_status w")
[[ $(sql -d "$BENCH_DB" -c 'SELECT count(*) FROM intracker_data.deliveries') == 0 ]] ||
	bench_die "deliveries exist before the first run (the load's events reached a webhook?)"

# the ids of each set of webhooks, as SQL: the tp sink's healthy ones, the
# logging sink's, and all the hanging ones made so far (a fresh one per run)
declare -A IDS=(
	[tp]="ARRAY(SELECT id FROM bench.hooks WHERE set = 'tp')"
	[log]="ARRAY(SELECT id FROM bench.hooks WHERE set = 'lat')"
	[hang]="ARRAY(SELECT id FROM bench.hooks WHERE set LIKE 'hang%')"
)
activate() { sql -d "$BENCH_DB" -c "SELECT bench.activate('{$1}')" >/dev/null; }
# add_hang_hook TAG: a new webhook of project 1 at the tp sink's /hang/p1/TAG, in set TAG
add_hang_hook() { sql -d "$BENCH_DB" -c "SELECT bench.add_hook('$1', 1, 'http://127.0.0.1:${SINK_PORT[tp]}/hang/p1/$1')"; }

# --- measuring helpers -----------------------------------------------------------

ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# ours_snapshot: "pid ticks" of the postmaster, its children and the sinks
ours_snapshot() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$(head -n1 "$BENCH_DATA/postmaster.pid")" \
		-v s1="$(<"$TMP/tp.pid")" -v s2="$(<"$TMP/log.pid")" '{
		pid = $1; sub(/^.*\) /, "")
		if (pid == pm || $2 == pm || pid == s1 || pid == s2) print pid, $12 + $13 }'
}
# ours_ticks BEFORE AFTER: CPU ticks between two snapshots (processes that
# ended in between are missed; new ones count whole)
ours_ticks() { awk 'NR == FNR { t0[$1] = $2; next } { sum += $2 - ($1 in t0 ? t0[$1] : 0) } END { print sum + 0 }' "$1" "$2"; }
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
HZ=$(getconf CLK_TCK)
now() { date +%s.%N; }
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# wait_idle: until the deliverer has nothing in flight (a paused hanging
# webhook's last request ends at its timeout) and has recorded it.
wait_idle() {
	local i
	for ((i = 0; i < 10 * (TIMEOUT_MS / 1000 + 5); i++)); do
		[[ $(sql -d "$BENCH_DB" -c "SELECT in_flight = 0 AND state = 'idle' FROM intracker_data.deliverer_state()") == t ]] && return
		sleep 0.1
	done
	diagnose "the deliverer still has requests in flight $((TIMEOUT_MS / 1000 + 5)) s after the last run"
}
last_seq() { sql -d "$BENCH_DB" -c 'SELECT coalesce(max(seq), 0) FROM intracker_data.events'; }
vacuum() { sql -d "$BENCH_DB" -c 'VACUUM ANALYZE intracker_data.todos, intracker_data.outbox, intracker_data.events, intracker_data.deliveries'; }

# diagnose WHY: what the workers and the machine are doing, then exit 1.
diagnose() {
	echo "$BENCH_NAME: $1" >&2
	sql -d "$BENCH_DB" -x -c 'SELECT * FROM intracker.deliverer_status' -c 'SELECT * FROM intracker.worker_status' >&2 || true
	sql -d "$BENCH_DB" -c "SELECT h.set, d.state, count(*), max(d.attempts), max(d.last_error) FROM intracker_data.deliveries d
	                         JOIN bench.hooks h ON h.id = d.webhook_id GROUP BY 1, 2 ORDER BY 1, 2" >&2 || true
	ps -o pid,pcpu,rss,stat,args -p "$(head -n1 "$BENCH_DATA/postmaster.pid"),$(<"$TMP/tp.pid"),$(<"$TMP/log.pid")" \
		--ppid "$(head -n1 "$BENCH_DATA/postmaster.pid")" >&2 || true
	tail -n 20 "$TMP/server.log" >&2
	exit 1
}

# gen_events N: one psql session writes N todo.updated events, BATCH rows per
# transaction; sets T_FIRST / T_LAST (epoch s, clock_timestamp() right after
# the first / last commit).
GEN=0
GEN_POS=1
gen_events() {
	local left=$1 rows b=0 f=$TMP/gen.sql
	GEN=$((GEN + 1))
	{
		echo "SET intracker.acting_user = '$EDITOR_ID';"
		while (( left > 0 )); do
			rows=$(( left < BATCH ? left : BATCH ))
			echo "UPDATE intracker_data.todos SET title = 'bench g$GEN b$b' WHERE id = ANY (ARRAY(SELECT bench.num_id(1 + (x - 1) % $TOTAL_TODOS) FROM generate_series($GEN_POS, $((GEN_POS + rows - 1))) AS x));"
			(( b == 0 || left == rows )) && echo "SELECT 'T ' || extract(epoch FROM clock_timestamp());"
			GEN_POS=$(( (GEN_POS + rows - 1) % TOTAL_TODOS + 1 ))
			left=$((left - rows))
			b=$((b + 1))
		done
		# the writing backend's own CPU time (it is gone by the time the run ends)
		echo "SELECT 'W ' || pg_read_file('/proc/self/stat');"
	} >"$f"
	sql -d "$BENCH_DB" -f "$f" >"$TMP/gen.out" || diagnose "writing the events failed"
	T_FIRST=$(sed -n '1s/^T //p' "$TMP/gen.out")
	T_LAST=$(grep '^T ' "$TMP/gen.out" | sed -n '$s/^T //p')
	W_TICKS=$(sed -n 's/^W .*) //p' "$TMP/gen.out" | awk '{ print $12 + $13 }')
}

# delivered_count: the deliverer's count of deliveries delivered since it
# started (shared memory: costs no scan, unlike intracker.deliverer_status,
# whose pending / waiting_for_retry counts read the whole backlog)
delivered_count() { sql -d "$BENCH_DB" -c 'SELECT delivered FROM intracker_data.deliverer_state()'; }

# wait_done SET TARGET_SEQ TARGET_DELIVERED: until every event up to
# TARGET_SEQ is published and the deliverer's delivered count has reached
# TARGET_DELIVERED (polled every 0.2 s, from shared memory), then until the
# database shows no delivery of SET's webhooks pending or failed (the count
# goes up as answers arrive, a little before they are recorded).  A worker
# whose round failed (state 'retrying after error') stops the bench at once.
wait_done() {
	local set=$1 target=$2 target_delivered=$3 deadline row
	deadline=$(awk -v n="$(now)" -v t="$TIMEOUT" 'BEGIN { printf "%.0f", n + t }')
	while :; do
		row=$(sql -d "$BENCH_DB" -F ' ' -c "SELECT (SELECT coalesce(max(seq), 0) FROM intracker_data.events) >= $target
		           AND d.delivered >= $target_delivered,
		         d.state = 'retrying after error' OR w.state = 'retrying after error'
		    FROM intracker_data.deliverer_state() d, intracker_data.worker_state() w")
		[[ $row == *" t" ]] && diagnose "a worker's round failed (last_error below; see $TMP/server.log)"
		[[ $row == "t "* ]] && break
		(( $(date +%s) < deadline )) || diagnose "the deliveries of a run were not all delivered after $TIMEOUT s"
		sleep 0.2
	done
	until [[ $(sql -d "$BENCH_DB" -c "SELECT NOT EXISTS (SELECT FROM intracker_data.deliveries
	             WHERE queue_id = ANY (${IDS[$set]}) AND state IN ('pending', 'failed'))") == t ]]; do
		(( $(date +%s) < deadline )) || diagnose "the deliveries of a run were not all recorded after $TIMEOUT s"
		sleep 0.05
	done
}

# check_delivered SET FROM_SEQ TO_SEQ [T_LAST]: every delivery of SET for
# those events delivered at the first attempt; sets DELIVERED, T_END (the
# last delivered_at, epoch s) and AFTER_LAST (how many were delivered after
# T_LAST, the last writing commit).
check_delivered() {
	local set=$1 from=$2 to=$3 t_last=${4:-0} events expected delivered total attempts t_end after_last
	events=$((to - from))
	expected=$((events * HOOKS))
	read -r delivered total attempts t_end after_last < <(sql -d "$BENCH_DB" -F ' ' -c "SELECT count(*) FILTER (WHERE state = 'delivered'),
	    count(*), coalesce(sum(attempts), 0), coalesce(extract(epoch FROM max(delivered_at)), 0),
	    count(*) FILTER (WHERE delivered_at > to_timestamp($t_last))
	  FROM intracker_data.deliveries WHERE event_seq > $from AND event_seq <= $to AND queue_id = ANY (${IDS[$set]})")
	(( delivered == expected && total == expected )) ||
		diagnose "$events events should have made $expected deliveries to the $set webhooks, all delivered: $total made, $delivered delivered"
	(( attempts == expected )) || fail "$set run: $attempts attempts for $expected deliveries (healthy endpoints never fail: retries?)"
	DELIVERED=$delivered T_END=$t_end AFTER_LAST=$after_last
}

# tp_run LABEL SETS EVENTS: one throughput run; RES[LABEL,key].
declare -A RES
tp_run() {
	local label=$1 sets=$2 events=$3 seq0 seq1 n0 d0 p0 s0 m0 a0 t0 t1 busy all wall ours
	activate "$sets"
	vacuum
	seq0=$(last_seq)
	n0=$(delivered_count)
	d0=$(ticks "$DELIVERER_PID") p0=$(ticks "$PUBLISHER_PID") s0=$(ticks "$(<"$TMP/tp.pid")")
	ours_snapshot >"$TMP/ours0"
	read -r m0 a0 < <(busy_ticks)
	t0=$(now)
	gen_events "$events"
	seq1=$((seq0 + events))
	wait_done tp "$seq1" $((n0 + events * HOOKS))
	t1=$(now)
	read -r busy all < <(busy_ticks)
	ours_snapshot >"$TMP/ours1"
	[[ $(last_seq) == "$seq1" ]] || diagnose "expected events $((seq0 + 1)) .. $seq1 from the run, found up to $(last_seq)"
	check_delivered tp "$seq0" "$seq1" "$T_LAST"
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	pct() { awk -v t="$1" -v w="$wall" -v hz="$HZ" 'BEGIN { printf "%.0f", 100 * t / hz / w }'; }
	RES[$label,delivered]=$DELIVERED
	RES[$label,rate]=$(awk -v n="$DELIVERED" -v a="$T_FIRST" -v b="$T_END" 'BEGIN { printf "%.0f", n / (b - a) }')
	RES[$label,secs]=$(awk -v a="$T_FIRST" -v b="$T_END" 'BEGIN { printf "%.2f", b - a }')
	RES[$label,gen_secs]=$(awk -v a="$T_FIRST" -v b="$T_LAST" 'BEGIN { printf "%.2f", b - a }')
	RES[$label,drain]=$(awk -v n="$AFTER_LAST" -v a="$T_LAST" -v b="$T_END" 'BEGIN { printf "%.0f", (b > a && n > 0) ? n / (b - a) : 0 }')
	RES[$label,cpu_deliverer]=$(pct $(( $(ticks "$DELIVERER_PID") - d0 )))
	RES[$label,us_per_delivery]=$(awk -v t="$(( $(ticks "$DELIVERER_PID") - d0 ))" -v n="$DELIVERED" -v hz="$HZ" 'BEGIN { printf "%.0f", 1e6 * t / hz / n }')
	RES[$label,cpu_publisher]=$(pct $(( $(ticks "$PUBLISHER_PID") - p0 )))
	RES[$label,cpu_sink]=$(pct $(( $(ticks "$(<"$TMP/tp.pid")") - s0 )))
	RES[$label,cpu_writer]=$(pct "$W_TICKS")
	# the machine's busy time, and the part of it that was not this bench's processes
	ours=$(( $(ours_ticks "$TMP/ours0" "$TMP/ours1") + W_TICKS ))
	RES[$label,cpu_machine]=$(awk -v b="$((busy - m0))" -v a="$((all - a0))" 'BEGIN { printf "%.0f", a ? 100 * b / a : 0 }')
	RES[$label,cpu_other]=$(awk -v b="$((busy - m0))" -v o="$ours" -v a="$((all - a0))" 'BEGIN { v = a ? 100 * (b - o) / a : 0; printf "%.0f", (v < 0 ? 0 : v) }')
}
r_() { printf '%s' "${RES[$1,$2]}"; }
declare -A COL
keep() { COL[$1]+="$2"$'\n'; }
med() { printf '%s' "${COL[$1]}" | median; }
range() { printf '%s' "${COL[$1]}" | sort -g | sed -n '1p;$p' | paste -sd ' ' | sed 's/ / .. /'; }
fmt0() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = dir == "ge" ? v + 0 >= t + 0 : dir == "lt" ? v + 0 < t + 0 : v + 0 <= t + 0; print (ok ? "met" : "NOT met") }'; }

# Latency from the logging sink's lines after line SKIP: arrival t - occurred_at.
lat_analyse() {
	perl - "$1" "$2" <<'PERL'
use strict;
use warnings;
use JSON::PP;
use Time::Local qw(timegm);
use Digest::SHA qw(hmac_sha256_hex);
my ($file, $skip) = @ARGV;
sub epoch {
	my ($s) = @_;
	$s =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(?:([+-])(\d\d)(?::?(\d\d))?)?$/ or die "bad timestamp '$s'\n";
	my $t = timegm($6, $5, $4, $3, $2 - 1, $1) + ($7 // 0);
	$t -= ($8 eq '+' ? 1 : -1) * ($9 * 3600 + ($10 // 0) * 60) if defined $8;
	return $t;
}
sub pct {
	my ($v, $q) = @_;
	my $i = int($q * @$v + 0.999999) - 1;
	$i = 0 if $i < 0;
	return $v->[$i];
}
my $json = JSON::PP->new->utf8;
my (@lat, @wait, @deliver, %seq);
my ($n, $signed, $verified) = (0, 0, 0);
open my $fh, '<', $file or die "$file: $!\n";
while (my $line = <$fh>) {
	next if $. <= $skip;
	my $r = $json->decode($line);
	my $e = JSON::PP->new->decode($r->{body});
	my $occurred = epoch($e->{occurred_at});
	my $published = epoch($e->{published_at});
	push @lat, ($r->{t} - $occurred) * 1000;
	push @wait, ($published - $occurred) * 1000;
	push @deliver, ($r->{t} - $published) * 1000;
	$seq{$e->{seq}}++;
	$n++;
	if (my $sig = $r->{headers}{'x-intracker-signature-256'}) {
		$signed++;
		my ($p, $k) = $r->{path} =~ m{/p(\d+)/h(\d+)$} or next;
		my $body = $r->{body};
		utf8::encode($body);
		$verified++ if $sig eq 'sha256=' . hmac_sha256_hex($body, "bench secret $p/$k");
	}
}
die "no requests logged\n" unless $n;
@$_ = sort { $a <=> $b } @$_ for \@lat, \@wait, \@deliver;
printf "n=%d events=%d p50=%.2f p99=%.2f max=%.2f min=%.2f wait_p50=%.2f wait_p99=%.2f deliver_p50=%.2f deliver_p99=%.2f signed=%d verified=%d\n",
	$n, scalar(keys %seq), pct(\@lat, 0.5), pct(\@lat, 0.99), $lat[-1], $lat[0],
	pct(\@wait, 0.5), pct(\@wait, 0.99), pct(\@deliver, 0.5), pct(\@deliver, 0.99), $signed, $verified;
PERL
}

# lat_run SECONDS: pgbench at LAT_RATE; RES[lat,key] from the sink's log.
lat_run() {
	local secs=$1 seq0 seq1 n0 skip out kv
	activate lat
	vacuum
	seq0=$(last_seq)
	n0=$(delivered_count)
	skip=$(wc -l <"$TMP/log.jsonl")
	out=$(PGOPTIONS="-c intracker.acting_user=$EDITOR_ID" pgbench -n -U postgres -c 4 -j 1 -R "$LAT_RATE" -T "$secs" \
		-f "$TMP/lat.pgbench" "$BENCH_DB" 2>&1) || { echo "$out" >&2; diagnose "pgbench failed"; }
	seq1=$(last_seq)
	wait_done log "$seq1" $((n0 + (seq1 - seq0) * HOOKS))
	check_delivered log "$seq0" "$seq1"
	RES[lat,tps]=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
	RES[lat,stmt_ms]=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
	RES[lat,lag_ms]=$(sed -n 's/^rate limit schedule lag: avg \([0-9.]*\).*/\1/p' <<<"$out")
	RES[lat,events]=$((seq1 - seq0))
	for kv in $(lat_analyse "$TMP/log.jsonl" "$skip"); do
		RES[lat,${kv%%=*}]=${kv#*=}
	done
	(( ${RES[lat,n]} == (seq1 - seq0) * HOOKS )) ||
		fail "the logging sink got ${RES[lat,n]} requests for $((seq1 - seq0)) events x $HOOKS webhooks"
	(( ${RES[lat,verified]} == ${RES[lat,signed]} )) ||
		fail "${RES[lat,signed]} signed requests, but only ${RES[lat,verified]} signatures match their body"
}
cat >"$TMP/lat.pgbench" <<EOF
\\set n random(1, $TOTAL_TODOS)
UPDATE intracker_data.todos SET title = 'bench lat ' || clock_timestamp() WHERE id = bench.num_id(:n);
EOF

# mem_ctx PID: the "Grand total" of the process's memory contexts, in bytes.
mem_ctx() {
	local pid=$1 size i line
	size=$(stat -c %s "$TMP/server.log")
	sql -d "$BENCH_DB" -c "SELECT pg_log_backend_memory_contexts($pid)" >/dev/null
	for ((i = 0; i < 100; i++)); do
		line=$(tail -c +"$((size + 1))" "$TMP/server.log" | grep -m1 "\[$pid\] LOG:  Grand total: " || true)
		[[ -n $line ]] && break
		sleep 0.05
	done
	sed -n 's/.*Grand total: \([0-9]*\) bytes.*/\1/p' <<<"$line"
}

# --- report header -------------------------------------------------------------------

server_version=$(sql -c 'SHOW server_version')
setting() { sql -d "$BENCH_DB" -c "SHOW $1"; }
echo "intracker webhooks benchmark$( (( QUICK )) && echo ' (--quick)')"
echo "  machine:    $(bench_machine), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "  server:     PostgreSQL $server_version (throwaway cluster; fsync, synchronous_commit, autovacuum off)"
echo "  extension:  intracker $(sql -d "$BENCH_DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'intracker'")" \
	"(intracker.so of $(date -u -r "$("$PG_CONFIG" --pkglibdir)/intracker.so" '+%Y-%m-%d %H:%M UTC')), workers in database $BENCH_DB"
echo "  settings:   intracker.http_max_concurrency = $(setting intracker.http_max_concurrency)," \
	"http_timeout = $(setting intracker.http_timeout), http_max_attempts = $(setting intracker.http_max_attempts)," \
	"http_retry_base_delay = $(setting intracker.http_retry_base_delay),"
echo "              publish_batch_size = $(setting intracker.publish_batch_size)${BENCH_EXTRA_CONF:+; extra: $BENCH_EXTRA_CONF}"
echo "  endpoints:  test/helpers/http_sink.c (cc -O2) on 127.0.0.1, one thread, keep-alive; 'tp' logs nothing, 'log' logs"
echo "              each request's arrival time (part 2 only)"
echo "  webhooks:   $PROJECTS projects x $HOOKS webhooks (format json, event types '*', every other one with a secret:" \
	"signed), $TODOS todos per project"
echo "  events:     UPDATE intracker_data.todos SET title = ... (acting user: an editor), one todo.updated event per row"
echo "  parts:      1. sustained deliveries/s: $TP_EVENTS events x $HOOKS = $((TP_EVENTS * HOOKS)) deliveries per run," \
	"$TP_ROUNDS runs, written in transactions of $BATCH rows"
echo "              2. commit -> delivery latency at $LAT_RATE events/s ($((LAT_RATE * HOOKS)) deliveries/s), ${LAT_SECONDS} s," \
	"pgbench -R, one autocommit UPDATE per event"
echo "              3. healthy deliveries/s without (A) / with (B) one more webhook at /hang/ (project 1), $HANG_EVENTS events" \
	"per run, $HANG_ROUNDS rounds (A B, B A, ...)"
echo "              4. deliverer and publisher memory over $MEM_DELIVERIES deliveries"
echo

# --- warm-up -----------------------------------------------------------------------

tp_run warm tp "$WARMUP_EVENTS"
add_hang_hook hang0 >/dev/null
tp_run warm tp,hang0 "$WARMUP_EVENTS"
lat_run 2

# --- 1. sustained ------------------------------------------------------------------

echo "1. Sustained deliveries/s ($PROJECTS x $HOOKS webhooks, $((TP_EVENTS * HOOKS)) deliveries per run)"
printf '  %-6s %10s %6s %7s %8s %8s | %-41s | %-9s | %s\n' run deliveries "gen s" "total s" "per s" "drain/s" \
	"CPU, % of one core: deliverer publisher writer sink" "deliverer" "machine busy (others),"
printf '  %-6s %10s %6s %7s %8s %8s | %-41s | %-9s | %s\n' "" "" "" "" "" "" "" "us/deliv." "% of $(nproc) CPUs"
for ((r = 1; r <= TP_ROUNDS; r++)); do
	tp_run tp tp "$TP_EVENTS"
	for k in rate drain cpu_deliverer cpu_publisher cpu_writer cpu_sink cpu_machine cpu_other us_per_delivery; do
		keep "tp_$k" "$(r_ tp "$k")"
	done
	printf '  %-6s %10s %6s %7s %8s %8s | %29s %9s %6s %4s | %9s | %4s (%s)\n' "$r" "$(r_ tp delivered)" "$(r_ tp gen_secs)" \
		"$(r_ tp secs)" "$(r_ tp rate)" "$(r_ tp drain)" "$(r_ tp cpu_deliverer)" "$(r_ tp cpu_publisher)" "$(r_ tp cpu_writer)" \
		"$(r_ tp cpu_sink)" "$(r_ tp us_per_delivery)" "$(r_ tp cpu_machine)" "$(r_ tp cpu_other)"
done
TP_RATE=$(fmt0 "$(med tp_rate)")
printf '  %-6s %10s %6s %7s %8s %8s | %29s %9s %6s %4s | %9s | %4s (%s)\n' median "" "" "" "$TP_RATE" "$(fmt0 "$(med tp_drain)")" \
	"$(fmt0 "$(med tp_cpu_deliverer)")" "$(fmt0 "$(med tp_cpu_publisher)")" "$(fmt0 "$(med tp_cpu_writer)")" \
	"$(fmt0 "$(med tp_cpu_sink)")" "$(fmt0 "$(med tp_us_per_delivery)")" "$(fmt0 "$(med tp_cpu_machine)")" "$(fmt0 "$(med tp_cpu_other)")"
echo "  gen s: first to last commit of the writing session; total s: first commit -> last delivered_at; per s: deliveries /"
echo "  total s (the measure); drain/s: deliveries after the last commit / the time from it to the last delivered_at."
echo "  CPU: user+system time from the start of writing until all were delivered (/proc/<pid>/stat), the writer being the"
echo "  writing session's backend; us/deliv.: the deliverer's CPU time per delivery; machine busy: /proc/stat; others: busy"
echo "  time not spent in this cluster's processes or the sinks (other work on the machine, and the bench's own psql polls)."
echo

# --- 2. latency --------------------------------------------------------------------

echo "2. Commit -> delivery latency at $LAT_RATE events/s (${LAT_SECONDS} s; $HOOKS webhooks per project on the logging sink)"
lat_run "$LAT_SECONDS"
echo "  events $(r_ lat events) (pgbench: $(r_ lat tps) tps, statement latency average $(r_ lat stmt_ms) ms," \
	"schedule lag average $(r_ lat lag_ms) ms), deliveries $(r_ lat n), signed $(r_ lat signed) (signatures checked: $(r_ lat verified) match)"
printf '  %-50s %8s %8s %8s %8s\n' "" p50 p99 max min
printf '  %-50s %8.2f %8.2f %8.2f %8.2f ms\n' "occurred_at -> arrival at the sink" "$(r_ lat p50)" "$(r_ lat p99)" "$(r_ lat max)" "$(r_ lat min)"
printf '  %-50s %8.2f %8.2f\n' "  occurred_at -> published_at (publisher)" "$(r_ lat wait_p50)" "$(r_ lat wait_p99)"
printf '  %-50s %8.2f %8.2f\n' "  published_at -> arrival (fan-out, deliverer)" "$(r_ lat deliver_p50)" "$(r_ lat deliver_p99)"
echo "  occurred_at is the writing transaction's start (now()); for these one-statement autocommit transactions it is the"
echo "  commit minus the statement's duration (about the statement latency above), so the latencies are high by at most that."
echo "  published_at: start of the publisher's round that took the event; both ends are stamped with the same clock."
echo

# --- 3. hanging endpoint -------------------------------------------------------------

echo "3. Healthy deliveries/s without (A) and with (B) a hanging webhook ($((HANG_EVENTS * HOOKS)) healthy deliveries per run;"
echo "   B adds a fresh webhook at /hang/ (project 1: $((HANG_EVENTS / PROJECTS)) more deliveries queued), each attempt timing out after" \
	"$(setting intracker.http_timeout))"
printf '  %-6s %9s %9s %8s | %-10s | %-13s | %s\n' round "A per s" "B per s" loss "others %" "deliverer" \
	"B: run s, hanging webhook's attempts (in flight)"
printf '  %-6s %9s %9s %8s | %-10s | %-13s |\n' "" "" "" "" "A / B" "us/deliv. A/B"
DISTURBED=0
for ((r = 1; r <= HANG_ROUNDS; r++)); do
	order="A B"
	(( r % 2 == 0 )) && order="B A"
	for arm in $order; do
		if [[ $arm == A ]]; then
			tp_run A tp "$HANG_EVENTS"
		else
			hang_id=$(add_hang_hook "hang$r")
			tp_run B "tp,hang$r" "$HANG_EVENTS"
			read -r hang_attempts hang_in_flight < <(sql -d "$BENCH_DB" -F ' ' -c "SELECT coalesce(sum(d.attempts), 0), s.in_flight
			    FROM intracker_data.deliverer_state() s LEFT JOIN intracker_data.deliveries d ON d.queue_id = '$hang_id' GROUP BY s.in_flight")
			activate tp
			wait_idle
		fi
	done
	loss=$(awk -v a="$(r_ A rate)" -v b="$(r_ B rate)" 'BEGIN { printf "%.1f", 100 * (1 - b / a) }')
	keep hang_A "$(r_ A rate)"
	keep hang_B "$(r_ B rate)"
	keep hang_loss "$loss"
	keep hang_B_secs "$(r_ B secs)"
	keep hang_us_A "$(r_ A us_per_delivery)"
	keep hang_us_B "$(r_ B us_per_delivery)"
	# other work on the machine took a share of the CPUs in one arm's run that differs by more than 10 points
	flag=" "
	if awk -v a="$(r_ A cpu_other)" -v b="$(r_ B cpu_other)" 'BEGIN { exit !(a - b > 10 || b - a > 10) }'; then
		flag="*" DISTURBED=$((DISTURBED + 1))
	else
		keep hang_loss_quiet "$loss"
	fi
	printf '  %-6s %9s %9s %7s%%%s| %4s / %-3s | %5s / %-5s | %6s s, %d attempt(s) (in flight: %d)\n' "$r" "$(r_ A rate)" \
		"$(r_ B rate)" "$loss" "$flag" "$(r_ A cpu_other)" "$(r_ B cpu_other)" "$(r_ A us_per_delivery)" "$(r_ B us_per_delivery)" \
		"$(r_ B secs)" "$hang_attempts" "$hang_in_flight"
done
HANG_LOSS=$(med hang_loss | xargs printf '%.1f')
printf '  %-6s %9.0f %9.0f %7s%% | %-10s | %5.0f / %-5.0f | ratio of medians: %.1f %%\n' median "$(med hang_A)" "$(med hang_B)" \
	"$HANG_LOSS" "" "$(med hang_us_A)" "$(med hang_us_B)" "$(awk -v a="$(med hang_A)" -v b="$(med hang_B)" 'BEGIN { print 100 * (1 - b / a) }')"
HANG_LOSS_QUIET=""
if (( HANG_ROUNDS - DISTURBED >= 1 )); then
	HANG_LOSS_QUIET=$(med hang_loss_quiet | xargs printf '%.1f')
	echo "  median loss of the $((HANG_ROUNDS - DISTURBED)) undisturbed rounds (no *): $HANG_LOSS_QUIET %"
fi
echo "  loss = 1 - B/A of the same round.  others: % of the machine's CPU time taken by processes other than this bench's"
echo "  in A's / B's run (see 1.); * = they differ by more than 10 points: the round compares a busier machine with a"
echo "  quieter one.  us/deliv.: the deliverer's CPU time per healthy delivery (insensitive to waiting for a CPU)."
echo "  Attempts: those of B's hanging webhook recorded by the end of its run (each a timeout); in flight: the deliverer's"
echo "  requests in flight right then (the hanging one, unless it was waiting for its retry).  After its run the hanging"
echo "  webhook is paused, and the next run starts once its last request has timed out."
hang_last=$(sql -d "$BENCH_DB" -c "SELECT max(last_error) FROM intracker_data.deliveries WHERE queue_id = ANY (${IDS[hang]})")
echo "  the hanging webhooks' last error: ${hang_last:-none}"
if awk -v s="$(med hang_B_secs)" -v t="$TIMEOUT_MS" 'BEGIN { exit !(s < 2 * t / 1000) }'; then
	echo "  NOTE: B's runs last less than two timeouts: too short for the hanging endpoint to weigh much (raise BENCH_HANG_EVENTS)."
fi
echo

# --- 4. memory -----------------------------------------------------------------------

echo "4. Worker memory over $MEM_DELIVERIES deliveries (healthy webhooks; after parts 1-3)"
activate tp
wait_idle
vacuum
printf '  %-12s | %-28s | %-28s\n' "" "deliverer (pid $DELIVERER_PID)" "publisher (pid $PUBLISHER_PID)"
printf '  %-12s | %13s %14s | %13s %14s\n' deliveries "VmRSS kB" "RssAnon kB" "VmRSS kB" "RssAnon kB"
mem_row() {
	printf '  %-12s | %13s %14s | %13s %14s\n' "$1" "$(status_kb "$DELIVERER_PID" VmRSS)" "$(status_kb "$DELIVERER_PID" RssAnon)" \
		"$(status_kb "$PUBLISHER_PID" VmRSS)" "$(status_kb "$PUBLISHER_PID" RssAnon)"
}
D_CTX0=$(mem_ctx "$DELIVERER_PID")
P_CTX0=$(mem_ctx "$PUBLISHER_PID")
D_RSS0=$(status_kb "$DELIVERER_PID" VmRSS) D_ANON0=$(status_kb "$DELIVERER_PID" RssAnon)
P_RSS0=$(status_kb "$PUBLISHER_PID" VmRSS) P_ANON0=$(status_kb "$PUBLISHER_PID" RssAnon)
mem_row 0
step_events=$((MEM_DELIVERIES / HOOKS / MEM_STEPS))
mem_t0=$(now)
for ((s = 1; s <= MEM_STEPS; s++)); do
	seq0=$(last_seq)
	n0=$(delivered_count)
	gen_events "$step_events"
	wait_done tp "$((seq0 + step_events))" $((n0 + step_events * HOOKS))
	check_delivered tp "$seq0" "$((seq0 + step_events))"
	mem_row "$((s * step_events * HOOKS))"
done
mem_secs=$(awk -v a="$mem_t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
D_CTX1=$(mem_ctx "$DELIVERER_PID")
P_CTX1=$(mem_ctx "$PUBLISHER_PID")
D_RSS1=$(status_kb "$DELIVERER_PID" VmRSS) D_ANON1=$(status_kb "$DELIVERER_PID" RssAnon)
P_RSS1=$(status_kb "$PUBLISHER_PID" VmRSS) P_ANON1=$(status_kb "$PUBLISHER_PID" RssAnon)
printf '  %-12s | %+13d %+14d | %+13d %+14d\n' growth "$((D_RSS1 - D_RSS0))" "$((D_ANON1 - D_ANON0))" \
	"$((P_RSS1 - P_RSS0))" "$((P_ANON1 - P_ANON0))"
printf '  %-12s | %28s | %28s\n' contexts "$((D_CTX0 / 1024)) -> $((D_CTX1 / 1024)) kB" "$((P_CTX0 / 1024)) -> $((P_CTX1 / 1024)) kB"
echo "  contexts: the total of the process's memory contexts (pg_log_backend_memory_contexts), before -> after."
echo "  ($MEM_DELIVERIES deliveries in $mem_secs s.)  VmRSS = RssAnon (private) + RssFile + RssShmem (pages of shared_buffers"
echo "  the process has touched: they grow as it reads more of the tables and are not memory it owns)."
echo

# --- cross-checks ----------------------------------------------------------------------

read -r now_pid now_started < <(sql -d "$BENCH_DB" -F ' ' -c 'SELECT pid, extract(epoch FROM started_at) FROM intracker.deliverer_status')
[[ $now_pid == "$DELIVERER_PID" && $now_started == "$DELIVERER_STARTED" ]] ||
	fail "the deliverer restarted during the run (pid $DELIVERER_PID -> $now_pid); see $TMP/server.log"
wait_idle
db_tp=$(sql -d "$BENCH_DB" -c "SELECT coalesce(sum(attempts), 0) FROM intracker_data.deliveries WHERE queue_id = ANY (${IDS[tp]} || ${IDS[hang]})")
db_log=$(sql -d "$BENCH_DB" -c "SELECT coalesce(sum(attempts), 0) FROM intracker_data.deliveries WHERE queue_id = ANY (${IDS[log]})")
sink_tp=$(sink_count tp)
sink_log=$(sink_count log)
echo "Cross-checks: requests received by the sinks / attempts recorded: tp $sink_tp / $db_tp, log $sink_log / $db_log;" \
	"deliverer pid $now_pid throughout: $([[ $now_pid == "$DELIVERER_PID" ]] && echo yes || echo NO)"
[[ $sink_tp == "$db_tp" ]] || fail "the tp sink received $sink_tp requests, the database recorded $db_tp attempts"
[[ $sink_log == "$db_log" ]] || fail "the log sink received $sink_log requests, the database recorded $db_log attempts"
dead=$(sql -d "$BENCH_DB" -c "SELECT count(*) FROM intracker_data.deliveries WHERE state = 'dead' AND NOT queue_id = ANY (${IDS[hang]})")
(( dead == 0 )) || fail "$dead deliveries to healthy endpoints are dead"
echo

# --- summary -------------------------------------------------------------------------

D_ANON_GROWTH=$((D_ANON1 - D_ANON0))
D_CTX_GROWTH=$(( (D_CTX1 - D_CTX0) / 1024 ))
mem_ok=$( (( D_ANON_GROWTH <= TARGET_ANON_KB && D_CTX_GROWTH <= TARGET_CTX_KB )) && echo met || echo "NOT met")
echo "Summary ($(nproc) CPUs, PostgreSQL $server_version; http_max_concurrency $CONCURRENCY, http_timeout $HTTP_TIMEOUT;" \
	"$PROJECTS projects x $HOOKS webhooks, half signed)"
printf '  %-58s %16s   %-30s %s\n' measure result target verdict
printf '  %-58s %16s   %-30s %s\n' "1. sustained deliveries/s (median of $TP_ROUNDS)" "$TP_RATE" \
	">= $TARGET_RATE (10x pg_net's 200/s)" "$(verdict "$TP_RATE" "$TARGET_RATE" ge)  (runs: $(range tp_rate | awk '{ printf "%.0f .. %.0f", $1, $3 }'))"
printf '  %-58s %16s   %-30s %s\n' "   CPU (% of a core): deliverer/publisher/writer/sink" \
	"$(fmt0 "$(med tp_cpu_deliverer)") / $(fmt0 "$(med tp_cpu_publisher)") / $(fmt0 "$(med tp_cpu_writer)") / $(fmt0 "$(med tp_cpu_sink)")" "" \
	"machine $(fmt0 "$(med tp_cpu_machine)") % busy; deliverer $(fmt0 "$(med tp_us_per_delivery)") us/delivery"""
printf '  %-58s %16s   %-30s %s\n' "2. commit -> delivery p50 at $LAT_RATE events/s" "$(printf '%.2f ms' "$(r_ lat p50)")" "(none given)" ""
printf '  %-58s %16s   %-30s %s\n' "   commit -> delivery p99" "$(printf '%.2f ms' "$(r_ lat p99)")" "(none given)" \
	"max $(printf '%.2f' "$(r_ lat max)") ms; from transaction start (see 2.)"
printf '  %-58s %16s   %-30s %s\n' "3. healthy deliveries/s without / with a hanging endpoint" \
	"$(fmt0 "$(med hang_A)") / $(fmt0 "$(med hang_B)")" "" ""
printf '  %-58s %16s   %-30s %s\n' "   loss (median of $HANG_ROUNDS rounds' 1 - B/A)" "$HANG_LOSS %" "< $TARGET_LOSS %" \
	"$(verdict "$HANG_LOSS" "$TARGET_LOSS" lt)  (rounds: $(range hang_loss) %${HANG_LOSS_QUIET:+; undisturbed rounds: $HANG_LOSS_QUIET %})"
printf '  %-58s %16s   %-30s %s\n' "   deliverer CPU per healthy delivery, A / B" "$(fmt0 "$(med hang_us_A)") / $(fmt0 "$(med hang_us_B)") us" "" ""
printf '  %-58s %16s   %-30s %s\n' "4. deliverer VmRSS over $MEM_DELIVERIES deliveries (kB)" "$D_RSS0 -> $D_RSS1" "" \
	"$(printf '%+d kB' "$((D_RSS1 - D_RSS0))")"
printf '  %-58s %16s   %-30s %s\n' "   deliverer RssAnon (private) (kB)" "$D_ANON0 -> $D_ANON1" "growth <= $TARGET_ANON_KB kB" \
	"$mem_ok  ($(printf '%+d kB' "$D_ANON_GROWTH"); memory contexts $(printf '%+d kB' "$D_CTX_GROWTH"), target <= $TARGET_CTX_KB kB)"
printf '  %-58s %16s   %-30s %s\n' "   publisher VmRSS / RssAnon (kB)" "$P_RSS0 -> $P_RSS1" "" \
	"$(printf '%+d kB' "$((P_RSS1 - P_RSS0))") / $(printf '%+d kB' "$((P_ANON1 - P_ANON0))") (RssAnon $P_ANON0 -> $P_ANON1; contexts $(printf '%+d kB' "$(( (P_CTX1 - P_CTX0) / 1024 ))"))"
if (( ${#FAILURES[@]} )); then
	echo
	echo "FAILED checks:"
	printf '  %s\n' "${FAILURES[@]}"
	exit 1
fi
exit 0
