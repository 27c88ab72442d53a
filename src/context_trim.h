/*-------------------------------------------------------------------------
 *
 * context_trim.h
 *	  Fitting a context document under its byte cap (context_trim.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_CONTEXT_TRIM_H
#define INTRACKER_CONTEXT_TRIM_H

#include "json_document.h"

/*
 * A list the trimmer may shorten: where it is, the key of the omission
 * count, and the query that fetches everything.
 */
typedef struct TrimmableList
{
	json_t	   *array;
	json_t	   *owner;			/* member whose active_todos_omitted to update, or NULL */
	const char *omission;		/* key in the "omitted" object */
	const char *fetch;
	const char *notes_fetch;	/* team_members only: where session notes are */
} TrimmableList;

/*
 * What the trimmer may cut from a document, and its budget: the document
 * must fit in max_bytes once `reserved` bytes are added to it.
 */
typedef struct TrimPlan
{
	json_t	   *doc;
	size_t		max_bytes;
	size_t		reserved;		/* bytes added after trimming */
	TrimmableList *lists;		/* most important first */
	int			nlists;
	json_t	  **texts;			/* objects with a long text, shortened in this order ... */
	const char **text_keys;		/* ... and the text's key in each */
	int			ntexts;
	TrimmableList *members;		/* team_members (last resort), or NULL */
	char	  **notes;			/* the project notes' text, put back after trimming (NULL: dropped) */
	const char *notes_fetch;
} TrimPlan;

extern void intracker_count_omission(json_t *doc, const char *what, int n, const char *fetch);
extern void intracker_fit_to_size(const TrimPlan *plan);
extern bool intracker_lists_cannot_fit(const TrimPlan *plan);

#endif							/* INTRACKER_CONTEXT_TRIM_H */
