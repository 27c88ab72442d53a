/*-------------------------------------------------------------------------
 *
 * supervisor.c
 *	  The supervisor: registration, the utility hook, the loop that
 *	  starts and restarts the publisher and the deliverer, and the start
 *	  of each of them.
 *
 * supervisor.h names the three processes.  All of them run only when
 * intracker is in shared_preload_libraries; otherwise the SQL functions
 * still work, intracker.events_since() publishes on read without NOTIFY,
 * and webhooks wait.
 *
 * The supervisor (a static background worker) connects to no database.
 * It looks up intracker.database in pg_database, starts the publisher and
 * the deliverer there, and starts each again when it exits: at once if it
 * ran a while, after a pause that doubles up to MAX_PAUSE_MS if it keeps
 * failing, so a deliverer in trouble never stops publication.  A missing
 * database, or one that does not accept connections (ALLOW_CONNECTIONS
 * false), is a WARNING and a wait, not a crash loop, and since the
 * supervisor holds no database connection it never stands in the way of
 * DROP DATABASE.
 *
 * The utility hook, in every backend: a DROP DATABASE of the children's
 * database (or another statement that needs it to itself: RENAME, SET
 * TABLESPACE, CREATE DATABASE ... TEMPLATE), a DROP EXTENSION or ALTER
 * EXTENSION UPDATE of intracker in it, by a role that may do it, stops
 * them first and keeps them stopped until
 * its transaction ends: it takes a hold on their database in shared memory
 * (shared_state.c), signals them and waits until they are gone; the
 * supervisor starts no child while a live backend holds the database, and
 * starts them again, without a pause, when the hold is given back at
 * commit or abort.  So nothing of theirs can deadlock with the statement,
 * make DROP DATABASE fail ("being accessed by other users"), or send a
 * webhook after the extension is gone; and a DROP that is refused stops
 * nothing.  COMMIT PREPARED wakes them (the committing backend wrote no
 * events itself); the commit of CREATE or ALTER EXTENSION intracker wakes
 * them too (they may be waiting for the schema), and that of CREATE
 * DATABASE intracker.database the supervisor.
 *
 * Both children start the same way (intracker_child_start: the server's
 * settings, not their database's, child_settings.c) and then run their
 * own loops: publisher.c and deliverer.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/tablespace.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "child_settings.h"
#include "supervisor.h"

#define MAX_PAUSE_MS		60000	/* longest pause before a restart */
#define WAIT_FOR_DATABASE_MS 10000	/* recheck for CREATE DATABASE */

/* bgw_type and application_name of each child */
static const char *const child_types[] = {
	[INTRACKER_PUBLISHER] = "intracker publisher",
	[INTRACKER_DELIVERER] = "intracker deliverer",
};

/* their entry points in this library */
static const char *const child_functions[] = {
	[INTRACKER_PUBLISHER] = "intracker_publisher_main",
	[INTRACKER_DELIVERER] = "intracker_deliverer_main",
};

/* GUC intracker.database */
static char *database_name = NULL;

static ProcessUtility_hook_type prev_process_utility_hook = NULL;

/*
 * What this backend's transaction does when it ends (hook_xact_callback):
 * give back its hold on the children's database (at commit of a DROP,
 * what belonged to the database goes with it), and wake processes that
 * wait for what it commits.
 */
static bool xact_callback_registered = false;
static bool hold_taken = false;
static bool hold_for_drop = false;
static bool wake_children_at_commit = false;
static bool wake_supervisor_at_commit = false;

#define STOP_POLL_MS		10	/* how often a DROP looks whether the children are gone */
#define HOLD_RECHECK_MS		1000	/* the supervisor asks again whether a hold's backend lives */

PGDLLEXPORT void intracker_supervisor_main(Datum main_arg);

/* ----------------------------------------------------------------
 * Registration and the utility hook
 * ----------------------------------------------------------------
 */

/*
 * Could the children run in dboid: do they, or does intracker.database
 * name it?  (By name too: they may be between two runs.)
 */
static bool
children_may_serve(Oid dboid)
{
	return OidIsValid(dboid) &&
		(dboid == intracker_children_database() || dboid == get_database_oid(database_name, true));
}

/* At the end of a transaction in which the hook did something. */
static void
hook_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	bool		committed;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			committed = true;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			committed = false;
			break;
		default:
			return;
	}
	if (hold_taken)
		intracker_release_hold(committed && hold_for_drop);
	if (committed && wake_children_at_commit)
	{
		intracker_publisher_wake();
		intracker_deliverer_wake();
	}
	if (committed && wake_supervisor_at_commit)
		intracker_supervisor_wake();
	hold_taken = false;
	hold_for_drop = false;
	wake_children_at_commit = false;
	wake_supervisor_at_commit = false;
}

static void
register_xact_callback(void)
{
	if (!xact_callback_registered)
		RegisterXactCallback(hook_xact_callback, NULL);
	xact_callback_registered = true;
}

/* At commit, wake the supervisor if dbname is intracker.database. */
static void
wake_supervisor_at_commit_for(const char *dbname)
{
	if (strcmp(dbname, database_name) != 0)
		return;
	register_xact_callback();
	wake_supervisor_at_commit = true;
}

/*
 * Stop the children in dboid for the rest of this transaction: take the
 * hold (from now on the supervisor starts none there, and one that starts
 * anyway exits), signal those that run and wait until they are gone, so
 * that they hold no lock and send nothing from then on.  The wait can be
 * cancelled; a child exits within a round's statement or a libcurl poll.
 * drop: what is held is being dropped.
 */
static void
stop_children(Oid dboid, bool drop)
{
	pid_t		pids[INTRACKER_CHILDREN];

	register_xact_callback();
	if (!intracker_hold_children(dboid, pids))
		return;
	hold_taken = true;
	hold_for_drop |= drop;
	for (int i = 0; i < INTRACKER_CHILDREN; i++)
		if (pids[i] != 0)
			(void) kill(pids[i], SIGTERM);
	for (;;)
	{
		bool		running = false;

		for (int i = 0; i < INTRACKER_CHILDREN; i++)
			running |= pids[i] != 0 && BackendPidGetProc(pids[i]) != NULL;
		if (!running)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 STOP_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * DROP DATABASE, ALTER DATABASE RENAME and SET TABLESPACE, and CREATE
 * DATABASE ... TEMPLATE of the children's database need it to themselves:
 * they stop the children first, or they would wait for them and fail
 * ("being accessed by other users").  Only a statement that will get past
 * PostgreSQL's own checks may: anyone can type DROP DATABASE, and stopping
 * the children at each attempt would keep publication stopped.  So the
 * checks of dbcommands.c are made here first: the database exists, the
 * caller may do it (its owner or a superuser; CREATEDB to rename or copy
 * it, unless a template anyone may copy; CREATE on the new tablespace), it
 * is not the caller's own database (but for a template), and the statement
 * is not in a transaction block where it must not be (that error is raised
 * here, as PostgreSQL would raise it a moment later).  What only the
 * statement finds out (other sessions, replication slots) is the caller's
 * to know.
 */

/* CREATEDB, as dbcommands.c's have_createdb_privilege() asks it. */
static bool
may_create_databases(void)
{
	HeapTuple	tuple;
	bool		may = superuser();

	if (may)
		return true;
	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
	if (HeapTupleIsValid(tuple))
	{
		may = ((Form_pg_authid) GETSTRUCT(tuple))->rolcreatedb;
		ReleaseSysCache(tuple);
	}
	return may;
}

/* May anyone with CREATEDB copy it? */
static bool
is_template(Oid dboid)
{
	HeapTuple	tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	bool		template = false;

	if (HeapTupleIsValid(tuple))
	{
		template = ((Form_pg_database) GETSTRUCT(tuple))->datistemplate;
		ReleaseSysCache(tuple);
	}
	return template;
}

/* The value of option name of a CREATE or ALTER DATABASE, or NULL. */
static const char *
database_option(List *options, const char *name)
{
	ListCell   *cell;

	foreach(cell, options)
	{
		DefElem    *option = lfirst_node(DefElem, cell);

		if (strcmp(option->defname, name) == 0 && option->arg != NULL)
			return defGetString(option);
	}
	return NULL;
}

static void
stop_for_database_statement(Node *stmt, bool isTopLevel)
{
	Oid			dboid = InvalidOid;
	const char *statement = NULL;	/* as PreventInTransactionBlock names it */
	bool		allowed = false;
	bool		drop = false;

	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			dboid = get_database_oid(((DropdbStmt *) stmt)->dbname, true);
			allowed = children_may_serve(dboid) && dboid != MyDatabaseId &&
				pg_database_ownercheck(dboid, GetUserId());
			statement = "DROP DATABASE";
			drop = true;
			break;
		case T_RenameStmt:
			/* (transactional: it may be in a transaction block) */
			dboid = get_database_oid(((RenameStmt *) stmt)->subname, true);
			allowed = children_may_serve(dboid) && dboid != MyDatabaseId &&
				pg_database_ownercheck(dboid, GetUserId()) && may_create_databases();
			break;
		case T_AlterDatabaseStmt:
			{
				const char *tablespace = database_option(((AlterDatabaseStmt *) stmt)->options, "tablespace");
				Oid			tsoid = tablespace ? get_tablespace_oid(tablespace, true) : InvalidOid;

				dboid = get_database_oid(((AlterDatabaseStmt *) stmt)->dbname, true);
				allowed = OidIsValid(tsoid) && children_may_serve(dboid) && dboid != MyDatabaseId &&
					pg_database_ownercheck(dboid, GetUserId()) &&
					pg_tablespace_aclcheck(tsoid, GetUserId(), ACL_CREATE) == ACLCHECK_OK;
				statement = "ALTER DATABASE SET TABLESPACE";
				break;
			}
		case T_CreatedbStmt:
			{
				const char *template = database_option(((CreatedbStmt *) stmt)->options, "template");

				dboid = template ? get_database_oid(template, true) : InvalidOid;
				allowed = children_may_serve(dboid) && may_create_databases() &&
					(is_template(dboid) || pg_database_ownercheck(dboid, GetUserId()));
				statement = "CREATE DATABASE";
				break;
			}
		default:
			break;
	}
	if (!allowed)
		return;
	if (statement != NULL)
		PreventInTransactionBlock(isTopLevel, statement);
	stop_children(dboid, drop);
}

/* Does a DROP name extension intracker? */
static bool
names_intracker(DropStmt *stmt)
{
	ListCell   *cell;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(cell, stmt->objects)
		if (strcmp(strVal(lfirst(cell)), "intracker") == 0)
			return true;
	return false;
}

/*
 * DROP EXTENSION intracker (drop) and ALTER EXTENSION intracker UPDATE in
 * the children's database stop them for the rest of the transaction.  The
 * statement takes its locks in an order of its own, and a round of theirs
 * (which takes the events, the outbox, the deliveries ... in another) in
 * the middle of it deadlocked with it; the deliverer also went on sending
 * the deliveries it held in memory after the extension was gone.  Only a
 * role that may drop or update the extension (its owner, a superuser)
 * stops them, and only when there is an extension to drop.
 */
static void
stop_for_extension(bool drop)
{
	Oid			extoid;

	if (!children_may_serve(MyDatabaseId))
		return;
	extoid = get_extension_oid("intracker", true);
	if (!OidIsValid(extoid) || !pg_extension_ownercheck(extoid, GetUserId()))
		return;
	stop_children(MyDatabaseId, drop);
}

/*
 * Before the statement: stop the children for the statements that need
 * their database to themselves (DROP, RENAME, SET TABLESPACE, copy) and
 * for DROP / ALTER EXTENSION intracker there.  After it: wake them after
 * COMMIT PREPARED (the committing backend wrote no events itself); at
 * commit, wake them after CREATE and ALTER EXTENSION intracker (they may be
 * waiting for the schema), and the supervisor after CREATE DATABASE, ALTER
 * DATABASE RENAME TO and ALTER DATABASE of intracker.database (it may be
 * waiting for it to exist or to accept connections).
 */
static void
intracker_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						  ProcessUtilityContext context, ParamListInfo params,
						  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	bool		top_level = context == PROCESS_UTILITY_TOPLEVEL;
	bool		wake_after = false;

	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			stop_for_database_statement(stmt, top_level);
			break;
		case T_AlterDatabaseStmt:
			stop_for_database_statement(stmt, top_level);
			/* (ALLOW_CONNECTIONS true may be what the supervisor waits for) */
			wake_supervisor_at_commit_for(((AlterDatabaseStmt *) stmt)->dbname);
			break;
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType != OBJECT_DATABASE)
				break;
			stop_for_database_statement(stmt, top_level);
			wake_supervisor_at_commit_for(((RenameStmt *) stmt)->newname);
			break;
		case T_CreatedbStmt:
			stop_for_database_statement(stmt, top_level);
			wake_supervisor_at_commit_for(((CreatedbStmt *) stmt)->dbname);
			break;
		case T_DropStmt:
			if (names_intracker((DropStmt *) stmt))
				stop_for_extension(true);
			break;
		case T_AlterExtensionStmt:
			if (strcmp(((AlterExtensionStmt *) stmt)->extname, "intracker") == 0)
			{
				stop_for_extension(false);
				register_xact_callback();
				wake_children_at_commit = true;
			}
			break;
		case T_CreateExtensionStmt:
			if (strcmp(((CreateExtensionStmt *) stmt)->extname, "intracker") == 0)
			{
				register_xact_callback();
				wake_children_at_commit = true;
			}
			break;
		case T_TransactionStmt:
			wake_after = ((TransactionStmt *) stmt)->kind == TRANS_STMT_COMMIT_PREPARED;
			break;
		default:
			break;
	}

	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);

	if (wake_after)
	{
		intracker_publisher_wake();
		intracker_deliverer_wake();
	}
}

/*
 * intracker.database, and under shared_preload_libraries the utility hook
 * and the supervisor (not in binary upgrade).
 */
void
SupervisorInit(void)
{
	BackgroundWorker worker;

	/*
	 * Only at server start can the processes run, and only then may a
	 * setting be PGC_POSTMASTER.  Loaded later, the setting still exists (a
	 * postgresql.conf that names it must not cause warnings), with no effect.
	 */
	DefineCustomStringVariable("intracker.database",
							   "Database in which the publisher publishes events and the deliverer sends webhooks.",
							   "Only one database per server gets NOTIFY and pruning; elsewhere events_since() publishes on read. "
							   "Takes effect at server start, with intracker in shared_preload_libraries.",
							   &database_name, "postgres",
							   process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							   0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = intracker_process_utility;

	if (IsBinaryUpgrade)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	strlcpy(worker.bgw_library_name, "intracker", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "intracker_supervisor_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "intracker supervisor", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "intracker supervisor", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* ----------------------------------------------------------------
 * The supervisor's loop
 * ----------------------------------------------------------------
 */

/*
 * The database's oid, or InvalidOid; *accepting says whether it accepts
 * connections (its owner may turn them off, and the children could not
 * connect).  With no database selected only a plain heap scan of the
 * shared catalog works (no syscache, no index), as in autovacuum's
 * get_database_list().
 */
static Oid
lookup_database(const char *name, bool *accepting)
{
	Oid			dboid = InvalidOid;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);

		if (strcmp(NameStr(db->datname), name) == 0)
		{
			dboid = db->oid;
			*accepting = db->datallowconn;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return dboid;
}

/* A child as the supervisor sees it. */
typedef struct Child
{
	BackgroundWorkerHandle *handle; /* NULL while not running */
	TimestampTz started;
	TimestampTz restart_at;
	long		pause_ms;		/* before the next restart, if it fails soon */
} Child;

/*
 * Register a dynamic background worker for the child, which tells this
 * process when it starts and stops (SIGUSR1).  False when no slot was free.
 */
static bool
start_child(Child *child, IntrackerChild kind, Oid dboid)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "intracker", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, child_functions[kind], BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s %s " EXTVERSION, child_types[kind], database_name);
	strlcpy(worker.bgw_type, child_types[kind], BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &child->handle))
	{
		child->handle = NULL;
		return false;
	}
	child->started = GetCurrentTimestamp();
	return true;
}

/*
 * Has the child exited?  Then plan its restart and say so.  One stopped
 * for a hold (a DROP) is restarted as soon as the hold ends: it did not
 * fail.
 */
static bool
check_child(Child *child, IntrackerChild kind)
{
	pid_t		pid;
	TimestampTz now = GetCurrentTimestamp();

	if (child->handle == NULL || GetBackgroundWorkerPid(child->handle, &pid) != BGWH_STOPPED)
		return false;
	pfree(child->handle);
	child->handle = NULL;
	if (intracker_child_stopped_for_hold(kind))
	{
		child->restart_at = now;
		return true;
	}
	/* one that ran a while is restarted at once; one that keeps failing, ever slower */
	if (TimestampDifferenceExceeds(child->started, now, MAX_PAUSE_MS))
		child->pause_ms = 1000;
	else
		child->pause_ms = Min(child->pause_ms * 2, MAX_PAUSE_MS);
	child->restart_at = TimestampTzPlusMilliseconds(now, child->pause_ms);
	return true;
}

/* Sleep on the latch (SIGHUP, SIGUSR1 from the postmaster) for up to timeout_ms. */
static void
supervisor_wait(long timeout_ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/*
 * The supervisor's loop: notice children that stopped, find the database
 * (waiting while it does not exist), start each stopped child when its
 * pause is over, sleep until the next restart or a child's start or stop.
 */
void
intracker_supervisor_main(Datum main_arg pg_attribute_unused())
{
	Child		children[INTRACKER_CHILDREN] = {
		[INTRACKER_PUBLISHER] = {NULL, 0, 0, 500},
		[INTRACKER_DELIVERER] = {NULL, 0, 0, 500},
	};
	bool		warned_missing = false;
	bool		warned_closed = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);	/* shared catalogs only */
	intracker_supervisor_attach();

	for (;;)
	{
		Oid			dboid = InvalidOid;
		bool		accepting = false;
		long		wait_ms = MAX_PAUSE_MS;
		bool		any_stopped = false;

		for (int i = 0; i < INTRACKER_CHILDREN; i++)
		{
			if (check_child(&children[i], (IntrackerChild) i) && i == INTRACKER_PUBLISHER)
				intracker_publisher_set_state(PUBLISHER_STOPPED);
			any_stopped |= children[i].handle == NULL;
		}
		if (any_stopped)
			dboid = lookup_database(database_name, &accepting);
		if (any_stopped && (!OidIsValid(dboid) || !accepting))
		{
			/* said once per absence; a child that cannot connect would fail in a loop */
			if (!OidIsValid(dboid) && !warned_missing)
				ereport(WARNING,
						(errmsg("intracker: database \"%s\" does not exist", database_name),
						 errdetail("Events are published when read, without NOTIFY, and webhooks wait, until it does."),
						 errhint("Create the database or set intracker.database and restart the server.")));
			else if (OidIsValid(dboid) && !warned_closed)
				ereport(WARNING,
						(errmsg("intracker: database \"%s\" does not accept connections", database_name),
						 errdetail("Events wait in the outbox and webhooks wait until it does."),
						 errhint("ALTER DATABASE %s ALLOW_CONNECTIONS true.", quote_identifier(database_name))));
			warned_missing = !OidIsValid(dboid);
			warned_closed = OidIsValid(dboid);
			if (children[INTRACKER_PUBLISHER].handle == NULL)
				intracker_publisher_set_state(PUBLISHER_WAITING_FOR_DATABASE);
			supervisor_wait(WAIT_FOR_DATABASE_MS);
			continue;
		}
		warned_missing = false;
		warned_closed = false;

		/* a backend is dropping (or updating) what they serve: its transaction's end wakes us */
		if (any_stopped && intracker_children_held(dboid))
		{
			supervisor_wait(HOLD_RECHECK_MS);
			continue;
		}

		for (int i = 0; i < INTRACKER_CHILDREN; i++)
		{
			Child	   *child = &children[i];
			TimestampTz now = GetCurrentTimestamp();

			if (child->handle != NULL)
				continue;
			if (child->restart_at > now)
			{
				wait_ms = Min(wait_ms, intracker_ms_until(child->restart_at));
				continue;
			}
			if (i == INTRACKER_PUBLISHER)
				intracker_publisher_set_state(PUBLISHER_STARTING);
			if (!start_child(child, (IntrackerChild) i, dboid))
			{
				ereport(WARNING,
						(errmsg("intracker: could not start the %s", child_types[i] + strlen("intracker ")),
						 errhint("Raise max_worker_processes.")));
				child->restart_at = TimestampTzPlusMilliseconds(now, MAX_PAUSE_MS);
			}
		}
		/* SIGUSR1 from the postmaster (a child started or stopped) sets the latch */
		supervisor_wait(wait_ms);
	}
}

/* ----------------------------------------------------------------
 * What both children share
 * ----------------------------------------------------------------
 */

/*
 * What both children do first: signals, a connection to their database
 * with the server's settings, not the database's (child_settings.c), then
 * their slot in shared memory.  A child exits at once when another one of
 * its kind is still alive, or when a backend holds the database (it is
 * being dropped, or the extension dropped or updated: the supervisor
 * starts it again when that transaction ends).
 */
void
intracker_child_start(Datum main_arg, IntrackerChild child)
{
	pid_t		other;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	intracker_remember_server_settings();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), InvalidOid, 0);
	intracker_settle_child_settings(child_types[child]);
	pgstat_report_appname(child_types[child]);

	switch (intracker_child_attach(child, &other))
	{
		case CHILD_ATTACHED:
			break;
		case CHILD_ALREADY_RUNNING:
			ereport(LOG, (errmsg("%s: another one (pid %d) is running", child_types[child], (int) other)));
			proc_exit(0);
			break;
		case CHILD_HELD:
			ereport(LOG,
					(errmsg("%s: its database or extension is being dropped or updated", child_types[child]),
					 errdetail("It starts again when that transaction ends.")));
			proc_exit(0);
			break;
	}
}

/*
 * After an error in a child's round, inside PG_CATCH: undo the round's
 * transaction and return the error (copied into cxt, the round's memory)
 * for the child to report.
 */
ErrorData *
intracker_child_recover(MemoryContext cxt)
{
	ErrorData  *error;

	MemoryContextSwitchTo(cxt);
	error = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
	return error;
}

/* Milliseconds from now until when (rounded up; negative when past). */
long
intracker_ms_until(TimestampTz when)
{
	long		secs;
	int			usecs;

	TimestampDifference(GetCurrentTimestamp(), when, &secs, &usecs);
	return secs * 1000 + usecs / 1000 + 1;
}
