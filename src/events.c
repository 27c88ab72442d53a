/*-------------------------------------------------------------------------
 *
 * events.c
 *	  Change events: the outbox trigger and the record of rejected writes.
 *
 * intracker_record_event() is an AFTER INSERT OR UPDATE OR DELETE FOR EACH
 * ROW trigger on every table whose changes teams follow.  It appends one
 * row to intracker_data.outbox in the writer's transaction, so an event
 * exists exactly when its change committed.  The publisher (publisher.c,
 * publication.c) later gives it its publication number and sends the
 * NOTIFY.  Rows pg_restore inserts are no event: the dump holds the event
 * log and the outbox of the database they came from.
 *
 * Trigger arguments:
 *	 0: entity name, the prefix of the event type ("todo" -> "todo.created")
 *	 1: column holding the entity id
 *	 2: column holding the project id
 *	 3..n: "column:suffix" picks the event type of an update that changes
 *		 that column (first match wins, otherwise "updated"); "INSERT:suffix"
 *		 and "DELETE:suffix" rename "created" and "deleted"; "-column" keeps
 *		 an internal column (a counter) out of the event.
 *
 * version and updated_at are never listed as changes (the event carries the
 * new version itself), nor are generated columns.  An update that changes
 * nothing else is no event when it left the version alone (a counter
 * trigger's bookkeeping), and an event with empty changes when it made a new
 * version (a write of the same values): every version has its event.
 *
 * The changes are a jsonb object {"column": {"old": ..., "new": ...}}, the
 * values converted by to_jsonb() as SQL would; inserts have only "new",
 * deletes only "old".  An event stays small whatever a row holds: a value
 * whose JSON is over EVENT_VALUE_MAX_BYTES is shortened (a string keeps its
 * first EVENT_VALUE_MAX_BYTES bytes and gains an ellipsis; any other value
 * becomes null) and its column's entry says "truncated": true.  The whole
 * value is in the row.  (A 0.5 event carried whatever a description held,
 * and one that could not be rendered into a webhook's body stopped
 * publication for everyone.)
 *
 * Rejected stale writes (PT409/PT412) abort the writer's transaction, so
 * they cannot go through the outbox: intracker_note_rejected_write() hands
 * them to the publisher through shared memory instead (shared_state.c),
 * and the publisher writes them to the outbox in its own transaction.
 *
 * Waking the publisher: the trigger only sets a flag; a transaction
 * callback sets the publisher's latch when the transaction commits (and
 * the deliverer's, when the transaction queued deliveries).  Rolled-back
 * work wakes nobody, and an idle system costs nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "events.h"
#include "identity.h"
#include "owner_context.h"
#include "shared_state.h"
#include "spi_util.h"
#include "trigger_util.h"

/* The longest value an event carries for a column (JSON bytes), and what ends a shortened one */
#define EVENT_VALUE_MAX_BYTES	4096
#define TRUNCATION_MARK			"\u2026"	/* ... */

/* Did the current transaction write to the outbox?  Queue deliveries? */
static bool events_written_in_xact = false;
static bool deliveries_queued_in_xact = false;

static SPIPlanPtr insert_event_plan = NULL;

#define INSERT_EVENT_QUERY \
	"INSERT INTO intracker_data.outbox (type, project_id, entity_id, actor, version, changes)" \
	" VALUES ($1, $2, $3, $4, $5, $6)"

/*
 * Wake the publisher when a transaction that wrote events commits, the
 * deliverer when it queued deliveries.  A prepared transaction's events
 * wait for its COMMIT PREPARED (supervisor.c's utility hook wakes both
 * then).
 */
static void
events_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (events_written_in_xact)
				intracker_publisher_wake();
			if (deliveries_queued_in_xact)
				intracker_deliverer_wake();
			events_written_in_xact = false;
			deliveries_queued_in_xact = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			events_written_in_xact = false;
			deliveries_queued_in_xact = false;
			break;
		default:
			break;
	}
}

void
EventsInit(void)
{
	RegisterXactCallback(events_xact_callback, NULL);
}

/*
 * intracker_data.wake_deliverer(): wake the deliverer when this transaction
 * commits (redeliver(), create_github_issue() queue deliveries directly).
 */
PG_FUNCTION_INFO_V1(intracker_wake_deliverer);
Datum
intracker_wake_deliverer(PG_FUNCTION_ARGS)
{
	deliveries_queued_in_xact = true;
	PG_RETURN_VOID();
}

/*
 * intracker_data.wake_publisher(): wake the publisher when this transaction
 * commits (requeue_dead_events() writes the outbox directly).  Also the
 * statement trigger intracker_data.wake_publisher_at_commit() on the
 * outbox, for the rows a restore loads there (the outbox trigger, which
 * wakes it for every other event, does not fire for them).
 */
PG_FUNCTION_INFO_V1(intracker_wake_publisher);
Datum
intracker_wake_publisher(PG_FUNCTION_ARGS)
{
	events_written_in_xact = true;
	if (CALLED_AS_TRIGGER(fcinfo))
		return PointerGetDatum(NULL);
	PG_RETURN_VOID();
}

/*
 * The jsonb of a column value, as to_jsonb() makes it in SQL.  to_jsonb
 * reads its argument's type from the call expression, so we give it one.
 */
static Jsonb *
value_to_jsonb(Datum value, Form_pg_attribute att)
{
	FmgrInfo	flinfo;
	FuncExpr   *call;

	fmgr_info(F_TO_JSONB, &flinfo);
	call = makeFuncExpr(F_TO_JSONB, JSONBOID,
						list_make1(makeNullConst(att->atttypid, att->atttypmod, att->attcollation)),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	flinfo.fn_expr = (Node *) call;
	return DatumGetJsonbP(FunctionCall1(&flinfo, value));
}

static void
push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(state, WJB_KEY, &k);
}

/*
 * key: value, the value a column's (NULL becomes JSON null), shortened when
 * its JSON is too long (see the file header).  Returns whether it was.
 */
static bool
push_column_value(JsonbParseState **state, const char *key, Datum value, bool isnull,
				  Form_pg_attribute att)
{
	JsonbValue	v;
	bool		truncated = false;

	push_key(state, key);

	if (isnull)
		v.type = jbvNull;
	else
	{
		Jsonb	   *jsonb = value_to_jsonb(value, att);
		JsonbValue	scalar;

		if (VARSIZE(jsonb) - VARHDRSZ <= EVENT_VALUE_MAX_BYTES)
		{
			v.type = jbvBinary;
			v.val.binary.data = &jsonb->root;
			v.val.binary.len = VARSIZE(jsonb) - VARHDRSZ;
		}
		else
		{
			truncated = true;
			if (JsonbExtractScalar(&jsonb->root, &scalar) && scalar.type == jbvString)
			{
				/* the longest prefix of whole characters, then an ellipsis */
				int			len = pg_mbcliplen(scalar.val.string.val, scalar.val.string.len,
											   EVENT_VALUE_MAX_BYTES);

				v.type = jbvString;
				v.val.string.val = psprintf("%.*s" TRUNCATION_MARK, len, scalar.val.string.val);
				v.val.string.len = strlen(v.val.string.val);
			}
			else
				v.type = jbvNull;
		}
	}
	(void) pushJsonbValue(state, WJB_VALUE, &v);
	return truncated;
}

static bool
column_is_hidden(Form_pg_attribute att, TriggerData *trigdata)
{
	const char *name = NameStr(att->attname);
	Trigger    *trigger = trigdata->tg_trigger;

	if (att->attisdropped || att->attgenerated ||
		strcmp(name, "version") == 0 || strcmp(name, "updated_at") == 0)
		return true;
	for (int i = 3; i < trigger->tgnargs; i++)
		if (trigger->tgargs[i][0] == '-' && strcmp(trigger->tgargs[i] + 1, name) == 0)
			return true;
	return false;
}

/*
 * The changes of one row as {"column": {"old": ..., "new": ...}}; either
 * row may be NULL (insert, delete).  *changed_columns gets the names of the
 * reported columns, for picking the event type.
 */
static Jsonb *
build_changes(TriggerData *trigdata, HeapTuple old_row, HeapTuple new_row, List **changed_columns)
{
	TupleDesc	tupdesc = trigdata->tg_relation->rd_att;
	JsonbParseState *state = NULL;
	JsonbValue *result;

	*changed_columns = NIL;
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int attnum = 1; attnum <= tupdesc->natts; attnum++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, attnum - 1);
		bool		old_isnull = true;
		bool		new_isnull = true;
		Datum		old_value = (Datum) 0;
		Datum		new_value = (Datum) 0;
		bool		truncated;

		if (column_is_hidden(att, trigdata))
			continue;
		if (old_row && new_row && !intracker_column_changed(old_row, new_row, tupdesc, attnum))
			continue;
		if (old_row)
			old_value = heap_getattr(old_row, attnum, tupdesc, &old_isnull);
		if (new_row)
			new_value = heap_getattr(new_row, attnum, tupdesc, &new_isnull);
		/* a NULL column of a new or deleted row is no news */
		if (!(old_row && new_row) && old_isnull && new_isnull)
			continue;

		*changed_columns = lappend(*changed_columns, NameStr(att->attname));
		push_key(&state, NameStr(att->attname));
		(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		truncated = false;
		if (old_row)
			truncated |= push_column_value(&state, "old", old_value, old_isnull, att);
		if (new_row)
			truncated |= push_column_value(&state, "new", new_value, new_isnull, att);
		if (truncated)
		{
			JsonbValue	yes = {.type = jbvBool, .val.boolean = true};

			push_key(&state, "truncated");
			(void) pushJsonbValue(&state, WJB_VALUE, &yes);
		}
		(void) pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

static bool
name_in_list(const char *name, List *names)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(name, (const char *) lfirst(lc)) == 0)
			return true;
	return false;
}

/* "todo.status_changed": the entity, then the operation or the rule that matched */
static char *
event_type(TriggerData *trigdata, List *changed_columns)
{
	Trigger    *trigger = trigdata->tg_trigger;
	const char *entity = trigger->tgargs[0];
	const char *op;
	const char *suffix;

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		op = "INSERT", suffix = "created";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		op = "DELETE", suffix = "deleted";
	else
		op = NULL, suffix = "updated";

	for (int i = 3; i < trigger->tgnargs; i++)
	{
		const char *rule = trigger->tgargs[i];
		const char *colon = strchr(rule, ':');
		char	   *column;

		if (colon == NULL)
			continue;
		column = pnstrdup(rule, colon - rule);
		if (op != NULL ? strcmp(column, op) == 0 : name_in_list(column, changed_columns))
		{
			suffix = colon + 1;
			break;
		}
	}
	return psprintf("%s.%s", entity, suffix);
}

static Datum
column_or_null(HeapTuple row, TupleDesc tupdesc, const char *column, bool *isnull)
{
	int			attnum = SPI_fnumber(tupdesc, column);

	if (attnum <= 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return heap_getattr(row, attnum, tupdesc, isnull);
}

/*
 * Append one event to the outbox, as the outbox's owner (writers have no
 * privilege on it: nobody can forge an event).
 */
static void
append_event(Relation as_owner_of, const char *type, Datum project_id, Datum entity_id,
			 bool has_version, int32 version, Jsonb *changes)
{
	Oid			argtypes[6] = {TEXTOID, UUIDOID, UUIDOID, UUIDOID, INT4OID, JSONBOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	pg_uuid_t	actor;
	OwnerContext saved;

	values[0] = CStringGetTextDatum(type);
	values[1] = project_id;
	values[2] = entity_id;
	if (intracker_acting_user(&actor))
		values[3] = UUIDPGetDatum(&actor);
	else
		nulls[3] = 'n';
	values[4] = Int32GetDatum(version);
	if (!has_version)
		nulls[4] = 'n';
	values[5] = JsonbPGetDatum(changes);

	intracker_become_owner(as_owner_of, &saved);
	intracker_spi_connect();
	intracker_spi_expect(SPI_execute_plan(intracker_kept_plan(&insert_event_plan, INSERT_EVENT_QUERY, 6, argtypes, 0),
										  values, nulls, false, 0),
						 SPI_OK_INSERT, "append to the outbox");
	SPI_finish();
	intracker_restore_user(&saved);

	events_written_in_xact = true;
}

PG_FUNCTION_INFO_V1(intracker_record_event);
Datum
intracker_record_event(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Trigger    *trigger;
	TupleDesc	tupdesc;
	HeapTuple	old_row = NULL;
	HeapTuple	new_row = NULL;
	HeapTuple	row;
	List	   *changed_columns;
	Jsonb	   *changes;
	Datum		project_id;
	Datum		entity_id;
	Datum		version;
	bool		project_isnull;
	bool		entity_isnull;
	bool		version_isnull;

	trigdata = intracker_check_row_trigger(fcinfo, "intracker_record_event", TRIGGER_EVENT_AFTER, false, 3);
	trigger = trigdata->tg_trigger;
	tupdesc = trigdata->tg_relation->rd_att;
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		/*
		 * A restored row was announced in the database it was dumped from:
		 * its events come back with the event log and the outbox.
		 */
		if (intracker_restoring())
			return PointerGetDatum(NULL);
		new_row = trigdata->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		old_row = trigdata->tg_trigtuple;
	else
	{
		old_row = trigdata->tg_trigtuple;
		new_row = trigdata->tg_newtuple;
	}
	row = new_row ? new_row : old_row;

	changes = build_changes(trigdata, old_row, new_row, &changed_columns);
	version = column_or_null(row, tupdesc, "version", &version_isnull);
	if (old_row && new_row && changed_columns == NIL)
	{
		bool		old_version_isnull;
		Datum		old_version = column_or_null(old_row, tupdesc, "version", &old_version_isnull);

		/* counter bookkeeping is no news; a new version always is */
		if (version_isnull || old_version_isnull ||
			DatumGetInt32(old_version) == DatumGetInt32(version))
			return PointerGetDatum(NULL);
	}

	entity_id = heap_getattr(row, intracker_trigger_column(trigdata->tg_relation, trigger->tgargs[1]),
							 tupdesc, &entity_isnull);
	project_id = heap_getattr(row, intracker_trigger_column(trigdata->tg_relation, trigger->tgargs[2]),
							  tupdesc, &project_isnull);
	if (entity_isnull || project_isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("intracker_record_event: column \"%s\" is null",
						entity_isnull ? trigger->tgargs[1] : trigger->tgargs[2]),
				 errdetail("An event needs the ids of its entity and of its project.")));

	append_event(trigdata->tg_relation, event_type(trigdata, changed_columns),
				 project_id, entity_id, !version_isnull,
				 version_isnull ? 0 : DatumGetInt32(version), changes);
	return PointerGetDatum(NULL);
}

/*
 * A stale write was rejected (optimistic_lock.c, just before it raises the
 * error): hand a conflict.rejected event to the publisher, which records it
 * in its own transaction since this one is about to abort.  Nothing happens
 * without a publisher (library not preloaded, or another database).
 */
void
intracker_note_rejected_write(Relation rel, const char *entity, HeapTuple old_row,
							  bool has_attempted, int32 attempted, int32 current,
							  int sqlerrcode)
{
	TupleDesc	tupdesc = rel->rd_att;
	RejectedWrite rejected;
	bool		isnull;
	Datum		value;
	const char *project_column = strcmp(entity, "project") == 0 ? "id" : "project_id";

	memset(&rejected, 0, sizeof(rejected));
	strlcpy(rejected.entity, entity, sizeof(rejected.entity));

	value = column_or_null(old_row, tupdesc, project_column, &isnull);
	if (isnull)
		return;					/* users have no project: no team to tell */
	rejected.project_id = *DatumGetUUIDP(value);
	value = column_or_null(old_row, tupdesc, "id", &isnull);
	if (isnull)
		return;
	rejected.entity_id = *DatumGetUUIDP(value);
	rejected.has_actor = intracker_acting_user(&rejected.actor);
	rejected.has_attempted = has_attempted;
	rejected.attempted_version = attempted;
	rejected.current_version = current;
	strlcpy(rejected.sqlstate, unpack_sql_state(sqlerrcode), sizeof(rejected.sqlstate));
	rejected.at = GetCurrentTimestamp();

	intracker_count_activity(strcmp(entity, "todo") == 0 ? ACTIVITY_CONFLICT_TODO
							 : strcmp(entity, "feature") == 0 ? ACTIVITY_CONFLICT_FEATURE
							 : strcmp(entity, "project") == 0 ? ACTIVITY_CONFLICT_PROJECT
							 : ACTIVITY_CONFLICT_OTHER);
	intracker_queue_rejected_write(&rejected);
}
