/* conformance/verify_cli.c — the tk-verify command line: checks a JSON Lines event trace
 * (SPEC.md "Event trace") against every trace-checkable invariant of
 * SPEC.md.
 *
 * Exit status: 0 the trace satisfies every checked rule, 1 violations were
 * found, 2 the trace is malformed or cannot be read (usage errors too).
 * tk_verify_main is also linked into tk-conform, so a test can verify the
 * trace file a driver wrote. */
#include "json.h"
#include "tkv.h"
#include "tk_driver.h"
#include "cli/outfile.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct viol_rec {
    char *anchor, *method, *msg;
    long line;
    uint64_t seq;
} viol_rec;

/* One call's state: tk_verify_main keeps nothing across calls (it runs
 * inside tk-conform and under the fuzzer, fuzz/), and frees all of it. */
typedef struct verify_run {
    viol_rec *viols;
    size_t nviols, capviols;
    const char *trace_path;
} verify_run;

static void on_violation(void *user, const char *anchor, const tkv_event *ev, const char *method, const char *msg)
{
    verify_run *vr = user;
    printf("%s:%ld: seq %llu: %s: method %s: %s\n", vr->trace_path, ev->line, (unsigned long long)ev->seq, anchor,
           method, msg);
    if (vr->nviols == vr->capviols) {
        vr->capviols = vr->capviols ? vr->capviols * 2 : 32;
        vr->viols = realloc(vr->viols, vr->capviols * sizeof *vr->viols);
        if (!vr->viols) abort();
    }
    vr->viols[vr->nviols++] = (viol_rec){ strdup(anchor), strdup(method), strdup(msg), ev->line, ev->seq };
}

static const char *g_trace_path;   /* for malformed(); set per call, never read across calls */

static int malformed(long line, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s:%ld: malformed trace: ", g_trace_path, line);
    fprintf(stderr, fmt, a ? a : "", b ? b : "");
    fputc('\n', stderr);
    return 2;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tk-verify TRACE.jsonl [--json FILE] [--strategy S]\n"
            "\n"
            "Checks a tierkit event trace (SPEC.md, section \"Event trace\") against the\n"
            "trace-checkable invariants of SPEC.md.\n"
            "  --json FILE    also write the result as JSON (schema_version 1)\n"
            "  --strategy S   strategy the trace was produced with (default: the\n"
            "                 header's \"strategy\"); 'lazy' enables\n"
            "                 inv.backpatch.lazy-final-only\n"
            "Exit status: 0 no violation, 1 violations, 2 malformed input or usage error.\n");
}

/* Field helpers; each returns 0 on success and fills a message on error. */
typedef struct { long line; const char *ev; char msg[256]; } ctx_t;

static int req_str(ctx_t *cx, tkj_node *o, const char *k, const char **out)
{
    tkj_node *n = tkj_get(o, k);
    if (!n) { snprintf(cx->msg, sizeof cx->msg, "event '%s' lacks required field '%s'", cx->ev, k); return -1; }
    if (n->type != TKJ_STR) { snprintf(cx->msg, sizeof cx->msg, "field '%s' must be a string", k); return -1; }
    *out = n->str;
    return 0;
}

/* A non-negative integer field in [0, max] (seq and thread up to 2^64-1,
 * il_version up to INT_MAX): never read negative, rounded or truncated. */
static int req_uint(ctx_t *cx, tkj_node *o, const char *k, uint64_t max, uint64_t *out)
{
    tkj_node *n = tkj_get(o, k);
    if (!n) { snprintf(cx->msg, sizeof cx->msg, "event '%s' lacks required field '%s'", cx->ev, k); return -1; }
    if (n->type != TKJ_NUM || !n->is_uint || n->uval > max) {
        snprintf(cx->msg, sizeof cx->msg, "field '%s' must be an integer in [0, %llu]", k, (unsigned long long)max);
        return -1;
    }
    *out = n->uval;
    return 0;
}

static int parse_addr_str(ctx_t *cx, const char *k, const char *s, uint64_t *out)
{
    char *end;
    if (strncmp(s, "0x", 2) && strncmp(s, "0X", 2)) {
        snprintf(cx->msg, sizeof cx->msg, "field '%s' is not a \"0x...\" address", k);
        return -1;
    }
    errno = 0;
    *out = strtoull(s + 2, &end, 16);
    if (*end || end == s + 2 || errno) {
        snprintf(cx->msg, sizeof cx->msg, "field '%s' is not a \"0x...\" address", k);
        return -1;
    }
    return 0;
}

static int req_tier(ctx_t *cx, tkj_node *o, const char *k, int *out)
{
    const char *s;
    int ok;
    if (req_str(cx, o, k, &s)) return -1;
    *out = tkv_tier_from_name(s, &ok);
    if (!ok) { snprintf(cx->msg, sizeof cx->msg, "field '%s' has unknown tier \"%s\"", k, s); return -1; }
    return 0;
}

static int req_addrobj(ctx_t *cx, tkv_names *names, tkj_node *o, const char *k, tkv_addr *a)
{
    tkj_node *n = tkj_get(o, k);
    const char *s;
    if (!n) { snprintf(cx->msg, sizeof cx->msg, "event '%s' lacks required field '%s'", cx->ev, k); return -1; }
    if (n->type != TKJ_OBJ) { snprintf(cx->msg, sizeof cx->msg, "field '%s' must be an address object", k); return -1; }
    ctx_t sub = *cx;
    if (req_str(&sub, n, "addr", &s) || parse_addr_str(&sub, "addr", s, &a->addr)) {
        snprintf(cx->msg, sizeof cx->msg, "address object '%.32s': %.200s", k, sub.msg);
        return -1;
    }
    if (req_str(&sub, n, "cls", &s)) { snprintf(cx->msg, sizeof cx->msg, "address object '%s' lacks 'cls'", k); return -1; }
    if ((a->cls = tkv_cls_from_name(s)) < 0) {
        snprintf(cx->msg, sizeof cx->msg, "address object '%s' has unknown cls \"%s\"", k, s);
        return -1;
    }
    tkj_node *m = tkj_get(n, "method");
    a->method = (m && m->type == TKJ_STR) ? tkv_intern_str(names, m->str) : 0;
    a->tier = TKV_ABSENT;
    a->il_version = TKV_ABSENT;
    if (tkj_get(n, "tier") && req_tier(&sub, n, "tier", &a->tier)) {
        snprintf(cx->msg, sizeof cx->msg, "address object '%.32s': %.200s", k, sub.msg);
        return -1;
    }
    if (tkj_get(n, "il_version")) {
        uint64_t v;
        if (req_uint(&sub, n, "il_version", INT_MAX, &v)) {
            snprintf(cx->msg, sizeof cx->msg, "address object '%.32s': %.200s", k, sub.msg);
            return -1;
        }
        a->il_version = (int)v;
    }
    a->present = 1;
    return 0;
}

enum { F_METHOD = 1, F_SLOT = 2, F_STUB = 4, F_OLD = 8, F_NEW = 16, F_TIER = 32, F_IL = 64, F_FROM = 128,
       F_TYPE = 256, F_REASON = 512 };

static unsigned required_fields(tkv_ev ev)
{
    switch (ev) {
    case TKV_TYPE_LOAD: case TKV_TYPE_UNLOAD: return F_TYPE;
    case TKV_SLOT_WRITE: return F_METHOD | F_SLOT | F_OLD | F_NEW | F_REASON;
    case TKV_SLOT_RECORD: return F_METHOD | F_SLOT | F_NEW;
    case TKV_PRECODE_RETARGET: return F_METHOD | F_STUB | F_OLD | F_NEW;
    case TKV_STUB_ALLOC: case TKV_STUB_FREE: return F_STUB;
    case TKV_BACKPATCH_BEGIN: return F_METHOD | F_NEW;
    case TKV_BACKPATCH_END: return F_METHOD;
    case TKV_PUBLISH: return F_METHOD | F_TIER | F_IL | F_NEW;
    case TKV_ACTIVATE: return F_METHOD | F_IL;
    case TKV_COUNTING_BEGIN: case TKV_COUNTING_COMPLETE: case TKV_THRESHOLD: return F_METHOD | F_TIER | F_IL;
    case TKV_PROMOTE: return F_METHOD | F_FROM | F_TIER | F_IL;
    default: return 0;
    }
}

static int convert(ctx_t *cx, tkv_names *names, tkj_node *o, tkv_event *e)
{
    const char *s;
    uint64_t v;
    memset(e, 0, sizeof *e);
    e->tier = e->from_tier = e->il_version = TKV_ABSENT;
    e->old.tier = e->old.il_version = e->nw.tier = e->nw.il_version = TKV_ABSENT;
    if (req_str(cx, o, "type", &s)) return -1;
    if (strcmp(s, "event")) { snprintf(cx->msg, sizeof cx->msg, "\"type\" is \"%s\", expected \"event\"", s); return -1; }
    if (req_uint(cx, o, "seq", UINT64_MAX, &v)) return -1;
    e->seq = v;
    if (req_str(cx, o, "ev", &s)) return -1;
    cx->ev = s;
    if ((e->ev = tkv_ev_from_name(s)) == TKV_NONE) { snprintf(cx->msg, sizeof cx->msg, "unknown ev \"%s\"", s); return -1; }
    if (req_uint(cx, o, "thread", UINT64_MAX, &v)) return -1;
    e->thread = v;
    unsigned need = required_fields(e->ev);
    /* optional fields are parsed when present, required ones must be */
    if ((need & F_METHOD) || tkj_get(o, "method")) {
        if (req_str(cx, o, "method", &s)) return -1;
        e->method = tkv_intern_str(names, s);
    }
    if ((need & F_TYPE) || tkj_get(o, "type_name")) {
        if (req_str(cx, o, "type_name", &s)) return -1;
        e->type_name = s;
    }
    if ((need & F_SLOT) || tkj_get(o, "slot")) {
        if (req_str(cx, o, "slot", &s) || parse_addr_str(cx, "slot", s, &e->slot)) return -1;
        if (req_str(cx, o, "slot_kind", &s)) return -1;
        if (!strcmp(s, "vtable")) e->slot_kind = TKV_SK_VTABLE;
        else if (!strcmp(s, "owning")) e->slot_kind = TKV_SK_OWNING;
        else if (!strcmp(s, "nonvirtual")) e->slot_kind = TKV_SK_NONVIRTUAL;
        else { snprintf(cx->msg, sizeof cx->msg, "unknown slot_kind \"%s\"", s); return -1; }
    }
    if ((need & F_STUB) || tkj_get(o, "stub")) {
        if (req_str(cx, o, "stub", &s) || parse_addr_str(cx, "stub", s, &e->stub)) return -1;
        if (req_str(cx, o, "stub_kind", &s)) return -1;
        if (!strcmp(s, "precode")) e->stub_kind = TK_AC_PRECODE;
        else if (!strcmp(s, "forwarder")) e->stub_kind = TK_AC_FORWARDER;
        else if (!strcmp(s, "callcount")) e->stub_kind = TK_AC_CALLCOUNT_STUB;
        else { snprintf(cx->msg, sizeof cx->msg, "unknown stub_kind \"%s\"", s); return -1; }
    }
    if (((need & F_OLD) || tkj_get(o, "old")) && req_addrobj(cx, names, o, "old", &e->old)) return -1;
    if (((need & F_NEW) || tkj_get(o, "new")) && req_addrobj(cx, names, o, "new", &e->nw)) return -1;
    if (((need & F_TIER) || tkj_get(o, "tier")) && req_tier(cx, o, "tier", &e->tier)) return -1;
    if (((need & F_FROM) || tkj_get(o, "from_tier")) && req_tier(cx, o, "from_tier", &e->from_tier)) return -1;
    if ((need & F_IL) || tkj_get(o, "il_version")) {
        if (req_uint(cx, o, "il_version", INT_MAX, &v)) return -1;
        e->il_version = (int)v;
    }
    if ((need & F_REASON) || tkj_get(o, "reason")) {
        if (req_str(cx, o, "reason", &s)) return -1;
        e->reason = s;
    }
    return 0;
}

static void write_report(FILE *j, const verify_run *vr, const char *impl, const char *strategy, int rc, long events)
{
    fprintf(j, "{\"schema_version\":1,\"tool\":\"tk-verify\",\"trace\":");
    tkj_write_str(j, vr->trace_path);
    fprintf(j, ",\"implementation\":");
    if (impl) tkj_write_str(j, impl); else fputs("null", j);
    fprintf(j, ",\"strategy\":");
    if (strategy) tkj_write_str(j, strategy); else fputs("null", j);
    fprintf(j, ",\"result\":\"%s\",\"events\":%ld,\"checked_anchors\":[",
            rc == 2 ? "malformed" : rc ? "violations" : "ok", events);
    for (int i = 0; tkv_checked_anchors[i]; i++) {
        if (i) fputc(',', j);
        tkj_write_str(j, tkv_checked_anchors[i]);
    }
    fprintf(j, "],\"violations\":[");
    for (size_t i = 0; i < vr->nviols; i++) {
        fprintf(j, "%s{\"anchor\":", i ? "," : "");
        tkj_write_str(j, vr->viols[i].anchor);
        fprintf(j, ",\"line\":%ld,\"seq\":%llu,\"method\":", vr->viols[i].line, (unsigned long long)vr->viols[i].seq);
        tkj_write_str(j, vr->viols[i].method);
        fprintf(j, ",\"message\":");
        tkj_write_str(j, vr->viols[i].msg);
        fputc('}', j);
    }
    fprintf(j, "]}\n");
}

int tk_verify_main(int argc, char **argv)
{
    const char *json_out = NULL, *strategy = NULL;
    verify_run vr = { 0 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else if ((!strcmp(argv[i], "--json") || !strcmp(argv[i], "--strategy")) && i + 1 >= argc) {
            fprintf(stderr, "tk-verify: %s needs an argument (see --help)\n", argv[i]);
            return 2;
        } else if (!strcmp(argv[i], "--json")) json_out = argv[++i];
        else if (!strcmp(argv[i], "--strategy")) {
            strategy = argv[++i];
            if (!*strategy) { fprintf(stderr, "tk-verify: --strategy: empty name\n"); return 2; }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "tk-verify: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!vr.trace_path) vr.trace_path = argv[i];
        else { fprintf(stderr, "tk-verify: more than one trace given ('%s' and '%s')\n", vr.trace_path, argv[i]); return 2; }
    }
    if (!vr.trace_path) { usage(stderr); return 2; }
    if (!*vr.trace_path) { fprintf(stderr, "tk-verify: empty trace path\n"); return 2; }
    if (json_out && tk_out_check("tk-verify", "--json", json_out)) return 2;
    g_trace_path = vr.trace_path;
    FILE *f = strcmp(vr.trace_path, "-") ? fopen(vr.trace_path, "r") : stdin;
    if (!f) { fprintf(stderr, "tk-verify: cannot open '%s': %s\n", vr.trace_path, strerror(errno)); return 2; }

    tkv_names *names = tkv_names_new();
    tkv_checker *chk = NULL;
    char *line = NULL, *header_strategy = NULL, *impl = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, events = 0;
    uint64_t last_seq = 0;
    int rc = 0, saw_header = 0;
    char err[256];

    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (lineno == 1 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) {
            rc = malformed(lineno, "starts with a UTF-8 byte order mark (JSON Lines allows none)%s%s", NULL, NULL);
            break;
        }
        if (strlen(line) != (size_t)len) { rc = malformed(lineno, "NUL byte in the line%s%s", NULL, NULL); break; }
        size_t sp = strspn(line, " \t");
        if ((size_t)len == sp) {
            if (!saw_header) { rc = malformed(lineno, "empty line where the header was expected%s%s", NULL, NULL); break; }
            continue;   /* a blank line (e.g. at the end) carries nothing */
        }
        tkj_doc *d = tkj_parse(line, (size_t)len, err, sizeof err);
        if (!d) { rc = malformed(lineno, "not JSON: %s%s", err, NULL); break; }
        tkj_node *o = tkj_root(d);
        if (o->type != TKJ_OBJ) { tkj_free(d); rc = malformed(lineno, "line is not a JSON object%s%s", NULL, NULL); break; }
        if (!saw_header) {
            tkj_node *t = tkj_get(o, "type"), *sc = tkj_get(o, "schema"), *v = tkj_get(o, "trace_schema_version");
            if (!t || t->type != TKJ_STR || strcmp(t->str, "header")) {
                tkj_free(d); rc = malformed(lineno, "first line must be the header ({\"type\":\"header\",...})%s%s", NULL, NULL); break;
            }
            if (!sc || sc->type != TKJ_STR || strcmp(sc->str, "tierkit-trace")) {
                tkj_free(d); rc = malformed(lineno, "header 'schema' must be \"tierkit-trace\"%s%s", NULL, NULL); break;
            }
            if (!v || v->type != TKJ_NUM || !v->is_int || v->ival != 1) {
                tkj_free(d); rc = malformed(lineno, "unsupported trace_schema_version (this tk-verify reads version 1)%s%s", NULL, NULL); break;
            }
            tkj_node *st = tkj_get(o, "strategy"), *im = tkj_get(o, "implementation");
            if (st && st->type == TKJ_STR) header_strategy = strdup(st->str);
            if (im && im->type == TKJ_STR) impl = strdup(im->str);
            if (!strategy) strategy = header_strategy;
            chk = tkv_new(strategy, names, on_violation, &vr);
            saw_header = 1;
            tkj_free(d);
            continue;
        }
        ctx_t cx = { lineno, "?", "" };
        tkv_event e;
        if (convert(&cx, names, o, &e)) {
            tkj_free(d);
            rc = malformed(lineno, "%s%s", cx.msg, NULL);
            break;
        }
        if (e.seq <= last_seq) {
            char a[64], b[64];
            snprintf(a, sizeof a, "%llu", (unsigned long long)e.seq);
            snprintf(b, sizeof b, "%llu", (unsigned long long)last_seq);
            tkj_free(d);
            rc = malformed(lineno, "seq %s does not increase (previous %s)", a, b);
            break;
        }
        last_seq = e.seq;
        e.line = lineno;
        tkv_feed(chk, &e);
        events++;
        tkj_free(d);
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "tk-verify: cannot read '%s': %s\n", vr.trace_path, strerror(errno));
        rc = 2;
    }
    if (!rc && !saw_header) rc = malformed(lineno ? lineno : 1, "empty trace (no header)%s%s", NULL, NULL);
    if (f != stdin) fclose(f);
    free(line);
    if (!rc) {
        tkv_finish(chk);
        rc = vr.nviols ? 1 : 0;
        printf("%s: %ld events, strategy %s: %zu violation%s\n", vr.trace_path, events, strategy ? strategy : "(unknown)",
               vr.nviols, vr.nviols == 1 ? "" : "s");
    }
    if (json_out) {
        tk_out out;
        FILE *j = tk_out_open(&out, "tk-verify", "--json", json_out);
        if (!j || (write_report(j, &vr, impl, strategy, rc, events), tk_out_commit(&out))) rc = 2;
    }
    if (tk_out_stdout_check("tk-verify")) rc = 2;
    tkv_free(chk);
    tkv_names_free(names);
    for (size_t i = 0; i < vr.nviols; i++) {
        free(vr.viols[i].anchor);
        free(vr.viols[i].method);
        free(vr.viols[i].msg);
    }
    free(vr.viols);
    free(header_strategy);
    free(impl);
    g_trace_path = NULL;
    return rc;
}
