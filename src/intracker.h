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
extern void intracker_restore_user(OwnerContext *saved);

/* identity.c */
extern void IdentityInit(void);

/* context.c */
extern void ContextInit(void);

/* request.c: the context PostgREST puts in GUCs for each request */
extern char *intracker_request_claim(const char *claim);
extern char *intracker_request_header(const char *header);

#endif							/* INTRACKER_H */
