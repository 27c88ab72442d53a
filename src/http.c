/*-------------------------------------------------------------------------
 *
 * http.c
 *	  HTTP settings and policy, and one request with libcurl.
 *
 * The GUCs that shape outgoing HTTP (timeouts, concurrency, retries, the
 * host allow-list, GitHub's API address), the URL policy applied both when
 * a webhook is created and before every request, and the setup and
 * teardown of one libcurl easy handle.  The deliverer (deliverer.c) runs
 * many of these at once on a libcurl multi handle.
 *
 * Safety: only http and https, redirects never followed, TLS peers and host
 * names verified, response bodies read up to RESPONSE_CAP bytes, with
 * intracker.http_allowed_hosts set only the hosts it lists, and unless
 * intracker.http_allow_private_networks is on no loopback, private or other
 * non-public address (address_policy.c).  That address check is made on
 * the address libcurl is about to connect to (CURLOPT_OPENSOCKETFUNCTION),
 * after name resolution, so no name, DNS answer or redirect gets around
 * it, and before each request on a reused connection
 * (CURLOPT_PREREQFUNCTION), so one opened while the switch was on is not
 * used after it went off.  A refused request makes no connection at all
 * and its error says only "refused by policy": nothing about the host, its
 * ports or how connecting would have gone.
 *
 * Memory: libcurl calls back while it runs, where a PostgreSQL error must
 * not be raised (it would longjmp through libcurl), so what libcurl fills
 * (the response buffer, the header list) is malloc'ed and freed by
 * intracker_http_end on every path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <curl/curl.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "address_policy.h"
#include "http.h"

#define RESPONSE_CAP		(256 * 1024)	/* bytes of a response body kept */

int			intracker_http_max_concurrency = 32;
int			intracker_http_timeout_ms = 10000;
int			intracker_http_max_attempts = 10;
int			intracker_http_retry_base_ms = 1000;
char	   *intracker_github_api_url = NULL;
int			intracker_webhook_disable_after_dead = 10;
int			intracker_webhook_disable_after_failing_s = 86400;
static char *http_allowed_hosts = NULL;
static bool http_allow_private_networks = false;

void
HttpInit(void)
{
	DefineCustomIntVariable("intracker.http_max_concurrency",
							"Most HTTP requests (webhooks, GitHub calls) the deliverer has in flight at once.",
							"Each webhook (and each project's GitHub queue) has at most one request in flight, to keep its order.",
							&intracker_http_max_concurrency, 32, 1, INTRACKER_HTTP_MAX_CONCURRENCY,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("intracker.http_timeout",
							"Time limit of one HTTP request, connection included.",
							"A request that runs out of time is retried like a 5xx answer.",
							&intracker_http_timeout_ms, 10000, 100, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("intracker.http_max_attempts",
							"Attempts of a delivery before it is marked dead.",
							NULL,
							&intracker_http_max_attempts, 10, 1, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("intracker.http_retry_base_delay",
							"Pause before the first retry of a delivery; it doubles with each attempt (with jitter, at most an hour).",
							"A Retry-After header of a 429 or 503 answer takes precedence.",
							&intracker_http_retry_base_ms, 1000, 10, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("intracker.http_allowed_hosts",
							   "Hosts webhooks may be sent to, comma-separated (\"*.example.com\" for subdomains); empty allows any.",
							   "A defence against requests to internal services. The deliverer checks it before every request.",
							   &http_allowed_hosts, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("intracker.http_allow_private_networks",
							 "Whether webhooks and GitHub calls may reach loopback, private, link-local and other non-public addresses.",
							 "Off: a request whose address, checked when connecting, is in such a network is refused by policy, and create_webhook refuses such a literal address. Turn it on only if every user may reach the server's own network.",
							 &http_allow_private_networks, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("intracker.webhook_disable_after_dead",
							"Dead deliveries in a row after which the deliverer disables a webhook (0: never).",
							"A delivered delivery ends the run; set_webhook_active(id, true) enables the webhook again.",
							&intracker_webhook_disable_after_dead, 10, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("intracker.webhook_disable_after_failing",
							"Time after which the deliverer disables a webhook all of whose delivery attempts failed (0: never).",
							"Counted from the first failed attempt after the last delivered delivery.",
							&intracker_webhook_disable_after_failing_s, 86400, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("intracker.github_api_url",
							   "Base URL of the GitHub REST API (GitHub Enterprise: https://HOST/api/v3).",
							   NULL,
							   &intracker_github_api_url, "https://api.github.com",
							   PGC_SUSET, 0, NULL, NULL, NULL);
}

/* Does host match one entry of the allow-list ("name" or "*.domain")? */
static bool
host_allowed(const char *host)
{
	char	   *list;
	char	   *entry;
	char	   *saveptr = NULL;
	bool		allowed = false;
	size_t		host_len = strlen(host);

	if (http_allowed_hosts == NULL || http_allowed_hosts[0] == '\0')
		return true;
	list = pstrdup(http_allowed_hosts);
	for (entry = strtok_r(list, ", \t", &saveptr); entry != NULL && !allowed;
		 entry = strtok_r(NULL, ", \t", &saveptr))
	{
		if (strncmp(entry, "*.", 2) == 0)
		{
			size_t		suffix_len = strlen(entry + 1);	/* ".domain" */

			allowed = host_len > suffix_len &&
				pg_strcasecmp(host + host_len - suffix_len, entry + 1) == 0;
		}
		else
			allowed = pg_strcasecmp(host, entry) == 0;
	}
	pfree(list);
	return allowed;
}

/*
 * NULL if url may be requested, else why not (palloc'd).  *denied_host is
 * set when the only problem is the allow-list.
 */
char *
intracker_url_problem(const char *url, bool *denied_host)
{
	CURLU	   *parsed = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *problem = NULL;

	*denied_host = false;
	if (parsed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("libcurl could not allocate a URL handle.")));
	if (curl_url_set(parsed, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
		curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		problem = psprintf("\"%s\" is not a valid URL", url);
	else if (pg_strcasecmp(scheme, "http") != 0 && pg_strcasecmp(scheme, "https") != 0)
		problem = psprintf("scheme \"%s\" is not allowed: only http and https", scheme);
	else if (curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		problem = psprintf("\"%s\" has no host", url);
	else if (!host_allowed(host))
	{
		problem = psprintf("host \"%s\" is not in intracker.http_allowed_hosts", host);
		*denied_host = true;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(parsed);
	return problem;
}

/*
 * Is the host of url (valid: intracker_url_problem said so) a literal
 * address the policy refuses?  A name is judged when connecting.
 */
static bool
url_has_refused_literal_host(const char *url)
{
	CURLU	   *parsed = curl_url();
	char	   *host = NULL;
	bool		refused;

	if (parsed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("libcurl could not allocate a URL handle.")));
	refused = curl_url_set(parsed, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
		curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		intracker_literal_host_refused(host);
	curl_free(host);
	curl_url_cleanup(parsed);
	return refused;
}

/* intracker_data.check_webhook_url(url text) returns void */
PG_FUNCTION_INFO_V1(intracker_check_webhook_url);
Datum
intracker_check_webhook_url(PG_FUNCTION_ARGS)
{
	char	   *url;
	char	   *problem;
	bool		denied_host;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("url must not be null")));
	url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	problem = intracker_url_problem(url, &denied_host);
	if (problem != NULL && denied_host)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("webhook URL not allowed: %s", problem),
				 errdetail("intracker.http_allowed_hosts is \"%s\".", http_allowed_hosts),
				 errhint("A superuser can add the host to intracker.http_allowed_hosts.")));
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid webhook URL: %s", problem),
				 errhint("Use an absolute http:// or https:// URL.")));
	if (!http_allow_private_networks && url_has_refused_literal_host(url))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("webhook URL refused by policy"),
				 errdetail("Its host is a loopback, private, link-local or other non-public address."),
				 errhint("A superuser can turn on intracker.http_allow_private_networks if every user may reach the server's network.")));
	PG_RETURN_VOID();
}

/* libcurl write callback: keep up to RESPONSE_CAP bytes, then stop the transfer. */
static size_t
collect_response(char *data, size_t size, size_t nmemb, void *userdata)
{
	HttpRequest *request = (HttpRequest *) userdata;
	size_t		bytes = size * nmemb;
	char	   *grown;

	if (request->response_len + bytes > RESPONSE_CAP)
	{
		request->response_truncated = true;
		return 0;				/* CURLE_WRITE_ERROR; the status is already known */
	}
	grown = realloc(request->response, request->response_len + bytes + 1);
	if (grown == NULL)
		return 0;
	request->response = grown;
	memcpy(request->response + request->response_len, data, bytes);
	request->response_len += bytes;
	request->response[request->response_len] = '\0';
	return bytes;
}

/* Append "name: value" to the header list; false when out of memory. */
static bool
add_header(struct curl_slist **headers, const char *name, const char *value)
{
	char		line[1024];
	struct curl_slist *grown;

	snprintf(line, sizeof(line), "%s: %s", name, value);
	grown = curl_slist_append(*headers, line);
	if (grown == NULL)
		return false;
	*headers = grown;
	return true;
}

/*
 * libcurl's CURLOPT_OPENSOCKETFUNCTION: open the socket for a connection
 * to address, unless the policy refuses the address; then no connection
 * is attempted (libcurl tries the host's next address, if any) and the
 * request remembers why.
 */
static curl_socket_t
open_socket(void *clientp, curlsocktype purpose pg_attribute_unused(), struct curl_sockaddr *address)
{
	HttpRequest *request = (HttpRequest *) clientp;
	int			type = address->socktype;

	if (!http_allow_private_networks && intracker_address_refused(&address->addr))
	{
		request->refused_by_policy = true;
		return CURL_SOCKET_BAD;
	}
#ifdef SOCK_CLOEXEC
	type |= SOCK_CLOEXEC;
#endif
	return socket(address->family, type, address->protocol);
}

/*
 * libcurl's CURLOPT_PREREQFUNCTION, called before each request once its
 * connection is up: a connection reused from the cache was not opened
 * through open_socket under the current setting, so its address is
 * judged again.
 */
static int
check_connection(void *clientp, char *conn_primary_ip, char *conn_local_ip pg_attribute_unused(),
				 int conn_primary_port pg_attribute_unused(), int conn_local_port pg_attribute_unused())
{
	HttpRequest *request = (HttpRequest *) clientp;

	if (!http_allow_private_networks && intracker_ip_text_refused(conn_primary_ip))
	{
		request->refused_by_policy = true;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/*
 * Prepare request->easy (created or reset by the caller) for one request.
 * extra_headers are name/value pairs.  Returns false when libcurl refused
 * an option or memory ran out; request->error says which.
 */
bool
intracker_http_begin(HttpRequest *request, const char *method, const char *url, const char *body,
					 const char *const *extra_headers, int n_extra)
{
	CURL	   *easy = request->easy;
	bool		ok = true;

	request->headers = NULL;
	request->response = NULL;
	request->response_len = 0;
	request->response_truncated = false;
	request->refused_by_policy = false;
	request->error[0] = '\0';

	ok = add_header(&request->headers, "Content-Type", "application/json") &&
		add_header(&request->headers, "User-Agent", "intracker/" EXTVERSION) &&
		add_header(&request->headers, "Expect", "");	/* no 100-continue round trip */
	for (int i = 0; ok && i < n_extra; i++)
		ok = add_header(&request->headers, extra_headers[2 * i], extra_headers[2 * i + 1]);
	if (!ok)
	{
		strlcpy(request->error, "out of memory building the request headers", sizeof(request->error));
		return false;
	}

	ok = curl_easy_setopt(easy, CURLOPT_URL, url) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) intracker_http_timeout_ms) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, request->headers) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(body)) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect_response) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_WRITEDATA, request) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, request->error) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, request) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, check_connection) == CURLE_OK &&
		curl_easy_setopt(easy, CURLOPT_PREREQDATA, request) == CURLE_OK;
	if (!ok)
		strlcpy(request->error, "libcurl rejected a request option", sizeof(request->error));
	return ok;
}

/*
 * Read the outcome of a finished transfer into *result and free what
 * intracker_http_begin and the transfer allocated (the easy handle stays
 * for reuse).  The response body is left in request->response for the
 * caller, who frees it with intracker_http_free_response.
 */
void
intracker_http_end(HttpRequest *request, CURLcode code, HttpOutcome *result)
{
	long		status = 0;
	curl_off_t	retry_after = 0;
	curl_off_t	total_us = 0;
	curl_off_t	connect_us = 0;

	curl_easy_getinfo(request->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(request->easy, CURLINFO_RETRY_AFTER, &retry_after);
	curl_easy_getinfo(request->easy, CURLINFO_TOTAL_TIME_T, &total_us);
	curl_easy_getinfo(request->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
	curl_slist_free_all(request->headers);
	request->headers = NULL;

	result->status = (int) status;
	result->retry_after_s = (int64) retry_after;
	result->duration_ms = total_us / 1000.0;
	result->error[0] = '\0';

	/*
	 * Refused by policy: no address was connected to (or a reused
	 * connection's was refused).  Said without libcurl's own words, which
	 * would tell a closed port from an open one; dead at once, since
	 * retrying changes nothing until a superuser changes the setting.
	 */
	if (code != CURLE_OK && request->refused_by_policy &&
		(code == CURLE_ABORTED_BY_CALLBACK || connect_us == 0))
	{
		strlcpy(result->error, INTRACKER_REFUSED_BY_POLICY, sizeof(result->error));
		result->kind = HTTP_PERMANENT_FAILURE;
		result->status = 0;
		return;
	}

	/* a response cut at the cap still has its status */
	if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && request->response_truncated && status > 0))
	{
		snprintf(result->error, sizeof(result->error), "%s%s%s", curl_easy_strerror(code),
				 request->error[0] ? ": " : "", request->error);
		result->kind = (code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT) ?
			HTTP_PERMANENT_FAILURE : HTTP_RETRYABLE_FAILURE;
		result->status = 0;
		return;
	}
	if (status >= 200 && status < 300)
		result->kind = HTTP_SUCCESS;
	else if (status == 429 || status >= 500)
		result->kind = HTTP_RETRYABLE_FAILURE;
	else
		result->kind = HTTP_PERMANENT_FAILURE;
	if (result->kind != HTTP_SUCCESS)
		snprintf(result->error, sizeof(result->error), "HTTP %ld%s", status,
				 status >= 300 && status < 400 ? " (redirects are not followed)" : "");
}

void
intracker_http_free_response(HttpRequest *request)
{
	free(request->response);
	request->response = NULL;
	request->response_len = 0;
}
