/*-------------------------------------------------------------------------
 *
 * progress_counters.c
 *	  Keep the progress counters of projects and features in step with todos.
 *
 * team_context and team_dashboard report totals by state, todos completed
 * today, points done in the last seven days and feature progress.  Counting
 * those from the todos would cost as much as the project's history; instead
 * these AFTER STATEMENT triggers on todos maintain, incrementally:
 *
 *   project_stats       todos open / done / cancelled per project
 *   project_daily_done  todos and points done per project and UTC day
 *   feature_stats       non-cancelled and done todos per feature
 *
 * A todo row contributes to each of them according to its state.  The
 * trigger reads the statement's changed rows from its transition tables,
 * adds up per counter row what the new rows add and the old ones take
 * away, and writes each counter row once, in key order: a statement of N
 * todos costs O(N) and leaves one new version per counter row, not N.
 * (A database still at 0.5 fires it FOR EACH ROW until ALTER EXTENSION
 * UPDATE: the same code then sees one row at a time.)
 *
 * Rows are sharded by writer slot (the backend id modulo PROGRESS_SLOTS:
 * backend ids are dense, so sessions connected together mostly get
 * different slots), so concurrent writers in one project mostly write
 * different rows instead of queueing on one.  A slot may go negative when
 * a backend undoes what another added: only the sum has a meaning.  Two
 * writers that share a slot and write in several statements of one
 * transaction, in opposite orders, can still deadlock (40P01, safe to
 * retry).
 *
 * Rows are versioned (40_features_todos.sql): a write replaces its slot's
 * newest row by the successor one generation up (DELETE and INSERT), so
 * that readers (progress_reads.c) find each slot's live row first, before
 * the versions a long transaction keeps.  A slot's first row is created at
 * generation 0.  Both are guarded by the parent's existence: when a project
 * or feature is being deleted, its counter rows go with it (FK cascade) and
 * the cascading todo deletes must not recreate them.  A database still at
 * 0.5 has unversioned rows: there each write is an upsert in place.

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
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "import_statistics.h"
#include "owner_context.h"
#include "progress_counters.h"
#include "schema.h"
#include "spi_util.h"
#include "trigger_util.h"


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

/*
 * A counter row and what the statement changes in it: a project's
 * (project_stats), a project's day's (project_daily_done) or a feature's
 * (feature_stats).  The key comes first; unused key bytes are zero.
 */
typedef struct CounterKey
{
	pg_uuid_t	id;				/* the project, or the feature */
	DateADT		day;			/* project_daily_done only */
} CounterKey;

/* the deltas of a row's counters, by kind: project, day, feature */
typedef struct CounterDelta
{
	CounterKey	key;
	int64		a;				/* todos open | todos done | todos total */
	int64		b;				/* todos done | points done | todos done */
	int64		c;				/* todos cancelled | - | - */
} CounterDelta;

/* (counters: a, b, c of CounterDelta, in that order) */
const CounterTable intracker_counter_tables[NUM_COUNTER_KINDS] = {
	[PROJECT_COUNTER] = {"project_stats", "project_id", false, "projects", 3,
	{"todos_open", "todos_done", "todos_cancelled"}},
	[DAY_COUNTER] = {"project_daily_done", "project_id", true, "projects", 2, {"todos_done", "points_done"}},
	[FEATURE_COUNTER] = {"feature_stats", "feature_id", false, "features", 2, {"todos_total", "todos_done"}},
};

/* How a statement writes one counter row: the kept plans, built on first use. */
typedef enum CounterWrite
{
	REPLACE_NEWEST,				/* the slot's newest row by its successor */
	CREATE_FIRST,				/* generation 0, when the slot has no row */
	PARENT_EXISTS,				/* (the project or feature: still there?) */
	UPSERT_IN_PLACE,			/* a database still at 0.5 */
	NUM_COUNTER_WRITES
} CounterWrite;

static SPIPlanPtr plans[NUM_COUNTER_KINDS][NUM_COUNTER_WRITES];

/* The number of parameters of a kind's writes: key, slot, counters, day. */
static int
num_params(CounterKind kind)
{
	return 2 + intracker_counter_tables[kind].num_counters + (intracker_counter_tables[kind].by_day ? 1 : 0);
}

/*
 * The SQL of one write of one kind.  Every name in it is one of
 * intracker_counter_tables' constants; operators are schema-qualified (the
 * trigger runs with the caller's search_path).
 */
static char *
counter_write_sql(CounterKind kind, CounterWrite write)
{
	const char *table = intracker_counter_tables[kind].table;
	const char *key = intracker_counter_tables[kind].key;
	int			n = intracker_counter_tables[kind].num_counters;
	StringInfoData slot_rows;	/* "x" rows of the statement's slot */
	StringInfoData columns;		/* key, slot[, day], counters */
	StringInfoData values;		/* $1, $2[, $day], $3 ... */
	StringInfoData successor;	/* the newest row's counters plus the deltas */
	StringInfoData in_place;	/* the same as an ON CONFLICT update */

	initStringInfo(&slot_rows);
	initStringInfo(&columns);
	initStringInfo(&values);
	initStringInfo(&successor);
	initStringInfo(&in_place);
	appendStringInfo(&slot_rows, "x.%s OPERATOR(pg_catalog.=) $1 AND x.slot OPERATOR(pg_catalog.=) $2", key);
	appendStringInfo(&columns, "%s, slot", key);
	appendStringInfoString(&values, "$1, $2");
	if (intracker_counter_tables[kind].by_day)
	{
		appendStringInfo(&slot_rows, " AND x.day OPERATOR(pg_catalog.=) $%d", n + 3);
		appendStringInfoString(&columns, ", day");
		appendStringInfo(&values, ", $%d", n + 3);
	}
	for (int i = 0; i < n; i++)
	{
		const char *counter = intracker_counter_tables[kind].counters[i];

		appendStringInfo(&columns, ", %s", counter);
		appendStringInfo(&values, ", $%d", i + 3);
		appendStringInfo(&successor, ", newest.%s OPERATOR(pg_catalog.+) $%d", counter, i + 3);
		appendStringInfo(&in_place, "%s%s = x.%s OPERATOR(pg_catalog.+) EXCLUDED.%s",
						 i > 0 ? ", " : "", counter, counter, counter);
	}

	switch (write)
	{
		case REPLACE_NEWEST:
			/*
			 * No row when the slot has none, or when a concurrent writer
			 * replaced the newest first: the DELETE waited for it, then
			 * found the row gone.
			 */
			return psprintf("WITH newest AS (DELETE FROM intracker_data.%s x WHERE %s AND x.generation OPERATOR(pg_catalog.=)"
							" (SELECT x.generation FROM intracker_data.%s x WHERE %s"
							"   ORDER BY x.generation DESC LIMIT 1) RETURNING x.*)"
							" INSERT INTO intracker_data.%s (%s, generation)"
							" SELECT newest.%s, newest.slot%s%s, newest.generation OPERATOR(pg_catalog.+) 1 FROM newest",
							table, slot_rows.data, table, slot_rows.data, table, columns.data,
							key, intracker_counter_tables[kind].by_day ? ", newest.day" : "", successor.data);
		case CREATE_FIRST:
			return psprintf("INSERT INTO intracker_data.%s (%s) SELECT %s"
							" WHERE EXISTS (SELECT FROM intracker_data.%s p WHERE p.id OPERATOR(pg_catalog.=) $1)"
							"   AND NOT EXISTS (SELECT FROM intracker_data.%s x WHERE %s)"
							" ON CONFLICT DO NOTHING",
							table, columns.data, values.data, intracker_counter_tables[kind].parent, table, slot_rows.data);
		case PARENT_EXISTS:
			return psprintf("SELECT FROM intracker_data.%s p WHERE p.id OPERATOR(pg_catalog.=) $1",
							intracker_counter_tables[kind].parent);
		case UPSERT_IN_PLACE:
			return psprintf("INSERT INTO intracker_data.%s AS x (%s) SELECT %s"
							" WHERE EXISTS (SELECT FROM intracker_data.%s p WHERE p.id OPERATOR(pg_catalog.=) $1)"
							" ON CONFLICT (%s%s, slot) DO UPDATE SET %s",
							table, columns.data, values.data, intracker_counter_tables[kind].parent,
							key, intracker_counter_tables[kind].by_day ? ", day" : "", in_place.data);
		case NUM_COUNTER_WRITES:
			break;
	}
	elog(ERROR, "unknown counter write %d", (int) write);
}

/* Run one write of one kind (its kept plan); the number of rows it processed. */
static uint64
run_counter_write(CounterKind kind, CounterWrite write, Datum *values)
{
	static const int expected[NUM_COUNTER_WRITES] = {
		[REPLACE_NEWEST] = SPI_OK_INSERT, [CREATE_FIRST] = SPI_OK_INSERT,
		[PARENT_EXISTS] = SPI_OK_SELECT, [UPSERT_IN_PLACE] = SPI_OK_INSERT,
	};
	Oid			argtypes[6] = {UUIDOID, INT2OID, INT8OID, INT8OID, INT8OID, INT8OID};
	SPIPlanPtr	plan = plans[kind][write];

	if (intracker_counter_tables[kind].by_day)
		argtypes[num_params(kind) - 1] = DATEOID;
	if (plan == NULL)
	{
		char	   *sql = counter_write_sql(kind, write);

		plan = intracker_kept_plan(&plans[kind][write], sql, num_params(kind), argtypes, 0);
		pfree(sql);
	}
	/* not read-only: each write, and the check, takes a new snapshot */
	intracker_spi_expect(SPI_execute_plan(plan, values, NULL, false, write == PARENT_EXISTS ? 1 : 0),
						 expected[write], "update a progress counter");
	return SPI_processed;
}

/*
 * Add the deltas (values: as counter_write_sql's parameters) to the
 * statement's slot of one counter row.  Each try runs with a new snapshot
 * (READ COMMITTED; under REPEATABLE READ a concurrent replacement fails
 * with 40001 instead), which sees what a concurrent writer committed.
 * Nothing to do when the project or feature is gone: its counter rows went
 * with it (FK cascade), and the cascading todo deletes must not recreate
 * them.
 */
static void
add_to_slot(CounterKind kind, Datum *values, bool versioned)
{
	if (!versioned)
	{
		run_counter_write(kind, UPSERT_IN_PLACE, values);
		return;
	}
	while (run_counter_write(kind, REPLACE_NEWEST, values) == 0 &&
		   run_counter_write(kind, CREATE_FIRST, values) == 0 &&
		   run_counter_write(kind, PARENT_EXISTS, values) == 1)
		CHECK_FOR_INTERRUPTS();
}

/* The state of one trigger call while it reads the changed rows. */
typedef struct StatementProgress
{
	Relation	rel;
	HTAB	   *deltas[NUM_COUNTER_KINDS];
} StatementProgress;

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

/* Add a, b, c times sign to the statement's delta of one counter row. */
static void
add_delta(StatementProgress *statement, CounterKind kind, Datum id, DateADT day,
		  int sign, int64 a, int64 b, int64 c)
{
	CounterKey	key;
	bool		found;
	CounterDelta *delta;

	memset(&key, 0, sizeof(key));
	memcpy(&key.id, DatumGetUUIDP(id), UUID_LEN);
	key.day = day;
	delta = hash_search(statement->deltas[kind], &key, HASH_ENTER, &found);
	if (!found)
		delta->a = delta->b = delta->c = 0;
	delta->a += sign * a;
	delta->b += sign * b;
	delta->c += sign * c;
}

/* Add (sign +1) or take back (-1) what one version of a todo contributes. */
static void
add_row(StatementProgress *statement, HeapTuple tuple, int sign)
{
	TodoProgress p;

	if (tuple == NULL)
		return;
	p = progress_of(tuple, statement->rel);
	add_delta(statement, PROJECT_COUNTER, p.project_id, 0, sign, p.open, p.done, p.cancelled);
	if (p.has_day)
		add_delta(statement, DAY_COUNTER, p.project_id, p.day, sign, 1, p.points, 0);
	if (p.has_feature)
		add_delta(statement, FEATURE_COUNTER, p.feature_id, 0, sign, p.feature_total, p.feature_done, 0);
}

static void
add_changed_row(HeapTuple old_row, HeapTuple new_row, void *arg)
{
	add_row(arg, old_row, -1);
	add_row(arg, new_row, 1);
}

/* Does the delta change its counter row? */
static bool
counter_changes(const void *entry)
{
	const CounterDelta *delta = entry;

	return delta->a != 0 || delta->b != 0 || delta->c != 0;
}

static int
counter_key_cmp(const void *a, const void *b)
{
	const CounterKey *x = &(*(CounterDelta *const *) a)->key;
	const CounterKey *y = &(*(CounterDelta *const *) b)->key;
	int			cmp = memcmp(&x->id, &y->id, UUID_LEN);

	return cmp != 0 ? cmp : (x->day > y->day) - (x->day < y->day);
}

/* Write the changed counter rows of one kind (in key order). */
static void
apply_deltas(CounterDelta **changed, long num_changed, CounterKind kind, int16 slot, bool versioned)
{
	for (long i = 0; i < num_changed; i++)
	{
		Datum		values[6] = {UUIDPGetDatum(&changed[i]->key.id), Int16GetDatum(slot),
			Int64GetDatum(changed[i]->a), Int64GetDatum(changed[i]->b), Int64GetDatum(changed[i]->c)};

		if (intracker_counter_tables[kind].by_day)
			values[num_params(kind) - 1] = DateADTGetDatum(changed[i]->key.day);
		add_to_slot(kind, values, versioned);
	}
}

/*
 * The backend's slot: backend ids are dense, so up to PROGRESS_SLOTS
 * sessions connected together mostly write different slots.
 */
static int16
writer_slot(void)
{
	return (int16) ((MyBackendId > 0 ? MyBackendId - 1 : 0) % PROGRESS_SLOTS);
}

PG_FUNCTION_INFO_V1(intracker_progress_counter);
Datum
intracker_progress_counter(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = intracker_check_changes_trigger(fcinfo, "intracker_progress_counter");
	StatementProgress statement;
	CounterDelta **changed[NUM_COUNTER_KINDS];
	long		num_changed[NUM_COUNTER_KINDS];
	long		total = 0;
	bool		versioned;
	int16		slot;
	OwnerContext saved;

	/* a team's first large import gets statistics before it ends */
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		intracker_analyze_first_import(trigdata->tg_relation, tuplestore_tuple_count(trigdata->tg_newtable));

	statement.rel = trigdata->tg_relation;
	for (int kind = 0; kind < NUM_COUNTER_KINDS; kind++)
		statement.deltas[kind] = intracker_delta_table("progress deltas", sizeof(CounterKey), sizeof(CounterDelta));
	intracker_for_each_changed_row(trigdata, add_changed_row, &statement);

	/* a statement that leaves every counter as it was (a title edit) writes nothing */
	for (int kind = 0; kind < NUM_COUNTER_KINDS; kind++)
	{
		changed[kind] = (CounterDelta **) intracker_sorted_changes(statement.deltas[kind], counter_changes,
																	counter_key_cmp, &num_changed[kind]);
		total += num_changed[kind];
	}
	if (total == 0)
		return PointerGetDatum(NULL);

	intracker_become_owner(trigdata->tg_relation, &saved);
	intracker_spi_connect();
	versioned = intracker_counters_versioned();
	slot = writer_slot();
	for (int kind = 0; kind < NUM_COUNTER_KINDS; kind++)
		apply_deltas(changed[kind], num_changed[kind], kind, slot, versioned);
	SPI_finish();
	intracker_restore_user(&saved);
	return PointerGetDatum(NULL);
}
