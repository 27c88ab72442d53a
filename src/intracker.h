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

#include "owner_context.h"
#include "request.h"

/* identity.c */
extern void IdentityInit(void);
extern bool intracker_acting_user(pg_uuid_t *user_id);

/* events.c: the outbox trigger */
extern void EventsInit(void);
extern void intracker_note_rejected_write(Relation rel, const char *entity, HeapTuple old_row,
										  bool has_attempted, int32 attempted, int32 current,
										  int sqlerrcode);

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



#endif							/* INTRACKER_H */
