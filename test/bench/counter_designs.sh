#!/usr/bin/env bash
# test/bench/counter_designs.sh — which counter design keeps reads flat
# behind a long transaction?  (issue 13, item 2: the design question behind
# counters_history.sh's remaining ratio)
#
#   sudo test/bench/counter_designs.sh          # or as any non-root user
#
# (the extension installed first, as for every bench: the cluster preloads
# it, though this one measures plain tables).  Eight counters (of 1,000 in
# each table, so that reads plan index scans as on a real server), kept
# three ways side by side in one cluster:
#
#   in place   one row per counter, UPDATEd by each write (intracker's
#              counters in 0.5)
#   deltas     each write INSERTs a delta row; a read adds a base row and
#              the counter's deltas (index on the counter's key); a fold
#              (what the worker would do on its rounds) moves the deltas
#              into the base rows
#   versions   each write DELETEs the counter's newest row and INSERTs its
#              successor, one generation up; a read takes the newest
#              generation it can see, scanning (key, generation) backwards,
#              so the versions a long transaction pins lie behind it (0.6:
#              member_load, and the progress counters, in 8 slots read by C)
#
# and, sharded as the progress counters were in 0.5 (one row per writer
# slot, so that concurrent writers of one project rarely share a row;
# readers add the slots up), two with every one of 32 slots in use:
#
#   in place/32  a write UPDATEs its slot's row; a read sums the counter's
#                slot rows (one range scan)
#   versions/32  a write replaces its slot's newest row; a read sums the
#                newest generation of each slot (32 backward scans)
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
	CREATE TABLE in_place_32 (k integer, slot integer, v bigint NOT NULL DEFAULT 0, PRIMARY KEY (k, slot));
	CREATE TABLE versions_32 (k integer, slot integer, generation bigint, v bigint NOT NULL,
	                          PRIMARY KEY (k, slot, generation));
	-- 1,000 counters (as many projects), of which the first eight are written and read
	INSERT INTO in_place (k) SELECT generate_series(1, 1000);
	INSERT INTO delta_base (k) SELECT generate_series(1, 1000);
	INSERT INTO versions (k, generation, v) SELECT generate_series(1, 1000), 0, 0;
	INSERT INTO in_place_32 (k, slot) SELECT k, slot FROM generate_series(1, 1000) AS k, generate_series(0, 31) AS slot;
	INSERT INTO versions_32 (k, slot, generation, v)
	SELECT k, slot, 0, 0 FROM generate_series(1, 1000) AS k, generate_series(0, 31) AS slot;
	VACUUM ANALYZE;
SQL
bench_define_read_ms

# Each read looks up the eight counters one by one, by key, as a reader of
# one member's load does: the designs differ only in the lookup.
read_each() { echo "SELECT c.k, ($1) FROM generate_series(1, 8) AS c (k)"; }
IN_PLACE_READ=$(read_each "SELECT x.v FROM in_place x WHERE x.k = c.k")
DELTAS_READ=$(read_each "SELECT b.v + coalesce((SELECT sum(d.v) FROM deltas d WHERE d.k = b.k), 0) FROM delta_base b WHERE b.k = c.k")
VERSIONS_READ=$(read_each "SELECT x.v FROM versions x WHERE x.k = c.k ORDER BY x.generation DESC LIMIT 1")
IN_PLACE_32_READ=$(read_each "SELECT sum(x.v) FROM in_place_32 x WHERE x.k = c.k")
VERSIONS_32_READ=$(read_each "SELECT sum((SELECT x.v FROM versions_32 x WHERE x.k = c.k AND x.slot = s.slot
                                          ORDER BY x.generation DESC LIMIT 1)) FROM generate_series(0, 31) AS s (slot)")
DESIGNS=(in_place deltas versions in_place_32 versions_32)
reads() { # -> one time (ms) per design, in DESIGNS' order
	sql -F ' ' -c "SELECT round(public.bench_read_ms('$IN_PLACE_READ', $CALLS)::numeric, 4),
	                      round(public.bench_read_ms('$DELTAS_READ', $CALLS)::numeric, 4),
	                      round(public.bench_read_ms('$VERSIONS_READ', $CALLS)::numeric, 4),
	                      round(public.bench_read_ms('$IN_PLACE_32_READ', $CALLS)::numeric, 4),
	                      round(public.bench_read_ms('$VERSIONS_32_READ', $CALLS)::numeric, 4)"
}
# The designs must count the same (their writes draw the same keys: one seed).
same_counts() {
	local expected
	expected=$(sql -c "$IN_PLACE_READ")
	for read in "$DELTAS_READ" "$VERSIONS_READ" "$IN_PLACE_32_READ" "$VERSIONS_32_READ"; do
		[[ $(sql -c "$read") == "$expected" ]] || bench_die "the designs count differently"
	done
}

fresh=$(reads)

bench_begin_long_transaction in_place

for design in "${DESIGNS[@]}"; do
	case $design in
	in_place) write='UPDATE in_place SET v = v + 1 WHERE k = :k;' ;;
	deltas) write='INSERT INTO deltas (k, v) VALUES (:k, 1);' ;;
	versions) write='WITH newest AS (DELETE FROM versions WHERE k = :k AND generation =
	                     (SELECT x.generation FROM versions x WHERE x.k = :k ORDER BY x.generation DESC LIMIT 1)
	                     RETURNING generation, v)
	                 INSERT INTO versions (k, generation, v) SELECT :k, generation + 1, v + 1 FROM newest;' ;;
	in_place_32) write='UPDATE in_place_32 SET v = v + 1 WHERE k = :k AND slot = :s;' ;;
	versions_32) write='WITH newest AS (DELETE FROM versions_32 WHERE k = :k AND slot = :s AND generation =
	                     (SELECT x.generation FROM versions_32 x WHERE x.k = :k AND x.slot = :s
	                       ORDER BY x.generation DESC LIMIT 1)
	                     RETURNING generation, v)
	                 INSERT INTO versions_32 (k, slot, generation, v) SELECT :k, :s, generation + 1, v + 1 FROM newest;' ;;
	esac
	# every design draws both, so that all see the same keys
	printf '\\set k random(1, 8)\n\\set s random(0, 31)\n%s\n' "$write" >"$BENCH_TMP/$design.sql"
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
row() { printf '  %-34s %10s %10s %10s %12s %12s\n' "$@"; }
row state 'in place' deltas versions 'in place/32' 'versions/32'
row fresh "${f[@]}"
row 'writes behind the long transaction' "${h[@]}"
row '... deltas folded' "${o[@]}"
row 'long transaction ended' "${r[@]}"
echo "  => behind the long transaction / fresh: in place $(ratio "${h[0]}" "${f[0]}")x, deltas $(ratio "${h[1]}" "${f[1]}")x, deltas folded $(ratio "${o[1]}" "${f[1]}")x, versions $(ratio "${h[2]}" "${f[2]}")x (a design that keeps reads flat: about 1)"
echo "  => fresh, against in place: deltas $(ratio "${f[1]}" "${f[0]}")x, versions $(ratio "${f[2]}" "${f[0]}")x"
echo "  => 32 slots, behind the long transaction / fresh: in place $(ratio "${h[3]}" "${f[3]}")x, versions $(ratio "${h[4]}" "${f[4]}")x; fresh, versions against in place: $(ratio "${f[4]}" "${f[3]}")x"
