/*-------------------------------------------------------------------------
 *
 * context.c
 *	  What the two context documents share: their settings, the call's
 *	  prologue and epilogue, reading query results into JSON, and the
 *	  pieces both show (the project, todos with their blockers).
 *
 * team_context() (team_context.c) and resume_context() (resume_context.c)
 * are what an agent reads to know the team's state, or to resume its own
 * work, as one bounded JSON document.  Design:
 *
 * - One snapshot.  Both functions are STABLE and run every query read-only
 *   through SPI, so all of them see the calling statement's snapshot: the
 *   document never shows half of a concurrent transaction.
 *
 * - Cost follows what is shown, not the project's history.  Totals and
 *   feature progress come from the counters of progress_counters.c and
 *   load_counters.c; lists are top-N scans of partial indexes that hold open
 *   todos only (todos_member_open, todos_blocked_open).
 *
 * - Built once, in memory, with jansson (json_document.c), then handed to
 *   jsonb_in: no JSON is assembled from strings.  The document is owned by
 *   SPI's memory context, so an ERROR half-way leaks nothing.
 *
 * - Bounded.  intracker.context_todo_limit caps each list;
 *   intracker.context_max_bytes caps the serialized document: over it,
 *   context_trim.c cuts what matters least, and the "omitted" object says
 *   what was left out and how to fetch it.
 *
 * - context_version is a hash of the document's content (all but
 *   generated_at), so it changes exactly when something shown changed.
 *
 * - Privacy: a viewer sees other members' last sessions without summary and
 *   next steps (those are working notes for the people doing the work).
 *
 * - Reading: the caller's membership is checked once, first; then every
 *   query runs as the owner of intracker_data (owner_context.c) and is
 *   filtered by the project itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/guc.h"

#include "context.h"
#include "context_trim.h"
#include "json_document.h"
#include "owner_context.h"
#include "schema.h"
#include "spi_util.h"

/* (json_document.h says why utils/builtins.h is not included) */
extern Datum jsonb_in(PG_FUNCTION_ARGS);
extern Datum uuid_out(PG_FUNCTION_ARGS);
extern text *cstring_to_text(const char *s);

static int	context_todo_limit = 10;
static int	context_max_bytes = 32 * 1024;

/*
 * Each query is planned once per session: the texts are the constants at
 * the call sites, so their addresses identify them (MAX_CONTEXT_QUERIES of
 * them in both documents).
 */
#define MAX_CONTEXT_QUERIES 16

static struct
{
	const char *sql;
	SPIPlanPtr	plan;
}			prepared_queries[MAX_CONTEXT_QUERIES];

void
ContextInit(void)
{
	DefineCustomIntVariable("intracker.context_todo_limit",
							"Most items per list in team_context and resume_context.",
							"Applies to each member's open todos, shared blockers, features in progress, recent activity and documents.",
							&context_todo_limit,
							10, 0, 1000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("intracker.context_max_bytes",
							"Largest team_context or resume_context document, in bytes.",
							"Longer documents are trimmed, least important items first, and say what they omitted.",
							&context_max_bytes,
							32 * 1024, 1024, 16 * 1024 * 1024,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
}

/* ----------------------------------------------------------------
 * Queries and their results
 * ----------------------------------------------------------------
 */

/* The kept plan of a context query, prepared on its first use. */
static SPIPlanPtr
prepared_query(const char *sql)
{
	Oid			argtypes[3] = {UUIDOID, UUIDOID, INT4OID};
	int			i;

	for (i = 0; i < MAX_CONTEXT_QUERIES && prepared_queries[i].sql != NULL; i++)
		if (prepared_queries[i].sql == sql)
			break;
	if (i == MAX_CONTEXT_QUERIES)
		elog(ERROR, "more context queries than MAX_CONTEXT_QUERIES");
	/* (a slot whose preparation failed keeps a NULL plan and is prepared again) */
	prepared_queries[i].sql = sql;
	return intracker_kept_plan(&prepared_queries[i].plan, sql, 3, argtypes, CURSOR_OPT_GENERIC_PLAN);
}

/*
 * Run a read-only query whose arguments are a project, a user and a list
 * limit ($1 uuid, $2 uuid, $3 integer; a query may use fewer).  The plan
 * cache replans when a table changes.  The plans are generic from the
 * start: every query walks an index from a project (and member) to at most
 * a list limit of rows, a shape that does not depend on the values, and
 * planning them afresh on every call (custom plans) cost a tenth of
 * team_context's time.
 */
void
intracker_context_query(const char *sql, Datum project_id, Datum user_id, int limit)
{
	Datum		values[3] = {project_id, user_id, Int32GetDatum(limit)};
	char		nulls[3] = {' ', user_id == (Datum) 0 ? 'n' : ' ', ' '};

	intracker_spi_expect(SPI_execute_plan(prepared_query(sql), values, nulls, true, 0),
						 SPI_OK_SELECT, "run a context query");
}

/* Column name of row `row` of the last query, as text (NULL for NULL). */
char *
intracker_context_col(uint64 row, const char *name)
{
	return intracker_result_text(SPI_tuptable, row, name);
}

bool
intracker_context_col_is_null(uint64 row, const char *name)
{
	return intracker_context_col(row, name) == NULL;
}

/* The JSON value of a column, by type. */
static json_t *
col_value(uint64 row, const char *name, FieldType type)
{
	char	   *v = intracker_context_col(row, name);

	switch (type)
	{
		case FIELD_TEXT:
			return intracker_json_text(v);
		case FIELD_INT:
			return v ? json_integer(strtoll(v, NULL, 10)) : json_null();
		case FIELD_BOOL:
			return v ? json_boolean(v[0] == 't') : json_null();
		case FIELD_JSON:
			return intracker_json_from_server(v);
	}
	pg_unreachable();
}

/* Copy the columns of row `row` described by fields into object. */
void
intracker_context_put_fields(json_t *object, uint64 row, const Field *fields, int nfields)
{
	for (int i = 0; i < nfields; i++)
		intracker_json_put(object, fields[i].key,
						   col_value(row, fields[i].column ? fields[i].column : fields[i].key, fields[i].type));
}

/* ----------------------------------------------------------------
 * Pieces of both documents
 * ----------------------------------------------------------------
 */

static const Field project_fields[] = {
	{"id", NULL, FIELD_TEXT}, {"name", NULL, FIELD_TEXT}, {"status", NULL, FIELD_TEXT},
	{"description", NULL, FIELD_TEXT}, {"github_repo", NULL, FIELD_TEXT}, {"notes", NULL, FIELD_JSON},
};

/*
 * The project and its notes.  jansson holds numbers as doubles and 64-bit
 * integers, so the notes (any JSON a user wrote) are put back from their
 * jsonb text at the end (finish_document); the parsed copy here only
 * serves the size estimate.
 */
void
intracker_context_put_project(ContextCall *call)
{
	json_t	   *project = intracker_json_put_object(call->root, "project");

	intracker_context_query("SELECT p.id, p.name, p.status, p.description, p.github_repo,"
							"       p.resume_context::text AS notes"
							"  FROM intracker_data.projects p WHERE p.id = $1",
							call->project_id, (Datum) 0, 0);
	PUT_FIELDS(project, 0, project_fields);
	call->notes = intracker_context_col(0, "notes");
}

static const Field todo_fields[] = {
	{"id", NULL, FIELD_TEXT}, {"title", NULL, FIELD_TEXT}, {"status", NULL, FIELD_TEXT},
	{"priority", NULL, FIELD_TEXT}, {"estimate", NULL, FIELD_INT}, {"due_date", NULL, FIELD_TEXT},
	{"version", NULL, FIELD_INT},
};

/* A todo object (TODO_COLUMNS of row `row`) appended to array. */
json_t *
intracker_context_append_todo(json_t *array, uint64 row)
{
	json_t	   *todo = intracker_json_append_object(array);

	PUT_FIELDS(todo, row, todo_fields);
	return todo;
}

/*
 * Rows of a result with one row per (todo, open blocker), in order, become
 * todo objects with a "blocked_by" list.  Returns the todo object of `row`:
 * `current` (the previous row's) when the row adds a blocker to it.
 */
static json_t *
append_todo_with_blockers(json_t *array, uint64 row, json_t *current)
{
	if (current == NULL ||
		strcmp(json_string_value(json_object_get(current, "id")), intracker_context_col(row, "id")) != 0)
	{
		current = intracker_context_append_todo(array, row);
		intracker_json_put_array(current, "blocked_by");
	}
	if (!intracker_context_col_is_null(row, "blocker_id"))
	{
		static const Field blocker_fields[] = {
			{"id", "blocker_id", FIELD_TEXT}, {"title", "blocker_title", FIELD_TEXT},
			{"status", "blocker_status", FIELD_TEXT}, {"assigned_to", "blocker_assigned_to", FIELD_TEXT},
		};

		PUT_FIELDS(intracker_json_append_object(json_object_get(current, "blocked_by")), row, blocker_fields);
	}
	return current;
}

/*
 * Every row of the last query, with TODO_COLUMNS, BLOCKER_COLUMNS and the
 * columns of `extra`, one row per (todo, open blocker) in order: appended
 * to array as todo objects with their "blocked_by" list and extra fields.
 */
void
intracker_context_append_blocked_todos(json_t *array, const Field *extra, int nextra)
{
	json_t	   *current = NULL;

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		current = append_todo_with_blockers(array, i, current);
		intracker_context_put_fields(current, i, extra, nextra);
	}
}

#define DOCUMENTS_QUERY \
	"SELECT d.id, d.title, d.kind, to_json(d.updated_at) #>> '{}' AS updated_at" \
	"  FROM intracker_data.documents d WHERE d.project_id = $1" \
	" ORDER BY d.updated_at DESC, d.id LIMIT $3"
#define DOCUMENT_COUNT_QUERY \
	"SELECT count(*) AS documents FROM intracker_data.documents d WHERE d.project_id = $1"

/*
 * The project's documents (0.6), most recently updated first, as titles
 * and ids (an agent reads the bodies it needs), into "documents"; what the
 * list limit leaves out is counted in "omitted".  Returns the list for the
 * trim plan, whose least important list it is.  A database not yet updated
 * to 0.6 has no documents: the list stays empty.
 */
TrimmableList
intracker_context_put_documents(ContextCall *call)
{
	json_t	   *documents = intracker_json_put_array(call->root, "documents");
	char	   *fetch = psprintf("SELECT id, title, kind, updated_at FROM intracker.documents WHERE project_id = '%s'"
								 " ORDER BY updated_at DESC", call->project);

	if (intracker_missing_schema("documents") == NULL)
	{
		static const Field document_fields[] = {
			{"id", NULL, FIELD_TEXT}, {"title", NULL, FIELD_TEXT}, {"kind", NULL, FIELD_TEXT},
			{"updated_at", NULL, FIELD_TEXT},
		};

		intracker_context_query(DOCUMENTS_QUERY, call->project_id, (Datum) 0, call->list_limit);
		for (uint64 i = 0; i < SPI_processed; i++)
			PUT_FIELDS(intracker_json_append_object(documents), i, document_fields);
		if (SPI_processed == (uint64) call->list_limit)
		{
			int			total;

			intracker_context_query(DOCUMENT_COUNT_QUERY, call->project_id, (Datum) 0, 0);
			total = atoi(intracker_context_col(0, "documents"));
			if (total > call->list_limit)
				intracker_count_omission(call->root, "documents", total - call->list_limit, fetch);
		}
	}
	return (TrimmableList)
	{
		documents, NULL, "documents", fetch, NULL
	};
}

/* ----------------------------------------------------------------
 * Prologue and epilogue
 * ----------------------------------------------------------------
 */

/*
 * Bytes that finish_document adds after trimming: the context_version and
 * generated_at members (compact form, with their separating commas).
 */
static size_t
finishing_bytes(const char *generated_at)
{
	return strlen(", \"context_version\": \"0123456789abcdef\", \"generated_at\": \"\"") + strlen(generated_at);
}

/* A trim plan for the call's document, with nothing to cut yet but its notes. */
void
intracker_context_trim_plan(ContextCall *call, TrimPlan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->doc = call->root;
	plan->max_bytes = context_max_bytes;
	plan->reserved = finishing_bytes(call->generated_at);
	plan->notes = &call->notes;
	plan->notes_fetch = psprintf("SELECT resume_context FROM intracker.projects WHERE id = '%s'", call->project);
}

/* Finish: content hash, time stamp, and the jsonb result. */
static Datum
finish_document(ContextCall *call)
{
	char	   *content;
	uint64		hash;
	Datum		result;

	content = intracker_json_dump(call->root, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
	hash = hash_bytes_extended((const unsigned char *) content, (int) strlen(content), 0);
	pfree(content);
	if (call->notes != NULL)
		hash = hash_combine64(hash, hash_bytes_extended((const unsigned char *) call->notes,
														(int) strlen(call->notes), 0));

	intracker_json_put(call->root, "context_version",
					   intracker_json_text(psprintf("%016" INT64_MODIFIER "x", hash)));
	intracker_json_put(call->root, "generated_at", intracker_json_text(call->generated_at));

	result = DirectFunctionCall1(jsonb_in,
								 CStringGetDatum(intracker_json_dump(call->root, JSON_COMPACT | JSON_REAL_PRECISION(6))));
	if (call->notes != NULL)
	{
		Oid			argtypes[2] = {JSONBOID, TEXTOID};
		Datum		values[2] = {result, PointerGetDatum(cstring_to_text(call->notes))};
		bool		isnull;

		intracker_spi_expect(SPI_execute_with_args("SELECT pg_catalog.jsonb_set($1, '{project,notes}',"
												   " $2::pg_catalog.jsonb) AS document",
												   2, argtypes, values, NULL, true, 1),
							 SPI_OK_SELECT, "put the project notes into the context document");
		result = intracker_result_datum(SPI_tuptable, 0, "document", &isnull);
	}
	/* Built in SPI's memory, which SPI_finish frees: copy it out. */
	return SPI_datumTransfer(result, false, -1);
}

/*
 * What both documents start with: check the argument, open SPI, start the
 * document (in SPI's memory), check that the caller is a member (PT401 /
 * PT404 otherwise), then read as the data's owner.
 */
void
intracker_context_begin(FunctionCallInfo fcinfo, ContextCall *call)
{
	bool		isnull;

	memset(call, 0, sizeof(*call));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("project_id must not be null")));
	call->project_id = PG_GETARG_DATUM(0);
	call->list_limit = context_todo_limit;

	intracker_spi_connect();
	call->root = intracker_json_owned(intracker_json_new_object());
	intracker_context_query("SELECT intracker_data.require_role($1, 'viewer', 'read the project context') AS role,"
							"       intracker.current_user_id() AS me,"
							"       to_json(now()) #>> '{}' AS now",
							call->project_id, (Datum) 0, 0);
	call->role = intracker_context_col(0, "role");
	call->me = intracker_result_datum(SPI_tuptable, 0, "me", &isnull);
	call->generated_at = intracker_context_col(0, "now");
	call->project = DatumGetCString(DirectFunctionCall1(uuid_out, call->project_id));
	intracker_become_data_owner(&call->owner);
}

/* What both end with: finish the document as the caller, close SPI. */
Datum
intracker_context_end(ContextCall *call)
{
	Datum		result;

	intracker_restore_user(&call->owner);
	result = finish_document(call);
	SPI_finish();
	return result;
}
