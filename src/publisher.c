/*-------------------------------------------------------------------------
 *
 * publisher.c
 *	  The publisher: the process that publishes outbox events in the
 *	  background, records rejected writes and prunes expired events.
 *
 * Started by the supervisor (supervisor.c), one in each database served;
 * supervisor.h names the three processes.  What publishing does, and why
 * replay is exact, is in publication.c.
 *
 * Waking: the publisher sleeps on its latch.  Committing transactions that
 * wrote events set it (events.c), so it runs when there is work and costs
 * nothing when idle.  A lock wait inside a round sleeps on the same latch
 * and resets it, which could swallow a commit's wake-up: every wake-up
 * also bumps a counter in shared memory (shared_state.c), and the
 * publisher goes round again instead of sleeping when the counter moved
 * during its round.
 *
 * Rounds: each round, in one transaction, writes the queued rejected
 * writes to the outbox (backends whose stale writes failed leave them in
 * shared memory, since their own transaction aborts) and publishes a batch
 * of at most intracker.publish_batch_size events; a full batch is followed
 * by another round at once.  When a round leaves nothing waiting and the
 * oldest event has expired, a pruning round follows, in a transaction of
 * its own, so that a failing prune never holds publication back.
 *
 * Retention: events older than intracker.event_retention go, in batches of
 * PRUNE_BATCH, with the finished deliveries made from them; the newest
 * event always stays, whatever its age, since max(seq) is where the
 * numbering continues.  The same rounds prune read notifications (after
 * the same retention) and history (after intracker.history_retention, by
 * default never): history is recorded at publication (publication.c) and
 * outlives the events it was copied from.
 *
 * Counters: every intracker.counter_check_interval, idle rounds check the
 * counters against the todos (verify_counters), one project per round,
 * and keep the count of drifted ones for intracker.metrics.  Events
 * committed meanwhile wait for at most one project's recount.
 *
 * Errors: an error in a round is logged as a WARNING, kept for
 * intracker.worker_status, and the round is retried after a pause that
 * doubles up to MAX_PAUSE_MS; the process does not exit.  While the
 * extension is missing (or older than 0.4) it says so once and waits.
 *
 * Dead letters: one event that cannot be published or fanned out (0.5: a
 * huge text whose webhook body could not be rendered) must not hold back
 * every project's events.  When a batch fails for a reason of the data
 * (not a transient one: see transient_failure()), the publisher publishes
 * one event per round for a batch's worth of events.  When such a round
 * fails, it tries, in a subtransaction it rolls back, to publish the next
 * event without that one: if that works, the first event alone is at
 * fault and goes to intracker_data.dead_events with its error (and
 * publication goes on); if it fails too, or no other event waits, the
 * cause is not that event (a full disk, a constraint an operator added)
 * and the round is retried after the pause, as before.
 * intracker.requeue_dead_events() puts dead events back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "publication.h"
#include "publisher.h"
#include "schema.h"
#include "shared_state.h"
#include "spi_util.h"
#include "supervisor.h"
#include "trigger_util.h"

#define MAX_PAUSE_MS		60000	/* longest pause after failures */
#define WAIT_FOR_SCHEMA_MS	10000	/* recheck for CREATE EXTENSION */
#define WAIT_FOR_RESTORE_MS	1000	/* recheck whether a restore still loads the database */

/* publish_round()'s answers when it could not publish */
#define ROUND_NO_SCHEMA		(-1)
#define ROUND_RESTORING		(-2)
#define ROUND_LEAVE			(-3)	/* not to be served: exit */
#define PRUNE_BATCH			1000
#define MAX_RETENTION_DAYS	(100 * 365) /* now() - retention stays a timestamp */

/* GUCs */
static char *event_retention = NULL;
static char *history_retention = NULL;	/* "forever", or an interval */
static int	counter_check_interval = 3600;	/* seconds; 0: never */
static int	publish_batch_size = 1000;

static bool schema_warned;		/* said that the extension is missing */
static bool serving;			/* counted among the databases served */
static bool committing;			/* a round's error came from its COMMIT */
static int	publish_singly;		/* events still to publish one per round */

PGDLLEXPORT void intracker_publisher_main(Datum main_arg);

/* ----------------------------------------------------------------
 * Settings
 * ----------------------------------------------------------------
 */

/* Is text a positive interval of at most 100 years? */
static bool
is_retention_interval(const char *text)
{
	volatile bool valid = true;
	MemoryContext cxt = CurrentMemoryContext;

	/* interval_in raises errors; GUC check hooks must not, so catch it */
	PG_TRY();
	{
		Interval   *interval = DatumGetIntervalP(DirectFunctionCall3(interval_in,
																	 CStringGetDatum(text),
																	 ObjectIdGetDatum(InvalidOid),
																	 Int32GetDatum(-1)));

		/* months of 30 days, as interval comparison counts them */
		double		days = interval->month * 30.0 + interval->day + interval->time / (double) USECS_PER_DAY;

		valid = days > 0 && days <= MAX_RETENTION_DAYS;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		valid = false;
	}
	PG_END_TRY();
	return valid;
}

/* intracker.event_retention must be a positive interval of at most 100 years. */
static bool
check_event_retention(char **newval, void **extra pg_attribute_unused(), GucSource source pg_attribute_unused())
{
	if (is_retention_interval(*newval))
		return true;
	GUC_check_errdetail("intracker.event_retention must be a positive interval of at most 100 years, such as '7 days'.");
	return false;
}

/* intracker.history_retention: "forever", or as intracker.event_retention. */
static bool
check_history_retention(char **newval, void **extra pg_attribute_unused(), GucSource source pg_attribute_unused())
{
	if (pg_strcasecmp(*newval, "forever") == 0 || is_retention_interval(*newval))
		return true;
	GUC_check_errdetail("intracker.history_retention must be 'forever' or a positive interval of at most 100 years, such as '2 years'.");
	return false;
}

void
PublisherInit(void)
{
	DefineCustomStringVariable("intracker.event_retention",
							   "How long published events are kept for replay.",
							   "The publisher deletes older events in small batches; the newest event is always kept.",
							   &event_retention, "7 days",
							   PGC_SIGHUP, 0, check_event_retention, NULL, NULL);
	DefineCustomStringVariable("intracker.history_retention",
							   "How long the history of projects, features, todos, comments and documents is kept.",
							   "'forever' (the default) or an interval; independent of intracker.event_retention, which bounds replay.",
							   &history_retention, "forever",
							   PGC_SIGHUP, 0, check_history_retention, NULL, NULL);
	DefineCustomIntVariable("intracker.counter_check_interval",
							"How often the publisher checks the counters against the todos (0: never).",
							"Idle rounds run intracker.verify_counters() one project at a time; intracker.metrics reports the drift a sweep found.",
							&counter_check_interval, 3600, 0, 7 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("intracker.publish_batch_size",
							"Most events the publisher publishes in one transaction.",
							NULL,
							&publish_batch_size, 1000, 1, 100000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
}

/* ----------------------------------------------------------------
 * Statements
 *
 * Every function, type and operator in them is schema-qualified, on top
 * of the search_path the publisher pins (child_settings.c).
 * ----------------------------------------------------------------
 */

/*
 * Write rejected stale writes (queued by backends whose transactions
 * aborted) to the outbox as conflict.rejected events.
 */
static void
record_rejected_writes(const RejectedWrite *writes, int count)
{
	Oid			argtypes[8] = {UUIDOID, UUIDOID, UUIDOID, INT4OID, TEXTOID, INT4OID, TEXTOID, TIMESTAMPTZOID};

	if (count == 0)
		return;
	intracker_spi_connect();
	for (int i = 0; i < count; i++)
	{
		const RejectedWrite *w = &writes[i];
		Datum		values[8];
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		values[0] = UUIDPGetDatum(&w->project_id);
		values[1] = UUIDPGetDatum(&w->entity_id);
		values[2] = UUIDPGetDatum(&w->actor);
		if (!w->has_actor)
			nulls[2] = 'n';
		values[3] = Int32GetDatum(w->current_version);
		values[4] = CStringGetTextDatum(w->entity);
		values[5] = Int32GetDatum(w->attempted_version);
		if (!w->has_attempted)
			nulls[5] = 'n';
		values[6] = CStringGetTextDatum(w->sqlstate);
		values[7] = TimestampTzGetDatum(w->at);

		intracker_spi_expect(SPI_execute_with_args("INSERT INTO intracker_data.outbox"
												   " (type, project_id, entity_id, actor, version, changes, occurred_at)"
												   " VALUES ('conflict.rejected', $1, $2, $3, $4,"
												   "  pg_catalog.jsonb_build_object('entity', $5, 'attempted_version', $6,"
												   "    'current_version', $4, 'sqlstate', $7), $8)",
												   8, argtypes, values, nulls, false, 0),
							 SPI_OK_INSERT, "record a rejected write");
	}
	SPI_finish();
}

/*
 * Delete up to max_events events published more than retention ago (an
 * interval in text form), oldest first, and as many finished deliveries
 * and read notifications, and history older than intracker.history_retention.
 * Returns how many went (the larger count); *next_due
 * gets when the oldest remaining event that may go expires (0 when every
 * event left is the newest one, which stays).
 */
static int
prune_events(const char *retention, int max_events, TimestampTz *next_due)
{
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	uint64		pruned;
	bool		isnull;

	intracker_spi_connect();
	values[0] = Int32GetDatum(max_events);
	values[1] = CStringGetTextDatum(retention);

	/* only the oldest max_events are candidates, so a pass costs O(batch) */
	intracker_spi_expect(SPI_execute_with_args("DELETE FROM intracker_data.events"
											   " WHERE seq OPERATOR(pg_catalog.=) ANY"
											   "       (SELECT seq FROM intracker_data.events ORDER BY seq LIMIT $1)"
											   "   AND published_at OPERATOR(pg_catalog.<)"
											   "       (pg_catalog.now() OPERATOR(pg_catalog.-) $2::pg_catalog.interval)"
											   "   AND seq OPERATOR(pg_catalog.<) (SELECT pg_catalog.max(seq) FROM intracker_data.events)",
											   2, argtypes, values, NULL, false, 0),
						 SPI_OK_DELETE, "prune events");
	pruned = SPI_processed;

	/*
	 * Finished deliveries (0.5) go after the same retention.  They come from
	 * events, so they expire with them: no schedule of their own.  Rows a
	 * user's transaction is deleting (with their webhook, todo or project)
	 * are skipped, not waited for: publication never waits for a user.
	 */
	if (intracker_missing_schema("deliveries") == NULL)
	{
		intracker_spi_expect(SPI_execute_with_args("DELETE FROM intracker_data.deliveries"
												   " WHERE id OPERATOR(pg_catalog.=) ANY"
												   "       (SELECT id FROM intracker_data.deliveries"
												   "         WHERE state OPERATOR(pg_catalog.=) ANY (ARRAY['delivered', 'dead'])"
												   "           AND created_at OPERATOR(pg_catalog.<)"
												   "               (pg_catalog.now() OPERATOR(pg_catalog.-) $2::pg_catalog.interval)"
												   "         ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)",
												   2, argtypes, values, NULL, false, 0),
							 SPI_OK_DELETE, "prune deliveries");
		pruned = Max(pruned, SPI_processed);
	}

	/*
	 * History (0.6) after its own retention, if any, oldest first: like
	 * events, only the oldest max_events are candidates.
	 */
	if (pg_strcasecmp(history_retention, "forever") != 0 && intracker_missing_schema("history") == NULL)
	{
		Datum		history_values[2] = {values[0], CStringGetTextDatum(history_retention)};

		intracker_spi_expect(SPI_execute_with_args("DELETE FROM intracker_data.history"
												   " WHERE seq OPERATOR(pg_catalog.=) ANY"
												   "       (SELECT seq FROM intracker_data.history ORDER BY seq LIMIT $1)"
												   "   AND occurred_at OPERATOR(pg_catalog.<)"
												   "       (pg_catalog.now() OPERATOR(pg_catalog.-) $2::pg_catalog.interval)",
												   2, argtypes, history_values, NULL, false, 0),
							 SPI_OK_DELETE, "prune history");
		pruned = Max(pruned, SPI_processed);
	}

	/*
	 * Read notifications (0.6) go after the same retention, from when they
	 * were read; unread ones stay.  A user marking them is skipped, not
	 * waited for.
	 */
	if (intracker_missing_schema("notifications") == NULL)
	{
		intracker_spi_expect(SPI_execute_with_args("DELETE FROM intracker_data.notifications"
												   " WHERE id OPERATOR(pg_catalog.=) ANY"
												   "       (SELECT id FROM intracker_data.notifications"
												   "         WHERE read_at OPERATOR(pg_catalog.<)"
												   "               (pg_catalog.now() OPERATOR(pg_catalog.-) $2::pg_catalog.interval)"
												   "         ORDER BY read_at LIMIT $1 FOR UPDATE SKIP LOCKED)",
												   2, argtypes, values, NULL, false, 0),
							 SPI_OK_DELETE, "prune notifications");
		pruned = Max(pruned, SPI_processed);
	}

	/* the oldest event that can go (never the newest one) */
	intracker_spi_expect(SPI_execute_with_args("SELECT published_at OPERATOR(pg_catalog.+) $1::pg_catalog.interval AS due"
											   "  FROM intracker_data.events"
											   " WHERE seq OPERATOR(pg_catalog.<) (SELECT pg_catalog.max(seq) FROM intracker_data.events)"
											   " ORDER BY seq LIMIT 1",
											   1, &argtypes[1], &values[1], NULL, true, 1),
						 SPI_OK_SELECT, "read the oldest event");
	*next_due = 0;
	if (SPI_processed == 1)
	{
		Datum		due = intracker_result_datum(SPI_tuptable, 0, "due", &isnull);

		if (!isnull)
			*next_due = DatumGetTimestampTz(due);
	}
	SPI_finish();
	return (int) pruned;
}

/* First round after (re)start: where numbering stands and what is waiting. */
static void
report_start(void)
{
	int64		last_seq = 0;
	int64		backlog = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (intracker_missing_schema("outbox") == NULL)
	{
		bool		isnull;

		intracker_spi_connect();
		intracker_spi_expect(SPI_execute("SELECT (SELECT coalesce(pg_catalog.max(seq), 0) FROM intracker_data.events)"
										 "         AS last_seq,"
										 "       (SELECT pg_catalog.count(*) FROM intracker_data.outbox) AS backlog",
										 true, 1),
							 SPI_OK_SELECT, "read the publication state");
		last_seq = DatumGetInt64(intracker_result_datum(SPI_tuptable, 0, "last_seq", &isnull));
		backlog = DatumGetInt64(intracker_result_datum(SPI_tuptable, 0, "backlog", &isnull));
		SPI_finish();
	}
	else if (intracker_serves_every_database())
	{
		/* (a look into a database without the extension: it leaves at once, unsaid) */
		PopActiveSnapshot();
		CommitTransactionCommand();
		return;
	}
	PopActiveSnapshot();
	CommitTransactionCommand();

	ereport(LOG,
			(errmsg("intracker publisher started: last published seq " INT64_FORMAT ", %lld events waiting",
					last_seq, (long long) backlog)));
}

/* ----------------------------------------------------------------
 * Rounds
 * ----------------------------------------------------------------
 */

/*
 * One publishing round, in one transaction: record the queued rejected
 * writes and publish up to max_events.  Returns how many events it
 * published, ROUND_NO_SCHEMA while the extension is missing, ROUND_RESTORING
 * while a restore loads the database (trigger_util.c), or ROUND_LEAVE when
 * the database is not to be served (see below).  Errors propagate to the
 * caller (committing says whether they came from the COMMIT).
 *
 * With intracker.database = '*', a database without the extension is not
 * waited for: the publisher leaves it (the supervisor looks again when
 * the extension is created).  A database with it is served if fewer than
 * intracker.max_databases are; otherwise the publisher leaves too.
 */
static int
publish_round(int max_events)
{
	RejectedWrite *rejected;
	int			nrejected;
	int			published;
	int			deliveries_queued;
	const char *missing;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "intracker: publishing events");

	missing = intracker_missing_schema("outbox");
	if ((missing != NULL && intracker_serves_every_database()) ||
		(missing == NULL && !serving && !(serving = intracker_publisher_begin_serving())))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		intracker_publisher_leave(missing != NULL ? PUBLISHER_LEFT_NO_EXTENSION : PUBLISHER_LEFT_OVER_LIMIT);
		return ROUND_LEAVE;
	}
	if (missing != NULL)
	{
		if (!schema_warned)
			ereport(WARNING,
					(errmsg("intracker: publisher is waiting for %s in database \"%s\"",
							missing, get_database_name(MyDatabaseId))));
		schema_warned = true;
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		intracker_publisher_set_state(PUBLISHER_WAITING_FOR_EXTENSION);
		return ROUND_NO_SCHEMA;
	}
	schema_warned = false;
	if (intracker_restore_in_progress())
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		intracker_publisher_set_state(PUBLISHER_WAITING_FOR_RESTORE);
		return ROUND_RESTORING;
	}
	intracker_publisher_set_state(PUBLISHER_PUBLISHING);

	/* copy the queued rejected writes (into transaction memory); they leave the ring once recorded */
	rejected = palloc(sizeof(RejectedWrite) * REJECTED_WRITE_RING_SIZE);
	nrejected = intracker_rejected_writes_peek(rejected);
	record_rejected_writes(rejected, nrejected);

	published = intracker_publish_pending(max_events, true, 0, &deliveries_queued);

	PopActiveSnapshot();
	committing = true;
	CommitTransactionCommand();
	committing = false;
	if (deliveries_queued > 0)
		intracker_deliverer_wake();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	intracker_rejected_writes_forget(nrejected);
	intracker_publisher_set_state(PUBLISHER_IDLE);
	if (published > 0)
		intracker_publisher_count_published(published);
	return published;
}

/*
 * One pruning round, in a transaction of its own so that a failing prune
 * never holds publication back.  Returns when to prune next: now if there
 * is more to delete, when the oldest deletable event expires, or 0 when
 * nothing can be deleted until more events are published.
 */
static TimestampTz
prune_round(void)
{
	TimestampTz next_due;
	int			pruned;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "intracker: pruning events");
	pruned = prune_events(event_retention, PRUNE_BATCH, &next_due);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	if (pruned == PRUNE_BATCH)
		return GetCurrentTimestamp();	/* the rest after the next publishing round */
	/* a clock step back must not turn this into a busy loop */
	if (next_due != 0 && next_due <= GetCurrentTimestamp())
		return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
	return next_due;
}

/*
 * The counter check goes one project per idle round, in project id order,
 * so that events committed meanwhile wait for one project's recount at
 * most, not for all of them; the drift found over a whole sweep is kept in
 * shared memory for intracker.metrics (no scrape pays for the scan).
 */
static pg_uuid_t check_cursor;	/* the last project checked in this sweep */
static bool check_sweeping = false;
static int64 check_drifted; /* found so far in this sweep */

/*
 * Check the next project's counters against a count from scratch
 * (intracker.verify_counters(project): the publisher, a superuser acting as
 * no one, sees every project), in a transaction of its own.  Returns
 * whether the sweep goes on (false: it has just ended, its result noted).
 */
static bool
check_counters_round(void)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	bool		isnull;
	bool		more;

	if (!check_sweeping)
	{
		memset(&check_cursor, 0, sizeof(check_cursor));
		check_drifted = 0;
		check_sweeping = true;
	}
	values[0] = UUIDPGetDatum(&check_cursor);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "intracker: checking the counters");
	intracker_spi_connect();
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan,
															  "SELECT p.id, (SELECT pg_catalog.count(*) FROM intracker.verify_counters(p.id))"
															  "         AS drifted"
															  "  FROM intracker_data.projects p WHERE p.id OPERATOR(pg_catalog.>) $1"
															  " ORDER BY p.id LIMIT 1", 1, argtypes, 0),
										  values, NULL, true, 1),
						 SPI_OK_SELECT, "check the counters");
	more = SPI_processed == 1;
	if (more)
	{
		check_cursor = *DatumGetUUIDP(intracker_result_datum(SPI_tuptable, 0, "id", &isnull));
		check_drifted += DatumGetInt64(intracker_result_datum(SPI_tuptable, 0, "drifted", &isnull));
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	if (!more)
	{
		check_sweeping = false;
		intracker_publisher_note_counter_check(check_drifted);
		if (check_drifted > 0)
			ereport(WARNING,
					(errmsg("intracker publisher: %lld counters differ from the todos", (long long) check_drifted),
					 errhint("SELECT * FROM intracker.verify_counters() lists them.")));
	}
	return more;
}

/*
 * After an error in a round: undo its transaction, log a WARNING saying
 * what happens next, and keep the message for worker_status.  Returns the
 * error.
 */
static ErrorData *
recover_from_error(MemoryContext cxt, const char *consequence, long pause_ms)
{
	ErrorData  *error = intracker_child_recover(cxt);

	ereport(WARNING,
			(errmsg("intracker publisher: %s", error->message),
			 errdetail("%s Retrying in %ld ms.", consequence, pause_ms)));
	intracker_publisher_note_error(error->message);
	/* (a missing extension is worth saying again after an error) */
	schema_warned = false;
	return error;
}

/*
 * Would the same round work a moment later?  Failures of the moment
 * (connection, serialization and deadlocks, resources, locks, operator
 * intervention, system errors) and anything the COMMIT raised (a full
 * NOTIFY queue) are; an error about the data of the events is not.
 */
static bool
transient_failure(const ErrorData *error, bool at_commit)
{
	switch (ERRCODE_TO_CATEGORY(error->sqlerrcode))
	{
		case ERRCODE_CONNECTION_EXCEPTION:
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
			return true;
		default:
			return at_commit;
	}
}

/*
 * A round that published one event failed for a reason of the data: is the
 * event at fault?  In a transaction of its own, publish the next event
 * without it, in a subtransaction rolled back whatever happens; if that
 * works, set the first one aside as dead.  Returns whether it did.
 */
static bool
set_aside_if_alone(const ErrorData *failure)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner;
	int64		suspect;
	volatile bool others_publish = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	owner = CurrentResourceOwner;	/* the transaction's, to come back to after the probe */
	pgstat_report_activity(STATE_RUNNING, "intracker: checking an event that fails");
	suspect = intracker_next_pending_event();
	if (suspect != 0)
	{
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			int			queued;

			others_publish = intracker_publish_pending(1, false, suspect, &queued) == 1;
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			FlushErrorState();
		}
		PG_END_TRY();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	if (others_publish)
	{
		intracker_dead_letter_event(suspect, unpack_sql_state(failure->sqlerrcode), failure->message);
		ereport(WARNING,
				(errmsg("intracker publisher: event %lld set aside as dead: %s", (long long) suspect,
						failure->message),
				 errdetail("The events after it are published; it alone failed."),
				 errhint("See intracker_data.dead_events; intracker.requeue_dead_events() puts it back.")));
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return others_publish;
}

/* ----------------------------------------------------------------
 * The process
 * ----------------------------------------------------------------
 */

/*
 * The publisher's loop: publishing rounds as long as full batches come,
 * then a pruning round when one is due, then sleep on the latch until a
 * commit wakes it, the next prune is due, or a failed round's pause ends.
 */
void
intracker_publisher_main(Datum main_arg)
{
	MemoryContext round_context;
	/* volatile: changed inside PG_TRY blocks and read after them */
	volatile TimestampTz next_prune;
	volatile TimestampTz next_check;
	volatile long publish_pause_ms = 1000;
	volatile long prune_pause_ms = 1000;
	volatile bool start_reported = false;

	intracker_child_start(main_arg, INTRACKER_PUBLISHER);
	intracker_publisher_starting();

	/* prune at once: the retention may have passed while we were away */
	next_prune = GetCurrentTimestamp();
	/* check the counters once idle, then every counter_check_interval */
	next_check = GetCurrentTimestamp();

	round_context = AllocSetContextCreate(TopMemoryContext, "intracker publisher round",
										  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		volatile int published = 0;
		volatile long wait_ms = -1;
		volatile bool failed = false;
		int			batch = publish_singly > 0 ? 1 : publish_batch_size;
		ErrorData  *volatile error = NULL;
		volatile bool again = false;
		uint64		wake_requests_seen;

		/* reset before the round: a commit during it sets the latch again (and see the header) */
		wake_requests_seen = intracker_publisher_wake_requests();
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			next_prune = GetCurrentTimestamp();
			next_check = GetCurrentTimestamp();
		}

		MemoryContextSwitchTo(round_context);
		PG_TRY();
		{
			if (!start_reported)
			{
				report_start();
				start_reported = true;
			}
			published = publish_round(batch);
			publish_pause_ms = 1000;
			if (published > 0 && publish_singly > 0)
				publish_singly--;
		}
		PG_CATCH();
		{
			error = recover_from_error(round_context, "Nothing was lost; the events stay in the outbox.",
									   publish_pause_ms);
			published = 0;
			failed = true;
			wait_ms = publish_pause_ms;
			publish_pause_ms = Min(publish_pause_ms * 2, MAX_PAUSE_MS);
		}
		PG_END_TRY();

		/* an error of the data: find the event at fault (see the header) */
		if (failed && !transient_failure(error, committing))
		{
			if (batch > 1)
			{
				publish_singly = batch;
				again = true;
			}
			else
			{
				PG_TRY();
				{
					again = set_aside_if_alone(error);
				}
				PG_CATCH();
				{
					(void) recover_from_error(round_context, "Publishing is retried.", publish_pause_ms);
				}
				PG_END_TRY();
			}
			if (again)
				publish_pause_ms = 1000;
		}
		committing = false;

		/* a full batch: more may be waiting; or on at once after an event set aside */
		if (again || (published == batch && published > 0))
		{
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(round_context);
			continue;
		}
		if (published == ROUND_LEAVE)
			proc_exit(0);
		if (published == ROUND_NO_SCHEMA)
			wait_ms = WAIT_FOR_SCHEMA_MS;
		else if (published == ROUND_RESTORING)
			wait_ms = WAIT_FOR_RESTORE_MS;
		else
		{
			/* what was just published expires some day */
			if (published > 0 && next_prune == 0)
				next_prune = GetCurrentTimestamp();
			if (next_prune != 0 && GetCurrentTimestamp() >= next_prune)
			{
				PG_TRY();
				{
					next_prune = prune_round();
					prune_pause_ms = 1000;
				}
				PG_CATCH();
				{
					recover_from_error(round_context, "Publishing goes on; pruning is retried later.",
									   prune_pause_ms);
					next_prune = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), prune_pause_ms);
					prune_pause_ms = Min(prune_pause_ms * 2, MAX_PAUSE_MS);
				}
				PG_END_TRY();
			}
			if (next_prune != 0 && (wait_ms < 0 || intracker_ms_until(next_prune) < wait_ms))
				wait_ms = intracker_ms_until(next_prune);

			/* idle: the next project of a counter check, when one is due */
			if (counter_check_interval > 0 && !failed && published == 0 && GetCurrentTimestamp() >= next_check)
			{
				volatile bool more = false;

				PG_TRY();
				{
					more = check_counters_round();
				}
				PG_CATCH();
				{
					recover_from_error(round_context, "Publishing goes on; the check is tried again later.", 0);
					check_sweeping = false;
				}
				PG_END_TRY();
				/* the sweep's next project after a look for events; the next sweep later */
				next_check = more ? GetCurrentTimestamp()
					: TimestampTzPlusMilliseconds(GetCurrentTimestamp(), counter_check_interval * 1000L);
			}
			if (counter_check_interval > 0 && (wait_ms < 0 || intracker_ms_until(next_check) < wait_ms))
				wait_ms = intracker_ms_until(next_check);
		}
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(round_context);

		/* (after a failure, the pause comes first) */
		if (!failed && published >= 0 && intracker_publisher_wake_requests() != wake_requests_seen)
			continue;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (wait_ms >= 0 ? WL_TIMEOUT : 0),
						 wait_ms, PG_WAIT_EXTENSION);
	}
}
