/*-------------------------------------------------------------------------
 *
 * json_document.h
 *	  jansson, the PostgreSQL way (json_document.c): values released with
 *	  a memory context, builders that raise out-of-memory errors, and
 *	  reading JSON text without leaking on error.
 *
 * PostgreSQL has a function named json_object too (the SQL json_object()),
 * so utils/builtins.h cannot be included next to this header (nor
 * jansson.h): files that include it declare the few built-ins they need.
 * For the same reason a call to jansson's json_object() from this library
 * would bind to the server's function at run time; create objects with
 * intracker_json_new_object(), which goes through json_pack, whose own call
 * stays inside libjansson.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_JSON_DOCUMENT_H
#define INTRACKER_JSON_DOCUMENT_H

#include <jansson.h>

/* Reads a parsed document (intracker_json_read); may raise errors. */
typedef void (*JsonReader) (json_t *root, void *arg);

extern json_t *intracker_json_owned(json_t *value);
extern json_t *intracker_json_new_object(void);
extern json_t *intracker_json_text(const char *text);
extern json_t *intracker_json_from_server(const char *json_text);
extern void intracker_json_put(json_t *object, const char *key, json_t *value);
extern json_t *intracker_json_put_object(json_t *parent, const char *key);
extern json_t *intracker_json_put_array(json_t *parent, const char *key);
extern json_t *intracker_json_append_object(json_t *array);
extern char *intracker_json_dump(json_t *value, size_t flags);
extern bool intracker_json_read(const char *text, size_t len, size_t flags, JsonReader reader, void *arg);
extern char *intracker_json_string_member(json_t *object, const char *key);

#endif							/* INTRACKER_JSON_DOCUMENT_H */
