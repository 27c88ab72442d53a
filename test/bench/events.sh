#!/usr/bin/env bash
# test/bench/events.sh — what durable change events cost against a naive pg_notify trigger (issue 5).
#
# Run it where the extension is installed (`make && sudo make install`):
#
#   sudo test/bench/events.sh        # or as any non-root user
#
# It starts its own throwaway cluster (test/bench/lib.sh: unix socket only, in
# a temp dir, shared_preload_libraries = 'intracker', fsync / synchronous_commit
# / autovacuum off; as root the server runs as the user intracker_test) with
# intracker.database = 'postgres', the bench database, so the publisher
# worker serves it; loads the data of events_setup.sql, builds the measuring
# client events_bench.c (cc, libpq) into the temp dir, measures, and removes
# the cluster however it exits.  About two and a half minutes on 2 CPUs.
#
# It prints, from one run, for two arms on the SAME workload:
#
#   A  intracker: the outbox trigger todos_events writes each change to
#      intracker_data.outbox in the writer's transaction; the publisher
#      worker numbers it (seq), moves it to intracker_data.events and
#      NOTIFYs it on 'intracker' and on the project's channel.
#   B  naive: a plain PL/pgSQL AFTER ROW trigger (bench.naive_notify() of
#      events_setup.sql) calls pg_notify() with the same payload fields on
#      the same two channels in the writer's own transaction.  No
#      durability: a notification sent while no client listens is gone;
#      no seq, no replay.
#   Exactly one of the two triggers is enabled at a time (ALTER TABLE
#   intracker_data.todos ENABLE / DISABLE TRIGGER todos_events /
#   todos_naive_notify).
#
#  1. commit -> listener latency, p50 / p99 / max, at a steady BENCH_RATE
#     (1,000) events/s for BENCH_LAT_SECONDS.  Target: intracker p99 <= 5 ms.
#  2. Maximum sustained events/s: BENCH_TP_WRITERS writers as fast as they
#     can for BENCH_TP_SECONDS with the listener attached.  intracker:
#     events / time from start until the publisher has published all of
#     them (max(seq) of intracker_data.events, which is what
#     worker_status.last_published_seq shows); naive: events / time until
#     the last commit (the writers' own tps: each commit is its
#     notification).  Target: intracker / naive >= 0.8.
#
# Method
#  - Workload (both arms, both parts): writer connections logged in as
#    intracker_bench (a member of intracker_user acting as an editor of all
#    ten bench projects, via ALTER ROLE ... SET intracker.acting_user; RLS
#    and the editor check apply) each run, as its own transaction,
#      SELECT version FROM intracker.update_todo(<todo>, {"title": <new>}, <version>)
#    over its own range of the BENCH_TODOS todos, with the version the last
#    update returned, so no write fails (PT409) and every write is one real
#    change = one todo.updated event (and one naive notification).
#  - Measuring client: events_bench.c, ONE process with the writer
#    connections (one thread each) and a libpq listener connection (LISTEN
#    intracker, its own thread), so both stamps come from the same clock
#    (CLOCK_REALTIME, the server's clock too).  Commit stamp: taken by the
#    writer when update_todo's result returns, i.e. after the statement's
#    implicit COMMIT.  Arrival stamp: when the listener's socket becomes
#    readable with the notification.  Each notification is matched to its
#    write by entity_id + version from the payload; a write whose
#    notification never arrives (30 s) fails the run.  Part 1 paces
#    BENCH_LAT_WRITERS writers evenly (writer i at i/rate + k * writers/rate,
#    open loop).  For arm A, part 1 also splits the latency with the events
#    table: commit -> published_at (the start of the publisher's round that
#    took the event: waiting to be picked up) and published_at -> arrival
#    (the round's work, its commit and the delivery), and counts the
#    publisher's rounds (one published_at each) for the batch sizes.
#  - Interleaved: BENCH_ROUNDS rounds; each runs part 1 for A then B, then
#    part 2 for A then B (even rounds B then A, so that a drift within a
#    round does not always favour the same arm).  The summary reports
#    medians over rounds; the throughput ratio is the median of the
#    per-round ratios (A and B of a round ran seconds apart).  One short
#    warm-up of each arm first, not counted.  Before every run: VACUUM of
#    todos, outbox and events (autovacuum is off) and an empty outbox (the
#    client waits for backlog 0), so no run inherits another's work.  A run
#    whose writers fell more than 5 % short of BENCH_RATE is marked "*":
#    the machine was too busy for that latency to mean much.
#  - Where the time goes (printed, not judged): server CPU per event of the
#    writers' backends, the publisher and the listener's backend, from
#    /proc/<pid>/stat over each part 1 run; for A the latency split at
#    published_at and the publisher's events per round.  For A, the client
#    also checks that notifications arrive as seq N+1, N+2, ... in order.
#  - Bias to know about: the commit stamp is taken when the writer's thread
#    gets the result, which on a busy machine can be milliseconds after the
#    server committed (min latencies below zero show it); that makes both
#    arms' latencies look shorter, not longer.
#  - fsync and synchronous_commit are off (lib.sh): the commit costs no WAL
#    flush in either arm; with durable commits the outbox's extra WAL would
#    weigh a little more, and every commit would be slower in both arms.
#  - Exit status: 0 when every run completed (a missed target is reported,
#    not an error: timings are not assertions); 1 when a write failed or a
#    notification was lost or out of order (with the publisher's state and
#    the server's locks printed if it stopped publishing); 2 when the setup
#    fails.
#
# Environment (defaults in brackets):
#   BENCH_ROUNDS [7]  BENCH_RATE [1000]  BENCH_LAT_SECONDS [5]  BENCH_LAT_WRITERS [4]
#   BENCH_TP_SECONDS [4]  BENCH_TP_WRITERS [4]  BENCH_WARMUP_SECONDS [1]  BENCH_TODOS [10000]
#   BENCH_EXTRA_CONF [none]  one more postgresql.conf line, e.g. 'intracker.publish_batch_size = 100'
#   BENCH_PORT [55771]  PG_CONFIG [/usr/lib/postgresql/15/bin/pg_config]  KEEP_BENCH=1 keeps the temp dir
#   With sudo, pass them as `sudo BENCH_ROUNDS=3 test/bench/events.sh`.
set -euo pipefail

BENCH_NAME=events
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

ROUNDS=${BENCH_ROUNDS:-7}
RATE=${BENCH_RATE:-1000}
LAT_SECONDS=${BENCH_LAT_SECONDS:-5}
LAT_WRITERS=${BENCH_LAT_WRITERS:-4}
TP_SECONDS=${BENCH_TP_SECONDS:-4}
TP_WRITERS=${BENCH_TP_WRITERS:-4}
WARMUP=${BENCH_WARMUP_SECONDS:-1}
TODOS=${BENCH_TODOS:-10000}
PORT=${BENCH_PORT:-55771}
BENCH_ROLE=intracker_bench
BENCH_DB=postgres
TARGET_RATIO=0.8
TARGET_P99_MS=5
(( TODOS >= LAT_WRITERS && TODOS >= TP_WRITERS )) || bench_die "BENCH_TODOS must be at least the number of writers"
command -v cc >/dev/null || bench_die "cc not found (it builds events_bench.c)"

extra_conf=()
[[ -n ${BENCH_EXTRA_CONF:-} ]] && extra_conf=("$BENCH_EXTRA_CONF")
bench_start_cluster "$PORT" "intracker.database = '$BENCH_DB'" ${extra_conf[@]+"${extra_conf[@]}"}
TMP=$BENCH_TMP

cc -O2 -pthread -o "$TMP/events_bench" "$HERE/events_bench.c" -I"$("$PG_CONFIG" --includedir)" \
	-L"$("$PG_CONFIG" --libdir)" -lpq 2>"$TMP/cc.log" || { cat "$TMP/cc.log" >&2; bench_die "building events_bench.c failed"; }

# --- data ----------------------------------------------------------------------

sql -d "$BENCH_DB" -v todos="$TODOS" -v bench_role="$BENCH_ROLE" -f "$HERE/events_setup.sql" ||
	bench_die "setting up the bench data failed (error above)"

# The publisher must be serving the bench database (it rechecks at once
# after CREATE EXTENSION) and have published the todo.created events of the load.
bench_wait_published "$BENCH_DB"
visible=$(sql -d "$BENCH_DB" -U "$BENCH_ROLE" -c 'SELECT count(*) FROM intracker.todos')
[[ $visible == "$TODOS" ]] || bench_die "the bench role sees $visible todos, expected $TODOS"

# --- running -------------------------------------------------------------------

WRITER_CONN="host=$PGHOST port=$PGPORT dbname=$BENCH_DB user=$BENCH_ROLE"
SUPER_CONN="host=$PGHOST port=$PGPORT dbname=$BENCH_DB user=postgres"

# set_arm intracker|naive: exactly one of the two triggers fires.
set_arm() {
	local on=todos_events off=todos_naive_notify
	[[ $1 == naive ]] && on=todos_naive_notify off=todos_events
	sql -d "$BENCH_DB" -c "ALTER TABLE intracker_data.todos ENABLE TRIGGER $on, DISABLE TRIGGER $off"
	[[ $(sql -d "$BENCH_DB" -c "SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger
	      WHERE tgrelid = 'intracker_data.todos'::regclass AND tgenabled <> 'D'
	        AND tgname IN ('todos_events', 'todos_naive_notify')") == "$on" ]] ||
		bench_die "could not switch to arm $1"
}

# run ARM MODE SECONDS: one events_bench run after a VACUUM; stores every
# key=value of its RESULT line in RES[ARM,MODE,key]; exits 1 if it failed.
declare -A RES
run() {
	local arm=$1 mode=$2 secs=$3 out rc=0 writers kv
	[[ $mode == latency ]] && writers=$LAT_WRITERS || writers=$TP_WRITERS
	sql -d "$BENCH_DB" -c 'VACUUM intracker_data.todos, intracker_data.outbox, intracker_data.events'
	out=$("$TMP/events_bench" -m "$mode" -a "$arm" -W "$WRITER_CONN" -S "$SUPER_CONN" \
		-c "$writers" -r "$RATE" -t "$secs" -n "$TODOS" 2>"$TMP/events_bench.err") || rc=$?
	if (( rc != 0 )) || ! grep -q '^RESULT ' <<<"$out"; then
		cat "$TMP/events_bench.err" >&2
		echo "$out" >&2
		echo "$BENCH_NAME: events_bench -m $mode -a $arm failed (exit $rc); the numbers of a failing run would mean nothing" >&2
		exit 1
	fi
	[[ -s $TMP/events_bench.err ]] && sed 's/^/  note: /' "$TMP/events_bench.err"
	# shellcheck disable=SC2013 # words, not lines: the key=value pairs of one line
	for kv in $(sed -n 's/^RESULT //p' <<<"$out"); do
		RES[$arm,$mode,${kv%%=*}]=${kv#*=}
	done
}
r_() { printf '%s' "${RES[$1,$2,$3]}"; }

ms() { awk -v us="$1" 'BEGIN { v = us / 1000; if (v > -0.005 && v < 0.005) v = 0; printf "%.2f", v }'; }
# COL[name] collects one number per round, for the medians
declare -A COL
keep() { COL[$1]+="$2"$'\n'; }
med() { printf '%s' "${COL[$1]}" | median; }
range() { printf '%s' "${COL[$1]}" | sort -g | sed -n '1p;$p' | paste -sd ' ' | sed 's/ / .. /'; }

server_version=$(sql -c 'SHOW server_version')
batch_size=$(sql -d "$BENCH_DB" -c 'SHOW intracker.publish_batch_size')
echo "intracker events benchmark"
echo "  machine:    $(bench_machine), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "  server:     PostgreSQL $server_version (throwaway cluster; fsync, synchronous_commit, autovacuum off)"
echo "  extension:  intracker $(sql -d "$BENCH_DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'intracker'")" \
	"(intracker.so of $(date -u -r "$("$PG_CONFIG" --pkglibdir)/intracker.so" '+%Y-%m-%d %H:%M UTC')), publisher in database" \
	"$BENCH_DB, intracker.publish_batch_size = $batch_size"
echo "  workload:   SELECT version FROM intracker.update_todo(<todo>, {\"title\": <new>}, <version>) as an editor" \
	"(RLS on),"
echo "              one statement per transaction, each writer on its own todos ($TODOS todos in 10 projects)"
echo "  arms:       A intracker: outbox trigger todos_events + publisher worker + NOTIFY"
echo "              B naive: plain AFTER ROW trigger calling pg_notify() (same payload fields, same two channels)"
echo "  parts:      1. commit -> listener latency at $RATE events/s ($LAT_WRITERS paced writers, ${LAT_SECONDS} s)"
echo "              2. max sustained events/s ($TP_WRITERS closed-loop writers, ${TP_SECONDS} s; A: until the publisher" \
	"published the last event)"
echo "  order:      $ROUNDS rounds; each: part 1 A B, then part 2 A B (B A, B A in even rounds); one listener" \
	"(LISTEN intracker) attached throughout"
echo

for arm in intracker naive; do
	set_arm "$arm"
	run "$arm" latency "$WARMUP"
	run "$arm" throughput "$WARMUP"
done

printf '  %-6s %-10s|%34s |%43s |%29s | %s\n' "" "" "1. latency at $RATE events/s (ms)" "2. max sustained (events/s)" \
	"server CPU us/event (part 1)" "A: wait / deliver p50/p99 (ms),"
printf '  %-6s %-10s| %7s %7s %7s %7s   | %9s %8s %7s %7s %7s | %9s %9s %8s | %s\n' round arm p50 p99 max rate \
	sustained writer/s backlog drain "A/B" writers publisher listener "events per round 1. / 2."
SLOW=0
for ((r = 1; r <= ROUNDS; r++)); do
	order="intracker naive"
	(( r % 2 == 0 )) && order="naive intracker"
	for arm in $order; do
		set_arm "$arm"
		run "$arm" latency "$LAT_SECONDS"
	done
	for arm in $order; do
		set_arm "$arm"
		run "$arm" throughput "$TP_SECONDS"
	done
	sus_ratio=$(ratio "$(r_ intracker throughput sustained)" "$(r_ naive throughput sustained)")
	wtps_ratio=$(ratio "$(r_ intracker throughput writer_tps)" "$(r_ naive throughput writer_tps)")
	keep sus_ratio "$sus_ratio"
	keep wtps_ratio "$wtps_ratio"
	for arm in intracker naive; do
		rate=$(r_ "$arm" latency rate)
		flag=" "
		if awk -v r="$rate" -v t="$RATE" 'BEGIN { exit !(r < 0.95 * t) }'; then flag="*" SLOW=1; fi
		for k in p50_us p99_us max_us rate cpu_writers_us cpu_publisher_us cpu_listener_us; do keep "$arm,$k" "$(r_ "$arm" latency "$k")"; done
		for k in sustained writer_tps; do keep "$arm,tp_$k" "$(r_ "$arm" throughput "$k")"; done
		if [[ $arm == intracker ]]; then
			backlog=$(r_ "$arm" throughput backlog_at_write_end)
			drain=$(awk -v p="$(r_ "$arm" throughput published_seconds)" -v w="$(r_ "$arm" throughput write_seconds)" \
				'BEGIN { printf "%.2f", p - w }')
			detail="$(ms "$(r_ "$arm" latency wait_p50_us)")/$(ms "$(r_ "$arm" latency wait_p99_us)")"
			detail+=" / $(ms "$(r_ "$arm" latency deliver_p50_us)")/$(ms "$(r_ "$arm" latency deliver_p99_us)");"
			detail+=" $(r_ "$arm" latency mean_batch) / $(r_ "$arm" throughput mean_batch)"
			keep wait_p99 "$(r_ "$arm" latency wait_p99_us)"
			keep deliver_p99 "$(r_ "$arm" latency deliver_p99_us)"
			keep batch_lat "$(r_ "$arm" latency mean_batch)"
			keep batch_tp "$(r_ "$arm" throughput mean_batch)"
			label="A intrack." shown_ratio=$sus_ratio
		else
			backlog=- drain=- detail="" label="B naive" shown_ratio=""
		fi
		printf '  %-6s %-10s| %7s %7s %7s %6.0f%s   | %9.0f %8.0f %7s %7s %7s | %9.0f %9.0f %8.0f | %s\n' "$r" "$label" \
			"$(ms "$(r_ "$arm" latency p50_us)")" "$(ms "$(r_ "$arm" latency p99_us)")" "$(ms "$(r_ "$arm" latency max_us)")" \
			"$rate" "$flag" "$(r_ "$arm" throughput sustained)" "$(r_ "$arm" throughput writer_tps)" "$backlog" "$drain" \
			"$shown_ratio" "$(r_ "$arm" latency cpu_writers_us)" "$(r_ "$arm" latency cpu_publisher_us)" \
			"$(r_ "$arm" latency cpu_listener_us)" "$detail"
	done
done
for arm in intracker naive; do
	[[ $arm == intracker ]] && label="A intrack." || label="B naive"
	printf '  %-6s %-10s| %7s %7s %7s %6.0f    | %9.0f %8.0f %7s %7s %7s | %9.0f %9.0f %8.0f |\n' median "$label" \
		"$(ms "$(med "$arm,p50_us")")" "$(ms "$(med "$arm,p99_us")")" "$(ms "$(med "$arm,max_us")")" "$(med "$arm,rate")" \
		"$(med "$arm,tp_sustained")" "$(med "$arm,tp_writer_tps")" "" "" "$([[ $arm == intracker ]] && med sus_ratio | xargs printf '%.2f')" \
		"$(med "$arm,cpu_writers_us")" "$(med "$arm,cpu_publisher_us")" "$(med "$arm,cpu_listener_us")"
done
echo "  backlog: A's events not yet published when the writers stopped; drain: seconds from then until all were."
echo "  A/B: sustained A / sustained B of the same round.  CPU: user+system time of the server processes over the"
echo "  part 1 run, per event: the writers' backends, the publisher worker, the listener's backend (/proc/<pid>/stat)."
echo "  wait: commit -> start of the publisher round that took the event (published_at); deliver: round start -> listener."
(( SLOW )) && echo "  * the writers fell more than 5 % short of $RATE events/s: the machine was overloaded during that run."
echo

P99_MS=$(ms "$(med intracker,p99_us)")
SUS_RATIO=$(med sus_ratio | xargs printf '%.2f')
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = dir == "ge" ? v + 0 >= t + 0 : v + 0 <= t + 0; print (ok ? "met" : "MISSED") }'; }
echo "Summary ($(nproc) CPUs, PostgreSQL $server_version; medians over $ROUNDS rounds, A and B measured side by side in each)"
printf '  %-50s %12s %12s %8s   %-9s %s\n' measure "A intracker" "B naive" "A/B" target verdict
printf '  %-50s %9s ms %9s ms %8s   %-9s %s\n' "commit -> listener p50 at $RATE events/s" "$(ms "$(med intracker,p50_us)")" \
	"$(ms "$(med naive,p50_us)")" "" "" ""
printf '  %-50s %9s ms %9s ms %8s   %-9s %s\n' "commit -> listener p99 at $RATE events/s" "$P99_MS" \
	"$(ms "$(med naive,p99_us)")" "" "<= $TARGET_P99_MS ms" "$(verdict "$P99_MS" "$TARGET_P99_MS" le)  (A per round: $(range intracker,p99_us | awk '{ printf "%.2f .. %.2f ms", $1 / 1000, $3 / 1000 }'))"
printf '  %-50s %9s ms %9s ms %8s   %-9s %s\n' "commit -> listener max at $RATE events/s" "$(ms "$(med intracker,max_us)")" \
	"$(ms "$(med naive,max_us)")" "" "" ""
printf '  %-50s %12.0f %12.0f %8s   %-9s %s\n' "max sustained events/s ($TP_WRITERS writers)" "$(med intracker,tp_sustained)" \
	"$(med naive,tp_sustained)" "$SUS_RATIO" ">= $TARGET_RATIO" \
	"$(verdict "$SUS_RATIO" "$TARGET_RATIO" ge)  (per round $(range sus_ratio); ratio of medians $(ratio "$(med intracker,tp_sustained)" "$(med naive,tp_sustained)"))"
printf '  %-50s %12.0f %12.0f %8s\n' "  writers' commits/s in that run" "$(med intracker,tp_writer_tps)" "$(med naive,tp_writer_tps)" \
	"$(med wtps_ratio | xargs printf '%.2f')"
printf '  %-50s %12.0f %12.0f %8s\n' "server CPU us/event at $RATE/s: writers' backends" "$(med intracker,cpu_writers_us)" \
	"$(med naive,cpu_writers_us)" ""
printf '  %-50s %12.0f %12.0f %8s\n' "                                  publisher" "$(med intracker,cpu_publisher_us)" \
	"$(med naive,cpu_publisher_us)" ""
printf '  %-50s %12.0f %12.0f %8s\n' "                                  listener's backend" "$(med intracker,cpu_listener_us)" \
	"$(med naive,cpu_listener_us)" ""
echo "  A's latency split (p99): commit -> publisher round start $(ms "$(med wait_p99)") ms, round start -> listener" \
	"$(ms "$(med deliver_p99)") ms; events per publisher round: $(med batch_lat | xargs printf '%.1f') at $RATE/s," \
	"$(med batch_tp | xargs printf '%.1f') flat out"
echo "  sustained: A = events / (start -> the publisher has published the last one), B = events / (start -> last commit)."
echo "  Note: B, the naive trigger, has no durability and no replay: a notification sent while a client is"
echo "  disconnected is lost, and there is no seq and no events_since().  A stores and numbers every event"
echo "  (outbox, then events) in the same transactions as the changes; the ratio is the price of that."
(( SLOW )) && echo "  Some runs did not reach $RATE events/s (marked * above): the machine was busy; their latencies are pessimistic."
exit 0
