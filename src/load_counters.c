/*-------------------------------------------------------------------------
 *
 * load_counters.c
 *	  Keep intracker_data.member_load in step with todos and features.
 *
 * Automatic assignment picks the least-loaded member, so it reads one
 * member_load row per member instead of aggregating the project's todos:
 * its cost does not grow with the number of todos.  This AFTER ROW trigger
 * keeps the counters exact on every write that changes a load: insert,
 * delete, reassignment, status change, estimate change, a move to another
 * project.
 *
 * A row contributes to its assignee's counters while it is open (todos: not
 * done or cancelled; features: not done): one todo and `estimate` points, or
 * one feature.  The trigger subtracts the old row's contribution and adds
 * the new one's, in one UPDATE when both name the same member.  It also
 * stamps last_assigned_at when a row gets a new assignee, the tie-breaker of
 * automatic assignment.
 *
 * pg_restore's INSERTs count nothing: member_load is dumped, with the
 * last_assigned_at history no row implies, and restored as it was.
 *
 * member_load rows are created with the membership and deleted with it (FK
 * cascade).  When a member is removed, the cascade that unassigns their work
 * may run after their member_load row is gone; the UPDATE then touches
 * nothing, which is right.
 *
 * The counters are bigint and the deltas int64: a member's open points are
 * a sum over todos, which no per-todo bound keeps below 2^31.
 *
 * Users cannot write member_load, so the UPDATE runs as the table owner
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
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "owner_context.h"
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

static SPIPlanPtr apply_plan = NULL;

/* $1 project, $2 user, $3..$5 deltas of todos, points, features; $6 stamp */
#define APPLY_QUERY \
	"UPDATE intracker_data.member_load" \
	"   SET open_todos = open_todos OPERATOR(pg_catalog.+) $3," \
	"       open_points = open_points OPERATOR(pg_catalog.+) $4," \
	"       open_features = open_features OPERATOR(pg_catalog.+) $5," \
	"       last_assigned_at = CASE WHEN $6 THEN pg_catalog.clock_timestamp()" \
	"                               ELSE last_assigned_at END" \
	" WHERE project_id OPERATOR(pg_catalog.=) $1" \
	"   AND user_id OPERATOR(pg_catalog.=) $2"

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

static bool
same_member(const LoadContribution *a, const LoadContribution *b)
{
	return a->counts && b->counts &&
		memcmp(DatumGetUUIDP(a->project_id), DatumGetUUIDP(b->project_id), UUID_LEN) == 0 &&
		memcmp(DatumGetUUIDP(a->user_id), DatumGetUUIDP(b->user_id), UUID_LEN) == 0;
}

/* Order of member_load rows for locking: by project, then user. */
static bool
member_precedes(const LoadContribution *a, const LoadContribution *b)
{
	int			cmp = memcmp(DatumGetUUIDP(a->project_id), DatumGetUUIDP(b->project_id), UUID_LEN);

	if (cmp == 0)
		cmp = memcmp(DatumGetUUIDP(a->user_id), DatumGetUUIDP(b->user_id), UUID_LEN);
	return cmp < 0;
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

/* Add (sign +1) or subtract (-1) a contribution; stamp the assignment time. */
static void
apply_contribution(const LoadContribution *c, int sign, bool stamp_assignment)
{
	Oid			argtypes[6] = {UUIDOID, UUIDOID, INT8OID, INT8OID, INT8OID, BOOLOID};
	Datum		values[6];

	values[0] = c->project_id;
	values[1] = c->user_id;
	values[2] = Int64GetDatum(sign * c->todos);
	values[3] = Int64GetDatum(sign * c->points);
	values[4] = Int64GetDatum(sign * c->features);
	values[5] = BoolGetDatum(stamp_assignment);
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&apply_plan, APPLY_QUERY, 6, argtypes, 0),
										  values, NULL, false, 0),
						 SPI_OK_UPDATE, "update member_load");
}

PG_FUNCTION_INFO_V1(intracker_member_load_counter);
Datum
intracker_member_load_counter(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	TupleDesc	tupdesc;
	bool		is_todo;
	LoadContribution old_c = {0};
	LoadContribution new_c = {0};
	bool		newly_assigned = false;
	OwnerContext saved;

	trigdata = intracker_check_row_trigger(fcinfo, "intracker_member_load_counter", TRIGGER_EVENT_AFTER, false, 0);
	tupdesc = trigdata->tg_relation->rd_att;
	is_todo = SPI_fnumber(tupdesc, "estimate") > 0;

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		/* member_load is restored with the rows it counts (and its history) */
		if (intracker_restoring())
			return PointerGetDatum(NULL);
		new_c = contribution_of(trigdata->tg_trigtuple, trigdata->tg_relation, is_todo);
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		old_c = contribution_of(trigdata->tg_trigtuple, trigdata->tg_relation, is_todo);
	else
	{
		old_c = contribution_of(trigdata->tg_trigtuple, trigdata->tg_relation, is_todo);
		new_c = contribution_of(trigdata->tg_newtuple, trigdata->tg_relation, is_todo);
	}

	/* A new assignee, not a status or estimate change under the same one. */
	newly_assigned = new_c.counts &&
		(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		 !assignment_unchanged(trigdata->tg_trigtuple, trigdata->tg_newtuple, trigdata->tg_relation));

	if (!old_c.counts && !new_c.counts)
		return PointerGetDatum(NULL);

	intracker_become_owner(trigdata->tg_relation, &saved);
	intracker_spi_connect();

	if (same_member(&old_c, &new_c))
	{
		LoadContribution delta = new_c;

		delta.todos -= old_c.todos;
		delta.points -= old_c.points;
		delta.features -= old_c.features;
		if (delta.todos != 0 || delta.points != 0 || delta.features != 0)
			apply_contribution(&delta, 1, false);
	}
	else if (old_c.counts && new_c.counts && member_precedes(&new_c, &old_c))
	{
		/* Two rows: always in key order, or two opposite reassignments deadlock. */
		apply_contribution(&new_c, 1, newly_assigned);
		apply_contribution(&old_c, -1, false);
	}
	else
	{
		if (old_c.counts)
			apply_contribution(&old_c, -1, false);
		if (new_c.counts)
			apply_contribution(&new_c, 1, newly_assigned);
	}

	SPI_finish();
	intracker_restore_user(&saved);
	return PointerGetDatum(NULL);
}
