/*-------------------------------------------------------------------------
 *
 * owner_context.h
 *	  Run as the owner of intracker's tables, safely (owner_context.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_OWNER_CONTEXT_H
#define INTRACKER_OWNER_CONTEXT_H

#include "utils/relcache.h"

/* Who we were, to come back to. */
typedef struct OwnerContext
{
	Oid			userid;
	int			sec_context;
	int			guc_nestlevel;
} OwnerContext;

extern void intracker_become_owner(Relation rel, OwnerContext *saved);
extern void intracker_become_data_owner(OwnerContext *saved);
extern void intracker_restore_user(OwnerContext *saved);

#endif							/* INTRACKER_OWNER_CONTEXT_H */
