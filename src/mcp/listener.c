/*-------------------------------------------------------------------------
 *
 * listener.c
 *	  intracker-mcp's second connection: it LISTENs on the channels of the
 *	  projects whose changes someone waits for (a subscribed resource, a
 *	  wait_for_events call), and turns each NOTIFY into "project P changed"
 *	  for subscriptions.c and waits.c.
 *
 * It has a connection of its own because the main one runs one query at a
 * time: a NOTIFY must be read while a long tool call runs, and a wait must
 * not hold the connection other calls need.  LISTEN goes through
 * intracker.listen_project(), so that only a project's members hear it.
 * Its statements are short and waited for, under a statement_timeout.
 *
 * A lost connection is replaced (with backoff) and every channel LISTENed
 * again; since events may have been missed meanwhile, every project then
 * counts as changed.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

#define CHANNEL_PREFIX	"intracker.project."
#define UUID_LENGTH		36

static PGconn *listen_conn = NULL;
static bool reconnecting = false;	/* the connection was there once */
static Backoff backoff;

/* the projects LISTENed on, each as the text of its id (only a member's) */
static char **projects = NULL;
static int	num_projects = 0;

static bool
is_listening(const char *project_id)
{
	for (int i = 0; i < num_projects; i++)
		if (strcmp(projects[i], project_id) == 0)
			return true;
	return false;
}

/* LISTEN on one project's channel; the error result (caller clears) or NULL. */
static PGresult *
listen_on(const char *project_id)
{
	const char *params[1] = {project_id};
	PGresult   *result = PQexecParams(listen_conn, "SELECT intracker.listen_project($1::uuid)",
									  1, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(result) == PGRES_TUPLES_OK)
	{
		PQclear(result);
		return NULL;
	}
	return result;
}

/* Every project has changed (we were not listening for a while). */
static void
all_changed(void)
{
	for (int i = 0; i < num_projects; i++)
	{
		subscriptions_project_changed(projects[i]);
		waits_project_changed(projects[i]);
	}
}

/*
 * A working listening connection, opening it (and LISTENing on every known
 * project again) when needed; false while the database cannot be reached.
 */
static bool
ensure_connection(void)
{
	PGresult   *result;

	if (listen_conn != NULL && PQstatus(listen_conn) == CONNECTION_OK)
		return true;
	if (!backoff_due(&backoff))
		return false;
	PQfinish(listen_conn);
	listen_conn = db_open_authenticated(MCP_SERVER_NAME " listener");
	backoff_record(&backoff, listen_conn != NULL);
	if (listen_conn == NULL)
		return false;
	result = PQexec(listen_conn, "SET statement_timeout = '5s'");
	PQclear(result);
	for (int i = 0; i < num_projects;)
	{
		result = listen_on(projects[i]);
		if (result == NULL)
		{
			i++;
			continue;
		}
		/* no longer a member: nobody may hear this project any more */
		PQclear(result);
		free(projects[i]);
		projects[i] = projects[--num_projects];
	}
	if (reconnecting)
		all_changed();
	reconnecting = true;
	return true;
}

/*
 * LISTEN on a project's channel (once).  NULL on success, else an error
 * result the caller clears: the SQL error (PT404 for a project the caller
 * is not in), or an empty error result when the database is unreachable.
 */
PGresult *
listener_listen(const char *project_id)
{
	PGresult   *result;

	if (is_listening(project_id))
		return NULL;
	if (!ensure_connection())
		return PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
	result = listen_on(project_id);
	if (result == NULL)
	{
		projects = realloc(projects, (num_projects + 1) * sizeof(char *));
		if (projects == NULL)
			mcp_out_of_memory();
		projects[num_projects++] = strdup(project_id);
	}
	return result;
}

/*
 * The projects the caller is a member of, as a JSON array of id strings
 * (intracker://me/todos follows them all); NULL when that cannot be read.
 */
json_t *
listener_my_projects(void)
{
	PGresult   *result;
	json_t	   *ids;

	if (!ensure_connection())
		return NULL;
	result = PQexec(listen_conn, "SELECT id FROM intracker.list_projects()");
	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		PQclear(result);
		return NULL;
	}
	ids = json_array();
	for (int row = 0; row < PQntuples(result); row++)
		json_array_append_new(ids, json_string(PQgetvalue(result, row, 0)));
	PQclear(result);
	return ids;
}

/* The listening connection's socket, or -1 when there is none. */
int
listener_socket(void)
{
	return listen_conn != NULL && PQstatus(listen_conn) == CONNECTION_OK ? PQsocket(listen_conn) : -1;
}

/*
 * When the listening connection is lost while someone waits, the time to
 * try again; -1 when nothing is due.
 */
int64_t
listener_next_attempt_ms(void)
{
	if (num_projects == 0 || listener_socket() >= 0)
		return -1;
	return backoff.next_attempt_ms;
}

/* Reconnect when the connection was lost and an attempt is due. */
void
listener_retry(void)
{
	if (num_projects > 0 && listener_socket() < 0)
		(void) ensure_connection();
}

/* The socket is readable: pass each NOTIFY on as a changed project. */
void
listener_input(void)
{
	PGnotify   *notify;

	if (!PQconsumeInput(listen_conn))
	{
		mcp_log("the listening connection is lost: %s", PQerrorMessage(listen_conn));
		PQfinish(listen_conn);
		listen_conn = NULL;
		backoff_record(&backoff, false);
		return;
	}
	while ((notify = PQnotifies(listen_conn)) != NULL)
	{
		const char *project_id = notify->relname + strlen(CHANNEL_PREFIX);

		if (strncmp(notify->relname, CHANNEL_PREFIX, strlen(CHANNEL_PREFIX)) == 0 &&
			strlen(project_id) == UUID_LENGTH)
		{
			subscriptions_project_changed(project_id);
			waits_project_changed(project_id);
		}
		PQfreemem(notify);
	}
}
