/*-------------------------------------------------------------------------
 *
 * kept_plan.c
 *	  SPI plans prepared once per process and kept.
 *
 * The triggers, the publisher and the context documents run a few fixed
 * statements many times.  Each is prepared on first use and kept
 * (SPI_keepplan); the plan cache replans it when a table it uses changes,
 * or is dropped and created again with the extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "intracker.h"

/*
 * *plan, preparing sql into it first if it is still NULL.  cursor_options
 * as for SPI_prepare_cursor (0, or CURSOR_OPT_GENERIC_PLAN for a plan that
 * is generic from the first call).
 */
SPIPlanPtr
intracker_kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, int cursor_options)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

		if (prepared == NULL || SPI_keepplan(prepared) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		*plan = prepared;
	}
	return *plan;
}
