/*-------------------------------------------------------------------------
 *
 * resume_context.c
 *	  intracker.resume_context(project): what the caller needs to resume
 *	  their own work, in one bounded JSON document.
 *
 * The project, the caller's last session in it, their open todos in the
 * order to take them (with what blocks them), recent changes by others in
 * their features, the project's documents (titles), and one line saying
 * what to do next.  context.c has the
 * design both documents share; context_trim.c fits the document under
 * intracker.context_max_bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

#include "claim_order.h"
#include "context.h"
#include "context_trim.h"
#include "json_document.h"

#define MY_SESSION_QUERY \
	"SELECT to_json(s.started_at) #>> '{}' AS started_at, to_json(s.ended_at) #>> '{}' AS ended_at," \
	"       s.goal, s.summary, to_json(s.next_steps)::text AS next_steps," \
	"       to_json(s.blockers)::text AS blockers, to_json(s.todo_ids)::text AS todo_ids" \
	"  FROM intracker_data.sessions s" \
	" WHERE s.user_id = $2 AND s.project_id = $1" \
	" ORDER BY s.started_at DESC LIMIT 1"

/* My last session in the project, with its notes. */
static void
put_my_session(const ContextCall *call)
{
	intracker_context_query(MY_SESSION_QUERY, call->project_id, call->me, 0);
	if (SPI_processed == 0)
		intracker_json_put(call->root, "last_session", json_null());
	else
	{
		static const Field my_session_fields[] = {
			{"started_at", NULL, FIELD_TEXT}, {"ended_at", NULL, FIELD_TEXT}, {"goal", NULL, FIELD_TEXT},
			{"summary", NULL, FIELD_TEXT}, {"next_steps", NULL, FIELD_JSON},
			{"blockers", NULL, FIELD_JSON}, {"todo_ids", NULL, FIELD_JSON},
		};

		PUT_FIELDS(intracker_json_put_object(call->root, "last_session"), 0, my_session_fields);
	}
}

/*
 * My open todos in three parts, each in claim order (claim_order.h) and
 * the top of an index of its own, so that the cost follows the list limit,
 * not how much work I hold: in progress (todos_in_progress_by_assignee),
 * claimable (todos_claim_assigned), the rest: blocked, waiting for a
 * blocker, in review (todos_member_waiting).
 */
#define MY_TODOS_QUERY \
	"SELECT " TODO_COLUMNS ", t.feature_id, " BLOCKER_COLUMNS \
	"  FROM (SELECT * FROM (" \
	"           (SELECT t.*, 0 AS claim_rank FROM intracker_data.todos t" \
	"             WHERE t.project_id = $1 AND t.assigned_to = $2 AND t.status = 'in_progress'" \
	"             ORDER BY " CLAIM_ORDER " LIMIT $3)" \
	"           UNION ALL" \
	"           (SELECT t.*, 1 FROM intracker_data.todos t" \
	"             WHERE t.project_id = $1 AND t.assigned_to = $2 AND t.status = 'todo' AND t.open_blocker_count = 0" \
	"             ORDER BY " CLAIM_ORDER " LIMIT $3)" \
	"           UNION ALL" \
	"           (SELECT t.*, 2 FROM intracker_data.todos t" \
	"             WHERE t.project_id = $1 AND t.assigned_to = $2 AND t.status IN ('todo', 'blocked', 'review')" \
	"               AND NOT (t.status = 'todo' AND t.open_blocker_count = 0)" \
	"             ORDER BY " CLAIM_ORDER " LIMIT $3)) AS t" \
	"         ORDER BY t.claim_rank, " CLAIM_ORDER " LIMIT $3) t " \
	OPEN_BLOCKERS_OF_T \
	" ORDER BY t.claim_rank, " CLAIM_ORDER ", b.created_at, b.id"

/*
 * My open todos: the one in progress, then the claimable ones in claim
 * order, then the rest (blocked, in review).
 */
static void
put_my_todos(const ContextCall *call)
{
	static const Field my_todo_fields[] = {
		{"feature_id", NULL, FIELD_TEXT}, {"blocked_reason", NULL, FIELD_TEXT},
	};
	json_t	   *todos = intracker_json_put_array(call->root, "your_open_todos");

	intracker_context_query(MY_TODOS_QUERY, call->project_id, call->me, call->list_limit);
	intracker_context_append_blocked_todos(todos, my_todo_fields, lengthof(my_todo_fields));
}

#define TEAM_ACTIVITY_QUERY \
	"WITH mine AS (" \
	"    SELECT t.feature_id AS id FROM (" \
	"        SELECT t.feature_id FROM intracker_data.todos t" \
	"         WHERE t.project_id = $1 AND t.assigned_to = $2 AND t.status NOT IN ('done', 'cancelled')" \
	"         ORDER BY t.priority_rank DESC, t.due_date ASC NULLS LAST, t.created_at, t.id" \
	"         LIMIT $3) t" \
	"     WHERE t.feature_id IS NOT NULL" \
	"    UNION" \
	"    SELECT f.id FROM (" \
	"        SELECT f.id FROM intracker_data.features f" \
	"         WHERE f.project_id = $1 AND f.assigned_to = $2 AND f.status <> 'done'" \
	"         ORDER BY f.created_at DESC, f.id LIMIT $3) f)" \
	"SELECT t.id, t.title, t.status, t.assigned_to, t.version, f.title AS feature_title," \
	"       to_json(t.updated_at) #>> '{}' AS updated_at" \
	"  FROM mine" \
	"  JOIN intracker_data.features f ON f.id = mine.id" \
	" CROSS JOIN LATERAL (SELECT * FROM intracker_data.todos t" \
	"                      WHERE t.feature_id = mine.id AND t.assigned_to IS DISTINCT FROM $2" \
	"                      ORDER BY t.updated_at DESC, t.id LIMIT $3) t" \
	" ORDER BY t.updated_at DESC, t.id LIMIT $3"

/*
 * Recent changes by others to todos in my features, newest first.  "My
 * features" are those of my most important open todos and the open
 * features assigned to me, each capped by the list limit, so the cost
 * follows the limit, not how much work I hold (index todos_feature_recent).
 */
static void
put_team_activity(const ContextCall *call)
{
	json_t	   *activity = intracker_json_put_array(call->root, "team_activity_in_your_features");

	intracker_context_query(TEAM_ACTIVITY_QUERY, call->project_id, call->me, call->list_limit);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		static const Field activity_fields[] = {
			{"id", NULL, FIELD_TEXT}, {"title", NULL, FIELD_TEXT}, {"status", NULL, FIELD_TEXT},
			{"assigned_to", NULL, FIELD_TEXT}, {"version", NULL, FIELD_INT},
			{"feature", "feature_title", FIELD_TEXT}, {"updated_at", NULL, FIELD_TEXT},
		};

		PUT_FIELDS(intracker_json_append_object(activity), i, activity_fields);
	}
}

/*
 * One line saying what to do next, from the document's own content: carry
 * on with the todo in progress, else start the best claimable one, else
 * follow up a review, else unblock the most important blocked one.
 */
static void
put_next_action(json_t *doc, const char *project)
{
	json_t	   *todos = json_object_get(doc, "your_open_todos");
	json_t	   *todo;
	size_t		index;
	char	   *action = NULL;
	int			action_rank = 5;	/* lower is more urgent */

	json_array_foreach(todos, index, todo)
	{
		const char *status = json_string_value(json_object_get(todo, "status"));
		const char *title = json_string_value(json_object_get(todo, "title"));
		json_t	   *blockers = json_object_get(todo, "blocked_by");
		const char *reason = json_string_value(json_object_get(todo, "blocked_reason"));

		if (strcmp(status, "in_progress") == 0 && action_rank > 1)
		{
			action = psprintf("Continue \"%s\" (in progress).", title);
			action_rank = 1;
		}
		else if (strcmp(status, "todo") == 0 && json_array_size(blockers) == 0 && action_rank > 2)
		{
			action = psprintf("Start \"%s\": SELECT * FROM intracker.claim_next_todo('%s');", title, project);
			action_rank = 2;
		}
		else if (strcmp(status, "review") == 0 && action_rank > 3)
		{
			action = psprintf("Follow up the review of \"%s\".", title);
			action_rank = 3;
		}
		else if (json_array_size(blockers) > 0 && action_rank > 4)
		{
			action = psprintf("Unblock \"%s\": it waits for \"%s\".", title,
							  json_string_value(json_object_get(json_array_get(blockers, 0), "title")));
			action_rank = 4;
		}
		else if (strcmp(status, "blocked") == 0 && action_rank > 4)
		{
			action = reason ? psprintf("Unblock \"%s\": %s", title, reason)
				: psprintf("Unblock \"%s\" (marked blocked).", title);
			action_rank = 4;
		}
	}
	if (action == NULL)
		action = psprintf("Nothing is assigned to you: SELECT * FROM intracker.claim_next_todo('%s');", project);
	intracker_json_put(doc, "next_action", intracker_json_text(action));
}

/*
 * intracker.resume_context(project_id uuid) returns jsonb
 */
PG_FUNCTION_INFO_V1(intracker_resume_context);
Datum
intracker_resume_context(PG_FUNCTION_ARGS)
{
	ContextCall call;
	TrimPlan	plan;
	TrimmableList lists[3];
	json_t	   *texts[2];
	const char *text_keys[2] = {"summary", "description"};

	intracker_context_begin(fcinfo, &call);
	intracker_context_put_project(&call);
	put_my_session(&call);
	put_my_todos(&call);
	put_team_activity(&call);
	lists[2] = intracker_context_put_documents(&call);	/* least important: cut first */
	put_next_action(call.root, call.project);

	/* Trim under the byte cap: my todos last; my session's summary first. */
	lists[0] = (TrimmableList)
	{
		json_object_get(call.root, "your_open_todos"), NULL, "your_open_todos",
			psprintf("SELECT * FROM intracker.my_todos WHERE project_id = '%s'", call.project), NULL
	};
	lists[1] = (TrimmableList)
	{
		json_object_get(call.root, "team_activity_in_your_features"), NULL, "team_activity_in_your_features",
			psprintf("SELECT * FROM intracker.todos WHERE project_id = '%s' ORDER BY updated_at DESC", call.project),
			NULL
	};
	texts[0] = json_object_get(call.root, "last_session");
	texts[1] = json_object_get(call.root, "project");
	intracker_context_trim_plan(&call, &plan);
	plan.lists = lists;
	plan.nlists = 3;
	plan.texts = texts;
	plan.text_keys = text_keys;
	plan.ntexts = 2;
	intracker_fit_to_size(&plan);

	PG_RETURN_DATUM(intracker_context_end(&call));
}
