/*-------------------------------------------------------------------------
 *
 * secret_util.h
 *	  Hashes, MACs, random strings and comparisons for secrets
 *	  (secret_util.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_SECRET_UTIL_H
#define INTRACKER_SECRET_UTIL_H

#include "common/sha2.h"

/* what intracker_random_alphanumerics draws from (62 characters) */
#define INTRACKER_ALPHANUMERICS "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

extern void intracker_sha256(const void *data, size_t len, uint8 digest[PG_SHA256_DIGEST_LENGTH]);
extern void intracker_hmac_sha256(const char *key, size_t key_len, const void *data, size_t len,
								  uint8 mac[PG_SHA256_DIGEST_LENGTH]);
extern bool intracker_secrets_equal(const uint8 *a, const uint8 *b, size_t len);
extern void intracker_random_alphanumerics(char *dst, int len);

#endif							/* INTRACKER_SECRET_UTIL_H */
