/*-------------------------------------------------------------------------
 *
 * main.c
 *	  intracker-mcp: options, start-up, and the event loop.
 *
 *	  intracker-mcp [--read-only]
 *
 * Reads newline-delimited JSON-RPC from stdin and writes responses to
 * stdout, nothing else; messages for people go to stderr.  The loop polls
 * stdin, the database socket (so that a ping or a cancellation is handled
 * while a tool call is in progress) and the listener's (NOTIFYs for
 * subscriptions and waits), and wakes for their timers.  A line longer
 * than MAX_LINE is answered with a parse error and skipped, without being
 * kept in memory.  At the end of stdin the running request is finished,
 * then the program exits 0.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp.h"

#define MAX_LINE	(16 * 1024 * 1024)
#define READ_CHUNK	65536

bool		mcp_read_only = false;

void
mcp_log(const char *format,...)
{
	va_list		args;

	fprintf(stderr, "%s: ", MCP_SERVER_NAME);
	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
	fputc('\n', stderr);
}

void
mcp_out_of_memory(void)
{
	mcp_log("out of memory");
	exit(1);
}

/* Write one line (a message's JSON text) on stdout. */
void
mcp_send_line(const char *line)
{
	if (fputs(line, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
		exit(0);				/* the client is gone: nobody to answer */
}

/* Write one message as a line on stdout, and release it. */
void
mcp_send(json_t *message)
{
	char	   *line = message ? json_dumps(message, JSON_COMPACT) : NULL;

	if (line == NULL)
		mcp_out_of_memory();
	mcp_send_line(line);
	free(line);
	json_decref(message);
}

static void
usage(void)
{
	printf("%s %s: the MCP server of intracker, over stdio\n\n"
		   "Usage: %s [--read-only]\n\n"
		   "  --read-only  offer only the tools that read (a read-only token implies it)\n\n"
		   "Environment: INTRACKER_DATABASE_URL (else the PG* variables) to connect,\n"
		   "INTRACKER_TOKEN, an API token from intracker.create_api_token(), for the identity.\n",
		   MCP_SERVER_NAME, EXTVERSION, MCP_SERVER_NAME);
}

/*
 * One attempt at starting: connect, authenticate, learn whether the token
 * is read-only (it implies --read-only), read intracker's functions.
 */
static bool
start_once(void)
{
	PGresult   *result;

	if (!db_connect())
		return false;
	result = db_exec("SELECT intracker.identity_is_read_only()", 0, NULL);
	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		mcp_log("cannot tell whether the token is read-only: %s", PQresultErrorMessage(result));
		PQclear(result);
		return false;
	}
	if (strcmp(PQgetvalue(result, 0, 0), "t") == 0)
		mcp_read_only = true;
	PQclear(result);
	return tools_load();
}

/*
 * Start, trying again (with the reconnections' backoff) for up to
 * START_WAIT_MS while the database may be back in a moment: a restart
 * while a client starts its servers is not fatal.  Anything else (no
 * token, a refused one, no intracker, no database answering at all) ends
 * the program at once.
 */
#define START_WAIT_MS	30000

static bool
start(void)
{
	const char *token = getenv("INTRACKER_TOKEN");
	int64_t		give_up_ms = mcp_now_ms() + START_WAIT_MS;
	Backoff		backoff = {0};

	if (token == NULL || token[0] == '\0')
	{
		mcp_log("INTRACKER_TOKEN is not set: give the server an API token (intracker.create_api_token())");
		return false;
	}
	while (!start_once())
	{
		if (!db_may_come_back() || mcp_now_ms() >= give_up_ms)
			return false;
		backoff_record(&backoff, false);
		mcp_log("the database may be restarting: trying again in %d ms", backoff.delay_ms);
		(void) poll(NULL, 0, backoff.delay_ms);
	}
	return true;
}

/* Milliseconds until a timer is due (a coalesced announcement, a wait's
 * deadline, a reconnection), for poll(); -1 when none is. */
static int
poll_timeout(void)
{
	int64_t		dues[3] = {subscriptions_next_due_ms(), waits_next_due_ms(), listener_next_attempt_ms()};
	int64_t		next = -1;
	int64_t		now = mcp_now_ms();

	for (int i = 0; i < 3; i++)
		if (dues[i] >= 0 && (next < 0 || dues[i] < next))
			next = dues[i];
	if (next < 0)
		return -1;
	return next <= now ? 0 : (int) (next - now);
}

/* Split what was read into lines; keeps an incomplete last line in *buffer. */
static void
handle_input(char **buffer, size_t *used, bool *skipping)
{
	size_t		start = 0;

	for (size_t i = 0; i < *used; i++)
	{
		if ((*buffer)[i] != '\n')
			continue;
		if (*skipping)
			*skipping = false;
		else
			protocol_handle_line(*buffer + start, i - start);
		start = i + 1;
	}
	memmove(*buffer, *buffer + start, *used - start);
	*used -= start;
	if (*used > MAX_LINE)
	{
		if (!*skipping)
			protocol_handle_line("{", 1);	/* answered as a parse error */
		*skipping = true;
		*used = 0;
	}
}

int
main(int argc, char **argv)
{
	char	   *buffer = malloc(MAX_LINE + READ_CHUNK + 1);
	size_t		used = 0;
	bool		skipping = false;
	bool		input_open = true;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--read-only") == 0)
			mcp_read_only = true;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			usage();
			return 0;
		}
		else if (strcmp(argv[i], "--version") == 0)
		{
			printf("%s %s\n", MCP_SERVER_NAME, EXTVERSION);
			return 0;
		}
		else
		{
			mcp_log("unknown option \"%s\" (try --help)", argv[i]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	if (buffer == NULL || !start())
		return 1;

	while (input_open || !protocol_idle())
	{
		struct pollfd fds[3];
		int			nfds = 0;

		if (input_open)
			fds[nfds++] = (struct pollfd) {.fd = STDIN_FILENO, .events = POLLIN};
		/* idle too: a server that goes away is noticed before the next call */
		if (db_socket() >= 0)
			fds[nfds++] = (struct pollfd) {.fd = db_socket(), .events = POLLIN};
		if (listener_socket() >= 0)
			fds[nfds++] = (struct pollfd) {.fd = listener_socket(), .events = POLLIN};
		if (poll(fds, nfds, poll_timeout()) < 0)
		{
			if (errno == EINTR)
				continue;
			mcp_log("poll failed: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < nfds; i++)
		{
			if (fds[i].revents == 0)
				continue;
			if (fds[i].fd == STDIN_FILENO)
			{
				ssize_t		got = read(STDIN_FILENO, buffer + used, READ_CHUNK);

				if (got <= 0)
				{
					if (got < 0 && errno == EINTR)
						continue;
					input_open = false;
					if (used > 0 && !skipping)
						protocol_handle_line(buffer, used);		/* a last line without newline */
					used = 0;
					continue;
				}
				used += (size_t) got;
				handle_input(&buffer, &used, &skipping);
			}
			else if (fds[i].fd == listener_socket())
				listener_input();
			else if (protocol_idle())
				db_idle_input();
			else
			{
				PGresult   *result = db_consume();

				if (result)
					protocol_query_done(result);
			}
		}
		listener_retry();
		subscriptions_announce();
		waits_expire();
		protocol_run_queued();
	}
	free(buffer);
	return 0;
}
