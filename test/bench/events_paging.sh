#!/usr/bin/env bash
# test/bench/events_paging.sh — reading the event log page by page costs
# the same at its start and at its end (issue 13).
#
#   sudo test/bench/events_paging.sh          # or as any non-root user
#
# (the extension installed first: make && sudo make install).  It starts its
# own throwaway cluster (test/bench/lib.sh) and fills the event log with
# twice BENCH_EVENTS (100,000) published events: every other one of the
# reader's project, the rest of 9 projects the reader is not in (written
# straight into the events table: publishing them is not what is measured).  Then, as that member, it pages
# through the log with intracker.events_since(last seq, project, 1000) and
# with events_since(last seq) (the reader's projects only, through RLS), and
# prints the median time of a page among the first BENCH_PAGES pages (after
# the first 6, during which the session still plans the page query at each
# call) and among the last BENCH_PAGES, and their ratio.  Target (issue 13): the same per page,
# a ratio of about 1 (0.8 to 1.25 here).  Before 0.6 the view's OR kept the
# page's conditions from the index: the first pages cost 20 times the last.
#
# Environment: BENCH_EVENTS (100000), BENCH_PAGES (10), BENCH_PORT.
set -euo pipefail

BENCH_NAME=events_paging
. "$(dirname "$0")/lib.sh"

EVENTS=${BENCH_EVENTS:-100000}
PAGES=${BENCH_PAGES:-10}
PAGE=1000

bench_start_cluster "${BENCH_PORT:-55781}"
sql -c 'CREATE EXTENSION intracker' >/dev/null
READER=$(sql -c "SELECT id FROM intracker.create_user('reader@example.com', 'Reader', 'agent')")
OTHER=$(sql -c "SELECT id FROM intracker.create_user('other@example.com', 'Other', 'agent')")
MINE=$(sql -c "SELECT intracker.act_as('$READER')" -c "SELECT id FROM intracker.create_project('Mine')" | tail -n1)
sql -c "SELECT intracker.act_as('$OTHER')" -c "SELECT intracker.create_project('Theirs ' || i) FROM generate_series(1, 9) AS i" >/dev/null
# Every other event is of the reader's project: the unfiltered read skips
# the others (RLS), as a member of some of many projects does.
sql -c "INSERT INTO intracker_data.events (seq, outbox_id, type, project_id, entity_id, actor, version, changes,
                                           occurred_at, published_at)
        SELECT coalesce((SELECT max(seq) FROM intracker_data.events), 0) + i, i, 'todo.updated',
               CASE WHEN i % 2 = 0 THEN '$MINE'::uuid
                    ELSE (SELECT id FROM intracker_data.projects WHERE name = 'Theirs ' || (1 + i % 9)) END,
               gen_random_uuid(), '$OTHER', 2, '{\"title\": \"x\"}', now(), now()
          FROM generate_series(1, 2 * $EVENTS) AS i" -c 'VACUUM ANALYZE' >/dev/null

# page_times PROJECT_ARG: one line per page, "<seq after the page> <ms>", through the whole log
sql -c "CREATE FUNCTION public.bench_page_times(project uuid) RETURNS TABLE (page integer, ms double precision)
LANGUAGE plpgsql AS \$\$
DECLARE
    after bigint := 0;
    last_seq bigint;
    started timestamptz;
BEGIN
    page := 0;
    LOOP
        started := clock_timestamp();
        SELECT max(e.seq) INTO last_seq FROM intracker.events_since(after, project, $PAGE) AS e;
        ms := extract(epoch FROM clock_timestamp() - started) * 1000;
        EXIT WHEN last_seq IS NULL;
        page := page + 1;
        RETURN NEXT;
        after := last_seq;
    END LOOP;
END \$\$" >/dev/null

echo "events_since, page by page ($PAGE events a page) through the $EVENTS events a member may see of $((2 * EVENTS))  ($(bench_machine))"
for mode in project all; do
	arg=$([[ $mode == project ]] && echo "'$MINE'" || echo NULL)
	# as the reader: RLS as an API caller would see it
	times=$(PGOPTIONS="-c intracker.acting_user=$READER" psql -X -q -A -t -F ' ' -U postgres \
		-c "SET ROLE intracker_user" -c "SELECT page, ms FROM public.bench_page_times($arg)" 2>&1) ||
		bench_die "paging failed: $times"
	pages=$(wc -l <<<"$times")
	# the median of the first pages after the first 6 (a session plans the
	# page query at each of its first 5 calls, then keeps a plan) and of the last
	first=$(sed -n "7,$((PAGES + 6))p" <<<"$times" | awk '{ print $2 }' | median)
	last=$(tail -n "$PAGES" <<<"$times" | awk '{ print $2 }' | median)
	ratio=$(awk -v a="$last" -v b="$first" 'BEGIN { printf "%.2f", a / b }')
	label=$([[ $mode == project ]] && echo "events_since(seq, project)" || echo "events_since(seq), RLS   ")
	verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.8 && r <= 1.25 ? "met" : "MISSED") }')
	echo "  $label: $pages pages; pages 7-$((PAGES + 6)): $first ms a page, last $PAGES: $last ms a page (medians); last / first = ${ratio}x (target about 1: $verdict)"
done
