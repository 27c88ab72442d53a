/*-------------------------------------------------------------------------
 *
 * request.h
 *	  The context PostgREST puts in GUCs for each request (request.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_REQUEST_H
#define INTRACKER_REQUEST_H

extern char *intracker_request_claim(const char *claim);
extern char *intracker_request_header(const char *header);

#endif							/* INTRACKER_REQUEST_H */
