# test/bench/lib.sh — shared setup of the benchmarks in test/bench/ (sourced, not run).
#
# A bench script does
#
#   BENCH_NAME=assignment                  # used in messages and the temp dir name
#   . "$(dirname "$0")/lib.sh"
#   bench_start_cluster "${BENCH_PORT:-55741}"
#   sql -c 'CREATE EXTENSION intracker'
#
# and gets a throwaway cluster (unix socket only, in a temp dir) with
# shared_preload_libraries = 'intracker', fsync, synchronous_commit and
# autovacuum off, stopped and removed however the script exits (KEEP_BENCH=1
# keeps the temp dir).  PostgreSQL refuses to run as root, so as root the
# server runs as the unprivileged user intracker_test (created if missing);
# psql and pgbench connect through the socket either way.  These are the
# conventions of test/bench/version_check.sh, which still carries its own
# copy of this code and could source this file instead.
#
# After bench_start_cluster: PGHOST, PGPORT, PGDATABASE are exported, PATH has
# the server's bin directory first, and $BENCH_TMP is the temp dir (the
# server user may write to it).
#
# Also here: sql (psql as superuser, quiet, unaligned, stop on error),
# bench_define_read_ms (the timing function of the read benchmarks),
# bench_define_pair_ratio (two statements timed side by side),
# bench_wait_published (a database's publisher serves it, nothing waits),
# median (of the numbers on stdin), ratio, bench_begin_long_transaction and
# bench_end_long_transaction (a snapshot held meanwhile), bench_die,
# bench_machine (one line describing CPUs and kernel), bench_restart_immediate
# (ends a backend that cannot be cancelled).

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BENCH_NAME=${BENCH_NAME:-bench}
BENCH_SERVER_USER=${BENCH_SERVER_USER:-intracker_test}

bench_die() { echo "$BENCH_NAME: $*" >&2; exit 2; }

# Checks that the extension and pgbench are installed; sets PATH.
bench_check_install() {
	[[ -x $PG_CONFIG ]] || bench_die "$PG_CONFIG not found (install postgresql-server-dev-15 or set PG_CONFIG)"
	local bindir
	bindir=$("$PG_CONFIG" --bindir)
	[[ -f $("$PG_CONFIG" --pkglibdir)/intracker.so && -f $("$PG_CONFIG" --sharedir)/extension/intracker.control ]] ||
		bench_die "the intracker extension is not installed; run 'make && sudo make install' first"
	[[ -x $bindir/pgbench ]] || command -v pgbench >/dev/null || bench_die "pgbench not found"
	export PATH="$bindir:$PATH"
}

# bench_start_cluster PORT [EXTRA_CONF_LINE...]
bench_start_cluster() {
	local port=$1
	shift
	bench_check_install
	if [[ $(id -u) -eq 0 ]]; then
		if ! id -u "$BENCH_SERVER_USER" >/dev/null 2>&1; then
			useradd --system --user-group --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin "$BENCH_SERVER_USER"
		fi
		as_server_user() { runuser -u "$BENCH_SERVER_USER" -- "$@"; }
		BENCH_TMP=$(mktemp -d "/tmp/intracker-bench-$BENCH_NAME.XXXXXX")
		chown "$BENCH_SERVER_USER:" "$BENCH_TMP"
	else
		as_server_user() { "$@"; }
		BENCH_TMP=$(mktemp -d -t "intracker-bench-$BENCH_NAME.XXXXXX")
	fi
	BENCH_DATA=$BENCH_TMP/data
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM

	# runuser keeps the cwd; the server user may not be allowed into it.
	(cd / && as_server_user initdb -D "$BENCH_DATA" -U postgres -A trust --no-sync >"$BENCH_TMP/initdb.log" 2>&1) ||
		{ cat "$BENCH_TMP/initdb.log"; bench_die "initdb failed"; }
	{
		echo "# added by test/bench/lib.sh for $BENCH_NAME"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$BENCH_TMP'"
		echo "port = $port"
		echo "shared_preload_libraries = 'intracker'"
		echo "fsync = off"
		echo "synchronous_commit = off"
		echo "full_page_writes = off"
		echo "autovacuum = off"
		echo "max_wal_size = 4GB"
		echo "checkpoint_timeout = 30min"
		echo "shared_buffers = 256MB"
		local line
		for line in "$@"; do echo "$line"; done
	} >>"$BENCH_DATA/postgresql.conf"
	(cd / && as_server_user pg_ctl start -D "$BENCH_DATA" -l "$BENCH_TMP/server.log" -w -t 60 >/dev/null) ||
		{ tail -n 30 "$BENCH_TMP/server.log"; bench_die "server did not start (port $port in use?)"; }
	export PGHOST=$BENCH_TMP PGPORT=$port PGDATABASE=postgres
}

bench_cleanup() {
	if [[ -n ${BENCH_DATA:-} && -f $BENCH_DATA/postmaster.pid ]]; then
		# A backend stuck in a loop that never checks for interrupts ignores
		# the fast shutdown; immediate (SIGQUIT) still ends it.
		(cd / && as_server_user pg_ctl stop -D "$BENCH_DATA" -m fast -t 20 >/dev/null 2>&1) ||
			(cd / && as_server_user pg_ctl stop -D "$BENCH_DATA" -m immediate >/dev/null 2>&1) || true
	fi
	if [[ -n ${BENCH_TMP:-} ]]; then
		if [[ ${KEEP_BENCH:-} == 1 ]]; then echo "kept $BENCH_TMP"; else rm -rf "$BENCH_TMP"; fi
	fi
}

# Restarts the cluster with an immediate shutdown (crash recovery on start):
# the only way to end a backend that loops without checking for interrupts,
# which neither pg_cancel_backend nor pg_terminate_backend can stop.
bench_restart_immediate() {
	(cd / && as_server_user pg_ctl restart -D "$BENCH_DATA" -m immediate -l "$BENCH_TMP/server.log" -w -t 60 >/dev/null) ||
		{ tail -n 30 "$BENCH_TMP/server.log"; bench_die "server did not restart"; }
}

sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres "$@"; }

# bench_define_read_ms: creates public.bench_read_ms(call text, calls
# integer, repeats integer DEFAULT 5), the time (ms) of one call of the SQL
# statement call: after a warm-up call, the median of repeats means of
# calls calls, in the calling session (on a 2-CPU VM one mean moves by a
# third from run to run).  Anyone may execute it.
bench_define_read_ms() {
	sql >/dev/null <<-'SQL'
	CREATE FUNCTION public.bench_read_ms(call text, calls integer, repeats integer DEFAULT 5)
	RETURNS double precision
	LANGUAGE plpgsql AS $$
	DECLARE
	    started timestamptz;
	    means double precision[] := '{}';
	BEGIN
	    EXECUTE call;
	    FOR r IN 1 .. repeats LOOP
	        started := clock_timestamp();
	        FOR i IN 1 .. calls LOOP EXECUTE call; END LOOP;
	        means := means || extract(epoch FROM clock_timestamp() - started) * 1000 / calls;
	    END LOOP;
	    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY m) FROM unnest(means) AS m);
	END
	$$;
	GRANT EXECUTE ON FUNCTION public.bench_read_ms(text, integer, integer) TO PUBLIC;
	SQL
}

# bench_define_pair_ratio: creates public.bench_pair_ratio(a text, b text,
# calls integer, rounds integer DEFAULT 7), the time of statement a over
# that of statement b, measured side by side: each round times calls calls
# of each (after one warm-up call of each), in alternating order, and the
# result is the median of the rounds' ratios.  What drifts on a noisy VM
# (the whole machine slowing down for a while) moves both alike.
bench_define_pair_ratio() {
	sql >/dev/null <<-'SQL'
	CREATE FUNCTION public.bench_pair_ratio(a text, b text, calls integer, rounds integer DEFAULT 7)
	RETURNS double precision
	LANGUAGE plpgsql AS $$
	DECLARE
	    started timestamptz;
	    took_a double precision;
	    took_b double precision;
	    ratios double precision[] := '{}';
	BEGIN
	    EXECUTE a;
	    EXECUTE b;
	    FOR r IN 1 .. rounds LOOP
	        FOR side IN 0 .. 1 LOOP
	            started := clock_timestamp();
	            FOR i IN 1 .. calls LOOP
	                IF (side + r) % 2 = 0 THEN EXECUTE a; ELSE EXECUTE b; END IF;
	            END LOOP;
	            IF (side + r) % 2 = 0 THEN
	                took_a := extract(epoch FROM clock_timestamp() - started);
	            ELSE
	                took_b := extract(epoch FROM clock_timestamp() - started);
	            END IF;
	        END LOOP;
	        ratios := ratios || took_a / took_b;
	    END LOOP;
	    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(ratios) AS x);
	END
	$$;
	GRANT EXECUTE ON FUNCTION public.bench_pair_ratio(text, text, integer, integer) TO PUBLIC;
	SQL
}

# bench_wait_published DB [SECONDS]: waits until DB's publisher serves it
# (idle or publishing) and nothing waits in its outbox; dies after SECONDS
# (30).
bench_wait_published() {
	local db=$1 seconds=${2:-30} state backlog i
	for ((i = 0; ; i++)); do
		read -r state backlog < <(sql -d "$db" -F ' ' -c 'SELECT state, backlog FROM intracker.worker_status')
		[[ $state =~ ^(idle|publishing)$ && $backlog == 0 ]] && return 0
		(( i < seconds * 10 )) || bench_die "the publisher is not serving $db (state '$state', backlog $backlog after $seconds s)"
		sleep 0.1
	done
}

# median of the numbers on stdin, one per line
# ratio A B: A / B with two decimals (0 when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# bench_begin_long_transaction RELATION: a session that holds a snapshot and
# an xid (REPEATABLE READ, having read RELATION) until
# bench_end_long_transaction, so that no version written meanwhile can be
# pruned; what a long-running report or an idle-in-transaction client does.
bench_begin_long_transaction() {
	mkfifo "$BENCH_TMP/long.in"
	psql -X -q -U postgres <"$BENCH_TMP/long.in" >/dev/null 2>&1 &
	BENCH_LONG_PID=$!
	exec 3>"$BENCH_TMP/long.in"
	echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT pg_catalog.txid_current(); SELECT count(*) FROM $1;" >&3
	sleep 1
}
bench_end_long_transaction() {
	echo "COMMIT;" >&3
	exec 3>&-
	wait "$BENCH_LONG_PID" || true
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; printf "%.3f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

bench_machine() {
	local cpu
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)
	echo "$(nproc) CPUs${cpu:+ ($cpu)}, $(uname -sr)"
}
