/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  SPI helpers (spi_util.c): connect, check result codes, kept plans
 *	  (by variable, or by text),
 *	  result columns read by name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_SPI_UTIL_H
#define INTRACKER_SPI_UTIL_H

#include "executor/spi.h"

extern void intracker_spi_connect(void);
extern void intracker_spi_expect(int ret, int expected, const char *what);
extern SPIPlanPtr intracker_kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
									  int cursor_options);
extern SPIPlanPtr intracker_plan_for_text(const char *sql, int nargs, Oid *argtypes);
extern int	intracker_column_number(TupleDesc tupdesc, const char *name);
extern Datum intracker_result_datum(SPITupleTable *result, uint64 row, const char *name, bool *isnull);
extern char *intracker_result_text(SPITupleTable *result, uint64 row, const char *name);

#endif							/* INTRACKER_SPI_UTIL_H */
