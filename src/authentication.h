/*-------------------------------------------------------------------------
 *
 * authentication.h
 *	  API tokens, passwords, login and authenticate (authentication.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_AUTHENTICATION_H
#define INTRACKER_AUTHENTICATION_H

extern void AuthenticationInit(void);

#endif							/* INTRACKER_AUTHENTICATION_H */
