/*-------------------------------------------------------------------------
 *
 * row_diff.c
 *	  Did an update change a column?
 *
 * Shared by the row-version trigger (an update of internal columns only is
 * not a new version) and the outbox trigger (which fields changed).
 * Values are compared as stored bytes, after detoasting: equal values
 * that one side keeps compressed or out of line still compare equal.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "utils/datum.h"

#include "intracker.h"

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
