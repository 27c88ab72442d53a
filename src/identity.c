/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  Who is acting: intracker.current_user_id() and intracker.act_as().
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
 * 2. act_as().  Members of intracker_admin (scripts, tests, the demo) pick
 *    a user with intracker.act_as(id).  The choice lives in the SUSET GUC
 *    intracker.acting_user, set internally after the privilege check, so it
 *    behaves like SET: session-wide, undone by ROLLBACK, RESET ALL and
 *    DISCARD ALL, and no ordinary role can set it by hand.
 *
 * 3. Otherwise there is no identity: current_user_id() returns NULL, RLS
 *    shows nothing, and functions that need a user fail with PT401.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/uuid.h"

#include "errcodes.h"
#include "identity.h"
#include "request.h"
#include "spi_util.h"

#define ADMIN_ROLE "intracker_admin"

static char *authenticator_role = NULL;
static char *acting_user = NULL;

/*
 * Parse a uuid in canonical 8-4-4-4-12 hex form without raising an error,
 * so that a malformed value can be reported with our own SQLSTATE.
 */
static bool
uuid_from_text(const char *text, pg_uuid_t *uuid)
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
	if (uuid_from_text(*newval, &unused))
		return true;
	GUC_check_errdetail("intracker.acting_user must be a user id (uuid) or empty.");
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
		if (!uuid_from_text(sub, user_id))
			ereport(ERROR,
					(errcode(ERRCODE_INTRACKER_UNAUTHENTICATED),
					 errmsg("JWT subject is not an intracker user id"),
					 errdetail("The \"sub\" claim is \"%s\"; intracker expects the uuid of a user.", sub),
					 errhint("Issue tokens whose \"sub\" is the id returned by intracker.create_user().")));
		return true;
	}

	return acting_user != NULL && acting_user[0] != '\0' &&
		uuid_from_text(acting_user, user_id);
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
	Oid			admin_role = get_role_oid(ADMIN_ROLE, true);
	pg_uuid_t  *user_id;
	bool		exists;
	char	   *user_text;

	if (!OidIsValid(admin_role) || !has_privs_of_role(GetUserId(), admin_role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to act as another user"),
				 errdetail("Only members of role %s may call intracker.act_as().", ADMIN_ROLE),
				 errhint("Applications identify their users with a JWT through PostgREST; see \"Security model\" in the README.")));

	if (PG_ARGISNULL(0))
	{
		SetConfigOption("intracker.acting_user", "", PGC_SUSET, PGC_S_SESSION);
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

	SetConfigOption("intracker.acting_user", user_text, PGC_SUSET, PGC_S_SESSION);
	PG_RETURN_UUID_P(user_id);
}
