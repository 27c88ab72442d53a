/*-------------------------------------------------------------------------
 *
 * import_statistics.h
 *	  Statistics for a team's first large import (import_statistics.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_IMPORT_STATISTICS_H
#define INTRACKER_IMPORT_STATISTICS_H

#include "utils/relcache.h"

extern void intracker_analyze_first_import(Relation rel, int64 rows);

#endif							/* INTRACKER_IMPORT_STATISTICS_H */
