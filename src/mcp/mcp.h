/*-------------------------------------------------------------------------
 *
 * mcp.h
 *	  intracker-mcp: the MCP server agents use, over intracker's SQL API.
 *
 * Files: main.c (options, the event loop, line framing), protocol.c
 * (JSON-RPC 2.0, the protocol revisions, the MCP methods), tools.c (the
 * tool table and the SQL call behind each tool), prompts.c (the resume_work
 * prompt), resources.c (the documents by URI), subscriptions.c (resources
 * that announce their changes), waits.c (wait_for_events), database.c (the
 * libpq connection, identity, queries that can be cancelled), listener.c
 * (a second connection that LISTENs).  One request runs at a time; while
 * its query runs the loop keeps reading, answers ping, honours
 * notifications/cancelled and queues the rest.  Waits and subscriptions
 * hold no connection: NOTIFYs and timers wake them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_MCP_H
#define INTRACKER_MCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#define MCP_SERVER_NAME		"intracker-mcp"
#ifndef EXTVERSION
#define EXTVERSION			"dev"
#endif

/* JSON-RPC 2.0 error codes */
#define RPC_PARSE_ERROR			(-32700)
#define RPC_INVALID_REQUEST		(-32600)
#define RPC_METHOD_NOT_FOUND	(-32601)
#define RPC_INVALID_PARAMS		(-32602)
#define RPC_INTERNAL_ERROR		(-32603)
/* resource not found: -32002 before 2026-07-28, which made it Invalid Params with data {"uri"} */
#define RPC_RESOURCE_NOT_FOUND	RPC_INVALID_PARAMS

/* wait_for_events' timeout_seconds */
#define WAIT_DEFAULT_SECONDS	30
#define WAIT_MAX_SECONDS		300
#define WAIT_MAX_PENDING		16	/* waits of one server process at once */

/* reconnection attempts of a connection (database.c) */
typedef struct Backoff
{
	int			delay_ms;
	int64_t		next_attempt_ms;
} Backoff;

/* main.c */
extern bool mcp_read_only;
extern void mcp_log(const char *format,...) __attribute__((format(printf, 1, 2)));
extern void mcp_out_of_memory(void) __attribute__((noreturn));
extern void mcp_send_line(const char *line);
extern void mcp_send(json_t *message);

/* protocol.c */
extern void protocol_handle_line(const char *line, size_t len);
extern void protocol_query_done(PGresult *result);
extern bool protocol_idle(void);
extern void protocol_run_queued(void);
extern void protocol_notice(const char *level, const char *text);
extern json_t *protocol_sql_error_fields(PGresult *result);
extern json_t *protocol_sql_error(PGresult *result, int code, const char *message);
extern void protocol_send_result(json_t *id, json_t *result);
extern void protocol_send_result_text(json_t *id, char *result);
extern void protocol_send_error(json_t *id, int code, const char *message, json_t *data);
extern void protocol_send_error_object(json_t *id, json_t *error);
extern void protocol_enqueue(json_t *message);

/* database.c */
extern int64_t mcp_now_ms(void);
extern bool backoff_due(const Backoff *backoff);
extern void backoff_record(Backoff *backoff, bool succeeded);
extern PGconn *db_open_authenticated(const char *application_name);
extern bool db_connect(void);
extern bool db_may_come_back(void);
extern void db_idle_input(void);
extern PGresult *db_start(const char *sql, int nparams, const char *const *values);
extern PGresult *db_consume(void);
extern void db_cancel(void);
extern PGresult *db_exec(const char *sql, int nparams, const char *const *values);
extern int	db_socket(void);

/* listener.c */
extern PGresult *listener_listen(const char *project_id);
extern json_t *listener_my_projects(void);
extern int	listener_socket(void);
extern int64_t listener_next_attempt_ms(void);
extern void listener_retry(void);
extern void listener_input(void);

/* prompts.c */
extern json_t *prompts_list(void);
extern bool prompts_prepare_get(json_t *params, char **sql, json_t **values, json_t **error);
extern void prompts_send_result(json_t *id, PGresult *result);

/* resources.c */
extern json_t *resources_templates(void);
extern bool resources_parse_uri(const char *uri, const char **function, char **project_id);
extern json_t *resources_not_found(const char *uri);
extern json_t *resources_sql_error(PGresult *result, const char *uri, const char *message);
extern void resources_prepare_list(char **sql, json_t **values);
extern bool resources_prepare_read(json_t *params, char **sql, json_t **values, json_t **error);
extern void resources_send_list(json_t *id, PGresult *result);
extern void resources_send_read(json_t *id, PGresult *result);

/* subscriptions.c */
extern void subscriptions_subscribe(json_t *id, json_t *params);
extern void subscriptions_unsubscribe(json_t *id, json_t *params);
extern void subscriptions_listen(json_t *id, json_t *params);
extern void subscriptions_cancel(json_t *request_id);
extern void subscriptions_project_changed(const char *project_id);
extern void subscriptions_announce(void);
extern int64_t subscriptions_next_due_ms(void);

/* tools.c */
extern bool tools_load(void);
extern json_t *tools_list(void);
extern bool tools_prepare_call(json_t *params, char **sql, json_t **values, json_t **error);
extern bool tools_call_waits(json_t *params);
extern void tools_send_result(json_t *id, PGresult *result);

/* waits.c */
extern bool waits_can_start(json_t *id);
extern PGresult *waits_prepare(json_t *message);
extern void waits_check_done(json_t *id, PGresult *result);
extern void waits_project_changed(const char *project_id);
extern void waits_expire(void);
extern int64_t waits_next_due_ms(void);
extern void waits_forget(json_t *id);

#endif							/* INTRACKER_MCP_H */
