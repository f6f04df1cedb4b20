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

static cx_stub cx_stubs[4096];
static size_t cx_n;

static cx_stub *cx_find(void *a)
{
    for (size_t i = 0; i < cx_n; i++)
        if (cx_stubs[i].addr == a) return &cx_stubs[i];
    return NULL;
}

/* Replays the allocation and free events into the table of stubs. */
static void cx_replay(void)
{
    cx_n = 0;
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        if (e.kind != TK_EV_STUB_ALLOC && e.kind != TK_EV_STUB_FREE) continue;
        cx_stub *s = cx_find(e.stub);
        if (e.kind == TK_EV_STUB_ALLOC) {
            ck_assert_msg(!s || s->freed, "event seq %llu: stub %p allocated again while live (allocated at seq %llu)",
                          (unsigned long long)e.seq, e.stub, (unsigned long long)s->seq);
            if (!s) {
                ck_assert_msg(cx_n < 4096, "too many stubs");
                s = &cx_stubs[cx_n++];
            }
            *s = (cx_stub){ e.stub, e.stub_kind, e.method, e.tier, e.il_version, 0, e.seq };
        } else {
            ck_assert_msg(s && !s->freed, "event seq %llu: stub_free of %p, which is not a live stub",
                          (unsigned long long)e.seq, e.stub);
            ck_assert_msg(e.stub_kind == s->kind, "event seq %llu: stub %p allocated as %s is freed as %s",
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
            ck_assert_msg(c.cls == TK_AC_FREED || c.cls == TK_AC_UNKNOWN,
                          "%s: stub %p (%s of %s) was freed at seq %llu but classifies as %s", when, s->addr,
                          tkt_cls_name((int)s->kind), mn, (unsigned long long)s->seq, tkt_cls_name(c.cls));
            continue;
        }
        live++;
        ck_assert_msg((uint32_t)c.cls == s->kind, "%s: stub %p allocated as %s of %s (seq %llu) classifies as %s", when,
                      s->addr, tkt_cls_name((int)s->kind), mn, (unsigned long long)s->seq, tkt_cls_name(c.cls));
        ck_assert_msg(c.method == s->method, "%s: %s %p of %s classifies with method %s", when,
                      tkt_cls_name((int)s->kind), s->addr, mn, c.method ? D->method_name(c.method) : "(none)");
        if (s->kind == TK_AC_CALLCOUNT_STUB)
            ck_assert_msg(c.tier == s->tier && c.il_version == s->il,
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
