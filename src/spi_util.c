/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  SPI helpers: connecting, checking result codes, plans kept per
 *	  process, and reading result columns by name.
 *
 * SPI reports a failing statement by raising its error; the result codes
 * checked here only say that SPI itself was misused, which cannot happen
 * in correct code, hence elog rather than ereport.
 *
 * Kept plans: the triggers, the publisher, the deliverer and the context
 * documents run a few fixed statements many times.  Each is prepared on
 * first use and kept (SPI_keepplan); the plan cache replans it when a table
 * it uses changes, or is dropped and created again with the extension.
 *
 * Columns by name: C code never reads a result column by its position, so
 * that reordering a select list cannot silently make it read another
 * column.  A missing name is a programming error and fails loudly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/memutils.h"

#include "spi_util.h"

/* SPI_connect, which can only fail when SPI is misused. */
void
intracker_spi_connect(void)
{
	int			ret = SPI_connect();

	if (ret != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(ret));
}

/*
 * Check the result code of an SPI call: ret must be expected.  what says
 * what the statement was doing ("publish events"), for the message.
 */
void
intracker_spi_expect(int ret, int expected, const char *what)
{
	if (ret != expected)
		elog(ERROR, "could not %s: %s", what, SPI_result_code_string(ret));
}

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

/*
 * The plan of a query whose text is built at run time from a few fixed
 * variants (an entity's table, an action's name, the fields of an update),
 * kept for the session at its first use and found again by its text.  At
 * most MAX_TEXT_PLANS texts are kept (a session meets a few dozen); a text
 * beyond is prepared for the current SPI connection only.
 */
#define MAX_TEXT_PLANS 128

typedef struct TextPlan
{
	char	   *sql;
	SPIPlanPtr	plan;
} TextPlan;

static TextPlan text_plans[MAX_TEXT_PLANS];
static int	num_text_plans = 0;

SPIPlanPtr
intracker_plan_for_text(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	for (int i = 0; i < num_text_plans; i++)
		if (strcmp(text_plans[i].sql, sql) == 0)
			return text_plans[i].plan;
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (num_text_plans == MAX_TEXT_PLANS)
		return plan;
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep the plan of \"%s\"", sql);
	text_plans[num_text_plans].sql = MemoryContextStrdup(TopMemoryContext, sql);
	text_plans[num_text_plans++].plan = plan;
	return plan;
}

/*
 * The attribute number of column name in tupdesc (a query's result or a
 * trigger's relation); an error when there is none.
 */
int
intracker_column_number(TupleDesc tupdesc, const char *name)
{
	int			attnum = SPI_fnumber(tupdesc, name);

	if (attnum <= 0)
		elog(ERROR, "no column \"%s\" where intracker expects one", name);
	return attnum;
}

/* Column name of row `row` of an SPI result, as a Datum. */
Datum
intracker_result_datum(SPITupleTable *result, uint64 row, const char *name, bool *isnull)
{
	return SPI_getbinval(result->vals[row], result->tupdesc,
						 intracker_column_number(result->tupdesc, name), isnull);
}

/*
 * Column name of row `row` of an SPI result, in its text form, palloc'd in
 * the current memory context; NULL for SQL NULL.
 */
char *
intracker_result_text(SPITupleTable *result, uint64 row, const char *name)
{
	return SPI_getvalue(result->vals[row], result->tupdesc,
						intracker_column_number(result->tupdesc, name));
}
