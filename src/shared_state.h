/*-------------------------------------------------------------------------
 *
 * shared_state.h
 *	  The state intracker's processes share (shared_state.c): per database
 *	  served, who runs there, their latches, the publisher's and the
 *	  deliverer's status and the ring of rejected writes; per server, the
 *	  holds and the supervisor's latch.
 *
 * The structure itself is private to shared_state.c; everyone else goes
 * through the functions below, each of which takes the lock for as long
 * as it copies fields in or out.  supervisor.h explains the processes.
 *
 * Holds: a backend about to drop, update, rename, move or copy what the
 * children serve takes a hold on their database (supervisor.c's utility
 * hook); until its transaction ends no child runs there.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_SHARED_STATE_H
#define INTRACKER_SHARED_STATE_H

#include "datatype/timestamp.h"
#include "utils/uuid.h"

/* The supervisor's children, each with a slot in shared memory. */
typedef enum IntrackerChild
{
	INTRACKER_PUBLISHER,
	INTRACKER_DELIVERER
} IntrackerChild;

#define INTRACKER_CHILDREN	(INTRACKER_DELIVERER + 1)

/* What intracker_child_attach found. */
typedef enum ChildAttach
{
	CHILD_ATTACHED,				/* the slot is this process's */
	CHILD_ALREADY_RUNNING,		/* another one of its kind still runs */
	CHILD_HELD,					/* a backend holds the database: exit */
	CHILD_NO_PLACE				/* the supervisor gave its database's place up: exit */
} ChildAttach;

/* What the publisher is doing, for intracker.worker_status. */
typedef enum PublisherState
{
	PUBLISHER_STOPPED = 0,
	PUBLISHER_WAITING_FOR_DATABASE,
	PUBLISHER_STARTING,
	PUBLISHER_WAITING_FOR_EXTENSION,
	PUBLISHER_WAITING_FOR_RESTORE,
	PUBLISHER_IDLE,
	PUBLISHER_PUBLISHING,
	PUBLISHER_RETRYING
} PublisherState;

/*
 * A stale write that was rejected (PT409/PT412), on its way from the
 * failing backend to the publisher through shared memory (events.c ->
 * here -> publisher.c): the publisher records it as a conflict.rejected
 * event.
 */
typedef struct RejectedWrite
{
	char		entity[16];		/* "todo", "feature", "project" */
	pg_uuid_t	project_id;
	pg_uuid_t	entity_id;
	pg_uuid_t	actor;
	bool		has_actor;
	bool		has_attempted;	/* false: the write supplied no version */
	int32		attempted_version;
	int32		current_version;
	char		sqlstate[6];
	TimestampTz at;
} RejectedWrite;

#define REJECTED_WRITE_RING_SIZE	1024	/* per database served */

/* The deliverer's figures, for intracker.deliverer_status. */
typedef struct DelivererStatus
{
	char		state[32];
	int			in_flight;
	uint64		attempts;
	uint64		delivered;
	uint64		dead;
	char		last_error[256];
	TimestampTz last_error_at;
	TimestampTz started_at;
} DelivererStatus;

/*
 * What the API did, counted since the server started, for intracker.metrics
 * (Prometheus counters: they restart from 0 with the server).
 */
typedef enum Activity
{
	ACTIVITY_CONFLICT_TODO,		/* stale writes rejected, by entity */
	ACTIVITY_CONFLICT_FEATURE,
	ACTIVITY_CONFLICT_PROJECT,
	ACTIVITY_CONFLICT_OTHER,	/* comments, documents */
	ACTIVITY_CLAIM,				/* todos claimed by claim_next_todo */
	ACTIVITY_AUTO_ASSIGNMENT	/* automatic assignments of todos and features */
} Activity;

#define INTRACKER_ACTIVITIES	(ACTIVITY_AUTO_ASSIGNMENT + 1)

/* Why a publisher left its database for good (the supervisor reads it). */
typedef enum PublisherLeft
{
	PUBLISHER_STAYED = 0,		/* it did not: restart it after its pause */
	PUBLISHER_LEFT_NO_EXTENSION,	/* intracker.database = '*' and none there */
	PUBLISHER_LEFT_OVER_LIMIT	/* intracker.max_databases are served already */
} PublisherLeft;

extern int	intracker_max_databases;

extern void SharedStateInit(void);
extern void intracker_count_activity(Activity activity);

/* any backend */
extern bool intracker_publisher_serves_database(Oid dboid);
extern bool intracker_database_has_place(Oid dboid);
extern void intracker_publisher_wake(void);
extern void intracker_deliverer_wake(void);
extern void intracker_queue_rejected_write(const RejectedWrite *rejected);
extern bool intracker_hold_children(Oid dboid, pid_t pids[INTRACKER_CHILDREN]);
extern void intracker_release_hold(bool database_gone);
extern void intracker_supervisor_wake(void);
extern void intracker_announce_extension(Oid dboid);

/* the supervisor: a database's place is an index into the shared places */
extern void intracker_supervisor_attach(void);
extern int	intracker_place_take(Oid dboid);
extern void intracker_place_give_back(int place);
extern bool intracker_place_serving(int place);
extern PublisherLeft intracker_place_left(int place);
extern void intracker_place_set_publisher_state(int place, PublisherState state);
extern bool intracker_children_held(Oid dboid);
extern bool intracker_child_stopped_for_hold(int place, IntrackerChild child);
extern int	intracker_take_announcements(Oid *dboids, int max, bool *overflowed);

/* the supervisor's children, in the place of their database */
extern ChildAttach intracker_child_attach(IntrackerChild child, pid_t *other);

/* the publisher */
extern void intracker_publisher_starting(void);
extern bool intracker_publisher_begin_serving(void);
extern void intracker_publisher_leave(PublisherLeft why);
extern void intracker_publisher_set_state(PublisherState state);
extern uint64 intracker_publisher_wake_requests(void);
extern void intracker_publisher_count_published(int published);
extern void intracker_publisher_note_error(const char *message);
extern void intracker_publisher_note_counter_check(int64 drifted);
extern int	intracker_rejected_writes_peek(RejectedWrite *writes);
extern void intracker_rejected_writes_forget(int count);

/* the deliverer */
extern uint64 intracker_deliverer_wake_requests(void);
extern void intracker_deliverer_report(const DelivererStatus *status);

#endif							/* INTRACKER_SHARED_STATE_H */
