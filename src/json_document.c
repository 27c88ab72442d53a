/*-------------------------------------------------------------------------
 *
 * json_document.c
 *	  jansson, the PostgreSQL way: documents released with their memory
 *	  context, value builders, and reading JSON text safely.
 *
 * jansson allocates with malloc, so its memory is invisible to memory
 * contexts and an ERROR half-way through would leak it.  Two disciplines
 * keep every path clean:
 *
 * - Built documents (the context documents): the root is owned by the
 *   current memory context (intracker_json_owned), a reset callback
 *   releases it when the context is reset or deleted, at the end of the
 *   call or on error.  Every value is attached to its parent as soon as it
 *   is created (intracker_json_put and friends), so the root owns
 *   everything; an allocation that fails raises ERRCODE_OUT_OF_MEMORY.
 *
 * - Read documents (GitHub's answers, PostgREST's GUCs):
 *   intracker_json_read parses, hands the document to a reader, and
 *   releases it whatever the reader does, errors included.
 *
 * Text from the server that is not valid UTF-8 (only possible under a
 * non-UTF8 server encoding) has its bad bytes replaced, so what is built
 * is always valid JSON.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "json_document.h"

/* A jansson value owned by a memory context. */
typedef struct OwnedJson
{
	json_t	   *value;
	MemoryContextCallback callback;
} OwnedJson;

static void
json_out_of_memory(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("out of memory"),
			 errdetail("jansson could not allocate a JSON value.")));
}

static void
release_owned(void *arg)
{
	OwnedJson  *owned = (OwnedJson *) arg;

	if (owned->value != NULL)
		json_decref(owned->value);
	owned->value = NULL;
}

/*
 * value (just created, NULL when jansson ran out of memory), owned by the
 * current memory context: released when it is reset or deleted.
 */
json_t *
intracker_json_owned(json_t *value)
{
	OwnedJson  *owned;

	if (value == NULL)
		json_out_of_memory();
	owned = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(OwnedJson), MCXT_ALLOC_NO_OOM);
	if (owned == NULL)
	{
		json_decref(value);
		json_out_of_memory();
	}
	owned->value = value;
	owned->callback.func = release_owned;
	owned->callback.arg = owned;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &owned->callback);
	return value;
}

/* ----------------------------------------------------------------
 * Building values
 * ----------------------------------------------------------------
 */

/* An empty object, or NULL when out of memory (attach it at once). */
json_t *
intracker_json_new_object(void)
{
	return json_pack("{}");
}

/* A JSON string from server text; invalid UTF-8 bytes become U+FFFD. */
json_t *
intracker_json_text(const char *text)
{
	json_t	   *value;
	StringInfoData clean;
	const unsigned char *p;
	const unsigned char *end;

	if (text == NULL)
		return json_null();
	value = json_string(text);
	if (value != NULL)
		return value;

	initStringInfo(&clean);
	p = (const unsigned char *) text;
	end = p + strlen(text);
	while (p < end)
	{
		int			len = pg_utf_mblen(p);

		if (p + len <= end && pg_utf8_islegal(p, len))
		{
			appendBinaryStringInfo(&clean, (const char *) p, len);
			p += len;
		}
		else
		{
			appendStringInfoString(&clean, "\xEF\xBF\xBD");
			p++;
		}
	}
	value = json_string(clean.data);
	pfree(clean.data);
	return value ? value : json_null();
}

/* Parse JSON text produced by the server (jsonb, to_json) into a value. */
json_t *
intracker_json_from_server(const char *json_text)
{
	json_t	   *value;

	if (json_text == NULL)
		return json_null();
	value = json_loads(json_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	return value ? value : intracker_json_text(json_text);
}

/*
 * Attach value (just created; NULL when jansson ran out of memory) to
 * object under key, which takes it over.
 */
void
intracker_json_put(json_t *object, const char *key, json_t *value)
{
	if (value == NULL || json_object_set_new(object, key, value) != 0)
		json_out_of_memory();
}

/* A new object attached to parent under key. */
json_t *
intracker_json_put_object(json_t *parent, const char *key)
{
	json_t	   *child = intracker_json_new_object();

	intracker_json_put(parent, key, child);
	return child;
}

/* A new array attached to parent under key. */
json_t *
intracker_json_put_array(json_t *parent, const char *key)
{
	json_t	   *child = json_array();

	intracker_json_put(parent, key, child);
	return child;
}

/* A new object appended to array. */
json_t *
intracker_json_append_object(json_t *array)
{
	json_t	   *child = intracker_json_new_object();

	if (child == NULL || json_array_append_new(array, child) != 0)
		json_out_of_memory();
	return child;
}

/* value serialized with json_dumps flags, in palloc'd memory. */
char *
intracker_json_dump(json_t *value, size_t flags)
{
	char	   *dumped = json_dumps(value, flags);
	size_t		len;
	char	   *copy;

	if (dumped == NULL)
		json_out_of_memory();
	len = strlen(dumped);
	copy = MemoryContextAllocExtended(CurrentMemoryContext, len + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (copy != NULL)
		memcpy(copy, dumped, len + 1);
	free(dumped);
	if (copy == NULL)
		json_out_of_memory();
	return copy;
}

/* ----------------------------------------------------------------
 * Reading JSON text
 * ----------------------------------------------------------------
 */

/*
 * Parse len bytes of JSON text (json_loadb flags) and call reader on the
 * result; the parsed document is released afterwards, also when reader
 * raises an error.  Returns false, without calling reader, for text that is
 * not valid JSON.
 */
bool
intracker_json_read(const char *text, size_t len, size_t flags, JsonReader reader, void *arg)
{
	json_error_t error;
	json_t	   *root = json_loadb(text, len, flags, &error);

	if (root == NULL)
	{
		if (json_error_code(&error) == json_error_out_of_memory)
			json_out_of_memory();
		return false;
	}
	PG_TRY();
	{
		reader(root, arg);
	}
	PG_FINALLY();
	{
		json_decref(root);
	}
	PG_END_TRY();
	return true;
}

/*
 * A palloc'd copy of the string member key of object, or NULL when object
 * has no such string member.
 */
char *
intracker_json_string_member(json_t *object, const char *key)
{
	json_t	   *member = json_object_get(object, key);

	if (!json_is_string(member))
		return NULL;
	return pnstrdup(json_string_value(member), json_string_length(member));
}
