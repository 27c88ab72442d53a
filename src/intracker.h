/*-------------------------------------------------------------------------
 *
 * intracker.h
 *	  Declarations shared between intracker's C files.
 *
 * Each C file owns one concern (identity, PostgREST request context,
 * optimistic locking, ...) and exposes an XxxInit() that _PG_init calls.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_H
#define INTRACKER_H

#include "postgres.h"

#include "access/htup.h"
#include "executor/spi.h"
#include "datatype/timestamp.h"
#include "utils/relcache.h"
#include "utils/uuid.h"

/*
 * SQLSTATEs of the public API.  PostgREST answers a PTxyz error with HTTP
 * status xyz, so each code is also the status a REST client sees.
 */
#define ERRCODE_INTRACKER_UNAUTHENTICATED		MAKE_SQLSTATE('P','T','4','0','1')
#define ERRCODE_INTRACKER_NOT_FOUND				MAKE_SQLSTATE('P','T','4','0','4')
#define ERRCODE_INTRACKER_VERSION_CONFLICT		MAKE_SQLSTATE('P','T','4','0','9')
#define ERRCODE_INTRACKER_PRECONDITION_FAILED	MAKE_SQLSTATE('P','T','4','1','2')

/* owner_context.c: counter triggers write derived tables as their owner */
typedef struct OwnerContext
{
	Oid			userid;
	int			sec_context;
	int			guc_nestlevel;
} OwnerContext;

extern void intracker_become_owner(Relation rel, OwnerContext *saved);
extern void intracker_become_data_owner(OwnerContext *saved);
extern void intracker_restore_user(OwnerContext *saved);

/* identity.c */
extern void IdentityInit(void);
extern bool intracker_acting_user(pg_uuid_t *user_id);

/*
 * A stale write that was rejected (PT409/PT412), on its way from the failing
 * backend to the worker through shared memory (events.c -> worker.c ->
 * publisher.c): the worker records it as a conflict.rejected event.
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

/* events.c: the outbox trigger */
extern void EventsInit(void);
extern void intracker_note_rejected_write(Relation rel, const char *entity, HeapTuple old_row,
										  bool has_attempted, int32 attempted, int32 current,
										  int sqlerrcode);

/* publisher.c: numbering, NOTIFY and retention of events */
extern char *intracker_project_channel(const char *project_id);
extern int	intracker_publish_pending(int max_events, bool send_notify, int *deliveries_queued);
extern int	intracker_prune_events(const char *retention, int max_events, TimestampTz *next_due);
extern void intracker_record_rejected_writes(const RejectedWrite *writes, int count);

/*
 * The deliverer's figures, kept in the worker's shared memory (worker.c)
 * for intracker.deliverer_status.
 */
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

/* worker.c: the background worker and its shared memory */
extern void WorkerInit(void);
extern bool intracker_worker_serves_database(Oid dboid);
extern void intracker_worker_wake(void);
extern void intracker_worker_queue_rejected_write(const RejectedWrite *rejected);
extern void intracker_worker_wake_deliverer(void);
extern long intracker_ms_until(TimestampTz when);
typedef enum IntrackerChild
{
	INTRACKER_PUBLISHER,
	INTRACKER_DELIVERER
} IntrackerChild;
extern void intracker_child_start(Datum main_arg, IntrackerChild child);
extern const char *intracker_missing_schema(const char *relname);
extern uint64 intracker_deliverer_wake_requests(void);
extern void intracker_deliverer_report(const DelivererStatus *status);

/* signature.c: "sha256=" + 64 hex digits */
#define INTRACKER_SIGNATURE_LEN		71
extern void intracker_sign(const char *secret, size_t secret_len, const char *body, size_t body_len,
						   char *out);

/* http.c: settings and URL policy of outgoing HTTP */
#define INTRACKER_HTTP_MAX_CONCURRENCY	1000
extern int	intracker_http_max_concurrency;
extern int	intracker_http_timeout_ms;
extern int	intracker_http_max_attempts;
extern int	intracker_http_retry_base_ms;
extern char *intracker_github_api_url;
extern void HttpInit(void);
extern char *intracker_url_problem(const char *url, bool *denied_host);

/* github.c */
extern bool intracker_github_created_issue(const char *answer, size_t len, int *number, char **url);


/* context.c */
extern void ContextInit(void);

/* request.c: the context PostgREST puts in GUCs for each request */
extern char *intracker_request_claim(const char *claim);
extern char *intracker_request_header(const char *header);

#endif							/* INTRACKER_H */
