/*-------------------------------------------------------------------------
 *
 * child_settings.h
 *	  The settings the publisher and the deliverer run with
 *	  (child_settings.c): the server's, never their database's, with a few
 *	  pinned.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_CHILD_SETTINGS_H
#define INTRACKER_CHILD_SETTINGS_H

extern void intracker_remember_server_settings(void);
extern void intracker_settle_child_settings(const char *process);

#endif							/* INTRACKER_CHILD_SETTINGS_H */
