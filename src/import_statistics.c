/*-------------------------------------------------------------------------
 *
 * import_statistics.c
 *	  Statistics for a team's first large import.
 *
 * Right after the first large import into todos that were never analyzed,
 * the planner has no statistics, and the context queries' plans sort each
 * member's whole history instead of walking the open-todos indexes:
 * team_context of 100,000 imported todos took 110 ms instead of 1.7 ms,
 * resume_context 19 ms instead of 0.75 ms, until autovacuum analyzed the
 * table a minute or so later (test/bench/first_import.sh).  So a statement
 * that inserts IMPORT_ROWS rows or more into a table that was never
 * analyzed or vacuumed (reltuples < 0) analyzes it before it ends.  It
 * happens once per table: afterwards it has statistics, which autovacuum
 * keeps up to date.
 *
 * ANALYZE runs in the importing transaction, as the table's owner
 * (owner_context.c): it counts the transaction's own new rows as live, and
 * if the import rolls back, so do the statistics.  It is skipped when its
 * lock (SHARE UPDATE EXCLUSIVE, which only VACUUM, ANALYZE and DDL take)
 * is not free at once: two imports never wait for each other here, and
 * autovacuum will do it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "import_statistics.h"
#include "owner_context.h"
#include "spi_util.h"

#define IMPORT_ROWS 1000

/* An AFTER INSERT statement trigger's rel and number of new rows. */
void
intracker_analyze_first_import(Relation rel, int64 rows)
{
	OwnerContext saved;
	char	   *command;

	if (rows < IMPORT_ROWS || rel->rd_rel->reltuples >= 0)
		return;
	if (!ConditionalLockRelation(rel, ShareUpdateExclusiveLock))
		return;
	command = psprintf("ANALYZE %s",
					   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												  RelationGetRelationName(rel)));
	intracker_become_owner(rel, &saved);
	intracker_spi_connect();
	intracker_spi_expect(SPI_execute(command, false, 0), SPI_OK_UTILITY, "analyze a first import");
	SPI_finish();
	intracker_restore_user(&saved);
}
