/*-------------------------------------------------------------------------
 *
 * child_settings.c
 *	  The settings the publisher and the deliverer run with: the server's,
 *	  never those of their database, with a few pinned on top.
 *
 * The children (supervisor.h) connect to the databases they serve as the
 * bootstrap superuser, and connecting applies that database's settings
 * (pg_db_role_setting: ALTER DATABASE ... SET, ALTER ROLE ALL IN DATABASE
 * ... SET), which are in the hands of the database's owner, who need not be
 * a superuser.  Left alone, they would decide how the processes' SQL is
 * read and run: search_path first (with the owner's schema first, an
 * unqualified operator in a statement of theirs runs the owner's function
 * as superuser), but also role (the processes would run as that role),
 * default_transaction_read_only, default_transaction_isolation,
 * statement_timeout and lock_timeout (publication stops), TimeZone,
 * DateStyle, IntervalStyle and extra_float_digits (the text of webhook
 * bodies), standard_conforming_strings, array_nulls, transform_null_equals
 * (the meaning of SQL text), plpgsql.* ...
 *
 * So, one rule instead of a list that would always miss one: before
 * connecting, each child remembers the value the server gives every
 * setting that any user may change (PGC_USERSET: postgresql.conf, ALTER
 * SYSTEM, the command line); after connecting, every one of them that
 * pg_db_role_setting changed gets that value back, and the child logs
 * which.  Superuser-only settings stored there still apply: only a
 * superuser, or a role a superuser granted SET on them, can have stored
 * them.  client_encoding is left as connecting sets it (the database's
 * encoding): a process has no client.  plpgsql is loaded before the
 * remembering, so that its settings are among those remembered rather than
 * placeholders that would take the database's value when it loads.
 *
 * Then some settings are pinned, whatever the server's configuration:
 *
 *	 search_path = pg_catalog, pg_temp
 *		Defence in depth: the SQL text the processes run from C
 *		(publication.c, publisher.c, deliveries.c) schema-qualifies every
 *		function, type and operator (OPERATOR(pg_catalog.=)) as well, and
 *		intracker's SQL functions pin their own path.  The pin covers what
 *		text cannot: statements of the triggers that fire on the processes'
 *		writes (events.c), and statements added later.
 *	 jit = off
 *		Their short statements run thousands of times, and JIT would
 *		compile them on every call once the tables grow.
 *	 statement_timeout = 0, lock_timeout = 0
 *		As autovacuum does: a timeout meant for users' sessions would fail
 *		a round that is merely slow, and the same round on every retry.
 *		Whoever needs the processes out of the way (DROP DATABASE, DROP or
 *		ALTER EXTENSION) stops them (supervisor.c).
 *	 default_transaction_isolation = read committed
 *		publication.c reads the last seq after taking its lock on the
 *		events; a transaction snapshot, taken before, could be older.
 *	 intracker.acting_user = ''
 *		The processes act for nobody: what they cause (a created GitHub
 *		issue stored on its todo) has no actor, whatever ALTER ROLE ... SET
 *		gave the bootstrap superuser.
 *
 * Values given back or pinned are set with PGC_S_OVERRIDE, so a
 * configuration reload does not change them in a running process (a new
 * one takes the server's new values); SET, and the SET clauses of
 * functions, still work.
 *
 * Why the processes stay the bootstrap superuser instead of running their
 * statements as the extension's owner (pg_extension.extowner): intracker
 * is superuser-only (superuser = true, trusted = false in the control
 * file), so its owner is the superuser who created it and owns every
 * object the processes touch; switching to that role would lower nothing.
 * What keeps users out is that nothing a non-superuser can create or change
 * is reached: no path, setting, operator or type of theirs, and no TRIGGER
 * or REFERENCES privilege on intracker's tables for anyone but their owner
 * (src/sql/99_privileges.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/memutils.h"

#include "child_settings.h"

/* A setting any user may change, and the value the server gives it. */
typedef struct ServerSetting
{
	struct config_generic *var; /* stays put when the array is resorted */
	char	   *value;
} ServerSetting;

static ServerSetting *server_settings = NULL;
static int	n_server_settings = 0;

/* Pinned whatever the configuration says (see the header for why). */
static const struct
{
	const char *name;
	const char *value;
}			pinned_settings[] =
{
	{"search_path", "pg_catalog, pg_temp"},
	{"jit", "off"},
	{"statement_timeout", "0"},
	{"lock_timeout", "0"},
	{"default_transaction_isolation", "read committed"},
	{"intracker.acting_user", ""},
};

/* A setting's current value as text that sets it again exactly (NULL: none). */
static char *
setting_text(struct config_generic *var)
{
	switch (var->vartype)
	{
		case PGC_BOOL:
			return pstrdup(*((struct config_bool *) var)->variable ? "on" : "off");
		case PGC_INT:
			/* in the setting's base unit, which is how a number without one is read */
			return psprintf("%d", *((struct config_int *) var)->variable);
		case PGC_REAL:
			return psprintf("%.17g", *((struct config_real *) var)->variable);
		case PGC_STRING:
			{
				char	   *value = *((struct config_string *) var)->variable;

				return value ? pstrdup(value) : NULL;
			}
		case PGC_ENUM:
			{
				struct config_enum *e = (struct config_enum *) var;

				return pstrdup(config_enum_lookup_by_value(e, *e->variable));
			}
	}
	return NULL;
}

/*
 * Before connecting to the database: load plpgsql, then remember the value
 * the server gives every setting that any user may change.
 */
void
intracker_remember_server_settings(void)
{
	struct config_generic **vars;
	int			n;
	MemoryContext old;

	load_file("plpgsql", false);

	old = MemoryContextSwitchTo(TopMemoryContext);
	vars = get_guc_variables();
	n = GetNumConfigOptions();
	server_settings = palloc(sizeof(ServerSetting) * n);
	for (int i = 0; i < n; i++)
	{
		struct config_generic *var = vars[i];
		char	   *value;

		if (var->context != PGC_USERSET || (var->flags & GUC_CUSTOM_PLACEHOLDER) ||
			strcmp(var->name, "client_encoding") == 0)
			continue;
		value = setting_text(var);
		if (value == NULL)
			continue;
		server_settings[n_server_settings].var = var;
		server_settings[n_server_settings].value = value;
		n_server_settings++;
	}
	MemoryContextSwitchTo(old);
}

/*
 * After connecting: give back the server's value of every setting the
 * database or role changed, say which, and pin the settings that must not
 * depend on the configuration.  process names the process in the log.
 */
void
intracker_settle_child_settings(const char *process)
{
	StringInfoData ignored;

	initStringInfo(&ignored);
	for (int i = 0; i < n_server_settings; i++)
	{
		struct config_generic *var = server_settings[i].var;

		if (var->source != PGC_S_GLOBAL && var->source != PGC_S_DATABASE &&
			var->source != PGC_S_USER && var->source != PGC_S_DATABASE_USER)
			continue;
		SetConfigOption(var->name, server_settings[i].value, PGC_SUSET, PGC_S_OVERRIDE);
		appendStringInfo(&ignored, "%s%s", ignored.len > 0 ? ", " : "", var->name);
	}
	if (ignored.len > 0)
		ereport(LOG,
				(errmsg("%s ignores the per-database and per-role values of %s", process, ignored.data),
				 errdetail("Settings that any user may change take the server's values in intracker's processes.")));
	pfree(ignored.data);

	for (size_t i = 0; i < lengthof(pinned_settings); i++)
		SetConfigOption(pinned_settings[i].name, pinned_settings[i].value, PGC_SUSET, PGC_S_OVERRIDE);
}
