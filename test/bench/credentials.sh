#!/usr/bin/env bash
# test/bench/credentials.sh — what intracker.authenticate() with an API token
# costs next to intracker.act_as(), measured with pgbench.
#
#   sudo test/bench/credentials.sh          # or as any non-root user
#
# (the extension installed first, as for test/bench/version_check.sh).  It
# starts its own throwaway cluster (test/bench/lib.sh), creates one user with
# an API token, and prints, from one run, side by side:
#
#   act_as(user_id)        what members of intracker_admin call to pick a user
#   authenticate(token)    what an agent calls with its API token
#
# Target (issue 14): authenticate costs at most 2x an act_as call.
#
# Method: each round is ONE pgbench run (-M prepared, -c 1) given both
# scripts with equal weight, so that both arms share the same seconds and
# CPU; pgbench logs every transaction, and the per-round ratio is the ratio
# of the arms' mean latencies.  The verdict uses the median over
# BENCH_ROUNDS rounds.  Both arms run as the same non-superuser login role
# (a member of intracker_admin, so that it may call act_as), one call per
# transaction; authenticate's token was used in the last minute, as an
# agent's token is, so it notes nothing (the once-a-minute write of
# last_used_at is not what an agent pays per call).
#
# Environment: BENCH_ROUNDS (5), BENCH_SECONDS (5 per round), BENCH_PORT.

set -euo pipefail
BENCH_NAME=credentials
. "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
TARGET=2

bench_start_cluster "${BENCH_PORT:-55751}"
sql -c 'CREATE EXTENSION intracker'
sql >/dev/null <<'SQL'
CREATE ROLE bench_agent LOGIN IN ROLE intracker_admin, intracker_user;
SELECT intracker.create_user('agent@example.com', 'Agent', 'agent');
SQL
USER_ID=$(sql -c "SELECT id FROM intracker.users WHERE email = 'agent@example.com'")
TOKEN=$(sql -c "SELECT intracker.act_as('$USER_ID'); SELECT token FROM intracker.create_api_token('bench')" | tail -n1)
[[ $TOKEN == itk_* ]] || bench_die "no token created"
# its use noted now, as an agent's recent use would be
psql -X -q -U bench_agent -c "SELECT intracker.authenticate('$TOKEN')" >/dev/null

TMP=$BENCH_TMP/run
mkdir -p "$TMP"
echo "SELECT intracker.act_as('$USER_ID');" >"$TMP/act_as.sql"
echo "SELECT intracker.authenticate('$TOKEN');" >"$TMP/authenticate.sql"

# one_round SECONDS: sets MEAN_ACT, MEAN_AUTH (microseconds), N_ACT, N_AUTH.
one_round() {
	local out rc=0
	rm -rf "$TMP/log" && mkdir "$TMP/log"
	out=$(pgbench -n -M prepared -U bench_agent -c 1 -T "$1" -l --log-prefix="$TMP/log/tx" \
		-f "$TMP/act_as.sql@1" -f "$TMP/authenticate.sql@1" 2>&1) || rc=$?
	if (( rc != 0 )) || grep -q 'aborted' <<<"$out" ||
		! grep -q '^number of failed transactions: 0' <<<"$out"; then
		echo "$out" >&2
		bench_die "a pgbench run failed; its numbers would mean nothing"
	fi
	# Log line: client_id transaction_no latency_us script_no epoch epoch_us
	read -r MEAN_ACT N_ACT MEAN_AUTH N_AUTH < <(cat "$TMP"/log/tx.* | awk '
		{ sum[$4] += $3; n[$4]++ }
		END { printf "%.1f %d %.1f %d\n", sum[0] / n[0], n[0], sum[1] / n[1], n[1] }')
}


echo "intracker credentials benchmark"
echo "  machine:    $(bench_machine)"
echo "  server:     PostgreSQL $(sql -c 'SHOW server_version') (throwaway cluster; fsync, synchronous_commit, autovacuum off)"
echo "  method:     pgbench -M prepared -c 1 -T $SECONDS_PER_RUN, both calls interleaved in each run, $ROUNDS rounds, as a non-superuser"
echo
one_round 1
printf '  %-6s %14s %18s %7s   %s\n' round "act_as mean" "authenticate mean" ratio "calls act_as/authenticate"
ratios=""
for ((r = 1; r <= ROUNDS; r++)); do
	one_round "$SECONDS_PER_RUN"
	rt=$(ratio "$MEAN_AUTH" "$MEAN_ACT")
	printf '  %-6s %11.1f us %15.1f us %7s   %s\n' "$r" "$MEAN_ACT" "$MEAN_AUTH" "$rt" "$N_ACT/$N_AUTH"
	ratios+="$rt"$'\n'
done
MEDIAN=$(printf '%s' "$ratios" | median | xargs printf '%.2f')
VERDICT=$(awk -v v="$MEDIAN" -v t="$TARGET" 'BEGIN { print (v + 0 <= t + 0 ? "met" : "MISSED") }')
echo "  => authenticate(token) / act_as(user_id) = $MEDIAN (median of $ROUNDS rounds; target <= $TARGET: $VERDICT)"
[[ $VERDICT == met ]]
