/*-------------------------------------------------------------------------
 *
 * context_trim.c
 *	  The size-trimming engine of the context documents.
 *
 * team_context and resume_context are capped at intracker.context_max_bytes
 * serialized.  Over the cap, the trimmer cuts what matters least first:
 * lists from their least important end, then long texts (to
 * TRIMMED_TEXT_BYTES and an ellipsis), then, in team_context, members'
 * session notes and members themselves.  Whatever it cuts is counted in
 * the document's "omitted" object, with the query that fetches it all, so
 * an agent knows what it is not seeing and how to see it.
 *
 * Every text and list of a document is subject to the cap, not only those
 * the documents name in their plan: anything a user can make huge (project
 * notes, session goals, next steps, todo id lists, tags, titles) is cut by
 * the same rounds, first where it alone would crowd out the rest (over a
 * quarter of the cap), and at the end, when the planned cuts are not
 * enough, everywhere: the notes go, every text is cut to SQUEEZED_TEXT_BYTES,
 * every list is emptied, the omissions lose their queries, and the document
 * keeps only the project's id and name.  That last form fits the smallest
 * cap allowed, so a document is never over its cap (0.5 could return 34 MB
 * at a 32 kB cap, and flagged still_over_max_bytes).
 *
 * The sizes are those of the text a client receives (jsonb's separators),
 * measured on the jansson document before it is handed to jsonb_in; the
 * caller reserves the bytes it adds after trimming.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdint.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "context_trim.h"
#include "json_document.h"

/* Longest description or summary kept when the document must shrink. */
#define TRIMMED_TEXT_BYTES 280
/* Longest text of any kind kept when the planned cuts are not enough. */
#define SQUEEZED_TEXT_BYTES 64

#define OTHER_ITEMS_FETCH \
	"Full values are in the views intracker.projects, intracker.sessions and intracker.todos."

/*
 * Size of a value as a client receives it: jsonb's text form separates with
 * ", " and ": ", as jansson does without JSON_COMPACT.
 */
static size_t
serialized_size(json_t *value)
{
	return json_dumpb(value, NULL, 0, 0);
}

static json_t *
omitted_object(json_t *doc)
{
	json_t	   *omitted = json_object_get(doc, "omitted");

	return omitted ? omitted : intracker_json_put_object(doc, "omitted");
}

/*
 * Add n to the count of what the document omits under `what`, with the
 * query that fetches it all.
 */
void
intracker_count_omission(json_t *doc, const char *what, int n, const char *fetch)
{
	json_t	   *omitted = omitted_object(doc);
	json_t	   *entry = json_object_get(omitted, what);

	if (entry == NULL)
	{
		entry = intracker_json_put_object(omitted, what);
		intracker_json_put(entry, "count", json_integer(0));
		intracker_json_put(entry, "fetch", intracker_json_text(fetch));
	}
	intracker_json_put(entry, "count", json_integer(json_integer_value(json_object_get(entry, "count")) + n));
}

/*
 * Drop items from the end of `array` until about `excess` bytes are gone;
 * returns how many were dropped.
 */
static int
drop_tail(json_t *array, size_t *excess)
{
	int			dropped = 0;

	while (*excess > 0 && json_array_size(array) > 0)
	{
		size_t		last = json_array_size(array) - 1;
		size_t		size = serialized_size(json_array_get(array, last)) + 2;

		json_array_remove(array, last);
		*excess = size >= *excess ? 0 : *excess - size;
		dropped++;
	}
	return dropped;
}

#define ELLIPSIS "\u2026"			/* what marks a shortened text */

/*
 * A string longer than `longer_than` bytes cut to `keep_bytes` (on a
 * character boundary) plus an ellipsis, or NULL when it is not that long.
 * A text already cut is never cut again.
 */
static json_t *
shortened(json_t *value, size_t longer_than, size_t keep_bytes)
{
	const char *text;
	int			keep;

	if (!json_is_string(value) || json_string_length(value) <= Max(longer_than, keep_bytes + strlen(ELLIPSIS)))
		return NULL;
	text = json_string_value(value);
	keep = pg_mbcliplen(text, json_string_length(value), keep_bytes);
	return intracker_json_text(psprintf("%.*s" ELLIPSIS, keep, text));
}

/*
 * Cut a string member longer than `longer_than` bytes to TRIMMED_TEXT_BYTES
 * plus an ellipsis; returns whether it did.
 */
static bool
shorten_text(json_t *object, const char *key, size_t longer_than)
{
	json_t	   *cut = shortened(json_object_get(object, key), longer_than, TRIMMED_TEXT_BYTES);

	if (cut == NULL)
		return false;
	intracker_json_put(object, key, cut);
	return true;
}

/* What one sweep of the whole document (squeeze) cut, for "omitted". */
typedef struct Squeezed
{
	int			texts;			/* strings shortened */
	int			items;			/* list items dropped */
} Squeezed;

/* Is array one of the plan's lists (or its members), which have their own rounds? */
static bool
planned_list(const TrimPlan *plan, json_t *array)
{
	if (plan->members != NULL && plan->members->array == array)
		return true;
	for (int i = 0; i < plan->nlists; i++)
		if (plan->lists[i].array == array)
			return true;
	return false;
}

/*
 * Sweep a value of the document, "omitted" aside: strings longer than
 * `longer_than` bytes are cut to keep_bytes; lists whose serialized size is
 * over `bigger_than` bytes lose items from their end until they are not,
 * but for the plan's own lists when keep_planned (they go in their rounds,
 * least important first).  Counts what it cut in *cut.
 */
static void
squeeze(const TrimPlan *plan, bool keep_planned, json_t *value, size_t longer_than, size_t keep_bytes,
		size_t bigger_than, Squeezed *cut)
{
	const char *key;
	json_t	   *member;
	void	   *iter;
	size_t		index;

	CHECK_FOR_INTERRUPTS();
	if (json_is_object(value))
	{
		json_object_foreach_safe(value, iter, key, member)
		{
			json_t	   *short_text;

			if (strcmp(key, "omitted") == 0)
				continue;
			if ((short_text = shortened(member, longer_than, keep_bytes)) != NULL)
			{
				intracker_json_put(value, key, short_text);
				cut->texts++;
			}
			else
				squeeze(plan, keep_planned, member, longer_than, keep_bytes, bigger_than, cut);
		}
	}
	else if (json_is_array(value))
	{
		if (!(keep_planned && planned_list(plan, value)) && serialized_size(value) > bigger_than)
		{
			size_t		excess = serialized_size(value) - bigger_than;

			cut->items += drop_tail(value, &excess);
		}
		json_array_foreach(value, index, member)
		{
			json_t	   *short_text = shortened(member, longer_than, keep_bytes);

			if (short_text != NULL)
			{
				json_array_set_new(value, index, short_text);
				cut->texts++;
			}
			else
				squeeze(plan, keep_planned, member, longer_than, keep_bytes, bigger_than, cut);
		}
	}
}

/* One sweep (squeeze) of the whole document, counted; returns whether it cut anything. */
static bool
squeeze_document(const TrimPlan *plan, bool keep_planned, size_t longer_than, size_t keep_bytes,
				 size_t bigger_than)
{
	Squeezed	cut = {0, 0};

	squeeze(plan, keep_planned, plan->doc, longer_than, keep_bytes, bigger_than, &cut);
	if (cut.texts > 0)
		intracker_count_omission(plan->doc, "shortened_texts", cut.texts,
								 "Full texts are in the views intracker.projects, intracker.sessions and intracker.todos.");
	if (cut.items > 0)
		intracker_count_omission(plan->doc, "other_items", cut.items, OTHER_ITEMS_FETCH);
	return cut.texts + cut.items > 0;
}

/*
 * Drop the project notes (any JSON its members wrote) when they are bigger
 * than `bigger_than` bytes; returns whether it did.  The notes go back into
 * the finished document from their text unless they were dropped here.
 */
static bool
drop_notes(const TrimPlan *plan, size_t bigger_than)
{
	json_t	   *project = json_object_get(plan->doc, "project");
	json_t	   *notes = json_object_get(project, "notes");

	if (plan->notes == NULL || *plan->notes == NULL || notes == NULL || json_is_null(notes) ||
		serialized_size(notes) <= bigger_than)
		return false;
	intracker_json_put(project, "notes", json_null());
	*plan->notes = NULL;
	intracker_count_omission(plan->doc, "project_notes", 1, plan->notes_fetch);
	return true;
}

/*
 * The last forms of a document that the planned cuts could not bring under
 * the cap: first the omissions without their queries, then nothing but the
 * project's id and name and the omissions (which fits the smallest cap:
 * intracker.context_max_bytes is at least 1 kB).  Returns whether it
 * changed anything.
 */
static bool
reduce_to_skeleton(const TrimPlan *plan)
{
	json_t	   *omitted = omitted_object(plan->doc);
	json_t	   *project = json_object_get(plan->doc, "project");
	json_t	   *entry;
	const char *key;
	void	   *iter;
	bool		changed = false;

	json_object_foreach(omitted, key, entry)
	{
		if (json_object_get(entry, "fetch") != NULL)
		{
			json_object_del(entry, "fetch");
			changed = true;
		}
	}
	if (changed)
		return true;
	json_object_foreach_safe(plan->doc, iter, key, entry)
	{
		if (strcmp(key, "project") != 0 && strcmp(key, "omitted") != 0)
		{
			json_object_del(plan->doc, key);
			changed = true;
		}
	}
	json_object_foreach_safe(project, iter, key, entry)
	{
		if (strcmp(key, "id") != 0 && strcmp(key, "name") != 0)
		{
			json_object_del(project, key);
			changed = true;
		}
	}
	if (changed)
		intracker_json_put(omitted, "document",
						   intracker_json_text("Only the project is left: raise intracker.context_max_bytes to see more."));
	return changed;
}

/*
 * Drop session notes (summary, next steps), last member first, until about
 * `excess` bytes are gone; returns whether any were dropped.
 */
static bool
drop_session_notes(json_t *doc, const TrimmableList *members, size_t excess)
{
	int			dropped = 0;

	for (size_t i = json_array_size(members->array); i > 0 && excess > 0; i--)
	{
		json_t	   *session = json_object_get(json_array_get(members->array, i - 1), "last_session");
		json_t	   *summary = json_object_get(session, "summary");
		size_t		saved;

		if (!json_is_object(session) || summary == NULL)
			continue;
		saved = serialized_size(summary) + serialized_size(json_object_get(session, "next_steps")) + 30;
		json_object_del(session, "summary");
		json_object_del(session, "next_steps");
		excess = saved >= excess ? 0 : excess - saved;
		dropped++;
	}
	if (dropped > 0)
		intracker_count_omission(doc, "session_notes", dropped, members->notes_fetch);
	return dropped > 0;
}

/*
 * Shorten the plan's texts longer than `longer_than` bytes until about
 * `excess` bytes are gone; returns whether any was shortened.
 */
static bool
shorten_texts(const TrimPlan *plan, size_t longer_than, size_t excess)
{
	int			shortened = 0;

	for (int i = 0; i < plan->ntexts && excess > 0; i++)
	{
		json_t	   *object = plan->texts[i];
		const char *key = plan->text_keys[i];
		size_t		before;
		size_t		after;

		if (object == NULL || !json_is_string(json_object_get(object, key)))
			continue;
		before = json_string_length(json_object_get(object, key));
		if (!shorten_text(object, key, longer_than))
			continue;
		after = json_string_length(json_object_get(object, key));
		excess = before - after >= excess ? 0 : excess - (before - after);
		shortened++;
	}
	if (shortened > 0)
		intracker_count_omission(plan->doc, "shortened_texts", shortened,
								 "Full texts are in the views intracker.projects, intracker.sessions and intracker.todos.");
	return shortened > 0;
}

/*
 * Shrink the document below plan->max_bytes.  Each round measures the
 * document once, then makes one kind of cut, as much as the excess calls
 * for, in this order: texts so long they would crowd out everything else
 * (over a quarter of the cap); items from the least important end of the
 * lists (given most important first, trimmed last to first); other long
 * texts; members' session notes; members, last first.  When nothing is
 * left to cut it stops and says so.  Every round removes something, so the
 * loop ends.
 */
void
intracker_fit_to_size(const TrimPlan *plan)
{
	json_t	   *doc = plan->doc;

	for (;;)
	{
		size_t		size = serialized_size(doc) + plan->reserved;
		size_t		excess;
		bool		cut = false;

		CHECK_FOR_INTERRUPTS();
		if (size <= plan->max_bytes)
			return;
		excess = size - plan->max_bytes;

		if (shorten_texts(plan, plan->max_bytes / 4, excess))
			continue;
		/* what a user made huge, anywhere, before it crowds out everything else */
		if (drop_notes(plan, plan->max_bytes / 4) ||
			squeeze_document(plan, true, plan->max_bytes / 4, TRIMMED_TEXT_BYTES, plan->max_bytes / 4))
			continue;

		for (int i = plan->nlists - 1; i >= 0 && excess > 0; i--)
		{
			const TrimmableList *list = &plan->lists[i];
			int			dropped = drop_tail(list->array, &excess);

			if (dropped > 0)
			{
				cut = true;
				intracker_count_omission(doc, list->omission, dropped, list->fetch);
				if (list->owner != NULL)
					intracker_json_put(list->owner, "active_todos_omitted",
									   json_integer(json_integer_value(json_object_get(list->owner, "open_todos"))
													- json_array_size(list->array)));
			}
		}
		if (cut || shorten_texts(plan, 0, excess))
			continue;
		/* Last resort: members' session notes, then members, last first. */
		if (plan->members != NULL && drop_session_notes(doc, plan->members, excess))
			continue;
		if (plan->members != NULL)
		{
			int			dropped = drop_tail(plan->members->array, &excess);

			if (dropped > 0)
			{
				intracker_count_omission(doc, plan->members->omission, dropped, plan->members->fetch);
				continue;
			}
		}
		/* Not enough: everything is subject to the cap (see the file header). */
		if (drop_notes(plan, 0) ||
			squeeze_document(plan, false, SQUEEZED_TEXT_BYTES, SQUEEZED_TEXT_BYTES, SIZE_MAX) ||
			squeeze_document(plan, false, SQUEEZED_TEXT_BYTES, SQUEEZED_TEXT_BYTES, 0) ||
			reduce_to_skeleton(plan))
			continue;
		elog(ERROR, "context document of %zu bytes cannot be brought under %zu bytes", size, plan->max_bytes);
	}
}

/*
 * Would the trimmer drop every list item (members' open todos, shared
 * blockers, features in progress)?  Lists go before anything but the
 * longest texts (over a quarter of the cap), so if the document without
 * them is still over the cap once those are shortened, every item would be
 * fetched, built and dropped again.  The caller then skips them.  Shortens
 * those long texts as intracker_fit_to_size would have first; looks at the
 * plan's document and texts only.
 */
bool
intracker_lists_cannot_fit(const TrimPlan *plan)
{
	for (;;)
	{
		size_t		size = serialized_size(plan->doc) + plan->reserved;

		if (size <= plan->max_bytes)
			return false;
		if (!shorten_texts(plan, plan->max_bytes / 4, size - plan->max_bytes))
			return true;
	}
}
