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
#include "storage/lock.h"
#include "utils/datum.h"
#include "utils/guc.h"
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
 * The restore lock: an advisory lock tag in a space of its own (the SQL
 * advisory lock functions use spaces 1 and 2), so that no user can take it
 * and hold publication up.  Restoring sessions hold it in share mode.
 */
#define RESTORE_LOCK_SPACE	0x4954	/* "IT" */
#define RESTORE_LOCK_KEY	0x72657374	/* "rest" */

static void
set_restore_locktag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, RESTORE_LOCK_KEY, 0, RESTORE_LOCK_SPACE);
}

/*
 * Is this backend restoring a dump?  True only for a superuser's own client
 * session that turned row_security off itself, which is how pg_dump's
 * scripts (and so pg_restore) run: they SET row_security = off first, so
 * that a policy can never silently drop a row.  Triggers use it to accept
 * restored INSERTs as they were dumped, not as today's rules would judge a
 * new row (a done todo of a user deactivated since, a member over a
 * capacity lowered since), and to queue no event for them; callers apply it
 * to INSERTs only, since a restore only inserts.
 *
 * Why each condition: row_security is an ordinary setting that any role
 * may turn off (it then only makes RLS-governed queries fail), so it proves
 * nothing alone.  The session user must be a superuser, which nobody else
 * can become (SET ROLE changes only the current user), and so must the
 * current user: a superuser's session after SET ROLE to an API role, or an
 * API role's call of a SECURITY DEFINER function owned by a superuser, is
 * not a restore.  The background processes connect as a superuser too; they
 * are not client backends, so they never count.  And the session must have
 * turned it off itself (the value RESET would give is on): a database owner
 * may ALTER DATABASE ... SET row_security = off, which would otherwise make
 * every superuser session there, a script acting as a user included, write
 * without events.
 *
 * A restoring session also takes the restore lock (below) on its first
 * restored row and keeps it until it ends: the publisher does not publish
 * while a restore is loading the database.
 */
bool
intracker_restoring(void)
{
	LOCKTAG		tag;

	if (row_security ||
		MyBackendType != B_BACKEND ||
		!superuser_arg(GetSessionUserId()) ||
		!superuser() ||
		strcmp(GetConfigOptionResetString("row_security"), "on") != 0)
		return false;

	/* checked each time: pg_advisory_unlock_all() and DISCARD ALL release it */
	set_restore_locktag(&tag);
	if (!LockHeldByMe(&tag, ShareLock))
		(void) LockAcquire(&tag, ShareLock, true, false);
	return true;
}

/*
 * Is a restore loading this database (another session holding the restore
 * lock)?  The publisher waits while it is: events still pending at the dump
 * would otherwise be published, and fanned out, before the webhooks they
 * go to are loaded.  Call it in a transaction.
 */
bool
intracker_restore_in_progress(void)
{
	LOCKTAG		tag;

	set_restore_locktag(&tag);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, ExclusiveLock, false);
	return false;
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
