/* conformance/tests/test_threaded.c — the threaded conformance mode: N
 * mutator threads call through slots while the background worker counts,
 * promotes and deletes stubs, the tiering delay re-arms with the first calls
 * of freshly loaded types, and types load and unload.  The live event stream
 * goes through the trace checker (every trace rule of SPEC.md), every call
 * must run the right body, and every method that reached its threshold must
 * end at a final tier once the background work is done. */
#include "fixture.h"
#include "tkv.h"

#include <pthread.h>

#define TH_MUTATORS 3
#define TH_DERIVED 6              /* derived-type places that load and unload */
#define TH_BASE_V 4
#define TH_RUN_MS 1500

static const tk_method_def th_base_v[TH_BASE_V] = { TKT_M("TB.V0", 200), TKT_M("TB.V1", 201), TKT_M("TB.V2", 202),
                                                    TKT_M("TB.V3", 203) };
static const tk_method_def th_base_m[] = { TKT_M("TB.N", 204) };

typedef struct {
    pthread_rwlock_t lk;          /* mutators read, the loader writes */
    tk_drv_type *t;               /* NULL while unloaded */
    tk_drv_object *o;
    tk_drv_method *own[2];        /* the override and the new virtual */
    int k, gen;
} th_place;

static struct {
    tk_drv_runtime *rt;
    tk_drv_type *base, *iface;
    tk_drv_object *bo;
    th_place place[TH_DERIVED];
    int stop;
    /* first failure seen by a thread other than the test's */
    pthread_mutex_t mu;
    char fail[600];
    /* live trace check */
    tkv_names *names;
    tkv_checker *chk;
    uint64_t last_seq;
    size_t viol;
    char first_viol[700];
    uint64_t n_threshold, n_promote, n_delay_begin, n_cc_free, n_unload, n_safepoint_sync;
    tk_drv_method *thr_methods[4096];
    size_t n_thr_methods;
    uint64_t calls[TH_MUTATORS];
} G;

static void th_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void th_failf(const char *fmt, ...)
{
    pthread_mutex_lock(&G.mu);
    if (!G.fail[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(G.fail, sizeof G.fail, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&G.mu);
    __atomic_store_n(&G.stop, 1, __ATOMIC_RELEASE);
}

static void th_on_viol(void *user, const char *anchor, const tkv_event *ev, const char *method, const char *msg)
{
    (void)user;
    if (!G.viol++)
        snprintf(G.first_viol, sizeof G.first_viol, "%s violated at event seq %llu (%s, method %s): %s", anchor,
                 (unsigned long long)ev->seq, tkv_ev_name(ev->ev), method, msg);
}

/* The live stream: in delivery order, seq strictly increasing, every event
 * through the checker as it arrives. */
static void th_sink(void *user, const tk_event *e)
{
    (void)user;
    pthread_mutex_lock(&G.mu);
    if (e->seq <= G.last_seq && !G.viol++)
        snprintf(G.first_viol, sizeof G.first_viol,
                 "inv.observability.trace-wellformed violated: event seq %llu delivered after seq %llu",
                 (unsigned long long)e->seq, (unsigned long long)G.last_seq);
    G.last_seq = e->seq;
    switch (e->kind) {
    case TK_EV_THRESHOLD:
        G.n_threshold++;
        if (!TK_TIER_IS_FINAL(e->tier) && G.n_thr_methods < 4096) G.thr_methods[G.n_thr_methods++] = e->method;
        break;
    case TK_EV_PROMOTE: G.n_promote++; break;
    case TK_EV_DELAY_BEGIN: G.n_delay_begin++; break;
    case TK_EV_TYPE_UNLOAD: G.n_unload++; break;
    case TK_EV_SAFEPOINT_SYNC: G.n_safepoint_sync++; break;
    case TK_EV_STUB_FREE: G.n_cc_free += e->stub_kind == TK_AC_CALLCOUNT_STUB; break;
    default: break;
    }
    tkv_event t;
    if (tkt_to_tkv_event(G.names, e, &t)) tkv_feed(G.chk, &t);
    pthread_mutex_unlock(&G.mu);
}

static uint64_t th_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* One call through a slot, checked; a slot value may be loaded early and
 * called after a safe point (the arm64 hazard). */
static void th_call(void **slot, void *self, int id, int64_t arg, const char *what)
{
    void *e = tkt_load(slot);
    if (!e) { th_failf("%s: slot holds NULL", what); return; }
    int64_t r = ((tk_entry_fn)e)(self, arg, 0, 0, 0);
    if (r != tkt_expect(id, arg))
        th_failf("%s: call through %p with arg %lld returned %lld: not the body of method id %d", what, e,
                 (long long)arg, (long long)r, id);
}

static int th_derived_id(const th_place *p, uint32_t slot)
{
    if (slot == (uint32_t)(p->k % TH_BASE_V)) return 210 + p->k;
    return slot < TH_BASE_V ? 200 + (int)slot : 220 + p->k;
}

static void *th_mutator(void *arg)
{
    int me = (int)(intptr_t)arg;
    uint64_t s = 0x5eed0000u + (uint64_t)me;
    D->thread_attach(G.rt);
    uint64_t n = 0;
    while (!__atomic_load_n(&G.stop, __ATOMIC_ACQUIRE)) {
        uint64_t r = th_rand(&s);
        int64_t a = (int64_t)(r >> 40);
        if (r % 3 == 0) {
            uint32_t sl = (uint32_t)((r >> 8) % (TH_BASE_V + 2));
            if (sl < TH_BASE_V) th_call(D->vtable_slot(G.base, sl), G.bo, 200 + (int)sl, a, "base vtable slot");
            else if (sl == TH_BASE_V) th_call(D->method_slot(D->nonvirtual_method(G.base, 0)), G.bo, 204, a, "TB.N");
            else if (G.iface) th_call(D->interface_slot(G.base, G.iface, 0), G.bo, 203, a, "interface slot");
        } else {
            th_place *p = &G.place[(r >> 8) % TH_DERIVED];
            if (pthread_rwlock_tryrdlock(&p->lk)) continue;
            if (p->t) {
                uint32_t sl = (uint32_t)((r >> 16) % (TH_BASE_V + 1));
                void **slot = D->vtable_slot(p->t, sl);
                if (r & (1u << 30)) {
                    /* load now, pass a safe point, call later */
                    void *e = tkt_load(slot);
                    D->safepoint(G.rt);
                    int64_t res = ((tk_entry_fn)e)(p->o, a, 0, 0, 0);
                    if (res != tkt_expect(th_derived_id(p, sl), a))
                        th_failf("derived slot %u: a value loaded before a safe point called the wrong body", sl);
                } else {
                    th_call(slot, p->o, th_derived_id(p, sl), a, "derived vtable slot");
                }
            }
            pthread_rwlock_unlock(&p->lk);
        }
        if (++n % 64 == 0) D->safepoint(G.rt);
        if (n % 4096 == 0) {                /* sometimes block, offline */
            D->thread_offline(G.rt);
            tkt_sleep_ms(1);
            D->thread_online(G.rt);
        }
    }
    G.calls[me] = n;
    D->thread_detach(G.rt);
    return NULL;
}

static char th_names[TH_DERIVED][2][32];
static char th_tnames[TH_DERIVED][32];

/* Loads a fresh derived type at place p: it overrides one base slot and adds
 * one virtual, so its first calls open or restart a tiering delay. */
static void th_load(th_place *p)
{
    p->gen++;
    snprintf(th_tnames[p->k], 32, "TD%d.%d", p->k, p->gen);
    snprintf(th_names[p->k][0], 32, "TD%d.%d.O", p->k, p->gen);
    snprintf(th_names[p->k][1], 32, "TD%d.%d.V", p->k, p->gen);
    tk_override_def ov = { (uint32_t)(p->k % TH_BASE_V), TKT_M(th_names[p->k][0], 210 + p->k) };
    tk_method_def nv = TKT_M(th_names[p->k][1], 220 + p->k);
    tk_drv_type *t = fx_class(G.rt, th_tnames[p->k], G.base, 1, &nv, 1, &ov);
    p->o = fx_obj(G.rt, t);
    p->own[0] = fx_vm(t, (uint32_t)(p->k % TH_BASE_V));
    p->own[1] = fx_vm(t, TH_BASE_V);
    p->t = t;
}

static void th_unload(th_place *p)
{
    D->object_free(G.rt, p->o);
    ck_assert_msg(D->type_unload(G.rt, p->t) == 0, "type_unload(%s) failed", th_tnames[p->k]);
    p->t = NULL;
    p->o = NULL;
}

static int th_loaded_method(tk_drv_method *m)
{
    for (uint32_t s = 0; s < TH_BASE_V; s++)
        if (D->virtual_method(G.base, s) == m) return 1;
    if (D->nonvirtual_method(G.base, 0) == m) return 1;
    for (int k = 0; k < TH_DERIVED; k++)
        if (G.place[k].t && (G.place[k].own[0] == m || G.place[k].own[1] == m)) return 1;
    return 0;
}

TK_TEST_F(threaded_live_trace, TKT_THREADED | TKT_SLOW, "inv.semantics.tier-independent",
          "inv.tiering.promotion-after-threshold", "inv.slot.no-deletable-stub", "inv.reclaim.wait-safepoint",
          "inv.reclaim.unpublish-before-free", "inv.counting.threshold-once", "inv.tiering.monotonic",
          "inv.types.unload-removes-slots", "inv.observability.trace-wellformed")
{
    tkt_require_caps(TK_CAP_THREADED | TK_CAP_EVENTS);
    int del = (D->caps & TK_CAP_STUB_DELETION) != 0, unl = (D->caps & TK_CAP_TYPE_UNLOAD) != 0;
    memset(&G, 0, sizeof G);
    pthread_mutex_init(&G.mu, NULL);
    G.rt = tkt_create("Mode=threaded", "TieredPGO=0", "CallCountingDelayMs=20", "CallCountThreshold=16",
                      del ? "DeleteCallCountingStubsAfter=4" : "DeleteCallCountingStubsAfter=0");
    tkt_require_tiering(G.rt);
    G.names = tkv_names_new();
    G.chk = tkv_new(tkt_strategy(G.rt), G.names, th_on_viol, NULL);
    D->set_event_sink(G.rt, th_sink, NULL);
    static const tk_method_def iface_m[] = { { "ITB.M", NULL, NULL, 0 } };
    G.iface = fx_iface_if_supported(G.rt, "ITB", 1, iface_m);
    tk_iface_impl_def impl = { G.iface, 0, 3 };
    tk_type_def bdef = { "TB", NULL, 0, TH_BASE_V, th_base_v, 0, NULL, 1, th_base_m, G.iface ? 1 : 0, &impl };
    G.base = fx_define(G.rt, &bdef, 1);
    G.bo = fx_obj(G.rt, G.base);
    for (int k = 0; k < TH_DERIVED; k++) {
        pthread_rwlock_init(&G.place[k].lk, NULL);
        G.place[k].k = k;
        if (k % 2 == 0) th_load(&G.place[k]);
    }
    pthread_t th[TH_MUTATORS];
    for (int i = 0; i < TH_MUTATORS; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, th_mutator, (void *)(intptr_t)i), 0);
    /* This thread loads and unloads types; it calls through no slot. */
    uint64_t s = 42, t0 = tkt_now_ms();
    int cycles = 0;
    while (tkt_now_ms() - t0 < TH_RUN_MS && !__atomic_load_n(&G.stop, __ATOMIC_ACQUIRE)) {
        tkt_sleep_ms(15 + (unsigned)(th_rand(&s) % 20));
        th_place *p = &G.place[th_rand(&s) % TH_DERIVED];
        pthread_rwlock_wrlock(&p->lk);
        if (!p->t) th_load(p);
        else if (unl) th_unload(p);
        pthread_rwlock_unlock(&p->lk);
        cycles++;
    }
    __atomic_store_n(&G.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < TH_MUTATORS; i++) pthread_join(th[i], NULL);
    ck_assert_msg(!G.fail[0], "a mutator thread: %s", G.fail);
    D->drain(G.rt);                         /* the worker is idle, the delay over */

    pthread_mutex_lock(&G.mu);
    tkv_finish(G.chk);
    size_t nthr = G.n_thr_methods;
    pthread_mutex_unlock(&G.mu);
    uint64_t calls = 0;
    for (int i = 0; i < TH_MUTATORS; i++) calls += G.calls[i];
    tkt_note("%llu calls by %d mutators, %d load/unload cycles, %llu thresholds, %llu promotions, %llu delay "
             "windows, %llu type unloads, %llu counting stubs freed after %llu safe-point syncs",
             (unsigned long long)calls, TH_MUTATORS, cycles, (unsigned long long)G.n_threshold,
             (unsigned long long)G.n_promote, (unsigned long long)G.n_delay_begin, (unsigned long long)G.n_unload,
             (unsigned long long)G.n_cc_free, (unsigned long long)G.n_safepoint_sync);
    ck_assert_msg(G.viol == 0, "live trace check: %s (%zu violations)", G.first_viol, G.viol);
    /* The run must have exercised what it is about. */
    ck_assert_msg(G.n_threshold > 0 && G.n_promote > 0, "setup: no method reached its threshold");
    ck_assert_msg(G.n_delay_begin >= 2, "setup: the tiering delay never re-armed");
    if (unl) ck_assert_msg(G.n_unload > 0, "setup: no type was unloaded");
    int unloaded = 0;
    for (size_t i = 0; i < nthr; i++) {
        tk_drv_method *m = G.thr_methods[i];
        if (!th_loaded_method(m)) { unloaded++; continue; }
        tk_method_state st = tkt_state(G.rt, m);
        ck_assert_msg(TK_TIER_IS_FINAL(st.tier),
                      "method %s reached its threshold but, with every mutator stopped and the background work "
                      "done, is at %s",
                      D->method_name(m), tkt_tier_name(st.tier));
    }
    D->set_event_sink(G.rt, NULL, NULL);
    tkt_destroy(G.rt);
    tkv_free(G.chk);
    tkv_names_free(G.names);
}
