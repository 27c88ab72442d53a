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
 * Rows are sharded by writer slot (a hash of the backend pid, modulo
 * PROGRESS_SLOTS), so concurrent writers in one project mostly update
 * different rows instead of queueing on one; readers sum at most
 * PROGRESS_SLOTS rows.  A slot may go negative when a backend undoes what
 * another added: only the sum has a meaning.  Two writers that share a
 * slot and write in several statements of one transaction, in opposite
 * orders, can still deadlock (40P01, safe to retry); more slots make it
 * rarer.
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
#include "utils/tuplestore.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "import_statistics.h"
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

typedef enum CounterKind
{
	PROJECT_COUNTER,
	DAY_COUNTER,
	FEATURE_COUNTER,
	NUM_COUNTER_KINDS
} CounterKind;

static SPIPlanPtr plans[NUM_COUNTER_KINDS];

/*
 * The upsert of each kind of counter row, guarded by the parent's
 * existence: when a project or feature is being deleted, its counter rows
 * go with it (FK cascade), and the cascading todo deletes must not
 * recreate them.  $1 the project or feature, $2 the slot, then the deltas
 * (and for a day, the day).
 */
static const struct
{
	const char *sql;
	int			nargs;
	Oid			argtypes[6];
}			upserts[NUM_COUNTER_KINDS] = {
	[PROJECT_COUNTER] = {
		"INSERT INTO intracker_data.project_stats AS s"
		"       (project_id, slot, todos_open, todos_done, todos_cancelled)"
		" SELECT $1, $2, $3, $4, $5"
		"  WHERE EXISTS (SELECT FROM intracker_data.projects p WHERE p.id OPERATOR(pg_catalog.=) $1)"
		" ON CONFLICT (project_id, slot) DO UPDATE"
		"   SET todos_open = s.todos_open OPERATOR(pg_catalog.+) EXCLUDED.todos_open,"
		"       todos_done = s.todos_done OPERATOR(pg_catalog.+) EXCLUDED.todos_done,"
		"       todos_cancelled = s.todos_cancelled OPERATOR(pg_catalog.+) EXCLUDED.todos_cancelled",
		5, {UUIDOID, INT2OID, INT8OID, INT8OID, INT8OID}
	},
	[DAY_COUNTER] = {
		"INSERT INTO intracker_data.project_daily_done AS s"
		"       (project_id, slot, todos_done, points_done, day)"
		" SELECT $1, $2, $3, $4, $5"
		"  WHERE EXISTS (SELECT FROM intracker_data.projects p WHERE p.id OPERATOR(pg_catalog.=) $1)"
		" ON CONFLICT (project_id, day, slot) DO UPDATE"
		"   SET todos_done = s.todos_done OPERATOR(pg_catalog.+) EXCLUDED.todos_done,"
		"       points_done = s.points_done OPERATOR(pg_catalog.+) EXCLUDED.points_done",
		5, {UUIDOID, INT2OID, INT8OID, INT8OID, DATEOID}
	},
	[FEATURE_COUNTER] = {
		"INSERT INTO intracker_data.feature_stats AS s (feature_id, slot, todos_total, todos_done)"
		" SELECT $1, $2, $3, $4"
		"  WHERE EXISTS (SELECT FROM intracker_data.features f WHERE f.id OPERATOR(pg_catalog.=) $1)"
		" ON CONFLICT (feature_id, slot) DO UPDATE"
		"   SET todos_total = s.todos_total OPERATOR(pg_catalog.+) EXCLUDED.todos_total,"
		"       todos_done = s.todos_done OPERATOR(pg_catalog.+) EXCLUDED.todos_done",
		4, {UUIDOID, INT2OID, INT8OID, INT8OID}
	},
};

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
apply_deltas(CounterDelta **changed, long num_changed, CounterKind kind, int16 slot)
{
	for (long i = 0; i < num_changed; i++)
	{
		Datum		values[5] = {UUIDPGetDatum(&changed[i]->key.id), Int16GetDatum(slot),
			Int64GetDatum(changed[i]->a), Int64GetDatum(changed[i]->b),
			kind == DAY_COUNTER ? DateADTGetDatum(changed[i]->key.day) : Int64GetDatum(changed[i]->c)};
		SPIPlanPtr	plan = intracker_kept_plan(&plans[kind], upserts[kind].sql, upserts[kind].nargs,
											   (Oid *) upserts[kind].argtypes, 0);

		intracker_spi_expect(SPI_execute_plan(plan, values, NULL, false, 0), SPI_OK_INSERT,
							 "update a progress counter");
	}
}

PG_FUNCTION_INFO_V1(intracker_progress_counter);
Datum
intracker_progress_counter(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = intracker_check_changes_trigger(fcinfo, "intracker_progress_counter");
	StatementProgress statement;
	int16		slot = (int16) (hash_bytes_uint32((uint32) MyProcPid) % PROGRESS_SLOTS);
	CounterDelta **changed[NUM_COUNTER_KINDS];
	long		num_changed[NUM_COUNTER_KINDS];
	long		total = 0;
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
	for (int kind = 0; kind < NUM_COUNTER_KINDS; kind++)
		apply_deltas(changed[kind], num_changed[kind], kind, slot);
	SPI_finish();
	intracker_restore_user(&saved);
	return PointerGetDatum(NULL);
}
