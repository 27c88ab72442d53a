/*-------------------------------------------------------------------------
 *
 * context.c
 *	  team_context() and resume_context(): what an agent reads to know the
 *	  team's state, or to resume its own work, as one bounded JSON document.
 *
 * Design:
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
 * - Built once, in memory, with jansson, then handed to jsonb_in: no JSON is
 *   assembled from strings.  Text that is not valid UTF-8 (only possible
 *   under a non-UTF8 server encoding) has its bad bytes replaced, so the
 *   output is always valid JSON.  jansson allocates with malloc; the
 *   document root is released by a memory-context reset callback, so an
 *   ERROR half-way leaks nothing.  Every value is attached to the root as
 *   soon as it is created, so the root owns everything.
 *
 * - Bounded.  intracker.context_todo_limit caps each list;
 *   intracker.context_max_bytes caps the serialized document: over it,
 *   lists are trimmed from their least important end, then long texts, and
 *   the "omitted" object says what was left out and how to fetch it.
 *
 * - context_version is a hash of the document's content (all but
 *   generated_at), so it changes exactly when something shown changed.
 *
 * - Privacy: a viewer sees other members' last sessions without summary and
 *   next steps (those are working notes for the people doing the work).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "intracker.h"
#include "spi_util.h"

/*
 * PostgreSQL has a function named json_object too (the SQL json_object()),
 * so utils/builtins.h cannot be included next to jansson.h: declare the
 * built-ins used here.  For the same reason a call to jansson's
 * json_object() from this library would bind to the server's function at
 * run time; new_object() goes through json_pack, whose own call stays
 * inside libjansson.
 */
extern Datum jsonb_in(PG_FUNCTION_ARGS);
extern Datum uuid_out(PG_FUNCTION_ARGS);
extern text *cstring_to_text(const char *s);

static int	context_todo_limit = 10;
static int	context_max_bytes = 32 * 1024;

/* Longest description or summary kept when the document must shrink. */
#define TRIMMED_TEXT_BYTES 280

void
ContextInit(void)
{
	DefineCustomIntVariable("intracker.context_todo_limit",
							"Most items per list in team_context and resume_context.",
							"Applies to each member's open todos, shared blockers, features in progress and recent activity.",
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

/*
 * The document root, released when the memory context it was registered
 * in is reset or deleted: at the end of the call, or on error.
 */
typedef struct JsonDocument
{
	json_t	   *root;
	json_t	   *members_by_user;	/* team_context: user id -> member object */
	char	   *notes;			/* project notes as the server wrote them */
	MemoryContextCallback callback;
} JsonDocument;

static void
release_document(void *arg)
{
	JsonDocument *doc = (JsonDocument *) arg;

	if (doc->root != NULL)
		json_decref(doc->root);
	doc->root = NULL;
	if (doc->members_by_user != NULL)
		json_decref(doc->members_by_user);
	doc->members_by_user = NULL;
}

static JsonDocument *
new_document(void)
{
	JsonDocument *doc = MemoryContextAllocZero(CurrentMemoryContext, sizeof(JsonDocument));

	doc->root = json_pack("{}");
	if (doc->root == NULL)
		elog(ERROR, "out of memory building a JSON document");
	doc->callback.func = release_document;
	doc->callback.arg = doc;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &doc->callback);
	return doc;
}

/* ---- building values ---------------------------------------------------- */

static json_t *
new_object(void)
{
	return json_pack("{}");
}

/* A JSON string from server text; invalid UTF-8 bytes become U+FFFD. */
static json_t *
text_value(const char *text)
{
	json_t	   *value;
	StringInfoData clean;
	const unsigned char *p;
	const unsigned char *end;

	if (text == NULL)
		return json_null();
	value = json_string(text);
	if (value != NULL)
		return value;

	initStringInfo(&clean);
	p = (const unsigned char *) text;
	end = p + strlen(text);
	while (p < end)
	{
		int			len = pg_utf_mblen(p);

		if (p + len <= end && pg_utf8_islegal(p, len))
		{
			appendBinaryStringInfo(&clean, (const char *) p, len);
			p += len;
		}
		else
		{
			appendStringInfoString(&clean, "\xEF\xBF\xBD");
			p++;
		}
	}
	value = json_string(clean.data);
	pfree(clean.data);
	return value ? value : json_null();
}

/* Attach helpers: every value goes into its parent at once. */
static void
put(json_t *object, const char *key, json_t *value)
{
	if (value == NULL || json_object_set_new(object, key, value) != 0)
		elog(ERROR, "out of memory building a JSON document");
}

static json_t *
put_object(json_t *parent, const char *key)
{
	json_t	   *child = new_object();

	put(parent, key, child);
	return child;
}

static json_t *
put_array(json_t *parent, const char *key)
{
	json_t	   *child = json_array();

	put(parent, key, child);
	return child;
}

static json_t *
append_object(json_t *array)
{
	json_t	   *child = new_object();

	if (child == NULL || json_array_append_new(array, child) != 0)
		elog(ERROR, "out of memory building a JSON document");
	return child;
}

/* Parse JSON text produced by the server (jsonb, to_json) into a value. */
static json_t *
json_value(const char *json_text)
{
	json_t	   *value;

	if (json_text == NULL)
		return json_null();
	value = json_loads(json_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	return value ? value : text_value(json_text);
}

/* ---- reading SPI results ----------------------------------------------- */

static char *
col(uint64 row, const char *name)
{
	return intracker_result_text(SPI_tuptable, row, name);
}

static json_t *
col_text(uint64 row, const char *name)
{
	return text_value(col(row, name));
}

static json_t *
col_int(uint64 row, const char *name)
{
	char	   *v = col(row, name);

	return v ? json_integer(strtoll(v, NULL, 10)) : json_null();
}

static json_t *
col_bool(uint64 row, const char *name)
{
	char	   *v = col(row, name);

	return v ? json_boolean(v[0] == 't') : json_null();
}

static json_t *
col_json(uint64 row, const char *name)
{
	return json_value(col(row, name));
}

static bool
col_is_null(uint64 row, const char *name)
{
	return col(row, name) == NULL;
}

/*
 * Copying result columns into a JSON object, described by a table: the
 * JSON key, the result column (when it differs) and the JSON type.
 */
typedef enum FieldType
{
	FIELD_TEXT,
	FIELD_INT,
	FIELD_BOOL,
	FIELD_JSON
} FieldType;

typedef struct Field
{
	const char *key;
	const char *column;			/* NULL: same as key */
	FieldType	type;
} Field;

static void
put_fields(json_t *object, uint64 row, const Field *fields, int nfields)
{
	for (int i = 0; i < nfields; i++)
	{
		const char *column = fields[i].column ? fields[i].column : fields[i].key;
		json_t	   *value = NULL;

		switch (fields[i].type)
		{
			case FIELD_TEXT:
				value = col_text(row, column);
				break;
			case FIELD_INT:
				value = col_int(row, column);
				break;
			case FIELD_BOOL:
				value = col_bool(row, column);
				break;
			case FIELD_JSON:
				value = col_json(row, column);
				break;
		}
		put(object, fields[i].key, value);
	}
}

#define put_all_fields(object, row, fields) put_fields(object, row, fields, lengthof(fields))

/*
 * Run a read-only query whose arguments are a project, a user and a list
 * limit ($1 uuid, $2 uuid, $3 integer; a query may use fewer).  Each query
 * is planned once per session: the texts are the constants at the call
 * sites, so their addresses identify them.  The plan cache replans when a
 * table changes.  The plans are generic from the start: every query walks
 * an index from a project (and member) to at most a list limit of rows, a
 * shape that does not depend on the values, and planning them afresh on
 * every call (custom plans) cost a tenth of team_context's time.
 */
#define MAX_CONTEXT_QUERIES 16

static struct
{
	const char *sql;
	SPIPlanPtr	plan;
}			prepared_queries[MAX_CONTEXT_QUERIES];

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

static void
query(const char *sql, Datum project_id, Datum user_id, int limit)
{
	Datum		values[3] = {project_id, user_id, Int32GetDatum(limit)};
	char		nulls[3] = {' ', user_id == (Datum) 0 ? 'n' : ' ', ' '};

	intracker_spi_expect(SPI_execute_plan(prepared_query(sql), values, nulls, true, 0),
						 SPI_OK_SELECT, "run a context query");
}

/* ---- shared pieces of both documents ------------------------------------ */

/* Who is asking, with what role; raises PT401 / PT404 for outsiders. */
static char *
require_member(Datum project_id, Datum *me)
{
	bool		isnull;
	char	   *role;

	query("SELECT intracker_data.require_role($1, 'viewer', 'read the project context') AS role,"
		  "       intracker.current_user_id() AS me,"
		  "       to_json(now()) #>> '{}' AS now",
		  project_id, (Datum) 0, 0);
	role = col(0, "role");
	*me = intracker_result_datum(SPI_tuptable, 0, "me", &isnull);
	return role;
}

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
static void
put_project(JsonDocument *doc, Datum project_id)
{
	json_t	   *project = put_object(doc->root, "project");

	query("SELECT p.id, p.name, p.status, p.description, p.github_repo, p.resume_context::text AS notes"
		  "  FROM intracker_data.projects p WHERE p.id = $1",
		  project_id, (Datum) 0, 0);
	put_all_fields(project, 0, project_fields);
	doc->notes = col(0, "notes");
}

/* The fields of a todo as lists show it. */
#define TODO_COLUMNS \
	"t.id, t.title, t.status, t.priority, t.estimate, to_char(t.due_date, 'YYYY-MM-DD') AS due_date," \
	" t.version, t.open_blocker_count, t.blocked_reason"

static const Field todo_fields[] = {
	{"id", NULL, FIELD_TEXT}, {"title", NULL, FIELD_TEXT}, {"status", NULL, FIELD_TEXT},
	{"priority", NULL, FIELD_TEXT}, {"estimate", NULL, FIELD_INT}, {"due_date", NULL, FIELD_TEXT},
	{"version", NULL, FIELD_INT},
};

static json_t *
append_todo(json_t *array, uint64 row)
{
	json_t	   *todo = append_object(array);

	put_all_fields(todo, row, todo_fields);
	return todo;
}

/* Open blockers of a todo, joined as blocker_* columns: one row each. */
#define BLOCKER_COLUMNS \
	"b.id AS blocker_id, b.title AS blocker_title, b.status AS blocker_status," \
	" b.assigned_to AS blocker_assigned_to"
#define OPEN_BLOCKERS_OF_T \
	"LEFT JOIN LATERAL (SELECT b.* FROM intracker_data.todo_dependencies d" \
	"                     JOIN intracker_data.todos b ON b.id = d.blocked_by" \
	"                    WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled')) b ON true"

/*
 * Rows of a result with one row per (todo, open blocker), in order, become
 * todo objects with a "blocked_by" list.  Returns the todo object of `row`:
 * `current` (the previous row's) when the row adds a blocker to it.
 */
static json_t *
append_todo_with_blockers(json_t *array, uint64 row, json_t *current)
{
	if (current == NULL ||
		strcmp(json_string_value(json_object_get(current, "id")), col(row, "id")) != 0)
	{
		current = append_todo(array, row);
		put_array(current, "blocked_by");
	}
	if (!col_is_null(row, "blocker_id"))
	{
		static const Field blocker_fields[] = {
			{"id", "blocker_id", FIELD_TEXT}, {"title", "blocker_title", FIELD_TEXT},
			{"status", "blocker_status", FIELD_TEXT}, {"assigned_to", "blocker_assigned_to", FIELD_TEXT},
		};

		put_all_fields(append_object(json_object_get(current, "blocked_by")), row, blocker_fields);
	}
	return current;
}

/* ---- size control --------------------------------------------------------- */

/*
 * Size of a value as a client receives it: jsonb's text form separates with
 * ", " and ": ", as jansson does without JSON_COMPACT.
 */
static size_t
serialized_size(json_t *value)
{
	return json_dumpb(value, NULL, 0, 0);
}

static json_t *
omitted_object(json_t *doc)
{
	json_t	   *omitted = json_object_get(doc, "omitted");

	return omitted ? omitted : put_object(doc, "omitted");
}

static void
count_omission(json_t *doc, const char *what, int n, const char *fetch)
{
	json_t	   *omitted = omitted_object(doc);
	json_t	   *entry = json_object_get(omitted, what);

	if (entry == NULL)
	{
		entry = put_object(omitted, what);
		put(entry, "count", json_integer(0));
		put(entry, "fetch", text_value(fetch));
	}
	put(entry, "count", json_integer(json_integer_value(json_object_get(entry, "count")) + n));
}

/*
 * Drop items from the end of `array` until about `excess` bytes are gone;
 * returns how many were dropped.
 */
static int
drop_tail(json_t *array, size_t *excess)
{
	int			dropped = 0;

	while (*excess > 0 && json_array_size(array) > 0)
	{
		size_t		last = json_array_size(array) - 1;
		size_t		size = serialized_size(json_array_get(array, last)) + 2;

		json_array_remove(array, last);
		*excess = size >= *excess ? 0 : *excess - size;
		dropped++;
	}
	return dropped;
}

#define ELLIPSIS "\u2026"			/* what marks a shortened text */

/*
 * Cut a string member longer than `longer_than` bytes to TRIMMED_TEXT_BYTES
 * (on a character boundary) plus an ellipsis; returns whether it did.  A
 * text already cut is never cut again.
 */
static bool
shorten_text(json_t *object, const char *key, size_t longer_than)
{
	json_t	   *value = json_object_get(object, key);
	const char *text;
	int			keep;

	if (!json_is_string(value) ||
		json_string_length(value) <= Max(longer_than, TRIMMED_TEXT_BYTES + strlen(ELLIPSIS)))
		return false;
	text = json_string_value(value);
	keep = pg_mbcliplen(text, json_string_length(value), TRIMMED_TEXT_BYTES);
	put(object, key, text_value(psprintf("%.*s" ELLIPSIS, keep, text)));
	return true;
}

/*
 * A list the trimmer may shorten: where it is, the key of the omission
 * count, and the query that fetches everything.
 */
typedef struct TrimmableList
{
	json_t	   *array;
	json_t	   *owner;			/* member whose active_todos_omitted to update, or NULL */
	const char *omission;		/* key in the "omitted" object */
	const char *fetch;
	const char *notes_fetch;	/* team_members only: where session notes are */
} TrimmableList;

/*
 * Drop session notes (summary, next steps), last member first, until about
 * `excess` bytes are gone; returns whether any were dropped.
 */
static bool
drop_session_notes(json_t *doc, TrimmableList *members, size_t excess)
{
	int			dropped = 0;

	for (size_t i = json_array_size(members->array); i > 0 && excess > 0; i--)
	{
		json_t	   *session = json_object_get(json_array_get(members->array, i - 1), "last_session");
		json_t	   *summary = json_object_get(session, "summary");
		size_t		saved;

		if (!json_is_object(session) || summary == NULL)
			continue;
		saved = serialized_size(summary) + serialized_size(json_object_get(session, "next_steps")) + 30;
		json_object_del(session, "summary");
		json_object_del(session, "next_steps");
		excess = saved >= excess ? 0 : excess - saved;
		dropped++;
	}
	if (dropped > 0)
		count_omission(doc, "session_notes", dropped, members->notes_fetch);
	return dropped > 0;
}

/*
 * Shorten texts longer than `longer_than` bytes until about `excess` bytes
 * are gone; returns whether any was shortened.
 */
static bool
shorten_texts(json_t *doc, json_t **texts, const char **text_keys, int ntexts, size_t longer_than,
			  size_t excess)
{
	int			shortened = 0;

	for (int i = 0; i < ntexts && excess > 0; i++)
	{
		size_t		before;
		size_t		after;

		if (texts[i] == NULL || !json_is_string(json_object_get(texts[i], text_keys[i])))
			continue;
		before = json_string_length(json_object_get(texts[i], text_keys[i]));
		if (!shorten_text(texts[i], text_keys[i], longer_than))
			continue;
		after = json_string_length(json_object_get(texts[i], text_keys[i]));
		excess = before - after >= excess ? 0 : excess - (before - after);
		shortened++;
	}
	if (shortened > 0)
		count_omission(doc, "shortened_texts", shortened,
					   "Full texts are in the views intracker.projects, intracker.sessions and intracker.todos.");
	return shortened > 0;
}

/*
 * Shrink the document below intracker.context_max_bytes.  Each round
 * measures the document once, then makes one kind of cut, as much as the
 * excess calls for, in this order: texts so long they would crowd out
 * everything else (over a quarter of the cap); items from the least
 * important end of the lists (given most important first, trimmed last to
 * first); other long texts; members' session notes; members, last first.
 * When nothing is left to cut it stops and says so.  Every round removes
 * something, so the loop ends.
 */
static void
fit_to_size(json_t *doc, size_t reserved, TrimmableList *lists, int nlists, json_t **texts,
			const char **text_keys, int ntexts, TrimmableList *members)
{
	for (;;)
	{
		size_t		size = serialized_size(doc) + reserved;
		size_t		excess;
		bool		cut = false;

		CHECK_FOR_INTERRUPTS();
		if (size <= (size_t) context_max_bytes)
			return;
		excess = size - context_max_bytes;

		if (shorten_texts(doc, texts, text_keys, ntexts, context_max_bytes / 4, excess))
			continue;

		for (int i = nlists - 1; i >= 0 && excess > 0; i--)
		{
			int			dropped = drop_tail(lists[i].array, &excess);

			if (dropped > 0)
			{
				cut = true;
				count_omission(doc, lists[i].omission, dropped, lists[i].fetch);
				if (lists[i].owner != NULL)
					put(lists[i].owner, "active_todos_omitted",
						json_integer(json_integer_value(json_object_get(lists[i].owner, "open_todos"))
									 - json_array_size(lists[i].array)));
			}
		}
		if (cut || shorten_texts(doc, texts, text_keys, ntexts, 0, excess))
			continue;
		/* Last resort: members' session notes, then members, last first. */
		if (members != NULL && drop_session_notes(doc, members, excess))
			continue;
		if (members != NULL)
		{
			int			dropped = drop_tail(members->array, &excess);

			if (dropped > 0)
			{
				count_omission(doc, members->omission, dropped, members->fetch);
				continue;
			}
		}
		put(omitted_object(doc), "still_over_max_bytes", json_true());
		return;
	}
}

/*
 * Would the trimmer drop every list item (members' open todos, shared
 * blockers, features in progress)?  Lists go before anything but the
 * longest texts (over a quarter of the cap), so if the document without
 * them is still over the cap once those are shortened, every item would be
 * fetched, built and dropped again.  The caller then skips them.  Shortens
 * those long texts as fit_to_size would have first.
 */
static bool
lists_cannot_fit(json_t *doc, size_t reserved, json_t **texts, const char **text_keys, int ntexts)
{
	for (;;)
	{
		size_t		size = serialized_size(doc) + reserved;

		if (size <= (size_t) context_max_bytes)
			return false;
		if (!shorten_texts(doc, texts, text_keys, ntexts, context_max_bytes / 4,
						   size - context_max_bytes))
			return true;
	}
}

/*
 * Bytes that finish_document adds after trimming: the context_version and
 * generated_at members (compact form, with their separating commas).
 */
static size_t
finishing_bytes(const char *generated_at)
{
	return strlen(", \"context_version\": \"0123456789abcdef\", \"generated_at\": \"\"") + strlen(generated_at);
}

/* Finish: content hash, time stamp, and the jsonb result. */
static Datum
finish_document(JsonDocument *doc, const char *generated_at)
{
	char	   *content;
	char	   *text;
	uint64		hash;
	Datum		result;

	content = json_dumps(doc->root, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
	if (content == NULL)
		elog(ERROR, "could not serialize the context document");
	hash = hash_bytes_extended((const unsigned char *) content, (int) strlen(content), 0);
	free(content);
	if (doc->notes != NULL)
		hash = hash_combine64(hash, hash_bytes_extended((const unsigned char *) doc->notes,
														(int) strlen(doc->notes), 0));

	put(doc->root, "context_version", text_value(psprintf("%016" INT64_MODIFIER "x", hash)));
	put(doc->root, "generated_at", text_value(generated_at));

	text = json_dumps(doc->root, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (text == NULL)
		elog(ERROR, "could not serialize the context document");
	PG_TRY();
	{
		result = DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
	}
	PG_FINALLY();
	{
		free(text);
	}
	PG_END_TRY();
	if (doc->notes != NULL)
	{
		Oid			argtypes[2] = {JSONBOID, TEXTOID};
		Datum		values[2] = {result, PointerGetDatum(cstring_to_text(doc->notes))};
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
 * What both documents start and end with.  begin: check the argument, open
 * SPI, check that the caller is a member (PT401 / PT404 otherwise), then read
 * as the data's owner, every query filtered by the project.  end: finish
 * the document as the caller, close SPI.
 */
typedef struct ContextCall
{
	Datum		project_id;
	char	   *project;		/* the same, as text */
	Datum		me;
	char	   *role;
	char	   *generated_at;
	JsonDocument *doc;
	OwnerContext owner;
} ContextCall;

static void
begin_context_call(FunctionCallInfo fcinfo, ContextCall *call)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("project_id must not be null")));
	call->project_id = PG_GETARG_DATUM(0);

	intracker_spi_connect();
	call->doc = new_document();
	call->role = require_member(call->project_id, &call->me);
	call->generated_at = col(0, "now");
	call->project = DatumGetCString(DirectFunctionCall1(uuid_out, call->project_id));
	intracker_become_data_owner(&call->owner);
}

static Datum
end_context_call(ContextCall *call)
{
	Datum		result;

	intracker_restore_user(&call->owner);
	result = finish_document(call->doc, call->generated_at);
	SPI_finish();
	return result;
}

/* ---- team_context ---------------------------------------------------------- */

static void
put_members(json_t *doc, Datum project_id, Datum me, bool viewer, json_t *by_user)
{
	json_t	   *members = put_array(doc, "team_members");

	query("SELECT m.user_id, u.name, u.kind, m.role, m.available,"
		  "       coalesce(l.open_todos, 0) AS open_todos, coalesce(l.open_points, 0) AS open_points,"
		  "       focus.id AS focus_id, focus.title AS focus_title, focus.version AS focus_version,"
		  "       f.id AS feature_id, f.title AS feature_title,"
		  "       to_json(s.started_at) #>> '{}' AS session_started_at,"
		  "       to_json(s.ended_at) #>> '{}' AS session_ended_at,"
		  "       s.goal AS session_goal, s.summary AS session_summary,"
		  "       to_json(s.next_steps)::text AS session_next_steps,"
		  "       m.user_id = $2 AS is_me"
		  "  FROM intracker_data.project_members m"
		  "  JOIN intracker_data.users u ON u.id = m.user_id"
		  "  LEFT JOIN intracker_data.member_load l ON l.project_id = m.project_id AND l.user_id = m.user_id"
		  "  LEFT JOIN LATERAL (SELECT t.id, t.title, t.version, t.feature_id FROM intracker_data.todos t"
		  "                      WHERE t.project_id = m.project_id AND t.assigned_to = m.user_id"
		  "                        AND t.status = 'in_progress'"
		  "                      ORDER BY t.updated_at DESC, t.id LIMIT 1) focus ON true"
		  "  LEFT JOIN intracker_data.features f ON f.id = focus.feature_id"
		  "  LEFT JOIN LATERAL (SELECT * FROM intracker_data.sessions s"
		  "                      WHERE s.user_id = m.user_id AND s.project_id = m.project_id"
		  "                      ORDER BY s.started_at DESC LIMIT 1) s ON true"
		  " WHERE m.project_id = $1"
		  " ORDER BY intracker_data.role_rank(m.role) DESC, u.name, m.user_id",
		  project_id, me, 0);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		static const Field member_fields[] = {
			{"user_id", NULL, FIELD_TEXT}, {"name", NULL, FIELD_TEXT}, {"kind", NULL, FIELD_TEXT},
			{"role", NULL, FIELD_TEXT}, {"available", NULL, FIELD_BOOL},
			{"open_todos", NULL, FIELD_INT}, {"open_points", NULL, FIELD_INT},
		};
		static const Field focus_fields[] = {
			{"id", "focus_id", FIELD_TEXT}, {"title", "focus_title", FIELD_TEXT},
			{"version", "focus_version", FIELD_INT},
		};
		static const Field feature_fields[] = {
			{"id", "feature_id", FIELD_TEXT}, {"title", "feature_title", FIELD_TEXT},
		};
		static const Field session_fields[] = {
			{"started_at", "session_started_at", FIELD_TEXT}, {"ended_at", "session_ended_at", FIELD_TEXT},
			{"goal", "session_goal", FIELD_TEXT},
		};
		static const Field session_notes_fields[] = {
			{"summary", "session_summary", FIELD_TEXT}, {"next_steps", "session_next_steps", FIELD_JSON},
		};
		json_t	   *member = append_object(members);

		put_all_fields(member, i, member_fields);
		if (col_is_null(i, "focus_id"))
			put(member, "current_focus", json_null());
		else
			put_all_fields(put_object(member, "current_focus"), i, focus_fields);
		if (col_is_null(i, "feature_id"))
			put(member, "working_on_feature", json_null());
		else
			put_all_fields(put_object(member, "working_on_feature"), i, feature_fields);
		put_array(member, "active_todos");
		if (col_is_null(i, "session_started_at"))
			put(member, "last_session", json_null());
		else
		{
			json_t	   *session = put_object(member, "last_session");

			put_all_fields(session, i, session_fields);
			/* Working notes: not for viewers, except their own. */
			if (!viewer || strcmp(col(i, "is_me"), "t") == 0)
				put_all_fields(session, i, session_notes_fields);
		}
		put(by_user, col(i, "user_id"), json_incref(member));
	}
}

static void
put_active_todos(Datum project_id, json_t *by_user)
{
	query("SELECT m.user_id, " TODO_COLUMNS
		  "  FROM intracker_data.project_members m"
		  " CROSS JOIN LATERAL (SELECT * FROM intracker_data.todos t"
		  "                      WHERE t.project_id = m.project_id AND t.assigned_to = m.user_id"
		  "                        AND t.status NOT IN ('done', 'cancelled')"
		  "                      ORDER BY t.priority_rank DESC, t.due_date ASC NULLS LAST, t.created_at, t.id"
		  "                      LIMIT $3) t"
		  " WHERE m.project_id = $1"
		  " ORDER BY m.user_id, t.priority_rank DESC, t.due_date ASC NULLS LAST, t.created_at, t.id",
		  project_id, (Datum) 0, context_todo_limit);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		json_t	   *member = json_object_get(by_user, col(i, "user_id"));

		append_todo(json_object_get(member, "active_todos"), i);
	}
}

static void
put_shared_blockers(json_t *doc, Datum project_id)
{
	json_t	   *blockers = json_object_get(doc, "shared_blockers");
	json_t	   *current = NULL;

	query("SELECT " TODO_COLUMNS ", t.assigned_to, " BLOCKER_COLUMNS
		  "  FROM (SELECT * FROM intracker_data.todos t"
		  "         WHERE t.project_id = $1 AND t.status NOT IN ('done', 'cancelled')"
		  "           AND (t.status = 'blocked' OR t.open_blocker_count > 0)"
		  "         ORDER BY t.priority_rank DESC, t.created_at, t.id LIMIT $3) t "
		  OPEN_BLOCKERS_OF_T
		  " ORDER BY t.priority_rank DESC, t.created_at, t.id, b.created_at, b.id",
		  project_id, (Datum) 0, context_todo_limit);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		current = append_todo_with_blockers(blockers, i, current);
		put(current, "blocked_reason", col_text(i, "blocked_reason"));
		put(current, "assigned_to", col_text(i, "assigned_to"));
	}
}

static void
put_features_in_progress(json_t *doc, Datum project_id)
{
	json_t	   *features = json_object_get(json_object_get(doc, "team_progress"), "features_in_progress");

	query("SELECT f.id, f.title, f.priority, f.assigned_to,"
		  "       coalesce(sum(s.todos_total), 0) AS todos_total, coalesce(sum(s.todos_done), 0) AS todos_done,"
		  "       CASE WHEN coalesce(sum(s.todos_total), 0) = 0 THEN 0"
		  "            ELSE (100 * sum(s.todos_done) / sum(s.todos_total))::integer END AS progress"
		  "  FROM (SELECT * FROM intracker_data.features f"
		  "         WHERE f.project_id = $1 AND f.status = 'in_progress'"
		  "         ORDER BY CASE f.priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC,"
		  "                  f.created_at, f.id LIMIT $3) f"
		  "  LEFT JOIN intracker_data.feature_stats s ON s.feature_id = f.id"
		  " GROUP BY f.id, f.title, f.priority, f.assigned_to, f.created_at"
		  " ORDER BY CASE f.priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC,"
		  "          f.created_at, f.id",
		  project_id, (Datum) 0, context_todo_limit);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		static const Field feature_fields[] = {
			{"id", NULL, FIELD_TEXT}, {"title", NULL, FIELD_TEXT}, {"priority", NULL, FIELD_TEXT},
			{"assigned_to", NULL, FIELD_TEXT}, {"todos_total", NULL, FIELD_INT},
			{"todos_done", NULL, FIELD_INT}, {"progress", NULL, FIELD_INT},
		};

		put_all_fields(append_object(features), i, feature_fields);
	}
}

/* The counters of team_progress, and its (still empty) features list. */
static void
put_progress(json_t *doc, Datum project_id)
{
	json_t	   *progress = put_object(doc, "team_progress");

	put_array(progress, "features_in_progress");
	query("SELECT d.todos_total, d.todos_open, d.todos_done, d.completion_rate::float8 AS completion_rate,"
		  "       d.todos_completed_today, d.points_done_last_7_days, d.features_in_progress, d.todos_blocked"
		  "  FROM intracker.team_dashboard d WHERE d.project_id = $1",
		  project_id, (Datum) 0, 0);
	{
		static const Field progress_fields[] = {
			{"todos_total", NULL, FIELD_INT}, {"todos_open", NULL, FIELD_INT}, {"todos_done", NULL, FIELD_INT},
			{"todos_completed_today", NULL, FIELD_INT}, {"points_done_last_7_days", NULL, FIELD_INT},
			{"features_in_progress_count", "features_in_progress", FIELD_INT},
			{"todos_blocked_count", "todos_blocked", FIELD_INT},
		};

		put_all_fields(progress, 0, progress_fields);
		put(progress, "completion_rate", json_real(strtod(col(0, "completion_rate"), NULL)));
	}
}

/* The query that lists every blocked todo of the project. */
static char *
shared_blockers_fetch(const char *project)
{
	return psprintf("SELECT * FROM intracker.todos t WHERE t.project_id = '%s' AND t.status NOT IN ('done', 'cancelled') "
					"AND (t.status = 'blocked' OR EXISTS (SELECT FROM intracker.todo_dependencies d "
					"JOIN intracker.todos b ON b.id = d.blocked_by "
					"WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled')))", project);
}

/* Omission counts for what the list limits (not the byte cap) left out. */
static void
count_limited_lists(json_t *doc, const char *project)
{
	json_t	   *member;
	size_t		index;
	json_t	   *progress = json_object_get(doc, "team_progress");
	json_int_t	blocked = json_integer_value(json_object_get(progress, "todos_blocked_count"));
	json_int_t	features = json_integer_value(json_object_get(progress, "features_in_progress_count"));

	json_array_foreach(json_object_get(doc, "team_members"), index, member)
	{
		json_int_t	open = json_integer_value(json_object_get(member, "open_todos"));
		size_t		shown = json_array_size(json_object_get(member, "active_todos"));

		if (open > (json_int_t) shown)
			put(member, "active_todos_omitted", json_integer(open - shown));
	}
	if (blocked > (json_int_t) json_array_size(json_object_get(doc, "shared_blockers")))
		count_omission(doc, "shared_blockers",
					   blocked - json_array_size(json_object_get(doc, "shared_blockers")),
					   shared_blockers_fetch(project));
	if (features > (json_int_t) json_array_size(json_object_get(progress, "features_in_progress")))
		count_omission(doc, "features_in_progress",
					   features - json_array_size(json_object_get(progress, "features_in_progress")),
					   psprintf("SELECT * FROM intracker.features WHERE project_id = '%s' AND status = 'in_progress'", project));
}

/*
 * intracker.team_context(project_id uuid) returns jsonb
 */
PG_FUNCTION_INFO_V1(intracker_team_context);
Datum
intracker_team_context(PG_FUNCTION_ARGS)
{
	ContextCall call;
	Datum		project_id;
	Datum		me;
	char	   *generated_at;
	char	   *project;
	JsonDocument *doc;

	begin_context_call(fcinfo, &call);
	project_id = call.project_id;
	me = call.me;
	generated_at = call.generated_at;
	project = call.project;
	doc = call.doc;
	doc->members_by_user = json_pack("{}");
	if (doc->members_by_user == NULL)
		elog(ERROR, "out of memory building a JSON document");

	put_project(doc, project_id);
	put(doc->root, "your_role", text_value(call.role));
	put_members(doc->root, project_id, me, strcmp(call.role, "viewer") == 0, doc->members_by_user);
	put_array(doc->root, "shared_blockers");
	put_progress(doc->root, project_id);

	/* Trim under the byte cap: least important lists last in this array. */
	{
		json_t	   *members = json_object_get(doc->root, "team_members");
		int			nmembers = (int) json_array_size(members);
		TrimmableList *lists = palloc0(sizeof(TrimmableList) * (nmembers + 2));
		TrimmableList member_list;
		json_t	  **texts = palloc0(sizeof(json_t *) * (2 * nmembers + 1));
		const char **text_keys = palloc0(sizeof(char *) * (2 * nmembers + 1));
		int			nlists = 0;
		int			ntexts = 0;
		char	   *active_todos_fetch =
			psprintf("SELECT * FROM intracker.todos WHERE project_id = '%s' AND assigned_to IS NOT NULL "
					 "AND status NOT IN ('done', 'cancelled') ORDER BY assigned_to", project);

		for (int i = 0; i < nmembers; i++)
		{
			json_t	   *session = json_object_get(json_array_get(members, i), "last_session");

			if (json_is_object(session))
			{
				texts[ntexts] = session;
				text_keys[ntexts++] = "summary";
			}
		}
		texts[ntexts] = json_object_get(doc->root, "project");
		text_keys[ntexts++] = "description";

		if (!lists_cannot_fit(doc->root, finishing_bytes(generated_at), texts, text_keys, ntexts))
		{
			put_active_todos(project_id, doc->members_by_user);
			put_shared_blockers(doc->root, project_id);
			put_features_in_progress(doc->root, project_id);
		}
		else
		{
			/* what the trimmer would have dropped from the members' lists */
			json_int_t	would_show = 0;
			size_t		index;
			json_t	   *member;

			json_array_foreach(members, index, member)
				would_show += Min(json_integer_value(json_object_get(member, "open_todos")), context_todo_limit);
			if (would_show > 0)
				count_omission(doc->root, "active_todos", (int) would_show, active_todos_fetch);
		}
		count_limited_lists(doc->root, project);

		lists[nlists++] = (TrimmableList)
		{
			json_object_get(json_object_get(doc->root, "team_progress"), "features_in_progress"),
				NULL, "features_in_progress",
				psprintf("SELECT * FROM intracker.features WHERE project_id = '%s' AND status = 'in_progress'", project),
				NULL
		};
		lists[nlists++] = (TrimmableList)
		{
			json_object_get(doc->root, "shared_blockers"), NULL, "shared_blockers",
				shared_blockers_fetch(project), NULL
		};
		for (int i = 0; i < nmembers; i++)
		{
			json_t	   *member = json_array_get(members, i);

			lists[nlists++] = (TrimmableList)
			{
				json_object_get(member, "active_todos"), member, "active_todos", active_todos_fetch, NULL
			};
		}
		member_list = (TrimmableList)
		{
			members, NULL, "team_members",
				psprintf("SELECT * FROM intracker.member_load WHERE project_id = '%s'", project),
				psprintf("SELECT * FROM intracker.sessions WHERE project_id = '%s' ORDER BY started_at DESC", project)
		};
		fit_to_size(doc->root, finishing_bytes(generated_at), lists, nlists, texts, text_keys, ntexts,
					&member_list);
	}

	PG_RETURN_DATUM(end_context_call(&call));
}

/* ---- resume_context ------------------------------------------------------ */

static void
put_my_session(json_t *doc, Datum project_id, Datum me)
{
	query("SELECT to_json(s.started_at) #>> '{}' AS started_at, to_json(s.ended_at) #>> '{}' AS ended_at,"
		  "       s.goal, s.summary, to_json(s.next_steps)::text AS next_steps,"
		  "       to_json(s.blockers)::text AS blockers, to_json(s.todo_ids)::text AS todo_ids"
		  "  FROM intracker_data.sessions s"
		  " WHERE s.user_id = $2 AND s.project_id = $1"
		  " ORDER BY s.started_at DESC LIMIT 1",
		  project_id, me, 0);
	if (SPI_processed == 0)
		put(doc, "last_session", json_null());
	else
	{
		static const Field my_session_fields[] = {
			{"started_at", NULL, FIELD_TEXT}, {"ended_at", NULL, FIELD_TEXT}, {"goal", NULL, FIELD_TEXT},
			{"summary", NULL, FIELD_TEXT}, {"next_steps", NULL, FIELD_JSON},
			{"blockers", NULL, FIELD_JSON}, {"todo_ids", NULL, FIELD_JSON},
		};

		put_all_fields(put_object(doc, "last_session"), 0, my_session_fields);
	}
}

/*
 * My open todos: the one in progress, then the claimable ones in claim
 * order, then the rest (blocked, in review).
 */
static void
put_my_todos(json_t *doc, Datum project_id, Datum me)
{
	json_t	   *todos = put_array(doc, "your_open_todos");
	json_t	   *current = NULL;

	query("SELECT " TODO_COLUMNS ", t.feature_id, " BLOCKER_COLUMNS
		  "  FROM (SELECT t.*, CASE WHEN t.status = 'in_progress' THEN 0"
		  "                         WHEN t.status = 'todo' AND t.open_blocker_count = 0 THEN 1"
		  "                         ELSE 2 END AS claim_rank"
		  "          FROM intracker_data.todos t"
		  "         WHERE t.project_id = $1 AND t.assigned_to = $2 AND t.status NOT IN ('done', 'cancelled')"
		  "         ORDER BY claim_rank, t.priority_rank DESC, t.feature_active DESC, t.open_dependent_count DESC,"
		  "                  t.due_date ASC NULLS LAST, t.created_at, t.id"
		  "         LIMIT $3) t "
		  OPEN_BLOCKERS_OF_T
		  " ORDER BY t.claim_rank, t.priority_rank DESC, t.feature_active DESC, t.open_dependent_count DESC,"
		  "          t.due_date ASC NULLS LAST, t.created_at, t.id, b.created_at, b.id",
		  project_id, me, context_todo_limit);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		current = append_todo_with_blockers(todos, i, current);
		put(current, "feature_id", col_text(i, "feature_id"));
		put(current, "blocked_reason", col_text(i, "blocked_reason"));
	}
}

/*
 * Recent changes by others to todos in my features, newest first.  "My
 * features" are those of my most important open todos and the open
 * features assigned to me, each capped by the list limit, so the cost
 * follows the limit, not how much work I hold (index todos_feature_recent).
 */
static void
put_team_activity(json_t *doc, Datum project_id, Datum me)
{
	json_t	   *activity = put_array(doc, "team_activity_in_your_features");

	query("WITH mine AS ("
		  "    SELECT t.feature_id AS id FROM ("
		  "        SELECT t.feature_id FROM intracker_data.todos t"
		  "         WHERE t.project_id = $1 AND t.assigned_to = $2 AND t.status NOT IN ('done', 'cancelled')"
		  "         ORDER BY t.priority_rank DESC, t.due_date ASC NULLS LAST, t.created_at, t.id"
		  "         LIMIT $3) t"
		  "     WHERE t.feature_id IS NOT NULL"
		  "    UNION"
		  "    SELECT f.id FROM ("
		  "        SELECT f.id FROM intracker_data.features f"
		  "         WHERE f.project_id = $1 AND f.assigned_to = $2 AND f.status <> 'done'"
		  "         ORDER BY f.created_at DESC, f.id LIMIT $3) f)"
		  "SELECT t.id, t.title, t.status, t.assigned_to, t.version, f.title AS feature_title,"
		  "       to_json(t.updated_at) #>> '{}' AS updated_at"
		  "  FROM mine"
		  "  JOIN intracker_data.features f ON f.id = mine.id"
		  " CROSS JOIN LATERAL (SELECT * FROM intracker_data.todos t"
		  "                      WHERE t.feature_id = mine.id AND t.assigned_to IS DISTINCT FROM $2"
		  "                      ORDER BY t.updated_at DESC, t.id LIMIT $3) t"
		  " ORDER BY t.updated_at DESC, t.id LIMIT $3",
		  project_id, me, context_todo_limit);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		static const Field activity_fields[] = {
			{"id", NULL, FIELD_TEXT}, {"title", NULL, FIELD_TEXT}, {"status", NULL, FIELD_TEXT},
			{"assigned_to", NULL, FIELD_TEXT}, {"version", NULL, FIELD_INT},
			{"feature", "feature_title", FIELD_TEXT}, {"updated_at", NULL, FIELD_TEXT},
		};

		put_all_fields(append_object(activity), i, activity_fields);
	}
}

/*
 * One line saying what to do next, from the document's own content: carry
 * on with the todo in progress, else start the best claimable one, else
 * follow up a review, else unblock the most important blocked one.
 */
static void
put_next_action(json_t *doc, const char *project)
{
	json_t	   *todos = json_object_get(doc, "your_open_todos");
	json_t	   *todo;
	size_t		index;
	char	   *action = NULL;
	int			action_rank = 5;	/* lower is more urgent */

	json_array_foreach(todos, index, todo)
	{
		const char *status = json_string_value(json_object_get(todo, "status"));
		const char *title = json_string_value(json_object_get(todo, "title"));
		json_t	   *blockers = json_object_get(todo, "blocked_by");
		const char *reason = json_string_value(json_object_get(todo, "blocked_reason"));

		if (strcmp(status, "in_progress") == 0 && action_rank > 1)
		{
			action = psprintf("Continue \"%s\" (in progress).", title);
			action_rank = 1;
		}
		else if (strcmp(status, "todo") == 0 && json_array_size(blockers) == 0 && action_rank > 2)
		{
			action = psprintf("Start \"%s\": SELECT * FROM intracker.claim_next_todo('%s');", title, project);
			action_rank = 2;
		}
		else if (strcmp(status, "review") == 0 && action_rank > 3)
		{
			action = psprintf("Follow up the review of \"%s\".", title);
			action_rank = 3;
		}
		else if (json_array_size(blockers) > 0 && action_rank > 4)
		{
			action = psprintf("Unblock \"%s\": it waits for \"%s\".", title,
							  json_string_value(json_object_get(json_array_get(blockers, 0), "title")));
			action_rank = 4;
		}
		else if (strcmp(status, "blocked") == 0 && action_rank > 4)
		{
			action = reason ? psprintf("Unblock \"%s\": %s", title, reason)
				: psprintf("Unblock \"%s\" (marked blocked).", title);
			action_rank = 4;
		}
	}
	if (action == NULL)
		action = psprintf("Nothing is assigned to you: SELECT * FROM intracker.claim_next_todo('%s');", project);
	put(doc, "next_action", text_value(action));
}

/*
 * intracker.resume_context(project_id uuid) returns jsonb
 */
PG_FUNCTION_INFO_V1(intracker_resume_context);
Datum
intracker_resume_context(PG_FUNCTION_ARGS)
{
	ContextCall call;
	Datum		project_id;
	Datum		me;
	char	   *generated_at;
	char	   *project;
	JsonDocument *doc;

	begin_context_call(fcinfo, &call);
	project_id = call.project_id;
	me = call.me;
	generated_at = call.generated_at;
	project = call.project;
	doc = call.doc;

	put_project(doc, project_id);
	put_my_session(doc->root, project_id, me);
	put_my_todos(doc->root, project_id, me);
	put_team_activity(doc->root, project_id, me);
	put_next_action(doc->root, project);

	{
		TrimmableList lists[2] = {
			{json_object_get(doc->root, "your_open_todos"), NULL, "your_open_todos",
			psprintf("SELECT * FROM intracker.my_todos WHERE project_id = '%s'", project), NULL},
			{json_object_get(doc->root, "team_activity_in_your_features"), NULL, "team_activity_in_your_features",
			psprintf("SELECT * FROM intracker.todos WHERE project_id = '%s' ORDER BY updated_at DESC", project), NULL},
		};
		json_t	   *texts[2] = {json_object_get(doc->root, "last_session"), json_object_get(doc->root, "project")};
		const char *text_keys[2] = {"summary", "description"};

		fit_to_size(doc->root, finishing_bytes(generated_at), lists, 2, texts, text_keys, 2, NULL);
	}

	PG_RETURN_DATUM(end_context_call(&call));
}
