/*-------------------------------------------------------------------------
 *
 * request.c
 *	  Read the request context PostgREST stores in GUCs.
 *
 * For every request PostgREST sets, transaction-locally, the GUCs
 * request.jwt.claims (the verified JWT payload) and request.headers (the
 * HTTP headers, names lower-cased), both as JSON objects.  Anyone can set
 * these GUCs, so callers decide what a value is trusted for: identity.c
 * trusts the claims only on PostgREST's own connection, and the version
 * trigger uses If-Match only to make a write stricter, never looser.
 *
 * jansson allocates with malloc: every path below releases the parsed
 * document before it can raise an error, so nothing leaks on ERROR.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "utils/guc.h"

#include "intracker.h"

/*
 * Return a palloc'd copy of the string member "key" of the JSON object held
 * in GUC "guc_name", or NULL when the GUC is unset, is not a JSON object, or
 * has no such string member.  Malformed JSON is treated as absent: the GUC is
 * not ours, and a malformed value must not make every query fail.
 */
static char *
json_guc_string_member(const char *guc_name, const char *key)
{
	const char *json_text = GetConfigOption(guc_name, true, false);
	json_t	   *root;
	json_t	   *member;
	char	   *result = NULL;

	if (json_text == NULL || json_text[0] == '\0')
		return NULL;

	root = json_loads(json_text, JSON_REJECT_DUPLICATES, NULL);
	if (root == NULL)
		return NULL;

	member = json_object_get(root, key);
	if (json_is_string(member))
		result = pnstrdup(json_string_value(member), json_string_length(member));

	json_decref(root);
	return result;
}

/* A claim of the current request's verified JWT, e.g. "sub". */
char *
intracker_request_claim(const char *claim)
{
	return json_guc_string_member("request.jwt.claims", claim);
}

/* A header of the current HTTP request; PostgREST lower-cases the names. */
char *
intracker_request_header(const char *header)
{
	return json_guc_string_member("request.headers", header);
}
