/*-------------------------------------------------------------------------
 *
 * trigger_util.h
 *	  Helpers shared by intracker's C trigger functions (trigger_util.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_TRIGGER_UTIL_H
#define INTRACKER_TRIGGER_UTIL_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/hsearch.h"
#include "utils/relcache.h"

extern TriggerData *intracker_check_row_trigger(FunctionCallInfo fcinfo, const char *name, uint32 timing,
												bool update_only, int min_args);
/* one row a statement changed: (NULL, new), (old, NULL) or (old, new) */
typedef void (*ChangedRowFn) (HeapTuple old_row, HeapTuple new_row, void *arg);

extern TriggerData *intracker_check_changes_trigger(FunctionCallInfo fcinfo, const char *name);
extern void intracker_for_each_changed_row(TriggerData *trigdata, ChangedRowFn fn, void *arg);
extern HTAB *intracker_delta_table(const char *name, Size keysize, Size entrysize);
extern void **intracker_sorted_changes(HTAB *deltas, bool (*changed) (const void *entry),
									   int (*compare) (const void *, const void *), long *count);
extern int	intracker_trigger_column(Relation rel, const char *column);
extern bool intracker_column_changed(HeapTuple old_row, HeapTuple new_row, TupleDesc tupdesc, int attnum);
extern bool intracker_restoring(void);
extern bool intracker_restore_in_progress(void);

#endif							/* INTRACKER_TRIGGER_UTIL_H */
