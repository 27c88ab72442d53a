/*-------------------------------------------------------------------------
 *
 * tools.c
 *	  The MCP tools: each is one function of intracker's SQL API.
 *
 * tool_table below is the one place a tool is declared: its name, the SQL
 * function behind it, and its hints.  Everything else is read from the
 * database at start-up: the description is the function's COMMENT, the
 * input schema comes from its argument names, types and defaults, and
 * what the result is from its return type (rows: a JSON array, one row: an
 * object, a value: its JSON, void: null).  A new SQL API function becomes
 * a tool in one line.
 *
 * One tool waits: wait_for_events is events_since() with a timeout_seconds
 * argument of its own, answered when the project changes (waits.c).
 *
 * A call passes only the arguments the client gave, by name (so the SQL
 * defaults apply), each as text cast to the argument's type; arrays and
 * jsonb arrive as JSON.  An SQL error is a tool result with isError, whose
 * text carries SQLSTATE, message, DETAIL and HINT, so that an agent can
 * act on it (a PT409 names the current version); programs find the same
 * fields in _meta["intracker/error"].  Not in structuredContent: that is
 * what the tool's outputSchema describes, and clients check it (the 1.x
 * SDK even on errors).
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* open_memstream, asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

typedef struct ToolDef
{
	const char *name;			/* the MCP tool */
	const char *function;		/* intracker.<function> */
	const char *title;
	bool		read_only;		/* annotations: readOnlyHint */
	bool		destructive;	/* destructiveHint */
	bool		idempotent;		/* idempotentHint */
	const char *description;	/* NULL: the function's COMMENT */
	bool		waits;			/* waits for the project's next events (waits.c) */
} ToolDef;

/* where an error result's fields are, for programs */
#define ERROR_META_KEY "intracker/error"

#define WAIT_DESCRIPTION \
	"Wait for the project's next events: the events after after_seq as soon as there are any " \
	"(at once when there are some already), or none when timeout_seconds pass first. " \
	"Other calls run meanwhile. Start with the seq of the last event you saw."

static const ToolDef tool_table[] = {
	{"list_projects", "list_projects", "Your projects", true, false, true, NULL, false},
	{"list_features", "list_features", "Features of a project", true, false, true, NULL, false},
	{"list_todos", "list_todos", "Todos of a project", true, false, true, NULL, false},
	{"get_my_todos", "get_my_todos", "Your open todos", true, false, true, NULL, false},
	{"get_todo", "get_todo", "One todo, with what blocks it and what it blocks", true, false, true, NULL, false},
	{"get_team_context", "team_context", "Team context of a project", true, false, true, NULL, false},
	{"get_resume_context", "resume_context", "Your resume context in a project", true, false, true, NULL, false},
	{"get_events", "events_since", "Events after a sequence number", true, false, true, NULL, false},
	{"wait_for_events", "events_since", "Wait for a project's next events", true, false, true, WAIT_DESCRIPTION, true},
	{"claim_next_todo", "claim_next_todo", "Claim the next todo", false, false, false, NULL, false},
	{"assign_todo", "assign_todo", "Assign a todo", false, false, false, NULL, false},
	{"assign_feature", "assign_feature", "Assign a feature", false, false, false, NULL, false},
	{"create_todo", "create_todo", "Create a todo", false, false, false, NULL, false},
	{"update_todo", "update_todo", "Update a todo", false, false, false, NULL, false},
	{"set_todo_status", "set_todo_status", "Set a todo's status", false, false, false, NULL, false},
	{"create_feature", "create_feature", "Create a feature", false, false, false, NULL, false},
	{"update_feature", "update_feature", "Update a feature", false, false, false, NULL, false},
	{"add_dependency", "add_dependency", "Block a todo by another", false, false, true, NULL, false},
	{"remove_dependency", "remove_dependency", "Remove a dependency", false, true, true, NULL, false},
	{"start_session", "start_session", "Start a work session", false, false, false, NULL, false},
	{"end_session", "end_session", "End a work session", false, false, false, NULL, false},
	{"create_github_issue", "create_github_issue", "Create the GitHub issue of a todo", false, false, false, NULL, false},
	{"search", "search", "Search todos, features, comments, documents and sessions", true, false, true, NULL, false},
	{"get_history", "history", "Every change of a project, feature, todo, comment or document", true, false, true, NULL, false},
	{"list_comments", "list_comments", "Comments on a todo, feature or document", true, false, true, NULL, false},
	{"add_comment", "add_comment", "Comment on a todo, feature or document", false, false, false, NULL, false},
	{"update_comment", "update_comment", "Edit your comment", false, false, false, NULL, false},
	{"delete_comment", "delete_comment", "Delete a comment", false, true, false, NULL, false},
	{"get_my_notifications", "get_my_notifications", "Your inbox", true, false, true, NULL, false},
	{"mark_notifications_read", "mark_notifications_read", "Mark notifications read", false, false, true, NULL, false},
	{"list_documents", "list_documents", "Documents of a project", true, false, true, NULL, false},
	{"get_document", "get_document", "One document, body included", true, false, true, NULL, false},
	{"create_document", "create_document", "Create a document", false, false, false, NULL, false},
	{"update_document", "update_document", "Update a document", false, false, false, NULL, false},
	{"delete_document", "delete_document", "Delete a document", false, true, false, NULL, false},
};
#define NUM_TOOLS (sizeof(tool_table) / sizeof(tool_table[0]))

/* What start-up read about each tool's function (NULL: not in this database). */
static json_t *signatures[NUM_TOOLS];

static const ToolDef *
find_tool(const char *name, int *index)
{
	for (size_t i = 0; i < NUM_TOOLS; i++)
	{
		if (name != NULL && strcmp(tool_table[i].name, name) == 0 && signatures[i] != NULL &&
			(!mcp_read_only || tool_table[i].read_only))
		{
			*index = (int) i;
			return &tool_table[i];
		}
	}
	return NULL;
}

/*
 * Read the functions' signatures and comments.  False (said on stderr) when
 * they cannot be read, or the database has none of them (intracker is not
 * installed there).
 */
bool
tools_load(void)
{
	static const char sql[] =
		"SELECT p.proname, pg_catalog.obj_description(p.oid, 'pg_proc') AS comment,"
		"       CASE WHEN p.proretset THEN 'rows' WHEN t.typtype = 'c' THEN 'row'"
		"            WHEN p.prorettype = 'pg_catalog.void'::pg_catalog.regtype THEN 'nothing' ELSE 'value' END AS returns,"
		"       (SELECT pg_catalog.json_agg(pg_catalog.json_build_object("
		"                 'name', a.name, 'type', pg_catalog.format_type(a.type, NULL),"
		"                 'required', a.n <= p.pronargs - p.pronargdefaults) ORDER BY a.n)"
		"          FROM ROWS FROM (pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]),"
		"                          pg_catalog.unnest(p.proargnames[1:p.pronargs]))"
		"               WITH ORDINALITY AS a (type, name, n)) AS args,"
		/* the columns of a row type, or of RETURNS TABLE */
		"       CASE WHEN t.typtype = 'c' THEN"
		"            (SELECT pg_catalog.json_agg(pg_catalog.json_build_object("
		"                      'name', c.attname, 'type', pg_catalog.format_type(c.atttypid, NULL)) ORDER BY c.attnum)"
		"               FROM pg_catalog.pg_attribute c"
		"              WHERE c.attrelid = t.typrelid AND c.attnum > 0 AND NOT c.attisdropped)"
		"            WHEN p.proargmodes IS NOT NULL THEN"
		"            (SELECT pg_catalog.json_agg(pg_catalog.json_build_object("
		"                      'name', o.name, 'type', pg_catalog.format_type(o.type, NULL)) ORDER BY o.n)"
		"               FROM ROWS FROM (pg_catalog.unnest(p.proallargtypes), pg_catalog.unnest(p.proargnames),"
		"                               pg_catalog.unnest(p.proargmodes)) WITH ORDINALITY AS o (type, name, mode, n)"
		"              WHERE o.mode OPERATOR(pg_catalog.=) 't') END AS columns"
		"  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_type t ON t.oid = p.prorettype"
		" WHERE p.pronamespace = 'intracker'::pg_catalog.regnamespace";
	PGresult   *result = db_exec(sql, 0, NULL);
	int			found = 0;

	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		mcp_log("cannot read intracker's functions: %s", PQresultErrorMessage(result));
		PQclear(result);
		return false;
	}
	for (int row = 0; row < PQntuples(result); row++)
	{
		for (size_t i = 0; i < NUM_TOOLS; i++)
		{
			json_error_t error;
			json_t	   *args;
			json_t	   *columns;

			if (strcmp(PQgetvalue(result, row, 0), tool_table[i].function) != 0)
				continue;
			args = PQgetisnull(result, row, 3) ? json_array()
				: json_loads(PQgetvalue(result, row, 3), 0, &error);
			columns = PQgetisnull(result, row, 4) ? json_array()
				: json_loads(PQgetvalue(result, row, 4), 0, &error);
			signatures[i] = json_pack("{s:s?, s:s, s:o, s:o}",
									  "comment", PQgetisnull(result, row, 1) ? NULL : PQgetvalue(result, row, 1),
									  "returns", PQgetvalue(result, row, 2),
									  "args", args ? args : json_array(),
									  "columns", columns ? columns : json_array());
			found++;
		}
	}
	PQclear(result);
	if (found == 0)
		mcp_log("intracker is not installed in this database (CREATE EXTENSION intracker)");
	return found > 0;
}

/* Is type (as format_type names it) an array type? */
static bool
is_array_type(const char *type)
{
	size_t		len = strlen(type);

	return len > 2 && strcmp(type + len - 2, "[]") == 0;
}

/* The JSON Schema of an SQL type (as format_type names it). */
static json_t *
schema_of_type(const char *type)
{
	size_t		len = strlen(type);

	if (is_array_type(type))
	{
		char	   *element = strndup(type, len - 2);
		json_t	   *schema = json_pack("{s:s, s:o}", "type", "array", "items", schema_of_type(element));

		free(element);
		return schema;
	}
	if (strcmp(type, "uuid") == 0)
		return json_pack("{s:s, s:s}", "type", "string", "format", "uuid");
	if (strcmp(type, "integer") == 0 || strcmp(type, "bigint") == 0 || strcmp(type, "smallint") == 0)
		return json_pack("{s:s}", "type", "integer");
	if (strcmp(type, "boolean") == 0)
		return json_pack("{s:s}", "type", "boolean");
	if (strcmp(type, "numeric") == 0 || strcmp(type, "double precision") == 0 || strcmp(type, "real") == 0)
		return json_pack("{s:s}", "type", "number");
	if (strcmp(type, "jsonb") == 0 || strcmp(type, "json") == 0)
		return json_pack("{s:s}", "type", "object");
	if (strcmp(type, "date") == 0)
		return json_pack("{s:s, s:s}", "type", "string", "format", "date");
	if (strcmp(type, "timestamp with time zone") == 0)
		return json_pack("{s:s, s:s}", "type", "string", "format", "date-time");
	return json_pack("{s:s}", "type", "string");
}

/* The schema of a row: its columns, each of its type or null. */
static json_t *
schema_of_row(json_t *columns)
{
	json_t	   *properties = json_object();
	json_t	   *column;
	size_t		n;

	json_array_foreach(columns, n, column)
	{
		json_t	   *schema = schema_of_type(json_string_value(json_object_get(column, "type")));

		json_object_set_new(schema, "type", json_pack("[O, s]", json_object_get(schema, "type"), "null"));
		json_object_set_new(properties, json_string_value(json_object_get(column, "name")), schema);
	}
	return json_pack("{s:s, s:o}", "type", "object", "properties", properties);
}

/*
 * The outputSchema of a tool: what its structuredContent is (see
 * tools_send_result): a row as an object of its columns, rows as {"rows": [...]},
 * a jsonb document as an object, any other value as {"result": value}.
 */
static json_t *
output_schema(json_t *signature)
{
	const char *returns = json_string_value(json_object_get(signature, "returns"));
	json_t	   *columns = json_object_get(signature, "columns");

	if (strcmp(returns, "row") == 0)
		return schema_of_row(columns);
	if (strcmp(returns, "rows") == 0)
		return json_pack("{s:s, s:{s:{s:s, s:o}}, s:[s]}", "type", "object",
						 "properties", "rows", "type", "array", "items", schema_of_row(columns),
						 "required", "rows");
	return json_pack("{s:s}", "type", "object");
}

/* tools/list: every tool whose function exists (reading tools only in read-only mode). */
json_t *
tools_list(void)
{
	json_t	   *tools = json_array();

	for (size_t i = 0; i < NUM_TOOLS; i++)
	{
		const ToolDef *def = &tool_table[i];
		json_t	   *properties = json_object();
		json_t	   *required = json_array();
		json_t	   *arg;
		size_t		n;
		const char *comment;

		if (signatures[i] == NULL || (mcp_read_only && !def->read_only))
			continue;
		json_array_foreach(json_object_get(signatures[i], "args"), n, arg)
		{
			const char *name = json_string_value(json_object_get(arg, "name"));

			json_object_set_new(properties, name,
								schema_of_type(json_string_value(json_object_get(arg, "type"))));
			if (json_is_true(json_object_get(arg, "required")))
				json_array_append_new(required, json_string(name));
		}
		if (def->waits)
		{
			json_object_set_new(properties, "timeout_seconds",
								json_pack("{s:s, s:i, s:i, s:i}", "type", "integer", "minimum", 0,
										  "maximum", WAIT_MAX_SECONDS, "default", WAIT_DEFAULT_SECONDS));
			json_array_append_new(required, json_string("project_id"));
		}
		comment = def->description ? def->description
			: json_string_value(json_object_get(signatures[i], "comment"));
		json_array_append_new(tools, json_pack("{s:s, s:s, s:s, s:{s:s, s:o, s:o, s:b}, s:o, s:{s:b, s:b, s:b, s:b}}",
											   "name", def->name,
											   "title", def->title,
											   "description", comment ? comment : def->title,
											   "inputSchema",
											   "type", "object",
											   "properties", properties,
											   "required", required,
											   "additionalProperties", 0,
											   "outputSchema", output_schema(signatures[i]),
											   "annotations",
											   "readOnlyHint", def->read_only,
											   "destructiveHint", def->destructive,
											   "idempotentHint", def->idempotent,
											   "openWorldHint", strcmp(def->name, "create_github_issue") == 0));
	}
	return tools;
}

/* A JSON value as the text of an SQL parameter of type type; NULL for null. */
static char *
parameter_text(json_t *value, const char *type, char **why)
{
	bool		is_array = is_array_type(type);
	bool		is_json = strcmp(type, "jsonb") == 0 || strcmp(type, "json") == 0;

	if (json_is_null(value))
		return NULL;
	if (is_array && !json_is_array(value))
		*why = "must be an array";
	else if (is_json || is_array)
		return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	else if (json_is_string(value))
		return strdup(json_string_value(value));
	else if (json_is_integer(value) || json_is_real(value) || json_is_boolean(value))
		return json_dumps(value, JSON_ENCODE_ANY);
	else
		*why = "must be a string, a number or a boolean";
	return NULL;
}

/*
 * tools/call: the SQL and its parameters for params {"name", "arguments"};
 * false with *error (a JSON-RPC error object) for an unknown tool or
 * arguments that do not fit.
 */
bool
tools_prepare_call(json_t *params, char **sql, json_t **values, json_t **error)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t	   *arguments = json_object_get(params, "arguments");
	const ToolDef *def;
	int			index;
	json_t	   *args;
	json_t	   *arg;
	size_t		n;
	const char *key;
	json_t	   *value;
	char	   *buffer = NULL;
	size_t		size = 0;
	FILE	   *out;
	int			given = 0;
	const char *returns;
	int			written;

	*error = NULL;
	if (name == NULL || (def = find_tool(name, &index)) == NULL)
	{
		*error = json_pack("{s:i, s:s}", "code", RPC_INVALID_PARAMS, "message",
						   name ? "unknown tool" : "params.name must name a tool");
		return false;
	}
	if (arguments != NULL && !json_is_object(arguments))
	{
		*error = json_pack("{s:i, s:s}", "code", RPC_INVALID_PARAMS, "message", "params.arguments must be an object");
		return false;
	}
	args = json_object_get(signatures[index], "args");

	/* every argument given must exist, every required one be given */
	if (def->waits)
	{
		json_t	   *timeout = json_object_get(arguments, "timeout_seconds");

		if (timeout != NULL && (!json_is_integer(timeout) || json_integer_value(timeout) < 0 ||
								json_integer_value(timeout) > WAIT_MAX_SECONDS))
		{
			*error = json_pack("{s:i, s:s, s:{s:s, s:i}}", "code", RPC_INVALID_PARAMS,
							   "message", "timeout_seconds must be an integer from 0 to the maximum",
							   "data", "argument", "timeout_seconds", "maximum", WAIT_MAX_SECONDS);
			return false;
		}
		if (!json_is_string(json_object_get(arguments, "project_id")))
		{
			*error = json_pack("{s:i, s:s, s:{s:s}}", "code", RPC_INVALID_PARAMS,
							   "message", "missing required argument", "data", "argument", "project_id");
			return false;
		}
	}
	json_object_foreach(arguments, key, value)
	{
		bool		known = def->waits && strcmp(key, "timeout_seconds") == 0;

		json_array_foreach(args, n, arg)
			known = known || strcmp(json_string_value(json_object_get(arg, "name")), key) == 0;
		if (!known)
		{
			*error = json_pack("{s:i, s:s, s:{s:s}}", "code", RPC_INVALID_PARAMS,
							   "message", "unknown argument", "data", "argument", key);
			return false;
		}
	}

	*values = json_array();
	out = open_memstream(&buffer, &size);
	fprintf(out, "intracker.%s(", def->function);
	json_array_foreach(args, n, arg)
	{
		const char *arg_name = json_string_value(json_object_get(arg, "name"));
		const char *type = json_string_value(json_object_get(arg, "type"));
		json_t	   *given_value = arguments ? json_object_get(arguments, arg_name) : NULL;
		char	   *why = NULL;
		char	   *text;

		if (given_value == NULL && json_is_true(json_object_get(arg, "required")))
		{
			*error = json_pack("{s:i, s:s, s:{s:s}}", "code", RPC_INVALID_PARAMS,
							   "message", "missing required argument", "data", "argument", arg_name);
			break;
		}
		if (given_value == NULL)
			continue;
		text = parameter_text(given_value, type, &why);
		if (why != NULL)
		{
			*error = json_pack("{s:i, s:s, s:{s:s, s:s}}", "code", RPC_INVALID_PARAMS,
							   "message", "argument of the wrong type", "data", "argument", arg_name, "rule", why);
			break;
		}
		json_array_append_new(*values, text ? json_string(text) : json_null());
		free(text);
		given++;
		if (is_array_type(type))
			fprintf(out, "%s\"%s\" => ARRAY(SELECT pg_catalog.jsonb_array_elements_text($%d::pg_catalog.jsonb))::%s",
					given > 1 ? ", " : "", arg_name, given, type);
		else
			fprintf(out, "%s\"%s\" => $%d::%s", given > 1 ? ", " : "", arg_name, given, type);
	}
	fprintf(out, ")");
	fclose(out);
	if (*error != NULL)
	{
		free(buffer);
		json_decref(*values);
		return false;
	}

	/* rows become a JSON array, a row an object, a value its JSON */
	returns = json_string_value(json_object_get(signatures[index], "returns"));
	if (strcmp(returns, "rows") == 0)
		written = asprintf(sql, "SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)), '[]') AS result"
						   " FROM %s AS r", buffer);
	else if (strcmp(returns, "row") == 0)
		written = asprintf(sql, "SELECT pg_catalog.to_jsonb(r) AS result FROM %s AS r", buffer);
	else if (strcmp(returns, "nothing") == 0)
		written = asprintf(sql, "SELECT NULL::pg_catalog.jsonb AS result FROM %s AS r", buffer);
	else
		written = asprintf(sql, "SELECT pg_catalog.to_jsonb(%s) AS result", buffer);
	free(buffer);
	if (written < 0)
		mcp_out_of_memory();
	return true;
}

/* Is params {"name", …} a call of a tool that waits? */
bool
tools_call_waits(json_t *params)
{
	int			index;
	const ToolDef *def = find_tool(json_string_value(json_object_get(params, "name")), &index);

	return def != NULL && def->waits;
}

/* Append "LABEL: value" (when there is a value) to an error text. */
static void
append_field(FILE *out, const char *label, json_t *value)
{
	if (json_string_length(value) > 0)
		fprintf(out, "\n%s: %s", label, json_string_value(value));
}

/* A tool's SQL error as its result: isError, the fields in text and in _meta. */
static json_t *
error_result(PGresult *result)
{
	json_t	   *fields = protocol_sql_error_fields(result);
	char	   *text = NULL;
	size_t		text_size = 0;
	FILE	   *text_out = open_memstream(&text, &text_size);
	const char *message = json_string_value(json_object_get(fields, "message"));
	json_t	   *answer;

	fprintf(text_out, "%s: %s", json_string_value(json_object_get(fields, "sqlstate")), message ? message : "");
	append_field(text_out, "DETAIL", json_object_get(fields, "detail"));
	append_field(text_out, "HINT", json_object_get(fields, "hint"));
	fclose(text_out);
	answer = json_pack("{s:[{s:s, s:s}], s:{s:o}, s:b}", "content", "type", "text", "text", text,
					   "_meta", ERROR_META_KEY, fields, "isError", 1);
	free(text);
	return answer;
}

/*
 * Answer a tools/call with its query's result: the JSON as text content
 * and as structuredContent (rows as {"rows": [...]}, a value that is not an
 * object as {"result": value}), or an SQL error with isError.  A success is
 * written around the server's JSON text as it came (jsonb's output is
 * JSON), not parsed and written again: the documents are the large part of
 * an agent's traffic.
 */
void
tools_send_result(json_t *id, PGresult *result)
{
	char	   *buffer = NULL;
	size_t		size = 0;
	FILE	   *out;
	const char *json_text;
	json_t	   *as_string;

	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		protocol_send_result(id, error_result(result));
		return;
	}
	out = open_memstream(&buffer, &size);
	json_text = PQgetisnull(result, 0, 0) ? "null" : PQgetvalue(result, 0, 0);
	as_string = json_string(json_text);
	fputs("{\"content\":[{\"type\":\"text\",\"text\":", out);
	json_dumpf(as_string, out, JSON_ENCODE_ANY);
	json_decref(as_string);
	if (json_text[0] == '{')
		fprintf(out, "}],\"structuredContent\":%s", json_text);
	else if (json_text[0] == '[')
		fprintf(out, "}],\"structuredContent\":{\"rows\":%s}", json_text);
	else
		fprintf(out, "}],\"structuredContent\":{\"result\":%s}", json_text);
	fputs(",\"isError\":false}", out);
	fclose(out);
	protocol_send_result_text(id, buffer);
}
