/*-------------------------------------------------------------------------
 *
 * signature.h
 *	  HMAC-SHA256 signatures of webhook bodies (signature.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_SIGNATURE_H
#define INTRACKER_SIGNATURE_H

/* "sha256=" + 64 hex digits */
#define INTRACKER_SIGNATURE_LEN		71

extern void intracker_sign(const char *secret, size_t secret_len, const char *body, size_t body_len,
						   char *out);

#endif							/* INTRACKER_SIGNATURE_H */
