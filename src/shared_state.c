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
 * - places: one per database served, intracker.max_databases of them plus
 *   one, so that the supervisor can always look into one more database
 *   (intracker.database = '*': does it have the extension?) while the
 *   others are served.  The supervisor takes a place for a database before
 *   it starts the publisher there and gives it back when the database, or
 *   its extension, is gone; at most intracker.max_databases places serve
 *   at once (the publisher asks for that when it finds the extension,
 *   intracker_publisher_begin_serving).  Each place is its database's
 *   alone, so one database's backlog or failure never touches another's.
 *   A place holds:
 *
 *   - who runs: a slot per child (publisher, deliverer) with its pid and
 *     latch;
 *
 *   - wake-ups: backends set a child's latch at commit (events.c) and bump
 *     the slot's wake_requests counter.  A child that resets its latch
 *     while it works (a lock wait sleeps on the same latch) could swallow a
 *     wake-up; the counter tells it that one came, so it goes round again
 *     instead of sleeping;
 *
 *   - the publisher's status, which it and the supervisor update, and the
 *     deliverer's, which the deliverer copies in as a whole;
 *
 *   - a ring of rejected writes: backends whose stale writes fail
 *     (PT409/PT412) leave them here because their own transaction aborts;
 *     the publisher copies them out, records them, and removes them only
 *     after the transaction that recorded them committed.  The ring is not
 *     durable: a server crash loses the warnings that were waiting (never
 *     any events).  When a DROP of the database or its extension commits,
 *     it is emptied, with the publisher's figures and last error;
 *
 *   - activity counters (conflicts, claims, automatic assignments) that
 *     backends of the database bump, atomics outside the mutex, for
 *     intracker.metrics;
 *
 * - holds: a backend that is about to drop a database the children serve
 *   or their extension (or update the extension, or rename, move or copy
 *   the database) takes a hold on that database in its slot (one per
 *   backend, by BackendId) before it stops them, and gives it back when its
 *   transaction ends (supervisor.c).  Meanwhile the supervisor starts no
 *   child there and a child that starts anyway exits at once, so nothing
 *   of theirs can deadlock with the statement, stand in its way or go on
 *   sending after a DROP.  A hold whose backend is gone counts for nothing;
 *
 * - announcements: the databases in which CREATE EXTENSION intracker
 *   committed, for the supervisor to look into (intracker.database = '*').
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
#include "supervisor.h"

/* A child's slot in its database's place: who runs, and how to wake it. */
typedef struct ChildSlot
{
	pid_t		pid;			/* 0: not running */
	Latch	   *latch;			/* its MyLatch while it runs */
	uint64		wake_requests;	/* bumped by every wake-up */
	bool		stopped_for_hold;	/* stopped by a hold: restart without a pause */
} ChildSlot;

/* A backend's hold on a database the children serve (see the header). */
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

/* A database's place (see the header).  The mutex protects all but activity. */
typedef struct Place
{
	/* counted by the database's backends, without the mutex */
	pg_atomic_uint64 activity[INTRACKER_ACTIVITIES];
	Oid			dboid;			/* InvalidOid: free */
	bool		serving;		/* its publisher found the extension, within the limit */
	PublisherLeft left;			/* why its publisher left for good */
	ChildSlot	children[INTRACKER_CHILDREN];
	PublisherStatus publisher;
	DelivererStatus deliverer;
	/* the ring of rejected writes: [ring_start, ring_start + ring_count) */
	int			ring_start;
	int			ring_count;
	uint64		rejected_writes_dropped;	/* arrived while the ring was full */
	RejectedWrite ring[REJECTED_WRITE_RING_SIZE];
} Place;

#define MAX_ANNOUNCEMENTS	32

/*
 * Locking: the spinlock `mutex` protects all the fields after it, and
 * every field of the places and holds but the activity counters.  It is
 * held only to copy fields in or out (or to look through the places and
 * holds), never across a call that may raise an error, allocate, sleep or
 * make a system call (a latch is set, a process signalled, after it is
 * released).  Every read takes it too.  The places and the holds follow
 * the struct in the same shared memory (places, holds below).
 */
typedef struct IntrackerShared
{
	slock_t		mutex;			/* protects all the following fields */
	pid_t		supervisor_pid; /* 0: no supervisor */
	Latch	   *supervisor_latch;	/* its MyLatch while it runs */
	int			holds_taken;	/* holds with a pid */
	int			announced;		/* announcements[0 .. announced) */
	bool		announcements_lost; /* more came than there is room for */
	Oid			announcements[MAX_ANNOUNCEMENTS];
} IntrackerShared;

/* GUC intracker.max_databases (PGC_POSTMASTER: it sizes the memory) */
int			intracker_max_databases = 8;

static IntrackerShared *shared = NULL;
static Place *places = NULL;	/* intracker_max_databases + 1 of them */
static Hold *holds = NULL;		/* MaxBackends, by BackendId - 1 */
static Place *my_place = NULL;	/* a child's, once attached */

#define PLACES	(intracker_max_databases + 1)

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

/* The struct, the places, the holds (MaxBackends is known by now). */
static Size
places_offset(void)
{
	return MAXALIGN(sizeof(IntrackerShared));
}

static Size
holds_offset(void)
{
	return add_size(places_offset(), MAXALIGN(mul_size(PLACES, sizeof(Place))));
}

static Size
shared_state_size(void)
{
	return add_size(holds_offset(), mul_size(MaxBackends, sizeof(Hold)));
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
	places = (Place *) ((char *) shared + places_offset());
	holds = (Hold *) ((char *) shared + holds_offset());
	if (!found)
	{
		memset(shared, 0, shared_state_size());
		for (int p = 0; p < PLACES; p++)
			for (int i = 0; i < INTRACKER_ACTIVITIES; i++)
				pg_atomic_init_u64(&places[p].activity[i], 0);
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

/*
 * The place of dboid, or NULL (caller holds the mutex).  A backend asks
 * for its own database at every commit that wrote events: it looks where
 * it found it last time first.
 */
static Place *
place_of_locked(Oid dboid)
{
	static int	last_found = 0;

	if (!OidIsValid(dboid))
		return NULL;
	if (last_found < PLACES && places[last_found].dboid == dboid)
		return &places[last_found];
	for (int p = 0; p < PLACES; p++)
		if (places[p].dboid == dboid)
		{
			last_found = p;
			return &places[p];
		}
	return NULL;
}

/* The place of dboid while a supervisor runs, or NULL (caller holds the mutex). */
static Place *
served_place_locked(Oid dboid)
{
	return shared->supervisor_pid != 0 ? place_of_locked(dboid) : NULL;
}

/* How many places serve, but for except (caller holds the mutex). */
static int
serving_places_locked(const Place *except)
{
	int			serving = 0;

	for (int p = 0; p < PLACES; p++)
		serving += places[p].serving && &places[p] != except;
	return serving;
}

/* ----------------------------------------------------------------
 * Used by every backend
 * ----------------------------------------------------------------
 */

/*
 * Does a publisher serve dboid?  True also while it restarts, or while it
 * looks for the extension there: it publishes what waits, with the NOTIFYs
 * that readers publishing on their own would skip.
 */
bool
intracker_publisher_serves_database(Oid dboid)
{
	bool		serves;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	serves = served_place_locked(dboid) != NULL;
	SpinLockRelease(&shared->mutex);
	return serves;
}

/* Has dboid a place, serving or not (the supervisor took one for it)? */
bool
intracker_database_has_place(Oid dboid)
{
	bool		has;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	has = place_of_locked(dboid) != NULL;
	SpinLockRelease(&shared->mutex);
	return has;
}

/* Wake a child if it serves this backend's database. */
static void
wake_child(IntrackerChild child)
{
	Latch	   *latch = NULL;
	Place	   *place;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	place = place_of_locked(MyDatabaseId);
	if (place != NULL)
	{
		place->children[child].wake_requests++;
		latch = place->children[child].latch;
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
 * Hand a rejected write to this database's publisher, if one serves it;
 * counted as dropped when the ring is full.
 */
void
intracker_queue_rejected_write(const RejectedWrite *rejected)
{
	bool		queued = false;
	Place	   *place;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	place = served_place_locked(MyDatabaseId);
	if (place != NULL && place->ring_count < REJECTED_WRITE_RING_SIZE)
	{
		int			slot = (place->ring_start + place->ring_count) % REJECTED_WRITE_RING_SIZE;

		place->ring[slot] = *rejected;
		place->ring_count++;
		queued = true;
	}
	else if (place != NULL)
		place->rejected_writes_dropped++;
	SpinLockRelease(&shared->mutex);
	if (queued)
		intracker_publisher_wake();
}

/* Is there a hold on dboid?  (Caller holds the mutex.) */
static bool
held_locked(Oid dboid)
{
	if (shared->holds_taken == 0)
		return false;
	for (int i = 0; i < MaxBackends; i++)
		if (holds[i].pid != 0 && holds[i].dboid == dboid)
			return true;
	return false;
}

/*
 * The publisher's figures and last error start again (caller holds the
 * mutex): a new publisher, another database.
 */
static void
reset_publisher_figures_locked(Place *place, TimestampTz now)
{
	PublisherStatus *status = &place->publisher;

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
 * What belonged to the database, or its extension, goes (caller holds the
 * mutex): the rejected writes waiting to be recorded there (recorded
 * anywhere else, they would name projects that do not exist), and the
 * publisher's figures.  It serves again only once a publisher finds the
 * extension there again.
 */
static void
forget_database_locked(Place *place, TimestampTz now)
{
	place->ring_start = 0;
	place->ring_count = 0;
	place->rejected_writes_dropped = 0;
	place->serving = false;
	reset_publisher_figures_locked(place, now);
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
	Place	   *place;

	for (int i = 0; i < INTRACKER_CHILDREN; i++)
		pids[i] = 0;
	if (shared == NULL || MyBackendId == InvalidBackendId || MyBackendId > MaxBackends)
		return false;
	hold = &holds[MyBackendId - 1];
	SpinLockAcquire(&shared->mutex);
	if (hold->pid == 0)
		shared->holds_taken++;
	hold->pid = MyProcPid;
	hold->dboid = dboid;
	place = place_of_locked(dboid);
	if (place != NULL)
		for (int i = 0; i < INTRACKER_CHILDREN; i++)
		{
			pids[i] = place->children[i].pid;
			if (pids[i] != 0)
				place->children[i].stopped_for_hold = true;
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
	hold = &holds[MyBackendId - 1];
	SpinLockAcquire(&shared->mutex);
	if (hold->pid == MyProcPid)
	{
		Place	   *place = place_of_locked(hold->dboid);

		if (database_gone && place != NULL)
			forget_database_locked(place, now);
		hold->pid = 0;
		shared->holds_taken--;
		latch = shared->supervisor_latch;
	}
	SpinLockRelease(&shared->mutex);
	if (latch)
		SetLatch(latch);
}

/* Wake the supervisor: a database may have been created or renamed. */
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

/*
 * CREATE EXTENSION intracker committed in dboid: tell the supervisor, who
 * may not know yet that it has the extension (intracker.database = '*').
 */
void
intracker_announce_extension(Oid dboid)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	if (shared->announced < MAX_ANNOUNCEMENTS)
		shared->announcements[shared->announced++] = dboid;
	else
		shared->announcements_lost = true;
	SpinLockRelease(&shared->mutex);
	intracker_supervisor_wake();
}

/* ----------------------------------------------------------------
 * The supervisor
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

/* The supervisor is running. */
void
intracker_supervisor_attach(void)
{
	SpinLockAcquire(&shared->mutex);
	shared->supervisor_pid = MyProcPid;
	shared->supervisor_latch = MyLatch;
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(supervisor_detach, (Datum) 0);
}

/*
 * A place for dboid (its index), or -1 when every place is taken.  A new
 * one starts empty: no figures, nothing counted, not serving.  The place
 * dboid has already (a supervisor before this one took it) is its again.
 */
int
intracker_place_take(Oid dboid)
{
	int			taken = -1;
	bool		fresh = false;
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	for (int p = 0; p < PLACES && taken < 0; p++)
		if (places[p].dboid == dboid)
			taken = p;
	for (int p = 0; p < PLACES && taken < 0; p++)
		if (!OidIsValid(places[p].dboid))
		{
			Place	   *place = &places[p];

			taken = p;
			fresh = true;
			place->dboid = dboid;
			place->left = PUBLISHER_STAYED;
			place->publisher.events_published = 0;
			forget_database_locked(place, now);
			place->publisher.state = PUBLISHER_STOPPED;
			memset(&place->deliverer, 0, sizeof(place->deliverer));
			strlcpy(place->deliverer.state, "stopped", sizeof(place->deliverer.state));
			for (int i = 0; i < INTRACKER_CHILDREN; i++)
				place->children[i].stopped_for_hold = false;
		}
	SpinLockRelease(&shared->mutex);
	/* a place's counters are its database's, since it was taken */
	for (int i = 0; fresh && i < INTRACKER_ACTIVITIES; i++)
		pg_atomic_write_u64(&places[taken].activity[i], 0);
	return taken;
}

/* Give a place back: its database is gone, or has no extension, or over the limit. */
void
intracker_place_give_back(int place)
{
	SpinLockAcquire(&shared->mutex);
	places[place].dboid = InvalidOid;
	places[place].serving = false;
	SpinLockRelease(&shared->mutex);
}

/* Has the place's publisher found the extension (so the deliverer may start)? */
bool
intracker_place_serving(int place)
{
	bool		serving;

	SpinLockAcquire(&shared->mutex);
	serving = places[place].serving;
	SpinLockRelease(&shared->mutex);
	return serving;
}

/* Why the place's publisher left, asked once it stopped. */
PublisherLeft
intracker_place_left(int place)
{
	PublisherLeft left;

	SpinLockAcquire(&shared->mutex);
	left = places[place].left;
	SpinLockRelease(&shared->mutex);
	return left;
}

void
intracker_place_set_publisher_state(int place, PublisherState state)
{
	SpinLockAcquire(&shared->mutex);
	places[place].publisher.state = state;
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
		pids[i] = holds[i].dboid == dboid ? holds[i].pid : 0;
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
		if (holds[i].pid == pids[i])
		{
			holds[i].pid = 0;
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
intracker_child_stopped_for_hold(int place, IntrackerChild child)
{
	bool		stopped;

	SpinLockAcquire(&shared->mutex);
	stopped = places[place].children[child].stopped_for_hold;
	places[place].children[child].stopped_for_hold = false;
	SpinLockRelease(&shared->mutex);
	return stopped;
}

/*
 * The databases announced since the last call (at most max of them, into
 * dboids); *overflowed when some were lost for lack of room (the caller
 * then looks into every database again).
 */
int
intracker_take_announcements(Oid *dboids, int max, bool *overflowed)
{
	int			count;

	SpinLockAcquire(&shared->mutex);
	count = Min(shared->announced, max);
	memcpy(dboids, shared->announcements, sizeof(Oid) * count);
	*overflowed = shared->announcements_lost || shared->announced > max;
	shared->announced = 0;
	shared->announcements_lost = false;
	SpinLockRelease(&shared->mutex);
	return count;
}

/* ----------------------------------------------------------------
 * The supervisor's children
 * ----------------------------------------------------------------
 */

/* At a child's exit: free its slot (if still its own) and say it stopped. */
static void
child_detach(int code pg_attribute_unused(), Datum arg)
{
	IntrackerChild child = (IntrackerChild) DatumGetInt32(arg);
	ChildSlot  *slot = &my_place->children[child];

	SpinLockAcquire(&shared->mutex);
	if (slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->latch = NULL;
		if (child == INTRACKER_PUBLISHER)
			my_place->publisher.state = PUBLISHER_STOPPED;
		else
		{
			strlcpy(my_place->deliverer.state, "stopped", sizeof(my_place->deliverer.state));
			my_place->deliverer.in_flight = 0;
		}
	}
	SpinLockRelease(&shared->mutex);
}

/*
 * Take the child's slot in its database's place for this process, until
 * it exits.  Not while a backend holds this database (CHILD_HELD), nor
 * when the database has no place any more (CHILD_NO_PLACE: the supervisor
 * gave it up between starting this process and now), nor while another
 * process of the same kind is still alive (CHILD_ALREADY_RUNNING, *other
 * says which; whether it is alive is asked without the lock, and the slot
 * is taken only if nobody changed it meanwhile).
 *
 * The hold is checked under the same lock under which a backend takes one
 * and reads the slots: either it sees this process in the slot and stops
 * it, or this process sees the hold.
 */
ChildAttach
intracker_child_attach(IntrackerChild child, pid_t *other)
{
	for (;;)
	{
		ChildAttach result = CHILD_ALREADY_RUNNING;
		Place	   *place;

		SpinLockAcquire(&shared->mutex);
		place = place_of_locked(MyDatabaseId);
		*other = place != NULL ? place->children[child].pid : 0;
		SpinLockRelease(&shared->mutex);
		if (place == NULL)
			return CHILD_NO_PLACE;
		if (*other != 0 && kill(*other, 0) == 0)
			return CHILD_ALREADY_RUNNING;

		SpinLockAcquire(&shared->mutex);
		if (held_locked(MyDatabaseId))
		{
			place->children[child].stopped_for_hold = true;
			result = CHILD_HELD;
		}
		else if (place->dboid != MyDatabaseId)
			result = CHILD_NO_PLACE;
		else if (place->children[child].pid == *other)
		{
			place->children[child].pid = MyProcPid;
			place->children[child].latch = MyLatch;
			result = CHILD_ATTACHED;
		}
		SpinLockRelease(&shared->mutex);
		if (result == CHILD_HELD || result == CHILD_NO_PLACE)
			return result;
		if (result == CHILD_ATTACHED)
		{
			my_place = place;
			break;
		}
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
 * an error of one before it.
 */
void
intracker_publisher_starting(void)
{
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	my_place->publisher.state = PUBLISHER_STARTING;
	my_place->left = PUBLISHER_STAYED;
	reset_publisher_figures_locked(my_place, now);
	SpinLockRelease(&shared->mutex);
}

/*
 * The publisher found the extension: its database is served, if fewer
 * than intracker.max_databases are (the supervisor starts the deliverer
 * then).  False when as many are: the publisher must leave.
 */
bool
intracker_publisher_begin_serving(void)
{
	bool		within_limit;
	Latch	   *latch;

	SpinLockAcquire(&shared->mutex);
	my_place->serving = serving_places_locked(my_place) < intracker_max_databases;
	within_limit = my_place->serving;
	latch = shared->supervisor_latch;
	SpinLockRelease(&shared->mutex);
	if (latch)
		SetLatch(latch);
	return within_limit;
}

/* The publisher leaves its database for good (the supervisor asks why). */
void
intracker_publisher_leave(PublisherLeft why)
{
	SpinLockAcquire(&shared->mutex);
	my_place->left = why;
	SpinLockRelease(&shared->mutex);
}

void
intracker_publisher_set_state(PublisherState state)
{
	SpinLockAcquire(&shared->mutex);
	my_place->publisher.state = state;
	SpinLockRelease(&shared->mutex);
}

uint64
intracker_publisher_wake_requests(void)
{
	uint64		requests;

	SpinLockAcquire(&shared->mutex);
	requests = my_place->children[INTRACKER_PUBLISHER].wake_requests;
	SpinLockRelease(&shared->mutex);
	return requests;
}

/* Count published events; the rate is measured over windows of ~10 s. */
void
intracker_publisher_count_published(int published)
{
	TimestampTz now = GetCurrentTimestamp();
	PublisherStatus *status = &my_place->publisher;

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
	my_place->publisher.counters_drifted = drifted;
	my_place->publisher.counters_checked_at = now;
	SpinLockRelease(&shared->mutex);
}

/*
 * intracker_data.counter_check(OUT drifted bigint, OUT checked_at
 * timestamptz): the last counter check of this database's publisher, NULLs
 * before the first one or when no publisher serves it.
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
	if (shared != NULL)
	{
		Place	   *place;

		SpinLockAcquire(&shared->mutex);
		place = served_place_locked(MyDatabaseId);
		if (place != NULL && place->publisher.counters_checked_at != 0)
		{
			values[0] = Int64GetDatum(place->publisher.counters_drifted);
			values[1] = TimestampTzGetDatum(place->publisher.counters_checked_at);
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
	strlcpy(my_place->publisher.last_error, message, sizeof(my_place->publisher.last_error));
	my_place->publisher.last_error_at = now;
	my_place->publisher.state = PUBLISHER_RETRYING;
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
	count = my_place->ring_count;
	for (int i = 0; i < count; i++)
		writes[i] = my_place->ring[(my_place->ring_start + i) % REJECTED_WRITE_RING_SIZE];
	SpinLockRelease(&shared->mutex);
	return count;
}

/* The oldest count rejected writes are recorded: remove them. */
void
intracker_rejected_writes_forget(int count)
{
	SpinLockAcquire(&shared->mutex);
	my_place->ring_start = (my_place->ring_start + count) % REJECTED_WRITE_RING_SIZE;
	my_place->ring_count -= count;
	SpinLockRelease(&shared->mutex);
}

/* ----------------------------------------------------------------
 * Activity counters
 * ----------------------------------------------------------------
 */

/* Count one act of this database (nothing where no publisher serves it). */
void
intracker_count_activity(Activity activity)
{
	Place	   *place;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	place = place_of_locked(MyDatabaseId);
	SpinLockRelease(&shared->mutex);
	/* (a place given back meanwhile counts for its next database: harmless) */
	if (place != NULL)
		pg_atomic_fetch_add_u64(&place->activity[activity], 1);
}

/*
 * intracker_data.activity_counts(OUT activity text, OUT entity text, OUT
 * count bigint): this database's counters, since the server started
 * serving it; no rows where no publisher serves it.
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
	Place	   *place = NULL;

	InitMaterializedSRF(fcinfo, 0);
	if (shared != NULL)
	{
		SpinLockAcquire(&shared->mutex);
		place = place_of_locked(MyDatabaseId);
		SpinLockRelease(&shared->mutex);
	}
	for (int i = 0; place != NULL && i < INTRACKER_ACTIVITIES; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, names[i].entity == NULL, false};

		values[0] = CStringGetTextDatum(names[i].activity);
		values[1] = names[i].entity ? CStringGetTextDatum(names[i].entity) : (Datum) 0;
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&place->activity[i]));
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
	requests = my_place->children[INTRACKER_DELIVERER].wake_requests;
	SpinLockRelease(&shared->mutex);
	return requests;
}

void
intracker_deliverer_report(const DelivererStatus *status)
{
	SpinLockAcquire(&shared->mutex);
	my_place->deliverer = *status;
	SpinLockRelease(&shared->mutex);
}

/* ----------------------------------------------------------------
 * Status functions
 * ----------------------------------------------------------------
 */

#define SET_COL(col, value) (values[(col)] = (value), nulls[(col)] = false)

/*
 * What a database without a place is told about its publisher and
 * deliverer: not running (no supervisor); when intracker.database covers
 * it, not served because intracker.max_databases databases are, or
 * starting (the supervisor has not got to it yet); otherwise serving
 * another database (a publisher runs in one), or waiting for database
 * (none runs: they are missing or closed).
 */
static const char *
state_without_place(void)
{
	bool		named = intracker_database_named(MyDatabaseId);
	bool		supervised;
	bool		running = false;
	int			serving;

	SpinLockAcquire(&shared->mutex);
	supervised = shared->supervisor_pid != 0;
	serving = serving_places_locked(NULL);
	for (int p = 0; p < PLACES; p++)
		running |= places[p].children[INTRACKER_PUBLISHER].pid != 0;
	SpinLockRelease(&shared->mutex);

	if (!supervised)
		return "not running";
	if (!named)
		return running ? "serving another database" : "waiting for database";
	return serving >= intracker_max_databases ? "not served: intracker.max_databases reached" : "starting";
}

/*
 * intracker_data.worker_state(): the row behind intracker.worker_status,
 * this database's publisher's status (the SQL name predates the glossary
 * in supervisor.h).
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
	pid_t		pid = 0;
	uint64		rejected_writes_dropped = 0;
	const char *state = NULL;
	bool		has_place = false;

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
	{
		Place	   *place = served_place_locked(MyDatabaseId);

		if (place != NULL)
		{
			has_place = true;
			status = place->publisher;
			pid = place->children[INTRACKER_PUBLISHER].pid;
			rejected_writes_dropped = place->rejected_writes_dropped;
			state = publisher_state_names[status.state];
		}
	}
	SpinLockRelease(&shared->mutex);
	if (!has_place)
		state = state_without_place();

	/* (intracker.database is fixed at server start, like this memory) */
	SET_COL(COL_DATABASE, CStringGetTextDatum(GetConfigOption("intracker.database", false, false)));
	SET_COL(COL_STATE, CStringGetTextDatum(state));
	if (pid != 0)
		SET_COL(COL_PID, Int32GetDatum(pid));
	/* the figures of this database's publisher */
	if (has_place && pid != 0)
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
 * intracker_data.deliverer_state(): the row behind intracker.deliverer_status,
 * this database's deliverer's status.
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
	const char *state = "not running";

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, true, sizeof(nulls));
	if (shared != NULL)
	{
		Place	   *place;

		SpinLockAcquire(&shared->mutex);
		place = served_place_locked(MyDatabaseId);
		if (place != NULL)
		{
			status = place->deliverer;
			pid = place->children[INTRACKER_DELIVERER].pid;
			state = pid != 0 ? NULL : "stopped";
		}
		SpinLockRelease(&shared->mutex);
		if (place == NULL)
			state = state_without_place();
	}
	if (state != NULL)
		SET_COL(COL_STATE, CStringGetTextDatum(state));
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
