/*-------------------------------------------------------------------------
 *
 * secret_util.c
 *	  Hashes, MACs, random strings and comparisons for secrets: API tokens
 *	  (api_token.c) and JWTs (jwt.c).  PostgreSQL's own implementations
 *	  (common/cryptohash.h, common/hmac.h, pg_strong_random), so intracker
 *	  needs no crypto library of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"

#include "secret_util.h"

/* SHA-256 of data into digest */
void
intracker_sha256(const void *data, size_t len, uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
	{
		const char *why = ctx ? pg_cryptohash_error(ctx) : "out of memory";

		pg_cryptohash_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not compute a SHA-256 hash: %s", why)));
	}
	pg_cryptohash_free(ctx);
}

/* HMAC-SHA-256 of data with key into mac */
void
intracker_hmac_sha256(const char *key, size_t key_len, const void *data, size_t len,
					  uint8 mac[PG_SHA256_DIGEST_LENGTH])
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL ||
		pg_hmac_init(ctx, (const uint8 *) key, key_len) < 0 ||
		pg_hmac_update(ctx, data, len) < 0 ||
		pg_hmac_final(ctx, mac, PG_SHA256_DIGEST_LENGTH) < 0)
	{
		const char *why = ctx ? pg_hmac_error(ctx) : "out of memory";

		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not compute an HMAC-SHA-256: %s", why)));
	}
	pg_hmac_free(ctx);
}

/*
 * Are two secrets (or their hashes) equal?  In time that depends only on
 * len, not on where they first differ, so that timing a guess tells an
 * attacker nothing about how close it came.
 */
bool
intracker_secrets_equal(const uint8 *a, const uint8 *b, size_t len)
{
	volatile uint8 difference = 0;

	for (size_t i = 0; i < len; i++)
		difference |= a[i] ^ b[i];
	return difference == 0;
}

/*
 * len random characters from [0-9A-Za-z] into dst (not terminated), from
 * the strong random source.  Letters and digits only, so that a
 * double-click selects a whole token.  Bytes that would bias the draw
 * (248 and above: 248 = 4 * 62) are drawn again.
 */
void
intracker_random_alphanumerics(char *dst, int len)
{
	static const char alphabet[] = INTRACKER_ALPHANUMERICS;
	int			filled = 0;

	while (filled < len)
	{
		uint8		bytes[64];

		if (!pg_strong_random(bytes, sizeof(bytes)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random bytes")));
		for (int i = 0; i < (int) sizeof(bytes) && filled < len; i++)
		{
			if (bytes[i] < 248)
				dst[filled++] = alphabet[bytes[i] % 62];
		}
	}
}
