/*-------------------------------------------------------------------------
 *
 * login_throttle.c
 *	  Failed logins per email, so that intracker.login() can refuse an
 *	  email that is being guessed (PT429).
 *
 * Why shared memory and not a table: login() reports a wrong password
 * with an ERROR, which rolls back whatever its transaction wrote, a
 * failure counted in a table included.  The counts live in a fixed table
 * in shared memory instead, so the library must be preloaded for login()
 * to work at all (without the throttle, passwords could be guessed at full
 * speed).  A restart forgets them.
 *
 * Each entry counts the failures of one email (a 64-bit hash of the
 * database and the lower-cased email) since its first failure.  When
 * intracker.login_max_failures of them fall within
 * intracker.login_failure_window of that first one, the email is locked
 * until the window has passed; a success clears the entry.  Unknown emails
 * are counted like known ones, so locking tells nothing about which exist.
 *
 * The table has LOGIN_THROTTLE_ENTRIES entries.  When it is full, a new
 * email takes the place of one whose window has passed, else of the one
 * with the fewest failures (the oldest among equals): an attacker who
 * sprays one guess at each of many emails evicts other sprayed emails, not
 * the one being guessed repeatedly.  Evicting a locked email takes as many
 * failures, within one window, as the table holds locked entries; the
 * README states the bound.
 *
 * Locking: one LWLock protects the whole table; holders only scan it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "login_throttle.h"

#define LOGIN_THROTTLE_ENTRIES 8192

typedef struct LoginFailures
{
	uint64		key;			/* 0: a free entry */
	TimestampTz first_failure_at;
	int32		failures;		/* since first_failure_at */
} LoginFailures;

typedef struct LoginThrottle
{
	LWLock	   *lock;			/* protects entries */
	LoginFailures entries[LOGIN_THROTTLE_ENTRIES];
} LoginThrottle;

static LoginThrottle *throttle = NULL;
static int	login_max_failures = 10;
static int	login_failure_window_s = 15 * 60;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
login_throttle_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(LoginThrottle)));
	RequestNamedLWLockTranche("intracker login throttle", 1);
}

static void
login_throttle_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	throttle = ShmemInitStruct("intracker login throttle", sizeof(LoginThrottle), &found);
	if (!found)
	{
		memset(throttle->entries, 0, sizeof(throttle->entries));
		throttle->lock = &(GetNamedLWLockTranche("intracker login throttle"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
LoginThrottleInit(void)
{
	DefineCustomIntVariable("intracker.login_max_failures",
							"Failed logins for one email that lock it.",
							"After this many failures within intracker.login_failure_window, "
							"intracker.login() answers PT429 for the email until the window has passed.",
							&login_max_failures,
							10, 1, 1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("intracker.login_failure_window",
							"Window in which failed logins of one email are counted.",
							NULL,
							&login_failure_window_s,
							15 * 60, 1, 24 * 60 * 60,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = login_throttle_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = login_throttle_startup;
}

/* Is the throttle there (the library preloaded)? */
bool
intracker_login_throttle_available(void)
{
	return throttle != NULL;
}

/* The throttle's key for an email in this database (never 0). */
uint64
intracker_login_key(const char *email)
{
	char	   *lower = asc_tolower(email, strlen(email));
	uint64		key = hash_bytes_extended((const unsigned char *) lower, strlen(lower), MyDatabaseId);

	pfree(lower);
	return key == 0 ? 1 : key;
}

static TimestampTz
window_end(const LoginFailures *entry)
{
	return TimestampTzPlusMilliseconds(entry->first_failure_at, (int64) login_failure_window_s * 1000);
}

/* The entry of key, or NULL; caller holds the lock. */
static LoginFailures *
find_entry(uint64 key)
{
	for (int i = 0; i < LOGIN_THROTTLE_ENTRIES; i++)
	{
		if (throttle->entries[i].key == key)
			return &throttle->entries[i];
	}
	return NULL;
}

/*
 * Is the email of key locked?  *until is when it unlocks.
 */
bool
intracker_login_locked(uint64 key, TimestampTz *until)
{
	LoginFailures *entry;
	bool		locked = false;

	LWLockAcquire(throttle->lock, LW_SHARED);
	entry = find_entry(key);
	if (entry != NULL && entry->failures >= login_max_failures &&
		GetCurrentTimestamp() < window_end(entry))
	{
		locked = true;
		*until = window_end(entry);
	}
	LWLockRelease(throttle->lock);
	return locked;
}

/* Count a failed login of the email of key. */
void
intracker_login_failed(uint64 key)
{
	TimestampTz now = GetCurrentTimestamp();
	LoginFailures *entry;

	LWLockAcquire(throttle->lock, LW_EXCLUSIVE);
	entry = find_entry(key);
	if (entry == NULL)
	{
		/* a free entry, else one whose window passed, else the fewest failures */
		for (int i = 0; i < LOGIN_THROTTLE_ENTRIES; i++)
		{
			LoginFailures *candidate = &throttle->entries[i];

			if (candidate->key == 0 || now >= window_end(candidate))
			{
				entry = candidate;
				break;
			}
			if (entry == NULL || candidate->failures < entry->failures ||
				(candidate->failures == entry->failures &&
				 candidate->first_failure_at < entry->first_failure_at))
				entry = candidate;
		}
		entry->key = key;
		entry->failures = 0;
	}
	if (entry->failures == 0 || now >= window_end(entry))
	{
		entry->first_failure_at = now;
		entry->failures = 0;
	}
	if (entry->failures < PG_INT32_MAX)
		entry->failures++;
	LWLockRelease(throttle->lock);
}

/* A successful login clears the email's failures. */
void
intracker_login_succeeded(uint64 key)
{
	LoginFailures *entry;

	LWLockAcquire(throttle->lock, LW_EXCLUSIVE);
	entry = find_entry(key);
	if (entry != NULL)
		memset(entry, 0, sizeof(*entry));
	LWLockRelease(throttle->lock);
}
