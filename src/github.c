/*-------------------------------------------------------------------------
 *
 * github.c
 *	  Reading GitHub's REST API answers.
 *
 * Kept apart from deliverer.c because jansson's json_object() collides
 * with PostgreSQL's SQL-callable json_object() of utils/builtins.h
 * (json_document.h explains).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "github.h"
#include "json_document.h"

/* What the answer to "create an issue" says. */
typedef struct CreatedIssue
{
	bool		ok;
	int			number;
	char	   *url;
} CreatedIssue;

static void
read_created_issue(json_t *answer, void *arg)
{
	CreatedIssue *issue = (CreatedIssue *) arg;
	json_t	   *n = json_object_get(answer, "number");
	char	   *address;

	issue->ok = json_is_integer(n) && json_integer_value(n) > 0 && json_integer_value(n) <= PG_INT32_MAX;
	if (!issue->ok)
		return;
	issue->number = (int) json_integer_value(n);
	address = intracker_json_string_member(answer, "html_url");
	if (address != NULL && strlen(address) <= 2000 &&
		(strncmp(address, "https://", 8) == 0 || strncmp(address, "http://", 7) == 0))
		issue->url = address;
}

/*
 * The number and web address of the issue in the answer to "create an
 * issue" (POST /repos/{owner}/{repo}/issues).  False when the answer holds
 * no valid number; *url is NULL unless the answer holds an http(s) address
 * (palloc'd in the current memory context).
 */
bool
intracker_github_created_issue(const char *answer, size_t len, int *number, char **url)
{
	CreatedIssue issue = {false, 0, NULL};

	if (answer != NULL)
		(void) intracker_json_read(answer, len, 0, read_created_issue, &issue);
	*url = issue.url;
	if (issue.ok)
		*number = issue.number;
	return issue.ok;
}
