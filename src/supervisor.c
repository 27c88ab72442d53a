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
 * intracker.database names the databases served: one, a comma-separated
 * list, or '*' (every database that has the extension).  The supervisor
 * reads pg_database at each of its rounds (a few pages) and, for each
 * database it serves, takes a place in shared memory (shared_state.c),
 * starts the publisher there, then the deliverer once the publisher found
 * the extension, and starts each again when it exits: at once if it ran a
 * while, after a pause that doubles up to MAX_PAUSE_MS if it keeps
 * failing, so a deliverer in trouble never stops publication and one
 * database's trouble never touches another's.
 *
 * With '*', the publisher is also how the supervisor learns whether a
 * database has the extension: it starts one in each database that accepts
 * connections and is not a template; one that finds no extension leaves
 * for good, and the database is looked into again only when CREATE (or
 * ALTER) EXTENSION intracker commits there (the utility hook announces it)
 * or the database is created anew.  At most intracker.max_databases
 * databases are served: a publisher that finds the extension beyond them
 * leaves too, with a WARNING, and its database is tried again when
 * another one stops being served.  A named database's publisher waits for
 * the extension instead.  A missing database, or one that does not accept
 * connections (ALLOW_CONNECTIONS false), is a WARNING and a wait, not a
 * crash loop, and since the supervisor holds no database connection it
 * never stands in the way of DROP DATABASE.
 *
 * The utility hook, in every backend: a DROP DATABASE of a database the
 * children serve (or another statement that needs it to itself: RENAME, SET
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
 * them too (they may be waiting for the schema) and announces the
 * database to the supervisor, and that of CREATE DATABASE of a database
 * served wakes the supervisor.
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
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "child_settings.h"
#include "supervisor.h"

#define MAX_PAUSE_MS		60000	/* longest pause before a restart */
#define RESCAN_MS			10000	/* read pg_database again at least this often */

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

/* GUC intracker.database: a name, a comma-separated list, or '*' */
static char *database_setting = NULL;

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
static bool announce_at_commit = false;

#define STOP_POLL_MS		10	/* how often a DROP looks whether the children are gone */
#define HOLD_RECHECK_MS		1000	/* the supervisor asks again whether a hold's backend lives */

PGDLLEXPORT void intracker_supervisor_main(Datum main_arg);

/* ----------------------------------------------------------------
 * Registration and the utility hook
 * ----------------------------------------------------------------
 */

/* The names intracker.database lists (NIL for '*'), in the current memory context. */
static List *
named_databases(void)
{
	List	   *names = NIL;

	if (strcmp(database_setting, "*") == 0)
		return NIL;
	/* (the check hook accepted it) */
	if (!SplitGUCList(pstrdup(database_setting), ',', &names))
		elog(ERROR, "intracker.database is not a list of names");
	return names;
}

/* Does intracker.database say '*': every database that has the extension? */
bool
intracker_serves_every_database(void)
{
	return strcmp(database_setting, "*") == 0;
}

/* Does intracker.database cover the database of that name ('*', or it is listed)? */
static bool
database_name_named(const char *name)
{
	ListCell   *cell;

	if (intracker_serves_every_database())
		return true;
	foreach(cell, named_databases())
		if (strcmp((const char *) lfirst(cell), name) == 0)
			return true;
	return false;
}

/* The same, by oid. */
bool
intracker_database_named(Oid dboid)
{
	char	   *name = OidIsValid(dboid) ? get_database_name(dboid) : NULL;

	return name != NULL && database_name_named(name);
}

/* intracker.database: '*' alone, or names separated by commas (quoted as identifiers when need be). */
static bool
check_database_setting(char **newval, void **extra pg_attribute_unused(), GucSource source pg_attribute_unused())
{
	List	   *names = NIL;
	ListCell   *cell;
	bool		valid;

	if (strcmp(*newval, "*") == 0)
		return true;
	valid = SplitGUCList(pstrdup(*newval), ',', &names) && names != NIL;
	foreach(cell, names)
		valid &= ((const char *) lfirst(cell))[0] != '\0' && strcmp((const char *) lfirst(cell), "*") != 0;
	if (!valid)
		GUC_check_errdetail("intracker.database takes a database name, names separated by commas, or '*' alone.");
	return valid;
}

/*
 * Could the children run in dboid: have they a place there, or does
 * intracker.database cover it?  (By name too: they may be between two
 * runs.)
 */
static bool
children_may_serve(Oid dboid)
{
	return OidIsValid(dboid) && (intracker_database_has_place(dboid) || intracker_database_named(dboid));
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
	if (committed && announce_at_commit)
		intracker_announce_extension(MyDatabaseId);
	hold_taken = false;
	hold_for_drop = false;
	wake_children_at_commit = false;
	wake_supervisor_at_commit = false;
	announce_at_commit = false;
}

static void
register_xact_callback(void)
{
	if (!xact_callback_registered)
		RegisterXactCallback(hook_xact_callback, NULL);
	xact_callback_registered = true;
}

/* At commit, wake the supervisor if intracker.database covers dbname. */
static void
wake_supervisor_at_commit_for(const char *dbname)
{
	if (!database_name_named(dbname))
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
 * waiting for the schema) and announce the database to the supervisor
 * (with '*' it may not know that it has the extension), and wake the
 * supervisor after CREATE DATABASE, ALTER DATABASE RENAME TO and ALTER
 * DATABASE of a database intracker.database covers (it may be waiting for
 * it to exist or to accept connections).
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
				announce_at_commit = true;
			}
			break;
		case T_CreateExtensionStmt:
			if (strcmp(((CreateExtensionStmt *) stmt)->extname, "intracker") == 0)
			{
				register_xact_callback();
				wake_children_at_commit = true;
				announce_at_commit = true;
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
 * Does max_worker_processes fit the supervisor and, for each database
 * that can be served, a publisher and a deliverer?  Said at server start,
 * once: beyond it, the children that find no room are a WARNING and a
 * retry, never a crash loop.
 */
static void
warn_if_workers_short(void)
{
	/* (named_databases is NIL for '*') */
	int			named = list_length(named_databases());
	int			databases = intracker_serves_every_database() ? intracker_max_databases
		: Min(intracker_max_databases, named);
	int			needed = 1 + databases * INTRACKER_CHILDREN;

	if (max_worker_processes < needed)
		ereport(WARNING,
				(errmsg("intracker: max_worker_processes (%d) is too small to serve %d database%s",
						max_worker_processes, databases, databases == 1 ? "" : "s"),
				 errdetail("The supervisor and, per database, a publisher and a deliverer need %d background workers, "
						   "and parallel queries and other extensions share them.", needed),
				 errhint("Raise max_worker_processes to at least %d, or lower intracker.max_databases.", needed)));
	if (named > intracker_max_databases)
		ereport(WARNING,
				(errmsg("intracker.database names %d databases, more than intracker.max_databases (%d)",
						named, intracker_max_databases),
				 errdetail("Only %d of them are served at once; in the others events are published when read, "
						   "without NOTIFY, and webhooks wait.", intracker_max_databases),
				 errhint("Raise intracker.max_databases, or name fewer databases.")));
}

/*
 * intracker.database and intracker.max_databases, and under
 * shared_preload_libraries the utility hook and the supervisor (not in
 * binary upgrade).
 */
void
SupervisorInit(void)
{
	BackgroundWorker worker;

	/*
	 * Only at server start can the processes run, and only then may a
	 * setting be PGC_POSTMASTER.  Loaded later, the settings still exist (a
	 * postgresql.conf that names them must not cause warnings), with no
	 * effect.
	 */
	DefineCustomStringVariable("intracker.database",
							   "Databases in which publishers publish events and deliverers send webhooks.",
							   "A database name, names separated by commas, or * for every database that has the extension. "
							   "Elsewhere events_since() publishes on read, without NOTIFY. "
							   "Takes effect at server start, with intracker in shared_preload_libraries.",
							   &database_setting, "postgres",
							   process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							   0, check_database_setting, NULL, NULL);
	DefineCustomIntVariable("intracker.max_databases",
							"Most databases served at once, each by a publisher and a deliverer.",
							"Each needs two of max_worker_processes. Takes effect at server start.",
							&intracker_max_databases, 8, 1, 1000,
							process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = intracker_process_utility;

	if (IsBinaryUpgrade)
		return;
	warn_if_workers_short();

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

/* A child as the supervisor sees it. */
typedef struct Child
{
	BackgroundWorkerHandle *handle; /* NULL while not running */
	TimestampTz started;
	TimestampTz restart_at;
	long		pause_ms;		/* before the next restart, if it fails soon */
	bool		warned_no_room; /* said that max_worker_processes has no room */
} Child;

/* What the supervisor knows of a database's extension. */
typedef enum Prospect
{
	PROSPECT_SERVE,				/* serve it (or look whether it has the extension) */
	PROSPECT_NO_EXTENSION,		/* its publisher found none ('*' only) */
	PROSPECT_OVER_LIMIT			/* it has one, but max_databases are served */
} Prospect;

/* A database the supervisor serves, or may: one named, or (with '*') any. */
typedef struct Database
{
	char		name[NAMEDATALEN];
	Oid			dboid;			/* InvalidOid: (a named one) does not exist */
	bool		accepting;		/* ALLOW_CONNECTIONS */
	bool		exists;			/* found by the last read of pg_database */
	Prospect	prospect;
	int			place;			/* its place in shared memory; -1: none */
	Child		children[INTRACKER_CHILDREN];
	bool		warned_missing; /* said that it does not exist */
	bool		warned_closed;	/* said that it does not accept connections */
	bool		warned_over;	/* said that max_databases keeps it out */
	bool		announced;		/* CREATE EXTENSION committed since its publisher started */
	bool		served;			/* its publisher serves (or served until it stopped) */
	bool		held;			/* a backend held it before pg_database was read */
} Database;

static List *databases = NIL;	/* of Database *, in TopMemoryContext */

static Database *
new_database(const char *name, Oid dboid)
{
	MemoryContext cxt = MemoryContextSwitchTo(TopMemoryContext);
	Database   *db = palloc0(sizeof(Database));

	strlcpy(db->name, name, NAMEDATALEN);
	db->dboid = dboid;
	db->place = -1;
	for (int i = 0; i < INTRACKER_CHILDREN; i++)
		db->children[i].pause_ms = 500;
	databases = lappend(databases, db);
	MemoryContextSwitchTo(cxt);
	return db;
}

/*
 * Read pg_database and bring the list up to date: with '*', every database
 * that is not a template is in it (a new one to be looked into), and those
 * gone are marked; named ones are found by name (a database dropped and
 * created again has a new oid: its old place goes once its children are
 * gone).  With no database selected only a plain heap scan of the shared
 * catalog works (no syscache, no index), as in autovacuum's
 * get_database_list().
 */
static void
read_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	ListCell   *cell;
	MemoryContext cxt = CurrentMemoryContext;

	foreach(cell, databases)
		((Database *) lfirst(cell))->exists = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database form = (Form_pg_database) GETSTRUCT(tuple);
		Database   *found = NULL;

		foreach(cell, databases)
		{
			Database   *db = lfirst(cell);

			if (intracker_serves_every_database() ? db->dboid == form->oid
				: strcmp(db->name, NameStr(form->datname)) == 0)
				found = db;
		}
		if (found == NULL && intracker_serves_every_database() && !form->datistemplate)
			found = new_database(NameStr(form->datname), form->oid);
		if (found == NULL)
			continue;
		if (found->dboid != form->oid && found->place < 0)
		{
			/* (a named one, created again: looked into afresh) */
			found->dboid = form->oid;
			found->prospect = PROSPECT_SERVE;
		}
		found->exists = found->dboid == form->oid;
		found->accepting = form->datallowconn;
		strlcpy(found->name, NameStr(form->datname), NAMEDATALEN);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
}

/*
 * Register a dynamic background worker for the child, which tells this
 * process when it starts and stops (SIGUSR1).  False when no slot was free.
 */
static bool
start_child(Database *db, IntrackerChild kind)
{
	BackgroundWorker worker;
	Child	   *child = &db->children[kind];

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "intracker", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, child_functions[kind], BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s %s " EXTVERSION, child_types[kind], db->name);
	strlcpy(worker.bgw_type, child_types[kind], BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(db->dboid);
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
check_child(Database *db, IntrackerChild kind)
{
	Child	   *child = &db->children[kind];
	pid_t		pid;
	TimestampTz now = GetCurrentTimestamp();

	if (child->handle == NULL || GetBackgroundWorkerPid(child->handle, &pid) != BGWH_STOPPED)
		return false;
	pfree(child->handle);
	child->handle = NULL;
	if (intracker_child_stopped_for_hold(db->place, kind))
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

static bool
running(const Database *db)
{
	for (int i = 0; i < INTRACKER_CHILDREN; i++)
		if (db->children[i].handle != NULL)
			return true;
	return false;
}

/*
 * Notice its children that stopped.  A publisher that left for good says
 * why (no extension; over the limit, said once), and then the deliverer
 * must stop too.
 */
static void
notice_stops(Database *db)
{
	if (db->place < 0)
		return;
	check_child(db, INTRACKER_DELIVERER);
	if (!check_child(db, INTRACKER_PUBLISHER))
		return;
	intracker_place_set_publisher_state(db->place, PUBLISHER_STOPPED);
	switch (intracker_place_left(db->place))
	{
		case PUBLISHER_STAYED:
			return;
		case PUBLISHER_LEFT_NO_EXTENSION:
			/* (it may have looked just before the extension was created) */
			db->prospect = db->announced ? PROSPECT_SERVE : PROSPECT_NO_EXTENSION;
			break;
		case PUBLISHER_LEFT_OVER_LIMIT:
			db->prospect = PROSPECT_OVER_LIMIT;
			if (!db->warned_over)
				ereport(WARNING,
						(errmsg("intracker: database \"%s\" is not served: intracker.max_databases (%d) databases are",
								db->name, intracker_max_databases),
						 errdetail("Its events are published when read, without NOTIFY, and its webhooks wait, "
								   "until another database stops being served."),
						 errhint("Raise intracker.max_databases (and max_worker_processes) and restart the server.")));
			db->warned_over = true;
			break;
	}
	/* it left for good: when it is looked into again, it starts at once */
	for (int i = 0; i < INTRACKER_CHILDREN; i++)
	{
		db->children[i].restart_at = 0;
		db->children[i].pause_ms = 500;
	}
	if (db->children[INTRACKER_DELIVERER].handle != NULL)
		TerminateBackgroundWorker(db->children[INTRACKER_DELIVERER].handle);
}

/*
 * Start what the database needs, when it may: a place, the publisher,
 * the deliverer once the publisher serves.  Sets *wait_ms to the next
 * restart due.
 */
static void
start_children(Database *db, long *wait_ms)
{
	TimestampTz now = GetCurrentTimestamp();

	if (db->place < 0 && (db->place = intracker_place_take(db->dboid)) < 0)
		return;					/* every place is taken: one is given back soon */
	for (int i = 0; i < INTRACKER_CHILDREN; i++)
	{
		Child	   *child = &db->children[i];

		if (child->handle != NULL)
			continue;
		if (i == INTRACKER_DELIVERER)
		{
			if (!intracker_place_serving(db->place))
				continue;
			db->served = true;
		}
		if (child->restart_at > now)
		{
			*wait_ms = Min(*wait_ms, intracker_ms_until(child->restart_at));
			continue;
		}
		if (i == INTRACKER_PUBLISHER)
		{
			intracker_place_set_publisher_state(db->place, PUBLISHER_STARTING);
			db->announced = false;
		}
		if (start_child(db, (IntrackerChild) i))
			child->warned_no_room = false;
		else
		{
			if (!child->warned_no_room)
				ereport(WARNING,
						(errmsg("intracker: could not start the %s of database \"%s\"",
								child_types[i] + strlen("intracker "), db->name),
						 errdetail("max_worker_processes (%d) background workers run already; it is tried again every minute.",
								   max_worker_processes),
						 errhint("Raise max_worker_processes, or lower intracker.max_databases.")));
			child->warned_no_room = true;
			child->restart_at = TimestampTzPlusMilliseconds(now, MAX_PAUSE_MS);
			*wait_ms = Min(*wait_ms, MAX_PAUSE_MS);
		}
	}
}

/* Say once that a named database is missing or closed; false while it is. */
static bool
named_database_ready(Database *db)
{
	if (!db->exists)
	{
		if (!db->warned_missing)
			ereport(WARNING,
					(errmsg("intracker: database \"%s\" does not exist", db->name),
					 errdetail("Events are published when read, without NOTIFY, and webhooks wait, until it does."),
					 errhint("Create the database or set intracker.database and restart the server.")));
		db->warned_missing = true;
		return false;
	}
	db->warned_missing = false;
	if (!db->accepting)
	{
		if (!db->warned_closed)
			ereport(WARNING,
					(errmsg("intracker: database \"%s\" does not accept connections", db->name),
					 errdetail("Events wait in the outbox and webhooks wait until it does."),
					 errhint("ALTER DATABASE %s ALLOW_CONNECTIONS true.", quote_identifier(db->name))));
		db->warned_closed = true;
		return false;
	}
	db->warned_closed = false;
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
 * The databases announced by CREATE or ALTER EXTENSION are looked into
 * again (all of them when announcements were lost).
 */
static void
take_announcements(void)
{
	Oid			announced[64];
	bool		overflowed;
	int			count = intracker_take_announcements(announced, lengthof(announced), &overflowed);
	ListCell   *cell;

	foreach(cell, databases)
	{
		Database   *db = lfirst(cell);

		for (int i = 0; i < count; i++)
			db->announced |= announced[i] == db->dboid;
		db->announced |= overflowed;
		if (db->announced && db->prospect == PROSPECT_NO_EXTENSION)
			db->prospect = PROSPECT_SERVE;
	}
}

/*
 * The supervisor's loop: notice children that stopped, read pg_database,
 * start what each database served needs when its pause is over, sleep
 * until the next restart, a child's start or stop, or a wake-up (a hold
 * given back, a database or an extension created).
 */
void
intracker_supervisor_main(Datum main_arg pg_attribute_unused())
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);	/* shared catalogs only */
	intracker_supervisor_attach();

	if (!intracker_serves_every_database())
	{
		ListCell   *cell;

		foreach(cell, named_databases())
			new_database(lfirst(cell), InvalidOid);
	}

	for (;;)
	{
		long		wait_ms = RESCAN_MS;
		bool		place_freed = false;
		ListCell   *cell;

		foreach(cell, databases)
			notice_stops(lfirst(cell));
		take_announcements();

		/*
		 * Holds are asked before pg_database is read: a hold is given back
		 * only once its transaction's changes (a rename, a drop) are visible,
		 * so a database not held then is read as it is.  Asked after, a
		 * rename that committed in between would be missed and its
		 * children started again under the old name's entry.
		 */
		foreach(cell, databases)
		{
			Database   *db = lfirst(cell);

			db->held = OidIsValid(db->dboid) && intracker_children_held(db->dboid);
		}
		read_databases();

		foreach(cell, databases)
		{
			Database   *db = lfirst(cell);

			/* renamed away from the list (or gone): its children go */
			if (!db->exists && running(db))
				for (int i = 0; i < INTRACKER_CHILDREN; i++)
					if (db->children[i].handle != NULL)
						TerminateBackgroundWorker(db->children[i].handle);
			/* gone, or not to be served: its place goes once its children are gone */
			if (db->place >= 0 && !running(db) && (!db->exists || db->prospect != PROSPECT_SERVE))
			{
				intracker_place_give_back(db->place);
				db->place = -1;
				place_freed |= db->served;
				db->served = false;
			}
		}
		foreach(cell, databases)
		{
			Database   *db = lfirst(cell);

			/* one that stops being served lets in those kept out by the limit */
			if (place_freed && db->prospect == PROSPECT_OVER_LIMIT)
				db->prospect = PROSPECT_SERVE;
		}

		foreach(cell, databases)
		{
			Database   *db = lfirst(cell);

			if (intracker_serves_every_database() && !db->exists && db->place < 0 && !running(db))
			{
				databases = foreach_delete_current(databases, cell);
				pfree(db);
				continue;
			}
			if (db->prospect != PROSPECT_SERVE)
				continue;
			if (intracker_serves_every_database() ? !db->exists || !db->accepting : !named_database_ready(db))
				continue;
			/* a backend is dropping (or updating) what they serve: its transaction's end wakes us */
			if (!running(db) && db->held)
			{
				wait_ms = Min(wait_ms, HOLD_RECHECK_MS);
				continue;
			}
			start_children(db, &wait_ms);
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
		case CHILD_NO_PLACE:
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
