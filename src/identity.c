/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  Who is acting: intracker.current_user_id(), intracker.act_as(), and
 *	  what an identity from intracker.authenticate() may do.
 *
 * Trust model (see "Security model" in the README):
 *
 * 1. PostgREST.  PostgREST logs in as its authenticator role, verifies the
 *    JWT and stores its payload in request.jwt.claims.  We trust the "sub"
 *    claim only when session_user is the role named by the SUSET GUC
 *    intracker.authenticator_role: any other session can set
 *    request.jwt.claims to anything, so there it means nothing.  On the
 *    authenticator's connections nothing else counts: a request without a
 *    token is anonymous.
 *
 * 2. act_as() and authenticate().  Members of intracker_admin (scripts,
 *    tests, the demo) pick a user with intracker.act_as(id); anyone else
 *    proves who they are with intracker.authenticate(token), an API token
 *    or a JWT from intracker.login() (authentication.c).  The choice lives
 *    in the SUSET GUC intracker.acting_user, set internally after the
 *    check, so it behaves like SET: session-wide, undone by ROLLBACK,
 *    RESET ALL and DISCARD ALL, and no ordinary role can set it by hand.
 *    Beside it, the SUSET GUC intracker.acting_credential says what the
 *    identity rests on, so that it ends with its credential:
 *      ""                        act_as(), nothing to re-check
 *      "token:<id>[:read-only]"  an API token: checked again (revoked?
 *                                expired? user deactivated?) at the first
 *                                use of each transaction, so revoking a
 *                                token ends the sessions that use it
 *      "jwt:<exp>"               a JWT: refused once exp has passed
 *    A credential that no longer holds is PT401 until the session
 *    authenticates again or signs out (authenticate(NULL)).  A read-only
 *    token's identity may not write (intracker_refuse_read_only_write).
 *
 * 3. Otherwise there is no identity: current_user_id() returns NULL, RLS
 *    shows nothing, and functions that need a user fail with PT401.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "errcodes.h"
#include "identity.h"
#include "request.h"
#include "spi_util.h"

static char *authenticator_role = NULL;
static char *acting_user = NULL;
static char *acting_credential = NULL;

#define TOKEN_CREDENTIAL	"token:"
#define JWT_CREDENTIAL		"jwt:"
#define READ_ONLY_SUFFIX	":read-only"

/*
 * Parse a uuid in canonical 8-4-4-4-12 hex form without raising an error,
 * so that a malformed value can be reported with our own SQLSTATE.
 */
bool
intracker_uuid_from_text(const char *text, pg_uuid_t *uuid)
{
	int			byte = 0;
	const char *p = text;

	for (int i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (p[i] != '-')
				return false;
		}
		else if (!isxdigit((unsigned char) p[i]))
			return false;
	}
	if (p[36] != '\0')
		return false;

	while (*p)
	{
		char		pair[3];

		if (*p == '-')
		{
			p++;
			continue;
		}
		pair[0] = p[0];
		pair[1] = p[1];
		pair[2] = '\0';
		uuid->data[byte++] = (unsigned char) strtoul(pair, NULL, 16);
		p += 2;
	}
	return true;
}

static bool
check_acting_user(char **newval, void **extra pg_attribute_unused(), GucSource source pg_attribute_unused())
{
	pg_uuid_t	unused;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (intracker_uuid_from_text(*newval, &unused))
		return true;
	GUC_check_errdetail("intracker.acting_user must be a user id (uuid) or empty.");
	return false;
}

static bool
check_acting_credential(char **newval, void **extra pg_attribute_unused(), GucSource source pg_attribute_unused())
{
	const char *value = *newval;
	pg_uuid_t	unused;
	char		id[37];

	if (value == NULL || value[0] == '\0')
		return true;
	if (strncmp(value, TOKEN_CREDENTIAL, strlen(TOKEN_CREDENTIAL)) == 0)
	{
		const char *rest = value + strlen(TOKEN_CREDENTIAL);

		strlcpy(id, rest, sizeof(id));
		if (intracker_uuid_from_text(id, &unused) &&
			(rest[36] == '\0' || strcmp(rest + 36, READ_ONLY_SUFFIX) == 0))
			return true;
	}
	else if (strncmp(value, JWT_CREDENTIAL, strlen(JWT_CREDENTIAL)) == 0)
	{
		const char *digits = value + strlen(JWT_CREDENTIAL);

		if (digits[0] != '\0' && strspn(digits, "0123456789") == strlen(digits) && strlen(digits) <= 18)
			return true;
	}
	GUC_check_errdetail("intracker.acting_credential is set by intracker.authenticate().");
	return false;
}

void
IdentityInit(void)
{
	DefineCustomStringVariable("intracker.authenticator_role",
							   "Role whose connections carry a verified JWT in request.jwt.claims.",
							   "Only on connections whose session user is this role "
							   "(PostgREST's authenticator) is the JWT \"sub\" claim "
							   "trusted as the acting user. Empty disables JWT identity.",
							   &authenticator_role,
							   "authenticator",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("intracker.acting_user",
							   "User id chosen with intracker.act_as() for this session.",
							   "Set it with intracker.act_as(); it cannot be set in a "
							   "configuration file.",
							   &acting_user,
							   "",
							   PGC_SUSET,
							   GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   check_acting_user, NULL, NULL);

	DefineCustomStringVariable("intracker.acting_credential",
							   "What the acting user's identity rests on (set by intracker.authenticate()).",
							   "Empty after act_as(); token:<id>[:read-only] after an API token; "
							   "jwt:<expiry> after a JWT.",
							   &acting_credential,
							   "",
							   PGC_SUSET,
							   GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   check_acting_credential, NULL, NULL);
}

/*
 * Make user_text (a user id, or "" for none) the acting user, resting on
 * credential (see the trust model).  Like SET: undone by ROLLBACK.
 */
void
intracker_set_identity(const char *user_text, const char *credential)
{
	SetConfigOption("intracker.acting_user", user_text, PGC_SUSET, PGC_S_SESSION);
	SetConfigOption("intracker.acting_credential", credential, PGC_SUSET, PGC_S_SESSION);
}

/*
 * Does the session's API token still hold?  Asked once per transaction
 * (and again when the session switches tokens) through the SECURITY
 * DEFINER intracker_data.session_token_is_valid(), which answers about
 * the session's own token only.  A token that no longer holds is PT401.
 */
static void
check_session_token(void)
{
	static LocalTransactionId checked_in = InvalidLocalTransactionId;
	static char checked_credential[64] = "";
	static bool checking = false;
	static SPIPlanPtr plan = NULL;
	bool		isnull;
	bool		valid;

	if (checking ||
		(checked_in == MyProc->lxid && strcmp(checked_credential, acting_credential) == 0))
		return;

	checking = true;
	PG_TRY();
	{
		intracker_spi_connect();
		intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&plan,
																  "SELECT intracker_data.session_token_is_valid() AS valid",
																  0, NULL, 0),
											  NULL, NULL, true, 1),
							 SPI_OK_SELECT, "check the session's API token");
		valid = DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "valid", &isnull)) && !isnull;
		SPI_finish();
	}
	PG_FINALLY();
	{
		checking = false;
	}
	PG_END_TRY();

	if (!valid)
		ereport(ERROR,
				(errcode(ERRCODE_INTRACKER_UNAUTHENTICATED),
				 errmsg("the API token this session authenticated with is no longer valid"),
				 errdetail("It was revoked, it expired, or its user was deactivated."),
				 errhint("Authenticate again with intracker.authenticate(token), or sign out with intracker.authenticate(NULL).")));
	checked_in = MyProc->lxid;
	strlcpy(checked_credential, acting_credential, sizeof(checked_credential));
}

/* A JWT identity ends at its expiry. */
static void
check_session_jwt(void)
{
	int64		exp = strtoll(acting_credential + strlen(JWT_CREDENTIAL), NULL, 10);
	pg_time_t	now = timestamptz_to_time_t(GetCurrentTimestamp());

	if (now >= exp)
		ereport(ERROR,
				(errcode(ERRCODE_INTRACKER_UNAUTHENTICATED),
				 errmsg("the JWT this session authenticated with has expired"),
				 errhint("Log in again with intracker.login(), or sign out with intracker.authenticate(NULL).")));
}

static bool
on_authenticator_connection(void)
{
	Oid			role;

	if (authenticator_role == NULL || authenticator_role[0] == '\0')
		return false;
	role = get_role_oid(authenticator_role, true);
	return OidIsValid(role) && role == GetSessionUserId();
}

/*
 * The acting user into *user_id; false when there is none (see the trust
 * model above).  It does not check that the user exists or is active:
 * functions that need a user do that, and RLS shows an unknown id nothing.
 */
bool
intracker_acting_user(pg_uuid_t *user_id)
{
	if (on_authenticator_connection())
	{
		char	   *sub = intracker_request_claim("sub");

		if (sub == NULL)
			return false;
		if (!intracker_uuid_from_text(sub, user_id))
			ereport(ERROR,
					(errcode(ERRCODE_INTRACKER_UNAUTHENTICATED),
					 errmsg("JWT subject is not an intracker user id"),
					 errdetail("The \"sub\" claim is \"%s\"; intracker expects the uuid of a user.", sub),
					 errhint("Issue tokens whose \"sub\" is the id returned by intracker.create_user().")));
		return true;
	}

	if (acting_user == NULL || acting_user[0] == '\0' || !intracker_uuid_from_text(acting_user, user_id))
		return false;
	if (strncmp(acting_credential, TOKEN_CREDENTIAL, strlen(TOKEN_CREDENTIAL)) == 0)
		check_session_token();
	else if (strncmp(acting_credential, JWT_CREDENTIAL, strlen(JWT_CREDENTIAL)) == 0)
		check_session_jwt();
	return true;
}

/*
 * Is the acting user's identity a read-only API token's?  (Never on the
 * authenticator's connections: the request's JWT is the identity there.)
 */
static bool
identity_is_read_only(void)
{
	size_t		len = strlen(acting_credential);

	return len > strlen(READ_ONLY_SUFFIX) &&
		strcmp(acting_credential + len - strlen(READ_ONLY_SUFFIX), READ_ONLY_SUFFIX) == 0 &&
		acting_user != NULL && acting_user[0] != '\0' &&
		!on_authenticator_connection();
}

/*
 * Refuse any write while a read-only API token is the identity: a BEFORE
 * INSERT OR UPDATE OR DELETE statement trigger on every table users write
 * (intracker_data.refuse_read_only_write(), so that every path, functions,
 * views and PostgREST alike, is covered), and a plain function
 * (intracker_data.require_writable_identity()) for the functions that
 * write only tables of their own (tokens, passwords, deliveries).
 */
void
intracker_require_writable_identity(void)
{
	if (identity_is_read_only())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write with a read-only API token"),
				 errdetail("The session's identity comes from a read-only API token: it may read, not write."),
				 errhint("Authenticate with a token that is not read-only to make changes.")));
}

/* intracker.identity_is_read_only(): for clients (intracker-mcp offers only reading tools then). */
PG_FUNCTION_INFO_V1(intracker_identity_is_read_only_sql);
Datum
intracker_identity_is_read_only_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(identity_is_read_only());
}

PG_FUNCTION_INFO_V1(intracker_refuse_read_only_write);
Datum
intracker_refuse_read_only_write(PG_FUNCTION_ARGS)
{
	intracker_require_writable_identity();
	if (CALLED_AS_TRIGGER(fcinfo))
		return PointerGetDatum(NULL);
	PG_RETURN_VOID();
}

/* intracker.current_user_id() returns uuid: the acting user, or NULL */
PG_FUNCTION_INFO_V1(intracker_current_user_id);
Datum
intracker_current_user_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user_id = palloc(sizeof(pg_uuid_t));

	if (!intracker_acting_user(user_id))
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(user_id);
}

/*
 * Look up a user's is_active flag through the SECURITY DEFINER helper, so
 * the check does not depend on what the admin's own RLS lets it see.
 * Returns false with *exists = false for an unknown id.
 */
static bool
user_is_active(pg_uuid_t *user_id, bool *exists)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(user_id)};
	bool		isnull;
	bool		active;

	intracker_spi_connect();
	intracker_spi_expect(SPI_execute_with_args("SELECT intracker_data.user_is_active($1) AS active",
											   1, argtypes, values, NULL, true, 1),
						 SPI_OK_SELECT, "look up a user");
	active = DatumGetBool(intracker_result_datum(SPI_tuptable, 0, "active", &isnull));
	*exists = !isnull;
	SPI_finish();
	return *exists && active;
}

/* Is the current user (not the acting user: a database role) an admin? */
bool
intracker_caller_is_admin(void)
{
	Oid			admin_role = get_role_oid(INTRACKER_ADMIN_ROLE, true);

	return OidIsValid(admin_role) && has_privs_of_role(GetUserId(), admin_role);
}

/*
 * intracker.act_as(user_id uuid) returns uuid
 *
 * Make user_id the acting user for the rest of the session (NULL stops
 * acting).  Only for members of intracker_admin.
 */
PG_FUNCTION_INFO_V1(intracker_act_as);
Datum
intracker_act_as(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user_id;
	bool		exists;
	char	   *user_text;

	if (!intracker_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to act as another user"),
				 errdetail("Only members of role %s may call intracker.act_as().", INTRACKER_ADMIN_ROLE),
				 errhint("Applications identify their users with a JWT through PostgREST; see \"Security model\" in the README.")));

	if (PG_ARGISNULL(0))
	{
		intracker_set_identity("", "");
		PG_RETURN_NULL();
	}

	user_id = PG_GETARG_UUID_P(0);
	user_text = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(user_id)));

	if (!user_is_active(user_id, &exists))
	{
		if (!exists)
			ereport(ERROR,
					(errcode(ERRCODE_INTRACKER_NOT_FOUND),
					 errmsg("user %s does not exist", user_text),
					 errhint("Create users with intracker.create_user().")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("user %s is inactive", user_text),
				 errdetail("Inactive users cannot act.")));
	}

	intracker_set_identity(user_text, "");
	PG_RETURN_UUID_P(user_id);
}
