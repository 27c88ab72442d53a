/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker that publishes events, and its shared state.
 *
 * Two processes, both started only when intracker is in
 * shared_preload_libraries:
 *
 * - The supervisor (static worker) connects to no database.  It looks up
 *   intracker.database in pg_database, starts the publisher there, and
 *   starts it again when it exits, with a growing pause if it keeps
 *   failing.  A missing database is a WARNING and a wait, not a crash loop,
 *   and since the supervisor holds no database connection it never stands
 *   in the way of DROP DATABASE.
 *
 * - The publisher (dynamic worker, one database) sleeps on its latch.
 *   Committing transactions that wrote events set it (events.c), so it
 *   runs when there is work and costs nothing when idle.  Each round, in
 *   one transaction: write queued rejected writes to the outbox, publish
 *   pending events (publisher.c).  When a round leaves nothing waiting and
 *   the oldest event has expired, a pruning round follows, in a transaction
 *   of its own.  An error is logged as a WARNING, kept in worker_status, and
 *   retried after a pause; the process does not exit.  While the extension
 *   is missing (or older than 0.4) it says so once and waits.
 *
 *   A lock wait inside a round sleeps on the same latch and resets it, which
 *   could swallow a commit's wake-up: every wake-up also bumps a counter in
 *   shared memory, and the publisher goes round again instead of sleeping
 *   when the counter moved during its round.
 *
 * Shared memory (WorkerShared, one spinlock) holds the publisher's latch
 * and status, and a ring of rejected writes: backends whose stale writes
 * fail (PT409/PT412) leave them there because their own transaction aborts;
 * the publisher copies them out, and removes them only after the
 * transaction that recorded them committed.  The ring is not durable: a
 * server crash loses the warnings that were waiting (never any events).
 *
 * DROP DATABASE: the utility hook stops the publisher first, or DROP would
 * wait for it and fail ("being accessed by other users").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "intracker.h"
#include "spi_util.h"

#define REJECTED_WRITE_RING_SIZE	1024
#define MAX_PAUSE_MS				60000	/* longest pause after failures */
#define WAIT_FOR_SCHEMA_MS			10000	/* recheck for CREATE EXTENSION */
#define PRUNE_BATCH					1000
#define MAX_RETENTION_DAYS			(100 * 365)	/* now() - retention stays a timestamp */

typedef enum PublisherState
{
	PUBLISHER_STOPPED = 0,
	PUBLISHER_WAITING_FOR_DATABASE,
	PUBLISHER_STARTING,
	PUBLISHER_WAITING_FOR_EXTENSION,
	PUBLISHER_IDLE,
	PUBLISHER_PUBLISHING,
	PUBLISHER_RETRYING
} PublisherState;

/* bgw_type and application_name of each child */
static const char *const child_types[] = {
	[INTRACKER_PUBLISHER] = "intracker publisher",
	[INTRACKER_DELIVERER] = "intracker deliverer",
};

static const char *const state_names[] = {
	"stopped", "waiting for database", "starting", "waiting for extension",
	"idle", "publishing", "retrying after error"
};
StaticAssertDecl(lengthof(state_names) == PUBLISHER_RETRYING + 1, "one name per publisher state");

typedef struct WorkerShared
{
	slock_t		mutex;
	uint64		wake_requests;	/* bumped by every wake-up, see publisher loop */
	pid_t		supervisor_pid;
	pid_t		publisher_pid;
	Latch	   *publisher_latch;
	Oid			dboid;			/* the publisher's database */
	PublisherState state;
	TimestampTz started_at;
	uint64		events_published;
	TimestampTz rate_window_start;
	uint64		rate_window_events;
	double		events_per_second;
	char		last_error[512];
	TimestampTz last_error_at;
	/* the deliverer (deliverer.c) */
	pid_t		deliverer_pid;
	Latch	   *deliverer_latch;
	uint64		deliverer_wake_requests;
	DelivererStatus deliverer;
	/* ring of rejected writes: [ring_start, ring_start + ring_count) */
	int			ring_start;
	int			ring_count;
	uint64		rejected_writes_dropped;
	RejectedWrite ring[REJECTED_WRITE_RING_SIZE];
} WorkerShared;

static WorkerShared *shared = NULL;

/* GUCs */
static char *worker_database = NULL;
static char *event_retention = NULL;
static int	publish_batch_size = 1000;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;

PGDLLEXPORT void intracker_supervisor_main(Datum main_arg);
PGDLLEXPORT void intracker_publisher_main(Datum main_arg);

static void
set_state(PublisherState state)
{
	SpinLockAcquire(&shared->mutex);
	shared->state = state;
	SpinLockRelease(&shared->mutex);
}

/* ----------------------------------------------------------------
 * Used by every backend
 * ----------------------------------------------------------------
 */

/*
 * Is dboid the worker's database?  True also while its publisher restarts:
 * the next one publishes what waits, with the NOTIFYs that readers
 * publishing on their own would skip.
 */
bool
intracker_worker_serves_database(Oid dboid)
{
	bool		serves;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	serves = shared->supervisor_pid != 0 && OidIsValid(shared->dboid) && shared->dboid == dboid;
	SpinLockRelease(&shared->mutex);
	return serves;
}

/* Called at commit of a transaction that wrote events (events.c). */
void
intracker_worker_wake(void)
{
	Latch	   *latch = NULL;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	if (shared->dboid == MyDatabaseId)
	{
		shared->wake_requests++;
		latch = shared->publisher_latch;
	}
	SpinLockRelease(&shared->mutex);
	if (latch)
		SetLatch(latch);
}

/*
 * Wake the deliverer: called by the publisher after committing new
 * deliveries, and at commit of transactions that queued some (events.c).
 */
void
intracker_worker_wake_deliverer(void)
{
	Latch	   *latch = NULL;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	if (shared->dboid == MyDatabaseId)
	{
		shared->deliverer_wake_requests++;
		latch = shared->deliverer_latch;
	}
	SpinLockRelease(&shared->mutex);
	if (latch)
		SetLatch(latch);
}

void
intracker_worker_queue_rejected_write(const RejectedWrite *rejected)
{
	bool		queued = false;

	if (!intracker_worker_serves_database(MyDatabaseId))
		return;
	SpinLockAcquire(&shared->mutex);
	if (shared->ring_count < REJECTED_WRITE_RING_SIZE)
	{
		int			slot = (shared->ring_start + shared->ring_count) % REJECTED_WRITE_RING_SIZE;

		shared->ring[slot] = *rejected;
		shared->ring_count++;
		queued = true;
	}
	else
		shared->rejected_writes_dropped++;
	SpinLockRelease(&shared->mutex);
	if (queued)
		intracker_worker_wake();
}

/*
 * Stop the publisher before DROP DATABASE of its database; wake it after
 * COMMIT PREPARED (the committing backend wrote no events itself) and after
 * CREATE / ALTER EXTENSION intracker (it may be waiting for the schema).
 */
static void
intracker_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						  ProcessUtilityContext context, ParamListInfo params,
						  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	bool		wake_after = false;

	if (shared != NULL)
	{
		if (IsA(stmt, DropdbStmt))
		{
			Oid			dboid = get_database_oid(((DropdbStmt *) stmt)->dbname, true);
			pid_t		publisher = 0;
			pid_t		deliverer = 0;

			SpinLockAcquire(&shared->mutex);
			if (OidIsValid(dboid) && shared->dboid == dboid)
			{
				publisher = shared->publisher_pid;
				deliverer = shared->deliverer_pid;
			}
			SpinLockRelease(&shared->mutex);
			if (publisher != 0)
				kill(publisher, SIGTERM);
			if (deliverer != 0)
				kill(deliverer, SIGTERM);
		}
		else if (IsA(stmt, TransactionStmt))
			wake_after = ((TransactionStmt *) stmt)->kind == TRANS_STMT_COMMIT_PREPARED;
		else if (IsA(stmt, CreateExtensionStmt))
			wake_after = strcmp(((CreateExtensionStmt *) stmt)->extname, "intracker") == 0;
		else if (IsA(stmt, AlterExtensionStmt))
			wake_after = strcmp(((AlterExtensionStmt *) stmt)->extname, "intracker") == 0;
	}

	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);

	/* CREATE/ALTER EXTENSION are not committed yet: both recheck every few seconds */
	if (wake_after)
	{
		intracker_worker_wake();
		intracker_worker_wake_deliverer();
	}
}

/* ----------------------------------------------------------------
 * Shared memory and registration
 * ----------------------------------------------------------------
 */

static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
}

static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("intracker worker", sizeof(WorkerShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(WorkerShared));
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

static bool
check_event_retention(char **newval, void **extra pg_attribute_unused(), GucSource source pg_attribute_unused())
{
	volatile bool valid = true;
	MemoryContext cxt = CurrentMemoryContext;

	/* interval_in raises errors; GUC check hooks must not, so catch it */
	PG_TRY();
	{
		Interval   *interval = DatumGetIntervalP(DirectFunctionCall3(interval_in,
																	 CStringGetDatum(*newval),
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

	if (!valid)
		GUC_check_errdetail("intracker.event_retention must be a positive interval of at most 100 years, such as '7 days'.");
	return valid;
}

void
WorkerInit(void)
{
	BackgroundWorker worker;

	DefineCustomStringVariable("intracker.event_retention",
							   "How long published events are kept for replay.",
							   "The worker deletes older events in small batches; the newest event is always kept.",
							   &event_retention, "7 days",
							   PGC_SIGHUP, 0, check_event_retention, NULL, NULL);
	DefineCustomIntVariable("intracker.publish_batch_size",
							"Most events the worker publishes in one transaction.",
							NULL,
							&publish_batch_size, 1000, 1, 100000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	/*
	 * Only at server start can the worker run, and only then may a setting
	 * be PGC_POSTMASTER.  Loaded later, the setting still exists (a
	 * postgresql.conf that names it must not cause warnings), with no effect.
	 */
	DefineCustomStringVariable("intracker.database",
							   "Database in which the background worker publishes events.",
							   "Only one database per server gets NOTIFY and pruning; elsewhere events_since() publishes on read. "
							   "Takes effect at server start, with intracker in shared_preload_libraries.",
							   &worker_database, "postgres",
							   process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							   0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = intracker_process_utility;

	if (IsBinaryUpgrade)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	strlcpy(worker.bgw_library_name, "intracker", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "intracker_supervisor_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "intracker supervisor", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "intracker supervisor", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* ----------------------------------------------------------------
 * Supervisor
 * ----------------------------------------------------------------
 */

/*
 * The database's oid, or InvalidOid.  With no database selected only a
 * plain heap scan of the shared catalog works (no syscache, no index), as
 * in autovacuum's get_database_list().
 */
static Oid
lookup_database(const char *name)
{
	Oid			dboid = InvalidOid;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);

		if (strcmp(NameStr(db->datname), name) == 0)
		{
			dboid = db->oid;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return dboid;
}

/*
 * The supervisor's children, both in intracker.database: the publisher and
 * the deliverer.  Each is restarted on its own when it exits, at once if it
 * ran a while, after a pause that doubles up to MAX_PAUSE_MS if it keeps
 * failing; so a deliverer in trouble never stops publication.
 */
typedef struct Child
{
	const char *function;		/* entry point in this library */
	const char *type;			/* bgw_type, and the name's start: child_types[] */
	BackgroundWorkerHandle *handle;	/* NULL while not running */
	TimestampTz started;
	TimestampTz restart_at;
	long		pause_ms;
} Child;

static bool
start_child(Child *child, Oid dboid)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "intracker", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, child->function, BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s %s " EXTVERSION, child->type, worker_database);
	strlcpy(worker.bgw_type, child->type, BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &child->handle))
	{
		child->handle = NULL;
		return false;
	}
	child->started = GetCurrentTimestamp();
	return true;
}

/* Has the child exited?  Then plan its restart and say so. */
static bool
check_child(Child *child)
{
	pid_t		pid;
	TimestampTz now = GetCurrentTimestamp();

	if (child->handle == NULL || GetBackgroundWorkerPid(child->handle, &pid) != BGWH_STOPPED)
		return false;
	pfree(child->handle);
	child->handle = NULL;
	/* one that ran a while is restarted at once; one that keeps failing, ever slower */
	if (TimestampDifferenceExceeds(child->started, now, MAX_PAUSE_MS))
		child->pause_ms = 1000;
	else
		child->pause_ms = Min(child->pause_ms * 2, MAX_PAUSE_MS);
	child->restart_at = TimestampTzPlusMilliseconds(now, child->pause_ms);
	return true;
}

/* Sleep on the latch (SIGHUP, SIGUSR1 from the postmaster) for up to timeout_ms. */
static void
supervisor_wait(long timeout_ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

static void
supervisor_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	SpinLockAcquire(&shared->mutex);
	if (shared->supervisor_pid == MyProcPid)
		shared->supervisor_pid = 0;
	SpinLockRelease(&shared->mutex);
}

void
intracker_supervisor_main(Datum main_arg pg_attribute_unused())
{
	Child		children[] = {
		[INTRACKER_PUBLISHER] = {"intracker_publisher_main", child_types[INTRACKER_PUBLISHER], NULL, 0, 0, 500},
		[INTRACKER_DELIVERER] = {"intracker_deliverer_main", child_types[INTRACKER_DELIVERER], NULL, 0, 0, 500},
	};
	bool		warned_missing = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);	/* shared catalogs only */

	SpinLockAcquire(&shared->mutex);
	shared->supervisor_pid = MyProcPid;
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(supervisor_detach, (Datum) 0);

	for (;;)
	{
		Oid			dboid = InvalidOid;
		long		wait_ms = MAX_PAUSE_MS;
		bool		any_stopped = false;

		for (int i = 0; i < (int) lengthof(children); i++)
		{
			if (check_child(&children[i]) && i == INTRACKER_PUBLISHER)
				set_state(PUBLISHER_STOPPED);
			any_stopped |= children[i].handle == NULL;
		}
		if (any_stopped)
			dboid = lookup_database(worker_database);
		if (any_stopped && !OidIsValid(dboid))
		{
			if (!warned_missing)
				ereport(WARNING,
						(errmsg("intracker: database \"%s\" does not exist", worker_database),
						 errdetail("Events are published when read, without NOTIFY, and webhooks wait, until it does."),
						 errhint("Create the database or set intracker.database and restart the server.")));
			warned_missing = true;
			if (children[INTRACKER_PUBLISHER].handle == NULL)
				set_state(PUBLISHER_WAITING_FOR_DATABASE);
			supervisor_wait(WAIT_FOR_SCHEMA_MS);
			continue;
		}
		warned_missing = false;

		for (int i = 0; i < (int) lengthof(children); i++)
		{
			Child	   *child = &children[i];
			TimestampTz now = GetCurrentTimestamp();

			if (child->handle != NULL)
				continue;
			if (child->restart_at > now)
			{
				wait_ms = Min(wait_ms, intracker_ms_until(child->restart_at));
				continue;
			}
			if (i == INTRACKER_PUBLISHER)
				set_state(PUBLISHER_STARTING);
			if (!start_child(child, dboid))
			{
				ereport(WARNING,
						(errmsg("intracker: could not start the %s", child->type + strlen("intracker ")),
						 errhint("Raise max_worker_processes.")));
				child->restart_at = TimestampTzPlusMilliseconds(now, MAX_PAUSE_MS);
			}
		}
		/* SIGUSR1 from the postmaster (a child started or stopped) sets the latch */
		supervisor_wait(wait_ms);
	}
}

/* ----------------------------------------------------------------
 * Start of a child (publisher or deliverer)
 * ----------------------------------------------------------------
 */

static void publisher_detach(int code, Datum arg);
static void deliverer_detach(int code, Datum arg);

/*
 * What both children do first: signals, a connection to their database,
 * JIT off (their short statements run thousands of times, and JIT would
 * compile them on every call once the tables grow), then their place in
 * shared memory, unless another one of the same kind is still alive, in
 * which case this one exits.
 */
void
intracker_child_start(Datum main_arg, IntrackerChild child)
{
	pid_t	   *pid_slot = child == INTRACKER_PUBLISHER ? &shared->publisher_pid : &shared->deliverer_pid;
	Latch	  **latch_slot = child == INTRACKER_PUBLISHER ? &shared->publisher_latch : &shared->deliverer_latch;
	pid_t		other;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), InvalidOid, 0);
	pgstat_report_appname(child_types[child]);
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	SpinLockAcquire(&shared->mutex);
	other = *pid_slot;
	if (other != 0 && kill(other, 0) == 0)
	{
		SpinLockRelease(&shared->mutex);
		ereport(LOG, (errmsg("%s: another one (pid %d) is running", child_types[child], (int) other)));
		proc_exit(0);
	}
	*pid_slot = MyProcPid;
	*latch_slot = MyLatch;
	shared->dboid = MyDatabaseId;
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(child == INTRACKER_PUBLISHER ? publisher_detach : deliverer_detach, (Datum) 0);
}

/* ----------------------------------------------------------------
 * Publisher
 * ----------------------------------------------------------------
 */

/*
 * Is a version of intracker with table intracker_data.<relname> installed
 * here?  NULL if so, otherwise what is missing.  The publisher needs the
 * outbox (0.4), the deliverer and the fan-out the deliveries (0.5).
 */
const char *
intracker_missing_schema(const char *relname)
{
	Oid			nspid;

	if (!OidIsValid(get_extension_oid("intracker", true)))
		return "CREATE EXTENSION intracker";
	nspid = get_namespace_oid("intracker_data", true);
	if (!OidIsValid(nspid) || !OidIsValid(get_relname_relid(relname, nspid)))
		return "ALTER EXTENSION intracker UPDATE";
	return NULL;
}

static void
publisher_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	SpinLockAcquire(&shared->mutex);
	if (shared->publisher_pid == MyProcPid)
	{
		shared->publisher_pid = 0;
		shared->publisher_latch = NULL;
		shared->state = PUBLISHER_STOPPED;
	}
	SpinLockRelease(&shared->mutex);
}

static void
count_published(int published)
{
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	shared->events_published += published;
	/* events/s over windows of about ten seconds */
	if (TimestampDifferenceExceeds(shared->rate_window_start, now, 10000))
	{
		long		secs;
		int			usecs;

		TimestampDifference(shared->rate_window_start, now, &secs, &usecs);
		shared->events_per_second =
			(shared->events_published - shared->rate_window_events) / (secs + usecs / 1e6);
		shared->rate_window_start = now;
		shared->rate_window_events = shared->events_published;
	}
	SpinLockRelease(&shared->mutex);
}

/*
 * One publishing round, in one transaction: record the queued rejected
 * writes and publish a batch.  Returns how many events it published, or -1
 * while the extension is missing.  Errors propagate to the caller.
 */
static int
publish_round(void)
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
	if (missing != NULL)
	{
		if (shared->state != PUBLISHER_WAITING_FOR_EXTENSION)
			ereport(WARNING,
					(errmsg("intracker: publisher is waiting for %s in database \"%s\"",
							missing, get_database_name(MyDatabaseId))));
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		set_state(PUBLISHER_WAITING_FOR_EXTENSION);
		return -1;
	}
	set_state(PUBLISHER_PUBLISHING);

	/* copy the queued rejected writes (into transaction memory); they leave the ring once recorded */
	rejected = palloc(sizeof(RejectedWrite) * REJECTED_WRITE_RING_SIZE);
	SpinLockAcquire(&shared->mutex);
	nrejected = shared->ring_count;
	for (int i = 0; i < nrejected; i++)
		rejected[i] = shared->ring[(shared->ring_start + i) % REJECTED_WRITE_RING_SIZE];
	SpinLockRelease(&shared->mutex);
	intracker_record_rejected_writes(rejected, nrejected);

	published = intracker_publish_pending(publish_batch_size, true, &deliveries_queued);

	PopActiveSnapshot();
	CommitTransactionCommand();
	if (deliveries_queued > 0)
		intracker_worker_wake_deliverer();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	SpinLockAcquire(&shared->mutex);
	shared->ring_start = (shared->ring_start + nrejected) % REJECTED_WRITE_RING_SIZE;
	shared->ring_count -= nrejected;
	shared->state = PUBLISHER_IDLE;
	SpinLockRelease(&shared->mutex);
	if (published > 0)
		count_published(published);
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
	pruned = intracker_prune_events(event_retention, PRUNE_BATCH, &next_due);
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
 * After an error in a round: undo its transaction, log a WARNING saying
 * what happens next, and keep the message for worker_status.
 */
static void
recover_from_error(MemoryContext cxt, const char *consequence, long pause_ms)
{
	ErrorData  *error;

	MemoryContextSwitchTo(cxt);
	error = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);

	ereport(WARNING,
			(errmsg("intracker publisher: %s", error->message),
			 errdetail("%s Retrying in %ld ms.", consequence, pause_ms)));
	SpinLockAcquire(&shared->mutex);
	strlcpy(shared->last_error, error->message, sizeof(shared->last_error));
	shared->last_error_at = GetCurrentTimestamp();
	shared->state = PUBLISHER_RETRYING;
	SpinLockRelease(&shared->mutex);
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
	PopActiveSnapshot();
	CommitTransactionCommand();

	ereport(LOG,
			(errmsg("intracker publisher started: last published seq " INT64_FORMAT ", %lld events waiting",
					last_seq, (long long) backlog)));
}

static bool
wake_requests_moved(uint64 seen)
{
	bool		moved;

	SpinLockAcquire(&shared->mutex);
	moved = shared->wake_requests != seen;
	SpinLockRelease(&shared->mutex);
	return moved;
}

/* Milliseconds from now until when (rounded up; negative when past). */
long
intracker_ms_until(TimestampTz when)
{
	long		secs;
	int			usecs;

	TimestampDifference(GetCurrentTimestamp(), when, &secs, &usecs);
	return secs * 1000 + usecs / 1000 + 1;
}

void
intracker_publisher_main(Datum main_arg)
{
	MemoryContext round_context;
	/* volatile: changed inside PG_TRY blocks and read after them */
	volatile TimestampTz next_prune;
	volatile long publish_pause_ms = 1000;
	volatile long prune_pause_ms = 1000;
	volatile bool start_reported = false;

	intracker_child_start(main_arg, INTRACKER_PUBLISHER);
	SpinLockAcquire(&shared->mutex);
	shared->state = PUBLISHER_STARTING;
	shared->started_at = GetCurrentTimestamp();
	shared->rate_window_start = shared->started_at;
	shared->rate_window_events = shared->events_published;
	shared->events_per_second = 0;
	SpinLockRelease(&shared->mutex);

	/* prune at once: the retention may have passed while we were away */
	next_prune = GetCurrentTimestamp();

	round_context = AllocSetContextCreate(TopMemoryContext, "intracker publisher round",
										  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		volatile int published = 0;
		volatile long wait_ms = -1;
		volatile bool failed = false;
		uint64		wake_requests_seen;

		/* reset before the round: a commit during it sets the latch again (and see the header) */
		SpinLockAcquire(&shared->mutex);
		wake_requests_seen = shared->wake_requests;
		SpinLockRelease(&shared->mutex);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			next_prune = GetCurrentTimestamp();
		}

		MemoryContextSwitchTo(round_context);
		PG_TRY();
		{
			if (!start_reported)
			{
				report_start();
				start_reported = true;
			}
			published = publish_round();
			publish_pause_ms = 1000;
		}
		PG_CATCH();
		{
			recover_from_error(round_context, "Nothing was lost; the events stay in the outbox.",
							   publish_pause_ms);
			published = 0;
			failed = true;
			wait_ms = publish_pause_ms;
			publish_pause_ms = Min(publish_pause_ms * 2, MAX_PAUSE_MS);
		}
		PG_END_TRY();

		if (published == publish_batch_size)
		{
			/* a full batch: more may be waiting */
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(round_context);
			continue;
		}
		if (published < 0)
			wait_ms = WAIT_FOR_SCHEMA_MS;
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
		}
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(round_context);

		/* (after a failure, the pause comes first) */
		if (!failed && published >= 0 && wake_requests_moved(wake_requests_seen))
			continue;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (wait_ms >= 0 ? WL_TIMEOUT : 0),
						 wait_ms, PG_WAIT_EXTENSION);
	}
}

/* ----------------------------------------------------------------
 * The deliverer's side of the shared state (its loop is deliverer.c)
 * ----------------------------------------------------------------
 */

static void
deliverer_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	SpinLockAcquire(&shared->mutex);
	if (shared->deliverer_pid == MyProcPid)
	{
		shared->deliverer_pid = 0;
		shared->deliverer_latch = NULL;
		strlcpy(shared->deliverer.state, "stopped", sizeof(shared->deliverer.state));
		shared->deliverer.in_flight = 0;
	}
	SpinLockRelease(&shared->mutex);
}

uint64
intracker_deliverer_wake_requests(void)
{
	uint64		requests;

	SpinLockAcquire(&shared->mutex);
	requests = shared->deliverer_wake_requests;
	SpinLockRelease(&shared->mutex);
	return requests;
}

void
intracker_deliverer_report(const DelivererStatus *status)
{
	SpinLockAcquire(&shared->mutex);
	shared->deliverer = *status;
	SpinLockRelease(&shared->mutex);
}

/*
 * intracker_data.deliverer_state(): the row behind intracker.deliverer_status.
 * Figures only for the database the deliverer serves.
 */
PG_FUNCTION_INFO_V1(intracker_deliverer_state);
Datum
intracker_deliverer_state(PG_FUNCTION_ARGS)
{
	enum
	{
		COL_PID, COL_STATE, COL_IN_FLIGHT, COL_ATTEMPTS, COL_DELIVERED, COL_DEAD,
		COL_LAST_ERROR, COL_LAST_ERROR_AT, COL_STARTED_AT, NCOLS
	};
	TupleDesc	tupdesc;
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	DelivererStatus status;
	pid_t		pid = 0;
	bool		own_database = false;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, true, sizeof(nulls));
	if (shared != NULL)
	{
		SpinLockAcquire(&shared->mutex);
		status = shared->deliverer;
		pid = shared->deliverer_pid;
		own_database = pid != 0 && shared->dboid == MyDatabaseId;
		SpinLockRelease(&shared->mutex);
	}
#define SET_COL(col, value) (values[(col)] = (value), nulls[(col)] = false)
	if (shared == NULL)
		SET_COL(COL_STATE, CStringGetTextDatum("not running"));
	else if (pid != 0 && !own_database)
		SET_COL(COL_STATE, CStringGetTextDatum("serving another database"));
	else if (pid == 0)
		SET_COL(COL_STATE, CStringGetTextDatum("stopped"));
	else
	{
		SET_COL(COL_PID, Int32GetDatum(pid));
		SET_COL(COL_STATE, CStringGetTextDatum(status.state));
		SET_COL(COL_IN_FLIGHT, Int32GetDatum(status.in_flight));
		SET_COL(COL_ATTEMPTS, Int64GetDatum((int64) status.attempts));
		SET_COL(COL_DELIVERED, Int64GetDatum((int64) status.delivered));
		SET_COL(COL_DEAD, Int64GetDatum((int64) status.dead));
		if (status.last_error[0] != '\0')
		{
			SET_COL(COL_LAST_ERROR, CStringGetTextDatum(status.last_error));
			SET_COL(COL_LAST_ERROR_AT, TimestampTzGetDatum(status.last_error_at));
		}
		SET_COL(COL_STARTED_AT, TimestampTzGetDatum(status.started_at));
	}
#undef SET_COL
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* ----------------------------------------------------------------
 * intracker_data.worker_state(): the row behind intracker.worker_status
 * ----------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(intracker_worker_state);
Datum
intracker_worker_state(PG_FUNCTION_ARGS)
{
	enum
	{
		COL_PID, COL_STATE, COL_EVENTS_PER_SECOND, COL_STARTED_AT, COL_LAST_ERROR,
		COL_LAST_ERROR_AT, COL_REJECTED_WRITES_DROPPED, COL_DATABASE, NCOLS
	};
	TupleDesc	tupdesc;
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	WorkerShared snapshot;
	bool		own_database;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, true, sizeof(nulls));
#define SET_COL(col, value) (values[(col)] = (value), nulls[(col)] = false)

	if (shared == NULL)
	{
		SET_COL(COL_STATE, CStringGetTextDatum("not running"));
		SET_COL(COL_LAST_ERROR, CStringGetTextDatum("intracker is not in shared_preload_libraries: "
													"events are published when read, without NOTIFY"));
		return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
	}

	SpinLockAcquire(&shared->mutex);
	memcpy(&snapshot, shared, offsetof(WorkerShared, ring));
	SpinLockRelease(&shared->mutex);
	own_database = snapshot.publisher_pid != 0 && snapshot.dboid == MyDatabaseId;

	SET_COL(COL_DATABASE, CStringGetTextDatum(worker_database));
	if (snapshot.publisher_pid != 0)
		SET_COL(COL_PID, Int32GetDatum(snapshot.publisher_pid));
	SET_COL(COL_STATE, CStringGetTextDatum(snapshot.supervisor_pid == 0 ? "not running" :
										   snapshot.publisher_pid != 0 && !own_database ?
										   "serving another database" :
										   state_names[snapshot.state]));
	/* the publisher's figures describe its own database only */
	if (own_database)
	{
		long		secs;
		int			usecs;
		double		elapsed;

		/* the last full window's rate, decaying once the current one runs long */
		TimestampDifference(snapshot.rate_window_start, GetCurrentTimestamp(), &secs, &usecs);
		elapsed = secs + usecs / 1e6;
		SET_COL(COL_EVENTS_PER_SECOND,
				Float8GetDatum(elapsed > 20 ?
							   (snapshot.events_published - snapshot.rate_window_events) / elapsed :
							   snapshot.events_per_second));
		SET_COL(COL_STARTED_AT, TimestampTzGetDatum(snapshot.started_at));
		if (snapshot.last_error[0] != '\0')
		{
			SET_COL(COL_LAST_ERROR, CStringGetTextDatum(snapshot.last_error));
			SET_COL(COL_LAST_ERROR_AT, TimestampTzGetDatum(snapshot.last_error_at));
		}
		SET_COL(COL_REJECTED_WRITES_DROPPED, Int64GetDatum((int64) snapshot.rejected_writes_dropped));
	}
#undef SET_COL
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}
