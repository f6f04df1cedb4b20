/* conformance/tests/test_counters.c — what each tiering counter counts
 * (`inv.counters.*`, SPEC.md "Counters"), on a scripted scenario whose
 * exact values follow from the rules: calls through the prestub and during
 * the delay are not counted, each counted version gets one counting stub,
 * reaching the threshold once promotes once, and so on.  Nothing here is a
 * value copied from a run. */
#include "fixture.h"

static const tk_method_def ct_v[] = { TKT_M("CT.A", 91), TKT_M("CT.B", 92), TKT_M("CT.C", 93) };
static const tk_method_def ct_m[] = { TKT_M("CT.N", 94) };

typedef struct {
    const char *name;
    uint64_t nonfinal, final;
    int split;              /* 1: split by phase, 0: not split */
} ct_expect;

static tk_counter ct_read(tk_drv_runtime *rt, const char *name)
{
    tk_counter buf[128];
    size_t n = D->counters(rt, buf, 128);
    if (n > 128) n = 128;
    for (size_t i = 0; i < n; i++)
        if (buf[i].name && !strcmp(buf[i].name, name)) return buf[i];
    tkt_fail("the driver reports no counter '%s' (SPEC.md \"Counters\" defines it)", name);
}

/* Compares every expected counter; `when` names the point of the script. */
static void ct_check(tk_drv_runtime *rt, const char *when, const ct_expect *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tk_counter c = ct_read(rt, e[i].name);
        if (e[i].split)
            ck_assert_msg(c.split && c.nonfinal == e[i].nonfinal && c.final == e[i].final,
                          "%s: counter %s = %llu non-final / %llu final (split=%u); the rules give %llu / %llu "
                          "(split)",
                          when, e[i].name, (unsigned long long)c.nonfinal, (unsigned long long)c.final, c.split,
                          (unsigned long long)e[i].nonfinal, (unsigned long long)e[i].final);
        else
            ck_assert_msg(c.nonfinal + c.final == e[i].final,
                          "%s: counter %s = %llu; the rules give %llu", when, e[i].name,
                          (unsigned long long)(c.nonfinal + c.final), (unsigned long long)e[i].final);
    }
}

#define CT_N(name, v) { name, 0, (v), 0 }
#define CT_S(name, nf, f) { name, (nf), (f), 1 }
#define CT_CHECK(rt, when, ...)                                                                     \
    do {                                                                                            \
        const ct_expect ct_e_[] = { __VA_ARGS__ };                                                  \
        ct_check(rt, when, ct_e_, sizeof ct_e_ / sizeof ct_e_[0]);                                  \
    } while (0)

static void ct_n_calls(void **s, void *o, int id, int n)
{
    for (int i = 0; i < n; i++) tkt_call_slot(s, o, id, i);
}

/* Threshold 3, delay 100 ms, no stub deletion.  A, B and C are called once
 * (three Tier0 compiles), A five and B once more during the delay (not
 * counted).  After the delay: A 3 + 2 calls (threshold on the 3rd; the two
 * after it still decrement), B 3 (threshold), C 1; background work; C 2 more
 * (threshold); background work.  With TieredPGO each of A, B and C then
 * counts its Tier0Instrumented version 3 times to reach Tier1. */
TK_TEST(counters_scripted, "inv.counters.calls-counted", "inv.counters.threshold-hits", "inv.counters.promotions",
        "inv.counters.compiles", "inv.counters.methods-at-tier", "inv.counters.callcount-stubs")
{
    tkt_require_caps(TK_CAP_COUNTERS);
    for (int pgo = 0; pgo < 2; pgo++) {
        if (pgo && !(D->caps & TK_CAP_PGO)) break;
        tk_drv_runtime *rt = tkt_create("Mode=deterministic", pgo ? "TieredPGO=1" : "TieredPGO=0",
                                        "CallCountingDelayMs=100", "CallCountThreshold=3",
                                        "DeleteCallCountingStubsAfter=0");
        tkt_require_tiering(rt);
        tk_type_def def = { "CT", NULL, 0, 3, ct_v, 0, NULL, 1, ct_m, 0, NULL };
        tk_drv_type *t = fx_define(rt, &def, 1);
        tk_drv_object *o = fx_obj(rt, t);
        void **sa = fx_vslot(t, 0), **sb = fx_vslot(t, 1), **sc = fx_vslot(t, 2);

        CT_CHECK(rt, "after type load", CT_S("calls_counted", 0, 0), CT_S("threshold_hits", 0, 0),
                 CT_N("compiles", 0), CT_N("stubs_allocated_callcount", 0), CT_N("methods_at_tier0", 0),
                 CT_N("methods_at_tier1", 0));
        tkt_call_slot(sa, o, 91, 0);
        tkt_call_slot(sb, o, 92, 0);
        tkt_call_slot(sc, o, 93, 0);
        ct_n_calls(sa, o, 91, 5);
        ct_n_calls(sb, o, 92, 1);
        D->drain(rt);
        CT_CHECK(rt, "first calls and calls during the delay", CT_S("calls_counted", 0, 0),
                 CT_S("threshold_hits", 0, 0), CT_N("compiles", 3), CT_N("stubs_allocated_callcount", 0),
                 CT_N("methods_at_tier0", 3), CT_N("methods_at_tier0instr", 0), CT_N("methods_at_tier1", 0),
                 CT_N("promotions_tier0_to_tier1", 0), CT_N("promotions_tier0_to_tier0instr", 0));
        tkt_tick(rt, FX_DELAY);
        CT_CHECK(rt, "the delay is over: A, B and C count", CT_N("stubs_allocated_callcount", 3),
                 CT_N("stubs_freed_callcount", 0), CT_S("threshold_hits", 0, 0), CT_N("compiles", 3));
        ct_n_calls(sa, o, 91, 5);
        ct_n_calls(sb, o, 92, 3);
        ct_n_calls(sc, o, 93, 1);
        CT_CHECK(rt, "A and B at their threshold, before background work", CT_S("threshold_hits", 2, 0),
                 CT_N("compiles", 3), CT_N("promotions_tier0_to_tier1", 0),
                 CT_N("promotions_tier0_to_tier0instr", 0));
        D->drain(rt);
        if (!pgo)
            CT_CHECK(rt, "A and B promoted", CT_S("calls_counted", 8, 0), CT_S("threshold_hits", 2, 0),
                     CT_N("promotions_tier0_to_tier1", 2), CT_N("promotions_tier0_to_tier0instr", 0),
                     CT_N("compiles", 5), CT_N("methods_at_tier0", 1), CT_N("methods_at_tier1", 2),
                     CT_N("stubs_allocated_callcount", 3));
        else
            CT_CHECK(rt, "A and B promoted to Tier0Instrumented (counting again)", CT_S("calls_counted", 8, 0),
                     CT_S("threshold_hits", 2, 0), CT_N("promotions_tier0_to_tier0instr", 2),
                     CT_N("promotions_tier0_to_tier1", 0), CT_N("compiles", 5), CT_N("methods_at_tier0", 1),
                     CT_N("methods_at_tier0instr", 2), CT_N("methods_at_tier1", 0),
                     CT_N("stubs_allocated_callcount", 5));
        ct_n_calls(sc, o, 93, 2);
        D->drain(rt);
        if (pgo) {
            CT_CHECK(rt, "C promoted to Tier0Instrumented", CT_S("calls_counted", 11, 0),
                     CT_S("threshold_hits", 3, 0), CT_N("promotions_tier0_to_tier0instr", 3), CT_N("compiles", 6),
                     CT_N("methods_at_tier0instr", 3), CT_N("stubs_allocated_callcount", 6));
            ct_n_calls(sa, o, 91, 3);
            ct_n_calls(sb, o, 92, 3);
            ct_n_calls(sc, o, 93, 3);
            D->drain(rt);
        }
        ct_n_calls(sa, o, 91, 10);
        ct_n_calls(sb, o, 92, 10);
        ct_n_calls(sc, o, 93, 10);
        tkt_tick(rt, FX_DELAY);
        if (!pgo)
            CT_CHECK(rt, "every method at Tier1, then 10 more calls each", CT_S("calls_counted", 11, 0),
                     CT_S("threshold_hits", 3, 0), CT_N("promotions_tier0_to_tier1", 3),
                     CT_N("promotions_tier0_to_tier0instr", 0), CT_N("promotions_tier0instr_to_tier1", 0),
                     CT_N("compiles", 6), CT_N("methods_at_tier0", 0), CT_N("methods_at_tier1", 3),
                     CT_N("stubs_allocated_callcount", 3), CT_N("stubs_freed_callcount", 0));
        else
            CT_CHECK(rt, "every method at Tier1 through Tier0Instrumented, then 10 more calls each",
                     CT_S("calls_counted", 20, 0), CT_S("threshold_hits", 6, 0),
                     CT_N("promotions_tier0_to_tier0instr", 3), CT_N("promotions_tier0instr_to_tier1", 3),
                     CT_N("promotions_tier0_to_tier1", 0), CT_N("compiles", 9), CT_N("methods_at_tier0", 0),
                     CT_N("methods_at_tier0instr", 0), CT_N("methods_at_tier1", 3),
                     CT_N("stubs_allocated_callcount", 6), CT_N("stubs_freed_callcount", 0));
        tkt_destroy(rt);
    }
}
