/* conformance/tests/test_pgo.c — TieredPGO: a hot method goes Tier0 ->
 * Tier0Instrumented -> Tier1, each step after its own threshold of counted
 * calls (`inv.tiering.pgo-sequence`). */
#include "fixture.h"

static const tk_method_def pg_v[] = { TKT_M("PG.A", 41), TKT_M("PG.B", 42) };

/* The tiers a hot method runs at, in order, and how many native versions
 * exist once it runs there. */
static const int32_t pg_seq[] = { TK_TIER_0, TK_TIER_0_INSTRUMENTED, TK_TIER_1 };

static void pg_expect_calls(void **s, void *o, int n, int32_t tier, int stage, int *arg)
{
    for (int i = 0; i < n; i++) {
        tkt_call c = tkt_call_logged(s, o, 41, (*arg)++);
        ck_assert_msg(c.tier == tier, "stage %d (%s): call %d ran %s", stage, tkt_tier_name(tier), i + 1,
                      tkt_tier_name(c.tier));
    }
}

TK_TEST(tiering_pgo_sequence, "inv.tiering.pgo-sequence", "inv.tiering.promotion-after-threshold",
        "inv.tiering.monotonic")
{
    tkt_require_caps(TK_CAP_PGO);
    static const char *const thr[] = { "CallCountThreshold=1", "CallCountThreshold=3" };
    static const int n_thr[] = { 1, 3 };
    for (int k = 0; k < 2; k++) {
        const int n = n_thr[k];
        tk_drv_runtime *rt = tkt_create("Mode=deterministic", "TieredPGO=1", "CallCountingDelayMs=100", thr[k]);
        tkt_require_tiering(rt);
        int ev = (D->caps & TK_CAP_EVENTS) != 0;
        if (ev) tkt_events_start(rt);
        tk_drv_type *t = fx_class(rt, "PG", NULL, 2, pg_v, 0, NULL);
        tk_drv_object *o = fx_obj(rt, t);
        void **sa = fx_vslot(t, 0), **sb = fx_vslot(t, 1);
        tk_drv_method *a = fx_vm(t, 0), *b = fx_vm(t, 1);
        int arg = 0;
        pg_expect_calls(sa, o, 1, TK_TIER_0, 0, &arg);     /* first call: Tier0, not counted */
        tkt_call_slot(sb, o, 42, 0);
        tkt_tick(rt, FX_DELAY);                             /* the delay is over: counting   */
        for (int stage = 0; stage < 2; stage++) {
            tk_method_state st = tkt_state(rt, a);
            ck_assert_msg(st.tier == pg_seq[stage] && st.compiles == (uint64_t)stage + 1 && st.counting,
                          "threshold %d, stage %d: expected %s, counting, %d compile(s); got %s, counting=%u, "
                          "%llu compile(s)",
                          n, stage, tkt_tier_name(pg_seq[stage]), stage + 1, tkt_tier_name(st.tier), st.counting,
                          (unsigned long long)st.compiles);
            pg_expect_calls(sa, o, n - 1, pg_seq[stage], stage, &arg);
            D->drain(rt);
            st = tkt_state(rt, a);
            ck_assert_msg(st.tier == pg_seq[stage] && st.compiles == (uint64_t)stage + 1,
                          "threshold %d, stage %d: promoted to %s after only %d counted %s calls", n, stage,
                          tkt_tier_name(st.tier), n - 1, tkt_tier_name(pg_seq[stage]));
            pg_expect_calls(sa, o, 1, pg_seq[stage], stage, &arg);   /* the threshold call */
            D->drain(rt);
            st = tkt_state(rt, a);
            ck_assert_msg(st.tier == pg_seq[stage + 1] && st.compiles == (uint64_t)stage + 2,
                          "threshold %d: after %d counted %s calls and draining the method is at %s with %llu "
                          "compile(s); expected %s with %d (TieredPGO: Tier0 -> Tier0Instrumented -> Tier1)",
                          n, n, tkt_tier_name(pg_seq[stage]), tkt_tier_name(st.tier),
                          (unsigned long long)st.compiles, tkt_tier_name(pg_seq[stage + 1]), stage + 2);
        }
        for (int r = 0; r < 3; r++) {                       /* final: stays, never counted */
            pg_expect_calls(sa, o, n + 1, TK_TIER_1, 2, &arg);
            tkt_tick(rt, FX_DELAY);
        }
        tk_method_state st = tkt_state(rt, a);
        ck_assert_msg(st.tier == TK_TIER_1 && st.compiles == 3 && !st.counting,
                      "final: %s, %llu compiles, counting=%u", tkt_tier_name(st.tier),
                      (unsigned long long)st.compiles, st.counting);
        st = tkt_state(rt, b);
        ck_assert_msg(st.tier == TK_TIER_0 && st.compiles == 1,
                      "B was called once and is at %s with %llu compiles", tkt_tier_name(st.tier),
                      (unsigned long long)st.compiles);
        if (ev) {
            /* The promotions of A, in order: exactly Tier0 -> Tier0Instrumented, then -> Tier1. */
            int np = 0;
            for (size_t i = 0; i < tkt_events_count(); i++) {
                tk_event e = tkt_event_at(i);
                if (e.kind != TK_EV_PROMOTE || e.method != a) continue;
                ck_assert_msg(np < 2, "more than two promotions of A");
                ck_assert_msg(e.aux == pg_seq[np] && e.tier == pg_seq[np + 1],
                              "promotion %d of A goes %s -> %s; expected %s -> %s", np + 1,
                              tkt_tier_name((int)e.aux), tkt_tier_name(e.tier), tkt_tier_name(pg_seq[np]),
                              tkt_tier_name(pg_seq[np + 1]));
                np++;
            }
            ck_assert_msg(np == 2, "%d promotion events for A; expected 2", np);
            tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ a, b, NULL });
        }
        tkt_destroy(rt);
    }
}
