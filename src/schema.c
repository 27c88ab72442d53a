/*-------------------------------------------------------------------------
 *
 * schema.c
 *	  Is intracker's schema, at a given version, installed in this
 *	  database?
 *
 * The publisher and the deliverer run in the databases intracker.database
 * names whether or not the extension was created there (with '*', the
 * publisher leaves a database without it), and the publisher of a
 * database still at an older version must not touch tables it does not
 * have yet.  Before a round, they ask here, and wait quietly while the
 * answer is no.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/extension.h"
#include "utils/lsyscache.h"

#include "schema.h"

/*
 * Is a version of intracker with table intracker_data.<relname> installed
 * here?  NULL if so, otherwise what is missing.  The publisher needs the
 * outbox (0.4), the deliverer and the fan-out the deliveries (0.5), the
 * pruning of read notifications the notifications (0.6).
 */
const char *
intracker_missing_schema(const char *relname)
{
	if (!OidIsValid(get_extension_oid("intracker", true)))
		return "CREATE EXTENSION intracker";
	if (!OidIsValid(intracker_data_relid(relname)))
		return "ALTER EXTENSION intracker UPDATE";
	return NULL;
}

/* The relation intracker_data.<relname>, or InvalidOid when there is none. */
Oid
intracker_data_relid(const char *relname)
{
	Oid			nspid = get_namespace_oid("intracker_data", true);

	return OidIsValid(nspid) ? get_relname_relid(relname, nspid) : InvalidOid;
}

/*
 * Are the counters' rows versioned (0.6 on: the generation column of
 * member_load and of the progress counters, added by one update)?  A
 * database still at 0.5 runs this library's triggers and functions until
 * ALTER EXTENSION UPDATE, on rows updated in place.
 */
bool
intracker_counters_versioned(void)
{
	Oid			relid = intracker_data_relid("member_load");

	return OidIsValid(relid) && get_attnum(relid, "generation") != InvalidAttrNumber;
}
