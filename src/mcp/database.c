/*-------------------------------------------------------------------------
 *
 * database.c
 *	  intracker-mcp's connection: libpq settings from INTRACKER_DATABASE_URL
 *	  or the PG* variables, identity from INTRACKER_TOKEN through
 *	  intracker.authenticate(), and one query at a time, sent without
 *	  waiting so that the event loop stays responsive and can cancel it.
 *	  A lost connection is replaced at the next call (with backoff while the
 *	  database stays down); the call that finds it lost gets an error
 *	  result at once.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp.h"

static PGconn *conn = NULL;
static PGresult *pending_result = NULL;

/*
 * Whether the database answered this process once, and how the last
 * connection that could not be opened failed (see db_may_come_back).
 */
typedef enum OpeningFailure
{
	OPENING_REFUSED,			/* the token was refused (or nothing failed yet) */
	OPENING_UNREACHED,			/* no connection was made */
	OPENING_LOST				/* made, then lost before it was ready */
} OpeningFailure;

static bool database_answered = false;
static OpeningFailure opening_failure = OPENING_REFUSED;

/*
 * Statements prepared on this connection, by their text: a tool's SQL
 * depends only on which arguments a call gives, so a session has few, and
 * each is parsed and planned once instead of at every call.
 */
#define MAX_PREPARED 64
static char *prepared_sql[MAX_PREPARED];
static int	num_prepared = 0;

static void
forget_prepared(void)
{
	for (int i = 0; i < num_prepared; i++)
		free(prepared_sql[i]);
	num_prepared = 0;
}

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
 * A connection could not be made: does a server answer that it is starting
 * up or shutting down, or (when one answered before) does none answer, as
 * between the two postmasters of a restart?
 */
static bool
database_restarting(void)
{
	const char *url = getenv("INTRACKER_DATABASE_URL");

	switch (PQping(url ? url : ""))
	{
		case PQPING_REJECT:
			return true;
		case PQPING_NO_RESPONSE:
			return database_answered;
		default:
			return false;
	}
}

/*
 * A new connection, authenticated with INTRACKER_TOKEN; NULL (with the
 * reason on stderr) when either fails.  The session's search_path is
 * pinned: the SQL this program sends names its schemas, and casts name
 * pg_catalog's types.  The main connection and the listener's both start
 * here.
 */
PGconn *
db_open_authenticated(const char *application_name)
{
	const char *url = getenv("INTRACKER_DATABASE_URL");
	const char *params[2] = {getenv("INTRACKER_TOKEN"), application_name};
	PGconn	   *opened = PQconnectdb(url ? url : "");
	PGresult   *result;

	if (PQstatus(opened) != CONNECTION_OK)
	{
		mcp_log("cannot connect to the database: %s", PQerrorMessage(opened));
		PQfinish(opened);
		opening_failure = OPENING_UNREACHED;
		return NULL;
	}
	database_answered = true;
	PQsetNoticeReceiver(opened, forward_notice, NULL);
	result = PQexec(opened, "SET search_path = pg_catalog, pg_temp");
	PQclear(result);
	result = PQexecParams(opened, "SELECT pg_catalog.set_config('application_name', $2, false),"
						  " intracker.authenticate($1)", 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		/* refused, or the connection was lost meanwhile */
		opening_failure = PQstatus(opened) == CONNECTION_BAD ? OPENING_LOST : OPENING_REFUSED;
		mcp_log("%s: %s", opening_failure == OPENING_LOST ? "the connection was lost" : "authentication failed",
				PQresultErrorMessage(result));
		PQclear(result);
		PQfinish(opened);
		return NULL;
	}
	PQclear(result);
	return opened;
}

/* (Re)open the main connection, at start-up and after a loss: false when it fails. */
bool
db_connect(void)
{
	PQfinish(conn);
	forget_prepared();
	conn = db_open_authenticated(MCP_SERVER_NAME);
	return conn != NULL;
}

/*
 * After a start-up step failed: may the database be back in a moment, so
 * that trying again is worth it?  Yes when the connection was lost, or
 * could not be made because the database is restarting.  No when it
 * refused the token, lacks intracker, or never answered.
 */
bool
db_may_come_back(void)
{
	if (conn != NULL)
		return PQstatus(conn) == CONNECTION_BAD;
	return opening_failure == OPENING_LOST ||
		(opening_failure == OPENING_UNREACHED && database_restarting());
}

int64_t
mcp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reconnection attempts back off from RECONNECT_MIN_MS, doubling to
 * RECONNECT_MAX_MS, so that a database that is down costs each call an
 * immediate error, not a wait.
 */
#define RECONNECT_MIN_MS	250
#define RECONNECT_MAX_MS	10000

bool
backoff_due(const Backoff *backoff)
{
	return mcp_now_ms() >= backoff->next_attempt_ms;
}

void
backoff_record(Backoff *backoff, bool succeeded)
{
	if (succeeded)
		backoff->delay_ms = 0;
	else
	{
		backoff->delay_ms = backoff->delay_ms == 0 ? RECONNECT_MIN_MS
			: (backoff->delay_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff->delay_ms * 2);
		backoff->next_attempt_ms = mcp_now_ms() + backoff->delay_ms;
	}
}

/*
 * A working connection, reconnecting (and authenticating again) when it was
 * lost: false when that fails or the next attempt is not due yet.
 */
static bool
db_ensure(void)
{
	static Backoff backoff;
	bool		established;

	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return true;
	if (!backoff_due(&backoff))
		return false;
	established = db_connect();
	backoff_record(&backoff, established);
	if (established)
		mcp_log("reconnected to the database");
	return established;
}

/*
 * The idle connection's socket is readable: the server said something
 * unasked (it is shutting down, most likely).  Read it, so that a lost
 * connection is known, and replaced, before the next call.
 */
void
db_idle_input(void)
{
	if (conn != NULL && !PQconsumeInput(conn))
		(void) db_ensure();
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
	char		name[32];
	int			found = -1;

	if (!db_ensure())
		return PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
	for (int i = 0; i < num_prepared && found < 0; i++)
		if (strcmp(prepared_sql[i], sql) == 0)
			found = i;
	if (found < 0 && num_prepared < MAX_PREPARED)
	{
		/* prepared once, waiting for it: parsing a call is brief */
		PGresult   *prepared;

		snprintf(name, sizeof(name), "intracker_mcp_%d", num_prepared);
		prepared = PQprepare(conn, name, sql, nparams, NULL);
		if (PQresultStatus(prepared) != PGRES_COMMAND_OK)
			return prepared;	/* the call's error (or a lost connection) */
		PQclear(prepared);
		prepared_sql[num_prepared] = strdup(sql);
		found = num_prepared++;
	}
	snprintf(name, sizeof(name), "intracker_mcp_%d", found);
	if (!(found >= 0 ? PQsendQueryPrepared(conn, name, nparams, values, NULL, NULL, 0)
		  : PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0)))
		return PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
	return NULL;
}

/* The connection's socket, or -1 while there is no connection. */
int
db_socket(void)
{
	return conn != NULL && PQstatus(conn) == CONNECTION_OK ? PQsocket(conn) : -1;
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
		return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	}
	while (!PQisBusy(conn))
	{
		PGresult   *next = PQgetResult(conn);

		if (next == NULL)
		{
			result = pending_result ? pending_result : PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
			pending_result = NULL;
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
