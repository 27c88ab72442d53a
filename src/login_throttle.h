/*-------------------------------------------------------------------------
 *
 * login_throttle.h
 *	  Failed logins per email, in shared memory (login_throttle.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_LOGIN_THROTTLE_H
#define INTRACKER_LOGIN_THROTTLE_H

#include "datatype/timestamp.h"

extern void LoginThrottleInit(void);
extern bool intracker_login_throttle_available(void);
extern uint64 intracker_login_key(const char *email);
extern bool intracker_login_locked(uint64 key, TimestampTz *until);
extern void intracker_login_failed(uint64 key);
extern void intracker_login_succeeded(uint64 key);

#endif							/* INTRACKER_LOGIN_THROTTLE_H */
