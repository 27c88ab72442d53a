/*
 * test/helpers/http_sink.c — a small, fast HTTP/1.1 server for the webhook
 * tests and the benchmark of intracker's webhook deliverer.
 *
 * Usage: http_sink [--port N] [--port-file FILE] [--log FILE] [--ipv6] [--quiet]
 *
 *   --port N          port to listen on, 127.0.0.1 only (default 0: any free port)
 *   --ipv6            also listen on [::1], on the same port
 *   --port-file FILE  also write "<port>\n" to FILE (written to FILE.tmp, then
 *                     renamed, so a reader never sees a partial file)
 *   --log FILE        append one JSON line per complete request (see below)
 *   --quiet           accepted for clarity: stderr only ever carries real errors
 *
 * Once listening it prints "PORT <n>" on stdout (flushed).  On SIGUSR1 it
 * prints "COUNT <complete requests so far>" on stdout; on SIGTERM or SIGINT
 * it flushes the log and exits 0.  It exits 1 with a message if it cannot
 * bind, 2 on a bad command line.
 *
 * One thread, non-blocking sockets and poll(): keep-alive and pipelined
 * requests, hundreds of concurrent connections, and no connection ever
 * blocks another (/slow is a timer in the poll loop, /big is streamed).
 *
 * Requests: HTTP/1.x, body by Content-Length, at most 8 MB in all (413
 * beyond); Transfer-Encoding without Content-Length gets 411; "Expect:
 * 100-continue" gets "HTTP/1.1 100 Continue" before the body is read.
 * "Connection: close" (or HTTP/1.0 without "Connection: keep-alive") closes
 * the connection after the response.  Errors in the request itself (400,
 * 411, 413) close the connection and are neither logged nor counted.
 *
 * Responses, chosen by the first path segments (the query is ignored):
 *   /ok/...                200 "ok"
 *   /status/NNN/...        NNN (200..599) "status NNN"; 1xx or not a number: 400
 *                          (204 and 304 have no body, 204 no Content-Length)
 *   /retry-after/SECS/...  429 "slow down" with "Retry-After: SECS" (SECS may
 *                          also be a percent-encoded HTTP date)
 *   /fail/N/...            500 "fail" for the first N requests to this exact
 *                          path, then 200 "ok"
 *   /slow/MS/...           200 "ok" after MS milliseconds (at most an hour)
 *   /hang/...              no response; the connection stays open until the
 *                          client closes it
 *   /big/BYTES/...         200 with BYTES bytes of 'x' (at most 100 MB)
 *   /redirect/...          302 "redirect" with "Location: /ok/redirected"
 *   /gh/...                a fake GitHub REST API (application/json):
 *     POST  /gh/repos/O/R/issues     201 {"number": N, "html_url":
 *                                    "https://github.example/O/R/issues/N",
 *                                    "state": "open"}, N counting per O/R from 1
 *     PATCH /gh/repos/O/R/issues/N   200, the same with "state" "closed" if the
 *                                    body has "state": "closed", else "open"
 *     /gh/fail/N/rest                500 for the first N requests to this exact
 *                                    path, then served as /gh/rest
 *     anything else                  404 {"message": "Not Found"}
 *   anything else          404 "not found"
 * Every response is HTTP/1.1 with Content-Length and Content-Type (text/plain,
 * or application/json under /gh); HEAD requests get the headers only.
 *
 * Log (--log): one JSON object per line, written and flushed as soon as the
 * request has been read, before its response (so also for /slow and /hang):
 *
 *     {"t": 1700000000.123456, "conn": 3, "n": 17, "method": "POST",
 *      "path": "/ok/a?x=1", "headers": {"content-type": "application/json"},
 *      "body": "..."}
 *
 * t is the time in seconds since the epoch; conn numbers the connections and n
 * the requests, both from 1.  Header names are lower-cased and a repeated
 * header's values are joined with ", ".  Strings are JSON-escaped: valid UTF-8
 * passes through, control characters become \u00XX, and so does any byte
 * that is not part of valid UTF-8 (read as U+0080..U+00FF).
 *
 * Build: cc -O2 -Wall -Wextra -Werror -o http_sink http_sink.c
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST		(8 * 1024 * 1024)	/* request line + headers + body */
#define MAX_BIG			(100 * 1024 * 1024)	/* largest /big body */
#define MAX_SLOW_MS		(3600 * 1000)
#define MAX_HEADERS		128
#define IN_MIN_ROOM		16384		/* read at least this much at a time */
#define IN_MAX			(MAX_REQUEST + 65536)	/* most input buffered per connection */
#define IN_KEEP			(256 * 1024)	/* larger empty input buffers are freed */
#define OUT_HIGH		(256 * 1024)	/* stop parsing while this much output waits */
#define OUT_KEEP		(1024 * 1024)	/* larger empty output buffers are freed */
#define LINGER_MS		2000		/* wait for the client's FIN before closing */
#define FILL_SIZE		(256 * 1024)	/* 'x' bytes sent per write for /big */

typedef struct StrBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} StrBuf;

/* Offsets are relative to the start of the request in the input buffer. */
typedef struct Header
{
	uint32_t	name_off;
	uint32_t	name_len;
	uint32_t	value_off;
	uint32_t	value_len;
} Header;

typedef enum ConnState
{
	ST_READ,					/* reading and answering requests */
	ST_SLOW,					/* a /slow request waits for its deadline */
	ST_HANG,					/* a /hang request: never answer, discard input */
	ST_LINGER					/* response sent, write side shut, waiting for EOF */
} ConnState;

typedef struct Conn
{
	int			fd;				/* -1 once closed */
	long long	id;
	ConnState	state;
	bool		peer_eof;		/* the client will send nothing more */
	bool		close_after;	/* close once the queued output is sent */
	int64_t		deadline_us;	/* ST_SLOW and ST_LINGER */

	/* input: unparsed bytes are in[in_start .. in_len) */
	char	   *in;
	size_t		in_start;
	size_t		in_len;
	size_t		in_cap;

	/* the request being parsed */
	size_t		scan;			/* where the search for the header end resumes */
	bool		have_head;		/* headers parsed; waiting for the body */
	size_t		head_len;
	size_t		body_len;
	uint32_t	method_off;
	uint32_t	method_len;
	uint32_t	target_off;
	uint32_t	target_len;
	bool		req_close;		/* the client wants the connection closed */
	bool		req_http10_keep;	/* HTTP/1.0 with Connection: keep-alive */
	bool		req_head;		/* HEAD: no response body */
	int			nheaders;
	Header		headers[MAX_HEADERS];

	/* output: out.data[out_off .. out.len), then big_left bytes of 'x' */
	StrBuf		out;
	size_t		out_off;
	uint64_t	big_left;
} Conn;

/* path -> count, for /fail and the per-repository issue numbers */
typedef struct Counter
{
	struct Counter *next;
	long long	count;
	size_t		len;
	char		key[];
} Counter;

#define COUNTER_BUCKETS 1024
typedef struct CounterMap
{
	Counter    *buckets[COUNTER_BUCKETS];
} CounterMap;

static Conn **conns;
static int	nconns;
static int	conns_cap;
static long long conn_count;
static long long request_count;
static FILE *log_file;
static StrBuf scratch;			/* log lines and JSON bodies */
static char fill[FILL_SIZE];
static CounterMap fail_counts;
static CounterMap issue_numbers;
static int	signal_pipe[2] = {-1, -1};
static int	listen_fds[2] = {-1, -1};	/* 127.0.0.1, and [::1] with --ipv6 */
static int	nlisten = 0;
static int64_t accept_paused_until;

static void conn_close(Conn *c);
static void progress(Conn *c);

/* ---------------------------------------------------------------- utilities */

static void *
xrealloc(void *p, size_t size)
{
	void	   *r = realloc(p, size);

	if (r == NULL)
	{
		fprintf(stderr, "http_sink: out of memory (%zu bytes)\n", size);
		exit(1);
	}
	return r;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sb_reserve(StrBuf *sb, size_t more)
{
	if (sb->cap - sb->len >= more)
		return;
	size_t		cap = sb->cap ? sb->cap : 1024;

	while (cap - sb->len < more)
		cap *= 2;
	sb->data = xrealloc(sb->data, cap);
	sb->cap = cap;
}

static void
sb_append(StrBuf *sb, const char *s, size_t len)
{
	sb_reserve(sb, len);
	memcpy(sb->data + sb->len, s, len);
	sb->len += len;
}

static void
sb_puts(StrBuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

static void
sb_printf(StrBuf *sb, const char *fmt,...)
	__attribute__((format(printf, 2, 3)));

static void
sb_printf(StrBuf *sb, const char *fmt,...)
{
	va_list		ap;
	int			n;

	sb_reserve(sb, 128);
	va_start(ap, fmt);
	n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	if ((size_t) n >= sb->cap - sb->len)
	{
		sb_reserve(sb, (size_t) n + 1);
		va_start(ap, fmt);
		vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
	}
	sb->len += n;
}

/* Length of the valid UTF-8 sequence at s (a byte >= 0x80), or 0. */
static size_t
utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t		n;
	unsigned char lo = 0x80,
				hi = 0xBF;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	}
	else
		return 0;
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

/* Append s JSON-escaped, without the surrounding quotes. */
static void
sb_json_escaped(StrBuf *sb, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *) str;
	size_t		i = 0;

	sb_reserve(sb, len + 16);
	while (i < len)
	{
		size_t		run = i;

		while (run < len && s[run] >= 0x20 && s[run] < 0x7F &&
			   s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i)
		{
			sb_append(sb, str + i, run - i);
			i = run;
			continue;
		}
		if (s[i] == '"' || s[i] == '\\')
		{
			char		esc[2] = {'\\', (char) s[i]};

			sb_append(sb, esc, 2);
			i++;
		}
		else if (s[i] >= 0x80 && (run = utf8_seq_len(s + i, len - i)) > 0)
		{
			sb_append(sb, str + i, run);
			i += run;
		}
		else
		{
			sb_printf(sb, "\\u%04x", s[i]);
			i++;
		}
	}
}

static void
sb_json_string(StrBuf *sb, const char *s, size_t len)
{
	sb_append(sb, "\"", 1);
	sb_json_escaped(sb, s, len);
	sb_append(sb, "\"", 1);
}

static bool
mem_eq(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

static bool
mem_caseeq(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

/* A decimal number of at most max_digits digits, or -1. */
static long long
parse_digits(const char *s, size_t len, size_t max_digits)
{
	long long	v = 0;

	if (len == 0 || len > max_digits)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static long long
counter_bump(CounterMap *map, const char *key, size_t len)
{
	uint32_t	h = 2166136261u;
	Counter    *c;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) key[i]) * 16777619u;
	h %= COUNTER_BUCKETS;
	for (c = map->buckets[h]; c != NULL; c = c->next)
		if (c->len == len && memcmp(c->key, key, len) == 0)
			return ++c->count;
	c = xrealloc(NULL, sizeof(Counter) + len);
	memcpy(c->key, key, len);
	c->len = len;
	c->count = 1;
	c->next = map->buckets[h];
	map->buckets[h] = c;
	return 1;
}

static void
counter_free(CounterMap *map)
{
	for (int i = 0; i < COUNTER_BUCKETS; i++)
	{
		while (map->buckets[i] != NULL)
		{
			Counter    *next = map->buckets[i]->next;

			free(map->buckets[i]);
			map->buckets[i] = next;
		}
	}
}

/* The next path segment after *p (which points at a '/'), or false. */
static bool
next_segment(const char **p, const char *end, const char **seg, size_t *seglen)
{
	const char *s;

	if (*p >= end || **p != '/')
		return false;
	s = *p + 1;
	*seg = s;
	while (s < end && *s != '/')
		s++;
	*seglen = s - *seg;
	*p = s;
	return true;
}

/* ----------------------------------------------------------------- output */

static void
out_append(Conn *c, const char *s, size_t len)
{
	/* everything sent: start the buffer over instead of growing it */
	if (c->out_off > 0 && c->out_off == c->out.len)
		c->out_off = c->out.len = 0;
	sb_append(&c->out, s, len);
}

static bool
out_pending(const Conn *c)
{
	return c->out_off < c->out.len || c->big_left > 0;
}

static const char *
reason_phrase(int status)
{
	switch (status)
	{
		case 200:
			return "OK";
		case 201:
			return "Created";
		case 202:
			return "Accepted";
		case 204:
			return "No Content";
		case 301:
			return "Moved Permanently";
		case 302:
			return "Found";
		case 303:
			return "See Other";
		case 304:
			return "Not Modified";
		case 307:
			return "Temporary Redirect";
		case 308:
			return "Permanent Redirect";
		case 400:
			return "Bad Request";
		case 401:
			return "Unauthorized";
		case 403:
			return "Forbidden";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 408:
			return "Request Timeout";
		case 409:
			return "Conflict";
		case 410:
			return "Gone";
		case 411:
			return "Length Required";
		case 413:
			return "Content Too Large";
		case 422:
			return "Unprocessable Content";
		case 429:
			return "Too Many Requests";
		case 431:
			return "Request Header Fields Too Large";
		case 500:
			return "Internal Server Error";
		case 501:
			return "Not Implemented";
		case 502:
			return "Bad Gateway";
		case 503:
			return "Service Unavailable";
		case 504:
			return "Gateway Timeout";
	}
	if (status < 300)
		return "Success";
	if (status < 400)
		return "Redirection";
	if (status < 500)
		return "Client Error";
	return "Server Error";
}

/*
 * Queue a response: the status line and headers, then body (unless HEAD),
 * then big bytes of 'x' (streamed by flush_output).  extra is more header
 * lines ("Name: value\r\n"), or NULL.
 */
static void
respond(Conn *c, int status, bool json, const char *extra,
		const char *body, size_t body_len, uint64_t big)
{
	char		head[512];
	int			n;
	bool		no_body = c->req_head || status == 204 || status == 304;
	uint64_t	length = (status == 204 || status == 304) ? 0 : body_len + big;
	char		length_line[64] = "";

	if (status != 204)
		snprintf(length_line, sizeof(length_line),
				 "Content-Length: %llu\r\n", (unsigned long long) length);
	n = snprintf(head, sizeof(head),
				 "HTTP/1.1 %d %s\r\n"
				 "Server: intracker-http-sink\r\n"
				 "Content-Type: %s\r\n"
				 "%s%s",
				 status, reason_phrase(status),
				 json ? "application/json" : "text/plain",
				 length_line,
				 c->req_close ? "Connection: close\r\n" :
				 c->req_http10_keep ? "Connection: keep-alive\r\n" : "");
	out_append(c, head, n);
	if (extra != NULL)
		out_append(c, extra, strlen(extra));
	out_append(c, "\r\n", 2);
	if (!no_body)
	{
		out_append(c, body, body_len);
		c->big_left = big;
	}
	if (c->req_close)
		c->close_after = true;
}

static void
respond_text(Conn *c, int status, const char *body)
{
	respond(c, status, false, NULL, body, strlen(body), 0);
}

static void
respond_json(Conn *c, int status, const char *body)
{
	respond(c, status, true, NULL, body, strlen(body), 0);
}

/* An error in the request itself: answer and close the connection. */
static void
respond_error(Conn *c, int status, const char *body)
{
	c->req_close = true;
	c->req_head = false;
	c->req_http10_keep = false;
	respond_text(c, status, body);
}

/*
 * Send what can be sent without blocking.  Returns false if the connection
 * is broken.
 */
static bool
flush_output(Conn *c)
{
	while (c->out_off < c->out.len)
	{
		ssize_t		n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
							 MSG_NOSIGNAL);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		c->out_off += n;
	}
	c->out_off = c->out.len = 0;
	if (c->out.cap > OUT_KEEP)
	{
		free(c->out.data);
		c->out.data = NULL;
		c->out.cap = 0;
	}
	while (c->big_left > 0)
	{
		size_t		chunk = c->big_left < FILL_SIZE ? c->big_left : FILL_SIZE;
		ssize_t		n = send(c->fd, fill, chunk, MSG_NOSIGNAL);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		c->big_left -= n;
	}
	return true;
}

/* ---------------------------------------------------------------- logging */

static void
log_request(Conn *c, const char *req)
{
	const char *body = req + c->head_len;
	struct timeval tv;
	bool		first = true;

	gettimeofday(&tv, NULL);
	scratch.len = 0;
	sb_printf(&scratch, "{\"t\": %lld.%06ld, \"conn\": %lld, \"n\": %lld, \"method\": ",
			  (long long) tv.tv_sec, (long) tv.tv_usec, c->id, request_count);
	sb_json_string(&scratch, req + c->method_off, c->method_len);
	sb_puts(&scratch, ", \"path\": ");
	sb_json_string(&scratch, req + c->target_off, c->target_len);
	sb_puts(&scratch, ", \"headers\": {");
	for (int i = 0; i < c->nheaders; i++)
	{
		const Header *h = &c->headers[i];
		bool		seen = false;
		bool		first_value = true;

		for (int j = 0; j < i && !seen; j++)
			seen = c->headers[j].name_len == h->name_len &&
				memcmp(req + c->headers[j].name_off, req + h->name_off, h->name_len) == 0;
		if (seen)
			continue;
		if (!first)
			sb_puts(&scratch, ", ");
		first = false;
		/* names are tokens (checked by the parser) and already lower-cased */
		sb_json_string(&scratch, req + h->name_off, h->name_len);
		sb_puts(&scratch, ": \"");
		for (int j = i; j < c->nheaders; j++)
		{
			const Header *v = &c->headers[j];

			if (v->name_len != h->name_len ||
				memcmp(req + v->name_off, req + h->name_off, h->name_len) != 0)
				continue;
			if (!first_value)
				sb_puts(&scratch, ", ");
			first_value = false;
			sb_json_escaped(&scratch, req + v->value_off, v->value_len);
		}
		sb_puts(&scratch, "\"");
	}
	sb_puts(&scratch, "}, \"body\": ");
	sb_json_string(&scratch, body, c->body_len);
	sb_puts(&scratch, "}\n");
	if (fwrite(scratch.data, 1, scratch.len, log_file) != scratch.len ||
		fflush(log_file) != 0)
	{
		fprintf(stderr, "http_sink: could not write the log: %s\n", strerror(errno));
		exit(1);
	}
	if (scratch.cap > OUT_KEEP)
	{
		free(scratch.data);
		memset(&scratch, 0, sizeof(scratch));
	}
}

/* ---------------------------------------------------------------- routing */

/* The "state" a PATCH body asks for: "closed" or "open" (the default). */
static const char *
requested_state(const char *body, size_t len)
{
	const char *end = body + len;
	const char *p = body;

	while (p < end && (p = memmem(p, end - p, "\"state\"", 7)) != NULL)
	{
		const char *q = p + 7;

		while (q < end && isspace((unsigned char) *q))
			q++;
		if (q < end && *q == ':')
		{
			q++;
			while (q < end && isspace((unsigned char) *q))
				q++;
			if (end - q >= 8 && memcmp(q, "\"closed\"", 8) == 0)
				return "closed";
			if (end - q >= 6 && memcmp(q, "\"open\"", 6) == 0)
				return "open";
		}
		p += 7;
	}
	return "open";
}

static void
respond_issue(Conn *c, int status, const char *owner, size_t owner_len,
			  const char *repo, size_t repo_len, long long number, const char *state)
{
	StrBuf		url = {0};

	sb_puts(&url, "https://github.example/");
	sb_append(&url, owner, owner_len);
	sb_puts(&url, "/");
	sb_append(&url, repo, repo_len);
	sb_printf(&url, "/issues/%lld", number);
	scratch.len = 0;
	sb_printf(&scratch, "{\"number\": %lld, \"html_url\": ", number);
	sb_json_string(&scratch, url.data, url.len);
	sb_printf(&scratch, ", \"state\": \"%s\"}", state);
	respond(c, status, true, NULL, scratch.data, scratch.len, 0);
	free(url.data);
}

/* The fake GitHub REST API; p .. end is the path after "/gh". */
static void
route_github(Conn *c, const char *method, size_t method_len,
			 const char *path, size_t path_len, const char *p, const char *end,
			 const char *body, size_t body_len)
{
	const char *seg[6];
	size_t		len[6];
	int			nseg = 0;
	const char *q = p;

	while (nseg < 6 && next_segment(&q, end, &seg[nseg], &len[nseg]))
		nseg++;
	if (q < end)
		nseg = 6;				/* too many segments: matches nothing */

	if (nseg >= 2 && mem_eq(seg[0], len[0], "fail"))
	{
		long long	n = parse_digits(seg[1], len[1], 9);

		if (n >= 0)
		{
			const char *rest = seg[1] + len[1];

			if (counter_bump(&fail_counts, path, path_len) <= n)
			{
				respond_json(c, 500, "{\"message\": \"Server Error\"}");
				return;
			}
			route_github(c, method, method_len, path, path_len, rest, end,
						 body, body_len);
			return;
		}
	}

	if (nseg >= 4 && nseg <= 5 && mem_eq(seg[0], len[0], "repos") &&
		len[1] > 0 && len[2] > 0 && mem_eq(seg[3], len[3], "issues"))
	{
		if (nseg == 4 && mem_eq(method, method_len, "POST"))
		{
			StrBuf		key = {0};
			long long	number;

			sb_append(&key, seg[1], len[1]);
			sb_append(&key, "/", 1);
			sb_append(&key, seg[2], len[2]);
			number = counter_bump(&issue_numbers, key.data, key.len);
			free(key.data);
			respond_issue(c, 201, seg[1], len[1], seg[2], len[2], number, "open");
			return;
		}
		if (nseg == 5 && mem_eq(method, method_len, "PATCH"))
		{
			long long	number = parse_digits(seg[4], len[4], 18);

			if (number > 0)
			{
				respond_issue(c, 200, seg[1], len[1], seg[2], len[2], number,
							  requested_state(body, body_len));
				return;
			}
		}
	}
	respond_json(c, 404, "{\"message\": \"Not Found\"}");
}

/* Answer (or start answering) the complete request at req. */
static void
route(Conn *c, const char *req)
{
	const char *method = req + c->method_off;
	const char *path = req + c->target_off;
	size_t		path_len = 0;
	const char *end;
	const char *p = path;
	const char *seg,
			   *arg = NULL;
	size_t		seglen,
				arglen = 0;
	char		text[64];

	while (path_len < c->target_len && path[path_len] != '?' && path[path_len] != '#')
		path_len++;
	end = path + path_len;
	if (!next_segment(&p, end, &seg, &seglen))
	{
		respond_text(c, 404, "not found");
		return;
	}
	{
		const char *q = p;

		if (next_segment(&q, end, &arg, &arglen) == false)
			arg = NULL;
	}

	if (mem_eq(seg, seglen, "ok"))
		respond_text(c, 200, "ok");
	else if (mem_eq(seg, seglen, "status"))
	{
		long long	status = arg ? parse_digits(arg, arglen, 3) : -1;

		if (status < 200 || status > 599)
			respond_text(c, 400, "bad status: use /status/200 .. /status/599");
		else
		{
			snprintf(text, sizeof(text), "status %lld", status);
			respond_text(c, (int) status, text);
		}
	}
	else if (mem_eq(seg, seglen, "retry-after"))
	{
		char		header[256];
		size_t		n = 0;
		bool		ok = arg != NULL && arglen > 0;

		/* percent-decode, so that an HTTP date can be given too */
		for (size_t i = 0; ok && i < arglen; i++)
		{
			int			ch = (unsigned char) arg[i];

			if (ch == '%' && i + 2 < arglen &&
				isxdigit((unsigned char) arg[i + 1]) && isxdigit((unsigned char) arg[i + 2]))
			{
				char		hex[3] = {arg[i + 1], arg[i + 2], 0};

				ch = (int) strtol(hex, NULL, 16);
				i += 2;
			}
			if (ch < 0x20 || ch > 0x7E || n >= 128)
				ok = false;
			else
				header[n++] = (char) ch;
		}
		if (!ok)
			respond_text(c, 400, "bad Retry-After value");
		else
		{
			char		extra[200];

			snprintf(extra, sizeof(extra), "Retry-After: %.*s\r\n", (int) n, header);
			respond(c, 429, false, extra, "slow down", 9, 0);
		}
	}
	else if (mem_eq(seg, seglen, "fail"))
	{
		long long	n = arg ? parse_digits(arg, arglen, 9) : -1;

		if (n < 0)
			respond_text(c, 400, "bad count: use /fail/N/...");
		else if (counter_bump(&fail_counts, path, path_len) <= n)
			respond_text(c, 500, "fail");
		else
			respond_text(c, 200, "ok");
	}
	else if (mem_eq(seg, seglen, "slow"))
	{
		long long	ms = arg ? parse_digits(arg, arglen, 7) : -1;

		if (ms < 0 || ms > MAX_SLOW_MS)
			respond_text(c, 400, "bad delay: use /slow/MS/... (MS <= 3600000)");
		else
		{
			c->state = ST_SLOW;
			c->deadline_us = mono_us() + ms * 1000;
		}
	}
	else if (mem_eq(seg, seglen, "hang"))
		c->state = ST_HANG;
	else if (mem_eq(seg, seglen, "big"))
	{
		long long	bytes = arg ? parse_digits(arg, arglen, 9) : -1;

		if (bytes < 0 || bytes > MAX_BIG)
			respond_text(c, 400, "bad size: use /big/BYTES/... (BYTES <= 104857600)");
		else
			respond(c, 200, false, NULL, "", 0, (uint64_t) bytes);
	}
	else if (mem_eq(seg, seglen, "redirect"))
		respond(c, 302, false, "Location: /ok/redirected\r\n", "redirect", 8, 0);
	else if (mem_eq(seg, seglen, "gh"))
		route_github(c, method, c->method_len, path, path_len, p, end,
					 req + c->head_len, c->body_len);
	else
		respond_text(c, 404, "not found");
}

/* ---------------------------------------------------------------- parsing */

static bool
is_tchar(unsigned char ch)
{
	return isalnum(ch) || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Whether the comma-separated list value contains token (any case). */
static bool
list_has_token(const char *v, size_t len, const char *token)
{
	size_t		i = 0;

	while (i < len)
	{
		size_t		start,
					stop;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		stop = i;
		while (stop > start && (v[stop - 1] == ' ' || v[stop - 1] == '\t'))
			stop--;
		if (stop > start && mem_caseeq(v + start, stop - start, token))
			return true;
	}
	return false;
}

/*
 * The end of the header block in p[0 .. len), i.e. the length of request
 * line and headers with the empty line, or 0 if not there yet.
 */
static size_t
find_head_end(const char *p, size_t len, size_t *scan)
{
	size_t		i = *scan;

	while (i < len)
	{
		const char *nl = memchr(p + i, '\n', len - i);

		if (nl == NULL)
			break;
		i = nl - p;
		if (i + 1 >= len)
		{
			*scan = i;
			return 0;
		}
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r')
		{
			if (i + 2 >= len)
			{
				*scan = i;
				return 0;
			}
			if (p[i + 2] == '\n')
				return i + 3;
		}
		i++;
	}
	*scan = len;
	return 0;
}

/*
 * Parse request line and headers, req[0 .. head_len).  On an error, queue
 * the error response and return false.
 */
static bool
parse_head(Conn *c, char *req, size_t head_len)
{
	char	   *line = req;
	char	   *end = req + head_len;
	char	   *eol,
			   *sp1,
			   *sp2;
	size_t		line_len;
	bool		http10;
	bool		have_length = false;
	bool		have_te = false;
	bool		expect_continue = false;
	long long	length = 0;

	/* request line: METHOD SP TARGET SP HTTP/1.x */
	eol = memchr(line, '\n', end - line);
	line_len = eol - line;
	if (line_len > 0 && line[line_len - 1] == '\r')
		line_len--;
	sp1 = memchr(line, ' ', line_len);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', line + line_len - (sp1 + 1)) : NULL;
	if (sp1 == NULL || sp2 == NULL || sp1 == line || sp2 == sp1 + 1 ||
		sp1[1] != '/')
	{
		respond_error(c, 400, "bad request line");
		return false;
	}
	for (char *m = line; m < sp1; m++)
		if (!is_tchar((unsigned char) *m))
		{
			respond_error(c, 400, "bad method");
			return false;
		}
	if (mem_eq(sp2 + 1, line + line_len - (sp2 + 1), "HTTP/1.1"))
		http10 = false;
	else if (mem_eq(sp2 + 1, line + line_len - (sp2 + 1), "HTTP/1.0"))
		http10 = true;
	else
	{
		respond_error(c, 400, "only HTTP/1.0 and HTTP/1.1 are served");
		return false;
	}
	c->method_off = 0;
	c->method_len = sp1 - line;
	c->target_off = sp1 + 1 - req;
	c->target_len = sp2 - (sp1 + 1);
	c->req_head = mem_eq(line, c->method_len, "HEAD");
	c->req_close = http10;
	c->req_http10_keep = false;

	/* header lines, up to the empty line */
	c->nheaders = 0;
	for (line = eol + 1; line < end; line = eol + 1)
	{
		char	   *colon,
				   *v,
				   *vend;
		Header	   *h;

		eol = memchr(line, '\n', end - line);
		line_len = eol - line;
		if (line_len > 0 && line[line_len - 1] == '\r')
			line_len--;
		if (line_len == 0)
			break;
		colon = memchr(line, ':', line_len);
		if (colon == NULL || colon == line)
		{
			respond_error(c, 400, "bad header line");
			return false;
		}
		for (char *n = line; n < colon; n++)
		{
			if (!is_tchar((unsigned char) *n))
			{
				respond_error(c, 400, "bad header name");
				return false;
			}
			*n = tolower((unsigned char) *n);
		}
		if (c->nheaders == MAX_HEADERS)
		{
			respond_error(c, 431, "too many headers");
			return false;
		}
		v = colon + 1;
		vend = line + line_len;
		while (v < vend && (*v == ' ' || *v == '\t'))
			v++;
		while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		h = &c->headers[c->nheaders++];
		h->name_off = line - req;
		h->name_len = colon - line;
		h->value_off = v - req;
		h->value_len = vend - v;

		if (mem_eq(line, h->name_len, "content-length"))
		{
			long long	n = parse_digits(v, vend - v, 18);

			if (n < 0 || (have_length && n != length))
			{
				respond_error(c, 400, "bad Content-Length");
				return false;
			}
			have_length = true;
			length = n;
		}
		else if (mem_eq(line, h->name_len, "transfer-encoding"))
			have_te = true;
		else if (mem_eq(line, h->name_len, "connection"))
		{
			if (list_has_token(v, vend - v, "close"))
				c->req_close = true;
			else if (http10 && list_has_token(v, vend - v, "keep-alive"))
			{
				c->req_close = false;
				c->req_http10_keep = true;
			}
		}
		else if (mem_eq(line, h->name_len, "expect"))
			expect_continue = mem_caseeq(v, vend - v, "100-continue");
	}
	if (c->req_close)
		c->req_http10_keep = false;

	if (have_te && !have_length)
	{
		respond_error(c, 411, "Content-Length required (chunked bodies are not served)");
		return false;
	}
	if (length > (long long) (MAX_REQUEST - head_len))
	{
		respond_error(c, 413, "request larger than 8 MB");
		return false;
	}
	c->head_len = head_len;
	c->body_len = (size_t) length;
	c->have_head = true;
	if (expect_continue && !http10 &&
		c->in_len - c->in_start < head_len + c->body_len)
		out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	return true;
}

/*
 * Parse and answer one request from the input buffer.  Returns false if more
 * input is needed first.
 */
static bool
handle_one_request(Conn *c)
{
	char	   *req;
	size_t		avail;

	if (!c->have_head)
	{
		size_t		head_len;

		/* empty lines before a request line are ignored (RFC 9112 2.2) */
		while (c->in_start < c->in_len &&
			   (c->in[c->in_start] == '\r' || c->in[c->in_start] == '\n'))
		{
			c->in_start++;
			c->scan = 0;
		}
		req = c->in + c->in_start;
		avail = c->in_len - c->in_start;
		head_len = find_head_end(req, avail, &c->scan);
		if (head_len == 0)
		{
			if (avail >= MAX_REQUEST)
			{
				respond_error(c, 413, "request larger than 8 MB");
				return true;
			}
			return false;
		}
		if (!parse_head(c, req, head_len))
			return true;
	}
	req = c->in + c->in_start;
	avail = c->in_len - c->in_start;
	if (avail < c->head_len + c->body_len)
		return false;

	request_count++;
	if (log_file != NULL)
		log_request(c, req);
	route(c, req);

	c->in_start += c->head_len + c->body_len;
	c->have_head = false;
	c->scan = 0;
	if (c->in_start == c->in_len)
	{
		c->in_start = c->in_len = 0;
		if (c->in_cap > IN_KEEP)
		{
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
	}
	return true;
}

/* ------------------------------------------------------------ connections */

static void
start_linger(Conn *c)
{
	if (c->peer_eof)
	{
		conn_close(c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	c->state = ST_LINGER;
	c->deadline_us = mono_us() + (int64_t) LINGER_MS * 1000;
}

/*
 * Answer what can be answered, send what can be sent; called after every
 * event on the connection.
 */
static void
progress(Conn *c)
{
	for (;;)
	{
		bool		stopped_by_output = false;

		while (c->state == ST_READ && !c->close_after)
		{
			if (c->big_left > 0 || c->out.len - c->out_off >= OUT_HIGH)
			{
				stopped_by_output = true;
				break;
			}
			if (!handle_one_request(c))
			{
				if (c->peer_eof)
					c->close_after = true;
				break;
			}
		}
		if (!flush_output(c))
		{
			conn_close(c);
			return;
		}
		if (out_pending(c))
			return;				/* wait for POLLOUT */
		if (c->state == ST_READ && c->close_after)
		{
			start_linger(c);
			return;
		}
		if (!stopped_by_output)
			return;
	}
}

static void
conn_close(Conn *c)
{
	close(c->fd);
	c->fd = -1;
	free(c->in);
	free(c->out.data);
	c->in = NULL;
	c->out.data = NULL;
	accept_paused_until = 0;
}

static bool
in_full(const Conn *c)
{
	return c->in_len - c->in_start >= IN_MAX;
}

/* Make room to read into; false if the buffer is full. */
static bool
in_make_room(Conn *c)
{
	size_t		cap;

	if (c->in_cap - c->in_len >= IN_MIN_ROOM)
		return true;
	if (c->in_start > 0)
	{
		memmove(c->in, c->in + c->in_start, c->in_len - c->in_start);
		c->in_len -= c->in_start;
		c->in_start = 0;
		if (c->in_cap - c->in_len >= IN_MIN_ROOM)
			return true;
	}
	if (c->in_cap >= IN_MAX)
		return c->in_len < c->in_cap;
	cap = c->in_cap ? c->in_cap * 2 : IN_MIN_ROOM * 2;
	if (cap > IN_MAX)
		cap = IN_MAX;
	c->in = xrealloc(c->in, cap);
	c->in_cap = cap;
	return true;
}

static void
conn_event(Conn *c, short revents)
{
	if (revents & POLLNVAL)
	{
		conn_close(c);
		return;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
	{
		if (c->state == ST_HANG || c->state == ST_LINGER)
		{
			char		discard[16384];

			for (;;)
			{
				ssize_t		n = recv(c->fd, discard, sizeof(discard), 0);

				if (n > 0)
					continue;
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
					break;
				conn_close(c);	/* end of file or error */
				return;
			}
		}
		else if (!c->peer_eof)
		{
			for (int reads = 0; reads < 8 && !in_full(c) && in_make_room(c); reads++)
			{
				ssize_t		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);

				if (n > 0)
				{
					c->in_len += n;
					continue;
				}
				if (n == 0)
					c->peer_eof = true;
				else if (errno == EINTR)
					continue;
				else if (errno != EAGAIN && errno != EWOULDBLOCK)
				{
					conn_close(c);
					return;
				}
				break;
			}
		}
		if (revents & (POLLERR | POLLHUP))
		{
			/* both directions are gone (or reset): nobody to answer */
			conn_close(c);
			return;
		}
	}
	progress(c);
}

static short
conn_events(const Conn *c)
{
	short		ev = 0;

	if (out_pending(c))
		ev |= POLLOUT;
	switch (c->state)
	{
		case ST_READ:
		case ST_SLOW:
			if (!c->peer_eof && !in_full(c))
				ev |= POLLIN;
			break;
		case ST_HANG:
		case ST_LINGER:
			ev |= POLLIN;
			break;
	}
	return ev;
}

static void
accept_connections(int listen_fd)
{
	for (int i = 0; i < 256; i++)
	{
		int			fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int			one = 1;
		Conn	   *c;

		if (fd < 0)
		{
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			{
				/* retry in a moment, or as soon as a connection closes */
				fprintf(stderr, "http_sink: accept: %s\n", strerror(errno));
				accept_paused_until = mono_us() + 100000;
				return;
			}
			fprintf(stderr, "http_sink: accept: %s\n", strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = xrealloc(NULL, sizeof(Conn));
		memset(c, 0, sizeof(Conn));
		c->fd = fd;
		c->id = ++conn_count;
		c->state = ST_READ;
		if (nconns == conns_cap)
		{
			conns_cap = conns_cap ? conns_cap * 2 : 64;
			conns = xrealloc(conns, conns_cap * sizeof(Conn *));
		}
		conns[nconns++] = c;
	}
}

/* Fire the /slow timers and end expired lingering connections. */
static void
run_timers(void)
{
	int64_t		now = mono_us();

	for (int i = 0; i < nconns; i++)
	{
		Conn	   *c = conns[i];

		if (c->fd < 0 || now < c->deadline_us)
			continue;
		if (c->state == ST_SLOW)
		{
			c->state = ST_READ;
			respond_text(c, 200, "ok");
			progress(c);
		}
		else if (c->state == ST_LINGER)
			conn_close(c);
	}
}

/* Milliseconds until the next timer (rounded up), or -1. */
static int
poll_timeout(void)
{
	int64_t		next = INT64_MAX;
	int64_t		now;

	for (int i = 0; i < nconns; i++)
		if (conns[i]->fd >= 0 &&
			(conns[i]->state == ST_SLOW || conns[i]->state == ST_LINGER) &&
			conns[i]->deadline_us < next)
			next = conns[i]->deadline_us;
	if (accept_paused_until != 0 && accept_paused_until < next)
		next = accept_paused_until;
	if (next == INT64_MAX)
		return -1;
	now = mono_us();
	if (next <= now)
		return 0;
	if (next - now > (int64_t) INT_MAX * 1000)
		return INT_MAX;
	return (int) ((next - now + 999) / 1000);
}

/* ---------------------------------------------------------------- signals */

static void
on_signal(int signo)
{
	int			saved = errno;
	char		ch = signo == SIGUSR1 ? 'U' : 'T';

	if (write(signal_pipe[1], &ch, 1) < 0)
	{
		/* the pipe is full: a byte is already waiting */
	}
	errno = saved;
}

static void
shut_down(void)
{
	if (log_file != NULL && fclose(log_file) != 0)
	{
		fprintf(stderr, "http_sink: could not write the log: %s\n", strerror(errno));
		exit(1);
	}
	log_file = NULL;
	for (int i = 0; i < nconns; i++)
	{
		if (conns[i]->fd >= 0)
			conn_close(conns[i]);
		free(conns[i]);
	}
	free(conns);
	free(scratch.data);
	counter_free(&fail_counts);
	counter_free(&issue_numbers);
	for (int i = 0; i < nlisten; i++)
		close(listen_fds[i]);
	exit(0);
}

static void
handle_signals(void)
{
	char		buf[64];
	ssize_t		n;

	while ((n = read(signal_pipe[0], buf, sizeof(buf))) > 0)
	{
		for (ssize_t i = 0; i < n; i++)
		{
			if (buf[i] == 'U')
			{
				printf("COUNT %lld\n", request_count);
				fflush(stdout);
			}
			else
				shut_down();
		}
	}
}

/* ------------------------------------------------------------------- main */

static void
usage(const char *argv0)
{
	fprintf(stderr,
			"usage: %s [--port N] [--port-file FILE] [--log FILE] [--ipv6] [--quiet]\n",
			argv0);
	exit(2);
}

static void
write_port_file(const char *path, int port)
{
	size_t		len = strlen(path);
	char	   *tmp = xrealloc(NULL, len + 5);
	FILE	   *f;

	memcpy(tmp, path, len);
	memcpy(tmp + len, ".tmp", 5);
	f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
		rename(tmp, path) != 0)
	{
		fprintf(stderr, "http_sink: could not write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	free(tmp);
}

int
main(int argc, char **argv)
{
	long		port = 0;
	const char *port_file = NULL;
	const char *log_path = NULL;
	struct sockaddr_in addr;
	socklen_t	addr_len = sizeof(addr);
	struct sigaction sa;
	struct rlimit rl;
	struct pollfd *pfds = NULL;
	int			pfds_cap = 0;
	int			one = 1;
	bool		ipv6 = false;
	int			listen_fd;

	for (int i = 1; i < argc; i++)
	{
		const char *arg = argv[i];
		const char *value = NULL;
		const char *eq = strchr(arg, '=');
		size_t		name_len = eq ? (size_t) (eq - arg) : strlen(arg);

		if (mem_eq(arg, name_len, "--quiet") && eq == NULL)
			continue;
		if (mem_eq(arg, name_len, "--ipv6") && eq == NULL)
		{
			ipv6 = true;
			continue;
		}
		if (!mem_eq(arg, name_len, "--port") && !mem_eq(arg, name_len, "--port-file") &&
			!mem_eq(arg, name_len, "--log"))
			usage(argv[0]);
		if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			usage(argv[0]);
		if (mem_eq(arg, name_len, "--port"))
		{
			char	   *endp;

			errno = 0;
			port = strtol(value, &endp, 10);
			if (errno != 0 || *value == '\0' || *endp != '\0' || port < 0 || port > 65535)
				usage(argv[0]);
		}
		else if (mem_eq(arg, name_len, "--port-file"))
			port_file = value;
		else
			log_path = value;
	}

	memset(fill, 'x', sizeof(fill));
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
	{
		perror("http_sink: pipe2");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	/* hundreds of connections: take every descriptor allowed */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	if (log_path != NULL && (log_file = fopen(log_path, "a")) == NULL)
	{
		fprintf(stderr, "http_sink: could not open %s: %s\n", log_path, strerror(errno));
		return 1;
	}

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
	{
		perror("http_sink: socket");
		return 1;
	}
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listen_fd, (struct sockaddr *) &addr, sizeof(addr)) != 0 ||
		listen(listen_fd, 1024) != 0 ||
		getsockname(listen_fd, (struct sockaddr *) &addr, &addr_len) != 0)
	{
		fprintf(stderr, "http_sink: could not listen on 127.0.0.1:%ld: %s\n",
				port, strerror(errno));
		return 1;
	}
	port = ntohs(addr.sin_port);
	listen_fds[nlisten++] = listen_fd;
	if (ipv6)
	{
		struct sockaddr_in6 addr6;

		listen_fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		memset(&addr6, 0, sizeof(addr6));
		addr6.sin6_family = AF_INET6;
		addr6.sin6_port = htons((uint16_t) port);
		addr6.sin6_addr = in6addr_loopback;
		if (listen_fd < 0 ||
			setsockopt(listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0 ||
			setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
			bind(listen_fd, (struct sockaddr *) &addr6, sizeof(addr6)) != 0 ||
			listen(listen_fd, 1024) != 0)
		{
			fprintf(stderr, "http_sink: could not listen on [::1]:%ld: %s\n", port, strerror(errno));
			return 1;
		}
		listen_fds[nlisten++] = listen_fd;
	}
	if (port_file != NULL)
		write_port_file(port_file, (int) port);
	printf("PORT %ld\n", port);
	fflush(stdout);

	for (;;)
	{
		int			npfds = 1 + nlisten;
		int			polled = nconns;
		int			live = 0;

		if (pfds_cap < nconns + 1 + nlisten)
		{
			pfds_cap = (nconns + 1 + nlisten) * 2;
			pfds = xrealloc(pfds, pfds_cap * sizeof(struct pollfd));
		}
		if (accept_paused_until != 0 && mono_us() >= accept_paused_until)
			accept_paused_until = 0;
		pfds[0].fd = signal_pipe[0];
		pfds[0].events = POLLIN;
		for (int i = 0; i < nlisten; i++)
		{
			pfds[1 + i].fd = accept_paused_until ? -1 : listen_fds[i];
			pfds[1 + i].events = POLLIN;
		}
		for (int i = 0; i < nconns; i++)
		{
			pfds[npfds].fd = conns[i]->fd;
			pfds[npfds].events = conn_events(conns[i]);
			npfds++;
		}

		if (poll(pfds, npfds, poll_timeout()) < 0)
		{
			if (errno == EINTR)
				continue;
			perror("http_sink: poll");
			return 1;
		}
		if (pfds[0].revents)
			handle_signals();
		for (int i = 0; i < polled; i++)
			if (pfds[i + 1 + nlisten].revents && conns[i]->fd >= 0)
				conn_event(conns[i], pfds[i + 1 + nlisten].revents);
		for (int i = 0; i < nlisten; i++)
			if (pfds[1 + i].revents & POLLIN)
				accept_connections(listen_fds[i]);
		run_timers();

		/* forget closed connections */
		for (int i = 0; i < nconns; i++)
		{
			if (conns[i]->fd >= 0)
				conns[live++] = conns[i];
			else
				free(conns[i]);
		}
		nconns = live;
	}
}
