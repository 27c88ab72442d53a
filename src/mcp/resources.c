/*-------------------------------------------------------------------------
 *
 * resources.c
 *	  The MCP resources: the documents an agent reads, by URI.
 *
 *	  intracker://projects/{project_id}/team-context	 team_context()
 *	  intracker://projects/{project_id}/resume-context	 resume_context()
 *	  intracker://me/todos								 get_my_todos()
 *
 * resources/list names them for the caller's projects.  The SQL of a read
 * returns the URI beside the document, so that the response needs nothing
 * but the query's result.  A project you are not in, or a URI that names
 * nothing, is "resource not found": -32602 with data {"uri"} only, as the
 * 2026-07-28 specification asks of every revision; other SQL errors -32603, with
 * the SQLSTATE, message, DETAIL and HINT in data.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* strndup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

/* the URI of the running resources/read (its error names it) */
static char *reading_uri = NULL;

#define PROJECT_PREFIX			"intracker://projects/"
#define MY_TODOS_URI			"intracker://me/todos"

/* resources/templates/list */
json_t *
resources_templates(void)
{
	return json_pack("[{s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s}]",
					 "uriTemplate", PROJECT_PREFIX "{project_id}/team-context", "name", "team-context",
					 "title", "Team context of a project",
					 "description", "The team's current state as one JSON document (intracker.team_context).",
					 "mimeType", "application/json",
					 "uriTemplate", PROJECT_PREFIX "{project_id}/resume-context", "name", "resume-context",
					 "title", "Your resume context in a project",
					 "description", "What you need to resume your work, with the next action (intracker.resume_context).",
					 "mimeType", "application/json");
}

/* resources/list: the caller's projects' documents, and their own todos. */
void
resources_prepare_list(char **sql, json_t **values)
{
	*sql = strdup(
				  "SELECT pg_catalog.jsonb_build_object('resources',"
				  "  COALESCE((SELECT pg_catalog.jsonb_agg(x.r ORDER BY x.r ->> 'uri') FROM ("
				  "     SELECT pg_catalog.jsonb_build_object("
				  "              'uri', '" PROJECT_PREFIX "' || p.id || '/' || k.kind,"
				  "              'name', p.name || ': ' || k.kind, 'mimeType', 'application/json') AS r"
				  "       FROM intracker.list_projects() AS p"
				  "      CROSS JOIN (VALUES ('team-context'), ('resume-context')) AS k (kind)) AS x), '[]')"
				  "  || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object("
				  "       'uri', '" MY_TODOS_URI "', 'name', 'My open todos', 'mimeType', 'application/json')))"
				  " AS result");
	*values = json_array();
}

/*
 * What a URI names: true with the SQL function that reads it and the
 * project's id (malloc'd; NULL for intracker://me/todos, which spans the
 * caller's projects), or false when it names no resource.
 */
bool
resources_parse_uri(const char *uri, const char **function, char **project_id)
{
	const char *id_start = uri ? uri + strlen(PROJECT_PREFIX) : NULL;
	const char *kind;

	*function = NULL;
	*project_id = NULL;
	if (uri != NULL && strcmp(uri, MY_TODOS_URI) == 0)
	{
		*function = "get_my_todos";
		return true;
	}
	if (uri == NULL || strncmp(uri, PROJECT_PREFIX, strlen(PROJECT_PREFIX)) != 0 ||
		(kind = strchr(id_start, '/')) == NULL)
		return false;
	if (strcmp(kind, "/team-context") == 0)
		*function = "team_context";
	else if (strcmp(kind, "/resume-context") == 0)
		*function = "resume_context";
	else
		return false;
	*project_id = strndup(id_start, (size_t) (kind - id_start));
	return true;
}

/* The JSON-RPC error for a URI that names no resource the caller can read. */
json_t *
resources_not_found(const char *uri)
{
	return json_pack("{s:i, s:s, s:{s:s?}}", "code", RPC_RESOURCE_NOT_FOUND,
					 "message", "resource not found", "data", "uri", uri);
}

/*
 * resources/read: the SQL and its parameters for params {"uri"}, or false
 * with *error (a JSON-RPC error object).
 */
bool
resources_prepare_read(json_t *params, char **sql, json_t **values, json_t **error)
{
	const char *uri = json_string_value(json_object_get(params, "uri"));
	const char *function;
	char	   *project_id;

	if (!resources_parse_uri(uri, &function, &project_id))
	{
		*error = resources_not_found(uri);
		return false;
	}
	free(reading_uri);
	reading_uri = strdup(uri);
	if (project_id == NULL)
	{
		*sql = strdup("SELECT $1::text AS uri,"
					  " COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t)), '[]') AS result"
					  " FROM intracker.get_my_todos() AS t");
		*values = json_pack("[s]", uri);
		return true;
	}
	if (asprintf(sql, "SELECT $1::text AS uri, pg_catalog.to_jsonb(intracker.%s($2::uuid)) AS result", function) < 0)
		mcp_out_of_memory();
	*values = json_pack("[s, s]", uri, project_id);
	free(project_id);
	return true;
}

/*
 * The JSON-RPC error object for a failed query about a resource: not found
 * when uri (NULL for a list) names a project the caller is not in, or
 * none; else -32603 with message and the SQL error's fields.
 */
json_t *
resources_sql_error(PGresult *result, const char *uri, const char *message)
{
	const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);

	if (uri != NULL && sqlstate != NULL && (strcmp(sqlstate, "PT404") == 0 || strcmp(sqlstate, "22P02") == 0))
		return resources_not_found(uri);
	return protocol_sql_error(result, RPC_INTERNAL_ERROR, message);
}

/* resources/list's response: the result is the whole answer. */
void
resources_send_list(json_t *id, PGresult *result)
{
	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		protocol_send_error_object(id, resources_sql_error(result, NULL, "intracker could not read the resource"));
		return;
	}
	protocol_send_result_text(id, strdup(PQgetvalue(result, 0, 0)));
}

/* resources/read's response: the document as the text of its URI. */
void
resources_send_read(json_t *id, PGresult *result)
{
	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		protocol_send_error_object(id, resources_sql_error(result, reading_uri, "intracker could not read the resource"));
		return;
	}
	protocol_send_result(id, json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", PQgetvalue(result, 0, 0),
									   "mimeType", "application/json", "text", PQgetvalue(result, 0, 1)));
}
