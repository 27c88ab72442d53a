/*-------------------------------------------------------------------------
 *
 * signature.c
 *	  HMAC-SHA256 signatures of webhook bodies, GitHub's scheme.
 *
 * Outgoing webhooks carry "X-Intracker-Signature-256: sha256=<hex>"; inbound
 * GitHub deliveries carry the same form in X-Hub-Signature-256.  Both use
 * PostgreSQL's own HMAC (common/hmac.h: OpenSSL when the server was built
 * with it), so no extra library is needed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/resowner.h"

#include "signature.h"

/*
 * Write "sha256=" and the hex HMAC-SHA256 of body under secret into out
 * (INTRACKER_SIGNATURE_LEN + 1 bytes).  Errors only for a broken crypto
 * library.
 *
 * With OpenSSL, an HMAC context is tracked by the current resource owner;
 * the deliverer signs outside any transaction, where there is none, so it
 * gets one of its own for the moment.
 */
void
intracker_sign(const char *secret, size_t secret_len, const char *body, size_t body_len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	static ResourceOwner signing_owner = NULL;
	ResourceOwner saved_owner = CurrentResourceOwner;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_hmac_ctx *ctx;

	if (CurrentResourceOwner == NULL)
	{
		if (signing_owner == NULL)
			signing_owner = ResourceOwnerCreate(NULL, "intracker signing");
		CurrentResourceOwner = signing_owner;
	}
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create an HMAC-SHA256 context.")));
	if (pg_hmac_init(ctx, (const uint8 *) secret, secret_len) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) body, body_len) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
	{
		char	   *problem = pstrdup(pg_hmac_error(ctx));

		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("could not compute HMAC-SHA256: %s", problem)));
	}
	pg_hmac_free(ctx);
	CurrentResourceOwner = saved_owner;

	memcpy(out, "sha256=", 7);
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		out[7 + 2 * i] = hex[digest[i] >> 4];
		out[7 + 2 * i + 1] = hex[digest[i] & 0x0f];
	}
	out[INTRACKER_SIGNATURE_LEN] = '\0';
}

/*
 * intracker_data.signature_matches(secret text, body text, signature text)
 *
 * The comparison takes the same time wherever the first difference is, so
 * a caller cannot learn the right signature byte by byte.
 */
PG_FUNCTION_INFO_V1(intracker_signature_matches);
Datum
intracker_signature_matches(PG_FUNCTION_ARGS)
{
	text	   *secret;
	text	   *body;
	text	   *signature;
	char		expected[INTRACKER_SIGNATURE_LEN + 1];
	const char *given;
	unsigned char difference = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_BOOL(false);
	secret = PG_GETARG_TEXT_PP(0);
	body = PG_GETARG_TEXT_PP(1);
	signature = PG_GETARG_TEXT_PP(2);

	if (VARSIZE_ANY_EXHDR(signature) != INTRACKER_SIGNATURE_LEN)
		PG_RETURN_BOOL(false);
	intracker_sign(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret),
				   VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), expected);
	given = VARDATA_ANY(signature);
	for (int i = 0; i < INTRACKER_SIGNATURE_LEN; i++)
		difference |= (unsigned char) (expected[i] ^ given[i]);
	PG_RETURN_BOOL(difference == 0);
}
