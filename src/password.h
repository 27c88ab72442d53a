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

/* longer passwords are refused (set_password) or fail (login) before any work */
#define PASSWORD_MAX_BYTES 1024

extern bool intracker_password_matches(const char *password, const char *secret);

#endif							/* INTRACKER_PASSWORD_H */
