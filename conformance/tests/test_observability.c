/* conformance/tests/test_observability.c — classification of addresses,
 * the trace file, and the suite's own anchor bookkeeping. */
#include "fixture.h"
#include "tkv.h"
#include "tkt_internal.h"

#include <stdlib.h>
#include <unistd.h>


static const tk_method_def ob_v[] = { TKT_M("OB.V", 91), TKT_M("OB.W", 92) };

static void scenario(tk_drv_runtime *rt, tk_drv_method **mout)
{
    tk_drv_type *b = fx_class(rt, "OB", NULL, 2, ob_v, 0, NULL);
    tk_drv_type *d = fx_class(rt, "OBd", b, 0, NULL, 0, NULL);
    tk_drv_object *ob = fx_obj(rt, b), *od = fx_obj(rt, d);
    for (int r = 0; r < 6; r++) {
        tkt_call_slot(fx_vslot(b, 0), ob, 91, r);
        tkt_call_slot(fx_vslot(d, 0), od, 91, r);
        tkt_call_slot(fx_vslot(b, 1), ob, 92, r);
        if (D->caps & TK_CAP_CLASSIFY) {
            fx_check_slot_value(rt, fx_vslot(b, 0), "OB slot 0");
            fx_check_slot_value(rt, fx_vslot(d, 0), "OBd slot 0");
            fx_check_slot_value(rt, D->method_slot(fx_vm(b, 1)), "OB.W owning slot");
        }
        tkt_tick(rt, r == 0 ? FX_DELAY : 0);
    }
    if (mout) *mout = fx_vm(b, 0);
}

TK_TEST(observability_classified, "inv.observability.trace-classified")
{
    tkt_require_caps(TK_CAP_CLASSIFY);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"), "DeleteCallCountingStubsAfter=1");
    int have_ev = (D->caps & TK_CAP_EVENTS) != 0;
    if (have_ev) tkt_events_start(rt);
    tk_drv_method *m;
    scenario(rt, &m);
    if (have_ev) tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ m, NULL });
    tkt_destroy(rt);
}

/* The runtime's own trace file is well-formed and passes tk-verify. */
TK_TEST(observability_trace_file, "inv.observability.trace-wellformed", "inv.observability.trace-classified")
{
    tkt_require_caps(TK_CAP_TRACE_FILE);
    char dir[] = "/tmp/tk-conform-trace-XXXXXX";
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp failed");
    char path[256], kv[300], jpath[300];
    const char *keep = getenv("TK_CONFORM_KEEP_TRACE");
    snprintf(path, sizeof path, "%s", keep && *keep ? keep : "");
    if (!path[0]) snprintf(path, sizeof path, "%s/trace.jsonl", dir);
    snprintf(kv, sizeof kv, "Trace=%s", path);
    snprintf(jpath, sizeof jpath, "%s/verify.json", dir);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"), "DeleteCallCountingStubsAfter=1", kv);
    int tiers = tkt_tiers(rt);
    /* The trace records everything whether or not an event sink is, or
     * was, installed: a first call before any sink ... */
    static const tk_method_def ot_v[] = { TKT_M("OT.First", 95) };
    tk_drv_type *ot = fx_class(rt, "OT", NULL, 1, ot_v, 0, NULL);
    tkt_call_slot(fx_vslot(ot, 0), fx_obj(rt, ot), 95, 0);
    /* ... and the rest after a sink came and went. */
    if (D->caps & TK_CAP_EVENTS) {
        tkt_events_start(rt);
        tkt_events_stop(rt);
    }
    scenario(rt, NULL);
    tkt_destroy(rt);
    ck_assert_msg(access(path, R_OK) == 0, "Trace=%s produced no file", path);
    /* Not just a header: the events the scenario must have produced. */
    static const char *const need[] = { "\"OT.First", "\"publish\"", "\"slot_write\"", "\"stub_alloc\"",
                                        "\"threshold\"", "\"promote\"" };
    size_t found[6] = { 0 };
    FILE *tf = fopen(path, "r");
    ck_assert_msg(tf != NULL, "cannot read %s", path);
    char line[4096];
    /* SPEC.md "Trace format": these events carry the phase they count in
     * ("nonfinal" or "final"); counters and tk-bench's per-phase figures are
     * read from it. */
    static const char *const phased[] = { "\"ev\":\"slot_write\"", "\"ev\":\"precode_retarget\"",
                                          "\"ev\":\"backpatch_begin\"", "\"ev\":\"backpatch_end\"" };
    long lineno = 0;
    while (fgets(line, sizeof line, tf)) {
        lineno++;
        for (int k = 0; k < 6; k++)     /* OT.First: its publish, made before any sink */
            found[k] += strstr(line, need[k]) != NULL && (k || strstr(line, "\"publish\""));
        for (int k = 0; k < 4; k++)
            if (strstr(line, phased[k]))
                ck_assert_msg(strstr(line, "\"phase\":\"nonfinal\"") || strstr(line, "\"phase\":\"final\""),
                              "inv.observability.trace-wellformed: %s line %ld: a %s event without its \"phase\" "
                              "(\"nonfinal\" or \"final\"): %.300s", path, lineno, phased[k] + 6, line);
    }
    fclose(tf);
    for (int k = 0; k < (tiers ? 6 : 3); k++)
        ck_assert_msg(found[k] > 0, "the trace %s has no %s event although the scenario produced one", path,
                      need[k]);
    char *argv[] = { "tk-verify", path, "--json", jpath, NULL };
    fflush(stdout);
    int rc = tk_verify_main(4, argv);
    fflush(stdout);
    ck_assert_msg(rc != 2, "the runtime's trace %s is malformed (see the log)", path);
    ck_assert_msg(rc == 0, "the runtime's trace %s violates trace-checkable invariants (see the log)", path);
    unlink(jpath);
    if (!(keep && *keep)) unlink(path);
    rmdir(dir);
}

/* inv.observability.trace-wellformed: a method appears in the trace as
 * "Name#id" (SPEC.md "Trace format"), the whole name however long: two
 * methods whose long names share a prefix stay two methods. */
TK_TEST(observability_trace_long_method_name, "inv.observability.trace-wellformed")
{
    tkt_require_caps(TK_CAP_TRACE_FILE);
    enum { LEN = 600 };
    static char n1[LEN + 8], n2[LEN + 8];
    memset(n1, 'L', LEN);
    memcpy(n1, "Long.", 5);
    memcpy(n2, n1, LEN);
    memcpy(n1 + LEN, ".One", 5);
    memcpy(n2 + LEN, ".Two", 5);
    char dir[] = "/tmp/tk-conform-trace-XXXXXX", path[256], kv[300];
    fx_trace_file(dir, path, sizeof path, kv, sizeof kv);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"), kv);
    const tk_method_def lv[] = { TKT_M(n1, 97), TKT_M(n2, 98) };
    tk_drv_type *t = fx_class(rt, "LN", NULL, 2, lv, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    tkt_call_slot(fx_vslot(t, 0), o, 97, 0);
    tkt_call_slot(fx_vslot(t, 1), o, 98, 0);
    tkt_destroy(rt);
    FILE *tf = fopen(path, "r");
    ck_assert_msg(tf != NULL, "Trace=%s produced no file", path);
    static char line[16384], want1[LEN + 16], want2[LEN + 16];
    snprintf(want1, sizeof want1, "\"%s#", n1);
    snprintf(want2, sizeof want2, "\"%s#", n2);
    int f1 = 0, f2 = 0;
    while (fgets(line, sizeof line, tf)) {
        f1 |= strstr(line, want1) != NULL;
        f2 |= strstr(line, want2) != NULL;
    }
    fclose(tf);
    unlink(path);
    rmdir(dir);
    ck_assert_msg(f1 && f2, "inv.observability.trace-wellformed: the trace names %s of the two methods whose names "
                  "are %d characters long as \"Name#id\" in full (%s%s)", f1 + f2 ? "only one" : "neither",
                  LEN + 4, f1 ? "" : "'Long.LLL...One#' missing ", f2 ? "" : "'Long.LLL...Two#' missing");
}

/* Every anchor a test names exists in the spec, and every spec anchor is
 * checked by at least one test. */
TK_TEST(suite_anchors_match_spec, NULL)
{
    size_t n;
    const tkt_test *const *tests = tkt_registry(&n);
    for (size_t i = 0; i < n; i++)
        for (int a = 0; tests[i]->anchors[a]; a++) {
            int found = 0;
            for (int s = 0; tk_spec_anchors[s]; s++) found |= !strcmp(tk_spec_anchors[s], tests[i]->anchors[a]);
            ck_assert_msg(found, "test %s names anchor %s, which SPEC.md (spec_version %s) lacks",
                          tests[i]->name, tests[i]->anchors[a], tk_spec_version);
        }
    for (int s = 0; tk_spec_anchors[s]; s++) {
        int used = 0;
        for (size_t i = 0; i < n; i++)
            for (int a = 0; tests[i]->anchors[a]; a++) used |= !strcmp(tk_spec_anchors[s], tests[i]->anchors[a]);
        ck_assert_msg(used, "spec anchor %s is checked by no test", tk_spec_anchors[s]);
    }
}
