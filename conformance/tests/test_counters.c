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

/* inv.counters.stub-bytes: `live_stub_bytes` is the size of every live stub
 * and `counting_stub_bytes` that of the live call-counting stubs, so the
 * two move together when only counting stubs come and go, the counting
 * bytes are a fixed size per live counting stub, and they are 0 once the
 * last counting stub is freed.  The stub sizes themselves are the
 * implementation's; only these relations are checked. */
typedef struct {
    uint64_t live, counting, cc_live, other_alloc, other_freed;
} ct_bytes;

static uint64_t ct_total(tk_drv_runtime *rt, const char *name)
{
    tk_counter c = ct_read(rt, name);
    return c.nonfinal + c.final;
}

static ct_bytes ct_bytes_now(tk_drv_runtime *rt)
{
    ct_bytes b;
    b.live = ct_total(rt, "live_stub_bytes");
    b.counting = ct_total(rt, "counting_stub_bytes");
    b.cc_live = ct_total(rt, "stubs_allocated_callcount") - ct_total(rt, "stubs_freed_callcount");
    b.other_alloc = ct_total(rt, "stubs_allocated_precode") + ct_total(rt, "stubs_allocated_forwarder");
    b.other_freed = ct_total(rt, "stubs_freed_precode") + ct_total(rt, "stubs_freed_forwarder");
    return b;
}

/* Checks b against the previous point a; *per is the bytes per counting
 * stub once known (0 before). */
static void ct_bytes_check(const char *when, ct_bytes a, ct_bytes b, uint64_t *per)
{
    ck_assert_msg(b.cc_live < (1u << 20), "%s: stubs_freed_callcount exceeds stubs_allocated_callcount (live %lld)",
                  when, (long long)b.cc_live);
    ck_assert_msg(b.live >= b.counting,
                  "inv.counters.stub-bytes: %s: counting_stub_bytes %llu > live_stub_bytes %llu (counting stubs "
                  "are stubs)", when, (unsigned long long)b.counting, (unsigned long long)b.live);
    if (b.cc_live == 0)
        ck_assert_msg(b.counting == 0, "inv.counters.stub-bytes: %s: no call-counting stub is live but "
                      "counting_stub_bytes = %llu", when, (unsigned long long)b.counting);
    else {
        ck_assert_msg(b.counting % b.cc_live == 0 && b.counting > 0,
                      "inv.counters.stub-bytes: %s: counting_stub_bytes %llu is not a whole size per live counting "
                      "stub (%llu live)", when, (unsigned long long)b.counting, (unsigned long long)b.cc_live);
        uint64_t s = b.counting / b.cc_live;
        if (*per)
            ck_assert_msg(s == *per, "inv.counters.stub-bytes: %s: %llu bytes per live counting stub, earlier %llu",
                          when, (unsigned long long)s, (unsigned long long)*per);
        *per = s;
    }
    if (a.other_alloc == b.other_alloc && a.other_freed == b.other_freed)
        ck_assert_msg(b.live - a.live == b.counting - a.counting,
                      "inv.counters.stub-bytes: %s: only call-counting stubs were allocated or freed since the last "
                      "point, yet live_stub_bytes moved by %lld and counting_stub_bytes by %lld",
                      when, (long long)(b.live - a.live), (long long)(b.counting - a.counting));
}

TK_TEST(counters_stub_bytes, "inv.counters.stub-bytes", "inv.counters.callcount-stubs")
{
    tkt_require_caps(TK_CAP_COUNTERS | TK_CAP_STUB_DELETION);
    tk_drv_runtime *rt = tkt_create(FX_DET("3"), "DeleteCallCountingStubsAfter=1");
    tkt_require_tiering(rt);
    D->thread_attach(rt);
    tk_type_def def = { "CB", NULL, 0, 3, ct_v, 0, NULL, 0, NULL, 0, NULL };
    tk_drv_type *t = fx_define(rt, &def, 1);
    tk_drv_object *o = fx_obj(rt, t);
    void **s[3] = { fx_vslot(t, 0), fx_vslot(t, 1), fx_vslot(t, 2) };
    uint64_t per = 0;
    ct_bytes a = ct_bytes_now(rt), b;
    ct_bytes_check("after type load", a, a, &per);
    for (int k = 0; k < 3; k++) tkt_call_slot(s[k], o, 91 + k, 0);
    D->drain(rt);
    b = ct_bytes_now(rt);
    ct_bytes_check("after the first calls", a, b, &per);
    a = b;
    tkt_tick(rt, FX_DELAY);                       /* A, B and C count */
    b = ct_bytes_now(rt);
    ck_assert_msg(b.cc_live == 3, "setup: %llu call-counting stubs live after the delay, expected 3 (A, B, C)",
                  (unsigned long long)b.cc_live);
    ct_bytes_check("the delay is over: three methods count", a, b, &per);
    ck_assert_msg(b.live > a.live, "inv.counters.stub-bytes: three call-counting stubs were allocated but "
                  "live_stub_bytes did not grow (%llu -> %llu)", (unsigned long long)a.live,
                  (unsigned long long)b.live);
    a = b;
    for (int i = 0; i < 3; i++) tkt_call_slot(s[0], o, 91, i + 1);   /* A: threshold */
    tkt_call_slot(s[1], o, 92, 1);                                  /* B: 1 of 3 */
    for (int k = 0; k < 3; k++) {                 /* completion, promotion, deletion pass */
        D->safepoint(rt);
        D->drain(rt);
    }
    b = ct_bytes_now(rt);
    ct_bytes_check("A promoted, the deletion pass ran", a, b, &per);
    ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, fx_vm(t, 0))), "setup: A not promoted (%s)",
                  tkt_tier_name(fx_tier(rt, fx_vm(t, 0))));
    a = b;
    for (int k = 0; k < 3; k++)                   /* B and C resume and reach the threshold */
        for (int i = 0; i < 4; i++) tkt_call_slot(s[k], o, 91 + k, i + 10);
    for (int k = 0; k < 4; k++) {
        tkt_tick(rt, FX_DELAY);
        D->safepoint(rt);
        D->drain(rt);
    }
    b = ct_bytes_now(rt);
    ct_bytes_check("every method promoted and the stubs deleted", a, b, &per);
    for (int k = 0; k < 3; k++)
        ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, fx_vm(t, (uint32_t)k))), "setup: method %d not promoted", k);
    D->thread_detach(rt);
    tkt_destroy(rt);
}
