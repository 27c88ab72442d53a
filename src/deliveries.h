/*-------------------------------------------------------------------------
 *
 * deliveries.h
 *	  The deliverer's database side (deliveries.c): loading queues'
 *	  chains of deliveries, recording what each attempt came to.
 *
 * Every function here runs inside the deliverer's round: a transaction
 * with an SPI connection that the caller opened.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_DELIVERIES_H
#define INTRACKER_DELIVERIES_H

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "utils/uuid.h"

#define UUID_TEXT_LEN		36

/* One delivery of a chain, with what sending it takes. */
typedef struct Delivery
{
	pg_uuid_t	id;
	pg_uuid_t	queue_id;
	char		id_text[UUID_TEXT_LEN + 1];
	bool		is_github;
	char	   *event_type;
	char	   *method;
	char	   *url;			/* NULL: no target any more (see problem) */
	char	   *problem;
	char	   *body;
	char	   *credential;		/* webhook secret or GitHub token, or NULL */
	int			attempts;		/* before this one */
	bool		has_todo;
	pg_uuid_t	todo_id;
} Delivery;

/* What one attempt came to, waiting to be recorded. */
typedef struct DeliveryResult
{
	pg_uuid_t	id;
	pg_uuid_t	queue_id;
	bool		skipped;		/* not recorded: a user's transaction holds the row */
	const char *state;			/* delivered, failed, dead */
	int			status;
	char	   *error;
	TimestampTz attempted_at;
	TimestampTz next_attempt_at;	/* failed only */
	double		duration_ms;
	bool		links_issue;	/* a created GitHub issue, to store on the todo */
	int			issue_number;
	char	   *issue_url;
} DeliveryResult;

/*
 * A queue whose next deliveries were loaded: its rows of the load query's
 * result, valid until the caller's SPI_finish.
 */
typedef struct QueueHead
{
	pg_uuid_t	queue_id;
	TimestampTz head_due;		/* when its first delivery may go */
	SPITupleTable *rows;
	int			first_row;
	int			nrows;
} QueueHead;

extern QueueHead *intracker_deliveries_load_heads(const pg_uuid_t *busy, int n_busy, const char *github_api_url,
												  int chain_length, int *n_heads);
extern Delivery *intracker_deliveries_chain(const QueueHead *head, TimestampTz now, int *chain_len);
extern pg_uuid_t *intracker_deliveries_stale_queues(const pg_uuid_t *in_hand, int n_in_hand, int *n_stale);
extern bool intracker_deliveries_record(DeliveryResult *results, int n_results);
extern bool intracker_deliveries_link_issues(void);
extern bool intracker_deliveries_note_outcomes(const DeliveryResult *results, int n_results,
											   int disable_after_dead, int disable_after_failing_s);
extern int	intracker_deliveries_disable_webhooks(bool *waiting);
extern int	intracker_deliveries_drop_orphans(void);

#endif							/* INTRACKER_DELIVERIES_H */
