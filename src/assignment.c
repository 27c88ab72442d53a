/*-------------------------------------------------------------------------
 *
 * assignment.c
 *	  Fair, race-free assignment of todos and features, and claim_next_todo.
 *
 * Who may hold work is decided in one place, assignee.c: active owners and
 * editors who are available and below capacity (capacity = most open
 * estimate points; NULL unlimited, 0 never assigned).  Its trigger checks
 * every write that gives a row a new assignee, this file's included, so a
 * manual assignment here just writes and lets the trigger refuse it.
 * Automatic assignment gives a todo to the eligible member with the fewest
 * open points, a feature to the one with the fewest open features (then
 * points); ties go to the least recently assigned, then to the lowest user
 * id, so every choice can be explained and tested.  Loads come from
 * intracker_data.member_load, kept by the triggers of load_counters.c: one
 * row per member, whatever the number of todos.
 *
 * Concurrency: automatic assignments in one project are serialised by a
 * transaction-level advisory lock (intracker_data.lock_assignment).  Under
 * READ COMMITTED each statement after the lock sees the loads that the
 * previous assigner committed, so greedy least-loaded choices keep the
 * spread between eligible members within the largest single estimate.
 * Under REPEATABLE READ or SERIALIZABLE the snapshot predates the lock, so
 * automatic assignment refuses to run there.  The chosen member is locked
 * (intracker_lock_assignee) before the write: a member deactivated or made
 * unavailable meanwhile is passed over for the next one.
 *
 * claim_next_todo needs no lock: unassigned candidates are taken in claim
 * order with FOR UPDATE SKIP LOCKED, so two callers never get the same todo
 * (see choose_claim).  Taking an unassigned todo is an assignment to the
 * caller and follows the same rules; the caller's own todos are theirs
 * already.
 *
 * Everything else runs as the caller through SPI: RLS and the optimistic-
 * locking trigger apply to these writes as to any other.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

#include "assignee.h"
#include "claim_order.h"
#include "errcodes.h"
#include "schema.h"
#include "shared_state.h"
#include "spi_util.h"

/* The two kinds of assignable rows and what differs between them. */
typedef struct AssignableKind
{
	const char *entity;			/* singular, for messages */
	const char *table;			/* schema-qualified */
	const char *open_condition; /* SQL on alias r: the row counts as load */
	const char *estimate_expr;	/* SQL on alias r: points the row carries */
	int			feature_count;	/* features the row counts as (0 or 1) */
	const char *load_order;		/* ORDER BY of candidates, least loaded first */
} AssignableKind;

static const AssignableKind todo_kind = {
	"todo", "intracker_data.todos",
	"r.status NOT IN ('done', 'cancelled')", "r.estimate", 0,
	"load_points, last_assigned_at NULLS FIRST, user_id"
};

static const AssignableKind feature_kind = {
	"feature", "intracker_data.features",
	"r.status <> 'done'", "0", 1,
	"load_features, load_points, last_assigned_at NULLS FIRST, user_id"
};

/* Run a query whose arguments are all uuids; checks the SPI result code. */
static void
run(const char *sql, int nargs, Datum *uuids, int expected_ret)
{
	Oid			argtypes[3] = {UUIDOID, UUIDOID, UUIDOID};

	Assert(nargs <= 3);
	intracker_spi_expect(SPI_execute_plan(intracker_plan_for_text(sql, nargs, argtypes), uuids, NULL, false, 0),
						 expected_ret, "run an assignment query");
}

/* A column of row `row` of the last SPI result; valid until SPI_finish. */
static Datum
column(uint64 row, const char *name, bool *isnull)
{
	return intracker_result_datum(SPI_tuptable, row, name, isnull);
}

static char *
column_text(uint64 row, const char *name)
{
	return intracker_result_text(SPI_tuptable, row, name);
}

static char *
uuid_text(Datum uuid)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, uuid));
}

/* The caller's role in a project must be at least editor (PT401/PT404/42501). */
static Datum
require_editor_in(Datum project_id, const char *action)
{
	Datum		args[1] = {project_id};

	run(psprintf("SELECT intracker_data.require_role($1, 'editor', '%s')", action),
		1, args, SPI_OK_SELECT);
	return project_id;
}

/*
 * The project of a row, after checking that the caller is at least an
 * editor there; raises PT401, PT404 or 42501 otherwise.
 */
static Datum
require_editor_of(const char *table, const char *action, Datum row_id)
{
	Datum		args[1] = {row_id};
	bool		isnull;

	run(psprintf("SELECT intracker_data.project_of('%s'::regclass, $1) AS project_id", table),
		1, args, SPI_OK_SELECT);
	return require_editor_in(column(0, "project_id", &isnull), action);
}


static const AssignableKind *
assignable_kind(Oid entity)
{
	char	   *name = get_rel_name(entity);

	if (name != NULL && get_rel_namespace(entity) == get_namespace_oid("intracker_data", false))
	{
		if (strcmp(name, "todos") == 0)
			return &todo_kind;
		if (strcmp(name, "features") == 0)
			return &feature_kind;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("only todos and features can be assigned")));
	pg_unreachable();
}

/*
 * Automatic assignment: the least-loaded member the rules of assignee.c
 * accept, into *assignee; false when there is none.  The members are read
 * once, least loaded first (the row's own points and feature left out of
 * the load of the member who already carries it); the first one the rules
 * accept is locked and judged again on what the lock lets it read, and
 * passed over if a concurrent change made them ineligible meanwhile.
 */
static bool
choose_automatically(const AssignableKind *kind, Datum project_id, Datum row_id, Datum *assignee)
{
	Datum		args[2] = {project_id, row_id};
	bool		isnull;
	Datum		carrier;
	bool		assigned;
	bool		open;
	int64		points;
	SPITupleTable *members;
	uint64		count;

	run("SELECT intracker_data.lock_assignment($1)", 1, args, SPI_OK_SELECT);

	run(psprintf("SELECT r.assigned_to, (%s) AS open, (%s)::bigint AS points FROM %s r WHERE r.id = $2",
				 kind->open_condition, kind->estimate_expr, kind->table),
		2, args, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTRACKER_NOT_FOUND),
				 errmsg("%s %s not found", kind->entity, uuid_text(row_id))));
	carrier = column(0, "assigned_to", &isnull);
	assigned = !isnull;
	open = DatumGetBool(column(0, "open", &isnull));
	points = DatumGetInt64(column(0, "points", &isnull));

	{
		Oid			argtypes[INTRACKER_ASSIGNEE_FACTS_NARGS] = {UUIDOID, UUIDOID, INT8OID, INT8OID};
		Datum		values[INTRACKER_ASSIGNEE_FACTS_NARGS] = {project_id, carrier,
			Int64GetDatum(points), Int64GetDatum(kind->feature_count)};
		char		nulls[INTRACKER_ASSIGNEE_FACTS_NARGS] = {' ', assigned && open ? ' ' : 'n', ' ', ' '};

		SPIPlanPtr	plan = intracker_plan_for_text(psprintf("%s ORDER BY %s",
															intracker_counters_versioned()
															? INTRACKER_ASSIGNEE_FACTS_QUERY(INTRACKER_NEWEST_LOAD_ORDER)
															: INTRACKER_ASSIGNEE_FACTS_QUERY(""),
															kind->load_order),
												   INTRACKER_ASSIGNEE_FACTS_NARGS, argtypes);

		intracker_spi_expect(SPI_execute_plan(plan, values, nulls, false, 0), SPI_OK_SELECT, "read member loads");
	}
	members = SPI_tuptable;
	count = SPI_processed;

	for (uint64 i = 0; i < count; i++)
	{
		AssigneeFacts facts;
		Datum		candidate = intracker_result_datum(members, i, "user_id", &isnull);
		bool		carries = assigned && open &&
			memcmp(DatumGetUUIDP(candidate), DatumGetUUIDP(carrier), UUID_LEN) == 0;

		intracker_assignee_facts(members, i, &facts);
		if (intracker_assignee_problem(&facts, points) != ASSIGNEE_ELIGIBLE)
			continue;
		intracker_lock_assignee(project_id, candidate, carries ? points : 0, &facts);
		if (intracker_assignee_problem(&facts, points) == ASSIGNEE_ELIGIBLE)
		{
			*assignee = candidate;
			return true;
		}
	}
	return false;
}

/*
 * intracker_data.assign(entity regclass, row_id uuid, assignee uuid,
 *                       expected_version integer) returns uuid
 *
 * Assign to `assignee`, or, when it is NULL, to the least-loaded eligible
 * member.  Returns the assignee, or NULL (with a NOTICE) when automatic
 * assignment finds nobody eligible; the row is then left as it is.
 */
PG_FUNCTION_INFO_V1(intracker_assign);
Datum
intracker_assign(PG_FUNCTION_ARGS)
{
	const AssignableKind *kind;
	bool		automatic = PG_ARGISNULL(2);
	Datum		row_id;
	Datum		project_id;
	Datum		assignee;
	char	   *action;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the id of the row to assign must not be null")));
	kind = assignable_kind(PG_GETARG_OID(0));
	row_id = PG_GETARG_DATUM(1);

	if (automatic && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("automatic assignment needs READ COMMITTED isolation"),
				 errdetail("Its snapshot must include the assignments committed while it waited for its turn."),
				 errhint("Pass an assignee, or run it in a READ COMMITTED transaction.")));

	intracker_spi_connect();

	action = psprintf("assign %ss", kind->entity);
	project_id = require_editor_of(kind->table, action, row_id);

	if (automatic)
	{
		if (!choose_automatically(kind, project_id, row_id, &assignee))
		{
			ereport(NOTICE,
					(errmsg("no eligible member for %s %s; it stays as it is",
							kind->entity, uuid_text(row_id)),
					 errdetail("Eligible members are active owners and editors who are available and below capacity."),
					 errhint("See intracker.member_load for availability, capacity and load.")));
			SPI_finish();
			PG_RETURN_NULL();
		}
	}
	else
		assignee = PG_GETARG_DATUM(2);	/* the trigger of assignee.c judges it */

	{
		Oid			argtypes[3] = {UUIDOID, UUIDOID, INT4OID};
		Datum		values[3] = {row_id, assignee, PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3)};
		char		nulls[3] = {' ', ' ', PG_ARGISNULL(3) ? 'n' : ' '};

		SPIPlanPtr	plan = intracker_plan_for_text(psprintf("UPDATE %s SET assigned_to = $2,"
															" version = coalesce($3, version)"
															" WHERE id = $1", kind->table),
												   3, argtypes);

		intracker_spi_expect(SPI_execute_plan(plan, values, nulls, false, 0), SPI_OK_UPDATE, "assign");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTRACKER_NOT_FOUND),
					 errmsg("%s %s not found", kind->entity, uuid_text(row_id))));
	}
	if (automatic)
		intracker_count_activity(ACTIVITY_AUTO_ASSIGNMENT);

	/* The result must outlive SPI's memory. */
	assignee = SPI_datumTransfer(assignee, false, UUID_LEN);
	SPI_finish();
	PG_RETURN_DATUM(assignee);
}

/*
 * Claim candidates, in CLAIM_ORDER (claim_order.h).  The better of two
 * candidates is also picked by a query in that order (claims_before),
 * comparing the columns as what they are, not as text (a text key put the
 * year 12345 before 2030).
 */
#define CLAIM_CANDIDATE \
	"SELECT t.id, t.priority, t.feature_active, t.open_dependent_count, t.estimate," \
	"       to_char(t.due_date, 'YYYY-MM-DD') AS due_date," \
	"       (SELECT f.title FROM intracker_data.features f WHERE f.id = t.feature_id) AS feature_title" \
	"  FROM intracker_data.todos t" \
	" WHERE t.project_id = $1 AND t.status = 'todo' AND t.open_blocker_count = 0"

/* A candidate: the one-row result of a CLAIM_CANDIDATE query, or NULL. */
static SPITupleTable *
claim_candidate(const char *sql, Datum *args)
{
	run(sql, 2, args, SPI_OK_SELECT);
	return SPI_processed > 0 ? SPI_tuptable : NULL;
}

static char *
candidate_text(SPITupleTable *candidate, const char *name)
{
	return intracker_result_text(candidate, 0, name);
}

static Datum
candidate_id(SPITupleTable *candidate)
{
	bool		isnull;

	return intracker_result_datum(candidate, 0, "id", &isnull);
}

/* Does candidate a come before b in claim order (b may be absent)? */
static bool
claims_before(SPITupleTable *a, SPITupleTable *b)
{
	Datum		ids[2];
	bool		isnull;

	if (a == NULL)
		return false;
	if (b == NULL)
		return true;
	ids[0] = candidate_id(a);
	ids[1] = candidate_id(b);
	run("SELECT t.id FROM intracker_data.todos t WHERE t.id IN ($1, $2) ORDER BY " CLAIM_ORDER " LIMIT 1",
		2, ids, SPI_OK_SELECT);
	return SPI_processed > 0 &&
		memcmp(DatumGetUUIDP(column(0, "id", &isnull)), DatumGetUUIDP(ids[0]), UUID_LEN) == 0;
}

/* Why a todo was chosen, in words: its claim-order keys, most important first. */
static char *
claim_reason(SPITupleTable *chosen)
{
	StringInfoData reason;
	int64		unblocks = pg_strtoint64(candidate_text(chosen, "open_dependent_count"));
	char	   *feature = candidate_text(chosen, "feature_title");
	char	   *due = candidate_text(chosen, "due_date");

	initStringInfo(&reason);
	appendStringInfo(&reason, "priority %s", candidate_text(chosen, "priority"));
	if (feature != NULL && strcmp(candidate_text(chosen, "feature_active"), "t") == 0)
		appendStringInfo(&reason, "; feature \"%s\" is in progress", feature);
	if (unblocks > 0)
		appendStringInfo(&reason, "; unblocks %lld todo%s", (long long) unblocks, unblocks == 1 ? "" : "s");
	if (due != NULL)
		appendStringInfo(&reason, "; due %s", due);
	appendStringInfoString(&reason, "; oldest of its rank");
	return reason.data;
}

/* No row to claim: say what is blocked, so the caller knows what to unblock. */
static void
report_nothing_to_claim(Datum *args)
{
	char	   *blocked;

	run("SELECT string_agg(format('\"%s\" (%s open blocker%s)', t.title, t.open_blocker_count,"
		"                         CASE WHEN t.open_blocker_count = 1 THEN '' ELSE 's' END),"
		"                  ', ' ORDER BY t.priority_rank DESC, t.created_at, t.id) AS blocked"
		"  FROM (SELECT * FROM intracker_data.todos t"
		"         WHERE t.project_id = $1 AND t.status = 'todo' AND t.open_blocker_count > 0"
		"           AND (t.assigned_to IS NULL OR t.assigned_to = $2)"
		"         ORDER BY t.priority_rank DESC, t.created_at, t.id LIMIT 10) t",
		2, args, SPI_OK_SELECT);
	blocked = column_text(0, "blocked");
	ereport(NOTICE,
			(errmsg("no todo to claim in this project"),
			 blocked ? errdetail("Blocked candidates: %s.", blocked)
			 : errdetail("No open todo is unassigned or assigned to you."),
			 blocked ? errhint("Finish or cancel their blockers first.") : 0));
}

/*
 * Choose the todo to claim: the better, in claim order, of the caller's own
 * best candidate and the best unassigned one.  Each comes from its own
 * index (todos_claim_assigned, todos_claim_unassigned), so the walk never
 * steps over work assigned to others.
 *
 * Unassigned todos are contended: they are locked with SKIP LOCKED, so a
 * todo another caller is claiming is passed over, never waited for, and no
 * two callers get the same one.  To avoid locking an unassigned todo only
 * to prefer the caller's own, the best unassigned one is first peeked at
 * without a lock.  The caller's own todos are not contended (nobody else
 * may claim them) and are locked plainly.
 *
 * Taking an unassigned todo assigns it to the caller, so the rules of
 * assignee.c decide, on the caller's facts locked first (as every
 * assignment locks its assignee).  A caller who may not take it (they made
 * themselves unavailable, or it does not fit their capacity) gets their own
 * best todo instead; with none, the rule's error.
 */
static SPITupleTable *
choose_claim(Datum *args)
{
	SPITupleTable *mine;
	SPITupleTable *unassigned;
	AssigneeFacts facts;
	AssigneeProblem problem;
	bool		isnull;
	int64		points;

	mine = claim_candidate(CLAIM_CANDIDATE " AND t.assigned_to = $2"
						   " ORDER BY " CLAIM_ORDER " LIMIT 1 FOR UPDATE OF t", args);
	unassigned = claim_candidate(CLAIM_CANDIDATE " AND t.assigned_to IS NULL"
								 " ORDER BY " CLAIM_ORDER " LIMIT 1", args);
	if (!claims_before(unassigned, mine))
		return mine;

	intracker_lock_assignee(args[0], args[1], 0, &facts);
	points = DatumGetInt32(intracker_result_datum(unassigned, 0, "estimate", &isnull));
	problem = intracker_assignee_problem(&facts, points);
	if (problem == ASSIGNEE_ELIGIBLE)
	{
		SPITupleTable *locked = claim_candidate(CLAIM_CANDIDATE " AND t.assigned_to IS NULL"
												" ORDER BY " CLAIM_ORDER " LIMIT 1 FOR UPDATE OF t SKIP LOCKED",
												args);

		if (!claims_before(locked, mine))
			return mine;
		points = DatumGetInt32(intracker_result_datum(locked, 0, "estimate", &isnull));
		problem = intracker_assignee_problem(&facts, points);
		if (problem == ASSIGNEE_ELIGIBLE)
			return locked;
	}
	if (mine == NULL)
		intracker_report_assignee_problem(problem, &facts, "todo", args[1], args[0], points);
	return mine;
}

/*
 * intracker_data.claim_next_todo(project_id uuid, OUT todo_id uuid,
 *                                OUT reason text) returns setof record
 *
 * One row: the caller's todo in progress, or the todo just claimed.  No row
 * when nothing is claimable.
 */
PG_FUNCTION_INFO_V1(intracker_claim_next_todo);
Datum
intracker_claim_next_todo(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		args[2];
	bool		isnull;
	Datum		result[2];
	bool		result_nulls[2] = {false, false};
	bool		found = false;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("project_id must not be null")));

	intracker_spi_connect();

	run("SELECT intracker_data.require_user() AS me", 0, NULL, SPI_OK_SELECT);
	args[1] = column(0, "me", &isnull);
	args[0] = require_editor_in(PG_GETARG_DATUM(0), "claim todos");

	/* Already working on something: that is the answer. */
	run("SELECT t.id FROM intracker_data.todos t"
		" WHERE t.project_id = $1 AND t.assigned_to = $2 AND t.status = 'in_progress'"
		" ORDER BY t.updated_at, t.id LIMIT 1",
		2, args, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		result[0] = column(0, "id", &isnull);
		result[1] = CStringGetTextDatum("already in progress: finish it before claiming another");
		found = true;
	}
	else
	{
		SPITupleTable *chosen = choose_claim(args);

		if (chosen != NULL)
		{
			Datum		claim_args[2];

			result[0] = intracker_result_datum(chosen, 0, "id", &isnull);
			result[1] = CStringGetTextDatum(claim_reason(chosen));
			claim_args[0] = result[0];
			claim_args[1] = args[1];
			run("UPDATE intracker_data.todos SET assigned_to = $2, status = 'in_progress' WHERE id = $1",
				2, claim_args, SPI_OK_UPDATE);
			intracker_count_activity(ACTIVITY_CLAIM);
			found = true;
		}
		else
			report_nothing_to_claim(args);
	}

	if (found)
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result, result_nulls);
	SPI_finish();
	return (Datum) 0;
}
