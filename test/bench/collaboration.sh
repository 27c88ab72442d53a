#!/usr/bin/env bash
# test/bench/collaboration.sh — search and history at a team's scale (issue 16).
#
#   sudo test/bench/collaboration.sh          # or as any non-root user
#
# (the extension installed first: make && sudo make install).  It starts its
# own throwaway cluster (test/bench/lib.sh) and prints, from one run:
#
#  1. intracker.search() p50 and p95 for common words (in about half of all
#     texts) and rare ones (in one todo and its comments), against a naive
#     ILIKE scan of the same rows (todos, features, comments, documents and
#     sessions the caller may read, through the API's views, best 20 by
#     recency), each measured on the same queries.  Target: search >= 50x
#     faster than ILIKE for rare words.
#  2. The same at BENCH_SMALL todos (10,000, with 20,000 comments and 200
#     documents) and at BENCH_LARGE (100,000, 200,000 comments, 2,000
#     documents): the growth of search's p50 between them.  Target: <= 2x
#     for rare words (a common word's matches grow with the data; that
#     growth is printed too).
#  3. intracker.history() of a todo with 1,000 changes: the time to read its
#     newest 100 and all 1,001 entries.
#
# The rows are loaded by the superuser with triggers off (session_replication
# _role = replica: no counters, events or notifications; search reads only
# the rows and their indexes).  Searches run as a non-superuser login role in
# intracker_user, authenticated with an API token, as a client would; the
# owner of the project searches (every row is visible to them), so search
# and ILIKE look at the same rows.  The history's 1,000 changes go through
# update_todo() and the publisher, as in use.
#
# Environment: BENCH_SMALL (10000), BENCH_LARGE (100000), BENCH_RARE (40
# queries), BENCH_COMMON (10 queries), BENCH_PORT.
set -euo pipefail

BENCH_NAME=collaboration
. "$(dirname "$0")/lib.sh"

SMALL=${BENCH_SMALL:-10000}
LARGE=${BENCH_LARGE:-100000}
RARE=${BENCH_RARE:-40}
COMMON=${BENCH_COMMON:-10}

bench_start_cluster "${BENCH_PORT:-55781}"
sql -c 'CREATE EXTENSION intracker' -c 'CREATE ROLE bench_api LOGIN IN ROLE intracker_user' >/dev/null

OWNER=$(sql -c "SELECT id FROM intracker.create_user('owner@example.com', 'Owner', 'human')")
TOKEN=$(sql -c "SELECT intracker.act_as('$OWNER')" -c "SELECT token FROM intracker.create_api_token('bench')" | tail -n1)
api() { psql -X -q -A -t -v ON_ERROR_STOP=1 -U bench_api -c "SELECT intracker.authenticate('$TOKEN')" "$@" | tail -n +2; }

# Words: w0 ... w999 for filler, Zipf-like (w0 in about half of the texts,
# w999 rarely); r<n> in todo n and its comments only.
sql >/dev/null <<'SQL'
CREATE SCHEMA bench;
CREATE FUNCTION bench.words(n bigint, salt integer, how_many integer) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN (SELECT string_agg('w' || floor(1000 ^ ((hashint8(n * 131 + salt * 17 + k) & 1048575) / 1048576.0)) - 1, ' ')
          FROM generate_series(1, how_many) AS k);
SQL

# load PROJECT TODOS: todos, two comments each, a document per 50 todos, a
# feature per 100 (all in the project, owned by the owner).
load() {
	sql >/dev/null <<-SQL
	SET session_replication_role = replica;
	INSERT INTO intracker_data.features (project_id, title, description, created_by)
	SELECT '$1', 'Feature ' || bench.words(f, 1, 3), bench.words(f, 2, 30), '$OWNER'
	  FROM generate_series(1, $2 / 100) AS f;
	INSERT INTO intracker_data.todos (id, project_id, title, description, created_by, estimate)
	SELECT md5('$1' || n)::uuid, '$1', 'Todo ' || bench.words(n, 3, 5), bench.words(n, 4, 25) || ' r' || n, '$OWNER', 1 + n % 5
	  FROM generate_series(1, $2) AS n;
	INSERT INTO intracker_data.comments (project_id, todo_id, author, body)
	SELECT '$1', md5('$1' || n)::uuid, '$OWNER', bench.words(n * 2 + c, 5, 20) || CASE WHEN c = 1 THEN ' r' || n ELSE '' END
	  FROM generate_series(1, $2) AS n, generate_series(1, 2) AS c;
	INSERT INTO intracker_data.documents (project_id, title, body, kind, created_by)
	SELECT '$1', 'Document ' || bench.words(d, 6, 4), bench.words(d, 7, 400), 'spec', '$OWNER'
	  FROM generate_series(1, $2 / 50) AS d;
	RESET session_replication_role;
	VACUUM ANALYZE;    -- as autovacuum would by the time anyone searches
	SQL
}

# The queries: rare words of todos spread over the project, common words.
rare_words() { awk -v n="$1" -v k="$RARE" 'BEGIN { for (i = 1; i <= k; i++) printf "r%d\n", 1 + int((i - 0.5) * n / k) }'; }
common_words() { for ((i = 0; i < COMMON; i++)); do echo "w$i"; done; }

# The naive search: every visible row of every kind whose texts contain the
# word, the 20 most recent (through the views, as the caller).
sql >/dev/null <<'SQL'
CREATE FUNCTION bench.ilike_search(word text) RETURNS SETOF uuid
LANGUAGE sql STABLE AS $$
    SELECT id FROM (
        SELECT t.id, t.updated_at FROM intracker.todos t WHERE t.title ILIKE '%' || word || '%' OR t.description ILIKE '%' || word || '%'
        UNION ALL
        SELECT f.id, f.updated_at FROM intracker.features f WHERE f.title ILIKE '%' || word || '%' OR f.description ILIKE '%' || word || '%'
        UNION ALL
        SELECT c.id, c.updated_at FROM intracker.comments c WHERE c.body ILIKE '%' || word || '%'
        UNION ALL
        SELECT d.id, d.updated_at FROM intracker.documents d WHERE d.title ILIKE '%' || word || '%' OR d.body ILIKE '%' || word || '%'
        UNION ALL
        SELECT s.id, s.started_at FROM intracker.sessions s WHERE s.goal ILIKE '%' || word || '%'
    ) AS hits ORDER BY updated_at DESC LIMIT 20
$$;
-- ms of each call of the statement with each word, after one warm-up call:
-- "p50 p95".
CREATE FUNCTION bench.percentiles_ms(statement text, words text[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz;
    times double precision[] := '{}';
    word text;
BEGIN
    EXECUTE format(statement, words[1]);
    FOREACH word IN ARRAY words LOOP
        started := clock_timestamp();
        EXECUTE format(statement, word);
        times := times || extract(epoch FROM clock_timestamp() - started) * 1000;
    END LOOP;
    RETURN (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY t)::numeric, 3) || ' ' ||
                   round(percentile_cont(0.95) WITHIN GROUP (ORDER BY t)::numeric, 3)
              FROM unnest(times) AS t);
END
$$;
GRANT USAGE ON SCHEMA bench TO bench_api;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bench TO bench_api;
SQL

# measure WORDS_ARRAY -> "search_p50 search_p95 ilike_p50 ilike_p95"
measure() {
	api -F ' ' -c "SELECT bench.percentiles_ms('SELECT count(*) FROM intracker.search(%L)', '$1'),
	                      bench.percentiles_ms('SELECT count(*) FROM bench.ilike_search(%L)', '$1')"
}
as_array() { printf '{%s}' "$(paste -sd, -)"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v r="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = (dir == "ge") ? r >= t : r <= t; print (ok ? "met" : "MISSED") }'; }

echo "search and history  ($(bench_machine))"
echo "  p50 and p95 of $RARE rare-word and $COMMON common-word queries (ms), search() against a naive ILIKE scan"
echo
printf '  %-8s %-10s %-22s %-22s %s\n' todos words "search p50 p95" "ILIKE p50 p95" "search faster (p50)"
declare -A p50 speedup
for rows in "$SMALL" "$LARGE"; do
	project=$(api -c "SELECT id FROM intracker.create_project('Search $rows')")
	load "$project" "$rows"
	for kind in rare common; do
		if [[ $kind == rare ]]; then words=$(rare_words "$rows" | as_array); else words=$(common_words | as_array); fi
		read -r s50 s95 i50 i95 <<<"$(measure "$words")"
		p50[$kind.$rows]=$s50
		printf '  %-8s %-10s %-22s %-22s %sx\n' "$rows" "$kind" "$s50 $s95" "$i50 $i95" "$(ratio "$i50" "$s50")"
		[[ $kind == rare ]] && speedup[$rows]=$(ratio "$i50" "$s50")
	done
done

# History: one todo changed 1,000 times through the API.
sql >/dev/null <<'SQL'
CREATE PROCEDURE bench.change_often(todo uuid, changes integer) LANGUAGE plpgsql AS $$
BEGIN
    FOR v IN 1 .. changes LOOP
        PERFORM intracker.update_todo(todo, jsonb_build_object('estimate', 1 + v % 7, 'title', 'Changed ' || v), v);
        COMMIT;    -- each change its own transaction, as an agent's
    END LOOP;
END
$$;
GRANT EXECUTE ON PROCEDURE bench.change_often(uuid, integer) TO bench_api;
SQL
todo=$(api -c "SELECT id FROM intracker.create_todo((SELECT id FROM intracker.projects ORDER BY created_at LIMIT 1), 'Changed often')")
api -c "CALL bench.change_often('$todo', 1000)" >/dev/null
for _ in $(seq 1 600); do
	[[ $(sql -c "SELECT count(*) FROM intracker_data.history WHERE entity_id = '$todo'") == 1001 ]] && break
	sleep 0.1
done
history=$(api -F ' ' -c "SELECT bench.percentiles_ms('SELECT count(*) FROM intracker.history(%L)', ARRAY_FILL('$todo'::text, ARRAY[20])),
                                 bench.percentiles_ms('SELECT count(*) FROM intracker.history(%L, 1001)', ARRAY_FILL('$todo'::text, ARRAY[20]))")
read -r h100 _ hall _ <<<"$history"

echo
r=${speedup[$LARGE]}
echo "  => rare words at $LARGE todos: search is ${r}x faster than ILIKE (target >= 50x: $(verdict "$r" 50 ge))"
g=$(ratio "${p50[rare.$LARGE]}" "${p50[rare.$SMALL]}")
echo "  => growth of search p50 from $SMALL to $LARGE todos, rare words: ${g}x (target <= 2x: $(verdict "$g" 2 le));" \
	"common words: $(ratio "${p50[common.$LARGE]}" "${p50[common.$SMALL]}")x (their matches grow 10x)"
echo "  => history of a todo with 1,000 changes: newest 100 in $h100 ms, all 1,001 in $hall ms (p50 of 20)"
