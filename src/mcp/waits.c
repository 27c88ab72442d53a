/*-------------------------------------------------------------------------
 *
 * waits.c
 *	  wait_for_events: events_since() that, when there is nothing yet,
 *	  answers as soon as the project changes, or at its timeout.
 *
 * A wait never holds the database connection other calls need: it LISTENs
 * on the project's channel (listener.c), runs events_since() as any call
 * does, and when that finds nothing it is parked, off the queue.  A NOTIFY
 * of its project, or its deadline, puts the same request back in the queue
 * for another check; the check that finds events (or runs at the deadline,
 * or fails) answers it.  LISTEN comes before the first check, so an event
 * committed in between is not missed; a NOTIFY that arrives while a check
 * is queued or running makes that check, if it finds nothing, run again.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

typedef struct Wait
{
	json_t	   *message;		/* the tools/call request, run again at each check */
	char	   *project_id;
	int64_t		deadline_ms;
	bool		parked;			/* found nothing: waits for a NOTIFY or the deadline */
	bool		changed;		/* the project changed while a check was pending */
	struct Wait *next;
} Wait;

static Wait *waits = NULL;
static int	num_waits = 0;

static Wait **
find(json_t *id)
{
	Wait	  **link = &waits;

	while (*link != NULL && !json_equal(json_object_get((*link)->message, "id"), id))
		link = &(*link)->next;
	return link;
}

/* May another wait start?  Each wait runs a query at each event of its project. */
bool
waits_can_start(json_t *id)
{
	return num_waits < WAIT_MAX_PENDING || *find(id) != NULL;
}

static void
release(Wait **link)
{
	Wait	   *gone = *link;

	*link = gone->next;
	json_decref(gone->message);
	free(gone->project_id);
	free(gone);
	num_waits--;
}

/* Queue the wait's next check. */
static void
check_again(Wait *wait)
{
	wait->parked = false;
	wait->changed = false;
	protocol_enqueue(wait->message);
}

/*
 * Before a check of a tools/call request (its arguments already validated
 * by tools.c): the first time, LISTEN on the project and start the clock.
 * NULL, or the error to answer with (PT404 for a project the caller is not
 * in).
 */
PGresult *
waits_prepare(json_t *message)
{
	json_t	   *id = json_object_get(message, "id");
	json_t	   *arguments = json_object_get(json_object_get(message, "params"), "arguments");
	const char *project_id = json_string_value(json_object_get(arguments, "project_id"));
	json_t	   *timeout = json_object_get(arguments, "timeout_seconds");
	Wait	   *wait = *find(id);
	PGresult   *failed;

	if (wait != NULL)
	{
		wait->changed = false;	/* a check again: the clock runs already */
		return NULL;
	}
	if ((failed = listener_listen(project_id)) != NULL)
		return failed;
	wait = calloc(1, sizeof(Wait));
	if (wait == NULL)
		mcp_out_of_memory();
	wait->message = json_incref(message);
	wait->project_id = strdup(project_id);
	wait->deadline_ms = mcp_now_ms() +
		1000 * (timeout ? json_integer_value(timeout) : WAIT_DEFAULT_SECONDS);
	wait->next = waits;
	waits = wait;
	num_waits++;
	return NULL;
}

/* A check's result: answer the wait, check again, or park it. */
void
waits_check_done(json_t *id, PGresult *result)
{
	Wait	  **link = find(id);
	bool		found_nothing = PQresultStatus(result) == PGRES_TUPLES_OK &&
		strcmp(PQgetvalue(result, 0, 0), "[]") == 0;

	if (*link != NULL && found_nothing && mcp_now_ms() < (*link)->deadline_ms)
	{
		if ((*link)->changed)
			check_again(*link);
		else
			(*link)->parked = true;
		return;
	}
	if (*link != NULL)
		release(link);
	tools_send_result(id, result);
}

/* A NOTIFY of project_id arrived (listener.c). */
void
waits_project_changed(const char *project_id)
{
	for (Wait *wait = waits; wait != NULL; wait = wait->next)
	{
		if (strcmp(wait->project_id, project_id) != 0)
			continue;
		if (wait->parked)
			check_again(wait);
		else
			wait->changed = true;
	}
}

/* Parked waits whose deadline has passed get their last check. */
void
waits_expire(void)
{
	int64_t		now = mcp_now_ms();

	for (Wait *wait = waits; wait != NULL; wait = wait->next)
		if (wait->parked && wait->deadline_ms <= now)
			check_again(wait);
}

/* The next deadline of a parked wait; -1 when none. */
int64_t
waits_next_due_ms(void)
{
	int64_t		due = -1;

	for (Wait *wait = waits; wait != NULL; wait = wait->next)
		if (wait->parked && (due < 0 || wait->deadline_ms < due))
			due = wait->deadline_ms;
	return due;
}

/* A cancelled wait is forgotten (its request gets no answer). */
void
waits_forget(json_t *id)
{
	Wait	  **link = find(id);

	if (*link != NULL)
		release(link);
}
