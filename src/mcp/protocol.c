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
 * Protocol versions.  The 2025 era and before: initialize answers the
 * version the client asks for when this server speaks it, else its latest.
 * The stateless revision 2026-07-28: server/discover tells what the server
 * speaks, and every request carries its protocol version and the client's
 * capabilities in params._meta; such a request's result is stamped with
 * resultType, the server's identity and (for lists and reads) cache hints,
 * and it gets log messages only when its _meta asks for a level.  The two
 * mix freely: no request needs an initialize first.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

static const char *const protocol_versions[] = {
	"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"
};
static const char *const stateless_versions[] = {"2026-07-28"};

#define PROTOCOL_VERSION_KEY	"io.modelcontextprotocol/protocolVersion"
#define CLIENT_CAPABILITIES_KEY	"io.modelcontextprotocol/clientCapabilities"
#define LOG_LEVEL_KEY			"io.modelcontextprotocol/logLevel"
#define SERVER_INFO_KEY			"io.modelcontextprotocol/serverInfo"
#define RPC_UNSUPPORTED_VERSION	(-32022)

#define SERVER_INSTRUCTIONS \
	"intracker tracks projects, features and todos for a team of people and agents. " \
	"Start with get_resume_context for your project; claim work with claim_next_todo; " \
	"updates state the version you read (a stale one fails with PT409: re-read and retry). " \
	"wait_for_events returns as soon as the project changes."

/* MCP log levels, least severe first (RFC 5424 names) */
static const char *const log_levels[] = {
	"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"
};

#define NUM_LOG_LEVELS	((int) (sizeof(log_levels) / sizeof(log_levels[0])))

#define TOOLS_PAGE_SIZE 20

/* cache hints (ttlMs) of stateless results: the lists are fixed for the
 * life of the process; the documents are live */
#define LIST_TTL_MS		300000
#define LIVE_TTL_MS		0

/* the level set by logging/setLevel, for requests of the 2025 era */
static int	min_log_level = 1;	/* info */

/*
 * How a request is answered: whether its result is stamped for the
 * stateless revision, its cache hint (-1: none), and the least severe log
 * message it gets (NUM_LOG_LEVELS: none).
 */
typedef struct RequestStyle
{
	bool		stamped;
	int			ttl_ms;
	int			log_level;
} RequestStyle;

/* the request being answered right now */
static RequestStyle answering;

/* the running request: its id (NULL when none), whether it was cancelled,
 * how its query's result becomes its response, and its style */
typedef void (*ResultSender) (json_t *id, PGresult *result);
static json_t *running_id = NULL;
static bool running_cancelled = false;
static ResultSender running_sender = NULL;
static RequestStyle running_style;

/* requests waiting for the running one, oldest first */
typedef struct Queued
{
	json_t	   *message;
	struct Queued *next;
} Queued;
static Queued *queue_head = NULL;
static Queued **queue_tail = &queue_head;

/* What the stateless revision adds to the result being answered (NULL: nothing). */
static json_t *
result_stamp(void)
{
	json_t	   *stamp;

	if (!answering.stamped)
		return NULL;
	stamp = json_pack("{s:s, s:{s:{s:s, s:s}}}", "resultType", "complete",
					  "_meta", SERVER_INFO_KEY, "name", MCP_SERVER_NAME, "version", EXTVERSION);
	if (answering.ttl_ms >= 0)
	{
		json_object_set_new(stamp, "ttlMs", json_integer(answering.ttl_ms));
		json_object_set_new(stamp, "cacheScope", json_string("private"));
	}
	return stamp;
}

/* Answer the request being answered with result (released). */
void
protocol_send_result(json_t *id, json_t *result)
{
	json_t	   *stamp = result_stamp();

	if (stamp)
	{
		/* a result's own _meta (a tool error's) keeps its keys beside the stamp's */
		json_t	   *meta = json_object_get(result, "_meta");

		if (json_is_object(meta))
		{
			json_object_update_missing(meta, json_object_get(stamp, "_meta"));
			json_object_del(stamp, "_meta");
		}
		json_object_update_missing(result, stamp);
		json_decref(stamp);
	}
	mcp_send(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

/*
 * Answer with a result that is JSON object text already (released): the
 * documents are the large part of an agent's traffic, so they are written
 * as the server sent them, not parsed and written again.  A stamp goes in
 * front of the object's members.
 */
void
protocol_send_result_text(json_t *id, char *result)
{
	json_t	   *stamp = result_stamp();
	char	   *stamp_text = stamp ? json_dumps(stamp, JSON_COMPACT) : NULL;
	char	   *id_text = json_dumps(id, JSON_ENCODE_ANY);
	char	   *line;
	int			written;

	if (result == NULL || id_text == NULL || (stamp != NULL && stamp_text == NULL))
		mcp_out_of_memory();
	if (stamp_text)				/* "{stamp members" + "," + "result members}" */
		written = asprintf(&line, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%.*s%s%s}",
						   id_text, (int) strlen(stamp_text) - 1, stamp_text,
						   strcmp(result, "{}") == 0 ? "" : ",", result + 1);
	else
		written = asprintf(&line, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}", id_text, result);
	if (written < 0)
		mcp_out_of_memory();
	mcp_send_line(line);
	free(line);
	free(id_text);
	free(stamp_text);
	json_decref(stamp);
	free(result);
}

/* Answer with a JSON-RPC error object (released). */
void
protocol_send_error_object(json_t *id, json_t *error)
{
	mcp_send(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", error));
}

void
protocol_send_error(json_t *id, int code, const char *message, json_t *data)
{
	json_t	   *error = json_pack("{s:i, s:s}", "code", code, "message", message);

	if (data)
		json_object_set_new(error, "data", data);
	protocol_send_error_object(id, error);
}

/*
 * A query's error as {"sqlstate", "message", "detail", "hint"}.  A result
 * without a server error means the connection is gone (database.c and
 * listener.c reconnect): 08006, said so.
 */
json_t *
protocol_sql_error_fields(PGresult *result)
{
	const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);

	if (sqlstate == NULL)
		return json_pack("{s:s, s:s, s:s}", "sqlstate", "08006", "message", "the database connection is lost",
						 "hint", "intracker-mcp reconnects by itself; try again in a moment.");
	return json_pack("{s:s, s:s?, s:s?, s:s?}", "sqlstate", sqlstate,
					 "message", PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY),
					 "detail", PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL),
					 "hint", PQresultErrorField(result, PG_DIAG_MESSAGE_HINT));
}

/*
 * A request's SQL error as a JSON-RPC error object (for the methods whose
 * results cannot carry isError): the caller's code and message, and the
 * SQL error's fields as data.
 */
json_t *
protocol_sql_error(PGresult *result, int code, const char *message)
{
	return json_pack("{s:i, s:s, s:o}", "code", code, "message", message,
					 "data", protocol_sql_error_fields(result));
}

static int
log_level_index(const char *level)
{
	for (int i = 0; level && i < NUM_LOG_LEVELS; i++)
		if (strcmp(log_levels[i], level) == 0)
			return i;
	return -1;
}

/*
 * A database NOTICE or WARNING (of the running query), as
 * notifications/message when the running request wants its level.
 */
void
protocol_notice(const char *level, const char *text)
{
	if (running_id == NULL || log_level_index(level) < running_style.log_level)
		return;
	mcp_send(json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "jsonrpc", "2.0", "method", "notifications/message",
					   "params", "level", level, "logger", "intracker", "data", text));
}

static json_t *
capabilities(void)
{
	return json_pack("{s:{s:b}, s:{s:b}, s:{s:b, s:b}, s:{}}",
					 "tools", "listChanged", 0, "prompts", "listChanged", 0,
					 "resources", "subscribe", 1, "listChanged", 0, "logging");
}

static json_t *
version_list(const char *const *versions, size_t count)
{
	json_t	   *list = json_array();

	for (size_t i = 0; i < count; i++)
		json_array_append_new(list, json_string(versions[i]));
	return list;
}

#define VERSION_LIST(versions) version_list(versions, sizeof(versions) / sizeof(versions[0]))

/* versions' entry equal to asked (NULL: none, or asked is NULL) */
static const char *
spoken_version(const char *const *versions, size_t count, const char *asked)
{
	for (size_t i = 0; asked && i < count; i++)
		if (strcmp(versions[i], asked) == 0)
			return versions[i];
	return NULL;
}

#define SPOKEN(versions, asked) spoken_version(versions, sizeof(versions) / sizeof(versions[0]), asked)

static void
handle_initialize(json_t *id, json_t *params)
{
	const char *version = SPOKEN(protocol_versions, json_string_value(json_object_get(params, "protocolVersion")));

	if (version == NULL)
		version = protocol_versions[0];
	protocol_send_result(id, json_pack("{s:s, s:o, s:{s:s, s:s, s:s}, s:s}",
									   "protocolVersion", version, "capabilities", capabilities(),
									   "serverInfo", "name", MCP_SERVER_NAME, "title", "intracker", "version", EXTVERSION,
									   "instructions", SERVER_INSTRUCTIONS));
}

/* server/discover (2026-07-28): what initialize said, without a session */
static void
handle_discover(json_t *id)
{
	protocol_send_result(id, json_pack("{s:o, s:o, s:s}",
									   "supportedVersions", VERSION_LIST(stateless_versions),
									   "capabilities", capabilities(),
									   "instructions", SERVER_INSTRUCTIONS));
}

/*
 * The style of a request from its method and params._meta; false (and the
 * error sent) when _meta names a protocol version this server does not
 * speak or lacks the client's capabilities.
 */
static bool
request_style(json_t *id, const char *method, json_t *params, RequestStyle *style)
{
	json_t	   *meta = json_object_get(params, "_meta");
	json_t	   *version = json_object_get(meta, PROTOCOL_VERSION_KEY);
	bool		cacheable = strcmp(method, "server/discover") == 0 || strcmp(method, "tools/list") == 0 ||
		strcmp(method, "prompts/list") == 0 || strcmp(method, "resources/templates/list") == 0;
	bool		live = strcmp(method, "resources/list") == 0 || strcmp(method, "resources/read") == 0;

	style->stamped = version != NULL || strcmp(method, "server/discover") == 0;
	style->ttl_ms = !style->stamped ? -1 : cacheable ? LIST_TTL_MS : live ? LIVE_TTL_MS : -1;
	style->log_level = min_log_level;
	if (version == NULL)
		return true;

	if (SPOKEN(stateless_versions, json_string_value(version)) == NULL)
	{
		protocol_send_error(id, RPC_UNSUPPORTED_VERSION, "unsupported protocol version",
							json_pack("{s:o, s:O}", "supported", VERSION_LIST(stateless_versions),
									  "requested", version));
		return false;
	}
	if (!json_is_object(json_object_get(meta, CLIENT_CAPABILITIES_KEY)))
	{
		protocol_send_error(id, RPC_INVALID_PARAMS, "params._meta lacks the client's capabilities",
							json_pack("{s:s}", "missing", CLIENT_CAPABILITIES_KEY));
		return false;
	}
	/* log messages only when this request asks for them */
	style->log_level = log_level_index(json_string_value(json_object_get(meta, LOG_LEVEL_KEY)));
	if (style->log_level < 0)
		style->log_level = NUM_LOG_LEVELS;
	return true;
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
			protocol_send_error(id, RPC_INVALID_PARAMS, "invalid cursor", NULL);
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
	protocol_send_result(id, result);
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
	running_style = answering;
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
handle_query_request(json_t *message)
{
	json_t	   *id = json_object_get(message, "id");
	const char *method = json_string_value(json_object_get(message, "method"));
	json_t	   *params = json_object_get(message, "params");
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
		protocol_send_error(id, RPC_INVALID_PARAMS, "params must be an object", NULL);
		return;
	}
	if (strcmp(method, "tools/call") == 0)
	{
		ready = tools_prepare_call(params, &sql, &values, &error);
		sender = tools_send_result;
		if (ready && tools_call_waits(params))
		{
			/* wait_for_events: first its LISTEN, then its check (waits.c) */
			PGresult   *failed = NULL;

			if (waits_can_start(id))
				failed = waits_prepare(message);
			else
				error = json_pack("{s:i, s:s, s:{s:i}}", "code", RPC_INVALID_REQUEST,
								  "message", "too many waits in progress", "data", "max_waits", WAIT_MAX_PENDING);
			if (failed != NULL || error != NULL)
			{
				free(sql);
				json_decref(values);
				if (failed != NULL)
				{
					tools_send_result(id, failed);
					PQclear(failed);
				}
				else
					protocol_send_error_object(id, error);
				return;
			}
			sender = waits_check_done;
		}
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
		protocol_send_error_object(id, error);
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
		protocol_send_error(id, RPC_INVALID_PARAMS, "unknown log level", json_pack("{s:s}", "levels", "debug info notice warning error critical alert emergency"));
		return;
	}
	min_log_level = level;
	protocol_send_result(id, json_object());
}

/*
 * Queue a request behind the running one; also how a wait's next check
 * runs again, after those waiting already (waits.c).
 */
void
protocol_enqueue(json_t *message)
{
	Queued	   *queued = malloc(sizeof(Queued));

	if (queued == NULL)
		mcp_out_of_memory();
	queued->message = json_incref(message);
	queued->next = NULL;
	*queue_tail = queued;
	queue_tail = &queued->next;
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
		protocol_send_error(id, RPC_INVALID_PARAMS, "params must be an object", NULL);
		return;
	}
	if (!request_style(id, method, params, &answering))
		return;
	if (strcmp(method, "ping") == 0)
		protocol_send_result(id, json_object());
	else if (strcmp(method, "logging/setLevel") == 0)
		handle_set_level(id, params);
	else if (strcmp(method, "initialize") == 0)
		handle_initialize(id, params);
	else if (strcmp(method, "server/discover") == 0)
		handle_discover(id);
	else if (strcmp(method, "tools/list") == 0)
		handle_tools_list(id, params);
	else if (strcmp(method, "prompts/list") == 0)
		protocol_send_result(id, json_pack("{s:o}", "prompts", prompts_list()));
	else if (strcmp(method, "resources/templates/list") == 0)
		protocol_send_result(id, json_pack("{s:o}", "resourceTemplates", resources_templates()));
	else if (strcmp(method, "resources/subscribe") == 0)
		subscriptions_subscribe(id, params);
	else if (strcmp(method, "resources/unsubscribe") == 0)
		subscriptions_unsubscribe(id, params);
	else if (strcmp(method, "subscriptions/listen") == 0)
		subscriptions_listen(id, params);
	else if (needs_query(method))
	{
		if (running_id != NULL)
			protocol_enqueue(message);
		else
			handle_query_request(message);
	}
	else
		protocol_send_error(id, RPC_METHOD_NOT_FOUND, "method not found", json_pack("{s:s}", "method", method));
}

/*
 * notifications/cancelled: the running request's query is cancelled (and
 * the request gets no response); a queued one is dropped; a wait or a
 * subscriptions/listen stream ends.
 */
static void
cancel_request(json_t *request_id)
{
	Queued	  **link = &queue_head;

	if (request_id == NULL)
		return;
	if (running_id != NULL && json_equal(request_id, running_id))
	{
		running_cancelled = true;
		db_cancel();
	}
	while (*link != NULL)
	{
		Queued	   *queued = *link;

		if (json_equal(json_object_get(queued->message, "id"), request_id))
		{
			*link = queued->next;
			json_decref(queued->message);
			free(queued);
		}
		else
			link = &queued->next;
	}
	queue_tail = &queue_head;
	while (*queue_tail != NULL)
		queue_tail = &(*queue_tail)->next;
	waits_forget(request_id);
	subscriptions_cancel(request_id);
}

static void
handle_notification(json_t *message)
{
	const char *method = json_string_value(json_object_get(message, "method"));
	json_t	   *params = json_object_get(message, "params");

	if (strcmp(method, "notifications/cancelled") == 0)
		cancel_request(json_object_get(params, "requestId"));
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
		protocol_send_error(NULL, RPC_PARSE_ERROR, "parse error", json_pack("{s:s}", "reason", error.text));
		return;
	}
	id = json_object_get(message, "id");
	method = json_object_get(message, "method");
	if (!json_is_object(message) ||
		!json_is_string(json_object_get(message, "jsonrpc")) ||
		strcmp(json_string_value(json_object_get(message, "jsonrpc")), "2.0") != 0 ||
		(id != NULL && !json_is_string(id) && !json_is_integer(id)))
		protocol_send_error(json_is_string(id) || json_is_integer(id) ? id : NULL, RPC_INVALID_REQUEST, "invalid request", NULL);
	else if (method == NULL)
		;						/* a response to us: we send no requests */
	else if (!json_is_string(method))
		protocol_send_error(id, RPC_INVALID_REQUEST, "method must be a string", NULL);
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
	answering = running_style;
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
