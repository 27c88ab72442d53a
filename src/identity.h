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

extern void IdentityInit(void);
extern bool intracker_acting_user(pg_uuid_t *user_id);

#endif							/* INTRACKER_IDENTITY_H */
