/*-------------------------------------------------------------------------
 *
 * mcp.h
 *	  intracker-mcp: the MCP server agents use, over intracker's SQL API.
 *
 * Files: main.c (options, the event loop, line framing), protocol.c
 * (JSON-RPC 2.0 and the MCP methods), tools.c (the tool table and the SQL
 * call behind each tool), prompts.c (the resume_work prompt), resources.c
 * (the documents by URI), database.c
 * (the libpq connection, identity, queries that can be cancelled).  One request runs at a time; while its
 * query runs the loop keeps reading, answers ping, honours
 * notifications/cancelled and queues the rest.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_MCP_H
#define INTRACKER_MCP_H

#include <stdbool.h>
#include <stddef.h>

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

/* main.c */
extern bool mcp_read_only;
extern void mcp_log(const char *format,...) __attribute__((format(printf, 1, 2)));
extern void mcp_send(json_t *message);
extern void mcp_send_result_text(json_t *id, char *result);

/* protocol.c */
extern void protocol_handle_line(const char *line, size_t len);
extern void protocol_query_done(PGresult *result);
extern bool protocol_idle(void);
extern void protocol_run_queued(void);
extern void protocol_notice(const char *level, const char *text);
extern void protocol_send_sql_error(json_t *id, PGresult *result, int code, const char *message);

/* database.c */
extern bool db_connect(void);
extern void db_idle_input(void);
extern PGresult *db_start(const char *sql, int nparams, const char *const *values);
extern bool db_busy(void);
extern PGresult *db_consume(void);
extern void db_cancel(void);
extern PGresult *db_exec(const char *sql, int nparams, const char *const *values);
extern int	db_socket(void);

/* prompts.c */
extern json_t *prompts_list(void);
extern bool prompts_prepare_get(json_t *params, char **sql, json_t **values, json_t **error);
extern void prompts_send_result(json_t *id, PGresult *result);

/* resources.c */
extern json_t *resources_templates(void);
extern void resources_prepare_list(char **sql, json_t **values);
extern bool resources_prepare_read(json_t *params, char **sql, json_t **values, json_t **error);
extern void resources_send_list(json_t *id, PGresult *result);
extern void resources_send_read(json_t *id, PGresult *result);

/* tools.c */
extern bool tools_load(void);
extern json_t *tools_list(void);
extern bool tools_prepare_call(json_t *params, char **sql, json_t **values, json_t **error);
extern char *tools_result(PGresult *result);

#endif							/* INTRACKER_MCP_H */
