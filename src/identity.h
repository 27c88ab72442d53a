/*-------------------------------------------------------------------------
 *
 * identity.h
 *	  Who is acting (identity.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_IDENTITY_H
#define INTRACKER_IDENTITY_H

#include "utils/uuid.h"

/* the role whose members provision users and act for them */
#define INTRACKER_ADMIN_ROLE "intracker_admin"

extern void IdentityInit(void);
extern bool intracker_acting_user(pg_uuid_t *user_id);
extern void intracker_set_identity(const char *user_text, const char *credential);
extern bool intracker_uuid_from_text(const char *text, pg_uuid_t *uuid);
extern void intracker_require_writable_identity(void);
extern bool intracker_caller_is_admin(void);

#endif							/* INTRACKER_IDENTITY_H */
