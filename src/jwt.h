/*-------------------------------------------------------------------------
 *
 * jwt.h
 *	  HS256 JSON Web Tokens, as PostgREST verifies them (jwt.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_JWT_H
#define INTRACKER_JWT_H

/* the shortest secret PostgREST accepts, and so do we */
#define JWT_SECRET_MIN_BYTES 32

/* the claims intracker writes and reads; times in seconds since 1970 */
typedef struct JwtClaims
{
	char	   *sub;			/* the user id */
	char	   *role;			/* the database role PostgREST switches to */
	int64		iat;			/* issued at */
	int64		exp;			/* expires at */
	bool		has_nbf;
	int64		nbf;			/* not before */
} JwtClaims;

extern char *intracker_jwt_sign(const JwtClaims *claims, const char *secret);
extern bool intracker_jwt_verify(const char *token, const char *secret, JwtClaims *claims);

#endif							/* INTRACKER_JWT_H */
