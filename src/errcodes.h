/*-------------------------------------------------------------------------
 *
 * errcodes.h
 *	  SQLSTATEs of intracker's public API.
 *
 * PostgREST answers a PTxyz error with HTTP status xyz, so each code is
 * also the status a REST client sees.  Other errors use PostgreSQL's own
 * codes (utils/errcodes.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_ERRCODES_H
#define INTRACKER_ERRCODES_H

#define ERRCODE_INTRACKER_UNAUTHENTICATED		MAKE_SQLSTATE('P','T','4','0','1')
#define ERRCODE_INTRACKER_NOT_FOUND				MAKE_SQLSTATE('P','T','4','0','4')
#define ERRCODE_INTRACKER_VERSION_CONFLICT		MAKE_SQLSTATE('P','T','4','0','9')
#define ERRCODE_INTRACKER_PRECONDITION_FAILED	MAKE_SQLSTATE('P','T','4','1','2')
#define ERRCODE_INTRACKER_TOO_MANY_REQUESTS		MAKE_SQLSTATE('P','T','4','2','9')

#endif							/* INTRACKER_ERRCODES_H */
