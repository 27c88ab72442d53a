/*-------------------------------------------------------------------------
 *
 * publication.h
 *	  Publishing outbox events (publication.c): by the publisher, and by
 *	  readers where no publisher runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_PUBLICATION_H
#define INTRACKER_PUBLICATION_H

extern int	intracker_publish_pending(int max_events, bool send_notify, int64 skip_id, int *deliveries_queued);
extern int64 intracker_next_pending_event(void);
extern void intracker_dead_letter_event(int64 outbox_id, const char *sqlstate, const char *message);

#endif							/* INTRACKER_PUBLICATION_H */
