/*-------------------------------------------------------------------------
 *
 * schema.h
 *	  Is intracker's schema installed here (schema.c)?
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_SCHEMA_H
#define INTRACKER_SCHEMA_H

extern const char *intracker_missing_schema(const char *relname);

#endif							/* INTRACKER_SCHEMA_H */
