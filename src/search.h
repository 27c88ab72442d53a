/*-------------------------------------------------------------------------
 *
 * search.h
 *	  The setting of full-text search (search.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_SEARCH_H
#define INTRACKER_SEARCH_H

extern void SearchInit(void);

#endif							/* INTRACKER_SEARCH_H */
