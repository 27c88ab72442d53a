#!/usr/bin/env bash
# test/bench/counter_designs.sh — would delta-row counters keep reads flat
# behind a long transaction?  (issue 13, item 2: the design question behind
# counters_history.sh's remaining ratio)
#
#   sudo test/bench/counter_designs.sh          # or as any non-root user
#
# (the extension installed first, as for every bench: the cluster preloads
# it, though this one measures plain tables).  Eight counters, kept two ways
# side by side in one cluster:
#
#   in place   one row per counter, UPDATEd by each write (intracker's
#              member_load today)
#   deltas     each write INSERTs a delta row; a read adds a base row and
#              the counter's deltas (index on the counter's key); a fold
#              (what the worker would do on its rounds) moves the deltas
#              into the base rows
#
# Each is read fresh (after VACUUM), then after BENCH_WRITES single-write
# transactions while one long transaction stays open (so that nothing can
# be pruned), then, for deltas, after folding them all (still behind the
# long transaction), and finally after the long transaction ended.  Prints
# each state's read time over fresh, per design.
#
# Environment: BENCH_WRITES (5000), BENCH_CALLS (50), BENCH_PORT.
set -euo pipefail

BENCH_NAME=counter_designs
. "$(dirname "$0")/lib.sh"

WRITES=${BENCH_WRITES:-5000}
CALLS=${BENCH_CALLS:-50}

bench_start_cluster "${BENCH_PORT:-55793}"
sql >/dev/null <<-'SQL'
	CREATE TABLE in_place (k integer PRIMARY KEY, v bigint NOT NULL DEFAULT 0);
	CREATE TABLE delta_base (k integer PRIMARY KEY, v bigint NOT NULL DEFAULT 0);
	CREATE TABLE deltas (k integer NOT NULL, v bigint NOT NULL);
	CREATE INDEX deltas_k ON deltas (k);
	INSERT INTO in_place (k) SELECT generate_series(1, 8);
	INSERT INTO delta_base (k) SELECT generate_series(1, 8);
	VACUUM ANALYZE;
SQL
bench_define_read_ms

IN_PLACE_READ="SELECT k, v FROM in_place ORDER BY k"
DELTAS_READ="SELECT b.k, b.v + coalesce((SELECT sum(d.v) FROM deltas d WHERE d.k = b.k), 0) FROM delta_base b ORDER BY b.k"
reads() { # -> "in_place deltas" (ms)
	sql -F ' ' -c "SELECT round(public.bench_read_ms('$IN_PLACE_READ', $CALLS)::numeric, 4),
	                      round(public.bench_read_ms('$DELTAS_READ', $CALLS)::numeric, 4)"
}
# Both designs must count the same (their writes draw the same keys: one seed).
same_counts() {
	[[ $(sql -c "$IN_PLACE_READ") == $(sql -c "$DELTAS_READ") ]] || bench_die "the two designs count differently"
}

fresh=$(reads)

mkfifo "$BENCH_TMP/long.in"
psql -X -q -U postgres <"$BENCH_TMP/long.in" >/dev/null 2>&1 &
long_pid=$!
exec 3>"$BENCH_TMP/long.in"
echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT pg_catalog.txid_current(); SELECT count(*) FROM in_place;" >&3
sleep 1

for design in in_place deltas; do
	if [[ $design == in_place ]]; then
		write='UPDATE in_place SET v = v + 1 WHERE k = :k;'
	else
		write='INSERT INTO deltas (k, v) VALUES (:k, 1);'
	fi
	printf '\\set k random(1, 8)\n%s\n' "$write" >"$BENCH_TMP/$design.sql"
	pgbench -n -M prepared --random-seed=7 -U postgres -t "$WRITES" -f "$BENCH_TMP/$design.sql" >"$BENCH_TMP/pgbench.out" 2>&1 ||
		{ cat "$BENCH_TMP/pgbench.out"; bench_die "pgbench failed"; }
done
same_counts
history=$(reads)

sql >/dev/null <<-'SQL'
	WITH folded AS (DELETE FROM deltas RETURNING k, v)
	UPDATE delta_base b SET v = b.v + f.v
	  FROM (SELECT k, sum(v) AS v FROM folded GROUP BY k) f
	 WHERE b.k = f.k;
SQL
same_counts
folded=$(reads)

echo "COMMIT;" >&3
exec 3>&-
wait "$long_pid" || true
released=$(reads)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
read -r -a f <<<"$fresh"
read -r -a h <<<"$history"
read -r -a o <<<"$folded"
read -r -a r <<<"$released"
echo "eight counters, $WRITES single-write transactions behind a long transaction  ($(bench_machine))"
echo "  reads: median of 5 means of $CALLS calls (ms)"
printf '  %-34s %10s %10s\n' state 'in place' deltas
printf '  %-34s %10s %10s\n' fresh "${f[0]}" "${f[1]}"
printf '  %-34s %10s %10s\n' 'writes behind the long transaction' "${h[0]}" "${h[1]}"
printf '  %-34s %10s %10s\n' '... deltas folded' "${o[0]}" "${o[1]}"
printf '  %-34s %10s %10s\n' 'long transaction ended' "${r[0]}" "${r[1]}"
echo "  => behind the long transaction / fresh: in place $(ratio "${h[0]}" "${f[0]}")x, deltas $(ratio "${h[1]}" "${f[1]}")x, deltas folded $(ratio "${o[1]}" "${f[1]}")x (a design that keeps reads flat: about 1)"
