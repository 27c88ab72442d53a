/*-------------------------------------------------------------------------
 *
 * search.c
 *	  The setting of full-text search (src/sql/98_search.sql).
 *
 * intracker.search_config names the text search configuration that
 * intracker.search() parses queries with.  The default, 'simple', is
 * language-neutral (no stemming, no stop words): a team's texts may be in
 * any language, and the indexes the extension ships are built with it.  A
 * database whose texts are in one language may choose that language's
 * configuration, and then adds indexes built with it (README, "Search").
 * The name is checked when search() uses it, not here: a GUC check hook
 * may run where the catalogs cannot be read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "search.h"

static char *search_config = NULL;

void
SearchInit(void)
{
	DefineCustomStringVariable("intracker.search_config",
							   "Text search configuration of intracker.search().",
							   "The shipped indexes use 'simple'; another configuration needs indexes of its own.",
							   &search_config, "simple",
							   PGC_USERSET, 0, NULL, NULL, NULL);
}
