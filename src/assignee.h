/*-------------------------------------------------------------------------
 *
 * assignee.h
 *	  Who may hold work in a project: the rules of assignees (assignee.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_ASSIGNEE_H
#define INTRACKER_ASSIGNEE_H

#include "executor/spi.h"

/* The first rule an assignee breaks, in the order they are checked. */
typedef enum AssigneeProblem
{
	ASSIGNEE_ELIGIBLE,
	ASSIGNEE_NOT_MEMBER,
	ASSIGNEE_VIEWER,
	ASSIGNEE_INACTIVE,
	ASSIGNEE_UNAVAILABLE,
	ASSIGNEE_NO_CAPACITY
} AssigneeProblem;

/* What the rules decide on, for one member of one project. */
typedef struct AssigneeFacts
{
	bool		member;			/* a member of the project at all */
	bool		holds_work;		/* owner or editor (not a viewer) */
	bool		active;			/* the user is active */
	bool		available;		/* set_availability */
	bool		limited;		/* has a capacity (NULL: unlimited) */
	int64		capacity;
	int64		load_points;	/* open points, not counting the row at hand */
} AssigneeFacts;

/*
 * Every member of project $1 with the facts the rules need (read them with
 * intracker_assignee_facts) and what automatic assignment orders them by:
 * load_points and load_features, which leave out the points ($3) and
 * features ($4) of the row being assigned when member $2 already carries
 * it, and last_assigned_at.  Append " AND m.user_id = ..." to narrow it.
 * load_order: INTRACKER_NEWEST_LOAD_ORDER where member_load is versioned,
 * else "" (schema.h).
 */
#define INTRACKER_ASSIGNEE_FACTS_QUERY(load_order) \
	"SELECT m.user_id, m.role, u.is_active, m.available, m.capacity, l.last_assigned_at," \
	"       coalesce(l.open_points, 0)" \
	"         OPERATOR(pg_catalog.-) CASE WHEN m.user_id OPERATOR(pg_catalog.=) $2 THEN $3 ELSE 0 END" \
	"         AS load_points," \
	"       coalesce(l.open_features, 0)" \
	"         OPERATOR(pg_catalog.-) CASE WHEN m.user_id OPERATOR(pg_catalog.=) $2 THEN $4 ELSE 0 END" \
	"         AS load_features" \
	"  FROM intracker_data.project_members m" \
	"  JOIN intracker_data.users u ON u.id OPERATOR(pg_catalog.=) m.user_id" \
	"  LEFT JOIN LATERAL (SELECT * FROM intracker_data.member_load x" \
	"                      WHERE x.project_id OPERATOR(pg_catalog.=) m.project_id" \
	"                        AND x.user_id OPERATOR(pg_catalog.=) m.user_id" \
	"                      " load_order " LIMIT 1) l ON true" \
	" WHERE m.project_id OPERATOR(pg_catalog.=) $1"
#define INTRACKER_ASSIGNEE_FACTS_NARGS 4

extern void intracker_assignee_facts(SPITupleTable *result, uint64 row, AssigneeFacts *facts);
extern AssigneeProblem intracker_assignee_problem(const AssigneeFacts *facts, int64 points);
extern void intracker_report_assignee_problem(AssigneeProblem problem, const AssigneeFacts *facts,
											  const char *entity, Datum user_id, Datum project_id,
											  int64 points);
extern bool intracker_member_has_load(Datum project_id, Datum user_id);
extern void intracker_lock_assignee(Datum project_id, Datum user_id, int64 carried_points,
									AssigneeFacts *facts);

#endif							/* INTRACKER_ASSIGNEE_H */
