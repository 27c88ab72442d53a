/*-------------------------------------------------------------------------
 *
 * protocol.c
 *	  JSON-RPC 2.0 over newline-delimited stdio, and the MCP methods.
 *
 * One request runs at a time (its query in database.c).  Meanwhile a new
 * line is handled at once when it needs no database (ping, cancellation,
 * logging/setLevel, notifications, errors), and queued otherwise, in
 * order.  A request cancelled by notifications/cancelled gets no response
 * (as the specification asks); its query is cancelled on the server.
 *
 * Protocol versions: initialize answers the version the client asks for
 * when this server speaks it, else its latest.  Requests need no
 * initialize first, so that clients of the stateless revisions work too.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

static const char *const protocol_versions[] = {
	"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"
};

/* MCP log levels, least severe first (RFC 5424 names) */
static const char *const log_levels[] = {
	"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"
};

#define TOOLS_PAGE_SIZE 20

static int	min_log_level = 1;	/* info */

/* the running request: its id (NULL when none), whether it was cancelled,
 * and how its query's result becomes its response */
typedef void (*ResultSender) (json_t *id, PGresult *result);
static json_t *running_id = NULL;
static bool running_cancelled = false;
static ResultSender running_sender = NULL;

/* requests waiting for the running one, oldest first */
typedef struct Queued
{
	json_t	   *message;
	struct Queued *next;
} Queued;
static Queued *queue_head = NULL;
static Queued **queue_tail = &queue_head;

static void
send_result(json_t *id, json_t *result)
{
	mcp_send(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

static void
send_error(json_t *id, int code, const char *message, json_t *data)
{
	json_t	   *error = json_pack("{s:i, s:s}", "code", code, "message", message);

	if (data)
		json_object_set_new(error, "data", data);
	mcp_send(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", error));
}

/*
 * A request's SQL error as a JSON-RPC error (for the methods whose results
 * cannot carry isError): the caller's code and message, and in data the
 * SQLSTATE (08006 when the connection is gone), message, DETAIL and HINT.
 */
void
protocol_send_sql_error(json_t *id, PGresult *result, int code, const char *message)
{
	const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);

	mcp_send(json_pack("{s:s, s:O, s:{s:i, s:s, s:{s:s, s:s?, s:s?, s:s?}}}",
					   "jsonrpc", "2.0", "id", id, "error",
					   "code", code, "message", message,
					   "data", "sqlstate", sqlstate ? sqlstate : "08006",
					   "message", PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY),
					   "detail", PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL),
					   "hint", PQresultErrorField(result, PG_DIAG_MESSAGE_HINT)));
}

static int
log_level_index(const char *level)
{
	for (size_t i = 0; level && i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (strcmp(log_levels[i], level) == 0)
			return (int) i;
	return -1;
}

/* A database NOTICE or WARNING, as notifications/message when its level is wanted. */
void
protocol_notice(const char *level, const char *text)
{
	if (log_level_index(level) < min_log_level)
		return;
	mcp_send(json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "jsonrpc", "2.0", "method", "notifications/message",
					   "params", "level", level, "logger", "intracker", "data", text));
}

static void
handle_initialize(json_t *id, json_t *params)
{
	const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
	const char *version = protocol_versions[0];

	for (size_t i = 0; asked && i < sizeof(protocol_versions) / sizeof(protocol_versions[0]); i++)
		if (strcmp(protocol_versions[i], asked) == 0)
			version = protocol_versions[i];
	send_result(id, json_pack("{s:s, s:{s:{s:b}, s:{s:b}, s:{s:b, s:b}, s:{}}, s:{s:s, s:s, s:s}, s:s}",
							  "protocolVersion", version,
							  "capabilities", "tools", "listChanged", 0, "prompts", "listChanged", 0,
							  "resources", "subscribe", 0, "listChanged", 0, "logging",
							  "serverInfo", "name", MCP_SERVER_NAME, "title", "intracker", "version", EXTVERSION,
							  "instructions",
							  "intracker tracks projects, features and todos for a team of people and agents. "
							  "Start with get_resume_context for your project; claim work with claim_next_todo; "
							  "updates state the version you read (a stale one fails with PT409: re-read and retry)."));
}

/* tools/list with cursor pagination: the cursor is the index of the page's first tool. */
static void
handle_tools_list(json_t *id, json_t *params)
{
	json_t	   *all = tools_list();
	json_t	   *page = json_array();
	json_t	   *cursor = json_object_get(params, "cursor");
	long		start = 0;
	json_t	   *result;

	if (cursor != NULL)
	{
		char	   *end;
		const char *text = json_string_value(cursor);

		start = text ? strtol(text, &end, 10) : -1;
		if (text == NULL || *end != '\0' || start < 0 || (size_t) start > json_array_size(all))
		{
			json_decref(all);
			json_decref(page);
			send_error(id, RPC_INVALID_PARAMS, "invalid cursor", NULL);
			return;
		}
	}
	for (size_t i = (size_t) start; i < json_array_size(all) && i < (size_t) start + TOOLS_PAGE_SIZE; i++)
		json_array_append(page, json_array_get(all, i));
	result = json_pack("{s:o}", "tools", page);
	if ((size_t) start + TOOLS_PAGE_SIZE < json_array_size(all))
	{
		char		next[32];

		snprintf(next, sizeof(next), "%ld", start + TOOLS_PAGE_SIZE);
		json_object_set_new(result, "nextCursor", json_string(next));
	}
	json_decref(all);
	send_result(id, result);
}

static void
send_tool_result(json_t *id, PGresult *result)
{
	mcp_send_result_text(id, tools_result(result));
}

/*
 * Start a request's query: sql with values (a JSON array of strings and
 * nulls); sender answers it once the result is in.
 */
static void
start_query(json_t *id, char *sql, json_t *values, ResultSender sender)
{
	const char **texts = calloc(json_array_size(values) + 1, sizeof(char *));
	size_t		n;
	json_t	   *value;
	PGresult   *failed;

	json_array_foreach(values, n, value)
		texts[n] = json_string_value(value);	/* NULL for json null */
	failed = db_start(sql, (int) json_array_size(values), texts);
	free(texts);
	free(sql);
	json_decref(values);
	if (failed)
	{
		sender(id, failed);
		PQclear(failed);
		return;
	}
	running_id = json_incref(id);
	running_cancelled = false;
	running_sender = sender;
}

/* Is this a request that runs a query (and waits its turn)? */
static bool
needs_query(const char *method)
{
	return strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0 ||
		strcmp(method, "resources/list") == 0 || strcmp(method, "resources/read") == 0;
}

/* tools/call, prompts/get, resources/list and resources/read */
static void
handle_query_request(json_t *id, const char *method, json_t *params)
{
	char	   *sql = NULL;
	json_t	   *values = NULL;
	json_t	   *error = NULL;
	bool		ready;
	ResultSender sender;

	if (strcmp(method, "resources/list") == 0)
	{
		resources_prepare_list(&sql, &values);
		start_query(id, sql, values, resources_send_list);
		return;
	}
	if (!json_is_object(params))
	{
		send_error(id, RPC_INVALID_PARAMS, "params must be an object", NULL);
		return;
	}
	if (strcmp(method, "tools/call") == 0)
	{
		ready = tools_prepare_call(params, &sql, &values, &error);
		sender = send_tool_result;
	}
	else if (strcmp(method, "prompts/get") == 0)
	{
		ready = prompts_prepare_get(params, &sql, &values, &error);
		sender = prompts_send_result;
	}
	else
	{
		ready = resources_prepare_read(params, &sql, &values, &error);
		sender = resources_send_read;
	}
	if (!ready)
	{
		mcp_send(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "error", error));
		return;
	}
	start_query(id, sql, values, sender);
}

static void
handle_set_level(json_t *id, json_t *params)
{
	int			level = log_level_index(json_string_value(json_object_get(params, "level")));

	if (level < 0)
	{
		send_error(id, RPC_INVALID_PARAMS, "unknown log level", json_pack("{s:s}", "levels", "debug info notice warning error critical alert emergency"));
		return;
	}
	min_log_level = level;
	send_result(id, json_object());
}

/* A request: answer it, start it, or queue it behind the running one. */
static void
handle_request(json_t *message)
{
	json_t	   *id = json_object_get(message, "id");
	const char *method = json_string_value(json_object_get(message, "method"));
	json_t	   *params = json_object_get(message, "params");

	if (params != NULL && !json_is_object(params))
	{
		send_error(id, RPC_INVALID_PARAMS, "params must be an object", NULL);
		return;
	}
	if (strcmp(method, "ping") == 0)
		send_result(id, json_object());
	else if (strcmp(method, "logging/setLevel") == 0)
		handle_set_level(id, params);
	else if (strcmp(method, "initialize") == 0)
		handle_initialize(id, params);
	else if (strcmp(method, "tools/list") == 0)
		handle_tools_list(id, params);
	else if (strcmp(method, "prompts/list") == 0)
		send_result(id, json_pack("{s:o}", "prompts", prompts_list()));
	else if (strcmp(method, "resources/templates/list") == 0)
		send_result(id, json_pack("{s:o}", "resourceTemplates", resources_templates()));
	else if (needs_query(method))
	{
		if (running_id != NULL)
		{
			Queued	   *queued = malloc(sizeof(Queued));

			queued->message = json_incref(message);
			queued->next = NULL;
			*queue_tail = queued;
			queue_tail = &queued->next;
			return;
		}
		handle_query_request(id, method, params);
	}
	else
		send_error(id, RPC_METHOD_NOT_FOUND, "method not found", json_pack("{s:s}", "method", method));
}

static void
handle_notification(json_t *message)
{
	const char *method = json_string_value(json_object_get(message, "method"));
	json_t	   *params = json_object_get(message, "params");

	if (strcmp(method, "notifications/cancelled") == 0 && running_id != NULL &&
		json_equal(json_object_get(params, "requestId"), running_id))
	{
		running_cancelled = true;
		db_cancel();
	}
	/* notifications/initialized and any other: nothing to do */
}

/* One line from stdin: a JSON-RPC message, or an error for the client. */
void
protocol_handle_line(const char *line, size_t len)
{
	json_error_t error;
	json_t	   *message;
	json_t	   *id;
	json_t	   *method;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return;
	message = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
	if (message == NULL)
	{
		send_error(NULL, RPC_PARSE_ERROR, "parse error", json_pack("{s:s}", "reason", error.text));
		return;
	}
	id = json_object_get(message, "id");
	method = json_object_get(message, "method");
	if (!json_is_object(message) ||
		!json_is_string(json_object_get(message, "jsonrpc")) ||
		strcmp(json_string_value(json_object_get(message, "jsonrpc")), "2.0") != 0 ||
		(id != NULL && !json_is_string(id) && !json_is_integer(id)))
		send_error(json_is_string(id) || json_is_integer(id) ? id : NULL, RPC_INVALID_REQUEST, "invalid request", NULL);
	else if (method == NULL)
		;						/* a response to us: we send no requests */
	else if (!json_is_string(method))
		send_error(id, RPC_INVALID_REQUEST, "method must be a string", NULL);
	else if (id == NULL)
		handle_notification(message);
	else
		handle_request(message);
	json_decref(message);
}

/* The running request's query has its result. */
void
protocol_query_done(PGresult *result)
{
	json_t	   *id = running_id;

	running_id = NULL;
	if (!running_cancelled)
		running_sender(id, result);
	json_decref(id);
	PQclear(result);
}

bool
protocol_idle(void)
{
	return running_id == NULL;
}

/* Start the queued requests until one is running (or none is left). */
void
protocol_run_queued(void)
{
	while (running_id == NULL && queue_head != NULL)
	{
		Queued	   *next = queue_head;

		queue_head = next->next;
		if (queue_head == NULL)
			queue_tail = &queue_head;
		handle_request(next->message);
		json_decref(next->message);
		free(next);
	}
}
