/*-------------------------------------------------------------------------
 *
 * password.h
 *	  Users' passwords: strength rules and SCRAM-SHA-256 secrets
 *	  (password.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_PASSWORD_H
#define INTRACKER_PASSWORD_H

extern bool intracker_password_matches(const char *password, const char *secret);

#endif							/* INTRACKER_PASSWORD_H */
