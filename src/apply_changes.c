/*-------------------------------------------------------------------------
 *
 * apply_changes.c
 *	  The shared body of the update_* functions: validate a changes object
 *	  and apply it in one optimistic-locked UPDATE.
 *
 * intracker_data.apply_changes(entity, row_id, changes, expected_version)
 * checks that every key of changes is a column API users may update (not
 * version), and runs
 *
 *   UPDATE <entity> AS target SET <key> = changed.<key>, …, version = $2
 *     FROM jsonb_populate_record(NULL::<entity>, $1) AS changed
 *    WHERE target.id = $3
 *
 * as the caller (RLS and the triggers judge it).  The statement depends only
 * on the entity and the set of keys, and a client sends few different sets,
 * so each is planned once per session and kept (intracker_plan_for_text):
 * the PL/pgSQL version built and planned it at every call.
 *
 * Who may: an editor of the row's project.  Row-level security lets the
 * UPDATE change the row only then, so the role check
 * (require_role(project_of(…))) runs only when something fails, before the
 * error is raised (its PT401, PT404 or 42501 comes first, as it always
 * has), and after a success only for a caller whom RLS does not apply to (a
 * superuser or the tables' owner acting as a user).  The success path
 * costs the UPDATE alone: the role check's PL/pgSQL layers were a sixth of
 * update_todo.
 *
 * Errors are the API's: a value that does not convert, a CHECK, foreign-key
 * or NOT NULL violation becomes 22023 naming the field (DETAIL: the
 * constraint's comment).  To say so, the UPDATE runs in a subtransaction,
 * whose rollback leaves the session able to read the catalog for the
 * explanation; everything else is raised as it came.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/rls.h"

#include "spi_util.h"

#define API_ROLE		"intracker_user"

static SPIPlanPtr require_role_plan = NULL;
static SPIPlanPtr explain_value_plan = NULL;
static SPIPlanPtr explain_violation_plan = NULL;

/* One call: what the role check needs. */
typedef struct ChangesCall
{
	Oid			relid;
	Datum		row_id;
	bool		row_id_null;
	char	   *entity;			/* "todo": the entity's name in messages */
} ChangesCall;

/*
 * require_role(project_of(entity, row_id), 'editor', 'edit <entity>s'):
 * raises PT401 (no or an inactive user), PT404 (no such row, or not a
 * member) or 42501 (a viewer); returns when the caller is an editor.
 */
static void
check_caller(const ChangesCall *call)
{
	Oid			argtypes[3] = {REGCLASSOID, UUIDOID, TEXTOID};
	Datum		values[3] = {ObjectIdGetDatum(call->relid), call->row_id,
	CStringGetTextDatum(psprintf("edit %ss", call->entity))};

	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&require_role_plan,
															  "SELECT intracker_data.require_role("
															  "intracker_data.project_of($1, $2), 'editor', $3)",
															  3, argtypes, 0),
										  values, call->row_id_null ? " n " : NULL, true, 0),
						 SPI_OK_SELECT, "check the caller's role");
}

/* "todo" for intracker_data.todos: the entity's name in messages */
static char *
entity_name(Oid relid)
{
	char	   *name = get_rel_name(relid);
	size_t		len = strlen(name);

	if (len > 1 && name[len - 1] == 's')
		name[len - 1] = '\0';
	return name;
}

/* The top-level keys of a jsonb object, sorted and without duplicates. */
static List *
sorted_keys(Jsonb *changes)
{
	JsonbIterator *it = JsonbIteratorInit(&changes->root);
	JsonbValue	v;
	JsonbIteratorToken token;
	List	   *keys = NIL;

	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (token == WJB_KEY)
			keys = lappend(keys, pnstrdup(v.val.string.val, v.val.string.len));
	/* jsonb keeps an object's keys unique and sorted (by length, then bytes) */
	return keys;
}

/* May API users update this column of the entity? */
static bool
changeable(Oid relid, const char *column, Oid api_role)
{
	AttrNumber	attnum = get_attnum(relid, column);

	return strcmp(column, "version") != 0 && attnum > 0 &&
		pg_attribute_aclcheck(relid, attnum, api_role, ACL_UPDATE) == ACLCHECK_OK;
}

/* 22023 for a key that is not a changeable field, listing those that are. */
static void
report_unchangeable(Oid relid, const char *field, Oid api_role)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	StringInfoData list;

	initStringInfo(&list);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

		if (!attr->attisdropped && changeable(relid, NameStr(attr->attname), api_role))
			appendStringInfo(&list, "%s%s", list.len > 0 ? ", " : "", NameStr(attr->attname));
	}
	relation_close(rel, AccessShareLock);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\" of a %s cannot be changed here", field, entity_name(relid)),
			 errdetail("Changeable fields: %s.", list.data),
			 errhint(strcmp(field, "version") == 0 ? "Pass the version as expected_version."
					 : "Remove the field from changes.")));
}

/* The kept plan of the UPDATE of these keys of the entity. */
static SPIPlanPtr
update_plan(Oid relid, List *keys)
{
	char	   *relation = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													  get_rel_name(relid));
	StringInfoData sql;
	ListCell   *lc;
	Oid			argtypes[3] = {JSONBOID, INT4OID, UUIDOID};

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s AS target SET ", relation);
	foreach(lc, keys)
	{
		const char *column = quote_identifier(lfirst(lc));

		appendStringInfo(&sql, "%s = changed.%s, ", column, column);
	}
	appendStringInfo(&sql, "version = $2 FROM pg_catalog.jsonb_populate_record(NULL::%s, $1) AS changed"
					 " WHERE target.id OPERATOR(pg_catalog.=) $3", relation);

	return intracker_plan_for_text(sql.data, 3, argtypes);
}

/*
 * After the UPDATE failed (and its subtransaction was rolled back): raise
 * the API's 22023 for a value that does not convert or a violated
 * constraint, when there is something to say; return otherwise.
 */
static void
explain_failure(ErrorData *edata, Oid relid, Jsonb *changes)
{
	if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_DATA_EXCEPTION)
	{
		Oid			argtypes[2] = {REGCLASSOID, JSONBOID};
		Datum		values[2] = {ObjectIdGetDatum(relid), JsonbPGetDatum(changes)};

		intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&explain_value_plan,
																  "SELECT intracker_data.explain_bad_value($1, $2)",
																  2, argtypes, 0),
											  values, NULL, false, 0),
							 SPI_OK_SELECT, "explain a bad value");
	}
	else if (edata->sqlerrcode == ERRCODE_CHECK_VIOLATION || edata->sqlerrcode == ERRCODE_FOREIGN_KEY_VIOLATION ||
			 edata->sqlerrcode == ERRCODE_NOT_NULL_VIOLATION)
	{
		Oid			argtypes[2] = {TEXTOID, TEXTOID};
		Datum		values[2] = {CStringGetTextDatum(edata->constraint_name ? edata->constraint_name : ""),
		CStringGetTextDatum(edata->column_name ? edata->column_name : "")};

		intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&explain_violation_plan,
																  "SELECT intracker_data.explain_violation($1, $2)",
																  2, argtypes, 0),
											  values, NULL, false, 0),
							 SPI_OK_SELECT, "explain a violation");
	}
}

/* Run the UPDATE in a subtransaction; its row count, or the API's error. */
static uint64
run_update(const ChangesCall *call, SPIPlanPtr plan, Datum *values, Jsonb *changes)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	uint64		updated = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		intracker_spi_expect(SPI_execute_plan(plan, values, NULL, false, 0), SPI_OK_UPDATE, "update the row");
		updated = SPI_processed;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
		check_caller(call);
		explain_failure(edata, call->relid, changes);
		ReThrowError(edata);
	}
	PG_END_TRY();
	return updated;
}

PG_FUNCTION_INFO_V1(intracker_apply_changes);
Datum
intracker_apply_changes(PG_FUNCTION_ARGS)
{
	ChangesCall call;
	Jsonb	   *changes = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	Oid			api_role = get_role_oid(API_ROLE, false);
	List	   *keys;
	ListCell   *lc;
	Datum		values[3];
	uint64		updated;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("entity must not be null")));
	call.relid = PG_GETARG_OID(0);
	call.row_id = PG_GETARG_DATUM(1);
	call.row_id_null = PG_ARGISNULL(1);
	call.entity = entity_name(call.relid);
	intracker_spi_connect();

	if (call.row_id_null)
	{
		check_caller(&call);	/* project_of's 22023 (or PT401) */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s id must not be null", call.entity)));
	}

	if (PG_ARGISNULL(3))
	{
		check_caller(&call);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected_version must not be null"),
				 errdetail("Updates of a %s state the version they were based on.", call.entity),
				 errhint("Pass the version you read with the row.")));
	}
	if (changes == NULL || !JB_ROOT_IS_OBJECT(changes) || JB_ROOT_IS_SCALAR(changes))
	{
		check_caller(&call);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("changes must be a JSON object"),
				 errdetail("Got %s.", changes == NULL ? "NULL"
						   : TextDatumGetCString(DirectFunctionCall1(jsonb_typeof, JsonbPGetDatum(changes)))),
				 errhint("Pass an object of field names to new values, e.g. {\"title\": \"New title\"}.")));
	}
	keys = sorted_keys(changes);
	foreach(lc, keys)
	{
		if (!changeable(call.relid, lfirst(lc), api_role))
		{
			check_caller(&call);
			report_unchangeable(call.relid, lfirst(lc), api_role);
		}
	}

	values[0] = JsonbPGetDatum(changes);
	values[1] = PG_GETARG_DATUM(3);
	values[2] = call.row_id;
	updated = run_update(&call, update_plan(call.relid, keys), values, changes);
	if (updated == 0 || check_enable_rls(call.relid, InvalidOid, false) != RLS_ENABLED)
		check_caller(&call);
	if (updated == 0)
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('P', 'T', '4', '0', '4')),
				 errmsg("%s %s not found", call.entity, DatumGetCString(DirectFunctionCall1(uuid_out, call.row_id)))));
	SPI_finish();
	PG_RETURN_VOID();
}
