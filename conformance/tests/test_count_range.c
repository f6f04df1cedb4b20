/* conformance/tests/test_count_range.c — call counting across the whole
 * range of the 16-bit count: the largest threshold is exact, thresholds
 * above 255 are exact, and 65,536 and more counted calls without any
 * background work (the count wraps) still promote exactly once. */
#include "fixture.h"

static const tk_method_def cr_v[] = { TKT_M("CR.M", 51) };

/* n counted calls through s, each checked to run `tier`.  The call log
 * holds 64 Ki entries, so it is reset as it fills. */
static void cr_calls(void **s, void *o, long n, int32_t tier, const char *what)
{
    for (long i = 0; i < n; i++) {
        if (tkt_log_count() > 60000) tkt_log_reset();
        tkt_call_slot(s, o, 51, i);
        tkt_call c = tkt_log_last();
        if (c.tier != tier)
            tkt_fail("%s: call %ld of %ld ran %s, expected %s", what, i + 1, n, tkt_tier_name(c.tier),
                     tkt_tier_name(tier));
    }
}

static tk_drv_runtime *cr_counting(const char *thr, tk_drv_type **t, tk_drv_object **o)
{
    tk_drv_runtime *rt = tkt_create("Mode=deterministic", "TieredPGO=0", "CallCountingDelayMs=100", thr,
                                    "DeleteCallCountingStubsAfter=0");
    tkt_require_tiering(rt);
    *t = fx_class(rt, "CR", NULL, 1, cr_v, 0, NULL);
    *o = fx_obj(rt, *t);
    fx_start_counting(rt, fx_vslot(*t, 0), *o, 51);
    return rt;
}

/* inv.counting.threshold-exact at thresholds a narrower count would get
 * wrong: 256 and 300 (8 bits) and 65535, the largest allowed. */
TK_TEST_F(counting_threshold_exact_wide, TKT_SLOW, "inv.counting.threshold-exact",
          "inv.tiering.promotion-after-threshold")
{
    static const char *const thr[] = { "CallCountThreshold=256", "CallCountThreshold=300", "CallCountThreshold=65535" };
    static const long n_thr[] = { 256, 300, 65535 };
    for (int k = 0; k < 3; k++) {
        tk_drv_type *t;
        tk_drv_object *o;
        tk_drv_runtime *rt = cr_counting(thr[k], &t, &o);
        void **s = fx_vslot(t, 0);
        tk_drv_method *m = fx_vm(t, 0);
        cr_calls(s, o, n_thr[k] - 1, TK_TIER_0, "before the threshold");
        D->drain(rt);
        tk_method_state st = tkt_state(rt, m);
        ck_assert_msg(st.tier == TK_TIER_0 && st.compiles == 1,
                      "threshold %ld: promoted (%s, %llu compiles) after %ld counted calls", n_thr[k],
                      tkt_tier_name(st.tier), (unsigned long long)st.compiles, n_thr[k] - 1);
        cr_calls(s, o, 1, TK_TIER_0, "the threshold call");
        D->drain(rt);
        st = tkt_state(rt, m);
        ck_assert_msg(st.tier == TK_TIER_1 && st.compiles == 2,
                      "threshold %ld: after %ld counted calls and draining the method is at %s (%llu compiles)",
                      n_thr[k], n_thr[k], tkt_tier_name(st.tier), (unsigned long long)st.compiles);
        cr_calls(s, o, 3, TK_TIER_1, "after promotion");
        tkt_destroy(rt);
    }
}

/* inv.counting.threshold-once past a wrap of the 16-bit count: with no
 * background work in between, threshold + 65,536 (+1) counted calls run the
 * counted code, and the background work then promotes exactly once. */
TK_TEST_F(counting_wrap_promotes_once, TKT_SLOW, "inv.counting.threshold-once", "inv.tiering.monotonic",
          "inv.tiering.promotion-after-threshold")
{
    static const char *const thr[] = { "CallCountThreshold=30", "CallCountThreshold=1" };
    static const long n_thr[] = { 30, 1 };
    for (int k = 0; k < 2; k++) {
        tk_drv_type *t;
        tk_drv_object *o;
        tk_drv_runtime *rt = cr_counting(thr[k], &t, &o);
        int ev = (D->caps & TK_CAP_EVENTS) != 0;
        if (ev) tkt_events_start(rt);
        void **s = fx_vslot(t, 0);
        tk_drv_method *m = fx_vm(t, 0);
        long total = n_thr[k] + 65536 + 1;
        cr_calls(s, o, total, TK_TIER_0, "counted calls with no background work");
        tk_method_state st = tkt_state(rt, m);
        ck_assert_msg(st.tier == TK_TIER_0 && st.compiles == 1,
                      "without background work the method moved to %s (%llu compiles)", tkt_tier_name(st.tier),
                      (unsigned long long)st.compiles);
        D->drain(rt);
        st = tkt_state(rt, m);
        ck_assert_msg(st.tier == TK_TIER_1 && st.compiles == 2,
                      "threshold %ld, %ld counted calls, then draining: the method is at %s with %llu compiles; "
                      "expected tier1 with exactly 2 (one promotion)",
                      n_thr[k], total, tkt_tier_name(st.tier), (unsigned long long)st.compiles);
        cr_calls(s, o, 2 * n_thr[k] + 2, TK_TIER_1, "after promotion");
        tkt_tick(rt, FX_DELAY);
        st = tkt_state(rt, m);
        ck_assert_msg(st.tier == TK_TIER_1 && st.compiles == 2 && !st.counting,
                      "after more calls: %s, %llu compiles, counting=%u", tkt_tier_name(st.tier),
                      (unsigned long long)st.compiles, st.counting);
        if (ev) tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ m, NULL });
        tkt_destroy(rt);
    }
}
