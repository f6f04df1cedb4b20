/* conformance/json.c — see json.h.  Recursive descent, depth-limited. */
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

struct tkj_doc {
    tkj_node *root;
    void **blocks;
    size_t nblocks, capblocks;
};

typedef struct {
    const char *p, *start, *end;
    tkj_doc *doc;
    char *err;
    size_t errlen;
    int depth;
} parser;

static void *arena(tkj_doc *d, size_t n)
{
    if (d->nblocks == d->capblocks) {
        size_t nc = d->capblocks ? d->capblocks * 2 : 16;
        void **nb = realloc(d->blocks, nc * sizeof *nb);
        if (!nb) return NULL;
        d->blocks = nb;
        d->capblocks = nc;
    }
    void *m = calloc(1, n ? n : 1);
    if (m) d->blocks[d->nblocks++] = m;
    return m;
}

static int fail(parser *ps, const char *what)
{
    if (ps->err && ps->errlen)
        snprintf(ps->err, ps->errlen, "%s at column %ld", what, (long)(ps->p - ps->start) + 1);
    return -1;
}

static void ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n'))
        ps->p++;
}

static tkj_node *node(parser *ps, tkj_type t)
{
    tkj_node *n = arena(ps->doc, sizeof *n);
    if (n) n->type = t;
    return n;
}

static int hex4(parser *ps, unsigned *out)
{
    unsigned v = 0;
    if (ps->end - ps->p < 4) return fail(ps, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(ps, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static char *string(parser *ps)
{
    /* ps->p is at the opening quote */
    ps->p++;
    const char *s = ps->p;
    size_t cap = 0;
    while (s < ps->end && *s != '"') { if (*s == '\\') s++; s++; cap++; }
    char *out = arena(ps->doc, cap * 4 + 1), *o = out;
    if (!out) { fail(ps, "out of memory"); return NULL; }
    for (;;) {
        if (ps->p >= ps->end) { fail(ps, "unterminated string"); return NULL; }
        unsigned char c = (unsigned char)*ps->p++;
        if (c == '"') break;
        if (c < 0x20) { ps->p--; fail(ps, "control character in string"); return NULL; }
        if (c != '\\') { *o++ = (char)c; continue; }
        if (ps->p >= ps->end) { fail(ps, "unterminated escape"); return NULL; }
        c = (unsigned char)*ps->p++;
        switch (c) {
        case '"': case '\\': case '/': *o++ = (char)c; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(ps, &cp)) return NULL;
            if (cp >= 0xD800 && cp < 0xDC00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                unsigned lo;
                ps->p += 2;
                if (hex4(ps, &lo)) return NULL;
                if (lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) { fail(ps, "\\u0000 in string"); return NULL; }
            if (cp < 0x80) *o++ = (char)cp;
            else if (cp < 0x800) { *o++ = (char)(0xC0 | (cp >> 6)); *o++ = (char)(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) { *o++ = (char)(0xE0 | (cp >> 12)); *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)); *o++ = (char)(0x80 | (cp & 0x3F)); }
            else { *o++ = (char)(0xF0 | (cp >> 18)); *o++ = (char)(0x80 | ((cp >> 12) & 0x3F)); *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)); *o++ = (char)(0x80 | (cp & 0x3F)); }
            break;
        }
        default: ps->p--; fail(ps, "bad escape in string"); return NULL;
        }
    }
    *o = 0;
    return out;
}

static tkj_node *value(parser *ps);

static tkj_node *number(parser *ps)
{
    const char *s = ps->p;
    if (*ps->p == '-') ps->p++;
    if (ps->p >= ps->end || !(*ps->p >= '0' && *ps->p <= '9')) { fail(ps, "bad number"); return NULL; }
    if (*ps->p == '0') ps->p++;
    else while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    int integral = 1;
    if (ps->p < ps->end && *ps->p == '.') {
        integral = 0; ps->p++;
        if (ps->p >= ps->end || !(*ps->p >= '0' && *ps->p <= '9')) { fail(ps, "bad fraction"); return NULL; }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        integral = 0; ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
        if (ps->p >= ps->end || !(*ps->p >= '0' && *ps->p <= '9')) { fail(ps, "bad exponent"); return NULL; }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    char buf[64];
    size_t n = (size_t)(ps->p - s);
    if (n >= sizeof buf) { fail(ps, "number too long"); return NULL; }
    memcpy(buf, s, n); buf[n] = 0;
    tkj_node *v = node(ps, TKJ_NUM);
    if (!v) return NULL;
    v->num = strtod(buf, NULL);
    if (integral) {   /* exact: every int64 / uint64 literal, none rounded or truncated */
        errno = 0;
        long long x = strtoll(buf, NULL, 10);
        if (errno == 0) { v->is_int = 1; v->ival = x; }
        if (buf[0] != '-') {
            errno = 0;
            unsigned long long y = strtoull(buf, NULL, 10);
            if (errno == 0) { v->is_uint = 1; v->uval = y; }
        }
    }
    return v;
}

static int lit(parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n)) return 0;
    ps->p += n;
    return 1;
}

static tkj_node *value(parser *ps)
{
    ws(ps);
    if (ps->p >= ps->end) { fail(ps, "unexpected end of input"); return NULL; }
    if (++ps->depth > 64) { fail(ps, "nesting too deep"); return NULL; }
    tkj_node *v = NULL;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        int obj = c == '{';
        v = node(ps, obj ? TKJ_OBJ : TKJ_ARR);
        if (!v) return NULL;
        ps->p++;
        ws(ps);
        tkj_node **tail = &v->child;
        if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) { ps->p++; goto done; }
        for (;;) {
            char *key = NULL;
            ws(ps);
            if (obj) {
                if (ps->p >= ps->end || *ps->p != '"') { fail(ps, "expected member name"); return NULL; }
                if (!(key = string(ps))) return NULL;
                ws(ps);
                if (ps->p >= ps->end || *ps->p != ':') { fail(ps, "expected ':'"); return NULL; }
                ps->p++;
            }
            tkj_node *m = value(ps);
            if (!m) return NULL;
            m->key = key;
            *tail = m; tail = &m->next;
            ws(ps);
            if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
            if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) { ps->p++; break; }
            fail(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            return NULL;
        }
    } else if (c == '"') {
        v = node(ps, TKJ_STR);
        if (!v || !(v->str = string(ps))) return NULL;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        v = number(ps);
    } else if (lit(ps, "true")) {
        if ((v = node(ps, TKJ_BOOL))) v->boolean = 1;
    } else if (lit(ps, "false")) {
        v = node(ps, TKJ_BOOL);
    } else if (lit(ps, "null")) {
        v = node(ps, TKJ_NULL);
    } else {
        fail(ps, "unexpected character");
        return NULL;
    }
done:
    ps->depth--;
    return v;
}

tkj_doc *tkj_parse(const char *text, size_t len, char *err, size_t errlen)
{
    tkj_doc *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    parser ps = { text, text, text + len, d, err, errlen, 0 };
    d->root = value(&ps);
    if (d->root) {
        ws(&ps);
        if (ps.p != ps.end) { fail(&ps, "trailing characters after JSON value"); d->root = NULL; }
    }
    if (!d->root) { tkj_free(d); return NULL; }
    return d;
}

void tkj_free(tkj_doc *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nblocks; i++) free(d->blocks[i]);
    free(d->blocks);
    free(d);
}

tkj_node *tkj_root(tkj_doc *d) { return d ? d->root : NULL; }

tkj_node *tkj_get(const tkj_node *obj, const char *key)
{
    if (!obj || obj->type != TKJ_OBJ) return NULL;
    for (tkj_node *m = obj->child; m; m = m->next)
        if (m->key && !strcmp(m->key, key)) return m;
    return NULL;
}

void tkj_write_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}
