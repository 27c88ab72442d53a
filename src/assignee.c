/*-------------------------------------------------------------------------
 *
 * assignee.c
 *	  Who may hold work in a project: the rules of assignees, and the
 *	  trigger that applies them to every write that names one.
 *
 * An assignee of a todo or feature must be
 *
 *   1. a member of the row's project           22023 "not a member" (the
 *                                               DETAIL of the foreign key
 *                                               that also says so)
 *   2. an owner or editor, not a viewer         42501 "viewers cannot ..."
 *   3. an active user                           22023 "is inactive"
 *   4. available (set_availability)             22023 "is not available"
 *   5. within capacity (set_capacity): none     22023 "has no capacity"
 *      when it is 0, else the open points they
 *      hold plus the row's estimate at most
 *      the capacity (a feature carries none)
 *
 * The rules live here once.  intracker_assignee_problem() judges the facts
 * of a member; the BEFORE trigger intracker_check_assignee() on todos and
 * features raises its verdict for every INSERT or UPDATE that sets the
 * assignee to someone new, whatever the path: the create_* and update_*
 * functions, writes through the views (PostgREST POST and PATCH), manual
 * and automatic assignment, rebalance and claim_next_todo.  Automatic
 * assignment and claim_next_todo (assignment.c) use the same verdict to
 * choose before they write; the trigger then has the last word.
 *
 * What the trigger leaves alone:
 *   - an assignee set to NULL (unassigning, deactivation, member removal);
 *   - an UPDATE that keeps the assignee (and the project): editing other
 *     fields of a todo whose assignee has become unavailable, or reached
 *     capacity since, is not a new assignment;
 *   - rows a restore inserts (intracker_restoring, trigger_util.c): a dump
 *     holds the assignments as they were made, and a member may have been
 *     deactivated, made unavailable or given less capacity since;
 *   - an INSERT the caller's row-level security will refuse anyway (not an
 *     editor of the row's project): the check must not tell a non-member
 *     anything about another project's members before RLS refuses the row.
 *
 * Concurrency: the check locks what it reads until the transaction ends,
 * so that a concurrent change either committed before (and is read) or
 * waits for this assignment and then sees it:
 *   - the user row and the membership FOR SHARE: deactivation (which then
 *     unassigns the new work with the rest), a role, availability or
 *     capacity change, and removal from the project wait;
 *   - when the member's capacity is limited, its member_load row (the
 *     newest generation, locked again when a concurrent writer replaced it
 *     meanwhile) FOR NO KEY UPDATE: two concurrent assignments to one
 *     member cannot both fit
 *     into the room only one of them fits.  A member without a limit has
 *     no room to share, and its load row is left to the statement's
 *     counter update (load_counters.c), which takes the rows in key order:
 *     locked here too, row by row, they were taken in the order of the
 *     rows, and two bulk statements assigning to the same members
 *     deadlocked (test/t/027_bulk_counters.pl counted 178 such deadlocks
 *     in 800 transactions).  The membership lock keeps the capacity as it
 *     was read until the transaction ends.
 * Each statement after a lock reads a fresh snapshot (READ COMMITTED); under
 * REPEATABLE READ a lock on a row changed since the snapshot fails with a
 * serialization error instead.
 *
 * The reads and locks run as the owner of the tables (owner_context.c): the
 * facts are not limited by what the caller may see, and the caller needs
 * no privilege on users or member_load beyond what the API gives.
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
#include "utils/rls.h"
#include "utils/uuid.h"

#include "assignee.h"
#include "owner_context.h"
#include "schema.h"
#include "spi_util.h"
#include "trigger_util.h"

static SPIPlanPtr lock_member_plan = NULL;
/* [versioned]: a plan per kind of member_load rows (schema.h) */
static SPIPlanPtr lock_load_plans[2];
static SPIPlanPtr has_load_plan = NULL;
static SPIPlanPtr member_facts_plans[2];
static SPIPlanPtr edits_project_plan = NULL;

/* $1 project, $2 user: lock the membership and the user row; is the capacity limited? */
#define LOCK_MEMBER_QUERY \
	"SELECT m.capacity IS NOT NULL AS limited FROM intracker_data.project_members m" \
	"  JOIN intracker_data.users u ON u.id OPERATOR(pg_catalog.=) m.user_id" \
	" WHERE m.project_id OPERATOR(pg_catalog.=) $1 AND m.user_id OPERATOR(pg_catalog.=) $2" \
	"   FOR SHARE OF m, u"

/*
 * Lock the live load row of member ($1, $2) (load_order: see schema.h).
 * No row when the member has none, or when a concurrent writer replaced a
 * versioned row while this waited (the row locked is then gone):
 * intracker_lock_assignee tries again.
 */
#define LOCK_LOAD_QUERY(load_order) \
	"SELECT FROM intracker_data.member_load x" \
	" WHERE x.project_id OPERATOR(pg_catalog.=) $1 AND x.user_id OPERATOR(pg_catalog.=) $2" \
	" " load_order " LIMIT 1" \
	"   FOR NO KEY UPDATE OF x"

/* The facts of member ($1 project, $5 user); see INTRACKER_ASSIGNEE_FACTS_QUERY. */
#define MEMBER_FACTS_QUERY(load_order) \
	INTRACKER_ASSIGNEE_FACTS_QUERY(load_order) " AND m.user_id OPERATOR(pg_catalog.=) $5"

/* $1 project, $2 user: has the member a load row? */
#define HAS_LOAD_QUERY \
	"SELECT FROM intracker_data.member_load l" \
	" WHERE l.project_id OPERATOR(pg_catalog.=) $1 AND l.user_id OPERATOR(pg_catalog.=) $2 LIMIT 1"

/* $1 project: is the acting user an editor or owner there (as RLS would have it)? */
#define EDITS_PROJECT_QUERY \
	"SELECT coalesce(intracker_data.role_rank(intracker_data.my_role($1))" \
	"                OPERATOR(pg_catalog.>=) intracker_data.role_rank('editor'), false) AS edits"

/* Run a kept plan (prepared on first use) of a SELECT; checks the result code. */
static void
select_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, Datum *values, const char *nulls,
			bool read_only, const char *what)
{
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(plan, sql, nargs, argtypes, 0),
										  values, nulls, read_only, 0),
						 SPI_OK_SELECT, what);
}

static char *
uuid_text(Datum uuid)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, uuid));
}

/*
 * The facts of the member in row `row` of a result of
 * INTRACKER_ASSIGNEE_FACTS_QUERY.
 */
void
intracker_assignee_facts(SPITupleTable *result, uint64 row, AssigneeFacts *facts)
{
	bool		isnull;
	char	   *role = intracker_result_text(result, row, "role");
	Datum		capacity = intracker_result_datum(result, row, "capacity", &isnull);

	facts->member = true;
	facts->limited = !isnull;
	facts->capacity = isnull ? 0 : DatumGetInt32(capacity);
	facts->holds_work = strcmp(role, "owner") == 0 || strcmp(role, "editor") == 0;
	facts->active = DatumGetBool(intracker_result_datum(result, row, "is_active", &isnull));
	facts->available = DatumGetBool(intracker_result_datum(result, row, "available", &isnull));
	facts->load_points = DatumGetInt64(intracker_result_datum(result, row, "load_points", &isnull));
}

/*
 * The first rule a member with these facts breaks by taking a row that
 * carries `points` open points (a todo's estimate; 0 for a feature), or
 * ASSIGNEE_ELIGIBLE.  The capacity test is written so that it cannot
 * overflow: capacity is an integer and points at most an integer, so
 * capacity - points fits an int64 whatever the load.
 */
AssigneeProblem
intracker_assignee_problem(const AssigneeFacts *facts, int64 points)
{
	if (!facts->member)
		return ASSIGNEE_NOT_MEMBER;
	if (!facts->holds_work)
		return ASSIGNEE_VIEWER;
	if (!facts->active)
		return ASSIGNEE_INACTIVE;
	if (!facts->available)
		return ASSIGNEE_UNAVAILABLE;
	if (facts->limited && (facts->capacity == 0 || facts->load_points > facts->capacity - points))
		return ASSIGNEE_NO_CAPACITY;
	return ASSIGNEE_ELIGIBLE;
}

/* Raise the error of a broken rule (nothing for ASSIGNEE_ELIGIBLE). */
void
intracker_report_assignee_problem(AssigneeProblem problem, const AssigneeFacts *facts, const char *entity,
								  Datum user_id, Datum project_id, int64 points)
{
	char	   *who = uuid_text(user_id);
	char	   *project = uuid_text(project_id);

	switch (problem)
	{
		case ASSIGNEE_ELIGIBLE:
			return;
		case ASSIGNEE_NOT_MEMBER:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("user %s is not a member of project %s", who, project),
					 errdetail("assigned_to must be a member of the project."),
					 errhint("Add them with intracker.add_member() first.")));
			break;
		case ASSIGNEE_VIEWER:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("viewers cannot be assigned work"),
					 errdetail("User %s is a viewer of project %s.", who, project),
					 errhint("Make them an editor with intracker.add_member() first.")));
			break;
		case ASSIGNEE_INACTIVE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("user %s is inactive", who)));
			break;
		case ASSIGNEE_UNAVAILABLE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("user %s is not available in project %s", who, project),
					 errhint("They can become available again with intracker.set_availability().")));
			break;
		case ASSIGNEE_NO_CAPACITY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("user %s has no capacity for this %s", who, entity),
					 errdetail("Open points %lld plus this %s's %lld would exceed capacity %lld.",
							   (long long) facts->load_points, entity, (long long) points,
							   (long long) facts->capacity),
					 errhint("An owner can raise it with intracker.set_capacity().")));
			break;
	}
}

/*
 * Has member (project_id, user_id) a member_load row, as a new snapshot
 * sees it (READ COMMITTED)?  Asked by a writer that found the member's
 * versioned row replaced by a concurrent one: if so, it tries again on
 * the new row.  Within an SPI connection, as the tables' owner.
 */
bool
intracker_member_has_load(Datum project_id, Datum user_id)
{
	Oid			argtypes[2] = {UUIDOID, UUIDOID};
	Datum		values[2] = {project_id, user_id};

	select_kept(&has_load_plan, HAS_LOAD_QUERY, 2, argtypes, values, NULL, false, "look for a member's load");
	return SPI_processed > 0;
}

/*
 * The facts of user_id in project_id, read after locking them (see the
 * header): the membership and the user row, then, when its capacity is
 * limited, the member's load row.  The load leaves out carried_points, the
 * open points of the row at hand when this member already carries them.
 * Runs as the owner of the tables.
 */
void
intracker_lock_assignee(Datum project_id, Datum user_id, int64 carried_points, AssigneeFacts *facts)
{
	OwnerContext saved;
	Oid			member_types[2] = {UUIDOID, UUIDOID};
	Datum		member[2] = {project_id, user_id};
	Oid			facts_types[5] = {UUIDOID, UUIDOID, INT8OID, INT8OID, UUIDOID};
	Datum		facts_args[5] = {project_id, user_id, Int64GetDatum(carried_points), Int64GetDatum(0), user_id};
	bool		isnull;
	bool		versioned = intracker_counters_versioned();

	intracker_become_data_owner(&saved);
	intracker_spi_connect();

	select_kept(&lock_member_plan, LOCK_MEMBER_QUERY, 2, member_types, member, NULL, false,
				"lock an assignee");
	if (SPI_processed > 0 && DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "limited", &isnull)))
	{
		for (;;)
		{
			select_kept(&lock_load_plans[versioned],
						versioned ? LOCK_LOAD_QUERY(INTRACKER_NEWEST_LOAD_ORDER) : LOCK_LOAD_QUERY(""),
						2, member_types, member, NULL, false, "lock a member's load");
			if (SPI_processed > 0 || !intracker_member_has_load(project_id, user_id))
				break;
			CHECK_FOR_INTERRUPTS();
		}
	}
	select_kept(&member_facts_plans[versioned],
				versioned ? MEMBER_FACTS_QUERY(INTRACKER_NEWEST_LOAD_ORDER) : MEMBER_FACTS_QUERY(""),
				5, facts_types, facts_args, NULL, false, "read an assignee's facts");

	memset(facts, 0, sizeof(AssigneeFacts));
	if (SPI_processed > 0)
		intracker_assignee_facts(SPI_tuptable, 0, facts);

	SPI_finish();
	intracker_restore_user(&saved);
}

/*
 * May the acting user write rows of the project, as the table's INSERT
 * policy will judge?  Asked as the owner, like the policy's own helpers.
 */
static bool
acting_user_edits(Datum project_id)
{
	OwnerContext saved;
	Oid			argtypes[1] = {UUIDOID};
	Datum		args[1] = {project_id};
	bool		isnull;
	bool		edits;

	intracker_become_data_owner(&saved);
	intracker_spi_connect();
	select_kept(&edits_project_plan, EDITS_PROJECT_QUERY, 1, argtypes, args, NULL, true,
				"check the acting user's role");
	edits = DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "edits", &isnull));
	SPI_finish();
	intracker_restore_user(&saved);
	return edits;
}

/*
 * intracker_data.check_assignee() returns trigger
 *
 * BEFORE INSERT OR UPDATE OF assigned_to, project_id FOR EACH ROW on todos
 * and features; the argument names the entity for messages ("todo").
 * Refuses a row whose new assignee breaks a rule (see the header).
 */
PG_FUNCTION_INFO_V1(intracker_check_assignee);
Datum
intracker_check_assignee(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	TupleDesc	tupdesc;
	HeapTuple	row;
	bool		inserting;
	int			assignee_attnum;
	int			project_attnum;
	int			estimate_attnum;
	bool		isnull;
	Datum		assignee;
	Datum		project_id;
	int64		points = 0;
	AssigneeFacts facts;

	trigdata = intracker_check_row_trigger(fcinfo, "intracker_check_assignee", TRIGGER_EVENT_BEFORE, false, 1);
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("intracker_check_assignee: must be fired on insert or update")));
	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);
	inserting = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	row = inserting ? trigdata->tg_trigtuple : trigdata->tg_newtuple;
	assignee_attnum = intracker_trigger_column(rel, "assigned_to");
	project_attnum = intracker_trigger_column(rel, "project_id");

	assignee = heap_getattr(row, assignee_attnum, tupdesc, &isnull);
	if (isnull)
		return PointerGetDatum(row);
	project_id = heap_getattr(row, project_attnum, tupdesc, &isnull);
	if (isnull)
		return PointerGetDatum(row);	/* NOT NULL refuses the row */

	if (inserting)
	{
		if (intracker_restoring())
			return PointerGetDatum(row);
		if (check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED &&
			!acting_user_edits(project_id))
			return PointerGetDatum(row);
	}
	else
	{
		HeapTuple	old_row = trigdata->tg_trigtuple;

		if (!intracker_column_changed(old_row, row, tupdesc, assignee_attnum) &&
			!intracker_column_changed(old_row, row, tupdesc, project_attnum))
			return PointerGetDatum(row);
	}

	/* Todos carry their estimate; features no points. */
	estimate_attnum = SPI_fnumber(tupdesc, "estimate");
	if (estimate_attnum > 0)
	{
		Datum		estimate = heap_getattr(row, estimate_attnum, tupdesc, &isnull);

		points = isnull ? 0 : DatumGetInt32(estimate);
	}

	intracker_lock_assignee(project_id, assignee, 0, &facts);
	intracker_report_assignee_problem(intracker_assignee_problem(&facts, points), &facts,
									  trigdata->tg_trigger->tgargs[0], assignee, project_id, points);
	return PointerGetDatum(row);
}
