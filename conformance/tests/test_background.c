/* conformance/tests/test_background.c — the background worker's batches
 * give way to a tiering delay without losing or repeating work
 * (`inv.tiering.yield-to-delay`, SPEC.md "Background work gives way to the
 * tiering delay").
 *
 * Threaded mode with a simulated compile cost, so a batch of promotions
 * takes long enough for a first call to open a delay in its middle.  Where
 * the delay lands in the batch is up to the scheduler; the assertions hold
 * for every interleaving (nothing here measures time: the waits are
 * bounded only so a runtime that never finishes fails instead of hanging). */
#include "fixture.h"

#define BG_N 8          /* methods promoted in one batch */
#define BG_COST_US 20000

static const tk_method_def bg_v[BG_N + 1] = {
    TKT_M("BG.0", 301), TKT_M("BG.1", 302), TKT_M("BG.2", 303), TKT_M("BG.3", 304), TKT_M("BG.4", 305),
    TKT_M("BG.5", 306), TKT_M("BG.6", 307), TKT_M("BG.7", 308), TKT_M("BG.Z", 309),
};

static int bg_at_tier1(tk_drv_runtime *rt, tk_drv_type *t)
{
    int n = 0;
    for (uint32_t k = 0; k < BG_N; k++) n += fx_tier(rt, fx_vm(t, k)) == TK_TIER_1;
    return n;
}

/* Eight methods reach their threshold together; once the worker has
 * published the first promoted version, Z's first call opens a delay, so
 * the rest of the batch goes back to the queue.  After the delay every
 * method is at Tier1, each compiled exactly twice (Tier0, Tier1), and the
 * compiles and promotions counters say the same: no version lost, none
 * compiled twice, no stray entry queued. */
TK_TEST_F(background_batch_yields_to_delay, TKT_THREADED, "inv.tiering.yield-to-delay",
          "inv.tiering.promotion-after-threshold", "inv.counters.compiles")
{
    tkt_require_caps(TK_CAP_THREADED);
    tk_drv_runtime *rt = tkt_create("Mode=threaded", "TieredPGO=0", "CallCountingDelayMs=100",
                                    "CallCountThreshold=2", "DeleteCallCountingStubsAfter=0", "CompileCostUs=20000");
    tkt_require_tiering(rt);
    D->thread_attach(rt);
    tk_type_def def = { "BG", NULL, 0, BG_N + 1, bg_v, 0, NULL, 0, NULL, 0, NULL };
    tk_drv_type *t = fx_define(rt, &def, 1);
    tk_drv_object *o = fx_obj(rt, t);
    for (uint32_t k = 0; k < BG_N; k++) tkt_call_slot(fx_vslot(t, k), o, 301 + (int)k, 0);
    uint64_t t0 = tkt_now_ms();
    while (!tkt_state(rt, fx_vm(t, 0)).counting && tkt_now_ms() - t0 < 20000) {
        D->safepoint(rt);
        D->thread_offline(rt);
        tkt_sleep_ms(5);
        D->thread_online(rt);
    }
    for (uint32_t k = 0; k < BG_N; k++)
        ck_assert_msg(tkt_state(rt, fx_vm(t, k)).counting, "setup: BG.%u not counting after the delay", k);
    for (int r = 0; r < 2; r++)
        for (uint32_t k = 0; k < BG_N; k++) tkt_call_slot(fx_vslot(t, k), o, 301 + (int)k, r + 1);
    t0 = tkt_now_ms();
    while (bg_at_tier1(rt, t) == 0 && tkt_now_ms() - t0 < 20000) {
        D->safepoint(rt);
        D->thread_offline(rt);
        tkt_sleep_ms(1);
        D->thread_online(rt);
    }
    int before = bg_at_tier1(rt, t);
    tkt_call_slot(fx_vslot(t, BG_N), o, 309, 0);     /* Z's first call: a delay begins */
    t0 = tkt_now_ms();
    while (bg_at_tier1(rt, t) < BG_N && tkt_now_ms() - t0 < 30000) {
        D->thread_offline(rt);
        D->drain(rt);
        tkt_sleep_ms(5);
        D->thread_online(rt);
        D->safepoint(rt);
    }
    for (uint32_t k = 0; k < BG_N; k++) {
        tk_method_state st = tkt_state(rt, fx_vm(t, k));
        ck_assert_msg(st.tier == TK_TIER_1 && st.compiles == 2,
                      "inv.tiering.yield-to-delay: BG.%u at %s with %llu compiles after the batch gave way to a delay "
                      "(%d of %d promoted before it) and the delay ended; expected Tier1 compiled twice", k,
                      tkt_tier_name(st.tier), (unsigned long long)st.compiles, before, BG_N);
        tkt_call c = tkt_call_logged(fx_vslot(t, k), o, 301 + (int)k, 9);
        ck_assert_msg(c.tier == TK_TIER_1, "inv.tiering.yield-to-delay: BG.%u ran at %s", k, tkt_tier_name(c.tier));
    }
    if (D->caps & TK_CAP_COUNTERS) {
        tk_counter buf[128];
        size_t n = D->counters(rt, buf, 128);
        uint64_t compiles = UINT64_MAX, promos = UINT64_MAX;
        for (size_t i = 0; i < n && i < 128; i++) {
            if (!strcmp(buf[i].name, "compiles")) compiles = buf[i].nonfinal + buf[i].final;
            if (!strcmp(buf[i].name, "promotions_tier0_to_tier1")) promos = buf[i].nonfinal + buf[i].final;
        }
        ck_assert_msg(compiles == 2 * BG_N + 1 && promos == BG_N,
                      "inv.counters.compiles: compiles = %llu, promotions_tier0_to_tier1 = %llu; expected %d (%d Tier0, "
                      "%d Tier1, Z) and %d", (unsigned long long)compiles, (unsigned long long)promos, 2 * BG_N + 1,
                      BG_N, BG_N, BG_N);
    }
    tkt_note("%d of %d versions were published before the delay began", before, BG_N);
    D->thread_detach(rt);
    tkt_destroy(rt);
}
