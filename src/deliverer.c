/*-------------------------------------------------------------------------
 *
 * deliverer.c
 *	  The process that sends webhook deliveries and GitHub calls.
 *
 * Started by the supervisor (supervisor.c) in intracker.database next to
 * the publisher, so that no endpoint, however slow, can hold up
 * publication; supervisor.h names the three processes.  The publisher
 * turns events into rows of intracker_data.deliveries in its own
 * transaction; this process sends them.
 *
 * Queues and order: every delivery belongs to a queue (its webhook, or its
 * project's GitHub repository) and a queue is sent strictly in order, one
 * request at a time.  A queue is "in hand" while this process holds the
 * next few deliveries of it in memory (a chain of up to CHAIN_LENGTH): on a
 * 2xx (or a permanent failure, which makes the delivery dead) the next one
 * goes out at once, without a database round trip; on a retryable failure
 * the chain is dropped and the queue waits for that delivery's retry time.
 * Up to intracker.http_max_concurrency queues are in hand at once, so a
 * hanging endpoint holds one slot until its timeout and never the others.
 *
 * Transactions are never open across network I/O.  One round: record the
 * results gathered since the last round, then load chains for free slots,
 * and commit; then the requests run on a libcurl multi handle.  Nothing is
 * claimed in the database (there is one deliverer): after a crash,
 * whatever was not recorded as delivered is sent again, with the same
 * X-Intracker-Delivery id (at-least-once).
 *
 * Waiting: while requests are in flight the process polls libcurl's
 * sockets for at most POLL_MS at a time and checks its latch in between;
 * otherwise it sleeps on the latch until the next retry is due.  The
 * publisher (and redeliver(), create_github_issue()) wake it at commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/dbcommands.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "intracker.h"
#include "schema.h"
#include "shared_state.h"
#include "supervisor.h"
#include "spi_util.h"
#include "http.h"

#define CHAIN_LENGTH		16		/* deliveries of one queue held at once */
#define POLL_MS				10		/* longest libcurl poll before checking the latch */
#define RECORD_DELAY_MS		5		/* results are recorded in batches at most this old */
#define RECORD_BATCH		200
#define WAIT_FOR_SCHEMA_MS	10000
#define MAX_PAUSE_MS		60000
#define MAX_RETRY_DELAY_MS	(3600 * 1000)
#define UUID_TEXT_LEN		36

typedef struct Delivery
{
	pg_uuid_t	id;
	char		id_text[UUID_TEXT_LEN + 1];
	bool		is_github;
	char	   *event_type;
	char	   *method;
	char	   *url;			/* NULL: no target any more (see problem) */
	char	   *problem;
	char	   *body;
	char	   *credential;		/* webhook secret or GitHub token, or NULL */
	int			attempts;		/* before this one */
	bool		has_todo;
	pg_uuid_t	todo_id;
} Delivery;

/* A queue in hand: its chain and the one request in flight. */
typedef struct Slot
{
	bool		in_use;
	bool		in_flight;
	pg_uuid_t	queue_id;
	MemoryContext cxt;			/* the chain's deliveries */
	Delivery   *chain;
	int			chain_len;
	int			next;			/* index of the delivery in flight or next to go */
	HttpRequest request;
} Slot;

/* What one attempt came to, waiting to be recorded. */
typedef struct DeliveryResult
{
	pg_uuid_t	id;
	const char *state;			/* delivered, failed, dead */
	int			status;
	char	   *error;
	TimestampTz attempted_at;
	TimestampTz next_attempt_at;	/* failed only */
	double		duration_ms;
	bool		links_issue;	/* a created GitHub issue, to store on the todo */
	pg_uuid_t	todo_id;
	int			issue_number;
	char	   *issue_url;
} DeliveryResult;

/* A queue's head row from the load query, before slots are chosen. */
typedef struct Candidate
{
	int			first_row;
	int			rows;
	TimestampTz head_due;
} Candidate;

static Slot *slots;
static int	slots_in_use;
static int	slots_in_flight;
static bool slot_released;		/* its queue may have more: load again */
static CURLM *multi;
static MemoryContext results_cxt;
static DeliveryResult *results;
static int	n_results;
static TimestampTz oldest_result_at;
static DelivererStatus status;
static bool schema_warned;		/* said that the extension is missing */
static bool issues_to_link = true;	/* created issues not yet on their todos (at start: look) */

/*
 * Each queue's next deliveries, with what sending them takes.  The GitHub
 * columns are subqueries inside CASE, so that webhook rows never touch
 * projects or todos (joins made the planner scan todos on every load).
 */
#define LOAD_QUERY \
	"WITH queues AS (" \
	"  SELECT w.id FROM intracker_data.webhooks w WHERE w.active" \
	"  UNION ALL" \
	"  SELECT c.project_id FROM intracker_data.github_credentials c WHERE c.token IS NOT NULL" \
	") " \
	"SELECT d.id, d.queue_id, d.kind = 'github' AS is_github, d.event_type, d.body, d.attempts," \
	"       d.next_attempt_at," \
	"       CASE WHEN d.kind = 'webhook' THEN w.url" \
	"            ELSE (SELECT pg_catalog.rtrim($2, '/') || '/repos/' || p.github_repo || '/issues' ||" \
	"                         CASE WHEN d.event_type = 'github.create_issue' THEN ''" \
	"                              ELSE '/' || coalesce((SELECT t.github_issue FROM intracker_data.todos t" \
	"                                                     WHERE t.id = d.todo_id)," \
	"                                                   (SELECT c.issue_number FROM intracker_data.deliveries c" \
	"                                                     WHERE c.todo_id = d.todo_id" \
	"                                                       AND c.event_type = 'github.create_issue'" \
	"                                                       AND c.state = 'delivered'" \
	"                                                     ORDER BY c.position DESC LIMIT 1)) END" \
	"                    FROM intracker_data.projects p WHERE p.id = d.project_id) END AS url," \
	"       CASE WHEN d.kind = 'webhook' THEN NULL" \
	"            WHEN (SELECT p.github_repo FROM intracker_data.projects p WHERE p.id = d.project_id) IS NULL" \
	"              THEN 'the project has no GitHub repository'" \
	"            WHEN (SELECT t.id FROM intracker_data.todos t WHERE t.id = d.todo_id) IS NULL" \
	"              THEN 'the todo was deleted'" \
	"            ELSE 'the todo has no linked GitHub issue' END AS problem," \
	"       CASE WHEN d.kind = 'webhook' THEN w.secret" \
	"            ELSE (SELECT c.token FROM intracker_data.github_credentials c WHERE c.project_id = d.project_id) END" \
	"         AS credential," \
	"       d.todo_id" \
	"  FROM queues q" \
	"  CROSS JOIN LATERAL (SELECT * FROM intracker_data.deliveries d" \
	"                       WHERE d.queue_id = q.id AND d.state IN ('pending', 'failed')" \
	"                       ORDER BY d.position LIMIT $3) d" \
	"  LEFT JOIN intracker_data.webhooks w ON w.id = d.webhook_id" \
	" WHERE q.id <> ALL ($1)" \
	" ORDER BY q.id, d.position"

/* queues in hand that are no longer active (paused, deleted, token removed) */
#define STALE_QUEUES_QUERY \
	"SELECT q AS queue_id FROM pg_catalog.unnest($1::pg_catalog.uuid[]) q" \
	" WHERE NOT EXISTS (SELECT FROM intracker_data.webhooks w WHERE w.id = q AND w.active)" \
	"   AND NOT EXISTS (SELECT FROM intracker_data.github_credentials c" \
	"                    WHERE c.project_id = q AND c.token IS NOT NULL)"

#define RECORD_QUERY \
	"UPDATE intracker_data.deliveries" \
	"   SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4," \
	"       next_attempt_at = coalesce($5, next_attempt_at), last_attempt_at = $6, duration_ms = $7," \
	"       delivered_at = CASE WHEN $2 = 'delivered' THEN $6 END, issue_number = $8, issue_url = $9" \
	" WHERE id = $1"

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
	"                               WHERE d.todo_id = u.id AND d.event_type = 'github.create_issue'" \
	"                                 AND d.state = 'delivered' AND d.issue_number IS NOT NULL" \
	"                               ORDER BY d.position DESC LIMIT 1) c" \
	"         WHERE u.github_issue IS NULL" \
	"           AND u.id IN (SELECT d.todo_id FROM intracker_data.deliveries d" \
	"                         WHERE d.event_type = 'github.create_issue' AND d.state = 'delivered'" \
	"                           AND d.issue_number IS NOT NULL)" \
	"           FOR UPDATE OF u SKIP LOCKED) l" \
	" WHERE t.id = l.todo_id"

#define ISSUES_TO_LINK_QUERY \
	"SELECT EXISTS (SELECT FROM intracker_data.deliveries d" \
	"                 JOIN intracker_data.todos u ON u.id = d.todo_id AND u.github_issue IS NULL" \
	"                WHERE d.event_type = 'github.create_issue' AND d.state = 'delivered'" \
	"                  AND d.issue_number IS NOT NULL) AS left_to_link"

static void
set_state(const char *state)
{
	strlcpy(status.state, state, sizeof(status.state));
	status.in_flight = slots_in_flight;
	intracker_deliverer_report(&status);
}

/* ----------------------------------------------------------------
 * Results
 * ----------------------------------------------------------------
 */

/* When to try again after a retryable failure (attempts: this one included). */
static TimestampTz
retry_time(int attempts, const HttpOutcome *outcome)
{
	double		delay_ms;

	if (outcome->retry_after_s > 0)
		delay_ms = Min(outcome->retry_after_s * 1000.0, MAX_RETRY_DELAY_MS);
	else
	{
		/* exponential, with "equal jitter": half fixed, half random */
		delay_ms = Min(intracker_http_retry_base_ms * pow(2.0, Min(attempts - 1, 30)), MAX_RETRY_DELAY_MS);
		delay_ms = delay_ms / 2 + pg_prng_double(&pg_global_prng_state) * delay_ms / 2;
	}
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) delay_ms);
}

static void
add_result(Delivery *delivery, const HttpOutcome *outcome, HttpRequest *request)
{
	DeliveryResult *r;
	MemoryContext old = MemoryContextSwitchTo(results_cxt);

	if (n_results == 0)
	{
		results = palloc(sizeof(DeliveryResult) * RECORD_BATCH);
		oldest_result_at = GetCurrentTimestamp();
	}
	else if (n_results % RECORD_BATCH == 0)
		results = repalloc(results, sizeof(DeliveryResult) * (n_results + RECORD_BATCH));
	r = &results[n_results++];
	memset(r, 0, sizeof(*r));
	r->id = delivery->id;
	r->status = outcome->status;
	r->attempted_at = GetCurrentTimestamp();
	r->duration_ms = outcome->duration_ms;
	r->error = outcome->error[0] ? pstrdup(outcome->error) : NULL;

	status.attempts++;
	if (outcome->kind == HTTP_SUCCESS)
	{
		r->state = "delivered";
		status.delivered++;
		if (delivery->is_github && strcmp(delivery->event_type, "github.create_issue") == 0 && delivery->has_todo)
		{
			r->todo_id = delivery->todo_id;
			r->links_issue = intracker_github_created_issue(request->response, request->response_len,
															&r->issue_number, &r->issue_url);
			if (!r->links_issue)
				r->error = pstrdup("GitHub's answer has no issue number");
		}
	}
	else if (outcome->kind == HTTP_RETRYABLE_FAILURE && delivery->attempts + 1 < intracker_http_max_attempts)
	{
		r->state = "failed";
		r->next_attempt_at = retry_time(delivery->attempts + 1, outcome);
	}
	else
	{
		r->state = "dead";
		status.dead++;
	}
	MemoryContextSwitchTo(old);
}

/* Dead without a request: the target is gone or not allowed. */
static void
add_unsendable(Delivery *delivery, const char *problem)
{
	HttpOutcome outcome;

	memset(&outcome, 0, sizeof(outcome));
	outcome.kind = HTTP_PERMANENT_FAILURE;
	strlcpy(outcome.error, problem, sizeof(outcome.error));
	add_result(delivery, &outcome, NULL);
}

static void
record_results(void)
{
	static SPIPlanPtr record_plan = NULL;
	Oid			record_types[9] = {UUIDOID, TEXTOID, INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID,
	INT4OID, TEXTOID};

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
			issues_to_link = true;
		}
		intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&record_plan, RECORD_QUERY, 9, record_types, 0),
											  values, nulls, false, 0),
							 SPI_OK_UPDATE, "record a delivery");
	}
}

/* Link created issues to their todos; some may wait for a user's lock. */
static void
link_created_issues(void)
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
	issues_to_link = DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "left_to_link", &isnull));
}

/* ----------------------------------------------------------------
 * Loading chains into free slots
 * ----------------------------------------------------------------
 */

static void release_slot(Slot *slot);

static int
by_head_due(const void *a, const void *b)
{
	TimestampTz x = ((const Candidate *) a)->head_due;
	TimestampTz y = ((const Candidate *) b)->head_due;

	return x < y ? -1 : x > y ? 1 : 0;
}

static void
fill_slot(Slot *slot, SPITupleTable *tuptable, const Candidate *candidate, TimestampTz now)
{
	MemoryContext old;
	bool		isnull;

	slot->cxt = AllocSetContextCreate(TopMemoryContext, "intracker delivery chain", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(slot->cxt);
	slot->chain = palloc0(sizeof(Delivery) * candidate->rows);
	slot->chain_len = 0;
	for (int i = 0; i < candidate->rows; i++)
	{
		uint64		row = candidate->first_row + i;
		Delivery   *d = &slot->chain[slot->chain_len];
		TimestampTz due = DatumGetTimestampTz(intracker_result_datum(tuptable, row, "next_attempt_at", &isnull));
		Datum		todo;

		/* the chain stops at the first delivery still waiting for its retry */
		if (due > now)
			break;
		d->id = *DatumGetUUIDP(intracker_result_datum(tuptable, row, "id", &isnull));
		if (i == 0)
			slot->queue_id = *DatumGetUUIDP(intracker_result_datum(tuptable, row, "queue_id", &isnull));
		d->is_github = DatumGetBool(intracker_result_datum(tuptable, row, "is_github", &isnull));
		d->event_type = intracker_result_text(tuptable, row, "event_type");
		d->body = intracker_result_text(tuptable, row, "body");
		d->attempts = DatumGetInt32(intracker_result_datum(tuptable, row, "attempts", &isnull));
		d->url = intracker_result_text(tuptable, row, "url");
		d->problem = intracker_result_text(tuptable, row, "problem");
		d->credential = intracker_result_text(tuptable, row, "credential");
		todo = intracker_result_datum(tuptable, row, "todo_id", &isnull);
		d->has_todo = !isnull;
		if (!isnull)
			d->todo_id = *DatumGetUUIDP(todo);
		d->method = !d->is_github || strcmp(d->event_type, "github.create_issue") == 0 ? "POST" : "PATCH";
		strlcpy(d->id_text, DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&d->id))),
				sizeof(d->id_text));
		slot->chain_len++;
		/* what follows a creation may need its issue number: loaded once it is recorded */
		if (strcmp(d->method, "POST") == 0 && d->is_github)
			break;
	}
	MemoryContextSwitchTo(old);
	slot->in_use = true;
	slot->in_flight = false;
	slot->next = 0;
	slots_in_use++;
}

/*
 * Stop the chains of queues paused or deleted since they were loaded (the
 * request in flight finishes; nothing after it goes out).  Run when woken:
 * set_webhook_active() and delete_webhook() wake the deliverer.
 */
static void
drop_stale_chains(void)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {UUIDARRAYOID};
	Datum		values[1];
	Datum	   *in_hand;
	int			n = 0;

	if (slots_in_use == 0)
		return;
	in_hand = palloc(sizeof(Datum) * slots_in_use);
	for (int i = 0; i < INTRACKER_HTTP_MAX_CONCURRENCY; i++)
		if (slots[i].in_use)
			in_hand[n++] = UUIDPGetDatum(&slots[i].queue_id);
	values[0] = PointerGetDatum(construct_array(in_hand, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan, STALE_QUEUES_QUERY, 1, argtypes, 0),
										  values, NULL, false, 0),
						 SPI_OK_SELECT, "check the queues in hand");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		pg_uuid_t  *stale = DatumGetUUIDP(intracker_result_datum(SPI_tuptable, r, "queue_id", &isnull));

		for (int i = 0; i < INTRACKER_HTTP_MAX_CONCURRENCY; i++)
		{
			Slot	   *slot = &slots[i];

			if (!slot->in_use || memcmp(&slot->queue_id, stale, UUID_LEN) != 0)
				continue;
			if (slot->in_flight)
				slot->chain_len = slot->next + 1;
			else
				release_slot(slot);
		}
	}
}

/*
 * Load chains for as many queues as there are free slots, oldest waiting
 * first.  Returns when the earliest queue left waiting is due (0: none).
 */
static TimestampTz
load_chains(void)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {UUIDARRAYOID, TEXTOID, INT4OID};
	Datum		values[3];
	Datum	   *busy;
	int			n_busy = 0;
	int			free_slots = intracker_http_max_concurrency - slots_in_use;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next_due = 0;
	Candidate  *candidates;
	int			n_candidates = 0;
	SPITupleTable *tuptable;
	uint64		nrows;

	busy = palloc(sizeof(Datum) * (slots_in_use + 1));
	for (int i = 0; i < INTRACKER_HTTP_MAX_CONCURRENCY; i++)
		if (slots[i].in_use)
			busy[n_busy++] = UUIDPGetDatum(&slots[i].queue_id);
	values[0] = PointerGetDatum(construct_array(busy, n_busy, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[1] = CStringGetTextDatum(intracker_github_api_url);
	values[2] = Int32GetDatum(CHAIN_LENGTH);
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
	candidates = palloc(sizeof(Candidate) * (nrows + 1));
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		bool		new_queue = i == 0 ||
			memcmp(DatumGetUUIDP(intracker_result_datum(tuptable, i, "queue_id", &isnull)),
				   DatumGetUUIDP(intracker_result_datum(tuptable, i - 1, "queue_id", &isnull)),
				   UUID_LEN) != 0;

		if (new_queue)
		{
			Candidate  *c = &candidates[n_candidates++];

			c->first_row = (int) i;
			c->rows = 0;
			c->head_due = DatumGetTimestampTz(intracker_result_datum(tuptable, i, "next_attempt_at", &isnull));
		}
		candidates[n_candidates - 1].rows++;
	}
	qsort(candidates, n_candidates, sizeof(Candidate), by_head_due);

	for (int c = 0; c < n_candidates; c++)
	{
		if (candidates[c].head_due > now)
		{
			/* sorted: every later one waits too; the first says when to look again */
			next_due = candidates[c].head_due;
			break;
		}
		if (free_slots == 0)
		{
			next_due = now;		/* due, but no slot: as soon as one frees */
			break;
		}
		for (int s = 0; s < INTRACKER_HTTP_MAX_CONCURRENCY; s++)
		{
			if (!slots[s].in_use)
			{
				fill_slot(&slots[s], tuptable, &candidates[c], now);
				free_slots--;
				break;
			}
		}
	}
	return next_due;
}

/* ----------------------------------------------------------------
 * Requests
 * ----------------------------------------------------------------
 */

static void
release_slot(Slot *slot)
{
	MemoryContextDelete(slot->cxt);
	slot->cxt = NULL;
	slot->chain = NULL;
	slot->in_use = false;
	slot->in_flight = false;
	slots_in_use--;
	slot_released = true;
}

/*
 * Start the slot's next delivery; deliveries that cannot be sent are dead
 * at once and the chain moves on.  Releases the slot at the chain's end.
 */
static void
start_next(Slot *slot)
{
	while (slot->next < slot->chain_len)
	{
		Delivery   *d = &slot->chain[slot->next];
		const char *headers[8];
		int			n_headers;
		char		signature[INTRACKER_SIGNATURE_LEN + 1];
		char		authorization[1100];
		bool		denied_host;
		char	   *problem;

		if (d->url == NULL)
		{
			add_unsendable(d, d->problem ? d->problem : "no target");
			slot->next++;
			continue;
		}
		problem = intracker_url_problem(d->url, &denied_host);
		if (problem != NULL)
		{
			add_unsendable(d, problem);
			pfree(problem);
			slot->next++;
			continue;
		}

		if (d->is_github)
		{
			snprintf(authorization, sizeof(authorization), "Bearer %s", d->credential ? d->credential : "");
			headers[0] = "Accept";
			headers[1] = "application/vnd.github+json";
			headers[2] = "X-GitHub-Api-Version";
			headers[3] = "2022-11-28";
			headers[4] = "Authorization";
			headers[5] = authorization;
			headers[6] = "X-Intracker-Delivery";
			headers[7] = d->id_text;
			n_headers = 4;
		}
		else
		{
			headers[0] = "X-Intracker-Event";
			headers[1] = d->event_type;
			headers[2] = "X-Intracker-Delivery";
			headers[3] = d->id_text;
			n_headers = 2;
			if (d->credential != NULL)
			{
				intracker_sign(d->credential, strlen(d->credential), d->body, strlen(d->body), signature);
				headers[4] = "X-Intracker-Signature-256";
				headers[5] = signature;
				n_headers = 3;
			}
		}

		if (slot->request.easy == NULL)
			slot->request.easy = curl_easy_init();
		else
			curl_easy_reset(slot->request.easy);
		if (slot->request.easy == NULL ||
			!intracker_http_begin(&slot->request, d->method, d->url, d->body, headers, n_headers) ||
			curl_multi_add_handle(multi, slot->request.easy) != CURLM_OK)
		{
			HttpOutcome outcome;

			/* out of memory in libcurl: try again later like a failed request */
			memset(&outcome, 0, sizeof(outcome));
			outcome.kind = HTTP_RETRYABLE_FAILURE;
			strlcpy(outcome.error, slot->request.error[0] ? slot->request.error : "could not start the request",
					sizeof(outcome.error));
			curl_slist_free_all(slot->request.headers);
			slot->request.headers = NULL;
			add_result(d, &outcome, NULL);
			release_slot(slot);
			return;
		}
		curl_easy_setopt(slot->request.easy, CURLOPT_PRIVATE, slot);
		slot->in_flight = true;
		slots_in_flight++;
		return;
	}
	release_slot(slot);
}

/* Record finished requests and move their chains on. */
static void
collect_finished(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		Slot	   *slot = NULL;
		CURLcode	code = msg->data.result;
		CURL	   *easy = msg->easy_handle;
		HttpOutcome outcome;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &slot);
		curl_multi_remove_handle(multi, easy);
		slot->in_flight = false;
		slots_in_flight--;
		intracker_http_end(&slot->request, code, &outcome);
		add_result(&slot->chain[slot->next], &outcome, &slot->request);
		intracker_http_free_response(&slot->request);

		if (outcome.kind == HTTP_RETRYABLE_FAILURE)
			release_slot(slot);	/* the queue waits for this one's retry */
		else
		{
			slot->next++;
			start_next(slot);
		}
	}
}

/* ----------------------------------------------------------------
 * The process
 * ----------------------------------------------------------------
 */

/*
 * One round in one transaction: record results, stop the chains of queues
 * paused meanwhile (when woken), then load chains when a slot is free.  Returns false while the extension is missing; *next_due
 * gets when to load again without being woken.
 */
static bool
delivery_round(bool load, bool woken, TimestampTz *next_due)
{
	bool		ready;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "intracker: recording and loading deliveries");
	ready = intracker_missing_schema("deliveries") == NULL;
	if (!ready && !schema_warned)
		ereport(WARNING,
				(errmsg("intracker deliverer is waiting for intracker 0.5 in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errhint("CREATE EXTENSION intracker, or ALTER EXTENSION intracker UPDATE.")));
	schema_warned = !ready;
	if (ready)
	{
		intracker_spi_connect();
		record_results();
		if (issues_to_link)
			link_created_issues();
		if (woken)
			drop_stale_chains();
		if (load && slots_in_use < intracker_http_max_concurrency)
			*next_due = load_chains();
		/* a todo that was locked: try again in a second even if nothing else happens */
		if (issues_to_link)
		{
			TimestampTz retry = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);

			if (*next_due == 0 || *next_due > retry)
				*next_due = retry;
		}
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	/* recorded: forget them (kept across a failed round, to record again) */
	n_results = 0;
	results = NULL;
	MemoryContextReset(results_cxt);
	return ready;
}

static void
deliverer_cleanup(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	if (multi == NULL)
		return;
	for (int i = 0; i < INTRACKER_HTTP_MAX_CONCURRENCY; i++)
	{
		if (slots[i].request.easy == NULL)
			continue;
		if (slots[i].in_flight)
			curl_multi_remove_handle(multi, slots[i].request.easy);
		curl_slist_free_all(slots[i].request.headers);
		intracker_http_free_response(&slots[i].request);
		curl_easy_cleanup(slots[i].request.easy);
	}
	curl_multi_cleanup(multi);
	multi = NULL;
	curl_global_cleanup();
}

PGDLLEXPORT void intracker_deliverer_main(Datum main_arg);

void
intracker_deliverer_main(Datum main_arg)
{
	MemoryContext round_context;
	volatile long pause_ms = 1000;
	volatile TimestampTz next_due = 0;
	volatile uint64 wake_requests_seen = 0;

	intracker_child_start(main_arg, INTRACKER_DELIVERER);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("intracker deliverer: could not initialize libcurl")));
	if ((multi = curl_multi_init()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("intracker deliverer: libcurl could not allocate a multi handle.")));
	before_shmem_exit(deliverer_cleanup, (Datum) 0);
	slots = MemoryContextAllocZero(TopMemoryContext, sizeof(Slot) * INTRACKER_HTTP_MAX_CONCURRENCY);
	results_cxt = AllocSetContextCreate(TopMemoryContext, "intracker delivery results", ALLOCSET_DEFAULT_SIZES);
	round_context = AllocSetContextCreate(TopMemoryContext, "intracker deliverer round", ALLOCSET_DEFAULT_SIZES);

	status.started_at = GetCurrentTimestamp();
	next_due = status.started_at;	/* load at once what the last process left */
	set_state("starting");
	ereport(LOG, (errmsg("intracker deliverer started (up to %d requests at once)",
						 intracker_http_max_concurrency)));

	for (;;)
	{
		uint64		wake_requests = intracker_deliverer_wake_requests();
		bool		woken = wake_requests != wake_requests_seen;
		volatile bool want_load = slots_in_use < intracker_http_max_concurrency &&
			(woken || slot_released || (next_due != 0 && GetCurrentTimestamp() >= next_due));
		bool		want_record = n_results >= RECORD_BATCH || (n_results > 0 &&
																 (slots_in_use == 0 || want_load ||
																  TimestampDifferenceExceeds(oldest_result_at, GetCurrentTimestamp(), RECORD_DELAY_MS)));
		int			running = 0;
		volatile bool failed = false;
		long		wait_ms;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			want_load = true;
		}

		if (want_load || want_record || woken)
		{
			MemoryContextSwitchTo(round_context);
			PG_TRY();
			{
				wake_requests_seen = wake_requests;
				if (want_load)
				{
					slot_released = false;
					next_due = 0;
				}
				if (!delivery_round(want_load, woken, (TimestampTz *) &next_due))
				{
					next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), WAIT_FOR_SCHEMA_MS);
					set_state("waiting for extension");
				}
				else
					pause_ms = 1000;
			}
			PG_CATCH();
			{
				ErrorData  *error;

				MemoryContextSwitchTo(round_context);
				error = CopyErrorData();
				FlushErrorState();
				AbortCurrentTransaction();
				pgstat_report_activity(STATE_IDLE, NULL);
				ereport(WARNING,
						(errmsg("intracker deliverer: %s", error->message),
						 errdetail("Nothing was lost; retrying in %ld ms.", pause_ms)));
				strlcpy(status.last_error, error->message, sizeof(status.last_error));
				status.last_error_at = GetCurrentTimestamp();
				next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), pause_ms);
				pause_ms = Min(pause_ms * 2, MAX_PAUSE_MS);
				failed = true;
			}
			PG_END_TRY();
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(round_context);
		}

		/* chains just loaded: their first requests (others go on in collect_finished) */
		if (want_load)
			for (int i = 0; i < INTRACKER_HTTP_MAX_CONCURRENCY; i++)
				if (slots[i].in_use && !slots[i].in_flight)
					start_next(&slots[i]);
		curl_multi_perform(multi, &running);
		collect_finished();
		set_state(failed ? "retrying after error" : slots_in_use > 0 ? "delivering" : "idle");

		/* what just finished is recorded (and its queue reloaded) without waiting */
		if (!failed && (n_results >= RECORD_BATCH || (n_results > 0 && slots_in_use == 0)))
			continue;

		/* with every slot taken, a slot's release (not the clock) is the cue to load */
		wait_ms = next_due != 0 && slots_in_use < intracker_http_max_concurrency ?
			Max(intracker_ms_until(next_due), 0) : -1;
		if (n_results > 0)
			wait_ms = wait_ms < 0 ? RECORD_DELAY_MS : Min(wait_ms, RECORD_DELAY_MS);
		if (slots_in_use > 0)
		{
			int			ready;

			curl_multi_poll(multi, NULL, 0, wait_ms < 0 ? POLL_MS : Min(wait_ms, POLL_MS), &ready);
		}
		else if (!failed && (slot_released || intracker_deliverer_wake_requests() != wake_requests_seen))
			continue;
		else
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (wait_ms >= 0 ? WL_TIMEOUT : 0),
							 wait_ms, PG_WAIT_EXTENSION);
	}
}
