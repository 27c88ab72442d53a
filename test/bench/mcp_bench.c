/*
 * test/bench/mcp_bench.c — one tool call's round trip through intracker-mcp
 * against the same SQL call over libpq, for test/bench/mcp.sh.
 *
 *   mcp_bench MCP_BINARY PROJECT_ID CALLS ROUNDS
 *
 * Environment: INTRACKER_DATABASE_URL and INTRACKER_TOKEN, as for the
 * server.  Each round times CALLS calls of each tool (claim_next_todo,
 * get_resume_context) both ways, alternating call by call, and prints one
 * line per tool: "round tool mcp_mean_us libpq_mean_us".  The libpq side
 * sends what the server sends for the tool (the same statement, through
 * PQexecParams) on a connection authenticated with the same token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <libpq-fe.h>

static FILE *to_server;
static FILE *from_server;

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void
die(const char *what)
{
	fprintf(stderr, "mcp_bench: %s\n", what);
	exit(1);
}

/* Start the server with pipes on its stdin and stdout. */
static void
start_server(const char *binary)
{
	int			in[2];
	int			out[2];

	if (pipe(in) != 0 || pipe(out) != 0)
		die("pipe failed");
	if (fork() == 0)
	{
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(binary, binary, (char *) NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	to_server = fdopen(in[1], "w");
	from_server = fdopen(out[0], "r");
}

/* Send one request line and read lines until its response (by id). */
static void
mcp_call(const char *request, int id)
{
	static char *line = NULL;
	static size_t size = 0;
	char		tag[32];

	fputs(request, to_server);
	fputc('\n', to_server);
	fflush(to_server);
	snprintf(tag, sizeof(tag), "\"id\":%d,", id);
	while (getline(&line, &size, from_server) > 0)
	{
		if (strstr(line, tag) != NULL)
		{
			if (strstr(line, "\"isError\":true") != NULL || strstr(line, "\"error\":") != NULL)
			{
				fprintf(stderr, "%s", line);
				die("a tool call failed");
			}
			return;
		}
	}
	die("the server ended");
}

static void
sql_call(PGconn *conn, const char *sql, const char *project)
{
	const char *params[1] = {project};
	PGresult   *result = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "%s", PQresultErrorMessage(result));
		die("an SQL call failed");
	}
	PQclear(result);
}

int
main(int argc, char **argv)
{
	/* what intracker-mcp sends for each tool (src/mcp/tools.c) */
	static const struct
	{
		const char *tool;
		const char *sql;
	}			tools[] = {
		{"claim_next_todo",
		 "SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)), '[]') AS result"
		 " FROM intracker.claim_next_todo(\"project_id\" => $1::uuid) AS r"},
		{"get_resume_context",
		 "SELECT pg_catalog.to_jsonb(intracker.resume_context(\"project_id\" => $1::uuid)) AS result"},
	};
	const char *project;
	int			calls;
	int			rounds;
	int			id = 1;
	PGconn	   *conn;
	const char *token_param[1];
	PGresult   *result;
	char		request[512];

	if (argc != 5)
		die("usage: mcp_bench MCP_BINARY PROJECT_ID CALLS ROUNDS");
	project = argv[2];
	calls = atoi(argv[3]);
	rounds = atoi(argv[4]);

	conn = PQconnectdb(getenv("INTRACKER_DATABASE_URL") ? getenv("INTRACKER_DATABASE_URL") : "");
	if (PQstatus(conn) != CONNECTION_OK)
		die(PQerrorMessage(conn));
	token_param[0] = getenv("INTRACKER_TOKEN");
	result = PQexec(conn, "SET search_path = pg_catalog, pg_temp");
	PQclear(result);
	result = PQexecParams(conn, "SELECT intracker.authenticate($1)", 1, NULL, token_param, NULL, NULL, 0);
	if (PQresultStatus(result) != PGRES_TUPLES_OK)
		die(PQresultErrorMessage(result));
	PQclear(result);

	start_server(argv[1]);
	snprintf(request, sizeof(request), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"initialize\","
			 "\"params\":{\"protocolVersion\":\"2025-11-25\"}}", id);
	mcp_call(request, id++);

	/* round 0 warms up both sides, and is not printed */
	for (int round = 0; round <= rounds; round++)
	{
		for (size_t t = 0; t < sizeof(tools) / sizeof(tools[0]); t++)
		{
			double		mcp_total = 0;
			double		sql_total = 0;

			for (int i = 0; i < calls; i++)
			{
				double		start;

				snprintf(request, sizeof(request),
						 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\","
						 "\"params\":{\"name\":\"%s\",\"arguments\":{\"project_id\":\"%s\"}}}",
						 id, tools[t].tool, project);
				start = now_us();
				mcp_call(request, id++);
				mcp_total += now_us() - start;

				start = now_us();
				sql_call(conn, tools[t].sql, project);
				sql_total += now_us() - start;
			}
			if (round > 0)
				printf("%d %s %.1f %.1f\n", round, tools[t].tool, mcp_total / calls, sql_total / calls);
		}
		fflush(stdout);
	}
	fclose(to_server);
	wait(NULL);
	PQfinish(conn);
	return 0;
}
