/* conformance/tests/test_reclaim.c — deleting call-counting stubs: only
 * after every online mutator passed a safe point, only once unpublished. */
#include "fixture.h"

#include <pthread.h>
#include <semaphore.h>

static const tk_method_def rc_v[] = { TKT_M("RC.V", 71), TKT_M("RC.W", 72) };

typedef struct {
    tk_drv_runtime *rt;
    sem_t attached, pass, passed;
    int stop;
} mutator_t;

/* An attached, online thread that sits "in managed code" (no safe point)
 * until told to pass one. */
static void *mutator(void *p)
{
    mutator_t *mu = p;
    D->thread_attach(mu->rt);
    sem_post(&mu->attached);
    sem_wait(&mu->pass);
    D->safepoint(mu->rt);
    D->thread_offline(mu->rt);
    sem_post(&mu->passed);
    D->thread_online(mu->rt);
    D->thread_detach(mu->rt);
    return NULL;
}

TK_TEST_F(reclaim_wait_safepoint, TKT_THREADED | TKT_SLOW, "inv.reclaim.wait-safepoint")
{
    tkt_require_caps(TK_CAP_STUB_DELETION | TK_CAP_EVENTS);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"), "DeleteCallCountingStubsAfter=1");
    tkt_require_tiering(rt);
    tkt_events_start(rt);
    D->thread_attach(rt);
    tk_drv_type *t = fx_class(rt, "RC", NULL, 2, rc_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **s = fx_vslot(t, 0);
    fx_start_counting(rt, s, o, 71);
    void *stub = fx_first_callcount_stub();
    if (!stub) tkt_unsupported("Strategy=%s allocated no call-counting stub", tkt_strategy(rt));

    mutator_t mu;
    memset(&mu, 0, sizeof mu);
    mu.rt = rt;
    sem_init(&mu.attached, 0, 0); sem_init(&mu.pass, 0, 0); sem_init(&mu.passed, 0, 0);
    pthread_t mt, dt;
    ck_assert_int_eq(pthread_create(&mt, NULL, mutator, &mu), 0);
    sem_wait(&mu.attached);

    for (int i = 0; i < 2; i++) tkt_call_slot(s, o, 71, i);       /* threshold */
    D->safepoint(rt);
    D->thread_offline(rt);                                        /* we wait; the mutator does not */
    fx_drainer dr = { rt, 0 };
    ck_assert_int_eq(pthread_create(&dt, NULL, fx_drainer_main, &dr), 0);
    uint64_t t0 = tkt_now_ms();
    int early = 0;
    while (tkt_now_ms() - t0 < 400) {
        if (fx_callcount_frees()) { early = 1; break; }
        tkt_sleep_ms(5);
    }
    tk_addr_info during = tkt_classify(rt, stub);
    sem_post(&mu.pass);                                           /* now pass a safe point */
    sem_wait(&mu.passed);
    uint64_t t1 = tkt_now_ms();
    while (!__atomic_load_n(&dr.done, __ATOMIC_ACQUIRE) && tkt_now_ms() - t1 < 10000) tkt_sleep_ms(5);
    int finished = __atomic_load_n(&dr.done, __ATOMIC_ACQUIRE);
    if (finished) pthread_join(dt, NULL);
    ck_assert_msg(!early,
                  "a call-counting stub was freed while an attached, online thread had not passed a safe point "
                  "since the stub left the call path");
    ck_assert_msg(during.cls != TK_AC_FREED, "the counting stub %p is classified freed before the safe point", stub);
    ck_assert_msg(finished, "drain() did not finish within 10 s after every thread passed a safe point");
    D->drain(rt);                               /* an implementation may defer the deletion */
    uint64_t t2 = tkt_now_ms();
    while (!fx_callcount_frees() && tkt_now_ms() - t2 < 2000) { D->drain(rt); tkt_sleep_ms(5); }
    ck_assert_msg(fx_callcount_frees() > 0, "no call-counting stub was freed after every thread passed a safe point");
    pthread_join(mt, NULL);
    D->thread_online(rt);
    tkt_call_slot(s, o, 71, 9);
    tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ fx_vm(t, 0), NULL });
    D->thread_detach(rt);
    tkt_destroy(rt);
}

/* inv.reclaim.unpublish-before-free: after deletion every path still works
 * and no freed stub is reachable. */
TK_TEST(reclaim_unpublish_before_free, "inv.reclaim.unpublish-before-free", "inv.reclaim.wait-safepoint",
        "inv.slot.no-deletable-stub")
{
    tkt_require_caps(TK_CAP_STUB_DELETION);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"), "DeleteCallCountingStubsAfter=1");
    tkt_require_tiering(rt);
    int have_ev = (D->caps & TK_CAP_EVENTS) != 0;
    if (have_ev) tkt_events_start(rt);
    tk_drv_type *t = fx_class(rt, "RC", NULL, 2, rc_v, 0, NULL);
    tk_drv_type *d = fx_class(rt, "RCd", t, 0, NULL, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t), *od = fx_obj(rt, d);
    tk_drv_method *v = fx_vm(t, 0), *w = fx_vm(t, 1);
    void **sv = fx_vslot(t, 0), **sw = fx_vslot(t, 1), **dv = fx_vslot(d, 0), **dw = fx_vslot(d, 1);
    tkt_call_slot(sv, o, 71, 0);
    tkt_call_slot(sw, o, 72, 0);
    tkt_call_slot(dv, od, 71, 0);
    tkt_tick(rt, FX_DELAY);
    /* V reaches its threshold (stubs get deleted); W is still counting */
    for (int i = 0; i < 2; i++) tkt_call_slot(sv, o, 71, i);
    tkt_call_slot(sw, o, 72, 1);
    for (int k = 0; k < 3; k++) {
        D->safepoint(rt);
        D->drain(rt);
    }
    /* every path into both methods still works */
    for (int i = 0; i < 4; i++) {
        tkt_call_slot(sv, o, 71, i);
        tkt_call_slot(dv, od, 71, i);
        tkt_call_slot(D->method_slot(v), o, 71, i);
        tkt_call_slot(sw, o, 72, i);
        tkt_call_slot(dw, od, 72, i);
        tkt_call_slot(D->method_slot(w), o, 72, i);
        D->safepoint(rt);
    }
    D->drain(rt);
    ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, v)) && TK_TIER_IS_FINAL(fx_tier(rt, w)),
                  "setup: methods not promoted (%s, %s)", tkt_tier_name(fx_tier(rt, v)), tkt_tier_name(fx_tier(rt, w)));
    if (D->caps & TK_CAP_CLASSIFY) {
        void **all[] = { sv, sw, dv, dw, D->method_slot(v), D->method_slot(w) };
        for (int i = 0; i < 6; i++) fx_check_slot_value(rt, all[i], "a slot after stub deletion");
    }
    if (have_ev) {
        ck_assert_msg(fx_callcount_frees() > 0, "setup: no counting stub was freed with DeleteCallCountingStubsAfter=1");
        tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ v, w, NULL });
    }
    tkt_destroy(rt);
}

/* Events of `kind` for method m recorded so far. */
static size_t rc_events(tk_event_kind kind, tk_drv_method *m)
{
    size_t n = 0;
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        n += e.kind == kind && (!m || e.method == m);
    }
    return n;
}

/* inv.reclaim.delete-all: a deletion pass (DeleteCallCountingStubsAfter=1,
 * the default deletion mode) stops ALL call counting, including a method
 * that is still counting, and frees every counting stub, as CoreCLR's
 * StopAndDeleteAllCallCountingStubs does; the stopped method keeps its
 * remaining count: its next call (through the prestub) is counted and
 * reinstalls counting, and its threshold comes after exactly
 * CallCountThreshold counted calls in all. */
TK_TEST(reclaim_delete_all, "inv.reclaim.delete-all", "inv.reclaim.unpublish-before-free",
        "inv.reclaim.wait-safepoint", "inv.slot.no-deletable-stub")
{
    tkt_require_caps(TK_CAP_STUB_DELETION | TK_CAP_EVENTS);
    tk_drv_runtime *rt = tkt_create(FX_DET("4"), "DeleteCallCountingStubsAfter=1");
    tkt_require_tiering(rt);
    tkt_events_start(rt);
    D->thread_attach(rt);
    tk_drv_type *t = fx_class(rt, "RC", NULL, 2, rc_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    tk_drv_method *v = fx_vm(t, 0), *w = fx_vm(t, 1);
    void **sv = fx_vslot(t, 0), **sw = fx_vslot(t, 1);
    tkt_call_slot(sv, o, 71, 0);
    tkt_call_slot(sw, o, 72, 0);
    tkt_tick(rt, FX_DELAY);                                      /* both count now */
    ck_assert_msg(tkt_state(rt, v).counting && tkt_state(rt, w).counting,
                  "setup: V and W are not counting after the tiering delay");
    tkt_call_slot(sw, o, 72, 1);                                 /* W: 1 of 4 counted */
    for (int i = 0; i < 4; i++) tkt_call_slot(sv, o, 71, i);     /* V: threshold */
    for (int k = 0; k < 3; k++) {                                /* completion, promotion, deletion */
        D->safepoint(rt);
        D->drain(rt);
    }
    ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, v)), "setup: V not promoted (%s)", tkt_tier_name(fx_tier(rt, v)));
    size_t frees = fx_callcount_frees(), cc_allocs = 0;
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        cc_allocs += e.kind == TK_EV_STUB_ALLOC && e.stub_kind == TK_AC_CALLCOUNT_STUB;
    }
    ck_assert_msg(cc_allocs >= 2, "setup: %zu counting stubs allocated, expected one for V and one for W", cc_allocs);
    ck_assert_msg(frees == cc_allocs,
                  "inv.reclaim.delete-all: the deletion pass freed %zu of %zu counting stubs (W's, still counting, "
                  "must be freed too)", frees, cc_allocs);
    ck_assert_msg(!tkt_state(rt, w).counting, "inv.reclaim.delete-all: W is still counting after the deletion pass");
    if (D->caps & TK_CAP_CLASSIFY) {
        fx_check_slot_value(rt, sw, "W's slot after the deletion pass");
        fx_check_slot_value(rt, D->method_slot(w), "W's owning slot after the deletion pass");
    }
    /* W resumes: 3 more counted calls reach its threshold of 4 (the first of
     * them through the prestub, which reinstalls counting). */
    size_t thr0 = rc_events(TK_EV_THRESHOLD, w);
    tkt_call_slot(sw, o, 72, 2);
    ck_assert_msg(tkt_state(rt, w).counting, "inv.reclaim.delete-all: W's next call did not resume counting");
    tkt_call_slot(sw, o, 72, 3);
    ck_assert_msg(rc_events(TK_EV_THRESHOLD, w) == thr0,
                  "inv.reclaim.delete-all: W reached its threshold after 3 counted calls of 4 (the remaining count "
                  "was not kept across the deletion pass)");
    tkt_call_slot(sw, o, 72, 4);
    ck_assert_msg(rc_events(TK_EV_THRESHOLD, w) == thr0 + 1,
                  "inv.reclaim.delete-all: W did not reach its threshold at its 4th counted call (1 before the "
                  "deletion pass, 3 after; the call that resumed counting is counted)");
    for (int k = 0; k < 3; k++) {
        D->safepoint(rt);
        D->drain(rt);
    }
    ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, w)), "W not promoted after its threshold (%s)",
                  tkt_tier_name(fx_tier(rt, w)));
    tkt_call_slot(sw, o, 72, 5);
    tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ v, w, NULL });
    D->thread_detach(rt);
    tkt_destroy(rt);
}
