/*-------------------------------------------------------------------------
 *
 * intracker.c
 *	  Module entry point: _PG_init only fans out to each subsystem's Init.
 *
 * The library works both preloaded (shared_preload_libraries) and loaded
 * on first use by CREATE EXTENSION or a function call; nothing here may
 * depend on being preloaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "authentication.h"
#include "context.h"
#include "events.h"
#include "http.h"
#include "identity.h"
#include "login_throttle.h"
#include "publisher.h"
#include "search.h"
#include "shared_state.h"
#include "supervisor.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	IdentityInit();
	AuthenticationInit();
	LoginThrottleInit();
	ContextInit();
	EventsInit();
	HttpInit();
	SharedStateInit();
	PublisherInit();
	SearchInit();
	SupervisorInit();

	MarkGUCPrefixReserved("intracker");
}
