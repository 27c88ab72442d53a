/*-------------------------------------------------------------------------
 *
 * subscriptions.c
 *	  Resources that tell the client when they change.
 *
 * Two ways to ask, one machinery: resources/subscribe (the 2025 era: one
 * URI at a time, updates sent unasked) and subscriptions/listen (2026-07-28:
 * a request that stays open, acknowledged at once, whose updates carry its
 * id as io.modelcontextprotocol/subscriptionId until the client cancels it).
 *
 * A project resource follows its project's channel; intracker://me/todos
 * follows every project the caller is in when subscribing (listener.c).
 * Updates are coalesced: a resource is announced at once when it was not
 * announced in the last COALESCE_MS, else when that time has passed, once,
 * however many events arrived meanwhile.  A burst of writes costs the
 * client a few notifications, not one per event.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

#define COALESCE_MS			250
#define SUBSCRIPTION_ID_KEY	"io.modelcontextprotocol/subscriptionId"

typedef struct Subscription
{
	char	   *uri;
	char	   *project_id;		/* NULL: any of the caller's projects */
	json_t	   *stream_id;		/* its subscriptions/listen request; NULL: resources/subscribe */
	bool		changed;		/* to be announced */
	int64_t		announced_ms;	/* when it was last announced */
	struct Subscription *next;
} Subscription;

static Subscription *subscriptions = NULL;

/* Is s of this stream (NULL: of resources/subscribe) and, unless uri is NULL, of uri? */
static bool
matches(const Subscription *s, const char *uri, json_t *stream_id)
{
	return (uri == NULL || strcmp(s->uri, uri) == 0) &&
		(stream_id == NULL ? s->stream_id == NULL : s->stream_id != NULL && json_equal(s->stream_id, stream_id));
}

static Subscription *
find(const char *uri, json_t *stream_id)
{
	for (Subscription *s = subscriptions; s != NULL; s = s->next)
		if (matches(s, uri, stream_id))
			return s;
	return NULL;
}

/* Drop the subscriptions that match (see matches). */
static void
drop(const char *uri, json_t *stream_id)
{
	Subscription **link = &subscriptions;

	while (*link != NULL)
	{
		Subscription *s = *link;

		if (!matches(s, uri, stream_id))
		{
			link = &s->next;
			continue;
		}
		*link = s->next;
		free(s->uri);
		free(s->project_id);
		json_decref(s->stream_id);
		free(s);
	}
}

/*
 * LISTEN for what uri depends on.  NULL when done, else the JSON-RPC error
 * object: resource not found for a URI that names nothing the caller can read (a
 * project they are not in looks like one that does not exist), -32603 when
 * the database cannot be reached.
 */
static json_t *
follow(const char *uri, char **project_id)
{
	const char *function;
	PGresult   *failed = NULL;
	json_t	   *error;

	if (!resources_parse_uri(uri, &function, project_id))
		return resources_not_found(uri);
	if (*project_id != NULL)
		failed = listener_listen(*project_id);
	else
	{
		json_t	   *mine = listener_my_projects();
		size_t		i;
		json_t	   *id;

		if (mine == NULL)
			failed = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
		json_array_foreach(mine, i, id)
		{
			if (failed == NULL)
				failed = listener_listen(json_string_value(id));
		}
		json_decref(mine);
	}
	if (failed == NULL)
		return NULL;
	free(*project_id);
	*project_id = NULL;
	error = resources_sql_error(failed, uri, "cannot follow the resource's changes");
	PQclear(failed);
	return error;
}

static void
add(const char *uri, char *project_id, json_t *stream_id)
{
	Subscription *s = calloc(1, sizeof(Subscription));

	if (s == NULL)
		mcp_out_of_memory();
	s->uri = strdup(uri);
	s->project_id = project_id;
	s->stream_id = json_incref(stream_id);
	s->next = subscriptions;
	subscriptions = s;
}

/* resources/subscribe {"uri"} */
void
subscriptions_subscribe(json_t *id, json_t *params)
{
	const char *uri = json_string_value(json_object_get(params, "uri"));
	char	   *project_id;
	json_t	   *error;

	if (uri != NULL && find(uri, NULL) != NULL)
	{
		protocol_send_result(id, json_object());
		return;
	}
	if ((error = follow(uri, &project_id)) != NULL)
	{
		protocol_send_error_object(id, error);
		return;
	}
	add(uri, project_id, NULL);
	protocol_send_result(id, json_object());
}

/* resources/unsubscribe {"uri"} (a URI not subscribed to is fine) */
void
subscriptions_unsubscribe(json_t *id, json_t *params)
{
	const char *uri = json_string_value(json_object_get(params, "uri"));

	if (uri == NULL)
	{
		protocol_send_error(id, RPC_INVALID_PARAMS, "params.uri must be a string", NULL);
		return;
	}
	drop(uri, NULL);
	protocol_send_result(id, json_object());
}

/*
 * subscriptions/listen {"notifications": {"resourceSubscriptions": [uri…]}}:
 * every URI must name a resource the caller can read (else the request
 * fails as a whole); list changes are not offered (this server's lists do
 * not change), so the acknowledgement honours the resources only.
 */
void
subscriptions_listen(json_t *id, json_t *params)
{
	json_t	   *filter = json_object_get(params, "notifications");
	json_t	   *uris = json_object_get(filter, "resourceSubscriptions");
	json_t	   *uri;
	size_t		i;
	char	  **project_ids;

	if (!json_is_object(filter) || (uris != NULL && !json_is_array(uris)))
	{
		protocol_send_error(id, RPC_INVALID_PARAMS,
							"params.notifications must be an object, its resourceSubscriptions an array of URIs", NULL);
		return;
	}
	project_ids = calloc(json_array_size(uris) + 1, sizeof(char *));
	if (project_ids == NULL)
		mcp_out_of_memory();
	json_array_foreach(uris, i, uri)
	{
		json_t	   *error = json_is_string(uri) ? follow(json_string_value(uri), &project_ids[i])
			: json_pack("{s:i, s:s}", "code", RPC_INVALID_PARAMS, "message", "a resource URI must be a string");

		if (error != NULL)
		{
			for (size_t j = 0; j < i; j++)
				free(project_ids[j]);
			free(project_ids);
			protocol_send_error_object(id, error);
			return;
		}
	}
	json_array_foreach(uris, i, uri)
		add(json_string_value(uri), project_ids[i], id);
	free(project_ids);
	mcp_send(json_pack("{s:s, s:s, s:{s:{s:O}, s:{s:O}}}", "jsonrpc", "2.0",
					   "method", "notifications/subscriptions/acknowledged", "params",
					   "notifications", "resourceSubscriptions", uris ? uris : json_array(),
					   "_meta", SUBSCRIPTION_ID_KEY, id));
}

/* A cancelled subscriptions/listen request ends its stream. */
void
subscriptions_cancel(json_t *request_id)
{
	drop(NULL, request_id);
}

/* A NOTIFY of project_id arrived (listener.c). */
void
subscriptions_project_changed(const char *project_id)
{
	for (Subscription *s = subscriptions; s != NULL; s = s->next)
		if (s->project_id == NULL || strcmp(s->project_id, project_id) == 0)
			s->changed = true;
}

/* Announce the changed resources whose time has come. */
void
subscriptions_announce(void)
{
	int64_t		now = mcp_now_ms();

	for (Subscription *s = subscriptions; s != NULL; s = s->next)
	{
		json_t	   *params;

		if (!s->changed || now < s->announced_ms + COALESCE_MS)
			continue;
		params = json_pack("{s:s}", "uri", s->uri);
		if (s->stream_id != NULL)
			json_object_set_new(params, "_meta", json_pack("{s:O}", SUBSCRIPTION_ID_KEY, s->stream_id));
		mcp_send(json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0",
						   "method", "notifications/resources/updated", "params", params));
		s->changed = false;
		s->announced_ms = now;
	}
}

/* When the next announcement is due; -1 when none is. */
int64_t
subscriptions_next_due_ms(void)
{
	int64_t		due = -1;

	for (Subscription *s = subscriptions; s != NULL; s = s->next)
		if (s->changed && (due < 0 || s->announced_ms + COALESCE_MS < due))
			due = s->announced_ms + COALESCE_MS;
	return due;
}
