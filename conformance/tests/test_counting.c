/* conformance/tests/test_counting.c — call counting: first call, threshold,
 * final tier, bypass paths, repeated thresholds. */
#include "fixture.h"

static const tk_method_def one_v[] = { TKT_M("C.M", 1) };

/* inv.counting.first-call-not-counted: with no delay the publishing call is
 * not counted, so N calls never promote and N+1 do. */
TK_TEST(counting_first_call_not_counted, "inv.counting.first-call-not-counted",
        "inv.tiering.promotion-after-threshold")
{
    static const char *const thr[] = { "CallCountThreshold=1", "CallCountThreshold=2", "CallCountThreshold=5" };
    static const int n_thr[] = { 1, 2, 5 };
    for (int k = 0; k < 3; k++) {
        tk_drv_runtime *rt = tkt_create("Mode=deterministic", "TieredPGO=0", "CallCountingDelayMs=0", thr[k]);
        tkt_require_tiering(rt);
        tk_drv_type *t = fx_class(rt, "C", NULL, 1, one_v, 0, NULL);
        tk_drv_object *o = fx_obj(rt, t);
        void **s = fx_vslot(t, 0);
        tk_drv_method *m = fx_vm(t, 0);
        for (int i = 0; i < n_thr[k]; i++) {
            tkt_call c = tkt_call_logged(s, o, 1, i);
            ck_assert_msg(c.tier == TK_TIER_0, "threshold %d: call %d ran %s, expected tier0", n_thr[k], i + 1,
                          tkt_tier_name(c.tier));
            D->drain(rt);
        }
        tk_method_state st = tkt_state(rt, m);
        ck_assert_msg(st.tier == TK_TIER_0 && st.compiles == 1,
                      "threshold %d, no delay: after %d calls (the first is not counted) the method is at %s with "
                      "%llu compiles; it must still be at tier0",
                      n_thr[k], n_thr[k], tkt_tier_name(st.tier), (unsigned long long)st.compiles);
        tkt_call_slot(s, o, 1, 99);
        D->drain(rt);
        st = tkt_state(rt, m);
        ck_assert_msg(st.tier == TK_TIER_1,
                      "threshold %d, no delay: after %d calls (1 uncounted + %d counted) and draining, the method "
                      "is at %s; expected tier1",
                      n_thr[k], n_thr[k] + 1, n_thr[k], tkt_tier_name(st.tier));
        tkt_call c = tkt_call_logged(s, o, 1, 100);
        ck_assert_int_eq(c.tier, TK_TIER_1);
        tkt_destroy(rt);
    }
}

/* inv.counting.threshold-exact: calls during the delay are not counted; the
 * N-th counted call reaches the threshold (and still runs tier0), N-1 do not. */
TK_TEST(counting_threshold_exact, "inv.counting.threshold-exact", "inv.tiering.promotion-after-threshold")
{
    static const char *const thr[] = { "CallCountThreshold=1", "CallCountThreshold=2", "CallCountThreshold=30" };
    static const int n_thr[] = { 1, 2, 30 };
    for (int k = 0; k < 3; k++) {
        tk_drv_runtime *rt = tkt_create("Mode=deterministic", "TieredPGO=0", "CallCountingDelayMs=100", thr[k]);
        tkt_require_tiering(rt);
        int n = n_thr[k];
        tk_drv_type *t = fx_class(rt, "C", NULL, 1, one_v, 0, NULL);
        tk_drv_object *o = fx_obj(rt, t);
        void **s = fx_vslot(t, 0);
        tk_drv_method *m = fx_vm(t, 0);
        tkt_call_slot(s, o, 1, 0);                         /* first call      */
        for (int i = 0; i < 2 * n + 3; i++) tkt_call_slot(s, o, 1, i); /* delay  */
        tkt_tick(rt, 50);
        ck_assert_msg(fx_tier(rt, m) == TK_TIER_0, "promoted during the tiering delay");
        tkt_tick(rt, 50);                                  /* delay over       */
        tk_method_state st = tkt_state(rt, m);
        ck_assert_msg(st.tier == TK_TIER_0, "threshold %d: calls made during the delay were counted (method at %s "
                      "right after the delay)", n, tkt_tier_name(st.tier));
        for (int i = 0; i < n - 1; i++) {
            tkt_call c = tkt_call_logged(s, o, 1, 1000 + i);
            ck_assert_msg(c.tier == TK_TIER_0, "counted call %d ran %s", i + 1, tkt_tier_name(c.tier));
        }
        D->drain(rt);
        st = tkt_state(rt, m);
        ck_assert_msg(st.tier == TK_TIER_0 && st.compiles == 1,
                      "threshold %d: promoted after only %d counted calls (tier %s, %llu compiles)", n, n - 1,
                      tkt_tier_name(st.tier), (unsigned long long)st.compiles);
        tkt_call c = tkt_call_logged(s, o, 1, 2000);
        ck_assert_msg(c.tier == TK_TIER_0, "the threshold call must run the counted version's code, ran %s",
                      tkt_tier_name(c.tier));
        D->drain(rt);
        st = tkt_state(rt, m);
        ck_assert_msg(st.tier == TK_TIER_1, "threshold %d: after %d counted calls and draining, tier is %s", n, n,
                      tkt_tier_name(st.tier));
        c = tkt_call_logged(s, o, 1, 3000);
        ck_assert_msg(c.tier == TK_TIER_1, "after promotion a call ran %s", tkt_tier_name(c.tier));
        tkt_destroy(rt);
    }
}

/* inv.counting.no-bypass: a method reached only through its owning slot
 * (virtual and non-virtual) or only through an interface slot still tiers. */
static const tk_method_def nb_v[] = { TKT_M("NB.V", 11), TKT_M("NB.W", 14) };
static const tk_method_def nb_m[] = { TKT_M("NB.N", 12) };
static const tk_method_def nb_if[] = { { "INB.W", NULL, NULL, 0 } };

TK_TEST(counting_no_bypass_owning_slot, "inv.counting.no-bypass", "inv.tiering.promotion-after-threshold")
{
    const int n = 4;
    tk_drv_runtime *rt = tkt_create(FX_DET("4"));
    tkt_require_tiering(rt);
    tk_drv_type *iface = fx_iface_if_supported(rt, "INB", 1, nb_if);
    tk_iface_impl_def impl = { iface, 0, 1 };
    tk_type_def def = { "NB", NULL, 0, 2, nb_v, 0, NULL, 1, nb_m, iface ? 1 : 0, &impl };
    tk_drv_type *t = fx_define(rt, &def, 1);
    tk_drv_object *o = fx_obj(rt, t);
    tk_drv_method *v = fx_vm(t, 0), *w = fx_vm(t, 1), *nvm = D->nonvirtual_method(t, 0);
    ck_assert_ptr_nonnull(nvm);
    void **sv = D->method_slot(v), **sn = D->method_slot(nvm);
    ck_assert_msg(sv && sn, "method_slot returned NULL");
    void **si = iface ? D->interface_slot(t, iface, 0) : NULL;

    /* first calls, then the delay */
    tkt_call_slot(sv, o, 11, 0);
    tkt_call_slot(sn, o, 12, 0);
    if (si) tkt_call_slot(si, o, 14, 0);
    tkt_tick(rt, FX_DELAY);
    for (int i = 0; i < n; i++) {
        tkt_call_slot(sv, o, 11, i);
        tkt_call_slot(sn, o, 12, i);
        if (si) tkt_call_slot(si, o, 14, i);
    }
    D->drain(rt);
    ck_assert_msg(fx_tier(rt, v) == TK_TIER_1,
                  "virtual method called %d times only through its owning slot after the delay is at %s: the owning "
                  "slot bypasses the call counter", n, tkt_tier_name(fx_tier(rt, v)));
    ck_assert_msg(fx_tier(rt, nvm) == TK_TIER_1,
                  "non-virtual method called %d times through its slot after the delay is at %s", n,
                  tkt_tier_name(fx_tier(rt, nvm)));
    if (si)
        ck_assert_msg(fx_tier(rt, w) == TK_TIER_1,
                      "method called %d times only through an interface slot after the delay is at %s", n,
                      tkt_tier_name(fx_tier(rt, w)));
    tkt_call c = tkt_call_logged(sv, o, 11, 77);
    ck_assert_int_eq(c.tier, TK_TIER_1);
    tkt_destroy(rt);
}

/* inv.counting.final-tier-not-counted: final code is never counted; a
 * not-tiered method is compiled once at Optimized. */
static const tk_method_def fin_v[] = { TKT_M("F.T", 21), TKT_M_FLAGS("F.Opt", 22, TK_METHOD_NOT_TIERED) };

TK_TEST(counting_final_tier_not_counted, "inv.counting.final-tier-not-counted")
{
    tk_drv_runtime *rt = tkt_create(FX_DET("2"), "DeleteCallCountingStubsAfter=0");
    int tiered = tkt_tiers(rt);
    int have_ev = (D->caps & TK_CAP_EVENTS) != 0;
    if (have_ev) tkt_events_start(rt);
    tk_drv_type *t = fx_class(rt, "F", NULL, 2, fin_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **s0 = fx_vslot(t, 0), **s1 = fx_vslot(t, 1);
    tk_drv_method *m0 = fx_vm(t, 0), *m1 = fx_vm(t, 1);
    fx_start_counting(rt, s0, o, 21);
    fx_calls(rt, s0, o, 21, 2);
    int final = fx_tier(rt, m0);
    ck_assert_msg(TK_TIER_IS_FINAL(final), "setup: method not promoted (%s)", tkt_tier_name(final));
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20; i++) {
            tkt_call c = tkt_call_logged(s0, o, 21, i);
            ck_assert_msg(TK_TIER_IS_FINAL(c.tier), "call after promotion ran %s", tkt_tier_name(c.tier));
            tkt_call_slot(D->method_slot(m0), o, 21, i);
            tkt_call_slot(s1, o, 22, i);
        }
        tkt_tick(rt, FX_DELAY);
        tk_method_state st = tkt_state(rt, m0);
        ck_assert_msg(!st.counting, "the method is counting at final tier %s", tkt_tier_name(st.tier));
        ck_assert_msg(st.compiles == (tiered ? 2u : 1u) && st.tier == final,
                      "final-tier method recompiled: %llu compiles, tier %s", (unsigned long long)st.compiles,
                      tkt_tier_name(st.tier));
        st = tkt_state(rt, m1);
        ck_assert_msg(st.tier == TK_TIER_OPTIMIZED && st.compiles == 1 && !st.counting,
                      "not-tiered method: tier %s, %llu compiles, counting %u (expected optimized, 1, 0)",
                      tkt_tier_name(st.tier), (unsigned long long)st.compiles, st.counting);
        if (D->caps & TK_CAP_CLASSIFY) {
            fx_check_slot_value(rt, s0, "vtable slot of a final-tier method");
            fx_check_slot_value(rt, s1, "vtable slot of a not-tiered method");
        }
    }
    if (have_ev) tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ m0, m1, NULL });
    tkt_destroy(rt);
}

/* inv.counting.threshold-once: calls after the threshold and before the
 * background work do not promote twice. */
TK_TEST(counting_threshold_once, "inv.counting.threshold-once", "inv.tiering.monotonic")
{
    tk_drv_runtime *rt = tkt_create(FX_DET("2"));
    tkt_require_tiering(rt);
    int have_ev = (D->caps & TK_CAP_EVENTS) != 0;
    if (have_ev) tkt_events_start(rt);
    tk_drv_type *t = fx_class(rt, "C", NULL, 1, one_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **s = fx_vslot(t, 0);
    tk_drv_method *m = fx_vm(t, 0);
    fx_start_counting(rt, s, o, 1);
    for (int i = 0; i < 2 + 40; i++) tkt_call_slot(s, o, 1, i);   /* threshold, then 40 more */
    D->drain(rt);
    D->drain(rt);
    tk_method_state st = tkt_state(rt, m);
    ck_assert_msg(st.tier == TK_TIER_1 && st.compiles == 2,
                  "after one threshold and 40 extra calls: tier %s with %llu compiles (expected tier1, 2 compiles)",
                  tkt_tier_name(st.tier), (unsigned long long)st.compiles);
    if (have_ev) {
        size_t promotes = 0;
        for (size_t i = 0; i < tkt_events_count(); i++)
            if (tkt_event_at(i).kind == TK_EV_PROMOTE && tkt_event_at(i).method == m) promotes++;
        ck_assert_msg(promotes == 1, "%zu promote events for one threshold", promotes);
        tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ m, NULL });
    }
    tkt_destroy(rt);
}
