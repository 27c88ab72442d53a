/*-------------------------------------------------------------------------
 *
 * events.h
 *	  Change events (events.c): the outbox trigger's set-up, and the
 *	  record of rejected writes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_EVENTS_H
#define INTRACKER_EVENTS_H

#include "access/htup.h"
#include "utils/relcache.h"

extern void EventsInit(void);
extern void intracker_note_rejected_write(Relation rel, const char *entity, HeapTuple old_row,
										  bool has_attempted, int32 attempted, int32 current,
										  int sqlerrcode);

#endif							/* INTRACKER_EVENTS_H */
