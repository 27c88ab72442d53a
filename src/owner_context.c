/*-------------------------------------------------------------------------
 *
 * owner_context.c
 *	  Run a counter trigger's writes as the owner of its table, safely.
 *
 * Users cannot write the derived-data tables (member_load, project and
 * feature statistics): RLS gives them no write policy.  The C triggers that
 * maintain those tables therefore switch to the owner of the triggering
 * table, as PostgreSQL's RI triggers do, and take the same precautions: a
 * restricted security context, and search_path pinned to pg_catalog so that
 * no function or operator on the caller's search_path runs as the owner.
 * The queries they run also schema-qualify every operator.
 *
 * The context documents (context.c) read the data the same way, as the
 * owner of intracker_data, so that the per-statement RLS checks (a
 * membership lookup for each table a query touches) are not paid again and
 * again: they check the caller's membership once, first, and filter every
 * query by that project themselves.
 *
 * Errors need no cleanup: transaction (and subtransaction) abort restores
 * the user id, security context and GUC nesting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "owner_context.h"
#include "schema.h"

static void
become(Oid role, OwnerContext *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(role,
						   saved->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	saved->guc_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
intracker_become_owner(Relation rel, OwnerContext *saved)
{
	become(rel->rd_rel->relowner, saved);
}

/* Become the owner of intracker_data's tables (that of projects). */
void
intracker_become_data_owner(OwnerContext *saved)
{
	Oid			relid = intracker_data_relid("projects");
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "intracker_data.projects not found");
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	become(owner, saved);
}

void
intracker_restore_user(OwnerContext *saved)
{
	AtEOXact_GUC(true, saved->guc_nestlevel);
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}
