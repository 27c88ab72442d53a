/*-------------------------------------------------------------------------
 *
 * shared_state.c
 *	  The shared memory of intracker's processes, and the status functions
 *	  that read it (intracker.worker_status, intracker.deliverer_status).
 *
 * One IntrackerShared per server, created at postmaster start when
 * intracker is in shared_preload_libraries; without it (library loaded
 * later) every function here does nothing, and the status functions say
 * "not running".  It holds:
 *
 * - who runs: the supervisor's pid, and a slot per child (publisher,
 *   deliverer) with its pid and latch, in the one database they serve;
 *
 * - wake-ups: backends set a child's latch at commit (events.c) and bump
 *   the slot's wake_requests counter.  A child that resets its latch while
 *   it works (a lock wait sleeps on the same latch) could swallow a
 *   wake-up; the counter tells it that one came, so it goes round again
 *   instead of sleeping;
 *
 * - the publisher's status, which it and the supervisor update, and the
 *   deliverer's, which the deliverer copies in as a whole;
 *
 * - a ring of rejected writes: backends whose stale writes fail
 *   (PT409/PT412) leave them here because their own transaction aborts;
 *   the publisher copies them out, records them, and removes them only
 *   after the transaction that recorded them committed.  The ring is not
 *   durable: a server crash loses the warnings that were waiting (never any
 *   events).  It belongs to the database served: when the children start
 *   serving another one, or a DROP of their database or extension commits,
 *   it is emptied, with the publisher's figures and last error;
 *
 * - activity counters (conflicts, claims, automatic assignments) that any
 *   backend bumps, atomics outside the mutex, for intracker.metrics;
 *
 * - holds: a backend that is about to drop the children's database or
 *   their extension (or update the extension, or rename, move or copy the
 *   database) takes a hold on that database in its slot (one per backend,
 *   by BackendId) before it stops them, and gives it back when its
 *   transaction ends (supervisor.c).  Meanwhile the supervisor starts no
 *   child there and a child that starts anyway exits at once, so nothing
 *   of theirs can deadlock with the statement, stand in its way or go on
 *   sending after a DROP.  A hold whose backend is gone counts for nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/backendid.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "shared_state.h"

/* A child's place: who runs, and how to wake it. */
typedef struct ChildSlot
{
	pid_t		pid;			/* 0: not running */
	Latch	   *latch;			/* its MyLatch while it runs */
	uint64		wake_requests;	/* bumped by every wake-up */
	bool		stopped_for_hold;	/* stopped by a hold: restart without a pause */
} ChildSlot;

/* A backend's hold on the children's database (see the header). */
typedef struct Hold
{
	pid_t		pid;			/* 0: none */
	Oid			dboid;
} Hold;

/* The publisher's figures, for intracker.worker_status. */
typedef struct PublisherStatus
{
	PublisherState state;
	TimestampTz started_at;
	uint64		events_published;
	TimestampTz rate_window_start;	/* events/s over windows of about 10 s */
	uint64		rate_window_events; /* events_published when it started */
	double		events_per_second;	/* of the last full window */
	char		last_error[512];
	TimestampTz last_error_at;
	int64		counters_drifted;	/* found by the last counter check */
	TimestampTz counters_checked_at;	/* 0: no check yet */
} PublisherStatus;

/*
 * Locking: the spinlock `mutex` protects all the fields after it.  It is
 * held only to copy fields in or out, never across a call that may raise
 * an error, allocate, sleep or make a system call (a latch is set, a
 * process signalled, after it is released).  Every read takes it too.
 */
typedef struct IntrackerShared
{
	/* counted by any backend, without the mutex */
	pg_atomic_uint64 activity[INTRACKER_ACTIVITIES];
	slock_t		mutex;			/* protects all the following fields */
	pid_t		supervisor_pid; /* 0: no supervisor */
	Latch	   *supervisor_latch;	/* its MyLatch while it runs */
	Oid			dboid;			/* the database the children serve */
	ChildSlot	children[INTRACKER_CHILDREN];
	PublisherStatus publisher;
	DelivererStatus deliverer;
	/* the ring of rejected writes: [ring_start, ring_start + ring_count) */
	int			ring_start;
	int			ring_count;
	uint64		rejected_writes_dropped;	/* arrived while the ring was full */
	RejectedWrite ring[REJECTED_WRITE_RING_SIZE];
	int			holds_taken;	/* holds[] with a pid */
	Hold		holds[FLEXIBLE_ARRAY_MEMBER];	/* MaxBackends, by BackendId - 1 */
} IntrackerShared;

static IntrackerShared *shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* intracker.worker_status's names of the publisher's states */
static const char *const publisher_state_names[] = {
	[PUBLISHER_STOPPED] = "stopped",
	[PUBLISHER_WAITING_FOR_DATABASE] = "waiting for database",
	[PUBLISHER_STARTING] = "starting",
	[PUBLISHER_WAITING_FOR_EXTENSION] = "waiting for extension",
	[PUBLISHER_WAITING_FOR_RESTORE] = "waiting for restore",
	[PUBLISHER_IDLE] = "idle",
	[PUBLISHER_PUBLISHING] = "publishing",
	[PUBLISHER_RETRYING] = "retrying after error",
};
StaticAssertDecl(lengthof(publisher_state_names) == PUBLISHER_RETRYING + 1, "one name per publisher state");

/* ----------------------------------------------------------------
 * Creation
 * ----------------------------------------------------------------
 */

/* With a hold per backend: MaxBackends is known by now. */
static Size
shared_state_size(void)
{
	return add_size(offsetof(IntrackerShared, holds), mul_size(MaxBackends, sizeof(Hold)));
}

static void
shared_state_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(shared_state_size()));
}

/* Create (postmaster) or attach to (EXEC_BACKEND) the shared state. */
static void
shared_state_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("intracker shared state", shared_state_size(), &found);
	if (!found)
	{
		memset(shared, 0, shared_state_size());
		for (int i = 0; i < INTRACKER_ACTIVITIES; i++)
			pg_atomic_init_u64(&shared->activity[i], 0);
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Only a library preloaded at server start can have shared memory. */
void
SharedStateInit(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shared_state_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shared_state_startup;
}

/* ----------------------------------------------------------------
 * Used by every backend
 * ----------------------------------------------------------------
 */

/*
 * Is dboid the database the publisher serves?  True also while it
 * restarts: the next one publishes what waits, with the NOTIFYs that
 * readers publishing on their own would skip.
 */
bool
intracker_publisher_serves_database(Oid dboid)
{
	bool		serves;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	serves = shared->supervisor_pid != 0 && OidIsValid(shared->dboid) && shared->dboid == dboid;
	SpinLockRelease(&shared->mutex);
	return serves;
}

/* Wake a child if it serves this backend's database. */
static void
wake_child(IntrackerChild child)
{
	Latch	   *latch = NULL;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	if (shared->dboid == MyDatabaseId)
	{
		shared->children[child].wake_requests++;
		latch = shared->children[child].latch;
	}
	SpinLockRelease(&shared->mutex);
	if (latch)
		SetLatch(latch);
}

/*
 * Wake the publisher: at commit of a transaction that wrote events
 * (events.c), and when there is something new for it to look at.
 */
void
intracker_publisher_wake(void)
{
	wake_child(INTRACKER_PUBLISHER);
}

/*
 * Wake the deliverer: called by the publisher after committing new
 * deliveries, and at commit of transactions that queued some (events.c).
 */
void
intracker_deliverer_wake(void)
{
	wake_child(INTRACKER_DELIVERER);
}

/*
 * Hand a rejected write to the publisher, if one serves this database;
 * counted as dropped when the ring is full.
 */
void
intracker_queue_rejected_write(const RejectedWrite *rejected)
{
	bool		queued = false;

	if (!intracker_publisher_serves_database(MyDatabaseId))
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
		intracker_publisher_wake();
}

/*
 * The database the children serve, or last served (InvalidOid before
 * they first ran).
 */
Oid
intracker_children_database(void)
{
	Oid			dboid;

	if (shared == NULL)
		return InvalidOid;
	SpinLockAcquire(&shared->mutex);
	dboid = shared->dboid;
	SpinLockRelease(&shared->mutex);
	return dboid;
}

/* Is there a hold on dboid?  (Caller holds the mutex.) */
static bool
held_locked(Oid dboid)
{
	if (shared->holds_taken == 0)
		return false;
	for (int i = 0; i < MaxBackends; i++)
		if (shared->holds[i].pid != 0 && shared->holds[i].dboid == dboid)
			return true;
	return false;
}

/*
 * The publisher's figures and last error start again (caller holds the
 * mutex): a new publisher, another database.
 */
static void
reset_publisher_figures_locked(TimestampTz now)
{
	PublisherStatus *status = &shared->publisher;

	status->started_at = now;
	status->rate_window_start = now;
	status->rate_window_events = status->events_published;
	status->events_per_second = 0;
	status->last_error[0] = '\0';
	status->last_error_at = 0;
	status->counters_drifted = 0;
	status->counters_checked_at = 0;
}

/*
 * What belongs to the database served goes (caller holds the mutex): the
 * rejected writes waiting to be recorded there (recorded anywhere else,
 * they would name projects that do not exist), and the publisher's figures.
 */
static void
forget_database_locked(TimestampTz now)
{
	shared->ring_start = 0;
	shared->ring_count = 0;
	shared->rejected_writes_dropped = 0;
	reset_publisher_figures_locked(now);
}

/*
 * Take this backend's hold on dboid, for the rest of its transaction (the
 * caller gives it back with intracker_release_hold at the end), and return
 * the pids of the children that run there now (0: none), for the caller to
 * stop.  False when there is no shared state (library not preloaded).
 */
bool
intracker_hold_children(Oid dboid, pid_t pids[INTRACKER_CHILDREN])
{
	Hold	   *hold;

	for (int i = 0; i < INTRACKER_CHILDREN; i++)
		pids[i] = 0;
	if (shared == NULL || MyBackendId == InvalidBackendId || MyBackendId > MaxBackends)
		return false;
	hold = &shared->holds[MyBackendId - 1];
	SpinLockAcquire(&shared->mutex);
	if (hold->pid == 0)
		shared->holds_taken++;
	hold->pid = MyProcPid;
	hold->dboid = dboid;
	if (shared->dboid == dboid)
		for (int i = 0; i < INTRACKER_CHILDREN; i++)
		{
			pids[i] = shared->children[i].pid;
			if (pids[i] != 0)
				shared->children[i].stopped_for_hold = true;
		}
	SpinLockRelease(&shared->mutex);
	return true;
}

/*
 * At the end of the transaction that took a hold: give it back, and wake
 * the supervisor to start the children again.  With database_gone (a DROP
 * committed), what belonged to the database goes too.
 */
void
intracker_release_hold(bool database_gone)
{
	Hold	   *hold;
	Latch	   *latch = NULL;
	TimestampTz now = GetCurrentTimestamp();

	if (shared == NULL || MyBackendId == InvalidBackendId || MyBackendId > MaxBackends)
		return;
	hold = &shared->holds[MyBackendId - 1];
	SpinLockAcquire(&shared->mutex);
	if (hold->pid == MyProcPid)
	{
		if (database_gone && hold->dboid == shared->dboid)
			forget_database_locked(now);
		hold->pid = 0;
		shared->holds_taken--;
		latch = shared->supervisor_latch;
	}
	SpinLockRelease(&shared->mutex);
	if (latch)
		SetLatch(latch);
}

/* Wake the supervisor: its database may have been created. */
void
intracker_supervisor_wake(void)
{
	Latch	   *latch = NULL;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	latch = shared->supervisor_latch;
	SpinLockRelease(&shared->mutex);
	if (latch)
		SetLatch(latch);
}

/* ----------------------------------------------------------------
 * The supervisor and its children
 * ----------------------------------------------------------------
 */

static void
supervisor_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	SpinLockAcquire(&shared->mutex);
	if (shared->supervisor_pid == MyProcPid)
	{
		shared->supervisor_pid = 0;
		shared->supervisor_latch = NULL;
	}
	SpinLockRelease(&shared->mutex);
}

/* The supervisor is running: the children's database is served. */
void
intracker_supervisor_attach(void)
{
	SpinLockAcquire(&shared->mutex);
	shared->supervisor_pid = MyProcPid;
	shared->supervisor_latch = MyLatch;
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(supervisor_detach, (Datum) 0);
}

void
intracker_publisher_set_state(PublisherState state)
{
	SpinLockAcquire(&shared->mutex);
	shared->publisher.state = state;
	SpinLockRelease(&shared->mutex);
}

/*
 * Does a live backend hold dboid?  Holds of backends that are gone (they
 * give them back even when they exit with an error, so only a crash could
 * leave one, and a crash resets shared memory) are given back here.
 */
bool
intracker_children_held(Oid dboid)
{
	pid_t	   *pids;
	bool		held = false;

	SpinLockAcquire(&shared->mutex);
	if (shared->holds_taken == 0)
	{
		SpinLockRelease(&shared->mutex);
		return false;
	}
	SpinLockRelease(&shared->mutex);

	pids = palloc(sizeof(pid_t) * MaxBackends);
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < MaxBackends; i++)
		pids[i] = shared->holds[i].dboid == dboid ? shared->holds[i].pid : 0;
	SpinLockRelease(&shared->mutex);

	for (int i = 0; i < MaxBackends; i++)
	{
		if (pids[i] == 0)
			continue;
		if (BackendPidGetProc(pids[i]) != NULL)
		{
			held = true;
			continue;
		}
		SpinLockAcquire(&shared->mutex);
		if (shared->holds[i].pid == pids[i])
		{
			shared->holds[i].pid = 0;
			shared->holds_taken--;
		}
		SpinLockRelease(&shared->mutex);
	}
	pfree(pids);
	return held;
}

/*
 * Did the child stop because of a hold (signalled by the backend that took
 * it, or refused to start during one)?  Asked once per stop.
 */
bool
intracker_child_stopped_for_hold(IntrackerChild child)
{
	bool		stopped;

	SpinLockAcquire(&shared->mutex);
	stopped = shared->children[child].stopped_for_hold;
	shared->children[child].stopped_for_hold = false;
	SpinLockRelease(&shared->mutex);
	return stopped;
}

/* At a child's exit: free its slot (if still its own) and say it stopped. */
static void
child_detach(int code pg_attribute_unused(), Datum arg)
{
	IntrackerChild child = (IntrackerChild) DatumGetInt32(arg);
	ChildSlot  *slot = &shared->children[child];

	SpinLockAcquire(&shared->mutex);
	if (slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->latch = NULL;
		if (child == INTRACKER_PUBLISHER)
			shared->publisher.state = PUBLISHER_STOPPED;
		else
		{
			strlcpy(shared->deliverer.state, "stopped", sizeof(shared->deliverer.state));
			shared->deliverer.in_flight = 0;
		}
	}
	SpinLockRelease(&shared->mutex);
}

/*
 * Take the child's slot for this process, in this database, until it
 * exits.  Not while a backend holds this database (CHILD_HELD), nor while
 * another process of the same kind is still alive (CHILD_ALREADY_RUNNING,
 * *other says which; whether it is alive is asked without the lock, and
 * the slot is taken only if nobody changed it meanwhile).  Serving another
 * database than the last one starts its ring and figures afresh.
 *
 * The hold is checked under the same lock under which a backend takes one
 * and reads the slots: either it sees this process in the slot and stops
 * it, or this process sees the hold.
 */
ChildAttach
intracker_child_attach(IntrackerChild child, pid_t *other)
{
	ChildSlot  *slot = &shared->children[child];
	TimestampTz now = GetCurrentTimestamp();

	for (;;)
	{
		ChildAttach result = CHILD_ALREADY_RUNNING;

		SpinLockAcquire(&shared->mutex);
		*other = slot->pid;
		SpinLockRelease(&shared->mutex);
		if (*other != 0 && kill(*other, 0) == 0)
			return CHILD_ALREADY_RUNNING;

		SpinLockAcquire(&shared->mutex);
		if (held_locked(MyDatabaseId))
		{
			slot->stopped_for_hold = true;
			result = CHILD_HELD;
		}
		else if (slot->pid == *other)
		{
			slot->pid = MyProcPid;
			slot->latch = MyLatch;
			if (shared->dboid != MyDatabaseId)
				forget_database_locked(now);
			shared->dboid = MyDatabaseId;
			result = CHILD_ATTACHED;
		}
		SpinLockRelease(&shared->mutex);
		if (result == CHILD_HELD)
			return result;
		if (result == CHILD_ATTACHED)
			break;
	}
	before_shmem_exit(child_detach, Int32GetDatum(child));
	return CHILD_ATTACHED;
}

/* ----------------------------------------------------------------
 * The publisher
 * ----------------------------------------------------------------
 */

/*
 * A new publisher starts: its figures and last error start again (the
 * total goes on): worker_status describes the publisher that runs, never
 * an error of one before it, maybe in a database dropped since.
 */
void
intracker_publisher_starting(void)
{
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	shared->publisher.state = PUBLISHER_STARTING;
	reset_publisher_figures_locked(now);
	SpinLockRelease(&shared->mutex);
}

uint64
intracker_publisher_wake_requests(void)
{
	uint64		requests;

	SpinLockAcquire(&shared->mutex);
	requests = shared->children[INTRACKER_PUBLISHER].wake_requests;
	SpinLockRelease(&shared->mutex);
	return requests;
}

/* Count published events; the rate is measured over windows of ~10 s. */
void
intracker_publisher_count_published(int published)
{
	TimestampTz now = GetCurrentTimestamp();
	PublisherStatus *status = &shared->publisher;

	SpinLockAcquire(&shared->mutex);
	status->events_published += published;
	if (TimestampDifferenceExceeds(status->rate_window_start, now, 10000))
	{
		long		secs;
		int			usecs;

		TimestampDifference(status->rate_window_start, now, &secs, &usecs);
		status->events_per_second =
			(status->events_published - status->rate_window_events) / (secs + usecs / 1e6);
		status->rate_window_start = now;
		status->rate_window_events = status->events_published;
	}
	SpinLockRelease(&shared->mutex);
}

/* A counter check found `drifted` counters that differ from the todos. */
void
intracker_publisher_note_counter_check(int64 drifted)
{
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	shared->publisher.counters_drifted = drifted;
	shared->publisher.counters_checked_at = now;
	SpinLockRelease(&shared->mutex);
}

/*
 * intracker_data.counter_check(OUT drifted bigint, OUT checked_at
 * timestamptz): the publisher's last counter check, NULLs before the first
 * one or for a database it does not serve.
 */
PG_FUNCTION_INFO_V1(intracker_counter_check);
Datum
intracker_counter_check(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2] = {0, 0};
	bool		nulls[2] = {true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (intracker_publisher_serves_database(MyDatabaseId))
	{
		SpinLockAcquire(&shared->mutex);
		if (shared->publisher.counters_checked_at != 0)
		{
			values[0] = Int64GetDatum(shared->publisher.counters_drifted);
			values[1] = TimestampTzGetDatum(shared->publisher.counters_checked_at);
			nulls[0] = nulls[1] = false;
		}
		SpinLockRelease(&shared->mutex);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* A round failed: keep the message for worker_status. */
void
intracker_publisher_note_error(const char *message)
{
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	strlcpy(shared->publisher.last_error, message, sizeof(shared->publisher.last_error));
	shared->publisher.last_error_at = now;
	shared->publisher.state = PUBLISHER_RETRYING;
	SpinLockRelease(&shared->mutex);
}

/*
 * Copy the waiting rejected writes, oldest first, into writes (room for
 * REJECTED_WRITE_RING_SIZE); returns how many.  They stay in the ring
 * until intracker_rejected_writes_forget.
 */
int
intracker_rejected_writes_peek(RejectedWrite *writes)
{
	int			count;

	SpinLockAcquire(&shared->mutex);
	count = shared->ring_count;
	for (int i = 0; i < count; i++)
		writes[i] = shared->ring[(shared->ring_start + i) % REJECTED_WRITE_RING_SIZE];
	SpinLockRelease(&shared->mutex);
	return count;
}

/* The oldest count rejected writes are recorded: remove them. */
void
intracker_rejected_writes_forget(int count)
{
	SpinLockAcquire(&shared->mutex);
	shared->ring_start = (shared->ring_start + count) % REJECTED_WRITE_RING_SIZE;
	shared->ring_count -= count;
	SpinLockRelease(&shared->mutex);
}

/* ----------------------------------------------------------------
 * Activity counters
 * ----------------------------------------------------------------
 */

/* Count one act (nothing without shared memory). */
void
intracker_count_activity(Activity activity)
{
	if (shared != NULL)
		pg_atomic_fetch_add_u64(&shared->activity[activity], 1);
}

/*
 * intracker_data.activity_counts(OUT activity text, OUT entity text, OUT
 * count bigint): the counters, since the server started; no rows without
 * shared memory (library not preloaded).
 */
PG_FUNCTION_INFO_V1(intracker_activity_counts);
Datum
intracker_activity_counts(PG_FUNCTION_ARGS)
{
	static const struct
	{
		const char *activity;
		const char *entity;
	}			names[INTRACKER_ACTIVITIES] = {
		[ACTIVITY_CONFLICT_TODO] = {"conflict", "todo"},
		[ACTIVITY_CONFLICT_FEATURE] = {"conflict", "feature"},
		[ACTIVITY_CONFLICT_PROJECT] = {"conflict", "project"},
		[ACTIVITY_CONFLICT_OTHER] = {"conflict", "other"},
		[ACTIVITY_CLAIM] = {"claim", NULL},
		[ACTIVITY_AUTO_ASSIGNMENT] = {"automatic_assignment", NULL},
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; shared != NULL && i < INTRACKER_ACTIVITIES; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, names[i].entity == NULL, false};

		values[0] = CStringGetTextDatum(names[i].activity);
		values[1] = names[i].entity ? CStringGetTextDatum(names[i].entity) : (Datum) 0;
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->activity[i]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * The deliverer
 * ----------------------------------------------------------------
 */

uint64
intracker_deliverer_wake_requests(void)
{
	uint64		requests;

	SpinLockAcquire(&shared->mutex);
	requests = shared->children[INTRACKER_DELIVERER].wake_requests;
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

/* ----------------------------------------------------------------
 * Status functions
 * ----------------------------------------------------------------
 */

#define SET_COL(col, value) (values[(col)] = (value), nulls[(col)] = false)

/*
 * intracker_data.worker_state(): the row behind intracker.worker_status,
 * the publisher's status (the SQL name predates the glossary in
 * supervisor.h).  Figures only for the database the publisher serves.
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
	PublisherStatus status;
	pid_t		supervisor_pid;
	pid_t		pid;
	Oid			dboid;
	uint64		rejected_writes_dropped;
	bool		own_database;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, true, sizeof(nulls));

	if (shared == NULL)
	{
		SET_COL(COL_STATE, CStringGetTextDatum("not running"));
		SET_COL(COL_LAST_ERROR, CStringGetTextDatum("intracker is not in shared_preload_libraries: "
													"events are published when read, without NOTIFY"));
		return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
	}

	SpinLockAcquire(&shared->mutex);
	status = shared->publisher;
	supervisor_pid = shared->supervisor_pid;
	pid = shared->children[INTRACKER_PUBLISHER].pid;
	dboid = shared->dboid;
	rejected_writes_dropped = shared->rejected_writes_dropped;
	SpinLockRelease(&shared->mutex);
	own_database = pid != 0 && dboid == MyDatabaseId;

	/* (intracker.database is fixed at server start, like this memory) */
	SET_COL(COL_DATABASE, CStringGetTextDatum(GetConfigOption("intracker.database", false, false)));
	if (pid != 0)
		SET_COL(COL_PID, Int32GetDatum(pid));
	SET_COL(COL_STATE, CStringGetTextDatum(supervisor_pid == 0 ? "not running" :
										   pid != 0 && !own_database ? "serving another database" :
										   publisher_state_names[status.state]));
	/* the publisher's figures describe its own database only */
	if (own_database)
	{
		long		secs;
		int			usecs;
		double		elapsed;

		/* the last full window's rate, decaying once the current one runs long */
		TimestampDifference(status.rate_window_start, GetCurrentTimestamp(), &secs, &usecs);
		elapsed = secs + usecs / 1e6;
		SET_COL(COL_EVENTS_PER_SECOND,
				Float8GetDatum(elapsed > 20 ?
							   (status.events_published - status.rate_window_events) / elapsed :
							   status.events_per_second));
		SET_COL(COL_STARTED_AT, TimestampTzGetDatum(status.started_at));
		if (status.last_error[0] != '\0')
		{
			SET_COL(COL_LAST_ERROR, CStringGetTextDatum(status.last_error));
			SET_COL(COL_LAST_ERROR_AT, TimestampTzGetDatum(status.last_error_at));
		}
		SET_COL(COL_REJECTED_WRITES_DROPPED, Int64GetDatum((int64) rejected_writes_dropped));
	}
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
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
		pid = shared->children[INTRACKER_DELIVERER].pid;
		own_database = pid != 0 && shared->dboid == MyDatabaseId;
		SpinLockRelease(&shared->mutex);
	}
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
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}
