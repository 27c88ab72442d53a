/*-------------------------------------------------------------------------
 *
 * schema.h
 *	  Is intracker's schema installed here, at which version (schema.c)?
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_SCHEMA_H
#define INTRACKER_SCHEMA_H

extern const char *intracker_missing_schema(const char *relname);
extern Oid	intracker_data_relid(const char *relname);
extern bool intracker_counters_versioned(void);

/*
 * The ORDER BY that makes a LIMIT 1 lookup of a member's member_load rows
 * (as "x") find the live one when the rows are versioned: the newest
 * generation, by a backward scan of the primary key (70_assignment.sql).
 * A database still at 0.5 has one row per member and no such column: its
 * lookups go without.
 */
#define INTRACKER_NEWEST_LOAD_ORDER "ORDER BY x.generation DESC"

#endif							/* INTRACKER_SCHEMA_H */
