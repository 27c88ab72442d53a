/*
 * test/bench/events_bench.c — the measuring client of test/bench/events.sh.
 *
 * One process, one clock: writer threads (one libpq connection each) update
 * todos through intracker.update_todo(), and a listener thread (its own
 * connection, LISTEN intracker) stamps every notification as it arrives.
 * All stamps are CLOCK_REALTIME microseconds, the clock the server's
 * timestamps use too, so they compare with published_at.
 *
 * Usage:
 *   events_bench -m latency|throughput -a intracker|naive -W WRITER_CONNINFO
 *                -S SUPERUSER_CONNINFO [-c writers] [-r rate] [-t seconds] [-n todos]
 *
 * The workload, the same in both arms and both modes: writer i owns todos
 * i*per+1 .. (i+1)*per (per = todos / writers) and cycles through them; each
 * write is ONE statement, its own transaction,
 *
 *     SELECT version FROM intracker.update_todo($1, jsonb_build_object('title', $2), $3)
 *
 * with the version the writer last saw (read once at start, then the one
 * each update returns), so no write ever fails with PT409, and a new title
 * each time, so every write is a real change (an update that changes only
 * version/updated_at makes no intracker event).  The statement returns
 * after its implicit COMMIT, so the writer's stamp right after the result
 * is "commit returned".
 *
 * -m latency: the writers together send -r writes per second, paced
 *   (writer i at i/rate + k*writers/rate), for -t seconds.  Every
 *   notification is matched to its write by entity_id + version from the
 *   payload; latency = listener's arrival stamp - writer's commit stamp.
 *   Prints p50 / p99 / max, the rate achieved and the writers' statement
 *   latency; for arm intracker also where the time goes, from the events
 *   table: commit -> published_at (when the publisher's round that took the
 *   event started) and published_at -> arrival, and the publisher's batch
 *   sizes (one published_at per round).
 * -m throughput: the writers run as fast as they can (closed loop) for -t
 *   seconds.  writer tps = writes / (last commit - start).  For arm
 *   intracker the program then polls the last published seq (max(seq) of
 *   intracker_data.events, what worker_status.last_published_seq shows,
 *   every 2 ms) until every write is published (committed to events, and
 *   so NOTIFYed): sustained = writes / (all published - start); it also
 *   reports the backlog when the writers stopped.  For arm naive, sustained
 *   = writer tps (the notification is sent by the writer's own commit).
 *   Both arms: the time until the listener had every notification.
 *
 * Both modes: the CPU time (user + system, /proc/<pid>/stat) that the
 *   writers' backends, the listener's backend and the publisher used from
 *   start to the last delivery, per event; for arm intracker a check that
 *   the notifications on "intracker" arrived as seq N+1, N+2, ... (gap-free,
 *   in order), which fails the run otherwise.  If the publisher has not
 *   published everything 30 s after the writers stopped, its state, wait
 *   event and the server's locks are printed before the run fails.
 *
 * Before starting, the program waits until the outbox is empty (backlog 0),
 * so nothing of an earlier run is counted.  Output: one line
 * "RESULT key=value ..." (events.sh parses it); problems on stderr.  Exit
 * 0, or 1 if a write failed, a notification was lost (not received within
 * 30 s after the writers stopped) or out of order, 2 on usage or connection
 * errors.
 *
 * Build: cc -O2 -pthread -o events_bench events_bench.c -I$(pg_config --includedir) \
 *            -L$(pg_config --libdir) -lpq
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define MAX_WRITERS 64
#define DELIVERY_TIMEOUT_US (30 * 1000000LL)
#define UPDATE_SQL \
	"SELECT version FROM intracker.update_todo($1::uuid, pg_catalog.jsonb_build_object('title', $2::text), $3::integer)"

typedef struct Write
{
	int64_t		todo;
	int32_t		version;		/* after the write */
	int64_t		sent_us;
	int64_t		commit_us;
} Write;

typedef struct Arrival
{
	int64_t		todo;
	int32_t		version;
	int64_t		seq;			/* -1 when the payload has none (naive) */
	int64_t		arrival_us;
} Arrival;

typedef struct Writer
{
	pthread_t	thread;
	int			index;
	PGconn	   *conn;
	int64_t		first_todo;
	int64_t		ntodos;
	int32_t    *versions;		/* of its todos, by todo - first_todo */
	Write	   *writes;
	size_t		nwrites;
	size_t		capacity;
	bool		failed;
} Writer;

static const char *mode = NULL;
static const char *arm = NULL;
static const char *writer_conninfo = NULL;
static const char *super_conninfo = NULL;
static int	nwriters = 4;
static double rate = 1000;
static double seconds = 5;
static int64_t ntodos = 10000;

static Writer writers[MAX_WRITERS];
static pthread_barrier_t start_barrier;
static int64_t start_us;
static atomic_bool stop_listener = false;

static Arrival *arrivals = NULL;
static atomic_size_t narrivals = 0;
static size_t arrivals_capacity = 0;
static pthread_mutex_t arrivals_lock = PTHREAD_MUTEX_INITIALIZER;
static bool listener_lost = false;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* CPU time (user + system) a process has used so far, in microseconds, or -1 */
static int64_t
process_cpu_us(int pid)
{
	char		path[64];
	char		buf[1024];
	FILE	   *f;
	size_t		n;
	char	   *p;
	unsigned long long utime;
	unsigned long long stime;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields after "(comm)": state ppid ... utime is field 14, stime 15 */
	if ((p = strrchr(buf, ')')) == NULL ||
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
		return -1;
	return (int64_t) ((utime + stime) * 1000000ULL / (unsigned long long) sysconf(_SC_CLK_TCK));
}

/* CPU of the server processes that do the work: writers' backends, listener's backend, publisher */
typedef struct CpuSample
{
	int64_t		writers;
	int64_t		listener;
	int64_t		publisher;
} CpuSample;

static int	listener_pid = 0;
static int	publisher_pid = 0;

static CpuSample sample_cpu(void);

static void
sleep_until_us(int64_t when)
{
	struct timespec ts = {.tv_sec = when / 1000000, .tv_nsec = (when % 1000000) * 1000};

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void
die(const char *fmt, const char *detail)
{
	fprintf(stderr, "events_bench: ");
	fprintf(stderr, fmt, detail);
	fprintf(stderr, "\n");
	exit(2);
}

static PGconn *
connect_or_die(const char *conninfo)
{
	PGconn	   *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK)
		die("connection failed: %s", PQerrorMessage(conn));
	return conn;
}

static PGresult *
exec_or_die(PGconn *conn, const char *sql, ExecStatusType expected)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != expected)
	{
		fprintf(stderr, "events_bench: %s\n", sql);
		die("query failed: %s", PQerrorMessage(conn));
	}
	return res;
}

static void
todo_uuid(int64_t n, char *buf)
{
	char		hex[33];

	snprintf(hex, sizeof(hex), "%032" PRIx64, (uint64_t) n);
	snprintf(buf, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* todo number from a uuid's text: its last 16 hex digits */
static int64_t
uuid_todo(const char *uuid)
{
	char		hex[33];
	int			n = 0;

	for (const char *p = uuid; *p && *p != '"' && n < 32; p++)
		if (*p != '-')
			hex[n++] = *p;
	hex[n] = '\0';
	if (n != 32)
		return -1;
	return (int64_t) strtoull(hex + 16, NULL, 16);
}

/* the value after "key" : in a json_build_object() text, or NULL */
static const char *
json_value(const char *json, const char *key)
{
	char		quoted[64];
	const char *p;

	snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	p = strstr(json, quoted);
	if (p == NULL)
		return NULL;
	p += strlen(quoted);
	while (*p == ' ' || *p == ':')
		p++;
	return p;
}

static void
add_arrival(const char *payload, int64_t when)
{
	const char *entity = json_value(payload, "entity_id");
	const char *version = json_value(payload, "version");
	const char *seq = json_value(payload, "seq");
	Arrival		a;

	a.todo = entity && *entity == '"' ? uuid_todo(entity + 1) : -1;
	a.version = version ? (int32_t) strtol(version, NULL, 10) : -1;
	a.seq = seq ? strtoll(seq, NULL, 10) : -1;
	a.arrival_us = when;
	pthread_mutex_lock(&arrivals_lock);
	if (narrivals == arrivals_capacity)
	{
		arrivals_capacity = arrivals_capacity ? arrivals_capacity * 2 : 65536;
		arrivals = realloc(arrivals, arrivals_capacity * sizeof(Arrival));
		if (arrivals == NULL)
			die("%s", "out of memory");
	}
	arrivals[narrivals] = a;
	atomic_store(&narrivals, narrivals + 1);
	pthread_mutex_unlock(&arrivals_lock);
}

static void *
listener_main(void *arg)
{
	PGconn	   *conn = arg;
	int			sock = PQsocket(conn);

	pthread_barrier_wait(&start_barrier);
	while (!atomic_load(&stop_listener))
	{
		struct pollfd pfd = {.fd = sock, .events = POLLIN};
		int			rc = poll(&pfd, 1, 20);
		int64_t		when;
		PGnotify   *notify;

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			die("poll: %s", strerror(errno));
		if (rc == 0)
			continue;
		when = now_us();		/* the data is there: that is the arrival */
		if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
		{
			fprintf(stderr, "events_bench: listener lost its connection: %s", PQerrorMessage(conn));
			listener_lost = true;
			break;
		}
		while ((notify = PQnotifies(conn)) != NULL)
		{
			add_arrival(notify->extra, when);
			PQfreemem(notify);
		}
	}
	return NULL;
}

static void *
writer_main(void *arg)
{
	Writer	   *w = arg;
	bool		paced = strcmp(mode, "latency") == 0;
	int64_t		interval_us = paced ? (int64_t) (nwriters * 1e6 / rate) : 0;
	int64_t		end_us;
	int64_t		k = 0;
	char		id[37];
	char		title[96];
	char		version[16];
	const char *params[3] = {id, title, version};

	pthread_barrier_wait(&start_barrier);
	end_us = start_us + (int64_t) (seconds * 1e6);
	sleep_until_us(start_us);
	for (;;)
	{
		int64_t		due = start_us + (int64_t) (w->index * 1e6 / rate) + k * interval_us;
		int64_t		todo = w->first_todo + k % w->ntodos;
		int32_t    *v = &w->versions[k % w->ntodos];
		int64_t		sent;
		PGresult   *res;
		Write	   *rec;

		if (paced)
		{
			if (due >= end_us)
				break;
			sleep_until_us(due);
		}
		else if (now_us() >= end_us)
			break;
		todo_uuid(todo, id);
		snprintf(title, sizeof(title), "bench todo %" PRId64 " w%d #%" PRId64, todo, w->index, k);
		snprintf(version, sizeof(version), "%d", *v);
		sent = now_us();
		res = PQexecPrepared(w->conn, "upd", 3, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		{
			fprintf(stderr, "events_bench: writer %d: update of todo %" PRId64 " failed: %s",
					w->index, todo, PQerrorMessage(w->conn));
			w->failed = true;
			PQclear(res);
			break;
		}
		if (w->nwrites == w->capacity)
		{
			w->capacity = w->capacity ? w->capacity * 2 : 16384;
			w->writes = realloc(w->writes, w->capacity * sizeof(Write));
			if (w->writes == NULL)
				die("%s", "out of memory");
		}
		rec = &w->writes[w->nwrites++];
		rec->commit_us = now_us();
		rec->sent_us = sent;
		rec->todo = todo;
		rec->version = *v = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		k++;
	}
	return NULL;
}

static CpuSample
sample_cpu(void)
{
	CpuSample	c = {0, 0, 0};

	for (int i = 0; i < nwriters; i++)
	{
		int64_t		v = process_cpu_us(PQbackendPID(writers[i].conn));

		c.writers = v < 0 || c.writers < 0 ? -1 : c.writers + v;
	}
	c.listener = process_cpu_us(listener_pid);
	c.publisher = process_cpu_us(publisher_pid);
	return c;
}

static int
cmp_int64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

/* nearest-rank percentile of a sorted array */
static int64_t
pct(const int64_t *sorted, size_t n, double p)
{
	size_t		rank;

	if (n == 0)
		return 0;
	rank = (size_t) (p / 100.0 * n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* open-addressing map (todo, version) -> index */
typedef struct Slot
{
	uint64_t	key;			/* 0 = empty */
	size_t		index;
} Slot;

static uint64_t
map_key(int64_t todo, int32_t version)
{
	return ((uint64_t) todo << 32 | (uint32_t) version) + 1;
}

static Slot *
map_new(size_t n, size_t *mask)
{
	size_t		size = 1024;

	while (size < 2 * n)
		size *= 2;
	*mask = size - 1;
	return calloc(size, sizeof(Slot));
}

static void
map_put(Slot *map, size_t mask, uint64_t key, size_t index)
{
	size_t		h = (key * 0x9E3779B97F4A7C15ULL) >> 20;

	while (map[h & mask].key != 0)
		h++;
	map[h & mask].key = key;
	map[h & mask].index = index;
}

static ssize_t
map_get(Slot *map, size_t mask, uint64_t key)
{
	size_t		h = (key * 0x9E3779B97F4A7C15ULL) >> 20;

	for (; map[h & mask].key != 0; h++)
		if (map[h & mask].key == key)
			return (ssize_t) map[h & mask].index;
	return -1;
}

static int64_t
query_int(PGconn *conn, const char *sql)
{
	PGresult   *res = exec_or_die(conn, sql, PGRES_TUPLES_OK);
	int64_t		v = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);

	PQclear(res);
	return v;
}

int
main(int argc, char **argv)
{
	int			opt;
	PGconn	   *super;
	PGconn	   *listener;
	pthread_t	listener_thread;
	bool		is_intracker;
	bool		is_latency;
	int64_t		per;
	int64_t		seq0 = 0;
	int64_t		nwrites = 0;
	int64_t		last_commit = 0;
	int64_t		write_end_backlog = -1;
	int64_t		published_us = 0;
	int64_t		delivered_us = 0;
	bool		failed = false;
	Write	  **all;
	size_t		k;
	CpuSample	cpu0;
	CpuSample	cpu1;

	while ((opt = getopt(argc, argv, "m:a:W:S:c:r:t:n:")) != -1)
	{
		switch (opt)
		{
			case 'm': mode = optarg; break;
			case 'a': arm = optarg; break;
			case 'W': writer_conninfo = optarg; break;
			case 'S': super_conninfo = optarg; break;
			case 'c': nwriters = atoi(optarg); break;
			case 'r': rate = atof(optarg); break;
			case 't': seconds = atof(optarg); break;
			case 'n': ntodos = atoll(optarg); break;
			default: die("%s", "usage: events_bench -m latency|throughput -a intracker|naive -W CONNINFO -S CONNINFO [-c writers] [-r rate] [-t seconds] [-n todos]");
		}
	}
	if (!mode || !arm || !writer_conninfo || !super_conninfo ||
		(strcmp(mode, "latency") != 0 && strcmp(mode, "throughput") != 0) ||
		(strcmp(arm, "intracker") != 0 && strcmp(arm, "naive") != 0) ||
		nwriters < 1 || nwriters > MAX_WRITERS || rate <= 0 || seconds <= 0 || ntodos < nwriters)
		die("%s", "usage: events_bench -m latency|throughput -a intracker|naive -W CONNINFO -S CONNINFO [-c writers] [-r rate] [-t seconds] [-n todos]");
	is_intracker = strcmp(arm, "intracker") == 0;
	is_latency = strcmp(mode, "latency") == 0;
	per = ntodos / nwriters;

	super = connect_or_die(super_conninfo);

	/* nothing of an earlier run may be pending */
	for (int i = 0;; i++)
	{
		if (query_int(super, "SELECT count(*) FROM intracker_data.outbox") == 0)
			break;
		if (i == 3000)
			die("%s", "the outbox did not drain within 30 s before the run (is the publisher running?)");
		usleep(10000);
	}
	seq0 = query_int(super, "SELECT coalesce(max(seq), 0) FROM intracker_data.events");

	/* the writers' connections, statements and versions */
	for (int i = 0; i < nwriters; i++)
	{
		Writer	   *w = &writers[i];
		PGresult   *res;
		char		sql[256];

		w->index = i;
		w->first_todo = 1 + i * per;
		w->ntodos = per;
		w->conn = connect_or_die(writer_conninfo);
		res = PQprepare(w->conn, "upd", UPDATE_SQL, 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			die("prepare failed: %s", PQerrorMessage(w->conn));
		PQclear(res);
		snprintf(sql, sizeof(sql),
				 "SELECT t.version FROM generate_series(%" PRId64 ", %" PRId64 ") AS g(n)"
				 " JOIN intracker_data.todos t ON t.id = lpad(to_hex(g.n), 32, '0')::uuid ORDER BY g.n",
				 w->first_todo, w->first_todo + per - 1);
		res = exec_or_die(super, sql, PGRES_TUPLES_OK);
		if (PQntuples(res) != per)
			die("%s", "the bench todos are missing");
		w->versions = malloc(per * sizeof(int32_t));
		for (int64_t j = 0; j < per; j++)
			w->versions[j] = atoi(PQgetvalue(res, (int) j, 0));
		PQclear(res);
	}

	listener = connect_or_die(super_conninfo);
	PQclear(exec_or_die(listener, "LISTEN intracker", PGRES_COMMAND_OK));

	listener_pid = PQbackendPID(listener);
	publisher_pid = (int) query_int(super, "SELECT coalesce(pid, 0) FROM intracker.worker_status");
	cpu0 = sample_cpu();

	pthread_barrier_init(&start_barrier, NULL, nwriters + 2);
	pthread_create(&listener_thread, NULL, listener_main, listener);
	for (int i = 0; i < nwriters; i++)
		pthread_create(&writers[i].thread, NULL, writer_main, &writers[i]);
	start_us = now_us() + 20000;	/* all threads are waiting by then */
	pthread_barrier_wait(&start_barrier);

	for (int i = 0; i < nwriters; i++)
	{
		pthread_join(writers[i].thread, NULL);
		nwrites += writers[i].nwrites;
		failed |= writers[i].failed;
		for (size_t j = 0; j < writers[i].nwrites; j++)
			if (writers[i].writes[j].commit_us > last_commit)
				last_commit = writers[i].writes[j].commit_us;
	}

	/* intracker: wait until the publisher has published every write */
	if (is_intracker)
	{
		int64_t		target = seq0 + nwrites;
		int64_t		deadline = now_us() + DELIVERY_TIMEOUT_US;

		for (bool first = true;; first = false)
		{
			int64_t		seq = query_int(super, "SELECT coalesce(max(seq), 0) FROM intracker_data.events");
			int64_t		t = now_us();

			if (first)
				write_end_backlog = target - seq;
			if (seq >= target)
			{
				published_us = t;
				break;
			}
			if (t > deadline)
			{
				PGresult   *res;

				fprintf(stderr, "events_bench: only %" PRId64 " of %" PRId64 " events published 30 s after the writers stopped\n",
						seq - seq0, nwrites);
				res = exec_or_die(super,
								  "SELECT format('publisher: state %s, backlog %s, last error %s; backend: %s / %s / %s, xact %s s, query %s',"
								  "  w.state, w.backlog, coalesce(w.last_error, '-'), a.state, a.wait_event_type, a.wait_event,"
								  "  round(extract(epoch FROM now() - a.xact_start)::numeric, 1), a.query)"
								  "  FROM intracker.worker_status w LEFT JOIN pg_stat_activity a ON a.pid = w.pid",
								  PGRES_TUPLES_OK);
				for (int r = 0; r < PQntuples(res); r++)
					fprintf(stderr, "events_bench: %s\n", PQgetvalue(res, r, 0));
				PQclear(res);
				res = exec_or_die(super,
								  "SELECT format('lock %s %s %s granted=%s pid=%s', l.locktype, l.relation::regclass, l.mode, l.granted, l.pid)"
								  "  FROM pg_locks l WHERE l.pid <> pg_backend_pid() AND l.locktype NOT IN ('virtualxid', 'transactionid')",
								  PGRES_TUPLES_OK);
				for (int r = 0; r < PQntuples(res); r++)
					fprintf(stderr, "events_bench: %s\n", PQgetvalue(res, r, 0));
				PQclear(res);
				failed = true;
				break;
			}
			usleep(2000);
		}
	}

	/* until the listener has them all */
	{
		int64_t		deadline = now_us() + DELIVERY_TIMEOUT_US;

		while ((int64_t) atomic_load(&narrivals) < nwrites && now_us() < deadline && !listener_lost)
			usleep(1000);
		usleep(50000);			/* anything extra would show up now */
		atomic_store(&stop_listener, true);
		pthread_join(listener_thread, NULL);
	}
	cpu1 = sample_cpu();

	/* match arrivals to writes */
	{
		size_t		mask;
		Slot	   *map = map_new(nwrites, &mask);
		int64_t    *lat = malloc((nwrites + 1) * sizeof(int64_t));
		int64_t    *stmt = malloc((nwrites + 1) * sizeof(int64_t));
		int64_t    *wait = NULL;
		int64_t    *deliver = NULL;
		int64_t    *published_at = NULL;	/* by write index */
		size_t		nlat = 0;
		size_t		extra = 0;
		size_t		out_of_order = 0;
		size_t		nbreak = 0;
		int64_t		batches = 0;
		int64_t		max_batch = 0;
		bool	   *seen = calloc(nwrites + 1, 1);

		all = malloc((nwrites + 1) * sizeof(Write *));
		k = 0;
		for (int i = 0; i < nwriters; i++)
			for (size_t j = 0; j < writers[i].nwrites; j++)
			{
				all[k] = &writers[i].writes[j];
				map_put(map, mask, map_key(all[k]->todo, all[k]->version), k);
				stmt[k] = all[k]->commit_us - all[k]->sent_us;
				k++;
			}

		if (is_intracker && nwrites > 0)
		{
			char		sql[512];
			PGresult   *res;

			published_at = calloc(nwrites + 1, sizeof(int64_t));
			snprintf(sql, sizeof(sql),
					 "SELECT entity_id, version, (extract(epoch FROM published_at) * 1000000)::bigint"
					 "  FROM intracker_data.events WHERE seq > %" PRId64 " AND seq <= %" PRId64,
					 seq0, seq0 + nwrites);
			res = exec_or_die(super, sql, PGRES_TUPLES_OK);
			for (int r = 0; r < PQntuples(res); r++)
			{
				ssize_t		w = map_get(map, mask, map_key(uuid_todo(PQgetvalue(res, r, 0)),
														   atoi(PQgetvalue(res, r, 1))));

				if (w >= 0)
					published_at[w] = strtoll(PQgetvalue(res, r, 2), NULL, 10);
			}
			PQclear(res);
			snprintf(sql, sizeof(sql),
					 "SELECT count(*), max(n) FROM (SELECT count(*) AS n FROM intracker_data.events"
					 "  WHERE seq > %" PRId64 " AND seq <= %" PRId64 " GROUP BY published_at) b",
					 seq0, seq0 + nwrites);
			res = exec_or_die(super, sql, PGRES_TUPLES_OK);
			batches = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			max_batch = PQgetisnull(res, 0, 1) ? 0 : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
			PQclear(res);
			wait = malloc((nwrites + 1) * sizeof(int64_t));
			deliver = malloc((nwrites + 1) * sizeof(int64_t));
		}

		for (size_t i = 0; i < narrivals; i++)
		{
			ssize_t		w = map_get(map, mask, map_key(arrivals[i].todo, arrivals[i].version));

			/* intracker: seq is gap-free and arrives in order on channel "intracker" */
			if (is_intracker && arrivals[i].seq != seq0 + 1 + (int64_t) i)
				out_of_order++;

			if (w < 0 || seen[w])
			{
				extra++;
				continue;
			}
			seen[w] = true;
			lat[nlat++] = arrivals[i].arrival_us - all[w]->commit_us;
			if (arrivals[i].arrival_us > delivered_us)
				delivered_us = arrivals[i].arrival_us;
			if (published_at && published_at[w] != 0)
			{
				wait[nbreak] = published_at[w] - all[w]->commit_us;
				deliver[nbreak] = arrivals[i].arrival_us - published_at[w];
				nbreak++;
			}
		}
		if ((int64_t) nlat < nwrites)
		{
			fprintf(stderr, "events_bench: %s %s: %" PRId64 " of %" PRId64 " notifications never arrived\n",
					arm, mode, nwrites - (int64_t) nlat, nwrites);
			failed = true;
		}
		if (extra > 0)
			fprintf(stderr, "events_bench: %s %s: %zu notifications matched no write\n", arm, mode, extra);
		if (out_of_order > 0)
		{
			fprintf(stderr, "events_bench: %s %s: %zu notifications were not seq %" PRId64 " + 1, + 2, ... in arrival order\n",
					arm, mode, out_of_order, seq0);
			failed = true;
		}

		qsort(lat, nlat, sizeof(int64_t), cmp_int64);
		qsort(stmt, nwrites, sizeof(int64_t), cmp_int64);

		printf("RESULT arm=%s mode=%s writers=%d events=%" PRId64 " received=%zu extra=%zu",
			   arm, mode, nwriters, nwrites, nlat, extra);
		if (is_latency)
		{
			printf(" seconds=%.3f rate=%.1f p50_us=%" PRId64 " p90_us=%" PRId64 " p99_us=%" PRId64
				   " max_us=%" PRId64 " min_us=%" PRId64 " stmt_p50_us=%" PRId64 " stmt_p99_us=%" PRId64,
				   (last_commit - start_us) / 1e6, nwrites / ((last_commit - start_us) / 1e6),
				   pct(lat, nlat, 50), pct(lat, nlat, 90), pct(lat, nlat, 99),
				   nlat ? lat[nlat - 1] : 0, nlat ? lat[0] : 0,
				   pct(stmt, nwrites, 50), pct(stmt, nwrites, 99));
		}
		else
		{
			double		write_s = (last_commit - start_us) / 1e6;
			double		deliver_s = (delivered_us - start_us) / 1e6;

			printf(" write_seconds=%.3f writer_tps=%.1f delivered_seconds=%.3f delivered_rate=%.1f stmt_p50_us=%" PRId64,
				   write_s, nwrites / write_s, deliver_s, nlat / deliver_s, pct(stmt, nwrites, 50));
			if (is_intracker)
			{
				double		pub_s = (published_us - start_us) / 1e6;

				printf(" backlog_at_write_end=%" PRId64 " published_seconds=%.3f sustained=%.1f",
					   write_end_backlog, pub_s, published_us ? nwrites / pub_s : 0.0);
			}
			else
				printf(" sustained=%.1f", nwrites / write_s);
		}
		/* server CPU per event, microseconds (-1: could not read /proc) */
#define PER_EVENT(a, b) ((a) < 0 || (b) < 0 || nwrites == 0 ? -1.0 : (double) ((b) - (a)) / nwrites)
		printf(" cpu_writers_us=%.1f cpu_listener_us=%.1f cpu_publisher_us=%.1f",
			   PER_EVENT(cpu0.writers, cpu1.writers), PER_EVENT(cpu0.listener, cpu1.listener),
			   PER_EVENT(cpu0.publisher, cpu1.publisher));
		if (is_intracker)
		{
			qsort(wait, nbreak, sizeof(int64_t), cmp_int64);
			qsort(deliver, nbreak, sizeof(int64_t), cmp_int64);
			printf(" batches=%" PRId64 " mean_batch=%.1f max_batch=%" PRId64
				   " wait_p50_us=%" PRId64 " wait_p99_us=%" PRId64 " deliver_p50_us=%" PRId64 " deliver_p99_us=%" PRId64,
				   batches, batches ? (double) nbreak / batches : 0.0, max_batch,
				   pct(wait, nbreak, 50), pct(wait, nbreak, 99), pct(deliver, nbreak, 50), pct(deliver, nbreak, 99));
		}
		printf("\n");
	}

	for (int i = 0; i < nwriters; i++)
		PQfinish(writers[i].conn);
	PQfinish(listener);
	PQfinish(super);
	return failed || listener_lost ? 1 : 0;
}
