/*-------------------------------------------------------------------------
 *
 * password.c
 *	  Users' passwords (intracker.set_password, intracker.login): the
 *	  strength rules, and secrets stored the way PostgreSQL stores role
 *	  passwords.
 *
 * Why SCRAM-SHA-256 and not bcrypt: it is PostgreSQL's own routine
 * (libpq/scram.h), so intracker needs no pgcrypto, and the secret is the
 * same salted, iterated (PBKDF2, 4,096 rounds), self-describing string
 * pg_authid holds ("SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:
 * <ServerKey>"): the password itself cannot be recovered from it, and a
 * stolen table costs an attacker as much per guess as stolen role
 * passwords do.  Checking a password costs the same 4,096 rounds, which is
 * also what makes an unknown email cost the same time as a wrong password
 * (intracker_password_matches with the decoy secret).
 *
 * The strength rules (documented in the README): at least 12 characters,
 * at most 1,024 bytes, at least 5 different characters, and not the
 * email's local part in any case.  Errors never repeat the password.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/memutils.h"

#include "password.h"
#include "secret_util.h"

/*
 * From libpq/scram.h, which cannot be included here: it pulls in
 * libpq-be.h and with it the GSSAPI headers of a server built with GSSAPI,
 * a build dependency for two declarations.
 */
extern char *pg_be_scram_build_secret(const char *password);
extern bool scram_verify_plain_password(const char *username, const char *password, const char *secret);

#define PASSWORD_MIN_CHARS		12
#define PASSWORD_MIN_DISTINCT	5

/* Raise 22023 unless password keeps the rules above. */
static void
check_password_strength(const char *password, const char *email)
{
	size_t		len = strlen(password);
	int			distinct = 0;
	bool		seen[256] = {false};
	const char *at = strchr(email, '@');
	size_t		local_len = at ? (size_t) (at - email) : strlen(email);

	if (len > PASSWORD_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password is too long"),
				 errdetail("A password has at most %d bytes.", PASSWORD_MAX_BYTES)));
	if (pg_mbstrlen_with_len(password, len) < PASSWORD_MIN_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password is too short"),
				 errdetail("A password has at least %d characters.", PASSWORD_MIN_CHARS),
				 errhint("Use a passphrase of several words, or a password manager's random password.")));
	for (size_t i = 0; i < len; i++)
	{
		if (!seen[(unsigned char) password[i]])
			distinct++;
		seen[(unsigned char) password[i]] = true;
	}
	if (distinct < PASSWORD_MIN_DISTINCT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password is too simple"),
				 errdetail("A password has at least %d different characters.", PASSWORD_MIN_DISTINCT),
				 errhint("Use a passphrase of several words, or a password manager's random password.")));
	if (local_len >= 3)
	{
		char	   *lower_password = asc_tolower(password, len);
		char	   *lower_local = asc_tolower(email, local_len);

		if (strstr(lower_password, lower_local) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("password contains the user's email name"),
					 errdetail("A password must not contain the part of the email before the @.")));
	}
}

/*
 * intracker_data.password_secret(password text, email text) returns text:
 * the SCRAM-SHA-256 secret of a password that keeps the rules, for
 * intracker.set_password() (which alone may call it).
 */
PG_FUNCTION_INFO_V1(intracker_password_secret);
Datum
intracker_password_secret(PG_FUNCTION_ARGS)
{
	char	   *password = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *email = text_to_cstring(PG_GETARG_TEXT_PP(1));

	check_password_strength(password, email);
	PG_RETURN_TEXT_P(cstring_to_text(pg_be_scram_build_secret(password)));
}

/*
 * Does password match secret?  A NULL secret (an unknown email, a user
 * without a password) is checked against a decoy secret, so that the
 * answer, always false then, takes as long as a real check.
 */
bool
intracker_password_matches(const char *password, const char *secret)
{
	static char *decoy_secret = NULL;
	bool		matches;

	if (decoy_secret == NULL)
	{
		char		random_password[33];

		intracker_random_alphanumerics(random_password, 32);
		random_password[32] = '\0';
		decoy_secret = MemoryContextStrdup(TopMemoryContext, pg_be_scram_build_secret(random_password));
	}
	matches = scram_verify_plain_password("intracker", password, secret ? secret : decoy_secret);
	return matches && secret != NULL;
}
