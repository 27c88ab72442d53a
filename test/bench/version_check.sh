#!/usr/bin/env bash
# test/bench/version_check.sh — what optimistic locking costs, measured with pgbench.
#
# Run it on a machine where the extension is installed (for a fresh Debian 12:
# `sudo test/bin/install-deps && make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
#  && sudo make install PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config`), then:
#
#   sudo test/bench/version_check.sh        # or as any non-root user
#
# It starts its own throwaway cluster (unix socket only, in a temp dir) with
# shared_preload_libraries = 'intracker', loads BENCH_TODOS todos, measures, and
# stops and removes the cluster however it exits.  PostgreSQL refuses to run as
# root, so as root the server runs as the unprivileged user intracker_test
# (created if missing); psql and pgbench connect through the socket as before.
#
# It prints, from one run, side by side:
#
#  1. The cost of the C row-version trigger: the same single-row UPDATE (random
#     todo, new estimate and title, as a client would send it) on
#     intracker_data.todos, which has the trigger todos_row_version, and on an
#     identical copy of that table without it.  Target (issue 2): the trigger
#     costs at most 5 % throughput.
#  2. The full API path, intracker.update_todo(todo_id, changes, expected_version),
#     against a bare optimistic UPDATE of the same kind of row through the view
#     (UPDATE intracker.todos SET ..., version = <read> WHERE id = ...), the
#     PostgREST PATCH equivalent.  Target: update_todo >= 0.8x the bare UPDATE (issue 13; 0.5x before).
#
# Method
#  - Interleaved, not back to back.  Each round is ONE pgbench run (-M prepared,
#    BENCH_CLIENTS clients on BENCH_JOBS threads, BENCH_SECONDS long) given both
#    arms' scripts with equal weight: every client picks arm A or B at random
#    for each transaction.  Both arms thus share the same seconds, connections
#    and CPU share, which is A B A B alternation taken to its limit.  (Separate
#    runs, even alternating, varied by +-15 % from run to run on a 2-CPU VM, far
#    more than the 5 % we want to resolve; interleaved, the per-round ratio
#    varies by about 1 %.)
#  - pgbench logs every transaction (-l) with its script number and latency in
#    microseconds.  In a closed loop a client's throughput is 1 / its mean
#    latency, so the throughput ratio of two arms is the inverse ratio of their
#    mean latencies, and the "tps" shown per arm is clients / mean latency: what
#    the clients would achieve running only that arm.  The verdict uses the
#    median over BENCH_ROUNDS rounds of the per-round ratio.
#  - Clients default to the number of CPUs.  With more clients than CPUs a
#    transaction's latency also includes waiting for a CPU behind the other
#    arm's transactions, the same wait for both arms, which narrows the gap:
#    on 2 CPUs with 4 clients (intracker 0.1), update_todo / bare UPDATE came
#    out 0.61 interleaved but 0.45 in separate runs; with 1 or 2 clients
#    interleaved and separate runs agreed (0.54 / 0.52 and 0.49 / 0.51).
#  - One short warm-up round, not counted.  VACUUM before every round, so each
#    starts from the same table state; autovacuum is off for the same reason.
#  - fsync and synchronous_commit are off: with durable commits a run mostly waits
#    for the WAL flush, which would hide the CPU cost we want to see.  The numbers
#    are therefore a worst case for the relative cost of the trigger.
#  - Part 1 runs as superuser (no RLS), again to leave as little as possible
#    around the trigger.  Fairness: interleaving needs both arms at once, so arm
#    B cannot be the same table with the trigger disabled.  Arm A is the real
#    intracker_data.todos; arm B is bench.todos_without_version_trigger, a copy
#    made with LIKE ... INCLUDING ALL plus the same foreign keys, the same other
#    triggers and RLS enabled, loaded with the same rows: the two tables differ
#    only by the version trigger.  (Every other trigger of todos, such as
#    completion tracking or the dependency gate, exists on both tables and fires,
#    or not, the same way in both arms.  The copy is not referenced by
#    todo_dependencies; that costs arm A a no-op key-unchanged check per row,
#    which if anything counts against the trigger.)
#  - Part 2 runs as a non-superuser login role (member of intracker_user) whose
#    identity is set by ALTER ROLE ... SET intracker.acting_user (superuser only),
#    so RLS applies in both arms, as it would for a real client, and neither arm
#    pays for act_as() per transaction.  Both arms first read the current version
#    (SELECT version ... \gset), then write with it, each statement in its own
#    transaction like two REST requests; the latency of an arm covers both.  Each
#    client works on its own id range (pgbench :client_id), so no two clients
#    touch the same row between read and write and no update can fail with PT409.
#  - Exit status: 0 when every run completed (a missed target is reported, not
#    an error: timings are not assertions), 1 when pgbench reports failed or
#    aborted transactions, 2 when the setup fails.
#
# Environment (defaults in brackets):
#   BENCH_ROUNDS [7]  BENCH_SECONDS [5]  BENCH_WARMUP_SECONDS [2]
#   BENCH_CLIENTS [nproc]  BENCH_JOBS [BENCH_CLIENTS]  BENCH_TODOS [10000]  BENCH_PORT [55731]
#   PG_CONFIG [/usr/lib/postgresql/15/bin/pg_config]  KEEP_BENCH=1 keeps the temp dir
#   With sudo, pass them as `sudo BENCH_ROUNDS=3 test/bench/version_check.sh`.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
ROUNDS=${BENCH_ROUNDS:-7}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP_SECONDS:-2}
CLIENTS=${BENCH_CLIENTS:-$(nproc)}
JOBS=${BENCH_JOBS:-$CLIENTS}
TODOS=${BENCH_TODOS:-10000}
PORT=${BENCH_PORT:-55731}
TEST_USER=intracker_test
BENCH_ROLE=intracker_bench
# The user the part 2 role acts as: an editor of every bench project.
BENCH_USER_ID=00000000-0000-4000-8000-00000000b001

die() { echo "version_check: $*" >&2; exit 2; }
[[ -x $PG_CONFIG ]] || die "$PG_CONFIG not found (install postgresql-server-dev-15 or set PG_CONFIG)"
PGBIN=$("$PG_CONFIG" --bindir)
[[ -f $("$PG_CONFIG" --pkglibdir)/intracker.so && -f $("$PG_CONFIG" --sharedir)/extension/intracker.control ]] ||
	die "the intracker extension is not installed; run 'make && sudo make install' first"
command -v pgbench >/dev/null || [[ -x $PGBIN/pgbench ]] || die "pgbench not found"
export PATH="$PGBIN:$PATH"
(( TODOS >= CLIENTS )) || die "BENCH_TODOS must be at least BENCH_CLIENTS"
(( CLIENTS <= $(nproc) )) ||
	echo "version_check: warning: $CLIENTS clients on $(nproc) CPUs; interleaved latencies then flatter the slower arm (see Method)" >&2

# --- throwaway cluster -----------------------------------------------------

if [[ $(id -u) -eq 0 ]]; then
	if ! id -u "$TEST_USER" >/dev/null 2>&1; then
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$TEST_USER"
	fi
	as_server_user() { runuser -u "$TEST_USER" -- "$@"; }
	TMP=$(mktemp -d /tmp/intracker-bench.XXXXXX)
	chown "$TEST_USER:" "$TMP"
else
	as_server_user() { "$@"; }
	TMP=$(mktemp -d -t intracker-bench.XXXXXX)
fi
DATA=$TMP/data
cleanup() {
	if [[ -f $DATA/postmaster.pid ]]; then
		(cd / && as_server_user pg_ctl stop -D "$DATA" -m fast >/dev/null 2>&1) || true
	fi
	if [[ ${KEEP_BENCH:-} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# runuser keeps the cwd; the server user may not be allowed into it.
(cd / && as_server_user initdb -D "$DATA" -U postgres -A trust --no-sync >"$TMP/initdb.log" 2>&1) ||
	{ cat "$TMP/initdb.log"; die "initdb failed"; }
cat >>"$DATA/postgresql.conf" <<EOF
# added by test/bench/version_check.sh
listen_addresses = ''
unix_socket_directories = '$TMP'
port = $PORT
shared_preload_libraries = 'intracker'
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
max_wal_size = 4GB
checkpoint_timeout = 30min
shared_buffers = 256MB
EOF
(cd / && as_server_user pg_ctl start -D "$DATA" -l "$TMP/server.log" -w -t 60 >/dev/null) ||
	{ tail -n 30 "$TMP/server.log"; die "server did not start"; }

export PGHOST=$TMP PGPORT=$PORT PGDATABASE=postgres
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres "$@"; }

# --- data --------------------------------------------------------------------
# Todo number n (1..TODOS) has the id lpad(to_hex(n), 32, '0')::uuid, so a
# pgbench script can address a random todo from a random integer at the cost
# of one cheap expression, the same in every arm.  Ten projects, the todos
# spread over them; the bench user is an editor of all (an owner creates them).

if ! sql <<EOF
\o /dev/null
CREATE EXTENSION intracker;
SELECT intracker.create_user('owner@bench.example', 'Bench owner', user_id => '00000000-0000-4000-8000-00000000b000');
SELECT intracker.create_user('editor@bench.example', 'Bench editor', user_id => '$BENCH_USER_ID');
SELECT intracker.act_as('00000000-0000-4000-8000-00000000b000');
CREATE TEMP TABLE bench_projects AS
SELECT p.n, (intracker.create_project('Bench project ' || p.n)).id AS id FROM generate_series(0, 9) AS p(n);
SELECT intracker.add_member(id, '$BENCH_USER_ID', 'editor') FROM bench_projects;
INSERT INTO intracker_data.todos (id, project_id, title, estimate, priority, created_by, assigned_to)
SELECT lpad(to_hex(g.n), 32, '0')::uuid, p.id, 'bench todo ' || g.n, 1 + g.n % 8,
       (ARRAY['low', 'medium', 'high', 'critical'])[1 + g.n % 4],
       '00000000-0000-4000-8000-00000000b000', '$BENCH_USER_ID'
  FROM generate_series(1, $TODOS) AS g(n)
  JOIN bench_projects p ON p.n = g.n % 10;
SELECT intracker.act_as(NULL);

-- Part 1, arm B: the same table without the version trigger (see Method).
CREATE SCHEMA bench;
CREATE TABLE bench.todos_without_version_trigger (LIKE intracker_data.todos INCLUDING ALL);
ALTER TABLE bench.todos_without_version_trigger ENABLE ROW LEVEL SECURITY;
DO \$\$
DECLARE
    ddl text;
BEGIN
    FOR ddl IN
        SELECT format('ALTER TABLE bench.todos_without_version_trigger ADD CONSTRAINT %I %s',
                      c.conname, pg_get_constraintdef(c.oid))
          FROM pg_constraint c
         WHERE c.conrelid = 'intracker_data.todos'::regclass AND c.contype = 'f'
        UNION ALL
        SELECT replace(pg_get_triggerdef(t.oid), ' ON intracker_data.todos ',
                       ' ON bench.todos_without_version_trigger ')
          FROM pg_trigger t
         WHERE t.tgrelid = 'intracker_data.todos'::regclass AND NOT t.tgisinternal
           AND t.tgname <> 'todos_row_version'
    LOOP
        EXECUTE ddl;
    END LOOP;
END
\$\$;
-- Same rows (generated columns, if any, compute themselves).
DO \$\$
DECLARE
    cols text;
BEGIN
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = 'intracker_data.todos'::regclass AND a.attnum > 0
       AND NOT a.attisdropped AND a.attgenerated = '';
    EXECUTE format('INSERT INTO bench.todos_without_version_trigger (%s) SELECT %s FROM intracker_data.todos', cols, cols);
END
\$\$;

CREATE ROLE $BENCH_ROLE LOGIN IN ROLE intracker_user;
ALTER ROLE $BENCH_ROLE SET intracker.acting_user = '$BENCH_USER_ID';
VACUUM ANALYZE;
EOF
then
	die "setting up the bench data failed (error above)"
fi

# Sanity checks of the setup, so that the numbers below mean what they say.
# The copy has the same foreign keys and non-version triggers, and no version trigger:
same=$(sql -c "
	SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'intracker_data.todos'::regclass AND contype = 'f')
	     = (SELECT count(*) FROM pg_constraint WHERE conrelid = 'bench.todos_without_version_trigger'::regclass AND contype = 'f')
	   AND (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'intracker_data.todos'::regclass AND NOT tgisinternal) - 1
	     = (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bench.todos_without_version_trigger'::regclass AND NOT tgisinternal)
	   AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'bench.todos_without_version_trigger'::regclass
	                    AND tgfoid = 'intracker_data.row_version'::regproc)")
[[ $same == t ]] || die "the copy table does not match intracker_data.todos"
# The part 2 role sees exactly the bench todos through RLS:
visible=$(sql -U "$BENCH_ROLE" -c 'SELECT count(*) FROM intracker.todos')
[[ $visible == "$TODOS" ]] || die "bench role sees $visible todos, expected $TODOS"

# --- pgbench scripts -----------------------------------------------------------

# Part 1: any client, any todo (two clients on one row only make one wait).
for arm in with without; do
	table=intracker_data.todos
	[[ $arm == without ]] && table=bench.todos_without_version_trigger
	cat >"$TMP/update_$arm.sql" <<EOF
\set n random(1, :todos)
\set e random(1, 8)
UPDATE $table SET estimate = :e, title = 'bench todo ' || :n WHERE id = lpad(to_hex(:n::integer), 32, '0')::uuid;
EOF
done

# Part 2: client c owns todos c*per+1 .. (c+1)*per, in both arms.
cat >"$TMP/bare_update.sql" <<'EOF'
\set n :client_id * :per + random(1, :per)
\set e random(1, 8)
SELECT version AS v FROM intracker.todos WHERE id = lpad(to_hex(:n::integer), 32, '0')::uuid \gset
UPDATE intracker.todos SET estimate = :e, title = 'bench todo ' || :n, version = :v WHERE id = lpad(to_hex(:n::integer), 32, '0')::uuid;
EOF
cat >"$TMP/update_todo.sql" <<'EOF'
\set n :client_id * :per + random(1, :per)
\set e random(1, 8)
SELECT version AS v FROM intracker.todos WHERE id = lpad(to_hex(:n::integer), 32, '0')::uuid \gset
SELECT version FROM intracker.update_todo(lpad(to_hex(:n::integer), 32, '0')::uuid, jsonb_build_object('estimate', :e::integer, 'title', 'bench todo ' || :n), :v);
EOF

# --- running -------------------------------------------------------------------

# round USER SCRIPT_A SCRIPT_B SECONDS: one pgbench run, both scripts interleaved.
# Sets LAT_A LAT_B (mean latency, microseconds), N_A N_B (transactions), TPS (of the run).
round() {
	local user=$1 a=$2 b=$3 secs=$4 out rc=0 failed
	sql -c "VACUUM intracker_data.todos, bench.todos_without_version_trigger"
	rm -rf "$TMP/log" && mkdir "$TMP/log"
	out=$(pgbench -n -M prepared -U "$user" -c "$CLIENTS" -j "$JOBS" -T "$secs" \
		-D todos="$TODOS" -D per=$((TODOS / CLIENTS)) \
		-l --log-prefix="$TMP/log/tx" -f "$a@1" -f "$b@1" 2>&1) || rc=$?
	TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out" | head -n1)
	if (( rc != 0 )) || [[ -z $TPS || ${failed:-1} != 0 ]] || grep -q 'aborted' <<<"$out"; then
		echo "pgbench $(basename "$a") + $(basename "$b") failed (exit $rc, failed transactions: ${failed:-?}):" >&2
		grep -E 'ERROR|DETAIL|HINT|aborted|failed' <<<"$out" | sort | uniq -c | sort -rn | head -n 8 >&2
		echo "version_check: stopping, the numbers of a failing run would mean nothing" >&2
		exit 1
	fi
	# Log line: client_id transaction_no latency_us script_no epoch epoch_us
	read -r LAT_A N_A LAT_B N_B < <(cat "$TMP"/log/tx.* | awk '
		{ sum[$4] += $3; n[$4]++ }
		END { printf "%.3f %d %.3f %d\n", sum[0] / n[0], n[0], sum[1] / n[1], n[1] }')
}

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.3f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# compare USER SCRIPT_A SCRIPT_B LABEL_A LABEL_B: rounds; sets RATIO, the median
# over rounds of throughput(A) / throughput(B) = latency(B) / latency(A).
compare() {
	local user=$1 a=$2 b=$3 la=$4 lb=$5 r ratio ratios="" tas="" tbs="" ta tb
	round "$user" "$a" "$b" "$WARMUP"
	printf '  %-7s %18s %18s %8s   %s\n' round "$la" "$lb" ratio "transactions A/B"
	for ((r = 1; r <= ROUNDS; r++)); do
		round "$user" "$a" "$b" "$SECONDS_PER_RUN"
		ta=$(awk -v l="$LAT_A" -v c="$CLIENTS" 'BEGIN { printf "%.0f", c * 1e6 / l }')
		tb=$(awk -v l="$LAT_B" -v c="$CLIENTS" 'BEGIN { printf "%.0f", c * 1e6 / l }')
		ratio=$(awk -v a="$LAT_A" -v b="$LAT_B" 'BEGIN { printf "%.3f", b / a }')
		printf '  %-7s %14s tps %14s tps %8s   %s\n' "$r" "$ta" "$tb" "$ratio" "$N_A/$N_B"
		ratios+="$ratio"$'\n' tas+="$ta"$'\n' tbs+="$tb"$'\n'
	done
	RATIO=$(printf '%s' "$ratios" | median)
	printf '  %-7s %14.0f tps %14.0f tps %8.3f   range %s\n' median \
		"$(printf '%s' "$tas" | median)" "$(printf '%s' "$tbs" | median)" "$RATIO" \
		"$(printf '%s' "$ratios" | sort -g | sed -n '1p;$p' | paste -sd ' ' | sed 's/ / .. /')"
}

# --- report --------------------------------------------------------------------

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)
server_version=$(sql -c 'SHOW server_version')
echo "intracker version-check benchmark"
echo "  machine:    $(nproc) CPUs${cpu:+ ($cpu)}, $(uname -sr)"
echo "  server:     PostgreSQL $server_version (throwaway cluster; fsync, synchronous_commit, autovacuum off)"
echo "  extension:  intracker $(sql -c "SELECT extversion FROM pg_extension WHERE extname = 'intracker'")"
echo "  pgbench:    -M prepared -c $CLIENTS -j $JOBS -T $SECONDS_PER_RUN, both arms interleaved in each run," \
	"$ROUNDS rounds per comparison; $TODOS todos in 10 projects"
echo

echo "1. Row-version trigger: UPDATE <table> SET estimate = <e>, title = <t> WHERE id = <random todo>  (superuser, no RLS)"
echo "   A: intracker_data.todos (with todos_row_version)   B: identical copy without it"
compare postgres "$TMP/update_with.sql" "$TMP/update_without.sql" "A: with trigger" "B: without"
TRIGGER_RATIO=$RATIO
TRIGGER_COST=$(awk -v r="$RATIO" 'BEGIN { printf "%.1f", (1 - r) * 100 }')
echo "  => throughput with trigger / without = $TRIGGER_RATIO: the trigger costs $TRIGGER_COST % throughput"
echo

echo "2. API path (as a non-superuser editor, RLS on; each client on its own todos; both arms first SELECT the version):"
echo "   A: SELECT version FROM intracker.update_todo(id, '{\"estimate\": <e>, \"title\": <t>}', <version>)"
echo "   B: UPDATE intracker.todos SET estimate = <e>, title = <t>, version = <version> WHERE id = <id>"
compare "$BENCH_ROLE" "$TMP/update_todo.sql" "$TMP/bare_update.sql" "A: update_todo" "B: bare UPDATE"
API_RATIO=$RATIO
echo "  => throughput update_todo / bare UPDATE = $API_RATIO"
echo

# The trigger ran on every update of the real table, and never on the copy.
read -r bumped unbumped < <(sql -F ' ' -c "
	SELECT (SELECT count(*) FROM intracker_data.todos WHERE version > 1),
	       (SELECT count(*) FROM bench.todos_without_version_trigger WHERE version > 1)")

verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = (dir == "min" ? v + 0 >= t + 0 : v + 0 <= t + 0); print (ok ? "met" : "MISSED") }'; }
echo "Summary ($(nproc) CPUs, PostgreSQL $server_version)"
printf '  version trigger cost:  %6s %%  of UPDATE throughput             target <= 5 %%     %s\n' \
	"$TRIGGER_COST" "$(verdict "$TRIGGER_COST" 5 max)"
printf '  update_todo speed:     %6sx  the throughput of a bare UPDATE   target >= 0.8x    %s\n' \
	"$API_RATIO" "$(verdict "$API_RATIO" 0.8 min)"
echo "  versions bumped: $bumped of $TODOS todos with the trigger, $unbumped in the copy without it"
echo "  pgbench: no failed transactions in any run"
