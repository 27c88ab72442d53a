/*-------------------------------------------------------------------------
 *
 * deliveries.c
 *	  The deliverer's database side: the statements on
 *	  intracker_data.deliveries that load what to send and record what
 *	  happened.
 *
 * deliverer.c holds the queues in hand and talks HTTP; this file turns the
 * database into chains of deliveries for it, and its results back into
 * rows.  Each call runs in the deliverer's round, one transaction that is
 * never open across network I/O (deliverer.c explains the round).
 *
 * - Loading: intracker_data.deliverer_next_deliveries() returns, for
 *   every active queue not in hand, its next deliveries (at most a chain's
 *   length) with everything sending them takes: URL, body, secret or token,
 *   or why it cannot be sent.  The
 *   rows come grouped by queue; a QueueHead points at each queue's rows,
 *   and intracker_deliveries_chain() copies the rows of a queue that gets a
 *   slot into Delivery structs.
 *
 * - Stale queues: of the queues in hand, those paused, disabled or
 *   deleted since they were loaded.
 *
 * - Recording: one UPDATE per result; then created GitHub issues are
 *   stored on their todos, skipping todos a user holds locked (the
 *   deliverer never waits for a user), which are linked in a later round.
 *   A delivery a user's transaction is deleting (its webhook, todo or
 *   project deleted) is locked by it: its result is skipped, not waited
 *   for.  Should that transaction roll back, the delivery is still pending
 *   and goes out again (at-least-once).
 *
 * - Failing webhooks: the webhook results are counted
 *   (intracker_data.deliverer_note_outcomes); webhooks past a limit are
 *   disabled, again skipping rows a user holds locked.
 *
 * - Orphans: deliveries the publisher queued for a webhook or project
 *   that was being deleted meanwhile are dropped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "deliveries.h"
#include "spi_util.h"

/*
 * The statements name every function, type and operator with its schema
 * (OPERATOR(pg_catalog.=)), like all SQL the processes run from C, on top
 * of the search_path they pin (child_settings.c).
 */

/* intracker_data.deliverer_next_deliveries (src/sql/92_github.sql) says what */
#define LOAD_QUERY \
	"SELECT id, queue_id, is_github, event_type, body, attempts, next_attempt_at, url, problem, credential," \
	"       todo_id" \
	"  FROM intracker_data.deliverer_next_deliveries($1, $2, $3)"

/* queues in hand that are no longer active (paused, disabled, deleted, token removed) */
#define STALE_QUEUES_QUERY \
	"SELECT q AS queue_id FROM pg_catalog.unnest($1::pg_catalog.uuid[]) q" \
	" WHERE NOT EXISTS (SELECT FROM intracker_data.webhooks w WHERE w.id OPERATOR(pg_catalog.=) q AND w.active)" \
	"   AND NOT EXISTS (SELECT FROM intracker_data.github_credentials c" \
	"                    WHERE c.project_id OPERATOR(pg_catalog.=) q AND c.token IS NOT NULL)"

/*
 * One result.  A row locked by a user's delete is skipped (see above); one
 * made dead meanwhile (its webhook disabled) stays dead unless the request
 * got through.
 */
#define RECORD_QUERY \
	"UPDATE intracker_data.deliveries" \
	"   SET state = $2, attempts = attempts OPERATOR(pg_catalog.+) 1, last_status = $3, last_error = $4," \
	"       next_attempt_at = coalesce($5, next_attempt_at), last_attempt_at = $6, duration_ms = $7," \
	"       delivered_at = CASE WHEN $2 OPERATOR(pg_catalog.=) 'delivered' THEN $6 END," \
	"       issue_number = $8, issue_url = $9" \
	" WHERE id OPERATOR(pg_catalog.=) (SELECT l.id FROM intracker_data.deliveries l" \
	"                                   WHERE l.id OPERATOR(pg_catalog.=) $1" \
	"                                     AND (l.state OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'failed'])" \
	"                                          OR $2 OPERATOR(pg_catalog.=) 'delivered')" \
	"                                     FOR UPDATE SKIP LOCKED)"

#define NOTE_OUTCOMES_QUERY \
	"SELECT intracker_data.deliverer_note_outcomes($1, $2, $3, $4, $5) AS waiting"
#define DISABLE_QUERY \
	"SELECT disabled, waiting FROM intracker_data.deliverer_disable_webhooks()"
#define DROP_ORPHANS_QUERY \
	"SELECT intracker_data.deliverer_drop_orphans() AS dropped"

/*
 * Store created issues on their todos.  A todo locked by a user's open
 * transaction is skipped (the deliverer must never wait for a user) and
 * linked in a later round; a todo linked meanwhile keeps its link.
 */
#define LINK_ISSUES_QUERY \
	"UPDATE intracker_data.todos t SET github_issue = l.issue_number, github_issue_url = l.issue_url" \
	"  FROM (SELECT u.id AS todo_id, c.issue_number, c.issue_url" \
	"          FROM intracker_data.todos u" \
	"          CROSS JOIN LATERAL (SELECT d.issue_number, d.issue_url FROM intracker_data.deliveries d" \
	"                               WHERE d.todo_id OPERATOR(pg_catalog.=) u.id" \
	"                                 AND d.event_type OPERATOR(pg_catalog.=) 'github.create_issue'" \
	"                                 AND d.state OPERATOR(pg_catalog.=) 'delivered' AND d.issue_number IS NOT NULL" \
	"                               ORDER BY d.position DESC LIMIT 1) c" \
	"         WHERE u.github_issue IS NULL" \
	"           AND u.id OPERATOR(pg_catalog.=) ANY" \
	"               (SELECT d.todo_id FROM intracker_data.deliveries d" \
	"                 WHERE d.event_type OPERATOR(pg_catalog.=) 'github.create_issue'" \
	"                   AND d.state OPERATOR(pg_catalog.=) 'delivered' AND d.issue_number IS NOT NULL)" \
	"           FOR UPDATE OF u SKIP LOCKED) l" \
	" WHERE t.id OPERATOR(pg_catalog.=) l.todo_id"

#define ISSUES_TO_LINK_QUERY \
	"SELECT EXISTS (SELECT FROM intracker_data.deliveries d" \
	"                 JOIN intracker_data.todos u" \
	"                   ON u.id OPERATOR(pg_catalog.=) d.todo_id AND u.github_issue IS NULL" \
	"                WHERE d.event_type OPERATOR(pg_catalog.=) 'github.create_issue'" \
	"                  AND d.state OPERATOR(pg_catalog.=) 'delivered'" \
	"                  AND d.issue_number IS NOT NULL) AS left_to_link"

/* ----------------------------------------------------------------
 * Loading
 * ----------------------------------------------------------------
 */

/* A uuid[] array of n uuids. */
static Datum
uuid_array(const pg_uuid_t *uuids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * (n + 1));

	for (int i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum(&uuids[i]);
	return PointerGetDatum(construct_array(elems, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

static int
by_head_due(const void *a, const void *b)
{
	TimestampTz x = ((const QueueHead *) a)->head_due;
	TimestampTz y = ((const QueueHead *) b)->head_due;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Load the next deliveries (up to chain_length) of every active queue but
 * the busy ones.  Returns the queues, the earliest due first; *n_heads
 * says how many.
 */
QueueHead *
intracker_deliveries_load_heads(const pg_uuid_t *busy, int n_busy, const char *github_api_url,
								int chain_length, int *n_heads)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {UUIDARRAYOID, TEXTOID, INT4OID};
	Datum		values[3];
	SPITupleTable *tuptable;
	uint64		nrows;
	QueueHead  *heads;
	int			n = 0;

	values[0] = uuid_array(busy, n_busy);
	values[1] = CStringGetTextDatum(github_api_url);
	values[2] = Int32GetDatum(chain_length);

	/*
	 * Generic plan always: with a large deliveries table the planner would
	 * otherwise prefer custom plans and plan every call (a third of the
	 * deliverer's CPU, measured by test/bench/webhooks.sh).  Not read-only:
	 * it must see the results just recorded in this transaction.
	 */
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan, LOAD_QUERY, 3, argtypes, CURSOR_OPT_GENERIC_PLAN),
										  values, NULL, false, 0),
						 SPI_OK_SELECT, "read pending deliveries");
	tuptable = SPI_tuptable;
	nrows = SPI_processed;

	/* rows come grouped by queue, in queue order */
	heads = palloc(sizeof(QueueHead) * (nrows + 1));
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		pg_uuid_t  *queue_id = DatumGetUUIDP(intracker_result_datum(tuptable, i, "queue_id", &isnull));

		if (n == 0 || memcmp(queue_id, &heads[n - 1].queue_id, UUID_LEN) != 0)
		{
			QueueHead  *head = &heads[n++];

			head->queue_id = *queue_id;
			head->head_due = DatumGetTimestampTz(intracker_result_datum(tuptable, i, "next_attempt_at", &isnull));
			head->rows = tuptable;
			head->first_row = (int) i;
			head->nrows = 0;
		}
		heads[n - 1].nrows++;
	}
	qsort(heads, n, sizeof(QueueHead), by_head_due);
	*n_heads = n;
	return heads;
}

/*
 * The chain of a queue's deliveries that may go now, in the current memory
 * context; *chain_len says how many.  It stops at the first one still
 * waiting for its retry, and after a GitHub issue's creation: what follows
 * may need the issue's number, so it is loaded once that is recorded.
 */
Delivery *
intracker_deliveries_chain(const QueueHead *head, TimestampTz now, int *chain_len)
{
	SPITupleTable *rows = head->rows;
	Delivery   *chain = palloc0(sizeof(Delivery) * head->nrows);
	int			len = 0;
	bool		isnull;

	for (int i = 0; i < head->nrows; i++)
	{
		uint64		row = head->first_row + i;
		Delivery   *d = &chain[len];
		TimestampTz due = DatumGetTimestampTz(intracker_result_datum(rows, row, "next_attempt_at", &isnull));
		Datum		todo;

		if (due > now)
			break;
		d->id = *DatumGetUUIDP(intracker_result_datum(rows, row, "id", &isnull));
		d->queue_id = head->queue_id;
		d->is_github = DatumGetBool(intracker_result_datum(rows, row, "is_github", &isnull));
		d->event_type = intracker_result_text(rows, row, "event_type");
		d->body = intracker_result_text(rows, row, "body");
		d->attempts = DatumGetInt32(intracker_result_datum(rows, row, "attempts", &isnull));
		d->url = intracker_result_text(rows, row, "url");
		d->problem = intracker_result_text(rows, row, "problem");
		d->credential = intracker_result_text(rows, row, "credential");
		todo = intracker_result_datum(rows, row, "todo_id", &isnull);
		d->has_todo = !isnull;
		if (!isnull)
			d->todo_id = *DatumGetUUIDP(todo);
		d->method = !d->is_github || strcmp(d->event_type, "github.create_issue") == 0 ? "POST" : "PATCH";
		strlcpy(d->id_text, DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&d->id))),
				sizeof(d->id_text));
		len++;
		if (strcmp(d->method, "POST") == 0 && d->is_github)
			break;
	}
	*chain_len = len;
	return chain;
}

/*
 * Of the queues in hand, those no longer active (paused, deleted, token
 * removed); *n_stale says how many.
 */
pg_uuid_t *
intracker_deliveries_stale_queues(const pg_uuid_t *in_hand, int n_in_hand, int *n_stale)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {UUIDARRAYOID};
	Datum		values[1];
	pg_uuid_t  *stale;

	values[0] = uuid_array(in_hand, n_in_hand);
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan, STALE_QUEUES_QUERY, 1, argtypes, 0),
										  values, NULL, false, 0),
						 SPI_OK_SELECT, "check the queues in hand");
	stale = palloc(sizeof(pg_uuid_t) * (SPI_processed + 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		stale[r] = *DatumGetUUIDP(intracker_result_datum(SPI_tuptable, r, "queue_id", &isnull));
	}
	*n_stale = (int) SPI_processed;
	return stale;
}

/* ----------------------------------------------------------------
 * Recording
 * ----------------------------------------------------------------
 */

/*
 * Record what the attempts came to; a result whose row was skipped (locked
 * by a user's transaction, or gone) is marked skipped.  Returns whether one
 * of them created a GitHub issue, to be stored on its todo.
 */
bool
intracker_deliveries_record(DeliveryResult *results, int n_results)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[9] = {UUIDOID, TEXTOID, INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID,
	INT4OID, TEXTOID};
	bool		links_issue = false;

	for (int i = 0; i < n_results; i++)
	{
		DeliveryResult *r = &results[i];
		Datum		values[9];
		char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', 'n', 'n'};

		values[0] = UUIDPGetDatum(&r->id);
		values[1] = CStringGetTextDatum(r->state);
		values[2] = Int32GetDatum(r->status);
		if (r->status == 0)
			nulls[2] = 'n';
		values[3] = r->error ? CStringGetTextDatum(r->error) : (Datum) 0;
		if (r->error == NULL)
			nulls[3] = 'n';
		values[4] = TimestampTzGetDatum(r->next_attempt_at);
		if (r->next_attempt_at == 0)
			nulls[4] = 'n';
		values[5] = TimestampTzGetDatum(r->attempted_at);
		values[6] = Float8GetDatum(r->duration_ms);
		if (r->links_issue)
		{
			values[7] = Int32GetDatum(r->issue_number);
			nulls[7] = ' ';
			values[8] = r->issue_url ? CStringGetTextDatum(r->issue_url) : (Datum) 0;
			nulls[8] = r->issue_url ? ' ' : 'n';
			links_issue = true;
		}
		intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan, RECORD_QUERY, 9, argtypes, 0),
											  values, nulls, false, 0),
							 SPI_OK_UPDATE, "record a delivery");
		r->skipped = SPI_processed == 0;
	}
	return links_issue;
}

/*
 * Count the webhook results among results (in the order they happened)
 * towards their webhooks' runs of failures.  Returns whether webhooks wait
 * to be disabled.
 */
bool
intracker_deliveries_note_outcomes(const DeliveryResult *results, int n_results, int disable_after_dead,
								   int disable_after_failing_s)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[5] = {UUIDARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, INT4OID, INT4OID};
	Datum		values[5];
	Datum	   *ids = palloc(sizeof(Datum) * (n_results + 1));
	Datum	   *states = palloc(sizeof(Datum) * (n_results + 1));
	Datum	   *times = palloc(sizeof(Datum) * (n_results + 1));
	bool		isnull;

	for (int i = 0; i < n_results; i++)
	{
		ids[i] = UUIDPGetDatum(&results[i].id);
		states[i] = CStringGetTextDatum(results[i].state);
		times[i] = TimestampTzGetDatum(results[i].attempted_at);
	}
	values[0] = PointerGetDatum(construct_array(ids, n_results, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[1] = PointerGetDatum(construct_array(states, n_results, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(times, n_results, TIMESTAMPTZOID, sizeof(TimestampTz),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[3] = Int32GetDatum(disable_after_dead);
	values[4] = Int32GetDatum(disable_after_failing_s);
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan, NOTE_OUTCOMES_QUERY, 5, argtypes, 0),
										  values, NULL, false, 1),
						 SPI_OK_SELECT, "count failing webhooks");
	return DatumGetInt32(intracker_result_datum(SPI_tuptable, 0, "waiting", &isnull)) > 0;
}

/*
 * Disable the webhooks that reached a limit.  Returns how many were
 * disabled; *waiting says whether some wait for a user's lock.
 */
int
intracker_deliveries_disable_webhooks(bool *waiting)
{
	static SPIPlanPtr plan = NULL;
	bool		isnull;

	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan, DISABLE_QUERY, 0, NULL, 0),
										  NULL, NULL, false, 1),
						 SPI_OK_SELECT, "disable failing webhooks");
	*waiting = DatumGetInt32(intracker_result_datum(SPI_tuptable, 0, "waiting", &isnull)) > 0;
	return DatumGetInt32(intracker_result_datum(SPI_tuptable, 0, "disabled", &isnull));
}

/* Drop the deliveries of deleted webhooks and projects; returns how many. */
int
intracker_deliveries_drop_orphans(void)
{
	static SPIPlanPtr plan = NULL;
	bool		isnull;

	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan, DROP_ORPHANS_QUERY, 0, NULL, 0),
										  NULL, NULL, false, 1),
						 SPI_OK_SELECT, "drop orphaned deliveries");
	return DatumGetInt32(intracker_result_datum(SPI_tuptable, 0, "dropped", &isnull));
}

/*
 * Link created issues to their todos.  Returns whether some are left,
 * their todos locked by a user.
 */
bool
intracker_deliveries_link_issues(void)
{
	static SPIPlanPtr link_plan = NULL;
	static SPIPlanPtr left_plan = NULL;
	bool		isnull;

	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&link_plan, LINK_ISSUES_QUERY, 0, NULL, 0),
										  NULL, NULL, false, 0),
						 SPI_OK_UPDATE, "store created GitHub issues");
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&left_plan, ISSUES_TO_LINK_QUERY, 0, NULL, 0),
										  NULL, NULL, false, 1),
						 SPI_OK_SELECT, "read the GitHub issues left to link");
	return DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "left_to_link", &isnull));
}
