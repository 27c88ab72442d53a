/*-------------------------------------------------------------------------
 *
 * supervisor.h
 *	  intracker's background processes: their names, and what the
 *	  supervisor (supervisor.c) offers its children.
 *
 * Glossary.  intracker runs three background processes, and its C names
 * and comments call them by these names only ("worker" is PostgreSQL's
 * word for any of them, as in BackgroundWorker and bgw_*):
 *
 *	 supervisor  one per server, started by the postmaster when intracker
 *				 is in shared_preload_libraries (supervisor.c).  It connects
 *				 to no database; it starts the other two in each database
 *				 intracker.database covers (up to intracker.max_databases)
 *				 and starts them again when they exit.
 *	 publisher	 numbers committed outbox events, NOTIFYs them and queues
 *				 their deliveries, and prunes expired events (publisher.c;
 *				 its statements are in publication.c, which ordinary
 *				 backends use too).
 *	 deliverer	 sends webhook deliveries and GitHub calls over HTTP
 *				 (deliverer.c; its statements are in deliveries.c).
 *	 children	 the publisher and the deliverer, the supervisor's children.
 *
 * Their shared memory is shared_state.c.  One SQL name predates this
 * glossary and stays for compatibility: the view intracker.worker_status
 * is the publisher's status, read through intracker_data.worker_state()
 * (C: intracker_worker_state, shared_state.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_SUPERVISOR_H
#define INTRACKER_SUPERVISOR_H

#include "datatype/timestamp.h"

#include "shared_state.h"

extern void SupervisorInit(void);
extern bool intracker_serves_every_database(void);
extern bool intracker_database_named(Oid dboid);
extern void intracker_child_start(Datum main_arg, IntrackerChild child);
extern ErrorData *intracker_child_recover(MemoryContext cxt);
extern long intracker_ms_until(TimestampTz when);

#endif							/* INTRACKER_SUPERVISOR_H */
