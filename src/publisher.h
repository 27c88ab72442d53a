/*-------------------------------------------------------------------------
 *
 * publisher.h
 *	  The publisher (publisher.c): its settings.  Its entry point,
 *	  intracker_publisher_main, is found by name by the supervisor.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_PUBLISHER_H
#define INTRACKER_PUBLISHER_H

extern void PublisherInit(void);

#endif							/* INTRACKER_PUBLISHER_H */
