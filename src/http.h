/*-------------------------------------------------------------------------
 *
 * http.h
 *	  Outgoing HTTP (http.c): its settings, the URL policy, and one
 *	  request with libcurl, for the deliverer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_HTTP_H
#define INTRACKER_HTTP_H

#include <curl/curl.h>

/* intracker.http_max_concurrency's upper bound, and the deliverer's slots */
#define INTRACKER_HTTP_MAX_CONCURRENCY	1000

extern int	intracker_http_max_concurrency;
extern int	intracker_http_timeout_ms;
extern int	intracker_http_max_attempts;
extern int	intracker_http_retry_base_ms;
extern char *intracker_github_api_url;
extern int	intracker_webhook_disable_after_dead;
extern int	intracker_webhook_disable_after_failing_s;

extern void HttpInit(void);
extern char *intracker_url_problem(const char *url, bool *denied_host);

typedef enum HttpOutcomeKind
{
	HTTP_SUCCESS,				/* 2xx */
	HTTP_RETRYABLE_FAILURE,		/* 429, 5xx, timeout, connection failure */
	HTTP_PERMANENT_FAILURE		/* any other status, or a request that cannot work */
} HttpOutcomeKind;

typedef struct HttpOutcome
{
	HttpOutcomeKind kind;
	int			status;			/* HTTP status, 0 when none arrived */
	int64		retry_after_s;	/* Retry-After in seconds, 0 when absent */
	double		duration_ms;
	char		error[256];		/* empty on success */
} HttpOutcome;

/* One request on a reusable easy handle; the malloc'ed parts are libcurl's. */
typedef struct HttpRequest
{
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *response;		/* body received, NUL-terminated (malloc) */
	size_t		response_len;
	bool		response_truncated;
	bool		refused_by_policy;	/* an address was refused (address_policy.c) */
	char		error[CURL_ERROR_SIZE];
} HttpRequest;

extern bool intracker_http_begin(HttpRequest *request, const char *method, const char *url,
								 const char *body, const char *const *extra_headers, int n_extra);
extern void intracker_http_end(HttpRequest *request, CURLcode code, HttpOutcome *result);
extern void intracker_http_free_response(HttpRequest *request);

#endif							/* INTRACKER_HTTP_H */
