/*-------------------------------------------------------------------------
 *
 * jwt.c
 *	  HS256 JSON Web Tokens (RFC 7519), signed and verified the way
 *	  PostgREST verifies them with its jwt-secret, so that a token from
 *	  intracker.login() works both through PostgREST and with
 *	  intracker.authenticate().
 *
 * Verification accepts only what intracker could have signed: three
 * base64url segments without padding, a header whose "alg" is exactly
 * HS256 ("none" and every other algorithm refused: the algorithm is never
 * chosen by the token), "typ" absent or JWT, no "crit" extension, a
 * 32-byte signature that matches (compared in constant time), a payload
 * object with a string "sub" and a numeric "exp".  The caller judges the
 * times.  Any failure is the same false: the caller's error must not say
 * which check failed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>
#include <math.h>

#include "lib/stringinfo.h"

#include "json_document.h"
#include "jwt.h"
#include "secret_util.h"

/* longer tokens are refused before any work (PostgREST's are ~200 bytes) */
#define JWT_MAX_LENGTH 4096

static const char base64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Append len bytes to buf as base64url without padding (RFC 7515, 2). */
static void
append_base64url(StringInfo buf, const uint8 *data, size_t len)
{
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		group = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];

		appendStringInfoChar(buf, base64url_alphabet[(group >> 18) & 63]);
		appendStringInfoChar(buf, base64url_alphabet[(group >> 12) & 63]);
		appendStringInfoChar(buf, base64url_alphabet[(group >> 6) & 63]);
		appendStringInfoChar(buf, base64url_alphabet[group & 63]);
	}
	if (len - i == 1)
	{
		uint32		group = data[i] << 16;

		appendStringInfoChar(buf, base64url_alphabet[(group >> 18) & 63]);
		appendStringInfoChar(buf, base64url_alphabet[(group >> 12) & 63]);
	}
	else if (len - i == 2)
	{
		uint32		group = (data[i] << 16) | (data[i + 1] << 8);

		appendStringInfoChar(buf, base64url_alphabet[(group >> 18) & 63]);
		appendStringInfoChar(buf, base64url_alphabet[(group >> 12) & 63]);
		appendStringInfoChar(buf, base64url_alphabet[(group >> 6) & 63]);
	}
}

/*
 * Decode len characters of unpadded base64url into buf; false for any
 * other character, a length no encoding has, or leftover bits that are not
 * zero (so that each byte string has exactly one accepted encoding).
 */
static bool
decode_base64url(const char *text, size_t len, StringInfo buf)
{
	uint32		bits = 0;
	int			nbits = 0;

	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		const char *at = memchr(base64url_alphabet, text[i], 64);

		if (text[i] == '\0' || at == NULL)
			return false;
		bits = (bits << 6) | (uint32) (at - base64url_alphabet);
		nbits += 6;
		if (nbits >= 8)
		{
			nbits -= 8;
			appendStringInfoChar(buf, (char) ((bits >> nbits) & 0xFF));
		}
	}
	return (bits & ((1u << nbits) - 1)) == 0;
}

/* A JSON number that is a whole number of seconds into *seconds. */
static bool
json_seconds(json_t *value, int64 *seconds)
{
	double		number;

	if (json_is_integer(value))
	{
		*seconds = (int64) json_integer_value(value);
		return true;
	}
	if (!json_is_real(value))
		return false;
	number = json_real_value(value);
	if (!isfinite(number) || number < 0 || number > 253402300799.0)	/* year 9999 */
		return false;
	*seconds = (int64) floor(number);
	return true;
}

typedef struct HeaderCheck
{
	bool		acceptable;
} HeaderCheck;

static void
check_header(json_t *header, void *arg)
{
	HeaderCheck *check = (HeaderCheck *) arg;
	json_t	   *alg = json_object_get(header, "alg");
	json_t	   *typ = json_object_get(header, "typ");

	check->acceptable = json_is_object(header) &&
		json_is_string(alg) && strcmp(json_string_value(alg), "HS256") == 0 &&
		(typ == NULL || (json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0)) &&
		json_object_get(header, "crit") == NULL;
}

typedef struct PayloadRead
{
	JwtClaims  *claims;
	bool		acceptable;
} PayloadRead;

static void
read_payload(json_t *payload, void *arg)
{
	PayloadRead *read = (PayloadRead *) arg;
	JwtClaims  *claims = read->claims;
	json_t	   *nbf;

	if (!json_is_object(payload))
		return;
	claims->sub = intracker_json_string_member(payload, "sub");
	claims->role = intracker_json_string_member(payload, "role");
	if (claims->sub == NULL || !json_seconds(json_object_get(payload, "exp"), &claims->exp))
		return;
	if (!json_seconds(json_object_get(payload, "iat"), &claims->iat))
		claims->iat = 0;
	nbf = json_object_get(payload, "nbf");
	claims->has_nbf = nbf != NULL;
	if (claims->has_nbf && !json_seconds(nbf, &claims->nbf))
		return;
	read->acceptable = true;
}

/* base64url(JSON header).base64url(JSON claims).base64url(HMAC-SHA-256) */
char *
intracker_jwt_sign(const JwtClaims *claims, const char *secret)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	json_t	   *payload = intracker_json_owned(intracker_json_new_object());
	char	   *payload_text;
	StringInfoData token;
	uint8		mac[PG_SHA256_DIGEST_LENGTH];

	intracker_json_put(payload, "sub", intracker_json_text(claims->sub));
	intracker_json_put(payload, "role", intracker_json_text(claims->role));
	intracker_json_put(payload, "iat", json_integer(claims->iat));
	intracker_json_put(payload, "exp", json_integer(claims->exp));
	payload_text = intracker_json_dump(payload, JSON_COMPACT);

	initStringInfo(&token);
	append_base64url(&token, (const uint8 *) header, strlen(header));
	appendStringInfoChar(&token, '.');
	append_base64url(&token, (const uint8 *) payload_text, strlen(payload_text));
	intracker_hmac_sha256(secret, strlen(secret), token.data, token.len, mac);
	appendStringInfoChar(&token, '.');
	append_base64url(&token, mac, sizeof(mac));
	return token.data;
}

/*
 * Is token an HS256 JWT signed with secret, with the claims intracker
 * needs?  Fills *claims when it is.  See the file header for what is
 * accepted.
 */
bool
intracker_jwt_verify(const char *token, const char *secret, JwtClaims *claims)
{
	size_t		len = strnlen(token, JWT_MAX_LENGTH + 1);
	const char *first_dot;
	const char *second_dot;
	StringInfoData decoded;
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	HeaderCheck header = {false};
	PayloadRead payload = {claims, false};

	memset(claims, 0, sizeof(*claims));
	if (len > JWT_MAX_LENGTH || secret == NULL || strlen(secret) < JWT_SECRET_MIN_BYTES)
		return false;
	first_dot = strchr(token, '.');
	second_dot = first_dot ? strchr(first_dot + 1, '.') : NULL;
	if (second_dot == NULL || strchr(second_dot + 1, '.') != NULL)
		return false;

	initStringInfo(&decoded);
	if (!decode_base64url(token, first_dot - token, &decoded) ||
		!intracker_json_read(decoded.data, decoded.len, JSON_REJECT_DUPLICATES, check_header, &header) ||
		!header.acceptable)
		return false;

	resetStringInfo(&decoded);
	if (!decode_base64url(second_dot + 1, token + len - (second_dot + 1), &decoded) ||
		decoded.len != PG_SHA256_DIGEST_LENGTH)
		return false;
	intracker_hmac_sha256(secret, strlen(secret), token, second_dot - token, mac);
	if (!intracker_secrets_equal(mac, (const uint8 *) decoded.data, sizeof(mac)))
		return false;

	resetStringInfo(&decoded);
	if (!decode_base64url(first_dot + 1, second_dot - (first_dot + 1), &decoded))
		return false;
	return intracker_json_read(decoded.data, decoded.len, JSON_REJECT_DUPLICATES, read_payload, &payload) &&
		payload.acceptable;
}
