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

extern int	intracker_publish_pending(int max_events, bool send_notify, int *deliveries_queued);

#endif							/* INTRACKER_PUBLICATION_H */
