/*-------------------------------------------------------------------------
 *
 * prompts.c
 *	  The MCP prompts: resume_work, which hands an agent its resume
 *	  context and next action for a project (intracker.resume_context()).
 *
 * An SQL error of a prompt is a JSON-RPC error (a prompt has no isError
 * result): -32602 for what the arguments caused (a project you are not in
 * is PT404, a malformed id 22P02), -32603 otherwise; its data carries the
 * SQLSTATE, message, DETAIL and HINT.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

/* prompts/list */
json_t *
prompts_list(void)
{
	return json_pack("[{s:s, s:s, s:s, s:[{s:s, s:s, s:b}]}]",
					 "name", "resume_work",
					 "title", "Resume work on a project",
					 "description", "Your resume context for a project (your open todos, your last session's "
					 "summary, next steps and blockers, the team's activity in your features) and the next action.",
					 "arguments", "name", "project_id", "description", "The project's id (uuid).", "required", 1);
}

/*
 * prompts/get: the SQL and its parameters, or false with *error (a
 * JSON-RPC error object).
 */
bool
prompts_prepare_get(json_t *params, char **sql, json_t **values, json_t **error)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t	   *project = json_object_get(json_object_get(params, "arguments"), "project_id");

	if (name == NULL || strcmp(name, "resume_work") != 0)
	{
		*error = json_pack("{s:i, s:s}", "code", RPC_INVALID_PARAMS, "message", "unknown prompt");
		return false;
	}
	if (!json_is_string(project))
	{
		*error = json_pack("{s:i, s:s, s:{s:s}}", "code", RPC_INVALID_PARAMS,
						   "message", "missing required argument", "data", "argument", "project_id");
		return false;
	}
	*sql = strdup("SELECT pg_catalog.to_jsonb(intracker.resume_context(\"project_id\" => $1::uuid)) AS result");
	*values = json_pack("[O]", project);
	return true;
}

/* The prompts/get response for the resume context query's result. */
void
prompts_send_result(json_t *id, PGresult *result)
{
	json_t	   *context;
	const char *project_name;
	const char *next_action;
	char	   *text;

	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
		bool		arguments_caused = sqlstate != NULL &&
			(strcmp(sqlstate, "PT404") == 0 || strncmp(sqlstate, "22", 2) == 0);

		protocol_send_error_object(id, protocol_sql_error(result, arguments_caused ? RPC_INVALID_PARAMS : RPC_INTERNAL_ERROR,
														  "intracker could not build the prompt"));
		return;
	}
	context = json_loads(PQgetvalue(result, 0, 0), 0, NULL);
	project_name = json_string_value(json_object_get(json_object_get(context, "project"), "name"));
	next_action = json_string_value(json_object_get(context, "next_action"));
	if (asprintf(&text,
				 "You are resuming your work on the project \"%s\" in intracker.\n\n"
				 "Next action: %s\n\n"
				 "Your resume context (JSON):\n%s\n\n"
				 "Update todos with the version you read; a stale version fails with PT409: re-read and retry.",
				 project_name ? project_name : "?",
				 next_action ? next_action : "see the context",
				 PQgetvalue(result, 0, 0)) < 0)
		mcp_out_of_memory();
	json_decref(context);
	protocol_send_result(id, json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}]}",
									   "description", "Resume work on a project",
									   "messages", "role", "user", "content", "type", "text", "text", text));
	free(text);
}
