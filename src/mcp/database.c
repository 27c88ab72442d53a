/*-------------------------------------------------------------------------
 *
 * database.c
 *	  intracker-mcp's connection: libpq settings from INTRACKER_DATABASE_URL
 *	  or the PG* variables, identity from INTRACKER_TOKEN through
 *	  intracker.authenticate(), and one query at a time, sent without
 *	  waiting so that the event loop stays responsive and can cancel it.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

static PGconn *conn = NULL;
static bool in_flight = false;
static PGresult *pending_result = NULL;

/* NOTICEs (claim_next_todo's "nothing claimable", say) become log messages. */
static void
forward_notice(void *arg, const PGresult *result)
{
	const char *severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);

	(void) arg;
	protocol_notice(severity && strcmp(severity, "WARNING") == 0 ? "warning" : "info",
					message ? message : "");
}

/*
 * Connect and authenticate; NULL (with the reason on stderr) when either
 * fails.  The session's search_path is pinned: the SQL this program sends
 * names its schemas, and casts name pg_catalog's types.
 */
PGconn *
db_connect(void)
{
	const char *url = getenv("INTRACKER_DATABASE_URL");
	const char *token = getenv("INTRACKER_TOKEN");
	const char *params[1];
	PGresult   *result;

	if (token == NULL || token[0] == '\0')
	{
		mcp_log("INTRACKER_TOKEN is not set: give the server an API token (intracker.create_api_token())");
		return NULL;
	}
	conn = PQconnectdb(url ? url : "");
	if (PQstatus(conn) != CONNECTION_OK)
	{
		mcp_log("cannot connect to the database: %s", PQerrorMessage(conn));
		PQfinish(conn);
		conn = NULL;
		return NULL;
	}
	PQsetNoticeReceiver(conn, forward_notice, NULL);

	result = PQexec(conn, "SET search_path = pg_catalog, pg_temp; SET application_name = 'intracker-mcp'");
	PQclear(result);
	params[0] = token;
	result = PQexecParams(conn, "SELECT intracker.authenticate($1)", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		mcp_log("authentication failed: %s", PQresultErrorMessage(result));
		PQclear(result);
		PQfinish(conn);
		conn = NULL;
		return NULL;
	}
	PQclear(result);
	return conn;
}

/* Run sql and wait for it (start-up only). */
PGresult *
db_exec(const char *sql, int nparams, const char *const *values)
{
	return PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
}

/*
 * Send sql with its parameters (text, NULL for SQL NULL) and return without
 * waiting; NULL, or the error result when it could not even be sent.
 */
PGresult *
db_start(const char *sql, int nparams, const char *const *values)
{
	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0))
		return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	in_flight = true;
	return NULL;
}

bool
db_busy(void)
{
	return in_flight;
}

int
db_socket(void)
{
	return PQsocket(conn);
}

/*
 * Read what the server sent (its socket is readable); the query's result
 * once it is complete (the caller PQclears it), else NULL.  A broken
 * connection completes the query with an error result.
 */
PGresult *
db_consume(void)
{
	PGresult   *result;

	if (!PQconsumeInput(conn))
	{
		PQclear(pending_result);
		pending_result = NULL;
		in_flight = false;
		return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	}
	while (!PQisBusy(conn))
	{
		PGresult   *next = PQgetResult(conn);

		if (next == NULL)
		{
			result = pending_result ? pending_result : PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
			pending_result = NULL;
			in_flight = false;
			return result;
		}
		if (pending_result == NULL)
			pending_result = next;
		else
			PQclear(next);
	}
	return NULL;
}

/* Ask the server to cancel the running query (it then ends with 57014). */
void
db_cancel(void)
{
	PGcancel   *cancel = PQgetCancel(conn);
	char		why[256];

	if (cancel == NULL)
		return;
	if (!PQcancel(cancel, why, sizeof(why)))
		mcp_log("could not cancel the running query: %s", why);
	PQfreeCancel(cancel);
}
