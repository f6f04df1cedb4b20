/* conformance/json.h — a compact JSON reader (one document per call).
 *
 * Enough for trace lines: objects, arrays, strings (with \u escapes to
 * UTF-8), numbers (kept as double and, when integral, as int64), true,
 * false, null.  Nodes live in one arena owned by the document. */
#ifndef TK_JSON_H
#define TK_JSON_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef enum { TKJ_NULL, TKJ_BOOL, TKJ_NUM, TKJ_STR, TKJ_ARR, TKJ_OBJ } tkj_type;

typedef struct tkj_node tkj_node;
struct tkj_node {
    tkj_type type;
    int is_int;          /* TKJ_NUM: the literal was an integer that fits  */
    int64_t ival;        /*          in int64 (is_int) ...                 */
    int is_uint;         /*          ... or, non-negative, in uint64       */
    uint64_t uval;
    double num;
    int boolean;
    char *str;           /* TKJ_STR (NUL-terminated, may contain no NUL)   */
    char *key;           /* member name when inside an object              */
    tkj_node *child;     /* first element / member                         */
    tkj_node *next;      /* next sibling                                   */
};

typedef struct tkj_doc tkj_doc;

/* Parses text[0..len); returns NULL and a message with the column on
 * error. */
/* Writes s as a JSON string literal (quotes, escapes). */
void tkj_write_str(FILE *f, const char *s);

tkj_doc *tkj_parse(const char *text, size_t len, char *err, size_t errlen);
void tkj_free(tkj_doc *d);
tkj_node *tkj_root(tkj_doc *d);
tkj_node *tkj_get(const tkj_node *obj, const char *key);

#endif
