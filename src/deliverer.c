/*-------------------------------------------------------------------------
 *
 * deliverer.c
 *	  The process that sends webhook deliveries and GitHub calls.
 *
 * Started by the supervisor (supervisor.c) in each database served, next to
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
 * and commit; then the requests run on a libcurl multi handle.  Nothing
 * is claimed in the database (there is one deliverer): after a crash,
 * whatever was not recorded as delivered is sent again, with the same
 * X-Intracker-Delivery id (at-least-once).  The round's statements are in
 * deliveries.c; this file holds the queues in hand (slots), the requests
 * and the loop.
 *
 * Waiting: while requests are in flight the process polls libcurl's
 * sockets for at most POLL_MS at a time and checks its latch in between;
 * otherwise it sleeps on the latch until the next retry is due.  The
 * publisher (and redeliver(), create_github_issue()) wake it at commit.
 *
 * Never waiting for a user: no statement of a round waits for a row lock a
 * user's transaction can hold.  Todos a user holds and webhooks a user is
 * changing are skipped and handled in a later round (deliveries.c).  The
 * result of a delivery a user's transaction is deleting (with its webhook,
 * todo or project) is not recorded, and its queue is held for
 * LOCKED_RETRY_MS: the delivery, still pending as far as this process can
 * see, goes out again then if the deletion has not committed (at most once
 * per LOCKED_RETRY_MS, at-least-once as after a crash).
 *
 * Failing webhooks: each round counts the webhook results it records
 * towards their webhooks' runs of failures and disables the webhooks that
 * reached intracker.webhook_disable_after_dead dead deliveries in a row or
 * intracker.webhook_disable_after_failing of failure (91_webhooks.sql);
 * their chains in hand are stopped at once and the publisher is woken for
 * the webhook.disabled event.
 *
 * Orphans: when woken (a delete of a webhook or project wakes it), at most
 * every ORPHAN_SWEEP_MS, a round drops the deliveries the publisher queued
 * for a webhook or project that was being deleted at the time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "deliveries.h"
#include "github.h"
#include "http.h"
#include "schema.h"
#include "shared_state.h"
#include "signature.h"
#include "spi_util.h"
#include "supervisor.h"

#define CHAIN_LENGTH		16		/* deliveries of one queue held at once */
#define POLL_MS				10		/* longest libcurl poll before checking the latch */
#define RECORD_DELAY_MS		5		/* results are recorded in batches at most this old */
#define RECORD_BATCH		200
#define WAIT_FOR_SCHEMA_MS	10000
#define MAX_PAUSE_MS		60000
#define MAX_RETRY_DELAY_MS	(3600 * 1000)
#define LOCKED_RETRY_MS		1000	/* a row a user held locked: look again */
#define ORPHAN_SWEEP_MS		10000	/* most frequent orphan sweep */

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
static bool webhooks_to_disable = true; /* failing webhooks not yet disabled (at start: look) */
static bool orphan_sweep_wanted = true; /* woken since the last sweep (at start: sweep) */
static TimestampTz last_orphan_sweep = 0;

/*
 * Queues not to load before a time: one whose result could not be recorded
 * because a user's transaction holds the delivery (it is deleting it with
 * its webhook, todo or project).  Loaded at once, the delivery, still
 * pending to this process, would be sent again and again until that
 * transaction ends; held, it is sent again at most every LOCKED_RETRY_MS.
 */
typedef struct HeldQueue
{
	pg_uuid_t	queue_id;
	TimestampTz until;
} HeldQueue;

static HeldQueue *held_queues;
static int	n_held;
static int	held_capacity;

PGDLLEXPORT void intracker_deliverer_main(Datum main_arg);

static void
set_state(const char *state)
{
	strlcpy(status.state, state, sizeof(status.state));
	status.in_flight = slots_in_flight;
	intracker_deliverer_report(&status);
}

/* Make *next_due no later than ms from now. */
static void
due_within(TimestampTz *next_due, long ms)
{
	TimestampTz at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	if (*next_due == 0 || *next_due > at)
		*next_due = at;
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

/*
 * Keep what an attempt came to, for the next round to record: delivered
 * (for a created GitHub issue, with its number and address), failed with
 * the time of the next attempt, or dead once the attempts are used up or
 * the failure is permanent.  Counts it in the deliverer's status.
 */
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
	r->queue_id = delivery->queue_id;
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

/* ----------------------------------------------------------------
 * Loading chains into free slots
 * ----------------------------------------------------------------
 */

static void release_slot(Slot *slot);

/* Give a free slot the chain of a queue that is due. */
static void
fill_slot(Slot *slot, const QueueHead *head, TimestampTz now)
{
	MemoryContext old;

	slot->cxt = AllocSetContextCreate(TopMemoryContext, "intracker delivery chain", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(slot->cxt);
	slot->chain = intracker_deliveries_chain(head, now, &slot->chain_len);
	MemoryContextSwitchTo(old);
	slot->queue_id = head->queue_id;
	slot->in_use = true;
	slot->in_flight = false;
	slot->next = 0;
	slots_in_use++;
}

/* The queues in hand (room for slots_in_use); returns how many. */
static int
queues_in_hand(pg_uuid_t *queues)
{
	int			n = 0;

	for (int i = 0; i < INTRACKER_HTTP_MAX_CONCURRENCY; i++)
		if (slots[i].in_use)
			queues[n++] = slots[i].queue_id;
	return n;
}

/* Hold the queues of the results the round could not record. */
static void
hold_skipped_queues(void)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), LOCKED_RETRY_MS);

	for (int r = 0; r < n_results; r++)
	{
		if (!results[r].skipped)
			continue;
		if (n_held == held_capacity)
		{
			held_capacity = Max(16, held_capacity * 2);
			held_queues = held_queues == NULL ?
				MemoryContextAlloc(TopMemoryContext, sizeof(HeldQueue) * held_capacity) :
				repalloc(held_queues, sizeof(HeldQueue) * held_capacity);
		}
		held_queues[n_held].queue_id = results[r].queue_id;
		held_queues[n_held].until = until;
		n_held++;
	}
}

/*
 * The queues not to load now (room for slots_in_use + n_held): those in
 * hand and those held, forgetting holds that ended.  Returns how many.
 */
static int
busy_queues(pg_uuid_t *queues)
{
	int			n = queues_in_hand(queues);
	int			kept = 0;
	TimestampTz now = GetCurrentTimestamp();

	for (int h = 0; h < n_held; h++)
	{
		if (held_queues[h].until <= now)
			continue;
		queues[n++] = held_queues[h].queue_id;
		held_queues[kept++] = held_queues[h];
	}
	n_held = kept;
	return n;
}

/*
 * Stop the chains of queues paused, disabled or deleted since they were
 * loaded (the request in flight finishes; nothing after it goes out).  Run
 * when woken (set_webhook_active() and delete_webhook() wake the
 * deliverer) and after this process disabled webhooks.
 */
static void
drop_stale_chains(void)
{
	pg_uuid_t  *in_hand;
	pg_uuid_t  *stale;
	int			n_stale;

	if (slots_in_use == 0)
		return;
	in_hand = palloc(sizeof(pg_uuid_t) * slots_in_use);
	stale = intracker_deliveries_stale_queues(in_hand, queues_in_hand(in_hand), &n_stale);
	for (int r = 0; r < n_stale; r++)
	{
		for (int i = 0; i < INTRACKER_HTTP_MAX_CONCURRENCY; i++)
		{
			Slot	   *slot = &slots[i];

			if (!slot->in_use || memcmp(&slot->queue_id, &stale[r], UUID_LEN) != 0)
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
	pg_uuid_t  *busy = palloc(sizeof(pg_uuid_t) * (slots_in_use + n_held + 1));
	int			free_slots = intracker_http_max_concurrency - slots_in_use;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next_due = 0;
	QueueHead  *heads;
	int			n_heads;

	heads = intracker_deliveries_load_heads(busy, busy_queues(busy), intracker_github_api_url,
											CHAIN_LENGTH, &n_heads);
	for (int h = 0; h < n_heads; h++)
	{
		if (heads[h].head_due > now)
		{
			/* sorted: every later one waits too; the first says when to look again */
			next_due = heads[h].head_due;
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
				fill_slot(&slots[s], &heads[h], now);
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

/* Drop the slot's chain; its queue may have more, so load again soon. */
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
 * One round in one transaction: record results and count those of
 * webhooks, disable the webhooks that keep failing, drop orphans and stop
 * the chains of queues paused, disabled or deleted meanwhile (when woken),
 * then load chains when a slot is free.  Returns false while the extension
 * is missing; *next_due gets when to load again without being woken.
 */
static bool
delivery_round(bool load, bool woken, TimestampTz *next_due)
{
	bool		ready;
	int			disabled = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "intracker: recording and loading deliveries");
	ready = intracker_missing_schema("webhook_health") == NULL;
	if (!ready && !schema_warned)
		ereport(WARNING,
				(errmsg("intracker deliverer is waiting for intracker 0.6 in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errhint("CREATE EXTENSION intracker, or ALTER EXTENSION intracker UPDATE.")));
	schema_warned = !ready;
	if (ready)
	{
		intracker_spi_connect();
		if (intracker_deliveries_record(results, n_results))
			issues_to_link = true;
		hold_skipped_queues();
		if (issues_to_link)
			issues_to_link = intracker_deliveries_link_issues();
		if (n_results > 0 &&
			intracker_deliveries_note_outcomes(results, n_results, intracker_webhook_disable_after_dead,
											   intracker_webhook_disable_after_failing_s))
			webhooks_to_disable = true;
		if (webhooks_to_disable)
			disabled = intracker_deliveries_disable_webhooks(&webhooks_to_disable);
		if (woken)
			orphan_sweep_wanted = true;
		if (orphan_sweep_wanted &&
			TimestampDifferenceExceeds(last_orphan_sweep, GetCurrentTimestamp(), ORPHAN_SWEEP_MS))
		{
			(void) intracker_deliveries_drop_orphans();
			last_orphan_sweep = GetCurrentTimestamp();
			orphan_sweep_wanted = false;
		}
		if (woken || disabled > 0)
			drop_stale_chains();
		if (load && slots_in_use < intracker_http_max_concurrency)
			*next_due = load_chains();
		/* a row that was locked, a queue held, a sweep put off: look again even if nothing else happens */
		if (issues_to_link || webhooks_to_disable || n_held > 0)
			due_within(next_due, LOCKED_RETRY_MS);
		if (orphan_sweep_wanted)
			due_within(next_due, Max(intracker_ms_until(TimestampTzPlusMilliseconds(last_orphan_sweep, ORPHAN_SWEEP_MS)),
									 0));
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	/* the webhook.disabled events are in the outbox */
	if (disabled > 0)
		intracker_publisher_wake();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	/* recorded: forget them (kept across a failed round, to record again) */
	n_results = 0;
	results = NULL;
	MemoryContextReset(results_cxt);
	return ready;
}

/* At exit: release what libcurl holds (handles, header lists, bodies). */
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

/*
 * The deliverer's loop: a round (record results, load chains) when woken,
 * when a slot was released, when a retry is due or results wait; then start
 * the chains just loaded and let libcurl work, polling its sockets while
 * requests are in flight and sleeping on the latch otherwise.
 */
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
				ErrorData  *error = intracker_child_recover(round_context);

				ereport(WARNING,
						(errmsg("intracker deliverer: %s", error->message),
						 errdetail("Nothing was lost; retrying in %ld ms.", pause_ms)));
				strlcpy(status.last_error, error->message, sizeof(status.last_error));
				status.last_error_at = GetCurrentTimestamp();
				/* the round's work was rolled back: all of it is left to do */
				issues_to_link = webhooks_to_disable = orphan_sweep_wanted = true;
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
