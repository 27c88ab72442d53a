/*-------------------------------------------------------------------------
 *
 * optimistic_lock.c
 *	  The row-version trigger: reject stale writes, bump version.
 *
 * intracker_row_version() is a BEFORE UPDATE FOR EACH ROW trigger on every
 * versioned table (projects, features, todos) and, for updated_at only, on
 * users.  Its first argument is the entity name used in messages ("todo");
 * further arguments name internal columns (counters kept by other
 * triggers): an update that changes only those is not a change of the row
 * for its users, so it is neither checked nor versioned.
 *
 * A writer states the version it read by writing it back: `SET version = 3`
 * (directly, through a view, through PostgREST PATCH, or through the
 * expected_version argument of the update functions).  If that differs from
 * the stored version the row changed since it was read: the statement fails
 * with PT409 and nothing is written.  A writer that does not mention version
 * leaves NEW.version equal to OLD.version and is not checked.  Either way the
 * stored version becomes OLD.version + 1, so every update bumps it exactly
 * once.
 *
 * Concurrency: when two transactions update the same row, the second waits
 * for the first's row lock and, under READ COMMITTED, re-evaluates against
 * the committed row; OLD is then the new version, so the stale writer's
 * NEW.version no longer matches and it gets PT409 instead of overwriting.
 *
 * An If-Match header of the PostgREST request (request.headers) is checked
 * against the same stored version and fails with PT412.
 *
 * Either rejection is also reported as a conflict.rejected event
 * (events.c): the team hears about the collision although nothing was
 * written.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "nodes/bitmapset.h"
#include "fmgr.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "errcodes.h"
#include "events.h"
#include "request.h"
#include "trigger_util.h"

/*
 * Does an If-Match header value (a list of entity tags, or "*") match
 * version?  Accepts the forms a client may send: 3, "3" and W/"3".
 */
static bool
if_match_accepts(const char *header, int32 version)
{
	const char *p = header;

	while (*p)
	{
		const char *tag_start;
		char	   *end;
		long		tag;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p == '"')
			p++;
		tag_start = p;
		tag = strtol(tag_start, &end, 10);
		if (end != tag_start && tag == version && (*end == '"' || *end == ',' ||
												  *end == ' ' || *end == '\0'))
			return true;
		/* skip to the next list element */
		while (*p && *p != ',')
			p++;
	}
	return false;
}

/*
 * Does the update change internal columns (trigger arguments 2..n) and
 * nothing else?  Generated columns are skipped: a BEFORE trigger does not
 * see their new values yet, and they follow the other columns anyway.
 */
static bool
only_internal_columns_change(TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	TupleDesc	tupdesc = trigdata->tg_relation->rd_att;
	Bitmapset  *internal = NULL;
	bool		internal_changed = false;

	for (int i = 1; i < trigger->tgnargs; i++)
	{
		int			attnum = intracker_trigger_column(trigdata->tg_relation, trigger->tgargs[i]);

		internal = bms_add_member(internal, attnum);
		if (intracker_column_changed(trigdata->tg_trigtuple, trigdata->tg_newtuple, tupdesc, attnum))
			internal_changed = true;
	}
	if (!internal_changed)
		return false;

	for (int attnum = 1; attnum <= tupdesc->natts; attnum++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, attnum - 1);

		if (att->attisdropped || att->attgenerated || bms_is_member(attnum, internal))
			continue;
		if (intracker_column_changed(trigdata->tg_trigtuple, trigdata->tg_newtuple, tupdesc, attnum))
			return false;
	}
	return true;
}

static char *
row_id_text(HeapTuple tuple, TupleDesc tupdesc)
{
	char	   *id = SPI_getvalue(tuple, tupdesc, SPI_fnumber(tupdesc, "id"));

	return id ? id : pstrdup("?");
}

PG_FUNCTION_INFO_V1(intracker_row_version);
Datum
intracker_row_version(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	TupleDesc	tupdesc;
	HeapTuple	old_row;
	HeapTuple	new_row;
	const char *entity;
	int			version_attnum;
	int			updated_at_attnum;
	int			cols[2];
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int			ncols = 0;

	trigdata = intracker_check_row_trigger(fcinfo, "intracker_row_version", TRIGGER_EVENT_BEFORE, true, 1);
	tupdesc = trigdata->tg_relation->rd_att;
	old_row = trigdata->tg_trigtuple;
	new_row = trigdata->tg_newtuple;
	entity = trigdata->tg_trigger->tgargs[0];

	if (trigdata->tg_trigger->tgnargs > 1 && only_internal_columns_change(trigdata))
		return PointerGetDatum(new_row);

	version_attnum = SPI_fnumber(tupdesc, "version");
	if (version_attnum > 0)
	{
		bool		old_isnull;
		bool		new_isnull;
		int32		current = DatumGetInt32(heap_getattr(old_row, version_attnum, tupdesc, &old_isnull));
		Datum		supplied_datum = heap_getattr(new_row, version_attnum, tupdesc, &new_isnull);
		char	   *if_match;

		if (new_isnull || DatumGetInt32(supplied_datum) != current)
		{
			intracker_note_rejected_write(trigdata->tg_relation, entity, old_row,
										  !new_isnull, new_isnull ? 0 : DatumGetInt32(supplied_datum),
										  current, ERRCODE_INTRACKER_VERSION_CONFLICT);
			ereport(ERROR,
					(errcode(ERRCODE_INTRACKER_VERSION_CONFLICT),
					 errmsg("%s %s was changed by someone else", entity, row_id_text(old_row, tupdesc)),
					 new_isnull ?
					 errdetail("The write supplied no version; the current version is %d.", current) :
					 errdetail("The write was based on version %d; the current version is %d.",
							   DatumGetInt32(supplied_datum), current),
					 errhint("Re-read the row and retry.")));
		}

		if_match = intracker_request_header("if-match");
		if (if_match != NULL && !if_match_accepts(if_match, current))
		{
			intracker_note_rejected_write(trigdata->tg_relation, entity, old_row, false, 0, current,
										  ERRCODE_INTRACKER_PRECONDITION_FAILED);
			ereport(ERROR,
					(errcode(ERRCODE_INTRACKER_PRECONDITION_FAILED),
					 errmsg("%s %s does not match If-Match", entity, row_id_text(old_row, tupdesc)),
					 errdetail("If-Match is %s; the current version is %d.", if_match, current),
					 errhint("Re-read the row and retry.")));
		}

		if (current == PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s %s has reached the highest version", entity, row_id_text(old_row, tupdesc))));

		cols[ncols] = version_attnum;
		values[ncols] = Int32GetDatum(current + 1);
		ncols++;
	}

	updated_at_attnum = SPI_fnumber(tupdesc, "updated_at");
	if (updated_at_attnum > 0)
	{
		cols[ncols] = updated_at_attnum;
		values[ncols] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		ncols++;
	}

	if (ncols > 0)
		new_row = heap_modify_tuple_by_cols(new_row, tupdesc, ncols, cols, values, nulls);

	return PointerGetDatum(new_row);
}
