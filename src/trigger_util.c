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
 * Statement triggers that keep counters read the rows a statement changed
 * from its transition tables (intracker_for_each_changed_row), add them up
 * per counter row (intracker_delta_table) and write the rows that change
 * in key order (intracker_sorted_changes), so that a statement of N rows
 * touches each counter row once, not N times.
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
#include "executor/tuptable.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/tuplestore.h"

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
 * Raise an error unless fcinfo is a call of trigger function `name` fired
 * AFTER the change: FOR EACH ROW, or FOR EACH STATEMENT with the
 * transition tables of its event (NEW TABLE for an INSERT, OLD TABLE for a
 * DELETE, both for an UPDATE).  The counter triggers are statement
 * triggers since 0.6; a database still at an older version runs them FOR
 * EACH ROW until ALTER EXTENSION UPDATE, with this same library.
 */
TriggerData *
intracker_check_changes_trigger(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be called as a trigger", name)));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be fired after the change", name)));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) &&
		((!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) && trigdata->tg_newtable == NULL) ||
		 (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && trigdata->tg_oldtable == NULL)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: fired for each statement, it must be given the transition tables of its event", name),
				 errhint("REFERENCING NEW TABLE AS … for INSERT, OLD TABLE AS … for DELETE, both for UPDATE.")));
	return trigdata;
}

/* The next row of a transition table into slot, as a heap tuple (NULL at the end). */
static HeapTuple
next_transition_row(Tuplestorestate *table, TupleTableSlot *slot, bool *should_free)
{
	*should_free = false;
	if (table == NULL || !tuplestore_gettupleslot(table, true, false, slot))
		return NULL;
	return ExecFetchSlotHeapTuple(slot, false, should_free);
}

/*
 * Call fn(old_row, new_row, arg) for each row changed by what fired an
 * AFTER trigger (checked by intracker_check_changes_trigger): (NULL, new)
 * for an INSERT, (old, NULL) for a DELETE, (old, new) for an UPDATE.  A row
 * trigger's one row, or a statement trigger's rows from its transition
 * tables.  An UPDATE's two transition tables hold a row's old and new
 * versions at the same position: PostgreSQL appends them together, row by
 * row.  The tables are read from their start, so that the triggers of one
 * statement each see every row.
 */
void
intracker_for_each_changed_row(TriggerData *trigdata, ChangedRowFn fn, void *arg)
{
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	TupleTableSlot *old_slot;
	TupleTableSlot *new_slot;
	Tuplestorestate *old_table = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ? NULL : trigdata->tg_oldtable;
	Tuplestorestate *new_table = TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? NULL : trigdata->tg_newtable;

	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
	{
		if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
			fn(NULL, trigdata->tg_trigtuple, arg);
		else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
			fn(trigdata->tg_trigtuple, NULL, arg);
		else
			fn(trigdata->tg_trigtuple, trigdata->tg_newtuple, arg);
		return;
	}
	old_slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
	new_slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);

	if (old_table)
		tuplestore_rescan(old_table);
	if (new_table)
		tuplestore_rescan(new_table);
	for (;;)
	{
		bool		free_old;
		bool		free_new;
		HeapTuple	old_row = next_transition_row(old_table, old_slot, &free_old);
		HeapTuple	new_row = next_transition_row(new_table, new_slot, &free_new);

		if (old_row == NULL && new_row == NULL)
			break;
		if ((old_table != NULL && old_row == NULL) || (new_table != NULL && new_row == NULL))
			elog(ERROR, "transition tables of different lengths");
		fn(old_row, new_row, arg);
		if (free_old)
			heap_freetuple(old_row);
		if (free_new)
			heap_freetuple(new_row);
		CHECK_FOR_INTERRUPTS();
	}
	ExecDropSingleTupleTableSlot(old_slot);
	ExecDropSingleTupleTableSlot(new_slot);
}

/*
 * A table of a statement's deltas, one entry per counter row (its key first
 * in the entry), in the trigger call's memory.
 */
HTAB *
intracker_delta_table(const char *name, Size keysize, Size entrysize)
{
	HASHCTL		ctl = {0};

	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * The entries of deltas that change their counter row (changed), sorted by
 * compare (which qsort gives pointers to entry pointers): the rows a
 * statement writes, in the key order that keeps two statements from
 * locking them in opposite orders.  *count says how many.
 */
void	  **
intracker_sorted_changes(HTAB *deltas, bool (*changed) (const void *entry),
						 int (*compare) (const void *, const void *), long *count)
{
	void	  **entries = palloc(sizeof(void *) * (hash_get_num_entries(deltas) + 1));
	HASH_SEQ_STATUS scan;
	void	   *entry;

	*count = 0;
	hash_seq_init(&scan, deltas);
	while ((entry = hash_seq_search(&scan)) != NULL)
		if (changed(entry))
			entries[(*count)++] = entry;
	qsort(entries, *count, sizeof(void *), compare);
	return entries;
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
