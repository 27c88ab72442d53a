#!/usr/bin/env bash
# test/bench/mcp.sh — what going through intracker-mcp costs an agent,
# measured against the same SQL call over libpq.
#
#   sudo test/bench/mcp.sh          # or as any non-root user
#
# (the extension, and with it intracker-mcp, installed first: make && sudo
# make install).  It starts its own throwaway cluster (test/bench/lib.sh),
# loads a team (BENCH_MEMBERS agents, BENCH_TODOS todos in features, some
# dependencies and sessions), and prints, from one run, side by side:
#
#  1. A tool call's round trip through intracker-mcp (a JSON-RPC line on its
#     stdin, the response line read back) against the statement the server
#     sends for it, over libpq on a connection authenticated with the same
#     token: for claim_next_todo (the agent already holds a todo, so every
#     call answers it: the agent's "what am I on" loop) and
#     get_resume_context.  Target (issue 15): <= 1.3x.
#  2. The size of get_team_context's document for this team at default
#     settings, in bytes (intracker.context_max_bytes caps it at 32 kB).
#
# Method: test/bench/mcp_bench.c, compiled here, alternates the two paths
# call by call (so both see the same machine at the same moments), one
# client, BENCH_CALLS calls per tool per round after a warm-up round; the
# verdict is the median over BENCH_ROUNDS rounds of the ratio of mean
# latencies.  The server and the libpq client connect as the same
# non-superuser login role, with the same API token.
#
# Environment: BENCH_ROUNDS (5), BENCH_CALLS (500), BENCH_MEMBERS (8),
# BENCH_TODOS (400), BENCH_PORT.

set -euo pipefail
BENCH_NAME=mcp
. "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
CALLS=${BENCH_CALLS:-500}
MEMBERS=${BENCH_MEMBERS:-8}
TODOS=${BENCH_TODOS:-400}
TARGET=1.3

bench_start_cluster "${BENCH_PORT:-55761}"
BINARY=$(pg_config --bindir)/intracker-mcp
[[ -x $BINARY ]] || bench_die "$BINARY not found: make install first"
sql -c 'CREATE EXTENSION intracker'
sql >/dev/null <<SQL
CREATE ROLE bench_agent LOGIN IN ROLE intracker_user;
SELECT intracker.create_user('agent' || g || '@example.com', 'Agent ' || g, 'agent',
                             user_id => ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid)
  FROM generate_series(1, $MEMBERS) g;
SELECT intracker.act_as('00000000-0000-4000-8000-000000000001');
CREATE TEMP TABLE p AS SELECT id FROM intracker.create_project('Benchmark team');
SELECT intracker.add_member((SELECT id FROM p), ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'editor')
  FROM generate_series(2, $MEMBERS) g;
CREATE TEMP TABLE f AS SELECT (intracker.create_feature((SELECT id FROM p), 'Feature ' || g)).id FROM generate_series(1, 8) g;
SELECT count(intracker.create_todo((SELECT id FROM p), 'Todo ' || g,
                                   feature_id => (SELECT id FROM f ORDER BY id OFFSET g % 8 LIMIT 1),
                                   estimate => 1 + g % 5,
                                   priority => (ARRAY['low', 'medium', 'high', 'critical'])[1 + g % 4]))
  FROM generate_series(1, $TODOS) g;
SELECT count(intracker.assign_todo(t.id)) FROM (SELECT id FROM intracker.todos ORDER BY id LIMIT $TODOS / 2) t;
SELECT count(intracker.start_session((SELECT id FROM p), 'Work'));
SQL
PROJECT=$(sql -c "SELECT id FROM intracker.projects WHERE name = 'Benchmark team'")
TOKEN=$(sql -c "SELECT intracker.act_as('00000000-0000-4000-8000-000000000001'); SELECT token FROM intracker.create_api_token('bench')" | tail -n1)
# the agent holds a todo: each claim_next_todo call answers it
sql -c "SELECT intracker.act_as('00000000-0000-4000-8000-000000000001'); SELECT count(*) FROM intracker.claim_next_todo('$PROJECT')" >/dev/null

cc -O2 -Wall -Wextra -Werror -o "$BENCH_TMP/mcp_bench" "$(dirname "$0")/mcp_bench.c" \
	-I"$(pg_config --includedir)" -L"$(pg_config --libdir)" -lpq
export INTRACKER_DATABASE_URL="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=bench_agent"
export INTRACKER_TOKEN=$TOKEN

echo "intracker MCP benchmark"
echo "  machine:    $(bench_machine)"
echo "  server:     PostgreSQL $(sql -c 'SHOW server_version') (throwaway cluster; fsync, synchronous_commit, autovacuum off)"
echo "  team:       $MEMBERS agents, $TODOS todos in 8 features; one client, $CALLS calls per tool per round, $ROUNDS rounds"
echo
printf '  %-6s %-20s %14s %14s %7s\n' round tool "through MCP" "over libpq" ratio
"$BENCH_TMP/mcp_bench" "$BINARY" "$PROJECT" "$CALLS" "$ROUNDS" >"$BENCH_TMP/results"
awk '{ printf "  %-6s %-20s %11.1f us %11.1f us %7.2f\n", $1, $2, $3, $4, $3 / $4 }' "$BENCH_TMP/results"
verdicts=met
for tool in claim_next_todo get_resume_context; do
	median_ratio=$(awk -v t="$tool" '$2 == t { print $3 / $4 }' "$BENCH_TMP/results" | median | xargs printf '%.2f')
	verdict=$(awk -v v="$median_ratio" -v t="$TARGET" 'BEGIN { print (v + 0 <= t + 0 ? "met" : "MISSED") }')
	[[ $verdict == met ]] || verdicts=MISSED
	echo "  => $tool: through MCP / over libpq = $median_ratio (median of $ROUNDS rounds; target <= $TARGET: $verdict)"
done

bytes=$(sql -c "SELECT intracker.act_as('00000000-0000-4000-8000-000000000001'); SELECT octet_length(intracker.team_context('$PROJECT')::text)" | tail -n1)
echo "  => get_team_context's document for this team: $bytes bytes (intracker.context_max_bytes: $(sql -c 'SHOW intracker.context_max_bytes'))"
[[ $verdicts == met ]]
