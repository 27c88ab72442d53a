/*-------------------------------------------------------------------------
 *
 * progress_reads.c
 *	  Read the live progress counters: the newest generation of each slot.
 *
 * progress_counters.c keeps the counters in versioned rows, sharded by
 * writer slot: a write deletes its slot's row and inserts the successor one
 * generation up (40_features_todos.sql).  A snapshot sees one row per slot,
 * so a plain sum of the rows is right, but it walks every version a long
 * transaction keeps from being pruned.  These readers descend the primary
 * key once per slot, backwards, and stop at the first version the snapshot
 * sees: the newest.  The dead versions lie behind it, so a read costs the
 * same whatever the write history (test/bench/counters_history.sh).
 *
 * They are C, not SQL: for a table of a few pages the planner prefers a
 * sequential scan and a sort per slot, which reads every version again, and
 * a kept plan would keep that choice as the table grows.
 *
 *   project_counts(project)                 todos open, done, cancelled
 *   project_daily_counts(project, from, to) per UTC day: todos and points done
 *   feature_counts(feature)                 todos total (not cancelled), done
 *
 * Privileges are those of a SELECT on the counter table: the caller needs
 * SELECT on it, and where its row-level security applies to the caller,
 * rows of projects the acting user is not a member of count nothing (the
 * same rule as the policies: intracker_data.my_project_ids('viewer'), asked
 * once per statement).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "identity.h"
#include "progress_counters.h"
#include "schema.h"

/* the longest range of days project_daily_counts reads in one call */
#define MAX_DAILY_RANGE 366

/* An open counter table, ready for the per-slot descents of its primary key. */
typedef struct CounterScan
{
	const CounterTable *table;
	int			num_keys;		/* key, [day]: before slot in the primary key */
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	AttrNumber	counter_attnums[3];
	ScanKeyData keys[3];		/* the key columns, then slot */
} CounterScan;

static Oid
data_relid(const char *name)
{
	Oid			relid = intracker_data_relid(name);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"intracker_data.%s\" does not exist", name),
				 errhint("Run ALTER EXTENSION intracker UPDATE.")));
	return relid;
}

/* Open a counter table for reading, with the privileges of a SELECT on it. */
static void
counter_scan_begin(CounterScan *cs, CounterKind kind)
{
	const CounterTable *table = &intracker_counter_tables[kind];
	Oid			relid = data_relid(table->table);
	AclResult	acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(relid));
	cs->table = table;
	cs->num_keys = table->by_day ? 2 : 1;
	cs->heap = table_open(relid, AccessShareLock);
	cs->index = index_open(RelationGetPrimaryKeyIndex(cs->heap), AccessShareLock);
	cs->scan = index_beginscan(cs->heap, cs->index, GetActiveSnapshot(), cs->num_keys + 1, 0);
	cs->slot = table_slot_create(cs->heap, NULL);
	for (int i = 0; i < table->num_counters; i++)
	{
		cs->counter_attnums[i] = get_attnum(relid, table->counters[i]);
		if (cs->counter_attnums[i] == InvalidAttrNumber)
			elog(ERROR, "intracker_data.%s has no column %s", table->table, table->counters[i]);
	}
}

static void
counter_scan_end(CounterScan *cs)
{
	ExecDropSingleTupleTableSlot(cs->slot);
	index_endscan(cs->scan);
	index_close(cs->index, AccessShareLock);
	table_close(cs->heap, AccessShareLock);
}

/*
 * Add the newest visible generation of each slot of one counter row (key:
 * the table's key columns) to sums; false when no slot has a row.
 */
static bool
add_newest_per_slot(CounterScan *cs, const Datum *key, int64 *sums)
{
	int			num_keys = cs->num_keys;
	bool		found = false;

	ScanKeyInit(&cs->keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ, key[0]);
	if (num_keys == 2)
		ScanKeyInit(&cs->keys[1], 2, BTEqualStrategyNumber, F_DATE_EQ, key[1]);
	for (int16 slot = 0; slot < PROGRESS_SLOTS; slot++)
	{
		ScanKeyInit(&cs->keys[num_keys], num_keys + 1, BTEqualStrategyNumber, F_INT2EQ, Int16GetDatum(slot));
		index_rescan(cs->scan, cs->keys, num_keys + 1, NULL, 0);
		/* backwards: the highest generation first; the first visible is the newest */
		if (!index_getnext_slot(cs->scan, BackwardScanDirection, cs->slot))
			continue;
		for (int i = 0; i < cs->table->num_counters; i++)
		{
			bool		isnull;

			sums[i] += DatumGetInt64(slot_getattr(cs->slot, cs->counter_attnums[i], &isnull));
		}
		found = true;
	}
	return found;
}

/*
 * The projects the acting user sees, as the policies compute them, kept for
 * the rest of the statement: one statement's calls (a row each) share one
 * answer.  A new command, role or acting user asks again.
 */
typedef struct VisibleProjects
{
	LocalTransactionId lxid;
	CommandId	command;
	Oid			role;
	bool		has_user;
	pg_uuid_t	user;
	int			count;
	pg_uuid_t  *ids;			/* in TopTransactionContext */
} VisibleProjects;

static VisibleProjects visible = {InvalidLocalTransactionId};

static void
load_visible_projects(void)
{
	static Oid	my_project_ids = InvalidOid;
	Datum		array_datum;
	ArrayType  *array;
	Datum	   *elements;
	int			count;

	if (!OidIsValid(my_project_ids))
	{
		Oid			argtypes[1] = {TEXTOID};

		my_project_ids = LookupFuncName(list_make2(makeString("intracker_data"), makeString("my_project_ids")),
										1, argtypes, false);
	}
	array_datum = OidFunctionCall1(my_project_ids, CStringGetTextDatum("viewer"));
	array = DatumGetArrayTypeP(array_datum);
	deconstruct_array(array, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elements, NULL, &count);
	visible.ids = MemoryContextAlloc(TopTransactionContext, Max(count, 1) * sizeof(pg_uuid_t));
	for (int i = 0; i < count; i++)
		memcpy(&visible.ids[i], DatumGetUUIDP(elements[i]), UUID_LEN);
	visible.count = count;
}

/* May the caller read the counter rows of this project (as a SELECT would)? */
static bool
caller_sees_project(const CounterScan *cs, Datum project_id)
{
	pg_uuid_t	user = {{0}};
	bool		has_user;

	if (check_enable_rls(RelationGetRelid(cs->heap), InvalidOid, false) != RLS_ENABLED)
		return true;
	has_user = intracker_acting_user(&user);
	if (visible.lxid != MyProc->lxid || visible.command != GetCurrentCommandId(false) ||
		visible.role != GetUserId() || visible.has_user != has_user ||
		(has_user && memcmp(&visible.user, &user, UUID_LEN) != 0))
	{
		visible.lxid = InvalidLocalTransactionId;	/* until loaded */
		load_visible_projects();
		visible.lxid = MyProc->lxid;
		visible.command = GetCurrentCommandId(false);
		visible.role = GetUserId();
		visible.has_user = has_user;
		visible.user = user;
	}
	for (int i = 0; i < visible.count; i++)
		if (memcmp(&visible.ids[i], DatumGetUUIDP(project_id), UUID_LEN) == 0)
			return true;
	return false;
}

/* The project of a feature (false if no such feature in the snapshot). */
static bool
feature_project(Datum feature_id, Datum *project_id)
{
	Relation	features = table_open(data_relid("features"), AccessShareLock);
	Relation	pkey = index_open(RelationGetPrimaryKeyIndex(features), AccessShareLock);
	IndexScanDesc scan = index_beginscan(features, pkey, GetActiveSnapshot(), 1, 0);
	TupleTableSlot *slot = table_slot_create(features, NULL);
	ScanKeyData key;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, feature_id);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
	{
		bool		isnull;
		pg_uuid_t  *copy = palloc(UUID_LEN);

		memcpy(copy, DatumGetUUIDP(slot_getattr(slot, get_attnum(RelationGetRelid(features), "project_id"), &isnull)),
			   UUID_LEN);
		*project_id = UUIDPGetDatum(copy);
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(pkey, AccessShareLock);
	table_close(features, AccessShareLock);
	return found;
}

/*
 * The live counts of one counter row (key), as the function's row of OUT
 * parameters (bigint): zeros when project_id is NULL (no such feature) or
 * names a project the caller may not read.
 */
static Datum
live_counts(FunctionCallInfo fcinfo, CounterKind kind, Datum key, const Datum *project_id)
{
	int64		sums[3] = {0, 0, 0};
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	TupleDesc	tupdesc;
	CounterScan cs;

	counter_scan_begin(&cs, kind);
	if (project_id != NULL && caller_sees_project(&cs, *project_id))
		add_newest_per_slot(&cs, &key, sums);
	counter_scan_end(&cs);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	for (int i = 0; i < intracker_counter_tables[kind].num_counters; i++)
		values[i] = Int64GetDatum(sums[i]);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

PG_FUNCTION_INFO_V1(intracker_project_counts);
Datum
intracker_project_counts(PG_FUNCTION_ARGS)
{
	Datum		project_id = PG_GETARG_DATUM(0);

	PG_RETURN_DATUM(live_counts(fcinfo, PROJECT_COUNTER, project_id, &project_id));
}

PG_FUNCTION_INFO_V1(intracker_feature_counts);
Datum
intracker_feature_counts(PG_FUNCTION_ARGS)
{
	Datum		feature_id = PG_GETARG_DATUM(0);
	Datum		project_id;

	PG_RETURN_DATUM(live_counts(fcinfo, FEATURE_COUNTER, feature_id,
								feature_project(feature_id, &project_id) ? &project_id : NULL));
}

PG_FUNCTION_INFO_V1(intracker_project_daily_counts);
Datum
intracker_project_daily_counts(PG_FUNCTION_ARGS)
{
	Datum		project_id = PG_GETARG_DATUM(0);
	DateADT		first_day = PG_GETARG_DATEADT(1);
	DateADT		last_day = PG_GETARG_DATEADT(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CounterScan cs;

	if (DATE_NOT_FINITE(first_day) || DATE_NOT_FINITE(last_day) ||
		(int64) last_day - (int64) first_day >= MAX_DAILY_RANGE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("project_daily_counts reads at most %d days", MAX_DAILY_RANGE),
				 errdetail("The range from %s to %s is longer, or not finite.",
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(first_day))),
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(last_day)))),
				 errhint("Ask for a year or less at a time.")));

	InitMaterializedSRF(fcinfo, 0);
	counter_scan_begin(&cs, DAY_COUNTER);
	if (caller_sees_project(&cs, project_id))
	{
		for (DateADT day = first_day; day <= last_day; day++)
		{
			Datum		key[2] = {project_id, DateADTGetDatum(day)};
			int64		sums[2] = {0, 0};

			if (add_newest_per_slot(&cs, key, sums))
			{
				Datum		values[3] = {DateADTGetDatum(day), Int64GetDatum(sums[0]), Int64GetDatum(sums[1])};
				bool		nulls[3] = {false, false, false};

				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		}
	}
	counter_scan_end(&cs);
	return (Datum) 0;
}
