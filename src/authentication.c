/*-------------------------------------------------------------------------
 *
 * authentication.c
 *	  Credentials: API tokens (intracker.create_api_token,
 *	  intracker.revoke_api_token), passwords (intracker.set_password), and
 *	  proving who you are with them (intracker.login,
 *	  intracker.authenticate).  identity.c keeps the identity they set.
 *
 * API tokens: "itk_" + a 12-character selector + a 32-character secret,
 * letters and digits drawn from the strong random source (~262 bits).  The
 * fixed prefix lets secret scanners find leaked tokens; the selector, shown
 * in intracker.api_tokens as token_prefix, finds the row without revealing
 * anything that helps to guess the rest.  Only the SHA-256 of the whole
 * token is stored: a token is random and long, so a fast hash is enough
 * (a slow one would only make every authenticate() slow), and the stored
 * hash is compared in constant time.
 *
 * authenticate(token) accepts an API token or a JWT from login(), and
 * makes its user the session's identity (identity.c).  Every failure (an
 * unknown, tampered, expired or revoked token, a deactivated user, a bad
 * signature) is the same PT401, and an unknown selector is checked against
 * a decoy hash so that it costs the same.  It notes last_used_at and
 * last_login_at at most once a minute and never waits for a row lock to
 * do so (another session using the same token at the same moment is not
 * a reason to wait).
 *
 * Privileges: these functions run as the caller (so that "is the caller in
 * intracker_admin" means the caller), check what the caller may do, then
 * call helpers in intracker_data as the owner of the function being
 * called (the extension's owner): the helpers read and write the token
 * and password tables, which no user may touch, and are executable by no
 * one else.  Each helper call names its schema and passes typed
 * parameters, so the caller's search_path cannot redirect it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "authentication.h"
#include "errcodes.h"
#include "identity.h"
#include "jwt.h"
#include "login_throttle.h"
#include "password.h"
#include "secret_util.h"
#include "spi_util.h"

#define TOKEN_PREFIX		"itk_"
#define TOKEN_PREFIX_LEN	4
#define SELECTOR_LEN		12
#define SECRET_LEN			32
#define TOKEN_LEN			(TOKEN_PREFIX_LEN + SELECTOR_LEN + SECRET_LEN)

/* the helpers' plans, kept for the session */
static SPIPlanPtr store_token_plan = NULL;
static SPIPlanPtr revoke_token_plan = NULL;
static SPIPlanPtr store_password_plan = NULL;
static SPIPlanPtr token_by_selector_plan = NULL;
static SPIPlanPtr user_is_active_plan = NULL;
static SPIPlanPtr note_token_use_plan = NULL;
static SPIPlanPtr login_candidate_plan = NULL;
static SPIPlanPtr note_login_plan = NULL;

static char *jwt_secret = NULL;
static char *jwt_role = NULL;
static int	jwt_lifetime_s = 3600;

static bool
check_jwt_secret(char **newval, void **extra pg_attribute_unused(), GucSource source pg_attribute_unused())
{
	if (*newval == NULL || (*newval)[0] == '\0' || strlen(*newval) >= JWT_SECRET_MIN_BYTES)
		return true;
	GUC_check_errdetail("intracker.jwt_secret must be at least %d bytes long (as PostgREST's jwt-secret).",
						JWT_SECRET_MIN_BYTES);
	return false;
}

void
AuthenticationInit(void)
{
	DefineCustomStringVariable("intracker.jwt_secret",
							   "Secret that signs the JWTs intracker.login() issues (HS256).",
							   "The same as PostgREST's jwt-secret; at least 32 bytes. "
							   "Empty: login() is refused.",
							   &jwt_secret,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   check_jwt_secret, NULL, NULL);
	DefineCustomStringVariable("intracker.jwt_role",
							   "The \"role\" claim of the JWTs intracker.login() issues.",
							   "PostgREST switches to this role for the token's requests.",
							   &jwt_role,
							   "web_user",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("intracker.jwt_lifetime",
							"How long a JWT from intracker.login() is valid.",
							NULL,
							&jwt_lifetime_s,
							3600, 60, 30 * 24 * 60 * 60,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* ----------------------------------------------------------------
 * Running the intracker_data helpers as the extension's owner
 * ----------------------------------------------------------------
 */

typedef struct SavedUser
{
	Oid			user;
	int			security_context;
} SavedUser;

/* Become the owner of the SQL function being called (see the file header). */
static void
become_function_owner(FunctionCallInfo fcinfo, SavedUser *saved)
{
	HeapTuple	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	Oid			owner;

	if (!HeapTupleIsValid(proc))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(proc))->proowner;
	ReleaseSysCache(proc);

	GetUserIdAndSecContext(&saved->user, &saved->security_context);
	SetUserIdAndSecContext(owner, saved->security_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
}

/* Back to the caller (an error on the way restores it too, at abort). */
static void
become_caller(const SavedUser *saved)
{
	SetUserIdAndSecContext(saved->user, saved->security_context);
}

/*
 * Run a helper call (sql, with typed parameters, its plan kept in *plan)
 * as the function's owner; the result is in SPI_tuptable, SPI stays
 * connected for the caller to read it and SPI_finish.
 */
static void
run_helper(FunctionCallInfo fcinfo, SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
		   Datum *values, const char *nulls, const char *what)
{
	SavedUser	saved;

	become_function_owner(fcinfo, &saved);
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(plan, sql, nargs, argtypes, 0),
										  values, nulls, false, 0),
						 SPI_OK_SELECT, what);
	become_caller(&saved);
}

/*
 * The start of a call that writes for the acting user: SPI connected, the
 * user required active (intracker_data.require_user's PT401s), and not on
 * a read-only token.
 */
static pg_uuid_t *
begin_user_write(void)
{
	bool		isnull;
	pg_uuid_t  *me = palloc(sizeof(pg_uuid_t));

	intracker_spi_connect();
	intracker_spi_expect(SPI_execute("SELECT intracker_data.require_user() AS me", true, 1),
						 SPI_OK_SELECT, "identify the acting user");
	*me = *DatumGetUUIDP(intracker_result_datum(SPI_tuptable, 0, "me", &isnull));
	intracker_require_writable_identity();
	return me;
}

/* The PT401 of every failed authentication: it never says which check failed. */
static void
refuse_credentials(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTRACKER_UNAUTHENTICATED),
			 errmsg("invalid credentials"),
			 errdetail("The token is unknown, malformed, expired or revoked, or its user is inactive."),
			 errhint("Create an API token with intracker.create_api_token(), or log in with intracker.login().")));
}

/* ----------------------------------------------------------------
 * API tokens
 * ----------------------------------------------------------------
 */

/*
 * intracker.create_api_token(name text, expires_at timestamptz,
 * read_only boolean, user_id uuid) returns table (token_id uuid, token text)
 *
 * A new token for the acting user, or for user_id (members of
 * intracker_admin only).  The token is returned this once.
 */
PG_FUNCTION_INFO_V1(intracker_create_api_token);
Datum
intracker_create_api_token(PG_FUNCTION_ARGS)
{
	char		token[TOKEN_LEN + 1];
	uint8		token_hash[PG_SHA256_DIGEST_LENGTH];
	bytea	   *hash_value = palloc(VARHDRSZ + sizeof(token_hash));
	pg_uuid_t  *me;
	pg_uuid_t  *owner;
	Oid			argtypes[6] = {UUIDOID, TEXTOID, TEXTOID, BYTEAOID, BOOLOID, TIMESTAMPTZOID};
	Datum		values[6];
	char		nulls[6] = "      ";
	TupleDesc	result_desc;
	Datum		result[2];
	bool		result_nulls[2] = {false, false};
	bool		isnull;

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "intracker.create_api_token must return a row");
	result_desc = BlessTupleDesc(result_desc);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("read_only must not be null")));

	me = begin_user_write();
	owner = PG_ARGISNULL(3) ? me : PG_GETARG_UUID_P(3);
	if (memcmp(owner, me, sizeof(pg_uuid_t)) != 0 && !intracker_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to create an API token for another user"),
				 errdetail("Only members of %s create tokens for other users (agents).", INTRACKER_ADMIN_ROLE),
				 errhint("Leave user_id out to create a token for yourself.")));

	memcpy(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	intracker_random_alphanumerics(token + TOKEN_PREFIX_LEN, SELECTOR_LEN + SECRET_LEN);
	token[TOKEN_LEN] = '\0';
	intracker_sha256(token, TOKEN_LEN, token_hash);
	SET_VARSIZE(hash_value, VARHDRSZ + sizeof(token_hash));
	memcpy(VARDATA(hash_value), token_hash, sizeof(token_hash));

	values[0] = UUIDPGetDatum(owner);
	values[1] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[1] = PG_ARGISNULL(0) ? 'n' : ' ';
	values[2] = PointerGetDatum(cstring_to_text_with_len(token + TOKEN_PREFIX_LEN, SELECTOR_LEN));
	values[3] = PointerGetDatum(hash_value);
	values[4] = PG_GETARG_DATUM(2);
	values[5] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[5] = PG_ARGISNULL(1) ? 'n' : ' ';
	run_helper(fcinfo, &store_token_plan, "SELECT intracker_data.store_api_token($1, $2, $3, $4, $5, $6) AS token_id",
			   6, argtypes, values, nulls, "store an API token");

	result[0] = SPI_datumTransfer(intracker_result_datum(SPI_tuptable, 0, "token_id", &isnull), false, sizeof(pg_uuid_t));
	SPI_finish();
	result[1] = PointerGetDatum(cstring_to_text(token));
	explicit_bzero(token, sizeof(token));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc, result, result_nulls)));
}

/*
 * intracker.revoke_api_token(token_id uuid): by the token's user or a
 * member of intracker_admin; from now on.  Another user's token is "not
 * found", as a token that does not exist.
 */
PG_FUNCTION_INFO_V1(intracker_revoke_api_token);
Datum
intracker_revoke_api_token(PG_FUNCTION_ARGS)
{
	Oid			argtypes[3] = {UUIDOID, UUIDOID, BOOLOID};
	Datum		values[3];
	pg_uuid_t  *me;

	me = begin_user_write();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token_id must not be null")));
	values[0] = PG_GETARG_DATUM(0);
	values[1] = UUIDPGetDatum(me);
	values[2] = BoolGetDatum(intracker_caller_is_admin());
	run_helper(fcinfo, &revoke_token_plan, "SELECT intracker_data.revoke_api_token_as($1, $2, $3)",
			   3, argtypes, values, NULL, "revoke an API token");
	SPI_finish();
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * Passwords
 * ----------------------------------------------------------------
 */

/*
 * intracker.set_password(password text, user_id uuid DEFAULT NULL): your
 * own password, or user_id's (members of intracker_admin only).
 */
PG_FUNCTION_INFO_V1(intracker_set_password);
Datum
intracker_set_password(PG_FUNCTION_ARGS)
{
	Oid			argtypes[2] = {UUIDOID, TEXTOID};
	Datum		values[2];
	pg_uuid_t  *me;
	pg_uuid_t  *user_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password must not be null")));
	me = begin_user_write();
	user_id = PG_ARGISNULL(1) ? me : PG_GETARG_UUID_P(1);
	if (memcmp(user_id, me, sizeof(pg_uuid_t)) != 0 && !intracker_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set another user's password"),
				 errdetail("Only members of %s set other users' passwords.", INTRACKER_ADMIN_ROLE),
				 errhint("Call intracker.set_password(password) to set your own.")));

	values[0] = UUIDPGetDatum(user_id);
	values[1] = PG_GETARG_DATUM(0);
	run_helper(fcinfo, &store_password_plan, "SELECT intracker_data.store_password($1, $2)",
			   2, argtypes, values, NULL, "store a password");
	SPI_finish();
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * Proving who you are
 * ----------------------------------------------------------------
 */

/*
 * The user of an API token, or false.  Also says whether it is read-only
 * and its id (for the credential identity.c re-checks).
 */
static bool
api_token_user(FunctionCallInfo fcinfo, const char *token, char **user_text, char **token_text,
			   bool *read_only, bool *recently_used)
{
	static const uint8 decoy_hash[PG_SHA256_DIGEST_LENGTH] = {0};
	uint8		token_hash[PG_SHA256_DIGEST_LENGTH];
	const uint8 *stored_hash = decoy_hash;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	bool		usable = false;
	bool		matches;

	values[0] = PointerGetDatum(cstring_to_text_with_len(token + TOKEN_PREFIX_LEN, SELECTOR_LEN));
	run_helper(fcinfo, &token_by_selector_plan, "SELECT * FROM intracker_data.api_token_by_selector($1)",
			   1, argtypes, values, NULL, "look up an API token");
	if (SPI_processed == 1)
	{
		bytea	   *hash = DatumGetByteaPP(intracker_result_datum(SPI_tuptable, 0, "token_hash", &isnull));

		if (VARSIZE_ANY_EXHDR(hash) == PG_SHA256_DIGEST_LENGTH)
			stored_hash = (const uint8 *) VARDATA_ANY(hash);
		usable = DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "usable", &isnull));
		*read_only = DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "read_only", &isnull));
		*recently_used = DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "recently_used", &isnull));
		*user_text = intracker_result_text(SPI_tuptable, 0, "user_id");
		*token_text = intracker_result_text(SPI_tuptable, 0, "id");
	}
	intracker_sha256(token, TOKEN_LEN, token_hash);
	matches = intracker_secrets_equal(token_hash, stored_hash, sizeof(token_hash));
	return matches && usable && stored_hash != decoy_hash;
}

/* The user of a JWT from login(), or false; *exp is its expiry. */
static bool
jwt_user(FunctionCallInfo fcinfo, const char *token, char **user_text, int64 *exp)
{
	JwtClaims	claims;
	pg_uuid_t	user_id;
	pg_time_t	now = timestamptz_to_time_t(GetCurrentTimestamp());
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	bool		isnull;

	if (!intracker_jwt_verify(token, jwt_secret, &claims) ||
		now >= claims.exp || (claims.has_nbf && now < claims.nbf) ||
		!intracker_uuid_from_text(claims.sub, &user_id))
		return false;
	values[0] = UUIDPGetDatum(&user_id);
	run_helper(fcinfo, &user_is_active_plan, "SELECT intracker_data.user_is_active($1) AS active",
			   1, argtypes, values, NULL, "look up a user");
	if (!DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "active", &isnull)) || isnull)
		return false;
	*user_text = claims.sub;
	*exp = claims.exp;
	return true;
}

/* Is token shaped like an API token (prefix, length, alphabet)? */
static bool
looks_like_api_token(const char *token)
{
	return strncmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) == 0 &&
		strlen(token) == TOKEN_LEN &&
		strspn(token + TOKEN_PREFIX_LEN, INTRACKER_ALPHANUMERICS) == SELECTOR_LEN + SECRET_LEN;
}

/*
 * intracker.authenticate(token text) returns uuid
 *
 * Make the user of an API token or of a JWT from login() the session's
 * identity (NULL signs out).  Returns the user id.
 */
PG_FUNCTION_INFO_V1(intracker_authenticate);
Datum
intracker_authenticate(PG_FUNCTION_ARGS)
{
	char	   *token;
	char	   *user_text = NULL;
	char	   *token_text = NULL;
	bool		read_only = false;
	bool		recently_used = true;
	int64		exp = 0;
	char	   *credential;
	MemoryContext call_context = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
	{
		intracker_set_identity("", "");
		PG_RETURN_NULL();
	}
	token = text_to_cstring(PG_GETARG_TEXT_PP(0));

	intracker_spi_connect();
	if (looks_like_api_token(token))
	{
		if (!api_token_user(fcinfo, token, &user_text, &token_text, &read_only, &recently_used))
			refuse_credentials();
		credential = psprintf("token:%s%s", token_text, read_only ? ":read-only" : "");
	}
	else
	{
		if (!jwt_user(fcinfo, token, &user_text, &exp))
			refuse_credentials();
		credential = psprintf("jwt:" INT64_FORMAT, exp);
	}
	/* out of SPI's memory, which SPI_finish releases */
	credential = MemoryContextStrdup(call_context, credential);
	user_text = MemoryContextStrdup(call_context, user_text);

	/*
	 * Noted to the minute (most calls write nothing), before the identity
	 * changes: a read-only identity may sign in as another.
	 */
	if (token_text != NULL && !recently_used && !XactReadOnly)
	{
		Oid			argtypes[1] = {UUIDOID};
		Datum		values[1];
		pg_uuid_t	token_id;

		(void) intracker_uuid_from_text(token_text, &token_id);
		values[0] = UUIDPGetDatum(&token_id);
		run_helper(fcinfo, &note_token_use_plan, "SELECT intracker_data.note_api_token_use($1)",
				   1, argtypes, values, NULL, "note an API token's use");
	}
	SPI_finish();

	intracker_set_identity(user_text, credential);
	explicit_bzero(token, strlen(token));
	PG_RETURN_UUID_P(DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(user_text))));
}

/*
 * intracker.login(email text, password text) returns jsonb
 *
 * {"token": <JWT>, "expires_at": ..., "user_id": ...} for a user's email
 * and password.  Any failure is the same PT401 after the same work (an
 * unknown email is checked against a decoy secret); an email with too many
 * recent failures is PT429 (login_throttle.c).
 */
PG_FUNCTION_INFO_V1(intracker_login);
Datum
intracker_login(PG_FUNCTION_ARGS)
{
	char	   *email;
	char	   *password;
	uint64		key;
	TimestampTz locked_until;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	char	   *secret = NULL;
	char	   *user_text = NULL;
	bool		usable = false;
	bool		matches;
	JwtClaims	claims;
	StringInfoData answer;
	char		expires_buf[MAXDATELEN + 1];
	MemoryContext call_context = CurrentMemoryContext;

	if (!intracker_login_throttle_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("intracker.login() needs intracker in shared_preload_libraries"),
				 errdetail("Failed logins are counted in shared memory; without them passwords could be guessed at full speed."),
				 errhint("Add intracker to shared_preload_libraries and restart the server.")));
	if (jwt_secret == NULL || strlen(jwt_secret) < JWT_SECRET_MIN_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("intracker.login() needs intracker.jwt_secret"),
				 errhint("A superuser sets intracker.jwt_secret to PostgREST's jwt-secret (at least %d bytes).",
						 JWT_SECRET_MIN_BYTES)));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INTRACKER_UNAUTHENTICATED),
				 errmsg("invalid email or password")));
	email = text_to_cstring(PG_GETARG_TEXT_PP(0));
	password = text_to_cstring(PG_GETARG_TEXT_PP(1));

	key = intracker_login_key(email);
	if (intracker_login_locked(key, &locked_until))
		ereport(ERROR,
				(errcode(ERRCODE_INTRACKER_TOO_MANY_REQUESTS),
				 errmsg("too many failed logins for this email"),
				 errdetail("Logins for this email are refused until %s.", timestamptz_to_str(locked_until)),
				 errhint("Wait, or ask an administrator to set a new password.")));

	intracker_spi_connect();
	values[0] = PG_GETARG_DATUM(0);
	run_helper(fcinfo, &login_candidate_plan, "SELECT * FROM intracker_data.login_candidate($1)",
			   1, argtypes, values, NULL, "look up a login");
	/* no password is that long: not worth hashing (the failure counts) */
	if (SPI_processed == 1 && strlen(password) <= PASSWORD_MAX_BYTES)
	{
		secret = intracker_result_text(SPI_tuptable, 0, "secret");
		user_text = MemoryContextStrdup(call_context, intracker_result_text(SPI_tuptable, 0, "user_id"));
		usable = DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "usable", &isnull));
	}
	matches = intracker_password_matches(secret ? password : "", secret);
	explicit_bzero(password, strlen(password));
	if (!matches || !usable)
	{
		intracker_login_failed(key);
		ereport(ERROR,
				(errcode(ERRCODE_INTRACKER_UNAUTHENTICATED),
				 errmsg("invalid email or password")));
	}
	intracker_login_succeeded(key);

	if (!XactReadOnly)
	{
		Oid			note_types[1] = {UUIDOID};
		Datum		note_values[1];

		note_values[0] = DirectFunctionCall1(uuid_in, CStringGetDatum(user_text));
		run_helper(fcinfo, &note_login_plan, "SELECT intracker_data.note_login($1)",
				   1, note_types, note_values, NULL, "note a login");
	}
	SPI_finish();

	claims.sub = user_text;
	claims.role = jwt_role;
	claims.iat = timestamptz_to_time_t(GetCurrentTimestamp());
	claims.exp = claims.iat + jwt_lifetime_s;
	claims.has_nbf = false;
	initStringInfo(&answer);
	appendStringInfoString(&answer, "{\"token\": ");
	escape_json(&answer, intracker_jwt_sign(&claims, jwt_secret));
	appendStringInfoString(&answer, ", \"expires_at\": ");
	escape_json(&answer, JsonEncodeDateTime(expires_buf, TimestampTzGetDatum(time_t_to_timestamptz(claims.exp)),
											TIMESTAMPTZOID, NULL));
	appendStringInfoString(&answer, ", \"user_id\": ");
	escape_json(&answer, user_text);
	appendStringInfoChar(&answer, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(answer.data)));
}
