/* conformance/tests/test_slots.c — what slots may hold: never a deletable
 * stub, inherited slots at the temporary entry point, new slots discovered,
 * final code direct; the arm64 hazard. */
#include "fixture.h"

#include <pthread.h>
#include <semaphore.h>

/* Base { V0, V1 }, D1 : Base overrides V1, D2 : D1 inherits both. */
static const tk_method_def base_v[] = { TKT_M("Base.V0", 41), TKT_M("Base.V1", 42) };
static const tk_override_def d1_o[] = { { 1, TKT_M("D1.V1", 43) } };

static void check_all(tk_drv_runtime *rt, void **const *slots, int n, const char *phase)
{
    char what[128];
    for (int i = 0; i < n; i++) {
        snprintf(what, sizeof what, "slot %d (%s)", i, phase);
        fx_check_slot_value(rt, slots[i], what);
    }
}

/* inv.slot.no-deletable-stub: sampled in every phase, with and without stub
 * deletion, and every SLOT_WRITE event. */
TK_TEST(slot_no_deletable_stub, "inv.slot.no-deletable-stub", "inv.observability.trace-classified")
{
    tkt_require_caps(TK_CAP_CLASSIFY);
    for (int del = 0; del < 2; del++) {
        tk_drv_runtime *rt = tkt_create(FX_DET("3"), del ? "DeleteCallCountingStubsAfter=1"
                                                          : "DeleteCallCountingStubsAfter=0");
        int have_ev = (D->caps & TK_CAP_EVENTS) != 0;
        if (have_ev) tkt_events_start(rt);
        tk_drv_type *b = fx_class(rt, "Base", NULL, 2, base_v, 0, NULL);
        tk_drv_type *d1 = fx_class(rt, "D1", b, 0, NULL, 1, d1_o);
        tk_drv_type *d2 = fx_class(rt, "D2", d1, 0, NULL, 0, NULL);
        tk_drv_object *ob = fx_obj(rt, b), *o1 = fx_obj(rt, d1), *o2 = fx_obj(rt, d2);
        void **slots[] = { fx_vslot(b, 0), fx_vslot(b, 1), fx_vslot(d1, 0), fx_vslot(d1, 1), fx_vslot(d2, 0),
                           fx_vslot(d2, 1), D->method_slot(fx_vm(b, 0)), D->method_slot(fx_vm(d1, 1)) };
        int ns = 8;
        check_all(rt, slots, ns, "after load");
        for (int phase = 0; phase < 6; phase++) {
            for (int i = 0; i < 2; i++) {
                tkt_call_slot(slots[0], ob, 41, i);
                tkt_call_slot(slots[1], ob, 42, i);
                tkt_call_slot(slots[2], o1, 41, i);
                tkt_call_slot(slots[3], o1, 43, i);
                tkt_call_slot(slots[4], o2, 41, i);
                tkt_call_slot(slots[5], o2, 43, i);
                check_all(rt, slots, ns, "between calls");
            }
            tkt_tick(rt, phase == 0 ? FX_DELAY : 0);
            check_all(rt, slots, ns, "after background work");
        }
        ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, fx_vm(b, 0))), "setup: Base.V0 never reached its final tier");
        if (have_ev) tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ fx_vm(b, 0), fx_vm(b, 1), fx_vm(d1, 1), NULL });
        tkt_destroy(rt);
    }
}

/* inv.slot.inherit-temporary-entry: a type loaded at any phase of its
 * parent's method starts every inherited slot at the method's temporary
 * entry point. */
TK_TEST(slot_inherit_temporary_entry, "inv.slot.inherit-temporary-entry")
{
    tkt_require_caps(TK_CAP_CLASSIFY);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"));
    int have_ev = (D->caps & TK_CAP_EVENTS) != 0;
    if (have_ev) tkt_events_start(rt);
    tk_drv_type *b = fx_class(rt, "Base", NULL, 2, base_v, 0, NULL);
    tk_drv_object *ob = fx_obj(rt, b);
    void **s0 = fx_vslot(b, 0);
    tk_drv_method *m = fx_vm(b, 0);
    static const char *const names[] = { "Dr.0", "Dr.1", "Dr.2", "Dr.3", "Dr.4" };
    static const char *const phase[] = { "before any call", "after the first call (tier0)", "while counting",
                                         "after promotion", "after calls at the final tier" };
    for (int p = 0; p < 5; p++) {
        if (p == 1) tkt_call_slot(s0, ob, 41, 0);
        if (p == 2) tkt_tick(rt, FX_DELAY);
        if (p == 3) fx_calls(rt, s0, ob, 41, 2);
        if (p == 4) fx_calls(rt, s0, ob, 41, 3);
        tk_drv_type *d = fx_class(rt, names[p], b, 0, NULL, 0, NULL);
        void *v = tkt_load(fx_vslot(d, 0));
        tk_addr_info i = tkt_classify(rt, v);
        char buf[200];
        ck_assert_msg(i.cls == TK_AC_PRESTUB || (i.cls == TK_AC_PRECODE && i.method == m),
                      "inherited slot of a type loaded %s holds %s; it must start at Base.V0's temporary entry point "
                      "(parent's slot holds %s)", phase[p], tkt_describe(rt, v, buf, sizeof buf),
                      tkt_describe(rt, tkt_load(s0), buf + 100, 100));
        /* and it works */
        tk_drv_object *od = fx_obj(rt, d);
        tkt_call_slot(fx_vslot(d, 0), od, 41, 5);
    }
    if (have_ev) tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ m, NULL });
    tkt_destroy(rt);
}

/* inv.slot.new-slot-discovered / inv.slot.final-direct: PR #124664's review
 * defect.  A type loaded while the method is counting: calls through its
 * inherited slot reach current code, and end up at the final code. */
TK_TEST(slot_new_slot_discovered, "inv.slot.new-slot-discovered", "inv.slot.final-direct")
{
    for (int when = 0; when < 3; when++) {
        tk_drv_runtime *rt = tkt_create(FX_DET("3"));
        tk_drv_type *b = fx_class(rt, "Base", NULL, 2, base_v, 0, NULL);
        tk_drv_type *d1 = fx_class(rt, "D1", b, 0, NULL, 1, d1_o);
        tk_drv_object *ob = fx_obj(rt, b), *o1 = fx_obj(rt, d1);
        void **s0 = fx_vslot(b, 0), **s10 = fx_vslot(d1, 0);
        tk_drv_method *m = fx_vm(b, 0);
        tkt_call_slot(s0, ob, 41, 0);
        tkt_call_slot(s10, o1, 41, 0);   /* an older slot, discovered before counting */
        if (when >= 1) tkt_tick(rt, FX_DELAY);
        if (when >= 2) { tkt_call_slot(s0, ob, 41, 1); }
        /* the new type: loaded during tier0 / counting / mid-count */
        tk_drv_type *d2 = fx_class(rt, "D2", b, 0, NULL, 0, NULL);
        tk_drv_object *o2 = fx_obj(rt, d2);
        void **s20 = fx_vslot(d2, 0);
        tkt_call c = tkt_call_logged(s20, o2, 41, 1);
        ck_assert_msg(c.tier == fx_tier(rt, m) || c.tier == TK_TIER_0,
                      "new slot ran %s while the method is at %s", tkt_tier_name(c.tier), tkt_tier_name(fx_tier(rt, m)));
        if (when == 0) tkt_tick(rt, FX_DELAY);
        for (int i = 0; i < 6; i++) tkt_call_slot(s0, ob, 41, i);
        D->drain(rt);
        int final = fx_tier(rt, m);
        ck_assert_msg(TK_TIER_IS_FINAL(final), "setup: Base.V0 not promoted (%s)", tkt_tier_name(final));
        for (int i = 0; i < 4; i++) {
            c = tkt_call_logged(s20, o2, 41, 10 + i);
            ck_assert_msg(c.tier == final,
                          "call %d through a slot created %s ran %s after the method reached its final tier: the slot was "
                          "never discovered and is left on stale code", i + 1,
                          when == 0 ? "at tier0" : when == 1 ? "when counting began" : "during counting",
                          tkt_tier_name(c.tier));
            c = tkt_call_logged(s10, o1, 41, 10 + i);
            ck_assert_msg(c.tier == final, "call through an older recorded slot ran %s", tkt_tier_name(c.tier));
        }
        D->drain(rt);
        if ((D->caps & TK_CAP_CLASSIFY) && tkt_backpatches_slots(rt)) {
            void **check[] = { s20, s10, s0 };
            for (int k = 0; k < 3; k++) {
                void *v = tkt_load(check[k]);
                tk_addr_info i = tkt_classify(rt, v);
                char buf[200];
                ck_assert_msg(i.cls == TK_AC_NATIVE_CODE && i.method == m && i.tier == final,
                              "Strategy=%s: %s slot holds %s after the method reached tier1 and was called through "
                              "it; expected Base.V0's final code (inv.slot.final-direct)", tkt_strategy(rt),
                              k == 0 ? "the new" : k == 1 ? "an older" : "the owning",
                              tkt_describe(rt, v, buf, sizeof buf));
            }
        }
        tkt_destroy(rt);
    }
}

/* ---- the arm64 hazard ------------------------------------------------------ */
typedef struct {
    tk_drv_runtime *rt;
    void **slot;
    tk_drv_object *obj;
    sem_t loaded, go, done;
    void *value;
    int64_t result;
    int tier;
} hazard_t;

static void *hazard_thread(void *p)
{
    hazard_t *h = p;
    D->thread_attach(h->rt);
    h->value = tkt_load(h->slot);          /* JIT code loads the slot ...        */
    D->thread_offline(h->rt);              /* ... and parks across a safe point  */
    sem_post(&h->loaded);
    sem_wait(&h->go);
    D->thread_online(h->rt);
    size_t before = tkt_log_count();
    h->result = ((tk_entry_fn)h->value)(h->obj, 5, 0, 0, 0);   /* ... then calls it */
    h->tier = tkt_log_count() > before ? tkt_log_last().tier : -99;
    D->safepoint(h->rt);
    D->thread_detach(h->rt);
    sem_post(&h->done);
    return NULL;
}

TK_TEST_F(slot_arm64_hazard, TKT_THREADED, "inv.slot.no-deletable-stub", "inv.reclaim.unpublish-before-free")
{
    tkt_require_caps(TK_CAP_STUB_DELETION);
    tk_drv_runtime *rt = tkt_create(FX_DET("3"), "DeleteCallCountingStubsAfter=1");
    tkt_require_tiering(rt);
    int have_ev = (D->caps & TK_CAP_EVENTS) != 0;
    if (have_ev) tkt_events_start(rt);
    D->thread_attach(rt);
    tk_drv_type *b = fx_class(rt, "Base", NULL, 2, base_v, 0, NULL);
    tk_drv_type *d1 = fx_class(rt, "D1", b, 0, NULL, 1, d1_o);
    tk_drv_object *o1 = fx_obj(rt, d1);
    void **slot = fx_vslot(d1, 0);
    tk_drv_method *m = fx_vm(b, 0);
    fx_start_counting(rt, slot, o1, 41);
    tkt_call_slot(slot, o1, 41, 1);
    ck_assert_msg(tkt_state(rt, m).counting, "setup: Base.V0 is not counting after the delay");

    hazard_t h;
    memset(&h, 0, sizeof h);
    h.rt = rt; h.slot = slot; h.obj = o1;
    sem_init(&h.loaded, 0, 0); sem_init(&h.go, 0, 0); sem_init(&h.done, 0, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hazard_thread, &h), 0);
    sem_wait(&h.loaded);
    /* B completes counting; stubs are deleted at a safe point */
    for (int i = 0; i < 6; i++) tkt_call_slot(slot, o1, 41, 10 + i);
    D->safepoint(rt);
    D->drain(rt);
    D->safepoint(rt);
    D->drain(rt);
    ck_assert_msg(fx_tier(rt, m) == TK_TIER_1, "setup: not promoted (%s)", tkt_tier_name(fx_tier(rt, m)));
    size_t freed = 0;
    if (have_ev)
        for (size_t i = 0; i < tkt_events_count(); i++) {
            tk_event e = tkt_event_at(i);
            if (e.kind == TK_EV_STUB_FREE && e.stub_kind == TK_AC_CALLCOUNT_STUB) freed++;
        }
    sem_post(&h.go);
    sem_wait(&h.done);
    pthread_join(th, NULL);
    ck_assert_msg(h.result == tkt_expect(41, 5),
                  "the address loaded from the slot while counting (%p) no longer reaches Base.V0 after stub "
                  "deletion (returned %lld)", h.value, (long long)h.result);
    ck_assert_msg(h.tier != -99, "no body ran");
    if (D->caps & TK_CAP_CLASSIFY) {
        char buf[200];
        tk_addr_info i = tkt_classify(rt, h.value);
        ck_assert_msg(i.cls != TK_AC_FREED && i.cls != TK_AC_CALLCOUNT_STUB,
                      "the slot held %s while counting", tkt_describe(rt, h.value, buf, sizeof buf));
    }
    if (have_ev) {
        ck_assert_msg(freed > 0, "setup: no call-counting stub was freed (DeleteCallCountingStubsAfter=1)");
        tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ m, NULL });
    }
    D->thread_detach(rt);
    tkt_destroy(rt);
}
