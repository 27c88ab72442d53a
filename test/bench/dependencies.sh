#!/usr/bin/env bash
# test/bench/dependencies.sh — what the dependency cycle check costs per
# add_dependency, as the graph grows.
#
#   sudo test/bench/dependencies.sh        # or as any non-root user; the extension must be installed
#
# The check walks the todos reachable from the new blocker.  intracker 0.5
# walked every path (exponential through shared blockers, and a plain chain
# of 10,000 todos cost 20 s per insert); 0.6 visits each reachable todo once.
# This prints, from one run, the cost of one add_dependency at about 1,000
# and 100,000 reachable todos on two graphs, and the ratio of the two costs
# next to the ratio of the todos (100): a cost ratio at or below it means
# the check grows no faster than linearly.
#
#   chain     t1 is blocked by t2, t2 by t3, ...: one path.
#   diamonds  two todos per layer, each blocked by both todos of the next
#             layer: 2^layers paths through shared blockers (2^500 and
#             2^50000 here; 0.5 would never finish).
#
# For each: "accepted", a new todo blocked by the top of the graph (the walk
# finds no cycle), and "rejected", the bottom blocked by the top (a cycle
# through every layer: the walk, then the parents that name it in the
# DETAIL).  Each figure is the median of BENCH_REPEAT calls, each in a
# subtransaction that is rolled back, timed with clock_timestamp() in the
# server.  The graphs are loaded with session_replication_role = replica (no
# triggers) so loading takes seconds, then analyzed; the 1,000-todo chain is
# also measured before any ANALYZE, the state right after a bulk load.
#
# For reference, 0.5's check (the path-enumerating query, as a bench
# function) on the small chain and on 16 layers of diamonds (65,536 paths).
#
# Environment: BENCH_REPEAT [9]  BENCH_PORT [55791]  PG_CONFIG  KEEP_BENCH=1
set -euo pipefail
BENCH_NAME=dependencies
. "$(dirname "$0")/lib.sh"
REPEAT=${BENCH_REPEAT:-9}

bench_start_cluster "${BENCH_PORT:-55791}"
sql -c 'CREATE EXTENSION intracker' -c 'CREATE SCHEMA bench'
owner=$(sql -c "SELECT id FROM intracker.create_user('owner@example.com', 'Owner')")

sql >/dev/null <<EOF
-- A graph in its own project: todos g.<n> (n from 1), and edges given as
-- (todo n, blocker m) pairs, loaded without triggers.
CREATE FUNCTION bench.graph(name text, todos integer, edges text) RETURNS uuid
LANGUAGE plpgsql AS \$\$
DECLARE
    project uuid;
BEGIN
    PERFORM intracker.act_as('$owner');
    project := (SELECT id FROM intracker.create_project(name));
    SET LOCAL session_replication_role = replica;
    INSERT INTO intracker_data.todos (id, project_id, title)
    SELECT bench.todo(project, n), project, name || ' ' || n FROM generate_series(1, todos) AS n;
    EXECUTE format('INSERT INTO intracker_data.todo_dependencies (todo_id, blocked_by, project_id)
                    SELECT bench.todo(%L, e.t), bench.todo(%L, e.b), %L FROM (%s) AS e (t, b)',
                   project, project, project, edges);
    RETURN project;
END
\$\$;
CREATE FUNCTION bench.todo(project uuid, n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE RETURN md5(project::text || n)::uuid;

-- Median milliseconds of one add_dependency(todo, blocker), rolled back.
CREATE FUNCTION bench.add_ms(todo uuid, blocker uuid, repeat integer, expect text) RETURNS numeric
LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz;
    ms numeric[] := '{}';
    outcome text;
BEGIN
    PERFORM intracker.act_as('$owner');
    FOR i IN 1 .. repeat LOOP
        t0 := clock_timestamp();
        BEGIN
            PERFORM intracker.add_dependency(todo, blocker);
            outcome := 'accepted';
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'roll back';
        EXCEPTION
            WHEN SQLSTATE '23514' THEN outcome := 'rejected';
            WHEN SQLSTATE 'P0001' THEN NULL;
        END;
        ms := ms || (extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric;
        IF outcome <> expect THEN
            RAISE EXCEPTION 'add_dependency was % (expected %)', outcome, expect;
        END IF;
    END LOOP;
    RETURN (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(ms) AS x);
END
\$\$;

-- 0.5's check, for reference: every path from the blocker (cycle-safe).
CREATE FUNCTION bench.old_check_ms(todo uuid, blocker uuid, repeat integer) RETURNS numeric
LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz;
    ms numeric[] := '{}';
    cycle uuid[];
BEGIN
    FOR i IN 1 .. repeat LOOP
        t0 := clock_timestamp();
        WITH RECURSIVE chain (todo_id, path) AS (
            SELECT d.blocked_by, ARRAY[todo, blocker, d.blocked_by]
              FROM intracker_data.todo_dependencies d WHERE d.todo_id = blocker
            UNION ALL
            SELECT d.blocked_by, c.path || d.blocked_by
              FROM chain c JOIN intracker_data.todo_dependencies d ON d.todo_id = c.todo_id
             WHERE c.todo_id <> todo
        ) CYCLE todo_id SET is_cycle USING visited
        SELECT c.path INTO cycle FROM chain c WHERE c.todo_id = todo LIMIT 1;
        ms := ms || (extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric;
    END LOOP;
    RETURN (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(ms) AS x);
END
\$\$;
EOF

# chain of n: todo i blocked by i+1; the top is 1, the bottom n; a new todo n+1.
chain() { sql -c "SELECT bench.graph('$1', $2 + 1, 'SELECT i, i + 1 FROM generate_series(1, $2 - 1) AS i')"; }
# diamonds of l layers: todos 2k-1 and 2k (layer k) each blocked by 2k+1 and 2k+2.
diamonds() {
	sql -c "SELECT bench.graph('$1', 2 * $2 + 1, 'SELECT 2 * k - 1 + a, 2 * k + 1 + b FROM generate_series(1, $2 - 1) AS k,
	                           generate_series(0, 1) AS a, generate_series(0, 1) AS b')"
}
measure() { # project n_top n_bottom n_new -> "accepted_ms rejected_ms"
	sql -c "SELECT bench.add_ms(bench.todo('$1', $4), bench.todo('$1', $2), $REPEAT, 'accepted') || ' ' ||
	               bench.add_ms(bench.todo('$1', $3), bench.todo('$1', $2), $REPEAT, 'rejected')"
}

echo "== $BENCH_NAME: one add_dependency, median of $REPEAT (ms); $(bench_machine)"
# First the small chain alone, in tables never analyzed: the state right
# after a bulk load, where a plan that hashes the whole table at every step
# of the walk would be quadratic.
small_chain=$(chain chain1k 1000)
read -r u1a u1r < <(measure "$small_chain" 1 1000 1001)
big_chain=$(chain chain100k 100000)
small_diamonds=$(diamonds diamonds1k 500)
big_diamonds=$(diamonds diamonds100k 50000)
sql -c 'ANALYZE intracker_data.todos' -c 'ANALYZE intracker_data.todo_dependencies'

read -r c1a c1r < <(measure "$small_chain" 1 1000 1001)
read -r c2a c2r < <(measure "$big_chain" 1 100000 100001)
read -r d1a d1r < <(measure "$small_diamonds" 1 1000 1001)
read -r d2a d2r < <(measure "$big_diamonds" 1 100000 100001)

row() { # label small big: ms, ratio, and microseconds per reachable todo
	awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%-22s %9.2f %11.2f %7.1f %10.1f %10.1f   %s\n", l, a, b, b / a,
		a * 1000 / 1000, b * 1000 / 100000, (b / a <= 100 * 1.5 ? "linear" : "FASTER THAN LINEAR") }'
}
printf '%-22s %9s %11s %7s %10s %10s\n' graph '~1k todos' '~100k todos' ratio 'us/todo 1k' 'us/todo 100k'
row 'chain, accepted' "$c1a" "$c2a"
row 'chain, rejected' "$c1r" "$c2r"
row 'diamonds, accepted' "$d1a" "$d2a"
row 'diamonds, rejected' "$d1r" "$d2r"
echo "(reachable todos grow 100x: a cost ratio up to 150 counts as linear, the per-todo cost rising"
echo " somewhat as the walk's index pages and hash table outgrow the CPU caches; 10,000x would be quadratic)"
printf 'chain of 1,000 before any ANALYZE: accepted %.2f ms, rejected %.2f ms (%.1fx / %.1fx the analyzed figures)\n' \
	"$u1a" "$u1r" "$(awk -v a="$u1a" -v b="$c1a" 'BEGIN { print a / b }')" "$(awk -v a="$u1r" -v b="$c1r" 'BEGIN { print a / b }')"

# 0.5's check on the small graphs, next to 0.6's.
small16=$(diamonds diamonds16 16)
sql -c 'ANALYZE intracker_data.todo_dependencies'
read -r o1 < <(sql -c "SELECT bench.old_check_ms(bench.todo('$small_chain', 1001), bench.todo('$small_chain', 1), $REPEAT)")
read -r n16a n16r < <(measure "$small16" 1 32 33)
read -r o16 < <(sql -c "SELECT bench.old_check_ms(bench.todo('$small16', 33), bench.todo('$small16', 1), 3)")
printf '0.5 vs 0.6, accepted: chain of 1,000 %.2f vs %.2f ms (%.1fx); 16 layers of diamonds (65,536 paths) %.2f vs %.2f ms (%.0fx)\n' \
	"$o1" "$c1a" "$(awk -v a="$o1" -v b="$c1a" 'BEGIN { print a / b }')" \
	"$o16" "$n16a" "$(awk -v a="$o16" -v b="$n16a" 'BEGIN { print a / b }')"
