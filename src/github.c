/*-------------------------------------------------------------------------
 *
 * github.c
 *	  Reading GitHub's REST API answers (jansson).
 *
 * Kept apart from deliverer.c because jansson's json_object() collides
 * with PostgreSQL's SQL-callable json_object() of utils/builtins.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "intracker.h"

/*
 * The number and web address of the issue in the answer to "create an
 * issue" (POST /repos/{owner}/{repo}/issues).  False when the answer holds
 * no valid number; *url is NULL unless the answer holds an http(s) address
 * (palloc'd in the current memory context).
 */
bool
intracker_github_created_issue(const char *answer, size_t len, int *number, char **url)
{
	json_error_t error;
	json_t	   *doc = answer ? json_loadb(answer, len, 0, &error) : NULL;
	json_t	   *n = doc ? json_object_get(doc, "number") : NULL;
	json_t	   *u = doc ? json_object_get(doc, "html_url") : NULL;
	bool		ok = json_is_integer(n) && json_integer_value(n) > 0 && json_integer_value(n) <= PG_INT32_MAX;

	*url = NULL;
	if (ok)
	{
		const char *address = json_is_string(u) ? json_string_value(u) : "";

		*number = (int) json_integer_value(n);
		if (strlen(address) <= 2000 &&
			(strncmp(address, "https://", 8) == 0 || strncmp(address, "http://", 7) == 0))
			*url = pstrdup(address);
	}
	json_decref(doc);
	return ok;
}
