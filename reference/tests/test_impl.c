/* reference/tests/test_impl.c — the reference's implementation rules
 * (SPEC.md "Implementation rules": impl.lock-order,
 * impl.publish-before-record, impl.info-outlives-stub) and the fixes that
 * came with them: lock ranks, offline state across internal waits, config
 * rejection messages, concurrent load/unload of a hierarchy.  These tests
 * look inside the runtime (rt_internal.h); they link libtierkit statically. */
#include "reftest.h"
#include "../rt_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

static int64_t ibody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + a0;
}

typedef struct ifx { tk_runtime *rt; tk_type *base; tk_object *obj; } ifx;

static void ifx_init(ifx *f, const char *strategy, const char *const *extra)
{
    char err[256];
    f->rt = rt_new(strategy, extra);
    tk_method_def v[2] = { { "Base.V0", ibody, (void *)1, 0 }, { "Base.V1", ibody, (void *)2, 0 } };
    tk_method_def n[1] = { { "Base.N", ibody, (void *)3, 0 } };
    tk_type_def d = { "Base", NULL, 0, 2, v, 0, NULL, 1, n, 0, NULL };
    f->base = tk_type_define(f->rt, &d, err, sizeof err);
    ck_assert_msg(f->base != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(f->rt, f->base), 0);
    f->obj = tk_object_new(f->rt, f->base);
}

static void ifx_done(ifx *f)
{
    tk_object_free(f->rt, f->obj);
    tk_runtime_destroy(f->rt);
}

static tk_type *ichild(tk_runtime *rt, tk_type *parent, const char *name)
{
    char err[256];
    tk_type_def d = { name, parent, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL };
    tk_type *t = tk_type_define(rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    return t;
}

/* Follows a slot value through precodes (TEP, forwarder) to where a call
 * would run; returns its classification. */
static tk_addr_class resolve(tk_runtime *rt, void *v, tk_addr_info *ai)
{
    for (int hop = 0; hop < 4; hop++) {
        tkr_classify(rt, v, ai);
        if (ai->cls != TK_AC_PRECODE && ai->cls != TK_AC_FORWARDER) return ai->cls;
        v = tk_stub_target(v);
    }
    return ai->cls;
}

/* ---- impl.lock-order -------------------------------------------------------- */

/* Every store of a slot by a pass, discovery or reset happens with the
 * backpatch lock held by the storing thread; every event is emitted with
 * locks held in rank order (the checker counts otherwise). */
static long g_unlocked_slot_writes;
static void lock_sink(void *user, const tk_event *ev)
{
    (void)user;
    if (ev->kind == TK_EV_SLOT_WRITE && ev->reason && strcmp(ev->reason, "init") &&
        !(tkr_locks_held() & (1u << TKR_LK_BP)))
        g_unlocked_slot_writes++;
}

START_TEST(impl_lock_order_checker_detects_inversion)
{
    /* The checker is real: an inverted acquisition is counted.  Two private
     * mutexes stand in for the tiering and code-version locks (the checker
     * goes by rank), so no real lock is ever taken the wrong way round. */
    pthread_mutex_t tier = PTHREAD_MUTEX_INITIALIZER, cv = PTHREAD_MUTEX_INITIALIZER;
    uint64_t v0 = atomic_load(&tkr_lock_order_violations);
    fprintf(stderr, "(the next lock-order message is expected)\n");
    tkr_lock(&tier, TKR_LK_TIER);
    tkr_lock(&cv, TKR_LK_CV);                   /* tiering -> code-version: wrong way round */
    ck_assert_uint_eq(tkr_locks_held(), (1u << TKR_LK_TIER) | (1u << TKR_LK_CV));
    tkr_unlock(&cv, TKR_LK_CV);
    tkr_unlock(&tier, TKR_LK_TIER);
    ck_assert_uint_eq(atomic_load(&tkr_lock_order_violations), v0 + 1);
    ck_assert_uint_eq(tkr_locks_held(), 0);
    /* The documented order is silent; so is re-taking a lock after release. */
    tkr_lock(&cv, TKR_LK_CV);
    tkr_unlock(&cv, TKR_LK_CV);
    tkr_lock(&tier, TKR_LK_TIER);
    tkr_unlock(&tier, TKR_LK_TIER);
    ck_assert_uint_eq(atomic_load(&tkr_lock_order_violations), v0 + 1);
    /* Backpatch lock (rank 0) under the code-version lock is a violation too. */
    ifx f;
    ifx_init(&f, "lazy", NULL);
    uint64_t t0;
    tkr_lock(&cv, TKR_LK_CV);
    if (pthread_mutex_trylock(&f.rt->bp_lock) == 0) {   /* only if free: never blocks */
        pthread_mutex_unlock(&f.rt->bp_lock);
        tkr_bp_lock(f.rt, TK_PHASE_NONFINAL, &t0);
        tkr_bp_unlock(f.rt, TK_PHASE_NONFINAL, t0);
    }
    tkr_unlock(&cv, TKR_LK_CV);
    ck_assert_uint_eq(atomic_load(&tkr_lock_order_violations), v0 + 2);
    pthread_mutex_destroy(&tier);
    pthread_mutex_destroy(&cv);
    ifx_done(&f);
}
END_TEST

START_TEST(impl_lock_order_all_paths)
{
    /* Every runtime path (prestub, delay expiry, counting, completion,
     * promotion, deletion, type load/unload, versioning, counters) under
     * every strategy takes its locks in rank order.  Before the fix,
     * tk_counters took the object lists before the code-version lock while
     * type unload takes them the other way round (a deadlock). */
    int s = _i;
    uint64_t v0 = atomic_load(&tkr_lock_order_violations);
    const char *ex[] = { "DeleteCallCountingStubsAfter", "1", "CallCountThreshold", "5", NULL };
    ifx f;
    ifx_init(&f, tk_strategy_names[s], ex);
    g_unlocked_slot_writes = 0;
    tk_set_event_sink(f.rt, lock_sink, NULL);
    tk_type *d = ichild(f.rt, f.base, "D");
    ck_assert_int_eq(tk_type_load(f.rt, d), 0);
    tk_object *o = tk_object_new(f.rt, d);
    tk_method *m0 = tk_type_virtual_method(f.base, 0);
    for (int i = 0; i < 60; i++) {
        ck_assert_int_eq(call_slot(tk_vtable_slot(f.base, 0), f.obj, i), 1000 + i);
        ck_assert_int_eq(call_slot(tk_vtable_slot(d, 0), o, i), 1000 + i);
        ck_assert_int_eq(call_slot(tk_method_slot(tk_type_nonvirtual_method(f.base, 0)), NULL, i), 3000 + i);
        if (i % 5 == 4) advance_and_drain(f.rt, 150);
        if (i == 20) { ck_assert_int_eq(tk_version_request(f.rt, m0), 1); }
        if (i == 40) { ck_assert_int_eq(tk_version_revert(f.rt, m0), 0); }
        tk_counter c[64];
        tk_counters(f.rt, c, 64);
    }
    tk_object_free(f.rt, o);
    ck_assert_int_eq(tk_type_unload(f.rt, d), 0);
    advance_and_drain(f.rt, 150);
    ck_assert_uint_eq(tkr_locks_held(), 0);
    ck_assert_int_eq(g_unlocked_slot_writes, 0);
    ck_assert_msg(atomic_load(&tkr_lock_order_violations) == v0, "%s: lock-order violations",
                  tk_strategy_names[s]);
    ifx_done(&f);
}
END_TEST

/* The deadlock itself: counters read on one thread while types unload on
 * another (threaded mode).  Hangs (test timeout) with the inverted order. */
typedef struct cu_arg { tk_runtime *rt; _Atomic int stop; } cu_arg;
static void *counter_reader(void *p)
{
    cu_arg *a = p;
    tk_counter c[64];
    while (!atomic_load(&a->stop)) tk_counters(a->rt, c, 64);
    return NULL;
}

START_TEST(impl_lock_order_counters_vs_unload)
{
    tk_config cfg;
    char err[256];
    tk_config_defaults(&cfg);
    ck_assert_int_eq(tk_config_set(&cfg, "Strategy", "forwarder", err, sizeof err), 0);
    tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);
    ck_assert_msg(rt != NULL, "%s", err);
    tk_method_def v[1] = { { "B.V", ibody, (void *)1, 0 } };
    tk_type_def bd = { "B", NULL, 0, 1, v, 0, NULL, 0, NULL, 0, NULL };
    tk_type *b = tk_type_define(rt, &bd, err, sizeof err);
    ck_assert_int_eq(tk_type_load(rt, b), 0);
    uint64_t v0 = atomic_load(&tkr_lock_order_violations);
    cu_arg a = { rt, 0 };
    pthread_t th;
    pthread_create(&th, NULL, counter_reader, &a);
    for (int i = 0; i < 300; i++) {
        tk_type *t = ichild(rt, b, "C");
        ck_assert_int_eq(tk_type_load(rt, t), 0);
        tk_object *o = tk_object_new(rt, t);
        call_slot(tk_vtable_slot(t, 0), o, 1);
        tk_object_free(rt, o);
        ck_assert_int_eq(tk_type_unload(rt, t), 0);
    }
    atomic_store(&a.stop, 1);
    pthread_join(th, NULL);
    uint64_t v1 = atomic_load(&tkr_lock_order_violations);
    ck_assert_msg(v1 == v0, "%llu lock-order violations", (unsigned long long)(v1 - v0));
    tk_runtime_destroy(rt);
}
END_TEST

/* ---- impl.publish-before-record -------------------------------------------- */

/* At the moment a method is recorded for the tiering delay (delay_begin /
 * delay_extend, emitted by the recording), its entry point already leads
 * to native code: calls through its owning slot run compiled code.  If the
 * method were recorded first, an expiring window could find it unpublished
 * and skip it: it would never be counted. */
static tk_method *g_first;
static long g_pbr_checked, g_pbr_bad;
static void pbr_sink(void *user, const tk_event *ev)
{
    tk_runtime *rt = user;
    tk_method *m = NULL;
    if (ev->kind == TK_EV_DELAY_BEGIN) m = g_first;
    else if (ev->kind == TK_EV_DELAY_EXTEND) m = (tk_method *)ev->method;
    else return;
    g_pbr_checked++;
    tk_addr_info ai;
    void **os = tkr_owning_slot(m);
    if (!atomic_load(&m->published) || !os || resolve(rt, __atomic_load_n(os, __ATOMIC_ACQUIRE), &ai) != TK_AC_NATIVE_CODE ||
        ai.method != m)
        g_pbr_bad++;
}

START_TEST(impl_publish_before_record)
{
    int s = _i;
    ifx f;
    ifx_init(&f, tk_strategy_names[s], NULL);
    g_pbr_checked = g_pbr_bad = 0;
    tk_set_event_sink(f.rt, pbr_sink, f.rt);
    g_first = tk_type_virtual_method(f.base, 0);
    call_slot(tk_vtable_slot(f.base, 0), f.obj, 0);                              /* opens the window */
    call_slot(tk_vtable_slot(f.base, 1), f.obj, 0);                              /* extends it */
    call_slot(tk_method_slot(tk_type_nonvirtual_method(f.base, 0)), NULL, 0);   /* extends it */
    ck_assert_int_eq(g_pbr_checked, 3);
    ck_assert_int_eq(g_pbr_bad, 0);
    /* And the delay then really counts all three. */
    advance_and_drain(f.rt, 150);
    tk_method_state st;
    tk_method_get_state(f.rt, tk_type_nonvirtual_method(f.base, 0), &st);
    ck_assert_int_eq(st.counting, 1);
    ifx_done(&f);
}
END_TEST

/* ---- impl.info-outlives-stub ------------------------------------------------- */

static tk_native_version *nv_of(tk_method *m, uint32_t il, int32_t tier)
{
    for (tk_il_version *v = m->ils; v; v = v->next)
        if (v->id == il)
            for (tk_native_version *n = v->versions; n; n = n->next)
                if (n->tier == tier) return n;
    return NULL;
}

START_TEST(impl_info_outlives_stub)
{
    /* A counted version's stub is deleted after completion; its successor
     * (Tier0-instrumented) is counted and completed and its stub deleted
     * too.  A late threshold through either deleted stub's cell (what a
     * thread that entered the stub before it left the call path would do)
     * must find its info alive (ASan) and be a no-op: no second completion,
     * no second promotion (`inv.counting.threshold-once`). */
    int s = _i;
    const char *ex[] = { "DeleteCallCountingStubsAfter", "1", "CallCountingDelayMs", "0",
                         "CallCountThreshold", "3", NULL };
    ifx f;
    ifx_init(&f, tk_strategy_names[s], ex);
    tk_method *m = tk_type_virtual_method(f.base, 0);
    void **slot = tk_vtable_slot(f.base, 0);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(call_slot(slot, f.obj, i), 1000 + i);
        tk_drain(f.rt);
    }
    tk_method_state st;
    tk_method_get_state(f.rt, m, &st);
    ck_assert_int_eq(st.tier, TK_TIER_1);
    ck_assert_int_ge(counter_phase(f.rt, "stubs_freed_callcount", 1), 2);
    int64_t promos = tk_counter_total(f.rt, "promotions_tier0_to_tier0instr") +
                     tk_counter_total(f.rt, "promotions_tier0instr_to_tier1");
    ck_assert_int_eq(promos, 2);
    int32_t tiers[2] = { TK_TIER_0, TK_TIER_0_INSTRUMENTED };
    for (int k = 0; k < 2; k++) {
        tk_native_version *nv = nv_of(m, 0, tiers[k]);
        ck_assert_ptr_nonnull(nv);
        tk_cc_info *info = nv->info;
        ck_assert_ptr_nonnull(info);
        ck_assert_ptr_null(info->stub);              /* its stub is gone ...        */
        ck_assert_int_eq(info->stage, CC_COMPLETE);  /* ... the info is not         */
        int64_t hits = counter_phase(f.rt, "threshold_hits", 0);
        tk_arch_regs regs;
        memset(&regs, 0, sizeof regs);
        void *ret = tkr_threshold_handler(&info->cell, &regs);
        ck_assert_ptr_eq(ret, atomic_load(&nv->code));   /* the late call runs the counted code */
        ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), hits + 1);
        ck_assert_ptr_null(f.rt->pending_head);       /* not queued again */
        tk_drain(f.rt);
    }
    ck_assert_int_eq(tk_counter_total(f.rt, "promotions_tier0_to_tier0instr") +
                     tk_counter_total(f.rt, "promotions_tier0instr_to_tier1"), promos);
    ck_assert_int_eq(call_slot(slot, f.obj, 7), 1007);
    ifx_done(&f);
}
END_TEST

/* ---- stopped counting stubs are reclaimed ------------------------------------ */

START_TEST(stopped_stub_reclaimed_and_resumed)
{
    /* A reset (IL activation) stops a counting stub: it is out of every
     * path, so stub deletion frees it (it used to be kept for the
     * runtime's lifetime).  Publishing the version again resumes counting
     * from the cell with a new stub: the threshold still comes exactly. */
    int s = _i;
    const char *ex[] = { "DeleteCallCountingStubsAfter", "1", "CallCountingDelayMs", "0",
                         "CallCountThreshold", "10", NULL };
    ifx f;
    ifx_init(&f, tk_strategy_names[s], ex);
    tk_method *a = tk_type_virtual_method(f.base, 0);
    void **sa = tk_vtable_slot(f.base, 0), **sb = tk_vtable_slot(f.base, 1);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(call_slot(sa, f.obj, i), 1000 + i);   /* prestub + 3 counted */
    tk_native_version *nv = nv_of(a, 0, TK_TIER_0);
    ck_assert_ptr_nonnull(nv);
    ck_assert_ptr_nonnull(nv->info->stub);
    ck_assert_int_eq(tk_version_request(f.rt, a), 1);                   /* stops A's counting */
    ck_assert_int_eq(nv->info->stage, CC_NOT_ACTIVE);
    for (int i = 0; i < 11; i++) ck_assert_int_eq(call_slot(sb, f.obj, i), 2000 + i);  /* B reaches its threshold */
    tk_drain(f.rt);                                                     /* completes B, deletes */
    ck_assert_ptr_null(nv->info->stub);
    ck_assert_int_eq(counter_phase(f.rt, "stubs_freed_callcount", 1), 2);   /* B's and A's stopped one */
    ck_assert_int_eq(tk_version_revert(f.rt, a), 0);
    int64_t hits = counter_phase(f.rt, "threshold_hits", 0);
    ck_assert_int_eq(call_slot(sa, f.obj, 0), 1000);                    /* prestub: not counted */
    ck_assert_ptr_nonnull(nv->info->stub);                              /* a new stub */
    for (int i = 0; i < 6; i++) ck_assert_int_eq(call_slot(sa, f.obj, i), 1000 + i);
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), hits);   /* 3 + 6 = 9 < 10 */
    ck_assert_int_eq(call_slot(sa, f.obj, 9), 1009);
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), hits + 1);
    tk_drain(f.rt);
    tk_method_state st;
    tk_method_get_state(f.rt, a, &st);
    ck_assert_int_eq(st.tier, TK_TIER_0_INSTRUMENTED);
    ifx_done(&f);
}
END_TEST

/* ---- offline state across internal waits ------------------------------------- */

START_TEST(offline_thread_stays_offline)
{
    /* A registered thread that went offline and then drains (deterministic
     * mode runs stub deletion, i.e. synchronize_rcu, on it) must still be
     * offline afterwards; it used to come back online, so a later
     * synchronize_rcu on another thread would wait for it forever. */
    const char *ex[] = { "DeleteCallCountingStubsAfter", "1", "CallCountingDelayMs", "0",
                         "CallCountThreshold", "2", NULL };
    ifx f;
    ifx_init(&f, "lazy", ex);
    tk_thread_register(f.rt);
    void **slot = tk_vtable_slot(f.base, 0);
    for (int i = 0; i < 4; i++) call_slot(slot, f.obj, i);
    tk_thread_offline(f.rt);
    ck_assert(!rcu_read_ongoing());
    tk_drain(f.rt);
    ck_assert_int_gt(counter_phase(f.rt, "stubs_freed_callcount", 1), 0);
    ck_assert_msg(!rcu_read_ongoing(), "tk_drain brought an offline thread online");
    tk_thread_online(f.rt);
    ck_assert(rcu_read_ongoing());
    for (int i = 0; i < 4; i++) call_slot(slot, f.obj, i);
    tk_drain(f.rt);                                   /* online caller: back online after */
    ck_assert(rcu_read_ongoing());
    tk_thread_unregister(f.rt);
    ifx_done(&f);
}
END_TEST

/* ---- config rejection --------------------------------------------------------- */

START_TEST(config_edge_cases)
{
    static const struct { const char *key, *value; } bad[] = {
        { "CallCountThreshold", "30x" }, { "CallCountThreshold", "" }, { "CallCountThreshold", "-1" },
        { "CallCountThreshold", "+5" }, { "CallCountThreshold", " 5" }, { "CallCountThreshold", "4294967326" },
        { "CallCountThreshold", "99999999999999999999999" }, { "CallCountingDelayMs", "3600001" },
        { "CallCountingDelayMs", "1e3" }, { "DeleteCallCountingStubsAfter", "1000000001" },
        { "CompileCostUs", "-0" }, { "BackgroundWorkerTimeoutMs", "0" }, { "TieredPGO", "" },
        { "TieredPGO", "yes" }, { "TieredCompilation", "2" }, { "Strategy", "" }, { "Strategy", "Lazy" },
        { "Strategy", "lazy " }, { "Mode", "" },
    };
    tk_config c;
    char err[256];
    tk_config_defaults(&c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        ck_assert_msg(tk_config_set(&c, bad[i].key, bad[i].value, err, sizeof err) == -1, "%s='%s' accepted",
                      bad[i].key, bad[i].value);
        char want[64];
        snprintf(want, sizeof want, "'%s'", bad[i].value);
        ck_assert_msg(strstr(err, bad[i].key) && strstr(err, want) && strstr(err, "allowed"),
                      "message for %s='%s': %s", bad[i].key, bad[i].value, err);
    }
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", NULL, err, sizeof err), -1);
    ck_assert(strstr(err, "CallCountThreshold"));
    ck_assert_int_eq(tk_config_set(&c, "TieredPGO", "x", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "true") && strstr(err, "false"), "bool range omits true/false: %s", err);
    /* The defaults survive every rejection. */
    ck_assert_uint_eq(c.call_count_threshold, 30);
    ck_assert_int_eq(c.strategy, TK_STRATEGY_LAZY);
    ck_assert_int_eq(tk_config_set(&c, "TieredCompilation", "false", err, sizeof err), 0);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "007", err, sizeof err), 0);
    ck_assert_uint_eq(c.call_count_threshold, 7);
    /* Environment: the message names the TK_ variable's key. */
    setenv("TK_DeleteCallCountingStubsAfter", "lots", 1);
    ck_assert_int_eq(tk_config_from_env(&c, err, sizeof err), -1);
    ck_assert(strstr(err, "DeleteCallCountingStubsAfter") && strstr(err, "'lots'"));
    unsetenv("TK_DeleteCallCountingStubsAfter");
}
END_TEST

/* ---- concurrent load of a child and unload of its parent --------------------- */

typedef struct lu_arg { tk_runtime *rt; tk_type *t; int rc; pthread_barrier_t *bar; } lu_arg;
static void *do_load(void *p) { lu_arg *a = p; pthread_barrier_wait(a->bar); a->rc = tk_type_load(a->rt, a->t); return NULL; }
static void *do_unload(void *p) { lu_arg *a = p; pthread_barrier_wait(a->bar); a->rc = tk_type_unload(a->rt, a->t); return NULL; }

START_TEST(load_child_vs_unload_parent)
{
    /* "A type with loaded children cannot unload": whichever wins, never
     * both a loaded child and an unloaded parent. */
    tk_runtime *rt = rt_new("forwarder", NULL);
    char err[256];
    tk_method_def v[1] = { { "P.V", ibody, (void *)1, 0 } };
    int both = 0;
    for (int i = 0; i < 300; i++) {
        tk_type_def pd = { "P", NULL, 0, 1, v, 0, NULL, 0, NULL, 0, NULL };
        tk_type *p = tk_type_define(rt, &pd, err, sizeof err);
        ck_assert_int_eq(tk_type_load(rt, p), 0);
        tk_type *c = ichild(rt, p, "C");
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 2);
        lu_arg la = { rt, c, 0, &bar }, ua = { rt, p, 0, &bar };
        pthread_t t1, t2;
        pthread_create(&t1, NULL, do_load, &la);
        pthread_create(&t2, NULL, do_unload, &ua);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        pthread_barrier_destroy(&bar);
        if (la.rc == 0 && ua.rc == 0) { both++; continue; }
        ck_assert(la.rc == 0 || ua.rc == 0);            /* one of them wins */
        if (la.rc == 0) ck_assert_int_eq(tk_type_unload(rt, c), 0);
        if (ua.rc != 0) ck_assert_int_eq(tk_type_unload(rt, p), 0);
    }
    ck_assert_int_eq(both, 0);
    tk_runtime_destroy(rt);
}
END_TEST

TCase *tcase_impl(void)
{
    TCase *tc = tcase_create("impl");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, impl_lock_order_checker_detects_inversion);
    tcase_add_loop_test(tc, impl_lock_order_all_paths, 0, TK_STRATEGY_COUNT);
    tcase_add_test(tc, impl_lock_order_counters_vs_unload);
    tcase_add_loop_test(tc, impl_publish_before_record, 0, TK_STRATEGY_NOTIER);
    tcase_add_loop_test(tc, impl_info_outlives_stub, 0, TK_STRATEGY_NOTIER);
    tcase_add_loop_test(tc, stopped_stub_reclaimed_and_resumed, 0, TK_STRATEGY_NOTIER);
    tcase_add_test(tc, offline_thread_stays_offline);
    tcase_add_test(tc, config_edge_cases);
    tcase_add_test(tc, load_child_vs_unload_parent);
    return tc;
}
