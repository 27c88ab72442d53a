/*-------------------------------------------------------------------------
 *
 * progress_counters.h
 *	  The progress counter tables: written by progress_counters.c, read by
 *	  progress_reads.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_PROGRESS_COUNTERS_H
#define INTRACKER_PROGRESS_COUNTERS_H

/*
 * The writer slots: a writer adds to the slot of its backend, so concurrent
 * writers of one project rarely share a counter row.  The tables' CHECKs
 * (slot 0 to 7, 40_features_todos.sql) agree: readers visit exactly these.
 */
#define PROGRESS_SLOTS 8

typedef enum CounterKind
{
	PROJECT_COUNTER,			/* project_stats */
	DAY_COUNTER,				/* project_daily_done */
	FEATURE_COUNTER,			/* feature_stats */
	NUM_COUNTER_KINDS
} CounterKind;

/*
 * A counter table of intracker_data: its rows' key (key, and for a day the
 * day; then slot and generation: the primary key), its counters, and the
 * parent whose deletion takes the rows along.
 */
typedef struct CounterTable
{
	const char *table;
	const char *key;
	bool		by_day;
	const char *parent;
	int			num_counters;
	const char *counters[3];
} CounterTable;

extern const CounterTable intracker_counter_tables[NUM_COUNTER_KINDS];

#endif							/* INTRACKER_PROGRESS_COUNTERS_H */
