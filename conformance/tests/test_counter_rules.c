/* conformance/tests/test_counter_rules.c — the counters test_counters.c does
 * not pin down, read after every step of scripted scenarios: the per-tier
 * gauges (`inv.counters.methods-at-tier`, every one of the four, with and
 * without tiering, through promotion, IL-version activation and type
 * unload), `compiles` and `compile_cost_us` (`inv.counters.compile-cost`),
 * `methods_counted` (`inv.counters.methods-counted`), `counting_info_bytes`
 * (`inv.counters.info-bytes`), `stub_deletion_passes`
 * (`inv.counters.deletion-passes`) and the counting counters of a runtime
 * that does not tier (`inv.counters.untiered`).  Every expected value
 * follows from the SPEC rules; none is copied from a run. */
#include "fixture.h"

#define CR_COST 13   /* CompileCostUs of every scenario: each compile adds exactly this */

static uint64_t cr_total(tk_drv_runtime *rt, const char *name)
{
    tk_counter buf[128];
    size_t n = D->counters(rt, buf, 128);
    if (n > 128) n = 128;
    for (size_t i = 0; i < n; i++)
        if (buf[i].name && !strcmp(buf[i].name, name)) return buf[i].nonfinal + buf[i].final;
    tkt_fail("the driver reports no counter '%s' (SPEC.md \"Counters\" defines it)", name);
}

/* The four gauges, compiles and the compile cost at one point of a script. */
static void cr_gauges(tk_drv_runtime *rt, const char *when, uint64_t t0, uint64_t t0i, uint64_t t1, uint64_t opt,
                      uint64_t compiles)
{
    static const char *const g[4] = { "methods_at_tier0", "methods_at_tier0instr", "methods_at_tier1",
                                      "methods_at_optimized" };
    const uint64_t want[4] = { t0, t0i, t1, opt };
    for (int k = 0; k < 4; k++) {
        uint64_t v = cr_total(rt, g[k]);
        ck_assert_msg(v == want[k],
                      "inv.counters.methods-at-tier: %s: %s = %llu; the published methods whose active version "
                      "has that tier are %llu", when, g[k], (unsigned long long)v, (unsigned long long)want[k]);
    }
    uint64_t c = cr_total(rt, "compiles"), cost = cr_total(rt, "compile_cost_us");
    ck_assert_msg(c == compiles, "inv.counters.compiles: %s: compiles = %llu; the rules give %llu", when,
                  (unsigned long long)c, (unsigned long long)compiles);
    ck_assert_msg(cost == compiles * CR_COST,
                  "inv.counters.compile-cost: %s: compile_cost_us = %llu after %llu compiles with CompileCostUs=%d "
                  "(expected %llu)", when, (unsigned long long)cost, (unsigned long long)compiles, CR_COST,
                  (unsigned long long)(compiles * CR_COST));
}

static void cr_expect(tk_drv_runtime *rt, const char *when, const char *name, uint64_t want, const char *anchor)
{
    uint64_t v = cr_total(rt, name);
    ck_assert_msg(v == want, "%s: %s: %s = %llu; the rules give %llu", anchor, when, name, (unsigned long long)v,
                  (unsigned long long)want);
}

/* counting_info_bytes is a fixed positive size per live counting info;
 * *per is that size once known (0 before). */
static void cr_infos(tk_drv_runtime *rt, const char *when, uint64_t live_infos, uint64_t *per)
{
    uint64_t b = cr_total(rt, "counting_info_bytes");
    if (!live_infos) {
        ck_assert_msg(b == 0, "inv.counters.info-bytes: %s: no counting info is live but counting_info_bytes = %llu",
                      when, (unsigned long long)b);
        return;
    }
    ck_assert_msg(b > 0 && b % live_infos == 0,
                  "inv.counters.info-bytes: %s: counting_info_bytes = %llu is not a whole size per live counting "
                  "info (%llu live)", when, (unsigned long long)b, (unsigned long long)live_infos);
    if (*per)
        ck_assert_msg(b == live_infos * *per,
                      "inv.counters.info-bytes: %s: counting_info_bytes = %llu for %llu live infos of %llu bytes "
                      "each (expected %llu)", when, (unsigned long long)b, (unsigned long long)live_infos,
                      (unsigned long long)*per, (unsigned long long)(live_infos * *per));
    else
        *per = b / live_infos;
}

static void cr_n(void **s, void *o, int id, int n)
{
    for (int i = 0; i < n; i++) tkt_call_slot(s, o, id, i + 1);
}

static const tk_method_def cr_v[] = { TKT_M("CR.A", 201), TKT_M("CR.B", 202),
                                      TKT_M_FLAGS("CR.N", 203, TK_METHOD_NOT_TIERED) };
static const tk_method_def cr_m[] = { TKT_M("CR.M", 204) };

/* Threshold 3, delay 100 ms, no stub deletion, CompileCostUs=13.  A, the
 * not-tiered N and the non-virtual M are called (Tier0, Optimized, Tier0),
 * the delay ends (A and M count), B's first call starts a new delay, which
 * ends (B counts).  A reaches its threshold (Tier1; with TieredPGO first
 * Tier0Instrumented, counted again, then Tier1).  A new IL version of A
 * unpublishes it; its first call compiles the new version at Tier0, whose
 * counting needs a new info.  The type's unload takes every method out of
 * the gauges and frees every info. */
TK_TEST(counters_gauges_each_step, "inv.counters.methods-at-tier", "inv.counters.compiles",
        "inv.counters.compile-cost", "inv.counters.methods-counted", "inv.counters.info-bytes")
{
    tkt_require_caps(TK_CAP_COUNTERS);
    for (int pgo = 0; pgo < 2; pgo++) {
        if (pgo && !(D->caps & TK_CAP_PGO)) break;
        tk_drv_runtime *rt = tkt_create("Mode=deterministic", pgo ? "TieredPGO=1" : "TieredPGO=0",
                                        "CallCountingDelayMs=100", "CallCountThreshold=3",
                                        "DeleteCallCountingStubsAfter=0", "CompileCostUs=13");
        tkt_require_tiering(rt);
        tk_type_def def = { "CR", NULL, 0, 3, cr_v, 0, NULL, 1, cr_m, 0, NULL };
        tk_drv_type *t = fx_define(rt, &def, 1);
        tk_drv_object *o = fx_obj(rt, t);
        void **sa = fx_vslot(t, 0), **sb = fx_vslot(t, 1), **sn = fx_vslot(t, 2);
        void **sm = D->method_slot(D->nonvirtual_method(t, 0));
        uint64_t per = 0, infos = 0, compiles = 0;
        const char *MC = "inv.counters.methods-counted";

        cr_gauges(rt, "after type load", 0, 0, 0, 0, 0);
        cr_expect(rt, "after type load", "methods_counted", 0, MC);
        cr_infos(rt, "after type load", 0, &per);
        tkt_call_slot(sa, o, 201, 0);
        cr_gauges(rt, "A called once", 1, 0, 0, 0, ++compiles);
        tkt_call_slot(sn, o, 203, 0);
        cr_gauges(rt, "the not-tiered N called once", 1, 0, 0, 1, ++compiles);
        tkt_call_slot(sm, NULL, 204, 0);
        cr_gauges(rt, "the non-virtual M called once", 2, 0, 0, 1, ++compiles);
        cr_n(sn, o, 203, 5);
        D->drain(rt);
        cr_gauges(rt, "N called 5 times more", 2, 0, 0, 1, compiles);
        cr_expect(rt, "inside the delay", "methods_counted", 0, MC);
        cr_infos(rt, "inside the delay", 0, &per);
        tkt_tick(rt, FX_DELAY);
        cr_expect(rt, "the delay is over: A and M count (N is not tiered)", "methods_counted", 2, MC);
        cr_infos(rt, "the delay is over: A and M count", infos = 2, &per);
        tkt_call_slot(sb, o, 202, 0);
        cr_gauges(rt, "B called once", 3, 0, 0, 1, ++compiles);
        tkt_tick(rt, FX_DELAY);
        cr_expect(rt, "B's delay is over: B counts too", "methods_counted", 3, MC);
        cr_infos(rt, "B's delay is over", infos = 3, &per);
        cr_n(sa, o, 201, 3);
        cr_gauges(rt, "A at its threshold, before background work", 3, 0, 0, 1, compiles);
        D->drain(rt);
        if (pgo) {
            cr_gauges(rt, "A promoted to Tier0Instrumented", 2, 1, 0, 1, ++compiles);
            cr_expect(rt, "A counts its Tier0Instrumented version", "methods_counted", 3, MC);
            cr_infos(rt, "A counts its Tier0Instrumented version", ++infos, &per);
            cr_n(sa, o, 201, 3);
            D->drain(rt);
        }
        cr_gauges(rt, "A promoted to Tier1", 2, 0, 1, 1, ++compiles);
        cr_n(sa, o, 201, 10);
        cr_n(sn, o, 203, 10);
        tkt_tick(rt, FX_DELAY);
        cr_gauges(rt, "10 more calls of A and N", 2, 0, 1, 1, compiles);
        cr_expect(rt, "A at Tier1", "methods_counted", 3, MC);
        cr_infos(rt, "A at Tier1 (infos outlive their versions' counting)", infos, &per);
        if (D->caps & TK_CAP_VERSIONING) {
            tk_drv_method *a = fx_vm(t, 0);
            ck_assert_msg(D->version_request(rt, a) > 0, "version_request(A) failed");
            cr_gauges(rt, "a new IL version of A made active: A is unpublished", 2, 0, 0, 1, compiles);
            tkt_call_slot(sa, o, 201, 0);
            cr_gauges(rt, "A's new IL version called once", 3, 0, 0, 1, ++compiles);
            tkt_tick(rt, FX_DELAY);
            cr_expect(rt, "A's new IL version counts (A was counted before)", "methods_counted", 3, MC);
            cr_infos(rt, "A's new IL version counts", ++infos, &per);
            ck_assert_msg(D->version_revert(rt, a) == 0, "version_revert(A) failed");
            cr_gauges(rt, "A's default IL version made active again: A is unpublished", 2, 0, 0, 1, compiles);
            tkt_call_slot(sa, o, 201, 0);
            D->drain(rt);
            tk_method_state st = tkt_state(rt, a);
            ck_assert_msg(st.il_version == 0 && TK_TIER_IS_FINAL(st.tier),
                          "inv.versioning.activate-republishes: after the revert A runs il%u at %s, expected its "
                          "default version's final code", st.il_version, tkt_tier_name(st.tier));
            cr_gauges(rt, "A's default IL version called again (its Tier1 code exists)", 2, 0, 1, 1, compiles);
        }
        if (D->caps & TK_CAP_TYPE_UNLOAD) {
            ck_assert_msg(D->type_unload(rt, t) == 0, "type_unload failed");
            D->drain(rt);
            cr_gauges(rt, "the type unloaded: none of its methods is published", 0, 0, 0, 0, compiles);
            cr_expect(rt, "the type unloaded", "methods_counted", 3, MC);
            cr_infos(rt, "the type unloaded: its methods' infos are freed", 0, &per);
        }
        tkt_destroy(rt);
    }
}

/* A runtime that does not tier (TieredCompilation=0, whatever the
 * strategy): every method compiles once, at Optimized, and nothing is ever
 * counted, however often it is called and however much time passes. */
TK_TEST(counters_untiered, "inv.counters.untiered", "inv.counters.methods-at-tier", "inv.counters.compiles",
        "inv.counters.compile-cost")
{
    tkt_require_caps(TK_CAP_COUNTERS);
    tk_drv_runtime *rt = tkt_create(FX_DET("3"), "TieredCompilation=0", "CompileCostUs=13");
    tk_type_def def = { "CU", NULL, 0, 3, cr_v, 0, NULL, 1, cr_m, 0, NULL };
    tk_drv_type *t = fx_define(rt, &def, 1);
    tk_drv_object *o = fx_obj(rt, t);
    void **s[4] = { fx_vslot(t, 0), fx_vslot(t, 1), fx_vslot(t, 2), D->method_slot(D->nonvirtual_method(t, 0)) };
    static const char *const zero[] = { "calls_counted", "threshold_hits", "stubs_allocated_callcount",
                                        "stubs_freed_callcount", "promotions_tier0_to_tier1",
                                        "promotions_tier0_to_tier0instr", "promotions_tier0instr_to_tier1",
                                        "methods_counted", "counting_stub_bytes", "counting_info_bytes",
                                        "stub_deletion_passes" };
    cr_gauges(rt, "after type load", 0, 0, 0, 0, 0);
    for (int k = 0; k < 4; k++) {
        tkt_call k1 = tkt_call_logged(s[k], k == 3 ? NULL : (void *)o, 201 + k, 0);
        ck_assert_msg(k1.tier == TK_TIER_OPTIMIZED, "inv.counters.untiered: with TieredCompilation=0 method %d ran "
                      "at %s on its first call, expected Optimized", k, tkt_tier_name(k1.tier));
        cr_gauges(rt, "one more method called once", 0, 0, 0, (uint64_t)k + 1, (uint64_t)k + 1);
    }
    for (int r = 0; r < 3; r++) {
        for (int k = 0; k < 4; k++) cr_n(s[k], k == 3 ? NULL : (void *)o, 201 + k, 5);
        tkt_tick(rt, FX_DELAY);
    }
    cr_gauges(rt, "15 more calls of each and three delays' time", 0, 0, 0, 4, 4);
    for (size_t z = 0; z < sizeof zero / sizeof zero[0]; z++)
        cr_expect(rt, "nothing is counted without tiering", zero[z], 0, "inv.counters.untiered");
    for (int k = 0; k < 4; k++) {
        tk_method_state st = tkt_state(rt, k == 3 ? D->nonvirtual_method(t, 0) : fx_vm(t, (uint32_t)k));
        ck_assert_msg(st.tier == TK_TIER_OPTIMIZED && !st.counting && st.published && st.compiles == 1,
                      "inv.counters.untiered: method %d: tier %s, counting %u, published %u, %llu compiles; "
                      "expected Optimized, 0, 1, 1", k, tkt_tier_name(st.tier), st.counting, st.published,
                      (unsigned long long)st.compiles);
        if ((D->caps & TK_CAP_CLASSIFY) && tkt_backpatches_slots(rt)) {
            tk_addr_info i = tkt_classify(rt, tkt_load(s[k]));
            ck_assert_msg(i.cls == TK_AC_NATIVE_CODE && i.tier == TK_TIER_OPTIMIZED,
                          "inv.slot.final-direct: method %d's slot holds %s/%s, expected its Optimized code", k,
                          tkt_cls_name(i.cls), tkt_tier_name(i.tier));
        }
    }
    if (D->caps & TK_CAP_VERSIONING) {
        ck_assert_msg(D->version_request(rt, fx_vm(t, 0)) > 0, "version_request failed");
        cr_gauges(rt, "a new IL version of A made active", 0, 0, 0, 3, 4);
        tkt_call c = tkt_call_logged(s[0], o, 201, 0);
        ck_assert_msg(c.tier == TK_TIER_OPTIMIZED && c.il_version > 0,
                      "inv.counters.untiered: A's new IL version ran at %s il%u, expected Optimized il>0",
                      tkt_tier_name(c.tier), c.il_version);
        tkt_tick(rt, FX_DELAY);
        cr_gauges(rt, "A's new IL version called", 0, 0, 0, 4, 5);
        cr_expect(rt, "A's new IL version", "methods_counted", 0, "inv.counters.untiered");
    }
    if (D->caps & TK_CAP_TYPE_UNLOAD) {
        ck_assert_msg(D->type_unload(rt, t) == 0, "type_unload failed");
        D->drain(rt);
        cr_gauges(rt, "the type unloaded", 0, 0, 0, 0, (D->caps & TK_CAP_VERSIONING) ? 5 : 4);
    }
    tkt_destroy(rt);
}

/* DeleteCallCountingStubsAfter=2: a deletion pass runs once two counting
 * completions happened and the background queue is empty.  A and B
 * complete (one pass: every counting stub freed, A's and B's infos freed,
 * C's kept with its remaining count); C resumes on its next call (a new
 * stub, the same info) and completes: one completion since the pass, so no
 * second pass, and C's completed info stays until one. */
static const tk_method_def cd_v[] = { TKT_M("CD.A", 211), TKT_M("CD.B", 212), TKT_M("CD.C", 213) };

TK_TEST(counters_deletion_passes, "inv.counters.deletion-passes", "inv.counters.info-bytes",
        "inv.counters.methods-counted", "inv.reclaim.delete-all")
{
    tkt_require_caps(TK_CAP_COUNTERS | TK_CAP_STUB_DELETION);
    tk_drv_runtime *rt = tkt_create(FX_DET("3"), "DeleteCallCountingStubsAfter=2");
    tkt_require_tiering(rt);
    const char *DP = "inv.counters.deletion-passes", *MC = "inv.counters.methods-counted";
    D->thread_attach(rt);
    tk_drv_type *t = fx_class(rt, "CD", NULL, 3, cd_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **s[3] = { fx_vslot(t, 0), fx_vslot(t, 1), fx_vslot(t, 2) };
    uint64_t per = 0;
    for (int k = 0; k < 3; k++) tkt_call_slot(s[k], o, 211 + k, 0);
    tkt_tick(rt, FX_DELAY);
    cr_expect(rt, "A, B and C count", "methods_counted", 3, MC);
    cr_infos(rt, "A, B and C count", 3, &per);
    cr_expect(rt, "A, B and C count", "stub_deletion_passes", 0, DP);
    cr_n(s[0], o, 211, 3);
    cr_n(s[2], o, 213, 1);                      /* C: 1 of 3 counted */
    D->safepoint(rt);
    D->drain(rt);
    cr_expect(rt, "one completion (A)", "stub_deletion_passes", 0, DP);
    cr_expect(rt, "one completion (A)", "stubs_freed_callcount", 0, "inv.reclaim.delete-all");
    cr_infos(rt, "one completion (A): infos stay until a pass", 3, &per);
    cr_n(s[1], o, 212, 3);
    for (int k = 0; k < 2; k++) {
        D->safepoint(rt);
        D->drain(rt);
    }
    cr_expect(rt, "two completions (A, B), the queue empty: one pass", "stub_deletion_passes", 1, DP);
    cr_expect(rt, "the pass", "stubs_freed_callcount", 3, "inv.reclaim.delete-all");
    cr_infos(rt, "the pass freed A's and B's infos, C's keeps its count", 1, &per);
    tk_method_state st = tkt_state(rt, fx_vm(t, 2));
    ck_assert_msg(!st.counting && st.tier == TK_TIER_0,
                  "inv.reclaim.delete-all: after the pass C is counting=%u at %s; its counting stops and it stays "
                  "Tier0", st.counting, tkt_tier_name(st.tier));
    cr_n(s[2], o, 213, 1);                      /* resumes: counted (2 of 3) */
    D->drain(rt);
    cr_expect(rt, "C resumed", "stubs_allocated_callcount", 4, "inv.reclaim.delete-all");
    cr_expect(rt, "C resumed", "methods_counted", 3, MC);
    cr_infos(rt, "C resumed with its info", 1, &per);
    ck_assert_msg(fx_tier(rt, fx_vm(t, 2)) == TK_TIER_0, "inv.reclaim.delete-all: C promoted after 2 counted calls");
    cr_n(s[2], o, 213, 1);                      /* 3 of 3 */
    for (int k = 0; k < 2; k++) {
        D->safepoint(rt);
        D->drain(rt);
    }
    ck_assert_msg(fx_tier(rt, fx_vm(t, 2)) == TK_TIER_1,
                  "inv.reclaim.delete-all: C at %s after exactly 3 counted calls across the pass",
                  tkt_tier_name(fx_tier(rt, fx_vm(t, 2))));
    cr_expect(rt, "C completed: one completion since the pass", "stub_deletion_passes", 1, DP);
    cr_expect(rt, "C completed", "stubs_freed_callcount", 3, "inv.reclaim.delete-all");
    cr_infos(rt, "C completed, no pass since", 1, &per);
    D->thread_detach(rt);
    tkt_destroy(rt);
}

/* A completion reached in the prestub counts toward
 * DeleteCallCountingStubsAfter like one reached through the stub (CoreCLR
 * counts every completed version that had a counting stub).  A and B count
 * with their stubs; a derived type loaded now inherits their slots at the
 * temporary entry point, and the third counted call of each goes through
 * it (the prestub under designs that route such a call there, the stub
 * otherwise): two completions, then with the queue empty one pass, which
 * stops E's counting and frees all three stubs. */
static const tk_method_def cp_v[] = { TKT_M("CP.A", 221), TKT_M("CP.B", 222), TKT_M("CP.E", 223) };

TK_TEST(counters_deletion_after_prestub_completions, "inv.counters.deletion-passes", "inv.reclaim.delete-all",
        "inv.counting.prestub-call")
{
    tkt_require_caps(TK_CAP_COUNTERS | TK_CAP_STUB_DELETION);
    tk_drv_runtime *rt = tkt_create(FX_DET("3"), "DeleteCallCountingStubsAfter=2");
    tkt_require_tiering(rt);
    D->thread_attach(rt);
    tk_drv_type *t = fx_class(rt, "CP", NULL, 3, cp_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **s[3] = { fx_vslot(t, 0), fx_vslot(t, 1), fx_vslot(t, 2) };
    for (int k = 0; k < 3; k++) tkt_call_slot(s[k], o, 221 + k, 0);
    tkt_tick(rt, FX_DELAY);
    cr_expect(rt, "A, B and E count", "stubs_allocated_callcount", 3, "inv.counters.callcount-stubs");
    cr_n(s[0], o, 221, 2);
    cr_n(s[1], o, 222, 2);
    tk_drv_type *d = fx_class(rt, "CPD", t, 0, NULL, 0, NULL);
    tk_drv_object *od = fx_obj(rt, d);
    tkt_call_slot(fx_vslot(d, 0), od, 221, 3);   /* A's 3rd counted call */
    tkt_call_slot(fx_vslot(d, 1), od, 222, 3);   /* B's 3rd counted call */
    cr_expect(rt, "A and B at their threshold", "threshold_hits", 2, "inv.counters.threshold-hits");
    for (int k = 0; k < 3; k++) {
        D->safepoint(rt);
        D->drain(rt);
    }
    ck_assert_msg(fx_tier(rt, fx_vm(t, 0)) == TK_TIER_1 && fx_tier(rt, fx_vm(t, 1)) == TK_TIER_1,
                  "inv.tiering.promotion-after-threshold: A at %s, B at %s after their thresholds and the background "
                  "work", tkt_tier_name(fx_tier(rt, fx_vm(t, 0))), tkt_tier_name(fx_tier(rt, fx_vm(t, 1))));
    cr_expect(rt, "two completions (in the prestub or through the stub), the queue empty", "stub_deletion_passes", 1,
              "inv.counters.deletion-passes");
    cr_expect(rt, "the pass freed every counting stub", "stubs_freed_callcount", 3, "inv.reclaim.delete-all");
    ck_assert_msg(!tkt_state(rt, fx_vm(t, 2)).counting,
                  "inv.reclaim.delete-all: E still counting after a pass that stops all counting");
    D->object_free(rt, od);
    D->thread_detach(rt);
    tkt_destroy(rt);
}
