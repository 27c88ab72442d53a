#!/usr/bin/env bash
# test/bench/counter_designs.sh — which counter design keeps reads flat
# behind a long transaction?  (issue 13, item 2: the design question behind
# counters_history.sh's remaining ratio)
#
#   sudo test/bench/counter_designs.sh          # or as any non-root user
#
# (the extension installed first, as for every bench: the cluster preloads
# it, though this one measures plain tables).  Eight counters, kept three
# ways side by side in one cluster:
#
#   in place   one row per counter, UPDATEd by each write (intracker's
#              member_load today)
#   deltas     each write INSERTs a delta row; a read adds a base row and
#              the counter's deltas (index on the counter's key); a fold
#              (what the worker would do on its rounds) moves the deltas
#              into the base rows
#   versions   each write DELETEs the counter's newest row and INSERTs its
#              successor, one generation up; a read takes the newest
#              generation it can see, scanning (key, generation) backwards,
#              so the versions a long transaction pins lie behind it
#
# Each is read fresh (after VACUUM), then after BENCH_WRITES single-write
# transactions while one long transaction stays open (so that nothing can
# be pruned), then, for deltas, after folding them all (still behind the
# long transaction), and finally after the long transaction ended.  Prints
# each state's read time over fresh, per design.  (Single writer: how a
# design's writers serialize is not measured here.)
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
	CREATE TABLE versions (k integer, generation bigint, v bigint NOT NULL, PRIMARY KEY (k, generation));
	INSERT INTO in_place (k) SELECT generate_series(1, 8);
	INSERT INTO delta_base (k) SELECT generate_series(1, 8);
	INSERT INTO versions (k, generation, v) SELECT generate_series(1, 8), 0, 0;
	VACUUM ANALYZE;
SQL
bench_define_read_ms

# Each read looks up the eight counters one by one, by key, as a reader of
# one member's load does: the three differ only in the lookup.
read_each() { echo "SELECT c.k, ($1) FROM generate_series(1, 8) AS c (k)"; }
IN_PLACE_READ=$(read_each "SELECT x.v FROM in_place x WHERE x.k = c.k")
DELTAS_READ=$(read_each "SELECT b.v + coalesce((SELECT sum(d.v) FROM deltas d WHERE d.k = b.k), 0) FROM delta_base b WHERE b.k = c.k")
VERSIONS_READ=$(read_each "SELECT x.v FROM versions x WHERE x.k = c.k ORDER BY x.generation DESC LIMIT 1")
reads() { # -> "in_place deltas versions" (ms)
	sql -F ' ' -c "SELECT round(public.bench_read_ms('$IN_PLACE_READ', $CALLS)::numeric, 4),
	                      round(public.bench_read_ms('$DELTAS_READ', $CALLS)::numeric, 4),
	                      round(public.bench_read_ms('$VERSIONS_READ', $CALLS)::numeric, 4)"
}
# The designs must count the same (their writes draw the same keys: one seed).
same_counts() {
	local expected
	expected=$(sql -c "$IN_PLACE_READ")
	[[ $(sql -c "$DELTAS_READ") == "$expected" && $(sql -c "$VERSIONS_READ") == "$expected" ]] ||
		bench_die "the designs count differently"
}

fresh=$(reads)

bench_begin_long_transaction in_place

for design in in_place deltas versions; do
	case $design in
	in_place) write='UPDATE in_place SET v = v + 1 WHERE k = :k;' ;;
	deltas) write='INSERT INTO deltas (k, v) VALUES (:k, 1);' ;;
	versions) write='WITH newest AS (DELETE FROM versions WHERE k = :k AND generation =
	                     (SELECT x.generation FROM versions x WHERE x.k = :k ORDER BY x.generation DESC LIMIT 1)
	                     RETURNING generation, v)
	                 INSERT INTO versions (k, generation, v) SELECT :k, generation + 1, v + 1 FROM newest;' ;;
	esac
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

bench_end_long_transaction
released=$(reads)

read -r -a f <<<"$fresh"
read -r -a h <<<"$history"
read -r -a o <<<"$folded"
read -r -a r <<<"$released"
echo "eight counters, $WRITES single-write transactions behind a long transaction  ($(bench_machine))"
echo "  reads: median of 5 means of $CALLS calls (ms)"
row() { printf '  %-34s %10s %10s %10s\n' "$@"; }
row state 'in place' deltas versions
row fresh "${f[@]}"
row 'writes behind the long transaction' "${h[@]}"
row '... deltas folded' "${o[@]}"
row 'long transaction ended' "${r[@]}"
echo "  => behind the long transaction / fresh: in place $(ratio "${h[0]}" "${f[0]}")x, deltas $(ratio "${h[1]}" "${f[1]}")x, deltas folded $(ratio "${o[1]}" "${f[1]}")x, versions $(ratio "${h[2]}" "${f[2]}")x (a design that keeps reads flat: about 1)"
echo "  => fresh, against in place: deltas $(ratio "${f[1]}" "${f[0]}")x, versions $(ratio "${f[2]}" "${f[0]}")x"
