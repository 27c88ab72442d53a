/*-------------------------------------------------------------------------
 *
 * trigger_util.c
 *	  What intracker's C trigger functions share: checking how they were
 *	  called, and whether an update changed a column.
 *
 * The check follows PostgreSQL's own contrib triggers (tcn, spi/refint):
 * a trigger function created with the wrong timing, level, event or
 * arguments fails with ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, saying
 * which rule it broke, and so does a table without a column the trigger
 * needs.
 *
 * Column comparison is shared by the row-version trigger (an update of
 * internal columns only is not a new version) and the outbox trigger
 * (which fields changed).  Values are compared as stored bytes, after
 * detoasting: equal values that one side keeps compressed or out of line
 * still compare equal.
 *
 * Restore mode (intracker_restoring) is the one test of "these rows come
 * from a dump": triggers that judge or announce a new row by today's state
 * (the assignee rules, events, the member_load counters) ask it before they
 * do; PL/pgSQL triggers ask intracker_data.restoring().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "trigger_util.h"

/*
 * Raise an error unless fcinfo is a call of trigger function `name` fired
 * FOR EACH ROW, with `timing` (TRIGGER_EVENT_BEFORE or TRIGGER_EVENT_AFTER),
 * on UPDATE only when update_only, with at least min_args arguments.
 * Returns the trigger data.
 */
TriggerData *
intracker_check_row_trigger(FunctionCallInfo fcinfo, const char *name, uint32 timing, bool update_only,
							int min_args)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be called as a trigger", name)));
	if ((trigdata->tg_event & TRIGGER_EVENT_TIMINGMASK) != timing)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be fired %s the change", name,
						timing == TRIGGER_EVENT_BEFORE ? "before" : "after")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be fired for each row", name)));
	if (update_only && !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be fired on update", name)));
	if (trigdata->tg_trigger->tgnargs < min_args)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg_plural("%s: must be given at least %d trigger argument",
							   "%s: must be given at least %d trigger arguments",
							   min_args, name, min_args)));
	return trigdata;
}

/*
 * The attribute number of `column` in the trigger's table; an error when
 * the trigger was created on a table without it.
 */
int
intracker_trigger_column(Relation rel, const char *column)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), column);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("intracker trigger on table \"%s\" needs column \"%s\"",
						RelationGetRelationName(rel), column)));
	return attnum;
}

/* Does column attnum differ between the old and the new row? */
bool
intracker_column_changed(HeapTuple old_row, HeapTuple new_row, TupleDesc tupdesc, int attnum)
{
	Form_pg_attribute att = TupleDescAttr(tupdesc, attnum - 1);
	bool		old_isnull;
	bool		new_isnull;
	Datum		old_value = heap_getattr(old_row, attnum, tupdesc, &old_isnull);
	Datum		new_value = heap_getattr(new_row, attnum, tupdesc, &new_isnull);

	if (old_isnull || new_isnull)
		return old_isnull != new_isnull;
	if (att->attlen == -1)
	{
		/* one side may be toasted or compressed, the other not */
		old_value = PointerGetDatum(PG_DETOAST_DATUM_PACKED(old_value));
		new_value = PointerGetDatum(PG_DETOAST_DATUM_PACKED(new_value));
		return VARSIZE_ANY_EXHDR(DatumGetPointer(old_value)) != VARSIZE_ANY_EXHDR(DatumGetPointer(new_value)) ||
			memcmp(VARDATA_ANY(DatumGetPointer(old_value)), VARDATA_ANY(DatumGetPointer(new_value)),
				   VARSIZE_ANY_EXHDR(DatumGetPointer(old_value))) != 0;
	}
	return !datumIsEqual(old_value, new_value, att->attbyval, att->attlen);
}

/*
 * Is this backend restoring a dump?  True only for a superuser's own client
 * session with row_security off, which is how pg_dump's scripts (and so
 * pg_restore) run: they SET row_security = off first, so that a policy can
 * never silently drop a row.  Triggers use it to accept restored INSERTs
 * as they were dumped, not as today's rules would judge a new row (a done
 * todo of a user deactivated since, a member over a capacity lowered
 * since); callers apply it to INSERTs only, since a restore only inserts.
 *
 * Why each condition: row_security is an ordinary setting that any role
 * may turn off (it then only makes RLS-governed queries fail), so it proves
 * nothing alone.  The session user must be a superuser, which nobody else
 * can become (SET ROLE changes only the current user), and so must the
 * current user: a superuser's session after SET ROLE to an API role, or an
 * API role's call of a SECURITY DEFINER function owned by a superuser, is
 * not a restore.  The background processes connect as a superuser too, and
 * a database owner could set row_security = off for their database with
 * ALTER DATABASE; they are not client backends, so they never count.
 */
bool
intracker_restoring(void)
{
	return !row_security &&
		MyBackendType == B_BACKEND &&
		superuser_arg(GetSessionUserId()) &&
		superuser();
}

/*
 * intracker_data.restoring() returns boolean: intracker_restoring() for the
 * PL/pgSQL triggers.
 */
PG_FUNCTION_INFO_V1(intracker_sql_restoring);
Datum
intracker_sql_restoring(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(intracker_restoring());
}
