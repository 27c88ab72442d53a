/*-------------------------------------------------------------------------
 *
 * load_counters.c
 *	  Keep intracker_data.member_load in step with todos and features.
 *
 * Automatic assignment picks the least-loaded member, so it reads one
 * member_load row per member instead of aggregating the project's todos:
 * its cost does not grow with the number of todos.  These AFTER STATEMENT
 * triggers keep the counters exact on every write that changes a load:
 * insert, delete, reassignment, status change, estimate change, a move to
 * another project.
 *
 * A row contributes to its assignee's counters while it is open (todos: not
 * done or cancelled; features: not done): one todo and `estimate` points, or
 * one feature.  The trigger reads the statement's changed rows from its
 * transition tables, adds up per member what the new rows add and the old
 * ones take away, and then replaces each member's row once, in key order,
 * by its successor a generation up (70_assignment.sql says why rows are
 * versioned): a statement of N rows costs O(N) and leaves one new version
 * per member it touched, not N (an import of 100,000 todos used to walk, at
 * each row, the versions the rows before it left); and two statements
 * never lock the same two rows in opposite orders.  It also stamps last_assigned_at
 * for a member given a row (a new assignee, not a status or estimate
 * change under the same one), the tie-breaker of automatic assignment.
 *
 * Capacity: the BEFORE ROW trigger (assignee.c) judges each new assignment
 * against the load before the statement.  When one statement gives a
 * member several todos, their sum is judged here, after the update: over
 * capacity is the same 22023 as one todo too many.
 *
 * pg_restore's INSERTs count nothing: member_load is dumped, with the
 * last_assigned_at history no row implies, and restored as it was.
 *
 * member_load rows are created with the membership and deleted with it (FK
 * cascade).  When a member is removed, the cascade that unassigns their work
 * may run after their member_load row is gone; the replacement then
 * touches nothing, which is right.
 *
 * The counters are bigint and the deltas int64: a member's open points are
 * a sum over todos, which no per-todo bound keeps below 2^31.
 *
 * A database still at 0.5 fires this function FOR EACH ROW until ALTER
 * EXTENSION UPDATE: the same code then sees one changed row at a time, and
 * updates that version's unversioned rows in place.
 *
 * Users cannot write member_load, so the replacement runs as the table owner
 * (owner_context.c explains the precautions).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "assignee.h"
#include "owner_context.h"
#include "schema.h"
#include "spi_util.h"
#include "trigger_util.h"

/* What one row adds to its assignee's counters. */
typedef struct LoadContribution
{
	bool		counts;			/* assigned and open */
	Datum		project_id;
	Datum		user_id;
	int64		todos;
	int64		points;
	int64		features;
} LoadContribution;

typedef struct MemberKey
{
	pg_uuid_t	project_id;
	pg_uuid_t	user_id;
} MemberKey;

/* What a statement changes in one member's counters. */
typedef struct MemberDelta
{
	MemberKey	key;			/* the hash key: first */
	int64		todos;
	int64		points;
	int64		features;
	int64		todos_given;	/* todos this statement gives the member */
	bool		given;			/* given any row: stamp last_assigned_at */
} MemberDelta;

/* The state of one trigger call while it reads the changed rows. */
typedef struct StatementLoad
{
	Relation	rel;
	bool		is_todo;
	HTAB	   *deltas;
} StatementLoad;

static SPIPlanPtr apply_plan = NULL;
static SPIPlanPtr apply_in_place_plan = NULL;
static SPIPlanPtr capacity_plan = NULL;

/*
 * $1 project, $2 user, $3..$5 deltas of todos, points, features; $6 stamp:
 * replace the member's newest row by its successor, a generation up (the
 * versioned rows of 70_assignment.sql).  No row when the member has none,
 * or when a concurrent writer replaced the newest one first: its DELETE
 * waited for that writer and then found the row gone.
 */
#define APPLY_QUERY \
	"WITH newest AS (" \
	"  DELETE FROM intracker_data.member_load d" \
	"   WHERE d.project_id OPERATOR(pg_catalog.=) $1 AND d.user_id OPERATOR(pg_catalog.=) $2" \
	"     AND d.generation OPERATOR(pg_catalog.=)" \
	"         (SELECT x.generation FROM intracker_data.member_load x" \
	"           WHERE x.project_id OPERATOR(pg_catalog.=) $1 AND x.user_id OPERATOR(pg_catalog.=) $2" \
	"           ORDER BY x.generation DESC LIMIT 1)" \
	"  RETURNING d.*)" \
	"INSERT INTO intracker_data.member_load" \
	"       (project_id, user_id, generation, open_todos, open_points, open_features, last_assigned_at)" \
	"SELECT project_id, user_id, generation OPERATOR(pg_catalog.+) 1," \
	"       open_todos OPERATOR(pg_catalog.+) $3, open_points OPERATOR(pg_catalog.+) $4," \
	"       open_features OPERATOR(pg_catalog.+) $5," \
	"       CASE WHEN $6 THEN pg_catalog.clock_timestamp() ELSE last_assigned_at END" \
	"  FROM newest" \
	" RETURNING open_points"

/* The same on a database still at 0.5, whose rows are updated in place. */
#define APPLY_IN_PLACE_QUERY \
	"UPDATE intracker_data.member_load" \
	"   SET open_todos = open_todos OPERATOR(pg_catalog.+) $3," \
	"       open_points = open_points OPERATOR(pg_catalog.+) $4," \
	"       open_features = open_features OPERATOR(pg_catalog.+) $5," \
	"       last_assigned_at = CASE WHEN $6 THEN pg_catalog.clock_timestamp()" \
	"                               ELSE last_assigned_at END" \
	" WHERE project_id OPERATOR(pg_catalog.=) $1" \
	"   AND user_id OPERATOR(pg_catalog.=) $2" \
	" RETURNING open_points"

/* $1 project, $2 user: the member's capacity (NULL: unlimited) */
#define CAPACITY_QUERY \
	"SELECT capacity FROM intracker_data.project_members" \
	" WHERE project_id OPERATOR(pg_catalog.=) $1 AND user_id OPERATOR(pg_catalog.=) $2"

static bool
attribute_text_equals(HeapTuple tuple, TupleDesc tupdesc, int attnum, const char *value)
{
	bool		isnull;
	Datum		datum = heap_getattr(tuple, attnum, tupdesc, &isnull);

	return !isnull && strcmp(TextDatumGetCString(datum), value) == 0;
}

/* What a row adds to its assignee's counters (nothing unless assigned and open). */
static LoadContribution
contribution_of(HeapTuple tuple, Relation rel, bool is_todo)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	LoadContribution c = {0};
	bool		isnull;
	int			status_attnum = intracker_trigger_column(rel, "status");
	bool		open;

	if (tuple == NULL)
		return c;
	c.user_id = heap_getattr(tuple, intracker_trigger_column(rel, "assigned_to"), tupdesc, &isnull);
	if (isnull)
		return c;
	if (is_todo)
		open = !attribute_text_equals(tuple, tupdesc, status_attnum, "done") &&
			!attribute_text_equals(tuple, tupdesc, status_attnum, "cancelled");
	else
		open = !attribute_text_equals(tuple, tupdesc, status_attnum, "done");
	if (!open)
		return c;

	c.counts = true;
	c.project_id = heap_getattr(tuple, intracker_trigger_column(rel, "project_id"), tupdesc, &isnull);
	if (is_todo)
	{
		c.todos = 1;
		c.points = DatumGetInt32(heap_getattr(tuple, intracker_trigger_column(rel, "estimate"), tupdesc, &isnull));
	}
	else
		c.features = 1;
	return c;
}

/* Same project and same assignee (both possibly NULL) before and after? */
static bool
assignment_unchanged(HeapTuple old_row, HeapTuple new_row, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	const char *columns[2] = {"project_id", "assigned_to"};

	for (int i = 0; i < 2; i++)
	{
		int			attnum = intracker_trigger_column(rel, columns[i]);
		bool		old_isnull;
		bool		new_isnull;
		Datum		old_value = heap_getattr(old_row, attnum, tupdesc, &old_isnull);
		Datum		new_value = heap_getattr(new_row, attnum, tupdesc, &new_isnull);

		if (old_isnull != new_isnull ||
			(!old_isnull && memcmp(DatumGetUUIDP(old_value), DatumGetUUIDP(new_value), UUID_LEN) != 0))
			return false;
	}
	return true;
}

/* The statement's delta of the member a contribution counts for. */
static MemberDelta *
delta_of(StatementLoad *statement, const LoadContribution *c)
{
	MemberKey	key;
	bool		found;
	MemberDelta *delta;

	memcpy(&key.project_id, DatumGetUUIDP(c->project_id), UUID_LEN);
	memcpy(&key.user_id, DatumGetUUIDP(c->user_id), UUID_LEN);
	delta = hash_search(statement->deltas, &key, HASH_ENTER, &found);
	if (!found)
		memset((char *) delta + sizeof(MemberKey), 0, sizeof(MemberDelta) - sizeof(MemberKey));
	return delta;
}

/* One changed row: take back the old version's contribution, add the new one's. */
static void
add_changed_row(HeapTuple old_row, HeapTuple new_row, void *arg)
{
	StatementLoad *statement = arg;
	LoadContribution old_c = contribution_of(old_row, statement->rel, statement->is_todo);
	LoadContribution new_c = contribution_of(new_row, statement->rel, statement->is_todo);
	MemberDelta *delta;

	if (old_c.counts)
	{
		delta = delta_of(statement, &old_c);
		delta->todos -= old_c.todos;
		delta->points -= old_c.points;
		delta->features -= old_c.features;
	}
	if (new_c.counts)
	{
		delta = delta_of(statement, &new_c);
		delta->todos += new_c.todos;
		delta->points += new_c.points;
		delta->features += new_c.features;
		if (old_row == NULL || !assignment_unchanged(old_row, new_row, statement->rel))
		{
			delta->given = true;
			delta->todos_given += new_c.todos;
		}
	}
}

/* Does the delta change the member's row? */
static bool
member_changes(const void *entry)
{
	const MemberDelta *delta = entry;

	return delta->todos != 0 || delta->points != 0 || delta->features != 0 || delta->given;
}

static int
member_key_cmp(const void *a, const void *b)
{
	return memcmp(&(*(MemberDelta *const *) a)->key, &(*(MemberDelta *const *) b)->key, sizeof(MemberKey));
}

/*
 * Several todos given to one member by one statement: each was judged
 * against the load before the statement (assignee.c); their sum is judged
 * now, with the same error as one todo over capacity.
 */
static void
check_capacity(const MemberDelta *delta, int64 open_points)
{
	Oid			argtypes[2] = {UUIDOID, UUIDOID};
	Datum		values[2] = {UUIDPGetDatum(&delta->key.project_id), UUIDPGetDatum(&delta->key.user_id)};
	bool		isnull;
	int64		capacity;

	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&capacity_plan, CAPACITY_QUERY, 2, argtypes, 0),
										  values, NULL, true, 0),
						 SPI_OK_SELECT, "read a member's capacity");
	if (SPI_processed == 0)
		return;
	capacity = DatumGetInt32(intracker_result_datum(SPI_tuptable, 0, "capacity", &isnull));
	if (!isnull && open_points > capacity)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("user %s has no capacity for these %lld todos",
						DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&delta->key.user_id))),
						(long long) delta->todos_given),
				 errdetail("Their open points would be %lld, over capacity %lld.",
						   (long long) open_points, (long long) capacity),
				 errhint("An owner can raise it with intracker.set_capacity().")));
}

/*
 * Replace the member's versioned row (APPLY_QUERY; values as its
 * parameters): false when the member has none.  When a concurrent writer
 * replaced it first, try again: each try runs with a new snapshot (READ
 * COMMITTED; under REPEATABLE READ the DELETE fails with 40001 instead),
 * which sees that writer's row.
 */
static bool
replace_row(Oid *argtypes, Datum *values)
{
	for (;;)
	{
		intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&apply_plan, APPLY_QUERY, 6, argtypes, 0),
											  values, NULL, false, 0),
							 SPI_OK_INSERT_RETURNING, "replace a member_load row");
		if (SPI_processed == 1)
			return true;
		if (!intracker_member_has_load(values[0], values[1]))
			return false;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Apply one member's delta (and judge its capacity when needed); versioned:
 * intracker_counters_versioned(), asked once per statement.
 */
static void
apply_delta(const MemberDelta *delta, bool versioned)
{
	Oid			argtypes[6] = {UUIDOID, UUIDOID, INT8OID, INT8OID, INT8OID, BOOLOID};
	Datum		values[6];
	bool		isnull;
	bool		applied;

	values[0] = UUIDPGetDatum(&delta->key.project_id);
	values[1] = UUIDPGetDatum(&delta->key.user_id);
	values[2] = Int64GetDatum(delta->todos);
	values[3] = Int64GetDatum(delta->points);
	values[4] = Int64GetDatum(delta->features);
	values[5] = BoolGetDatum(delta->given);
	if (versioned)
		applied = replace_row(argtypes, values);
	else
	{
		intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&apply_in_place_plan, APPLY_IN_PLACE_QUERY,
																  6, argtypes, 0),
											  values, NULL, false, 0),
							 SPI_OK_UPDATE_RETURNING, "update member_load");
		applied = SPI_processed == 1;
	}
	/* (no row: the member is gone, see the header) */
	if (applied && delta->todos_given > 1)
		check_capacity(delta, DatumGetInt64(intracker_result_datum(SPI_tuptable, 0, "open_points", &isnull)));
}

PG_FUNCTION_INFO_V1(intracker_member_load_counter);
Datum
intracker_member_load_counter(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = intracker_check_changes_trigger(fcinfo, "intracker_member_load_counter");
	StatementLoad statement;
	MemberDelta **changed;
	long		num_changed;
	bool		versioned;
	OwnerContext saved;

	/* member_load is restored with the rows it counts (and its history) */
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && intracker_restoring())
		return PointerGetDatum(NULL);

	statement.rel = trigdata->tg_relation;
	statement.is_todo = SPI_fnumber(RelationGetDescr(trigdata->tg_relation), "estimate") > 0;
	statement.deltas = intracker_delta_table("member_load deltas", sizeof(MemberKey), sizeof(MemberDelta));
	intracker_for_each_changed_row(trigdata, add_changed_row, &statement);

	/* the members whose counters change, in key order (see the header) */
	changed = (MemberDelta **) intracker_sorted_changes(statement.deltas, member_changes, member_key_cmp, &num_changed);
	if (num_changed == 0)
		return PointerGetDatum(NULL);

	intracker_become_owner(trigdata->tg_relation, &saved);
	intracker_spi_connect();
	versioned = intracker_counters_versioned();
	for (long i = 0; i < num_changed; i++)
		apply_delta(changed[i], versioned);
	SPI_finish();
	intracker_restore_user(&saved);
	return PointerGetDatum(NULL);
}
