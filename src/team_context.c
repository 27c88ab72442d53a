/*-------------------------------------------------------------------------
 *
 * team_context.c
 *	  intracker.team_context(project): the team's state in one bounded
 *	  JSON document.
 *
 * The project, the caller's role, every member with their load, current
 * focus and last session (working notes hidden from viewers, but for their
 * own), each member's most important open todos, the blocked todos that
 * hold the team up, the team's progress with its features in progress, and
 * the project's documents.
 * context.c has the design both documents share; context_trim.c fits the
 * document under intracker.context_max_bytes, cutting the members' todo
 * lists first and the members themselves last.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

#include "context.h"
#include "context_trim.h"
#include "json_document.h"
#include "schema.h"

/* load_order: see schema.h */
#define MEMBERS_QUERY(load_order) \
	"SELECT m.user_id, u.name, u.kind, m.role, m.available," \
	"       coalesce(l.open_todos, 0) AS open_todos, coalesce(l.open_points, 0) AS open_points," \
	"       focus.id AS focus_id, focus.title AS focus_title, focus.version AS focus_version," \
	"       f.id AS feature_id, f.title AS feature_title," \
	"       to_json(s.started_at) #>> '{}' AS session_started_at," \
	"       to_json(s.ended_at) #>> '{}' AS session_ended_at," \
	"       s.goal AS session_goal, s.summary AS session_summary," \
	"       to_json(s.next_steps)::text AS session_next_steps," \
	"       m.user_id = $2 AS is_me" \
	"  FROM intracker_data.project_members m" \
	"  JOIN intracker_data.users u ON u.id = m.user_id" \
	"  LEFT JOIN LATERAL (SELECT * FROM intracker_data.member_load x" \
	"                      WHERE x.project_id = m.project_id AND x.user_id = m.user_id" \
	"                      " load_order " LIMIT 1) l ON true" \
	"  LEFT JOIN LATERAL (SELECT t.id, t.title, t.version, t.feature_id FROM intracker_data.todos t" \
	"                      WHERE t.project_id = m.project_id AND t.assigned_to = m.user_id" \
	"                        AND t.status = 'in_progress'" \
	"                      ORDER BY t.updated_at DESC, t.id LIMIT 1) focus ON true" \
	"  LEFT JOIN intracker_data.features f ON f.id = focus.feature_id" \
	"  LEFT JOIN LATERAL (SELECT * FROM intracker_data.sessions s" \
	"                      WHERE s.user_id = m.user_id AND s.project_id = m.project_id" \
	"                      ORDER BY s.started_at DESC LIMIT 1) s ON true" \
	" WHERE m.project_id = $1" \
	" ORDER BY intracker_data.role_rank(m.role) DESC, u.name, m.user_id"

/*
 * The members with their load, current focus and last session; by_user
 * maps each user id to the member's object.
 */
static void
put_members(const ContextCall *call, json_t *by_user)
{
	json_t	   *members = intracker_json_put_array(call->root, "team_members");
	bool		viewer = strcmp(call->role, "viewer") == 0;

	intracker_context_query(intracker_counters_versioned() ? MEMBERS_QUERY(INTRACKER_NEWEST_LOAD_ORDER)
							: MEMBERS_QUERY(""), call->project_id, call->me, 0);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		static const Field member_fields[] = {
			{"user_id", NULL, FIELD_TEXT}, {"name", NULL, FIELD_TEXT}, {"kind", NULL, FIELD_TEXT},
			{"role", NULL, FIELD_TEXT}, {"available", NULL, FIELD_BOOL},
			{"open_todos", NULL, FIELD_INT}, {"open_points", NULL, FIELD_INT},
		};
		static const Field focus_fields[] = {
			{"id", "focus_id", FIELD_TEXT}, {"title", "focus_title", FIELD_TEXT},
			{"version", "focus_version", FIELD_INT},
		};
		static const Field feature_fields[] = {
			{"id", "feature_id", FIELD_TEXT}, {"title", "feature_title", FIELD_TEXT},
		};
		static const Field session_fields[] = {
			{"started_at", "session_started_at", FIELD_TEXT}, {"ended_at", "session_ended_at", FIELD_TEXT},
			{"goal", "session_goal", FIELD_TEXT},
		};
		static const Field session_notes_fields[] = {
			{"summary", "session_summary", FIELD_TEXT}, {"next_steps", "session_next_steps", FIELD_JSON},
		};
		json_t	   *member = intracker_json_append_object(members);

		PUT_FIELDS(member, i, member_fields);
		if (intracker_context_col_is_null(i, "focus_id"))
			intracker_json_put(member, "current_focus", json_null());
		else
			PUT_FIELDS(intracker_json_put_object(member, "current_focus"), i, focus_fields);
		if (intracker_context_col_is_null(i, "feature_id"))
			intracker_json_put(member, "working_on_feature", json_null());
		else
			PUT_FIELDS(intracker_json_put_object(member, "working_on_feature"), i, feature_fields);
		intracker_json_put_array(member, "active_todos");
		if (intracker_context_col_is_null(i, "session_started_at"))
			intracker_json_put(member, "last_session", json_null());
		else
		{
			json_t	   *session = intracker_json_put_object(member, "last_session");

			PUT_FIELDS(session, i, session_fields);
			/* Working notes: not for viewers, except their own. */
			if (!viewer || strcmp(intracker_context_col(i, "is_me"), "t") == 0)
				PUT_FIELDS(session, i, session_notes_fields);
		}
		intracker_json_put(by_user, intracker_context_col(i, "user_id"), json_incref(member));
	}
}

#define ACTIVE_TODOS_QUERY \
	"SELECT m.user_id, " TODO_COLUMNS \
	"  FROM intracker_data.project_members m" \
	" CROSS JOIN LATERAL (SELECT * FROM intracker_data.todos t" \
	"                      WHERE t.project_id = m.project_id AND t.assigned_to = m.user_id" \
	"                        AND t.status NOT IN ('done', 'cancelled')" \
	"                      ORDER BY t.priority_rank DESC, t.due_date ASC NULLS LAST, t.created_at, t.id" \
	"                      LIMIT $3) t" \
	" WHERE m.project_id = $1" \
	" ORDER BY m.user_id, t.priority_rank DESC, t.due_date ASC NULLS LAST, t.created_at, t.id"

/* Each member's most important open todos, into their active_todos. */
static void
put_active_todos(const ContextCall *call, json_t *by_user)
{
	intracker_context_query(ACTIVE_TODOS_QUERY, call->project_id, (Datum) 0, call->list_limit);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		json_t	   *member = json_object_get(by_user, intracker_context_col(i, "user_id"));

		intracker_context_append_todo(json_object_get(member, "active_todos"), i);
	}
}

#define SHARED_BLOCKERS_QUERY \
	"SELECT " TODO_COLUMNS ", t.assigned_to, " BLOCKER_COLUMNS \
	"  FROM (SELECT * FROM intracker_data.todos t" \
	"         WHERE t.project_id = $1 AND t.status NOT IN ('done', 'cancelled')" \
	"           AND (t.status = 'blocked' OR t.open_blocker_count > 0)" \
	"         ORDER BY t.priority_rank DESC, t.created_at, t.id LIMIT $3) t " \
	OPEN_BLOCKERS_OF_T \
	" ORDER BY t.priority_rank DESC, t.created_at, t.id, b.created_at, b.id"

/* The most important blocked todos, with their open blockers. */
static void
put_shared_blockers(const ContextCall *call)
{
	static const Field blocked_fields[] = {
		{"blocked_reason", NULL, FIELD_TEXT}, {"assigned_to", NULL, FIELD_TEXT},
	};
	json_t	   *blockers = json_object_get(call->root, "shared_blockers");

	intracker_context_query(SHARED_BLOCKERS_QUERY, call->project_id, (Datum) 0, call->list_limit);
	intracker_context_append_blocked_todos(blockers, blocked_fields, lengthof(blocked_fields));
}

/*
 * counts: the feature's live counters as "s" (todos_total, todos_done), a
 * function of 0.6 on; a database still at 0.5 sums its rows in place.
 */
#define FEATURES_IN_PROGRESS_QUERY(counts) \
	"SELECT f.id, f.title, f.priority, f.assigned_to, s.todos_total, s.todos_done," \
	"       CASE WHEN s.todos_total = 0 THEN 0" \
	"            ELSE div(100 * s.todos_done, s.todos_total)::integer END AS progress" \
	"  FROM (SELECT * FROM intracker_data.features f" \
	"         WHERE f.project_id = $1 AND f.status = 'in_progress'" \
	"         ORDER BY CASE f.priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC," \
	"                  f.created_at, f.id LIMIT $3) f" \
	" CROSS JOIN LATERAL " counts " s" \
	" ORDER BY CASE f.priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC," \
	"          f.created_at, f.id"
#define FEATURE_COUNTS_VERSIONED "intracker_data.feature_counts(f.id)"
#define FEATURE_COUNTS_IN_PLACE \
	"(SELECT coalesce(sum(x.todos_total), 0) AS todos_total, coalesce(sum(x.todos_done), 0) AS todos_done" \
	"   FROM intracker_data.feature_stats x WHERE x.feature_id = f.id)"

/* The most important features in progress, with their progress. */
static void
put_features_in_progress(const ContextCall *call)
{
	json_t	   *features = json_object_get(json_object_get(call->root, "team_progress"), "features_in_progress");

	intracker_context_query(intracker_counters_versioned() ? FEATURES_IN_PROGRESS_QUERY(FEATURE_COUNTS_VERSIONED)
							: FEATURES_IN_PROGRESS_QUERY(FEATURE_COUNTS_IN_PLACE),
							call->project_id, (Datum) 0, call->list_limit);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		static const Field feature_fields[] = {
			{"id", NULL, FIELD_TEXT}, {"title", NULL, FIELD_TEXT}, {"priority", NULL, FIELD_TEXT},
			{"assigned_to", NULL, FIELD_TEXT}, {"todos_total", NULL, FIELD_INT},
			{"todos_done", NULL, FIELD_INT}, {"progress", NULL, FIELD_INT},
		};

		PUT_FIELDS(intracker_json_append_object(features), i, feature_fields);
	}
}

#define PROGRESS_QUERY \
	"SELECT d.todos_total, d.todos_open, d.todos_done, d.completion_rate::float8 AS completion_rate," \
	"       d.todos_completed_today, d.points_done_last_7_days, d.features_in_progress, d.todos_blocked" \
	"  FROM intracker.team_dashboard d WHERE d.project_id = $1"

/* The counters of team_progress, and its (still empty) features list. */
static void
put_progress(const ContextCall *call)
{
	json_t	   *progress = intracker_json_put_object(call->root, "team_progress");

	intracker_json_put_array(progress, "features_in_progress");
	intracker_context_query(PROGRESS_QUERY, call->project_id, (Datum) 0, 0);
	{
		static const Field progress_fields[] = {
			{"todos_total", NULL, FIELD_INT}, {"todos_open", NULL, FIELD_INT}, {"todos_done", NULL, FIELD_INT},
			{"todos_completed_today", NULL, FIELD_INT}, {"points_done_last_7_days", NULL, FIELD_INT},
			{"features_in_progress_count", "features_in_progress", FIELD_INT},
			{"todos_blocked_count", "todos_blocked", FIELD_INT},
		};

		PUT_FIELDS(progress, 0, progress_fields);
		intracker_json_put(progress, "completion_rate", json_real(strtod(intracker_context_col(0, "completion_rate"), NULL)));
	}
}

/* The query that lists every blocked todo of the project. */
static char *
shared_blockers_fetch(const char *project)
{
	return psprintf("SELECT * FROM intracker.todos t WHERE t.project_id = '%s' AND t.status NOT IN ('done', 'cancelled') "
					"AND (t.status = 'blocked' OR EXISTS (SELECT FROM intracker.todo_dependencies d "
					"JOIN intracker.todos b ON b.id = d.blocked_by "
					"WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled')))", project);
}

/* The query that lists every feature in progress of the project. */
static char *
features_in_progress_fetch(const char *project)
{
	return psprintf("SELECT * FROM intracker.features WHERE project_id = '%s' AND status = 'in_progress'", project);
}

/* Omission counts for what the list limits (not the byte cap) left out. */
static void
count_limited_lists(json_t *doc, const char *project)
{
	json_t	   *member;
	size_t		index;
	json_t	   *progress = json_object_get(doc, "team_progress");
	json_int_t	blocked = json_integer_value(json_object_get(progress, "todos_blocked_count"));
	json_int_t	features = json_integer_value(json_object_get(progress, "features_in_progress_count"));

	json_array_foreach(json_object_get(doc, "team_members"), index, member)
	{
		json_int_t	open = json_integer_value(json_object_get(member, "open_todos"));
		size_t		shown = json_array_size(json_object_get(member, "active_todos"));

		if (open > (json_int_t) shown)
			intracker_json_put(member, "active_todos_omitted", json_integer(open - shown));
	}
	if (blocked > (json_int_t) json_array_size(json_object_get(doc, "shared_blockers")))
		intracker_count_omission(doc, "shared_blockers",
								 blocked - json_array_size(json_object_get(doc, "shared_blockers")),
								 shared_blockers_fetch(project));
	if (features > (json_int_t) json_array_size(json_object_get(progress, "features_in_progress")))
		intracker_count_omission(doc, "features_in_progress",
								 features - json_array_size(json_object_get(progress, "features_in_progress")),
								 features_in_progress_fetch(project));
}

/*
 * intracker.team_context(project_id uuid) returns jsonb
 */
PG_FUNCTION_INFO_V1(intracker_team_context);
Datum
intracker_team_context(PG_FUNCTION_ARGS)
{
	ContextCall call;
	json_t	   *root;
	json_t	   *members;
	json_t	   *by_user;
	int			nmembers;
	TrimPlan	plan;
	TrimmableList member_list;
	TrimmableList documents;
	char	   *active_todos_fetch;

	intracker_context_begin(fcinfo, &call);
	root = call.root;
	by_user = intracker_json_owned(intracker_json_new_object());

	intracker_context_put_project(&call);
	intracker_json_put(root, "your_role", intracker_json_text(call.role));
	put_members(&call, by_user);
	intracker_json_put_array(root, "shared_blockers");
	put_progress(&call);
	documents = intracker_context_put_documents(&call);

	/*
	 * Trim under the byte cap.  The texts: members' session summaries, then
	 * the project's description.  The lists: least important last.
	 */
	members = json_object_get(root, "team_members");
	nmembers = (int) json_array_size(members);
	intracker_context_trim_plan(&call, &plan);
	plan.lists = palloc0(sizeof(TrimmableList) * (nmembers + 3));
	plan.texts = palloc0(sizeof(json_t *) * (2 * nmembers + 1));
	plan.text_keys = palloc0(sizeof(char *) * (2 * nmembers + 1));
	active_todos_fetch =
		psprintf("SELECT * FROM intracker.todos WHERE project_id = '%s' AND assigned_to IS NOT NULL "
				 "AND status NOT IN ('done', 'cancelled') ORDER BY assigned_to", call.project);

	for (int i = 0; i < nmembers; i++)
	{
		json_t	   *session = json_object_get(json_array_get(members, i), "last_session");

		if (json_is_object(session))
		{
			plan.texts[plan.ntexts] = session;
			plan.text_keys[plan.ntexts++] = "summary";
		}
	}
	plan.texts[plan.ntexts] = json_object_get(root, "project");
	plan.text_keys[plan.ntexts++] = "description";

	if (!intracker_lists_cannot_fit(&plan))
	{
		put_active_todos(&call, by_user);
		put_shared_blockers(&call);
		put_features_in_progress(&call);
	}
	else
	{
		/* what the trimmer would have dropped from the members' lists */
		json_int_t	would_show = 0;
		size_t		index;
		json_t	   *member;

		json_array_foreach(members, index, member)
			would_show += Min(json_integer_value(json_object_get(member, "open_todos")), call.list_limit);
		if (would_show > 0)
			intracker_count_omission(root, "active_todos", (int) would_show, active_todos_fetch);
	}
	count_limited_lists(root, call.project);

	plan.lists[plan.nlists++] = (TrimmableList)
	{
		json_object_get(json_object_get(root, "team_progress"), "features_in_progress"),
			NULL, "features_in_progress",
			features_in_progress_fetch(call.project),
			NULL
	};
	plan.lists[plan.nlists++] = (TrimmableList)
	{
		json_object_get(root, "shared_blockers"), NULL, "shared_blockers",
			shared_blockers_fetch(call.project), NULL
	};
	for (int i = 0; i < nmembers; i++)
	{
		json_t	   *member = json_array_get(members, i);

		plan.lists[plan.nlists++] = (TrimmableList)
		{
			json_object_get(member, "active_todos"), member, "active_todos", active_todos_fetch, NULL
		};
	}
	plan.lists[plan.nlists++] = documents;	/* least important: cut first */
	member_list = (TrimmableList)
	{
		members, NULL, "team_members",
			psprintf("SELECT * FROM intracker.member_load WHERE project_id = '%s'", call.project),
			psprintf("SELECT * FROM intracker.sessions WHERE project_id = '%s' ORDER BY started_at DESC", call.project)
	};
	plan.members = &member_list;
	intracker_fit_to_size(&plan);

	PG_RETURN_DATUM(intracker_context_end(&call));
}
