/*-------------------------------------------------------------------------
 *
 * claim_order.h
 *	  The order claim_next_todo takes todos in, as an ORDER BY list over a
 *	  todo aliased t.
 *
 * The only statement of it: claim_next_todo (assignment.c) and the caller's
 * open todos in resume_context (resume_context.c) sort by it, and the
 * indexes that serve them (todos_claim_unassigned, todos_claim_assigned in
 * 70_assignment.sql, todos_member_waiting in 80_context.sql) follow it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_CLAIM_ORDER_H
#define INTRACKER_CLAIM_ORDER_H

#define CLAIM_ORDER \
	"t.priority_rank DESC, t.feature_active DESC, t.open_dependent_count DESC," \
	" t.due_date ASC NULLS LAST, t.created_at, t.id"

#endif							/* INTRACKER_CLAIM_ORDER_H */
