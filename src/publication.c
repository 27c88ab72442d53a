/*-------------------------------------------------------------------------
 *
 * publication.c
 *	  Publication of outbox events: sequence numbers, NOTIFY, fan-out.
 *
 * Writers append to intracker_data.outbox (events.c).  Publishing moves a
 * batch of committed outbox rows into intracker_data.events, numbering them
 * seq = last seq + 1, + 2, ... in outbox id order, and NOTIFYs each one, all
 * in one transaction.  That transaction is the only writer of events
 * (SHARE ROW EXCLUSIVE lock on the table), so the sequence is gap-free and
 * increasing, and a batch becomes visible to readers, NOTIFYs included, at
 * once when it commits.  The same transaction queues the webhook
 * deliveries and GitHub calls of the events it published, for the
 * deliverer, and copies the changes of the entities with a history into
 * intracker_data.history.
 *
 * Why replay is exact although writers commit out of id order: seq is given
 * at publication, not when the writer inserts.  A reader that saw seq N has
 * seen every batch up to the one holding N, and any later event gets a seq
 * above N whenever it commits.  Within a batch, id order respects every
 * order a client can observe: if transaction A committed before B wrote,
 * A's ids are lower and A is published before (or with) B.
 *
 * Two callers: the publisher, in the background (publisher.c), and where
 * no publisher serves the database (library not preloaded, or another
 * database) intracker.events_since(), which publishes what is pending
 * itself, without NOTIFY.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/resowner.h"

#include "publication.h"
#include "schema.h"
#include "shared_state.h"
#include "spi_util.h"
#include "trigger_util.h"

/*
 * Every function, type and operator is schema-qualified: the publisher
 * pins its search_path too (child_settings.c), but readers publishing on
 * read run this from intracker_data.publish_pending_events(), under the
 * path that function pins, and text that names pg_catalog's operators
 * means the same under any path.  (OPERATOR() binds like any other
 * operator, tighter than AND, hence the parentheses elsewhere.)
 */
#define PUBLISH_QUERY \
	"WITH batch AS (" \
	"  DELETE FROM intracker_data.outbox" \
	"   WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT id FROM intracker_data.outbox WHERE id OPERATOR(pg_catalog.<>) $3" \
	"                                               ORDER BY id LIMIT $1))" \
	"  RETURNING *" \
	") " \
	"INSERT INTO intracker_data.events" \
	"  (seq, outbox_id, type, project_id, entity_id, actor, version, changes, occurred_at, published_at) " \
	"SELECT $2 OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY b.id), b.id, b.type, b.project_id," \
	"       b.entity_id, b.actor, b.version, b.changes, b.occurred_at, pg_catalog.statement_timestamp()" \
	"  FROM batch b ORDER BY b.id " \
	"RETURNING seq, project_id, entity_id, type OPERATOR(pg_catalog.~~) 'notification.%' AS for_user," \
	"  pg_catalog.json_build_object('seq', seq, 'type', type, 'project_id', project_id," \
	"    'entity_id', entity_id, 'actor', actor, 'version', version)::pg_catalog.text AS payload"

/*
 * The NOTIFY channels of a project's events and of a user's notifications
 * (also intracker.project_channel() and intracker.user_channel()); a uuid
 * keeps them well below NAMEDATALEN.
 */
static char *
project_channel(const char *project_id)
{
	return psprintf("intracker.project.%s", project_id);
}

static char *
user_channel(const char *user_id)
{
	return psprintf("intracker.user.%s", user_id);
}

/* The highest seq published so far (0 before the first). */
static int64
last_published_seq(void)
{
	static SPIPlanPtr plan = NULL;
	bool		isnull;

	/* not read-only: a fresh snapshot, taken after the lock */
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan, "SELECT seq FROM intracker_data.events"
															  " ORDER BY seq DESC LIMIT 1", 0, NULL, 0),
										  NULL, NULL, false, 1),
						 SPI_OK_SELECT, "read the last published seq");
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt64(intracker_result_datum(SPI_tuptable, 0, "seq", &isnull));
}

/*
 * Run a statement over the batch just published: its $1 and $2 are the seq
 * before the batch and the batch's last (kept plan in *plan).
 */
static void
run_on_batch(SPIPlanPtr *plan, const char *sql, int64 after_seq, int64 last_seq, const char *what)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(after_seq), Int64GetDatum(last_seq)};

	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(plan, sql, 2, argtypes, 0), values, NULL, false, 1),
						 SPI_OK_SELECT, what);
}

/*
 * Queue the webhook deliveries and GitHub calls of the events just
 * published (intracker_data.fan_out_events, from 0.5 on).  Returns how many.
 */
static int
fan_out(int64 after_seq, int64 last_seq)
{
	static SPIPlanPtr plan = NULL;
	bool		isnull;

	if (intracker_missing_schema("deliveries") != NULL)
		return 0;
	run_on_batch(&plan, "SELECT intracker_data.fan_out_events($1, $2) AS queued", after_seq, last_seq,
				 "queue deliveries");
	return DatumGetInt32(intracker_result_datum(SPI_tuptable, 0, "queued", &isnull));
}

/*
 * Copy the events just published that are changes of a project, feature,
 * todo, comment or document (or of a todo's dependencies) into the lasting
 * history (intracker_data.record_history, from 0.6 on).
 */
static void
record_history(int64 after_seq, int64 last_seq)
{
	static SPIPlanPtr plan = NULL;

	if (intracker_missing_schema("history") != NULL)
		return;
	run_on_batch(&plan, "SELECT intracker_data.record_history($1, $2)", after_seq, last_seq, "record history");
}

/*
 * Take the lock that makes this transaction the one writer of events
 * (SHARE ROW EXCLUSIVE conflicts with itself only, and DDL).  The publisher
 * waits for it; a reader publishing on read does not (a user's open
 * transaction that published on read holds it until it ends): false then.
 */
static bool
lock_event_log(bool wait)
{
	Oid			events = RangeVarGetRelid(makeRangeVar("intracker_data", "events", -1), NoLock, false);

	if (wait)
	{
		LockRelationOid(events, ShareRowExclusiveLock);
		return true;
	}
	return ConditionalLockRelationOid(events, ShareRowExclusiveLock);
}

/*
 * Publish up to max_events pending events in the current transaction, in
 * outbox order, passing over the one with outbox id skip_id (0: none); with
 * send_notify, NOTIFY each on "intracker" and on its project's channel (a
 * notification on its user's).
 * Queues their deliveries (*deliveries_queued says how many).  Returns how
 * many events were published.
 */
int
intracker_publish_pending(int max_events, bool send_notify, int64 skip_id, int *deliveries_queued)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {INT4OID, INT8OID, INT8OID};
	Datum		values[3];
	uint64		published;
	int64		last_seq;

	intracker_spi_connect();

	(void) lock_event_log(true);
	values[0] = Int32GetDatum(max_events);
	last_seq = last_published_seq();
	values[1] = Int64GetDatum(last_seq);
	values[2] = Int64GetDatum(skip_id);

	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan, PUBLISH_QUERY, 3, argtypes, 0),
										  values, NULL, false, 0),
						 SPI_OK_INSERT_RETURNING, "publish events");
	published = SPI_processed;

	for (uint64 i = 0; send_notify && i < published; i++)
	{
		bool		isnull;
		bool		for_user = DatumGetBool(intracker_result_datum(SPI_tuptable, i, "for_user", &isnull));
		char	   *addressee = intracker_result_text(SPI_tuptable, i, for_user ? "entity_id" : "project_id");
		char	   *payload = intracker_result_text(SPI_tuptable, i, "payload");

		/* a notification is its user's news, not the project's */
		Async_Notify("intracker", payload);
		Async_Notify(for_user ? user_channel(addressee) : project_channel(addressee), payload);
		pfree(addressee);
		pfree(payload);
	}
	*deliveries_queued = published > 0 ? fan_out(last_seq, last_seq + (int64) published) : 0;
	if (published > 0)
		record_history(last_seq, last_seq + (int64) published);

	SPI_finish();
	return (int) published;
}

/* The outbox id of the next event to publish, 0 when none waits. */
int64
intracker_next_pending_event(void)
{
	static SPIPlanPtr plan = NULL;
	int64		id = 0;
	bool		isnull;

	intracker_spi_connect();
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan, "SELECT id FROM intracker_data.outbox"
															  " ORDER BY id LIMIT 1", 0, NULL, 0),
										  NULL, NULL, false, 1),
						 SPI_OK_SELECT, "read the next pending event");
	if (SPI_processed == 1)
		id = DatumGetInt64(intracker_result_datum(SPI_tuptable, 0, "id", &isnull));
	SPI_finish();
	return id;
}

/*
 * Set an outbox event aside as dead (intracker_data.dead_events), with the
 * error that kept it from being published.
 */
void
intracker_dead_letter_event(int64 outbox_id, const char *sqlstate, const char *message)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];

	values[0] = Int64GetDatum(outbox_id);
	values[1] = CStringGetTextDatum(sqlstate);
	values[2] = CStringGetTextDatum(message);
	intracker_spi_connect();
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan,
															  "WITH dead AS (DELETE FROM intracker_data.outbox"
															  "               WHERE id OPERATOR(pg_catalog.=) $1 RETURNING *)"
															  " INSERT INTO intracker_data.dead_events"
															  "  (outbox_id, type, project_id, entity_id, actor, version,"
															  "   changes, occurred_at, sqlstate, error)"
															  " SELECT d.id, d.type, d.project_id, d.entity_id, d.actor,"
															  "        d.version, d.changes, d.occurred_at, $2, $3 FROM dead d",
															  3, argtypes, 0),
										  values, NULL, false, 0),
						 SPI_OK_INSERT, "set a dead event aside");
	SPI_finish();
}

/*
 * intracker_data.publish_pending_events() returns integer
 *
 * Called by intracker.events_since() before it reads: when no publisher
 * serves this database, publish what is pending (without NOTIFY).
 * Only under READ COMMITTED, whose next statement sees the result; a
 * REPEATABLE READ reader sees what was published before it started.
 *
 * A reader never waits for another reader's open transaction that
 * published (it holds the event log's lock until it ends): it reads what
 * is published.  And a reader whose publishing fails (an event that cannot
 * be published or fanned out) still reads: the failure is a WARNING, in a
 * subtransaction rolled back; setting such an event aside is the
 * publisher's work (publisher.c).
 */
#define ON_READ_BATCH 10000		/* events per publishing statement on read */

PG_FUNCTION_INFO_V1(intracker_publish_pending_events);
Datum
intracker_publish_pending_events(PG_FUNCTION_ARGS)
{
	volatile int published = 0;
	bool		isnull;
	Datum		pending;
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	if (intracker_publisher_serves_database(MyDatabaseId) || IsolationUsesXactSnapshot() ||
		intracker_restore_in_progress())
		PG_RETURN_INT32(0);

	intracker_spi_connect();
	intracker_spi_expect(SPI_execute("SELECT EXISTS (SELECT FROM intracker_data.outbox) AS pending", true, 1),
						 SPI_OK_SELECT, "read the outbox");
	pending = intracker_result_datum(SPI_tuptable, 0, "pending", &isnull);
	SPI_finish();
	if (!DatumGetBool(pending) || !lock_event_log(false))
		PG_RETURN_INT32(0);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		for (;;)
		{
			int			queued;
			int			batch = intracker_publish_pending(ON_READ_BATCH, false, 0, &queued);

			published += batch;
			if (batch < ON_READ_BATCH)
				break;
			CHECK_FOR_INTERRUPTS();
		}
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(cxt);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		published = 0;
		ereport(WARNING,
				(errmsg("intracker: pending events were not published: %s", error->message),
				 errdetail("Events already published are read as usual."),
				 errhint("Where no publisher runs, an event that cannot be published waits; the publisher sets such an event aside.")));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	PG_RETURN_INT32(published);
}

/* intracker.project_channel(project_id uuid) returns text */
PG_FUNCTION_INFO_V1(intracker_project_channel_sql);
Datum
intracker_project_channel_sql(PG_FUNCTION_ARGS)
{
	char	   *project_id = DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0)));

	PG_RETURN_TEXT_P(cstring_to_text(project_channel(project_id)));
}

/* intracker.user_channel(user_id uuid) returns text */
PG_FUNCTION_INFO_V1(intracker_user_channel_sql);
Datum
intracker_user_channel_sql(PG_FUNCTION_ARGS)
{
	char	   *user_id = DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0)));

	PG_RETURN_TEXT_P(cstring_to_text(user_channel(user_id)));
}
