/*-------------------------------------------------------------------------
 *
 * progress_counters.c
 *	  Keep the progress counters of projects and features in step with todos.
 *
 * team_context and team_dashboard report totals by state, todos completed
 * today, points done in the last seven days and feature progress.  Counting
 * those from the todos would cost as much as the project's history; instead
 * this AFTER ROW trigger on todos maintains, incrementally:
 *
 *   project_stats       todos open / done / cancelled per project
 *   project_daily_done  todos and points done per project and UTC day
 *   feature_stats       non-cancelled and done todos per feature
 *
 * A todo row contributes to each of them according to its state; the
 * trigger subtracts the old row's contribution and adds the new one's,
 * skipping dimensions the change does not touch.
 *
 * Rows are sharded by writer slot (a hash of the backend pid, modulo
 * PROGRESS_SLOTS), so concurrent writers in one project mostly update
 * different rows instead of queueing on one; readers sum at most
 * PROGRESS_SLOTS rows.  A slot may go negative when a backend undoes what
 * another added: only the sum has a meaning.  Two writers that share a
 * slot and write several todos in opposite orders within long transactions
 * can still deadlock (40P01, safe to retry); more slots make it rarer.
 *
 * Each write is an upsert guarded by the parent's existence: when a
 * project or feature is being deleted, its counter rows go with it (FK
 * cascade) and the cascading todo deletes must not recreate them.
 *
 * The counters are bigint and the deltas int64.  A slot is not bounded by
 * the number of todos: a todo made done by one slot and reopened by
 * another moves one up and the other down, as often as a user toggles it.
 *
 * The writes run as the table owner (owner_context.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "owner_context.h"
#include "spi_util.h"
#include "trigger_util.h"

#define PROGRESS_SLOTS 32

/* What one todo row adds to the counters. */
typedef struct TodoProgress
{
	Datum		project_id;
	int64		open;
	int64		done;
	int64		cancelled;
	bool		has_day;		/* done, with a completion time */
	DateADT		day;
	int64		points;
	bool		has_feature;
	Datum		feature_id;
	int64		feature_total;
	int64		feature_done;
} TodoProgress;

static SPIPlanPtr project_plan = NULL;
static SPIPlanPtr daily_plan = NULL;
static SPIPlanPtr feature_plan = NULL;

/* What a todo row adds to its project's, day's and feature's counters. */
static TodoProgress
progress_of(HeapTuple tuple, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	TodoProgress p = {0};
	bool		isnull;
	char	   *status = TextDatumGetCString(heap_getattr(tuple, intracker_trigger_column(rel, "status"),
														  tupdesc, &isnull));
	Datum		completed_at = heap_getattr(tuple, intracker_trigger_column(rel, "completed_at"), tupdesc, &isnull);
	bool		done = strcmp(status, "done") == 0;
	bool		cancelled = strcmp(status, "cancelled") == 0;

	p.project_id = heap_getattr(tuple, intracker_trigger_column(rel, "project_id"), tupdesc, &isnull);
	p.open = !done && !cancelled;
	p.done = done;
	p.cancelled = cancelled;

	if (done && !isnull)
	{
		TimestampTz ts = DatumGetTimestampTz(completed_at);
		int64		days = ts / USECS_PER_DAY;

		if (ts < 0 && ts % USECS_PER_DAY != 0)
			days--;				/* floor, for completeness before 2000 */
		p.has_day = true;
		p.day = (DateADT) days;
		p.points = DatumGetInt32(heap_getattr(tuple, intracker_trigger_column(rel, "estimate"), tupdesc, &isnull));
	}

	p.feature_id = heap_getattr(tuple, intracker_trigger_column(rel, "feature_id"), tupdesc, &isnull);
	p.has_feature = !isnull;
	p.feature_total = !cancelled;
	p.feature_done = done;
	return p;
}

static bool
uuid_equal(Datum a, Datum b)
{
	return memcmp(DatumGetUUIDP(a), DatumGetUUIDP(b), UUID_LEN) == 0;
}

static void
execute(SPIPlanPtr plan, Datum *values)
{
	intracker_spi_expect(SPI_execute_plan(plan, values, NULL, false, 0), SPI_OK_INSERT,
						 "update a progress counter");
}

/* Add a contribution (sign +1) or take it back (-1). */
static void
apply_project(const TodoProgress *p, int sign, int16 slot)
{
	Oid			argtypes[5] = {UUIDOID, INT2OID, INT8OID, INT8OID, INT8OID};
	Datum		values[5] = {p->project_id, Int16GetDatum(slot), Int64GetDatum(sign * p->open),
	Int64GetDatum(sign * p->done), Int64GetDatum(sign * p->cancelled)};

	execute(intracker_kept_plan(&project_plan,
					   "INSERT INTO intracker_data.project_stats AS s"
					   "       (project_id, slot, todos_open, todos_done, todos_cancelled)"
					   " SELECT $1, $2, $3, $4, $5"
					   "  WHERE EXISTS (SELECT FROM intracker_data.projects p WHERE p.id OPERATOR(pg_catalog.=) $1)"
					   " ON CONFLICT (project_id, slot) DO UPDATE"
					   "   SET todos_open = s.todos_open OPERATOR(pg_catalog.+) EXCLUDED.todos_open,"
					   "       todos_done = s.todos_done OPERATOR(pg_catalog.+) EXCLUDED.todos_done,"
					   "       todos_cancelled = s.todos_cancelled OPERATOR(pg_catalog.+) EXCLUDED.todos_cancelled",
					   5, argtypes, 0), values);
}

static void
apply_day(const TodoProgress *p, int sign, int16 slot)
{
	Oid			argtypes[5] = {UUIDOID, DATEOID, INT2OID, INT8OID, INT8OID};
	Datum		values[5] = {p->project_id, DateADTGetDatum(p->day), Int16GetDatum(slot),
	Int64GetDatum(sign), Int64GetDatum(sign * p->points)};

	execute(intracker_kept_plan(&daily_plan,
					   "INSERT INTO intracker_data.project_daily_done AS s"
					   "       (project_id, day, slot, todos_done, points_done)"
					   " SELECT $1, $2, $3, $4, $5"
					   "  WHERE EXISTS (SELECT FROM intracker_data.projects p WHERE p.id OPERATOR(pg_catalog.=) $1)"
					   " ON CONFLICT (project_id, day, slot) DO UPDATE"
					   "   SET todos_done = s.todos_done OPERATOR(pg_catalog.+) EXCLUDED.todos_done,"
					   "       points_done = s.points_done OPERATOR(pg_catalog.+) EXCLUDED.points_done",
					   5, argtypes, 0), values);
}

static void
apply_feature(const TodoProgress *p, int sign, int16 slot)
{
	Oid			argtypes[4] = {UUIDOID, INT2OID, INT8OID, INT8OID};
	Datum		values[4] = {p->feature_id, Int16GetDatum(slot),
	Int64GetDatum(sign * p->feature_total), Int64GetDatum(sign * p->feature_done)};

	execute(intracker_kept_plan(&feature_plan,
					   "INSERT INTO intracker_data.feature_stats AS s (feature_id, slot, todos_total, todos_done)"
					   " SELECT $1, $2, $3, $4"
					   "  WHERE EXISTS (SELECT FROM intracker_data.features f WHERE f.id OPERATOR(pg_catalog.=) $1)"
					   " ON CONFLICT (feature_id, slot) DO UPDATE"
					   "   SET todos_total = s.todos_total OPERATOR(pg_catalog.+) EXCLUDED.todos_total,"
					   "       todos_done = s.todos_done OPERATOR(pg_catalog.+) EXCLUDED.todos_done",
					   4, argtypes, 0), values);
}

PG_FUNCTION_INFO_V1(intracker_progress_counter);
Datum
intracker_progress_counter(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	bool		has_old;
	bool		has_new;
	TodoProgress old_p = {0};
	TodoProgress new_p = {0};
	bool		project_same;
	bool		day_same;
	bool		feature_same;
	int16		slot = (int16) (hash_bytes_uint32((uint32) MyProcPid) % PROGRESS_SLOTS);
	OwnerContext saved;

	trigdata = intracker_check_row_trigger(fcinfo, "intracker_progress_counter", TRIGGER_EVENT_AFTER, false, 0);
	has_old = !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	has_new = !TRIGGER_FIRED_BY_DELETE(trigdata->tg_event);
	if (has_old)
		old_p = progress_of(trigdata->tg_trigtuple, trigdata->tg_relation);
	if (has_new)
		new_p = progress_of(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
							trigdata->tg_newtuple : trigdata->tg_trigtuple, trigdata->tg_relation);

	/* Dimensions this change leaves exactly as they were. */
	project_same = has_old && has_new && uuid_equal(old_p.project_id, new_p.project_id) &&
		old_p.open == new_p.open && old_p.done == new_p.done && old_p.cancelled == new_p.cancelled;
	day_same = has_old && has_new && project_same && old_p.has_day == new_p.has_day &&
		(!old_p.has_day || (old_p.day == new_p.day && old_p.points == new_p.points));
	feature_same = has_old && has_new && old_p.has_feature == new_p.has_feature &&
		(!old_p.has_feature || (uuid_equal(old_p.feature_id, new_p.feature_id) &&
								old_p.feature_total == new_p.feature_total &&
								old_p.feature_done == new_p.feature_done));
	if (project_same && day_same && feature_same)
		return PointerGetDatum(NULL);

	intracker_become_owner(trigdata->tg_relation, &saved);
	intracker_spi_connect();

	/*
	 * When a change touches two rows of one table (a todo moved between
	 * features, projects or completion days), they are updated in key
	 * order, so that two opposite moves cannot deadlock.
	 */
	if (!project_same)
	{
		bool		new_first = has_old && has_new &&
			memcmp(DatumGetUUIDP(new_p.project_id), DatumGetUUIDP(old_p.project_id), UUID_LEN) < 0;

		if (new_first)
			apply_project(&new_p, 1, slot);
		if (has_old)
			apply_project(&old_p, -1, slot);
		if (has_new && !new_first)
			apply_project(&new_p, 1, slot);
	}
	if (!day_same)
	{
		bool		new_first = has_old && old_p.has_day && has_new && new_p.has_day &&
			(memcmp(DatumGetUUIDP(new_p.project_id), DatumGetUUIDP(old_p.project_id), UUID_LEN) < 0 ||
			 (uuid_equal(new_p.project_id, old_p.project_id) && new_p.day < old_p.day));

		if (new_first)
			apply_day(&new_p, 1, slot);
		if (has_old && old_p.has_day)
			apply_day(&old_p, -1, slot);
		if (has_new && new_p.has_day && !new_first)
			apply_day(&new_p, 1, slot);
	}
	if (!feature_same)
	{
		bool		new_first = has_old && old_p.has_feature && has_new && new_p.has_feature &&
			memcmp(DatumGetUUIDP(new_p.feature_id), DatumGetUUIDP(old_p.feature_id), UUID_LEN) < 0;

		if (new_first)
			apply_feature(&new_p, 1, slot);
		if (has_old && old_p.has_feature)
			apply_feature(&old_p, -1, slot);
		if (has_new && new_p.has_feature && !new_first)
			apply_feature(&new_p, 1, slot);
	}

	SPI_finish();
	intracker_restore_user(&saved);
	return PointerGetDatum(NULL);
}
