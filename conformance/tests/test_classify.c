/* conformance/tests/test_classify.c — classify() names every stub exactly as
 * the kind it was allocated as (`inv.observability.classify-exact`): the
 * kind, its method, and for a call-counting stub its tier and IL version;
 * a freed stub is never reported as live. */
#include "fixture.h"

static const tk_method_def cx_v[] = { TKT_M("CX.V", 81), TKT_M("CX.W", 82) };
static const tk_method_def cx_m[] = { TKT_M("CX.N", 83) };
static const tk_override_def cx_o[] = { { 0, TKT_M("CXd.V", 84) } };

typedef struct {
    void *addr;
    uint32_t kind;
    tk_drv_method *method;
    int32_t tier;
    uint32_t il;
    int freed;
    uint64_t seq;         /* the event that last changed it */
} cx_stub;

/* An assertion without Check's per-call mark (a write to its pipe): the
 * checks below run once per stub at every point of a scenario with
 * thousands of stubs. */
#define CX_ASSERT(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) tkt_fail(__VA_ARGS__);                                                        \
    } while (0)

#define CX_CAP 16384u
static cx_stub cx_stubs[CX_CAP];
static size_t cx_n;
static uint32_t cx_index[2 * CX_CAP];   /* open addressing: 1 + index into cx_stubs, 0 empty */

static size_t cx_hash(const void *a)
{
    uintptr_t x = (uintptr_t)a;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 20) % (2 * CX_CAP);
}

static cx_stub *cx_find(void *a)
{
    for (size_t h = cx_hash(a); cx_index[h]; h = (h + 1) % (2 * CX_CAP))
        if (cx_stubs[cx_index[h] - 1].addr == a) return &cx_stubs[cx_index[h] - 1];
    return NULL;
}

static cx_stub *cx_add(void *a)
{
    CX_ASSERT(cx_n < CX_CAP, "more than %u stubs", CX_CAP);
    size_t h = cx_hash(a);
    while (cx_index[h]) h = (h + 1) % (2 * CX_CAP);
    cx_index[h] = (uint32_t)++cx_n;
    return &cx_stubs[cx_n - 1];
}

/* Replays the allocation and free events into the table of stubs. */
static void cx_replay(void)
{
    cx_n = 0;
    memset(cx_index, 0, sizeof cx_index);
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        if (e.kind != TK_EV_STUB_ALLOC && e.kind != TK_EV_STUB_FREE) continue;
        cx_stub *s = cx_find(e.stub);
        if (e.kind == TK_EV_STUB_ALLOC) {
            CX_ASSERT(!s || s->freed, "event seq %llu: stub %p allocated again while live (allocated at seq %llu)",
                          (unsigned long long)e.seq, e.stub, (unsigned long long)s->seq);
            if (!s) s = cx_add(e.stub);
            *s = (cx_stub){ e.stub, e.stub_kind, e.method, e.tier, e.il_version, 0, e.seq };
        } else {
            CX_ASSERT(s && !s->freed, "event seq %llu: stub_free of %p, which is not a live stub",
                          (unsigned long long)e.seq, e.stub);
            CX_ASSERT(e.stub_kind == s->kind, "event seq %llu: stub %p allocated as %s is freed as %s",
                          (unsigned long long)e.seq, e.stub, tkt_cls_name((int)s->kind), tkt_cls_name((int)e.stub_kind));
            s->freed = 1;
            s->seq = e.seq;
        }
    }
}

/* Every stub allocated so far classifies exactly as allocated. */
static size_t cx_check(tk_drv_runtime *rt, const char *when)
{
    cx_replay();
    size_t live = 0;
    for (size_t i = 0; i < cx_n; i++) {
        const cx_stub *s = &cx_stubs[i];
        tk_addr_info c = tkt_classify(rt, s->addr);
        const char *mn = s->method ? D->method_name(s->method) : "?";
        if (s->freed) {
            /* A freed stub's memory may have been given back (unknown) but
             * it is never a live stub of any kind. */
            CX_ASSERT(c.cls == TK_AC_FREED || c.cls == TK_AC_UNKNOWN,
                          "%s: stub %p (%s of %s) was freed at seq %llu but classifies as %s", when, s->addr,
                          tkt_cls_name((int)s->kind), mn, (unsigned long long)s->seq, tkt_cls_name(c.cls));
            continue;
        }
        live++;
        CX_ASSERT((uint32_t)c.cls == s->kind, "%s: stub %p allocated as %s of %s (seq %llu) classifies as %s", when,
                      s->addr, tkt_cls_name((int)s->kind), mn, (unsigned long long)s->seq, tkt_cls_name(c.cls));
        CX_ASSERT(c.method == s->method, "%s: %s %p of %s classifies with method %s", when,
                      tkt_cls_name((int)s->kind), s->addr, mn, c.method ? D->method_name(c.method) : "(none)");
        if (s->kind == TK_AC_CALLCOUNT_STUB)
            CX_ASSERT(c.tier == s->tier && c.il_version == s->il,
                          "%s: call-counting stub %p of %s allocated for %s/il%u classifies as %s/il%u", when, s->addr,
                          mn, tkt_tier_name(s->tier), s->il, tkt_tier_name(c.tier), c.il_version);
    }
    return live;
}

static size_t cx_count(uint32_t kind, int freed)
{
    size_t n = 0;
    for (size_t i = 0; i < cx_n; i++) n += cx_stubs[i].kind == kind && cx_stubs[i].freed == freed;
    return n;
}

TK_TEST(observability_classify_exact, "inv.observability.classify-exact", "inv.observability.trace-classified")
{
    tkt_require_caps(TK_CAP_EVENTS | TK_CAP_CLASSIFY);
    int del = (D->caps & TK_CAP_STUB_DELETION) != 0, pgo = (D->caps & TK_CAP_PGO) != 0;
    tk_drv_runtime *rt = tkt_create("Mode=deterministic", pgo ? "TieredPGO=1" : "TieredPGO=0",
                                    "CallCountingDelayMs=100", "CallCountThreshold=2",
                                    del ? "DeleteCallCountingStubsAfter=1" : "DeleteCallCountingStubsAfter=0");
    tkt_events_start(rt);
    tk_type_def pdef = { "CX", NULL, 0, 2, cx_v, 0, NULL, 1, cx_m, 0, NULL };
    tk_drv_type *p = fx_define(rt, &pdef, 1);
    tk_drv_type *q = fx_class(rt, "CXd", p, 0, NULL, 1, cx_o);
    tk_drv_object *op = fx_obj(rt, p), *oq = fx_obj(rt, q);
    tk_drv_method *v = fx_vm(p, 0), *w = fx_vm(p, 1), *n = D->nonvirtual_method(p, 0);
    ck_assert_ptr_nonnull(n);
    void **pv = fx_vslot(p, 0), **pw = fx_vslot(p, 1), **qv = fx_vslot(q, 0), **qw = fx_vslot(q, 1);
    void **sn = D->method_slot(n);
    cx_check(rt, "after type load");
    for (int round = 0; round < 4; round++) {
        char when[64];
        tkt_call_slot(pv, op, 81, round);
        tkt_call_slot(qv, oq, 84, round);
        tkt_call_slot(qw, oq, 82, round);
        tkt_call_slot(sn, op, 83, round);
        snprintf(when, sizeof when, "round %d, after the calls", round);
        cx_check(rt, when);
        tkt_tick(rt, FX_DELAY);
        snprintf(when, sizeof when, "round %d, after the delay", round);
        cx_check(rt, when);
        for (int i = 0; i < 2; i++) {
            tkt_call_slot(pv, op, 81, i);
            tkt_call_slot(pw, op, 82, i);
            tkt_call_slot(sn, op, 83, i);
        }
        snprintf(when, sizeof when, "round %d, at the threshold", round);
        cx_check(rt, when);
        D->safepoint(rt);
        D->drain(rt);
        snprintf(when, sizeof when, "round %d, after background work", round);
        cx_check(rt, when);
        if (round == 1 && (D->caps & TK_CAP_VERSIONING)) {
            ck_assert_msg(D->version_request(rt, v) > 0, "version_request failed");
            cx_check(rt, "after a new IL version of CX.V");
        }
    }
    if (tkt_tiers(rt))
        ck_assert_msg(cx_count(TK_AC_CALLCOUNT_STUB, 0) + cx_count(TK_AC_CALLCOUNT_STUB, 1) > 0,
                      "setup: no call-counting stub was allocated");
    if (D->caps & TK_CAP_TYPE_UNLOAD) {
        ck_assert_msg(D->type_unload(rt, q) == 0, "type_unload failed");
        cx_check(rt, "after unloading CXd");
    }
    for (int i = 0; i < 3; i++) {
        tkt_call_slot(pv, op, 81, i);
        tkt_call_slot(pw, op, 82, i);
        tkt_tick(rt, FX_DELAY);
    }
    cx_check(rt, "at the end");
    tkt_note("%zu stubs allocated: %zu precode, %zu forwarder, %zu call-counting (%zu freed)", cx_n,
             cx_count(TK_AC_PRECODE, 0) + cx_count(TK_AC_PRECODE, 1),
             cx_count(TK_AC_FORWARDER, 0) + cx_count(TK_AC_FORWARDER, 1),
             cx_count(TK_AC_CALLCOUNT_STUB, 0) + cx_count(TK_AC_CALLCOUNT_STUB, 1), cx_count(TK_AC_CALLCOUNT_STUB, 1));
    tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ v, w, n, NULL });
    tkt_destroy(rt);
}

/* The same rule at scale, where stubs fill several pages of each kind and
 * freed stubs' memory is reused: 1,300 virtuals (more than a 16-KiB page of
 * every stub kind), all counting; every other method promoted; a deletion
 * pass frees every counting stub and the methods still counting resume on
 * new stubs; a second type of 700 virtuals loads, is unloaded, and a third
 * loads into the memory it gave back.  After every step every stub ever
 * allocated classifies exactly as allocated (or as freed / unknown once
 * freed) and every call runs its own body. */
#define CS_N 1300u
#define CS_M 700u
#define CS_ID 1000
static char cs_names[CS_N][24];
static tk_method_def cs_defs[CS_N];

static void cs_defs_init(const char *prefix, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        snprintf(cs_names[i], sizeof cs_names[i], "%s.v%u", prefix, i);
        cs_defs[i] = (tk_method_def)TKT_M(cs_names[i], CS_ID + (int)i);
    }
}

/* Calls slot s of t (method i) through the loaded value; fails on a wrong body. */
static void cs_call(tk_drv_type *t, tk_drv_object *o, uint32_t i, int64_t arg)
{
    void **s = D->vtable_slot(t, i);
    if (!s) tkt_fail("vtable_slot(%u) is NULL", i);
    int64_t r = ((tk_entry_fn)tkt_load(s))(o, arg, 0, 0, 0);
    if (r != tkt_expect(CS_ID + (int)i, arg))
        tkt_fail("slot %u: the call returned %lld, not the result of method %u's body", i, (long long)r, i);
}

static void cs_calls(tk_drv_type *t, tk_drv_object *o, uint32_t n, uint32_t from, uint32_t step, int times)
{
    for (int k = 0; k < times; k++)
        for (uint32_t i = from; i < n; i += step) cs_call(t, o, i, k);
}

TK_TEST_F(observability_classify_exact_at_scale, TKT_SLOW, "inv.observability.classify-exact",
          "inv.reclaim.delete-all", "inv.semantics.tier-independent")
{
    tkt_require_caps(TK_CAP_EVENTS | TK_CAP_CLASSIFY);
    int del = (D->caps & TK_CAP_STUB_DELETION) != 0;
    tk_drv_runtime *rt = tkt_create(FX_DET("2"), del ? "DeleteCallCountingStubsAfter=1" : "DeleteCallCountingStubsAfter=0");
    tkt_events_start(rt);
    D->thread_attach(rt);
    cs_defs_init("CS", CS_N);
    tk_drv_type *t = fx_class(rt, "CS", NULL, CS_N, cs_defs, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    cx_check(rt, "after loading 1,300 virtuals");
    cs_calls(t, o, CS_N, 0, 1, 1);
    cx_check(rt, "after every first call");
    tkt_tick(rt, FX_DELAY);
    size_t live = cx_check(rt, "after the delay: every method counts");
    cs_calls(t, o, CS_N, 1, 2, 2);                 /* odd methods reach the threshold */
    for (int k = 0; k < 3; k++) {
        D->safepoint(rt);
        D->drain(rt);
    }
    cx_check(rt, "odd methods promoted (and a deletion pass where stubs are deleted)");
    cs_calls(t, o, CS_N, 0, 2, 1);                 /* even methods: one more counted call */
    cx_check(rt, "even methods called again (counting resumed where it was stopped)");
    cs_calls(t, o, CS_N, 0, 1, 2);
    for (int k = 0; k < 3; k++) {
        tkt_tick(rt, FX_DELAY);
        D->safepoint(rt);
        D->drain(rt);
    }
    cx_check(rt, "every method promoted");
    if (tkt_tiers(rt)) {
        ck_assert_msg(cx_count(TK_AC_CALLCOUNT_STUB, 0) + cx_count(TK_AC_CALLCOUNT_STUB, 1) >= CS_N,
                      "setup: %zu call-counting stubs for %u counted methods",
                      cx_count(TK_AC_CALLCOUNT_STUB, 0) + cx_count(TK_AC_CALLCOUNT_STUB, 1), CS_N);
        for (uint32_t i = 0; i < CS_N; i += 97)
            ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, fx_vm(t, i))), "CS.v%u at %s after its threshold", i,
                          tkt_tier_name(fx_tier(rt, fx_vm(t, i))));
    }
    if (D->caps & TK_CAP_TYPE_UNLOAD) {
        for (int round = 0; round < 2; round++) {
            cs_defs_init(round ? "CU" : "CT", CS_M);
            tk_drv_type *u = fx_class(rt, round ? "CU" : "CT", NULL, CS_M, cs_defs, 0, NULL);
            tk_drv_object *ou = fx_obj(rt, u);
            cs_calls(u, ou, CS_M, 0, 1, 1);
            tkt_tick(rt, FX_DELAY);
            cs_calls(u, ou, CS_M, 0, 3, 2);
            D->safepoint(rt);
            D->drain(rt);
            cx_check(rt, round ? "a third type loaded into the memory the second gave back" : "a second type loaded");
            cs_calls(u, ou, CS_M, 0, 1, 1);
            D->object_free(rt, ou);
            ck_assert_msg(D->type_unload(rt, u) == 0, "type_unload failed");
            D->safepoint(rt);
            D->drain(rt);
            cx_check(rt, round ? "the third type unloaded" : "the second type unloaded");
        }
        cs_defs_init("CS", CS_N);
    }
    cs_calls(t, o, CS_N, 0, 1, 1);
    live = cx_check(rt, "at the end");
    tkt_note("%zu stubs allocated (%zu live at the end): %zu precode, %zu forwarder, %zu call-counting (%zu freed)",
             cx_n, live, cx_count(TK_AC_PRECODE, 0) + cx_count(TK_AC_PRECODE, 1),
             cx_count(TK_AC_FORWARDER, 0) + cx_count(TK_AC_FORWARDER, 1),
             cx_count(TK_AC_CALLCOUNT_STUB, 0) + cx_count(TK_AC_CALLCOUNT_STUB, 1), cx_count(TK_AC_CALLCOUNT_STUB, 1));
    D->thread_detach(rt);
    tkt_destroy(rt);
}
