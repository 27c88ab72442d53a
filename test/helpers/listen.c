/*
 * test/helpers/listen.c — a real libpq LISTEN client for the tests and benchmarks.
 *
 * Usage: listen CONNINFO CHANNEL [CHANNEL...]
 *
 * LISTENs on each channel, prints "READY" once all LISTENs are done, then one
 * line per notification as it arrives:
 *
 *     <microseconds since the epoch> TAB <channel> TAB <payload>
 *
 * Output is flushed line by line, so a test reading it sees each one at once.
 * It exits 0 when its stdin reaches end of file (the test closes it) and 1,
 * after printing "LOST <reason>", if the server connection ends.
 *
 * Build: cc -o listen listen.c -I$(pg_config --includedir) -L$(pg_config --libdir) -lpq
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <unistd.h>

#include <libpq-fe.h>

static long long
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long) tv.tv_sec * 1000000 + tv.tv_usec;
}

static void
listen_on(PGconn *conn, const char *channel)
{
	char	   *quoted = PQescapeIdentifier(conn, channel, strlen(channel));
	char	   *sql = malloc(strlen(quoted) + 8);
	PGresult   *res;

	sprintf(sql, "LISTEN %s", quoted);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "LISTEN %s failed: %s", channel, PQerrorMessage(conn));
		exit(2);
	}
	PQclear(res);
	PQfreemem(quoted);
	free(sql);
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	int			sock;

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s CONNINFO CHANNEL [CHANNEL...]\n", argv[0]);
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
		return 2;
	}
	for (int i = 2; i < argc; i++)
		listen_on(conn, argv[i]);
	printf("READY\n");
	fflush(stdout);

	sock = PQsocket(conn);
	for (;;)
	{
		fd_set		readable;
		PGnotify   *notify;

		FD_ZERO(&readable);
		FD_SET(sock, &readable);
		FD_SET(STDIN_FILENO, &readable);
		if (select((sock > STDIN_FILENO ? sock : STDIN_FILENO) + 1, &readable, NULL, NULL, NULL) < 0)
		{
			if (errno == EINTR)
				continue;
			perror("select");
			return 2;
		}
		if (FD_ISSET(STDIN_FILENO, &readable))
		{
			char		buf[256];

			if (read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
				break;
		}
		if (FD_ISSET(sock, &readable))
		{
			if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
			{
				printf("LOST %s", PQerrorMessage(conn));
				fflush(stdout);
				return 1;
			}
			while ((notify = PQnotifies(conn)) != NULL)
			{
				printf("%lld\t%s\t%s\n", now_us(), notify->relname, notify->extra);
				PQfreemem(notify);
			}
			fflush(stdout);
		}
	}
	PQfinish(conn);
	return 0;
}
