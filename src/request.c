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
 * jansson allocates with malloc: intracker_json_read (json_document.c)
 * releases the parsed document on every path, errors included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "json_document.h"
#include "request.h"

/* A string member to look up, and what was found. */
typedef struct StringMember
{
	const char *key;
	char	   *value;
} StringMember;

static void
read_string_member(json_t *root, void *arg)
{
	StringMember *member = (StringMember *) arg;

	member->value = intracker_json_string_member(root, member->key);
}

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
	StringMember member = {key, NULL};

	if (json_text == NULL || json_text[0] == '\0')
		return NULL;
	(void) intracker_json_read(json_text, strlen(json_text), JSON_REJECT_DUPLICATES, read_string_member, &member);
	return member.value;
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
