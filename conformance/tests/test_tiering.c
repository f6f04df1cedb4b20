/* conformance/tests/test_tiering.c — the tiering delay, promotion order and
 * tier monotonicity. */
#include "fixture.h"

static const tk_method_def two_v[] = { TKT_M("T.A", 31), TKT_M("T.B", 32) };

/* inv.tiering.delay-restart: a new method's first call inside the window
 * restarts it for a full window. */
TK_TEST(tiering_delay_restart, "inv.tiering.delay-restart")
{
    tk_drv_runtime *rt = tkt_create(FX_DET("3"));
    tkt_require_tiering(rt);
    tk_drv_type *t = fx_class(rt, "T", NULL, 2, two_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **sa = fx_vslot(t, 0), **sb = fx_vslot(t, 1);
    tk_drv_method *a = fx_vm(t, 0), *b = fx_vm(t, 1);

    tkt_call_slot(sa, o, 31, 0);         /* t=0: A's first call starts the delay */
    tkt_tick(rt, FX_DELAY - 10);         /* t=90 */
    tkt_call_slot(sb, o, 32, 0);         /* t=90: B's first call: restart        */
    tkt_tick(rt, 10);                    /* t=100: the original window is over   */
    tk_method_state st = tkt_state(rt, a);
    ck_assert_msg(!st.counting,
                  "A is counting at t=%d although B was first called at t=%d inside the window: the delay was "
                  "not restarted", FX_DELAY, FX_DELAY - 10);
    for (int i = 0; i < 6; i++) tkt_call_slot(sa, o, 31, i);
    D->drain(rt);
    st = tkt_state(rt, a);
    ck_assert_msg(st.tier == TK_TIER_0,
                  "A was promoted by calls made inside the restarted delay window (tier %s)", tkt_tier_name(st.tier));
    tkt_tick(rt, FX_DELAY);              /* t=200: a full quiet window since B   */
    st = tkt_state(rt, a);
    ck_assert_msg(st.counting || st.tier == TK_TIER_1,
                  "A is not counting a full quiet window after the last first call");
    for (int i = 0; i < 3; i++) {
        tkt_call_slot(sa, o, 31, i);
        tkt_call_slot(sb, o, 32, i);
    }
    D->drain(rt);
    ck_assert_msg(fx_tier(rt, a) == TK_TIER_1 && fx_tier(rt, b) == TK_TIER_1,
                  "after the delay and 3 counted calls: A at %s, B at %s", tkt_tier_name(fx_tier(rt, a)),
                  tkt_tier_name(fx_tier(rt, b)));
    tkt_destroy(rt);
}

/* Methods already counting keep counting when a new delay starts. */
static const tk_method_def three_v[] = { TKT_M("K.A", 33), TKT_M("K.B", 34) };

TK_TEST(tiering_counting_continues_in_new_delay, "inv.tiering.delay-restart",
        "inv.tiering.promotion-after-threshold")
{
    tk_drv_runtime *rt = tkt_create(FX_DET("4"));
    tkt_require_tiering(rt);
    tk_drv_type *t = fx_class(rt, "K", NULL, 2, three_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **sa = fx_vslot(t, 0), **sb = fx_vslot(t, 1);
    tk_drv_method *a = fx_vm(t, 0);
    fx_start_counting(rt, sa, o, 33);
    tkt_call_slot(sa, o, 33, 1);
    tkt_call_slot(sa, o, 33, 2);
    tkt_call_slot(sb, o, 34, 0);         /* B's first call opens a new delay    */
    tkt_call_slot(sa, o, 33, 3);
    tkt_call_slot(sa, o, 33, 4);         /* A's 4th counted call                */
    D->drain(rt);
    ck_assert_msg(fx_tier(rt, a) == TK_TIER_1,
                  "A, counting before a new delay began, stopped counting during it (tier %s after 4 counted "
                  "calls, threshold 4)", tkt_tier_name(fx_tier(rt, a)));
    tkt_destroy(rt);
}

/* inv.tiering.monotonic: sampled after every call and background step, the
 * tier of a method only goes up (with TieredPGO when offered: tier0 ->
 * tier0-instrumented -> tier1). */
static int trank(int t)
{
    return t == TK_TIER_0 ? 0 : t == TK_TIER_0_INSTRUMENTED ? 1 : TK_TIER_IS_FINAL(t) ? 2 : -1;
}

TK_TEST(tiering_monotonic, "inv.tiering.monotonic", "inv.tiering.promotion-after-threshold",
        "inv.counting.final-tier-not-counted")
{
    int pgo = (D->caps & TK_CAP_PGO) != 0;
    tk_drv_runtime *rt = tkt_create("Mode=deterministic", pgo ? "TieredPGO=1" : "TieredPGO=0",
                                    "CallCountingDelayMs=100", "CallCountThreshold=3");
    tkt_require_tiering(rt);
    int have_ev = (D->caps & TK_CAP_EVENTS) != 0;
    if (have_ev) tkt_events_start(rt);
    tk_drv_type *t = fx_class(rt, "T", NULL, 2, two_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **sa = fx_vslot(t, 0);
    tk_drv_method *a = fx_vm(t, 0);
    int last = -1, last_logged = -1, seen_instr = 0;
    for (int step = 0; step < 60; step++) {
        tkt_call c = tkt_call_logged(sa, o, 31, step);
        ck_assert_msg(trank(c.tier) >= last_logged, "call %d ran %s after a call ran a higher tier", step,
                      tkt_tier_name(c.tier));
        last_logged = trank(c.tier);
        if (c.tier == TK_TIER_0_INSTRUMENTED) seen_instr = 1;
        if (step % 4 == 3) tkt_tick(rt, step < 8 ? FX_DELAY / 2 : 0);
        int r = trank(fx_tier(rt, a));
        ck_assert_msg(r >= last, "step %d: tier went down to %s", step, tkt_tier_name(fx_tier(rt, a)));
        last = r;
    }
    ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, a)), "not at a final tier after 60 calls (at %s)",
                  tkt_tier_name(fx_tier(rt, a)));
    if (pgo) tkt_note("TieredPGO: instrumented tier %s", seen_instr ? "seen" : "not seen");
    if (have_ev) tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ a, NULL });
    tkt_destroy(rt);
}

/* inv.tiering.promotion-after-threshold in threaded mode: nobody calls
 * drain(); the background worker alone must notice the delay's end and the
 * threshold and promote the method (CoreCLR's worker is woken by the
 * threshold: TieredCompilationManager::AsyncCompleteCallCounting).  Bounded
 * waits of 10 s against work that takes milliseconds; a long worker idle
 * timeout, so an implementation that relies on the worker timing out to find
 * queued work fails too. */
TK_TEST_F(tiering_worker_promotes_without_drain, TKT_THREADED, "inv.tiering.promotion-after-threshold")
{
    tkt_require_caps(TK_CAP_THREADED);
    tk_drv_runtime *rt = tkt_create("Mode=threaded", "TieredPGO=0", "CallCountingDelayMs=20", "CallCountThreshold=3",
                                    "BackgroundWorkerTimeoutMs=60000");
    tkt_require_tiering(rt);
    D->thread_attach(rt);
    tk_drv_type *t = fx_class(rt, "T", NULL, 2, two_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **sa = fx_vslot(t, 0);
    tk_drv_method *a = fx_vm(t, 0);
    tkt_call_slot(sa, o, 31, 0);                       /* first call: the delay begins */
    uint64_t t0 = tkt_now_ms();
    while (!tkt_state(rt, a).counting && tkt_now_ms() - t0 < 10000) {
        D->safepoint(rt);
        tkt_sleep_ms(5);
    }
    ck_assert_msg(tkt_state(rt, a).counting, "10 s after the first call (delay 20 ms) the method is not counting: "
                  "the background worker did not end the delay on its own");
    for (int i = 0; i < 3; i++) tkt_call_slot(sa, o, 31, i);   /* the threshold */
    uint64_t t1 = tkt_now_ms();
    while (!TK_TIER_IS_FINAL(fx_tier(rt, a)) && tkt_now_ms() - t1 < 10000) {
        D->safepoint(rt);
        tkt_sleep_ms(5);
    }
    ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, a)),
                  "10 s after the threshold, with no drain(), the method is at %s: the background worker did not "
                  "promote it on its own", tkt_tier_name(fx_tier(rt, a)));
    tkt_call_logged(sa, o, 31, 9);
    D->thread_detach(rt);
    tkt_destroy(rt);
}
