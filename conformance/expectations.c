/* conformance/expectations.c — --expect files: which tests are expected to
 * FAIL, CRASH, TIME OUT or be SKIPped, under which configuration, and why.
 *
 *   # comment
 *   TEST_OR_ANCHOR STATUS [KEY=VALUE ...]   # reason
 *
 * A pattern is an fnmatch pattern over test names and anchors; a KEY=VALUE
 * condition matches the runner's --config (or arch=, impl=).  The first
 * matching line applies.  A result equal to the expected status becomes
 * XFAIL; a PASS where a failure was expected becomes XPASS (a failure). */
#include "runner.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const tkc_st_names[TKT_ST_COUNT] = { "PASS", "FAIL", "UNSUPPORTED", "XFAIL", "XPASS", "CRASH",
                                                 "TIMEOUT", "SKIP" };

int tkc_parse_status(const char *s)
{
    for (int i = 0; i < TKT_ST_COUNT; i++)
        if (!strcasecmp(s, tkc_st_names[i])) return i;
    return -1;
}

void tkc_expect_free(tkc_expectations *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->v[i].pattern);
        for (int c = 0; c < x->v[i].nconds; c++) free(x->v[i].conds[c]);
        free(x->v[i].reason);
        free(x->v[i].where);
    }
    free(x->v);
    memset(x, 0, sizeof *x);
}

#define TKC_MAX_TOKENS 10   /* pattern, status, 8 conditions */

/* One line (NUL-terminated, no newline, modified in place). */
static int parse_line(tkc_expectations *x, const char *name, int lineno, char *line, char *err, size_t errlen)
{
    char *reason = strchr(line, '#');
    if (reason) {
        *reason++ = 0;
        while (*reason == ' ' || *reason == '\t') reason++;
        size_t rl = strlen(reason);
        while (rl && (reason[rl - 1] == ' ' || reason[rl - 1] == '\t' || reason[rl - 1] == '\r')) reason[--rl] = 0;
    }
    char *tok[TKC_MAX_TOKENS + 1];
    int n = 0;
    char *save = NULL;
    for (char *p = strtok_r(line, " \t\r\v\f", &save); p; p = strtok_r(NULL, " \t\r\v\f", &save)) {
        if (n == TKC_MAX_TOKENS) {
            snprintf(err, errlen, "%s:%d: more than %d conditions", name, lineno, TKC_MAX_TOKENS - 2);
            return -1;
        }
        tok[n++] = p;
    }
    if (!n) return 0;
    if (n < 2) {
        snprintf(err, errlen, "%s:%d: expected 'TEST_OR_ANCHOR STATUS [K=V...]  # reason', got '%.80s'", name, lineno,
                 tok[0]);
        return -1;
    }
    int st = tkc_parse_status(tok[1]);
    if (st != TKT_ST_FAIL && st != TKT_ST_CRASH && st != TKT_ST_TIMEOUT && st != TKT_ST_SKIP) {
        snprintf(err, errlen, "%s:%d: status '%.40s' must be FAIL, CRASH, TIMEOUT or SKIP", name, lineno, tok[1]);
        return -1;
    }
    for (int i = 2; i < n; i++) {
        char *eq = strchr(tok[i], '=');
        if (!eq || eq == tok[i] || !eq[1]) {
            snprintf(err, errlen, "%s:%d: condition '%.80s' is not KEY=VALUE", name, lineno, tok[i]);
            return -1;
        }
        if ((size_t)(eq - tok[i]) >= 64) {
            snprintf(err, errlen, "%s:%d: condition key '%.80s' longer than 63 characters", name, lineno, tok[i]);
            return -1;
        }
    }
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 16;
        tkc_expectation *nv = realloc(x->v, nc * sizeof *nv);
        if (!nv) { snprintf(err, errlen, "%s:%d: out of memory", name, lineno); return -1; }
        x->v = nv;
        x->cap = nc;
    }
    tkc_expectation *e = &x->v[x->n++];
    memset(e, 0, sizeof *e);
    e->pattern = strdup(tok[0]);
    e->status = st;
    for (int i = 2; i < n; i++) e->conds[e->nconds++] = strdup(tok[i]);
    e->reason = strdup(reason ? reason : "");
    size_t wl = strlen(name) + 24;
    e->where = malloc(wl);
    if (e->where) snprintf(e->where, wl, "%s:%d", name, lineno);
    return 0;
}

int tkc_expect_parse(tkc_expectations *x, const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    size_t pos = 0;
    int lineno = 0;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) pos = 3;   /* a UTF-8 byte order mark carries nothing */
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        if (memchr(text + pos, 0, n)) { snprintf(err, errlen, "%s:%d: NUL byte (not a text file)", name, lineno); return -1; }
        char *line = malloc(n + 1);
        if (!line) { snprintf(err, errlen, "%s:%d: out of memory", name, lineno); return -1; }
        memcpy(line, text + pos, n);
        line[n] = 0;
        int rc = parse_line(x, name, lineno, line, err, errlen);
        free(line);
        if (rc) return -1;
        pos += n + (nl ? 1 : 0);
    }
    return 0;
}

int tkc_expect_load(tkc_expectations *x, const char *path)
{
    struct stat st;
    if (stat(path, &st)) { fprintf(stderr, "tk-conform: cannot read --expect '%s': %s\n", path, strerror(errno)); return -1; }
    if (S_ISDIR(st.st_mode)) { fprintf(stderr, "tk-conform: --expect '%s' is a directory (give a file)\n", path); return -1; }
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "tk-conform: cannot read --expect '%s': %s\n", path, strerror(errno)); return -1; }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = !buf || ferror(f);
    int e = errno;
    fclose(f);
    if (bad) {
        fprintf(stderr, "tk-conform: cannot read --expect '%s': %s\n", path, buf ? strerror(e) : "out of memory");
        free(buf);
        return -1;
    }
    char err[600];
    int rc = tkc_expect_parse(x, path, buf, n, err, sizeof err);
    free(buf);
    if (rc) fprintf(stderr, "tk-conform: %s\n", err);
    return rc;
}

static int cond_holds(const char *cond)
{
    const char *eq = strchr(cond, '=');
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - cond), cond);
    const char *v = !strcmp(key, "arch") ? tkc_arch_name() : tkt_base_config(key);
    if (!v && !strcmp(key, "impl")) v = D ? D->name : NULL;
    return v && !strcmp(v, eq + 1);
}

const tkc_expectation *tkc_expect_find(const tkc_expectations *x, const tkt_test *t)
{
    for (size_t i = 0; i < x->n; i++) {
        const tkc_expectation *e = &x->v[i];
        int match = !fnmatch(e->pattern, t->name, 0);
        for (int a = 0; !match && t->anchors[a]; a++) match = !fnmatch(e->pattern, t->anchors[a], 0);
        if (!match) continue;
        int ok = 1;
        for (int c = 0; c < e->nconds; c++) ok &= cond_holds(e->conds[c]);
        if (ok) return e;
    }
    return NULL;
}

int tkc_is_failure(int st) { return st == TKT_ST_FAIL || st == TKT_ST_XPASS || st == TKT_ST_CRASH || st == TKT_ST_TIMEOUT; }
int tkc_is_pass(int st) { return st == TKT_ST_PASS || st == TKT_ST_XFAIL; }

void tkc_apply_expectation(tkc_result *r)
{
    const tkc_expectation *x = r->exp;
    r->status = r->raw;
    if (!x) return;
    if (r->raw == TKT_ST_PASS && x->status != TKT_ST_SKIP) {
        r->status = TKT_ST_XPASS;
        char m[1200];
        snprintf(m, sizeof m, "expected %s (%s: %s) but passed", tkc_st_names[x->status], x->where, x->reason);
        snprintf(r->msg, sizeof r->msg, "%s", m);
    } else if (r->raw == x->status) {
        r->status = TKT_ST_XFAIL;
    }
}
