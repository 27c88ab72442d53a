/*-------------------------------------------------------------------------
 *
 * context.h
 *	  What team_context (team_context.c) and resume_context
 *	  (resume_context.c) share (context.c): the call's prologue and
 *	  epilogue, reading query results into JSON, and the pieces both
 *	  documents show.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_CONTEXT_H
#define INTRACKER_CONTEXT_H

#include "fmgr.h"

#include "context_trim.h"
#include "json_document.h"
#include "owner_context.h"

/*
 * One call of a context function.  intracker_context_begin fills it:
 * the project, the caller and their role, the time stamp, an empty
 * document (owned by SPI's memory: released on error or at the end), and
 * the call reads as the data's owner from then on.
 * intracker_context_end finishes the document and returns it.
 */
typedef struct ContextCall
{
	Datum		project_id;
	char	   *project;		/* the same, as text */
	Datum		me;
	char	   *role;
	char	   *generated_at;
	int			list_limit;		/* intracker.context_todo_limit */
	json_t	   *root;
	char	   *notes;			/* project notes as the server wrote them */
	OwnerContext owner;
} ContextCall;

/*
 * Copying result columns into a JSON object, described by a table: the
 * JSON key, the result column (when it differs) and the JSON type.
 */
typedef enum FieldType
{
	FIELD_TEXT,
	FIELD_INT,
	FIELD_BOOL,
	FIELD_JSON
} FieldType;

typedef struct Field
{
	const char *key;
	const char *column;			/* NULL: same as key */
	FieldType	type;
} Field;

#define PUT_FIELDS(object, row, fields) \
	intracker_context_put_fields(object, row, fields, lengthof(fields))

/* The fields of a todo as lists show it (intracker_context_append_todo). */
#define TODO_COLUMNS \
	"t.id, t.title, t.status, t.priority, t.estimate, to_char(t.due_date, 'YYYY-MM-DD') AS due_date," \
	" t.version, t.open_blocker_count, t.blocked_reason"

/*
 * Open blockers of todo t, joined as blocker_* columns: one row each
 * (intracker_context_append_blocked_todos).
 */
#define BLOCKER_COLUMNS \
	"b.id AS blocker_id, b.title AS blocker_title, b.status AS blocker_status," \
	" b.assigned_to AS blocker_assigned_to"
#define OPEN_BLOCKERS_OF_T \
	"LEFT JOIN LATERAL (SELECT b.* FROM intracker_data.todo_dependencies d" \
	"                     JOIN intracker_data.todos b ON b.id = d.blocked_by" \
	"                    WHERE d.todo_id = t.id AND b.status NOT IN ('done', 'cancelled')) b ON true"

extern void ContextInit(void);
extern void intracker_context_begin(FunctionCallInfo fcinfo, ContextCall *call);
extern void intracker_context_trim_plan(ContextCall *call, TrimPlan *plan);
extern Datum intracker_context_end(ContextCall *call);

extern void intracker_context_query(const char *sql, Datum project_id, Datum user_id, int limit);
extern char *intracker_context_col(uint64 row, const char *name);
extern bool intracker_context_col_is_null(uint64 row, const char *name);
extern void intracker_context_put_fields(json_t *object, uint64 row, const Field *fields, int nfields);

extern void intracker_context_put_project(ContextCall *call);
extern json_t *intracker_context_append_todo(json_t *array, uint64 row);
extern void intracker_context_append_blocked_todos(json_t *array, const Field *extra, int nextra);
extern TrimmableList intracker_context_put_documents(ContextCall *call);

#endif							/* INTRACKER_CONTEXT_H */
