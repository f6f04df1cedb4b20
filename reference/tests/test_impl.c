/* reference/tests/test_impl.c — the reference's implementation rules
 * (SPEC.md "Implementation rules": impl.lock-order,
 * impl.publish-before-record, impl.info-outlives-stub) and the fixes that
 * came with them: lock ranks, offline state across internal waits, config
 * rejection messages, concurrent load/unload of a hierarchy.  These tests
 * look inside the runtime (rt_internal.h); they link libtierkit statically. */
#include "reftest.h"
#include "../rt_internal.h"

#include <inttypes.h>
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

static void ifx_init(fx *f, const char *strategy, const char *const *extra)
{
    fx_init_with(f, strategy, extra, ibody);
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

/* Slot writes change slots (SPEC.md "Counters", slot_writes): no pass,
 * discovery or reset stores the value a slot already holds (a redundant
 * store still dirties a vtable's cache line on every core that reads it),
 * and the slot_writes counter is the number of those stores, i.e. of the
 * `slot_write` events other than `init`. */
typedef struct sw_tally { uint64_t counted, same, init; char first_same[96]; } sw_tally;

static void sw_sink(void *user, const tk_event *ev)
{
    sw_tally *t = user;
    if (ev->kind != TK_EV_SLOT_WRITE) return;
    if (ev->reason && !strcmp(ev->reason, "init")) { t->init++; return; }
    t->counted++;
    if (ev->old_value == ev->new_value && t->same++ == 0)
        snprintf(t->first_same, sizeof t->first_same, "%s write of %s's slot %p", ev->reason ? ev->reason : "?",
                 ev->method ? ev->method->name : "?", (void *)ev->slot);
}

START_TEST(impl_slot_writes_change_slots)
{
    int s = _i;
    const char *ex[] = { "CallCountThreshold", "3", "DeleteCallCountingStubsAfter", "1", NULL };
    fx f;
    ifx_init(&f, tk_strategy_names[s], ex);
    sw_tally t = { 0, 0, 0, "" };
    tk_set_event_sink(f.rt, sw_sink, &t);
    /* D1 : Base and D2 : D1 inherit V0 (slots found by the prestub, or
     * recorded eagerly), D3 loaded only after V0 is final (a new slot) */
    tk_type *d1 = ichild(f.rt, f.base, "D1"), *d2 = ichild(f.rt, d1, "D2");
    ck_assert_int_eq(tk_type_load(f.rt, d1), 0);
    ck_assert_int_eq(tk_type_load(f.rt, d2), 0);
    tk_object *o1 = tk_object_new(f.rt, d1), *o2 = tk_object_new(f.rt, d2), *o3 = NULL;
    tk_type *d3 = NULL;
    tk_method *m0 = tk_type_virtual_method(f.base, 0);
    int64_t c0 = tk_counter_total(f.rt, "slot_writes");
    for (int i = 0; i < 96; i++) {
        ck_assert_int_eq(call_slot(tk_vtable_slot(f.base, 0), f.obj, i), 1000 + i);
        ck_assert_int_eq(call_slot(tk_vtable_slot(d1, 0), o1, i), 1000 + i);
        ck_assert_int_eq(call_slot(tk_vtable_slot(d2, 0), o2, i), 1000 + i);
        ck_assert_int_eq(call_slot(tk_vtable_slot(f.base, 1), f.obj, i), 2000 + i);
        if (d3) ck_assert_int_eq(call_slot(tk_vtable_slot(d3, 0), o3, i), 1000 + i);
        if (i % 4 == 3) advance_and_drain(f.rt, 150);
        if (i == 16) {
            d3 = ichild(f.rt, d1, "D3");
            ck_assert_int_eq(tk_type_load(f.rt, d3), 0);
            o3 = tk_object_new(f.rt, d3);
        }
        if (i == 32) ck_assert_int_eq(tk_version_request(f.rt, m0), 1);
        if (i == 64) ck_assert_int_eq(tk_version_revert(f.rt, m0), 0);
    }
    tk_set_event_sink(f.rt, NULL, NULL);
    ck_assert_msg(t.same == 0, "%s: %" PRIu64 " slot writes stored the value the slot held; the first: %s",
                  tk_strategy_names[s], t.same, t.first_same);
    ck_assert_msg(t.init > 0, "%s: no init write at type load", tk_strategy_names[s]);
    ck_assert_int_eq(tk_counter_total(f.rt, "slot_writes") - c0, (int64_t)t.counted);
    tk_object_free(f.rt, o1);
    tk_object_free(f.rt, o2);
    tk_object_free(f.rt, o3);
    fx_done(&f);
}
END_TEST

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
    fx f;
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
    /* No lock across thread creation or synchronize_rcu: the held-rank mask
     * must be empty there (the worker's creation and stub deletion check it;
     * the threaded worker tests require zero violations). */
    tkr_check_no_locks("test: nothing held");
    ck_assert_uint_eq(atomic_load(&tkr_lock_order_violations), v0 + 2);
    tkr_lock(&tier, TKR_LK_TIER);
    tkr_check_no_locks("test: thread creation");
    tkr_unlock(&tier, TKR_LK_TIER);
    ck_assert_uint_eq(atomic_load(&tkr_lock_order_violations), v0 + 3);
    /* A second lock of the rank already held is out of order too, and a
     * release of a rank this thread does not hold is a violation. */
    pthread_mutex_t cv2 = PTHREAD_MUTEX_INITIALIZER;
    tkr_lock(&cv, TKR_LK_CV);
    tkr_lock(&cv2, TKR_LK_CV);
    tkr_unlock(&cv2, TKR_LK_CV);   /* clears the rank: the next release is of a rank not held */
    ck_assert_uint_eq(atomic_load(&tkr_lock_order_violations), v0 + 4);
    tkr_unlock(&cv, TKR_LK_CV);
    ck_assert_uint_eq(atomic_load(&tkr_lock_order_violations), v0 + 5);
    ck_assert_uint_eq(tkr_locks_held(), 0);
    pthread_mutex_destroy(&cv2);
    pthread_mutex_destroy(&tier);
    pthread_mutex_destroy(&cv);
    fx_done(&f);
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
    fx f;
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
    fx_done(&f);
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
    int s = ref_tiered(_i);
    fx f;
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
    fx_done(&f);
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

/* Both counted versions of base's first virtual (Tier0, then
 * Tier0-instrumented) complete with threshold 3 and no delay: 20 drained
 * calls through its slot end at Tier1.  `delete_after` chooses whether
 * deletion passes run meanwhile. */
static void ifx_count_to_tier1(fx *f, int s, const char *delete_after, tk_method **m, void ***slot)
{
    const char *ex[] = { "DeleteCallCountingStubsAfter", delete_after, "CallCountingDelayMs", "0",
                         "CallCountThreshold", "3", NULL };
    ifx_init(f, tk_strategy_names[s], ex);
    *m = tk_type_virtual_method(f->base, 0);
    *slot = tk_vtable_slot(f->base, 0);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(call_slot(*slot, f->obj, i), 1000 + i);
        tk_drain(f->rt);
    }
    tk_method_state st;
    tk_method_get_state(f->rt, *m, &st);
    ck_assert_int_eq(st.tier, TK_TIER_1);
}

START_TEST(impl_info_outlives_stub)
{
    /* A counted version completes and its successor (Tier0-instrumented)
     * is counted and completes too; no deletion pass runs.  A late
     * threshold through either completed stub's cell (what a thread that
     * entered the stub before it left the call path would do) must find
     * its info alive (ASan) and be a no-op: no second completion, no
     * second promotion (`inv.counting.threshold-once`). */
    fx f;
    tk_method *m;
    void **slot;
    ifx_count_to_tier1(&f, ref_tiered(_i), "0", &m, &slot);
    int64_t promos = tk_counter_total(f.rt, "promotions_tier0_to_tier0instr") +
                     tk_counter_total(f.rt, "promotions_tier0instr_to_tier1");
    ck_assert_int_eq(promos, 2);
    int32_t tiers[2] = { TK_TIER_0, TK_TIER_0_INSTRUMENTED };
    for (int k = 0; k < 2; k++) {
        tk_native_version *nv = nv_of(m, 0, tiers[k]);
        ck_assert_ptr_nonnull(nv);
        tk_cc_info *info = nv->info;
        ck_assert_ptr_nonnull(info);
        ck_assert_int_eq(info->stage, CC_COMPLETE);
        int64_t hits = counter_phase(f.rt, "threshold_hits", 0);
        tk_arch_regs regs;
        memset(&regs, 0, sizeof regs);
        void *ret = tkr_threshold_handler(&info->cell, &regs);
        ck_assert_ptr_eq(ret, atomic_load(&nv->code));   /* the late call runs the counted code */
        ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), hits + 1);
        ck_assert_uint_eq(f.rt->n_pending, 0);            /* not queued again */
        tk_drain(f.rt);
    }
    ck_assert_int_eq(tk_counter_total(f.rt, "promotions_tier0_to_tier0instr") +
                     tk_counter_total(f.rt, "promotions_tier0instr_to_tier1"), promos);
    ck_assert_int_eq(call_slot(slot, f.obj, 7), 1007);
    fx_done(&f);
}
END_TEST

START_TEST(impl_info_freed_after_stub)
{
    /* With deletion passes the same run ends with no counting memory: each
     * completed version's stub, then (same pass, after the safe-point wait)
     * its info, are freed; the version is marked done so it is never
     * counted again (ASan checks nothing touches a freed info). */
    fx f;
    tk_method *m;
    void **slot;
    ifx_count_to_tier1(&f, ref_tiered(_i), "1", &m, &slot);
    ck_assert_int_ge(counter_phase(f.rt, "stubs_freed_callcount", 1), 2);
    int32_t tiers[2] = { TK_TIER_0, TK_TIER_0_INSTRUMENTED };
    for (int k = 0; k < 2; k++) {
        tk_native_version *nv = nv_of(m, 0, tiers[k]);
        ck_assert_ptr_nonnull(nv);
        ck_assert_ptr_null(nv->info);
        ck_assert(nv->counting_done);
    }
    ck_assert_int_eq(tk_counter_total(f.rt, "counting_stub_bytes"), 0);
    ck_assert_int_eq(tk_counter_total(f.rt, "counting_info_bytes"), 0);
    ck_assert_int_eq(tk_counter_total(f.rt, "methods_counted"), 1);
    ck_assert_int_eq(call_slot(slot, f.obj, 7), 1007);
    fx_done(&f);
}
END_TEST

/* ---- calls through the prestub while counting ------------------------------- */

START_TEST(prestub_counts_while_counting)
{
    /* Under every counting strategy, a caller that reaches the prestub
     * while the method is published and counting (it loaded the precode's
     * old target, the prestub, before the retarget) is counted in the
     * prestub; the publishing call is not (`inv.counting.first-call-not-counted`).
     * With threshold 3: publish + 2 prestub calls leave it below the
     * threshold, the 3rd counted call reaches it. */
    int s = ref_tiered(_i);
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "3", NULL };
    fx f;
    ifx_init(&f, tk_strategy_names[s], ex);
    tk_method *m = tk_type_virtual_method(f.base, 0);
    tk_arch_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.gpr[0] = (uintptr_t)f.obj;
    void *c0 = tkr_prestub_handler(m, &regs);                    /* publishes, not counted */
    tk_native_version *nv = nv_of(m, 0, TK_TIER_0);
    ck_assert_ptr_nonnull(nv);
    ck_assert_ptr_eq(c0, atomic_load(&nv->code));
    ck_assert_ptr_nonnull(m->counting);
    ck_assert_uint_eq(nv->info->cell, 3);
    for (int i = 0; i < 2; i++) {
        ck_assert_ptr_eq(tkr_prestub_handler(m, &regs), c0);
        ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 0);
    }
    ck_assert_uint_eq(nv->info->cell, 1);
    tk_drain(f.rt);
    ck_assert_int_eq(nv->info->stage, CC_MAY_BE_ACTIVE);         /* not promoted after 2 */
    ck_assert_int_eq(call_slot(tk_vtable_slot(f.base, 0), f.obj, 4), 1004);   /* 3rd counted call */
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 1);
    tk_drain(f.rt);
    ck_assert_int_eq(counter_phase(f.rt, "calls_counted", 0), 3);
    tk_method_state st;
    tk_method_get_state(f.rt, m, &st);
    ck_assert_int_eq(st.tier, TK_TIER_0_INSTRUMENTED);
    fx_done(&f);
}
END_TEST

/* ---- stopped counting stubs are reclaimed ------------------------------------ */

START_TEST(stopped_stub_reclaimed_and_resumed)
{
    /* A reset (IL activation) stops a counting stub: it is out of every
     * path, so stub deletion frees it (it used to be kept for the
     * runtime's lifetime).  Publishing the version again resumes counting
     * from the cell with a new stub: the threshold still comes exactly. */
    int s = ref_tiered(_i);
    const char *ex[] = { "DeleteCallCountingStubsAfter", "1", "CallCountingDelayMs", "0",
                         "CallCountThreshold", "10", NULL };
    fx f;
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
    /* B's completed stub, A's stopped one, and (CallCountingStubDeletion=all:
     * the pass stops all counting) the stub B's Tier0-instrumented version
     * was counting with */
    ck_assert_int_eq(counter_phase(f.rt, "stubs_freed_callcount", 1), 3);
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
    fx_done(&f);
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
    fx f;
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
    fx_done(&f);
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


/* ---- scaling under type churn ------------------------------------------------ */

/* Every recorded slot of m has a back-pointer in its type, and no record
 * lives in an unloaded type (`inv.types.unload-removes-slots`). */
static void check_records(tk_method *m)
{
    for (uint32_t k = 0; k < m->n_slots; k++) {
        tk_slot_rec *r = &m->slots[k];
        ck_assert_msg(!r->type->unloaded, "record %u of %s lives in unloaded type %s", k, m->name, r->type->name);
        ck_assert_ptr_eq(r->slot, &r->type->vtable[m->vslot]);
        ck_assert_uint_eq(r->type->slot_rec[m->vslot], k + 1);
    }
}

START_TEST(scale_type_churn)
{
    /* 20000 types load, get their inherited slot recorded by the prestub
     * and unload again, 64 alive at a time (the megamorphic workload's
     * churn).  Correctness at every step, and unload cost bounded by the
     * type's own vtable: it examines at most n_vt records (it used to walk
     * every record of every method ever created: quadratic). */
    enum { N = 20000, LIVE = 64 };
    int s = _i;
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "30", NULL };
    fx f;
    ifx_init(&f, tk_strategy_names[s], ex);
    tk_method *m = tk_type_virtual_method(f.base, 0);
    void **os = tk_vtable_slot(f.base, 0);
    ck_assert_int_eq(call_slot(os, f.obj, 0), 1000);
    static tk_type *types[N];
    static tk_object *objs[N];
    char err[256];
    int lo = 0;
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "C%d", i);
        tk_override_def ov[1] = { { 1, { name, ibody, (void *)(intptr_t)(100 + (i % 50)), 0 } } };
        tk_type_def d = { name, f.base, 0, 0, NULL, 1, ov, 0, NULL, 0, NULL };
        types[i] = tk_type_define(f.rt, &d, err, sizeof err);
        ck_assert_msg(types[i] != NULL, "%s", err);
        ck_assert_int_eq(tk_type_load(f.rt, types[i]), 0);
        objs[i] = tk_object_new(f.rt, types[i]);
        ck_assert_int_eq(call_slot(tk_vtable_slot(types[i], 0), objs[i], i & 511), 1000 + (i & 511));
        ck_assert_int_eq(call_slot(tk_vtable_slot(types[i], 1), objs[i], 7), (100 + (i % 50)) * 1000 + 7);
        if (i - lo + 1 > LIVE) {
            ck_assert_int_eq(tk_type_unload(f.rt, f.base), -1);          /* children loaded */
            uint64_t v0 = atomic_load(&f.rt->dbg_unload_rec_visits);
            uint32_t recorded = 0;   /* the records in its vtable: exactly what unload examines */
            for (uint32_t vs = 0; vs < types[lo]->n_vt; vs++) recorded += types[lo]->slot_rec[vs] != 0;
            tk_object_free(f.rt, objs[lo]);
            ck_assert_int_eq(tk_type_unload(f.rt, types[lo]), 0);
            uint64_t v = atomic_load(&f.rt->dbg_unload_rec_visits) - v0;
            ck_assert_msg(v == recorded && v <= types[lo]->n_vt,
                          "unload of %s examined %llu slot records (%u recorded, vtable has %u slots)",
                          types[lo]->name, (unsigned long long)v, recorded, types[lo]->n_vt);
            ck_assert_ptr_null(tk_vtable_slot(types[lo], 0));
            lo++;
        }
        if (i % 997 == 0) {
            advance_and_drain(f.rt, 200);
            check_records(m);
        }
    }
    advance_and_drain(f.rt, 200);
    for (int k = 0; k < 40; k++) call_slot(os, f.obj, k);
    advance_and_drain(f.rt, 200);
    for (int k = 0; k < 40; k++) call_slot(os, f.obj, k);
    advance_and_drain(f.rt, 200);
    /* Every live slot reaches Base.V0's final code, and no record is left
     * in an unloaded type. */
    for (int i = lo; i < N; i++) {
        ck_assert_int_eq(call_slot(tk_vtable_slot(types[i], 0), objs[i], 3), 1003);
        tk_addr_info ai;
        ck_assert_int_eq(resolve(f.rt, *tk_vtable_slot(types[i], 0), &ai), TK_AC_NATIVE_CODE);
        ck_assert_ptr_eq(ai.method, m);
        ck_assert_int_eq(ai.tier, s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_1);
    }
    check_records(m);
    uint32_t live_recorded = m->n_slots;
    ck_assert_uint_le(live_recorded, LIVE);
    /* Duplicates: a new IL version resets every recorded slot to the TEP;
     * the next call through each goes through the prestub again, which
     * finds the slot already recorded (O(1)) and only rewrites it. */
    int64_t disc = tk_counter_total(f.rt, "slot_discoveries");
    ck_assert_int_eq(tk_version_request(f.rt, m), 1);
    ck_assert_int_eq(call_slot(os, f.obj, 1), 1001);                  /* publishes IL 1 */
    for (int rep = 0; rep < 3; rep++)
        for (int i = lo; i < N; i++) ck_assert_int_eq(call_slot(tk_vtable_slot(types[i], 0), objs[i], 2), 1002);
    ck_assert_uint_eq(m->n_slots, live_recorded);
    ck_assert_int_eq(tk_counter_total(f.rt, "slot_discoveries"), disc);
    check_records(m);
    for (int i = lo; i < N; i++) {
        tk_object_free(f.rt, objs[i]);
        ck_assert_int_eq(tk_type_unload(f.rt, types[i]), 0);
    }
    ck_assert_uint_eq(m->n_slots, 0);
    ck_assert_int_eq(tk_type_unload(f.rt, f.base), 0);                  /* no child left */
    fx_done(&f);
}
END_TEST


/* ---- background work gives way to a new tiering delay ----------------------- */

typedef struct bg_ev { int kind; tk_method *m; int32_t tier; } bg_ev;
typedef struct bg_fx {
    fx f;
    tk_type *fresh;
    tk_object *fo;
    int fired, fire_at, fresh_next, also_count;
    bg_ev ev[256];
    int n_ev;
    uint64_t violations0;     /* tkr_lock_order_violations at the start */
} bg_fx;

static void bg_sink(void *user, const tk_event *ev)
{
    bg_fx *b = user;
    if (ev->kind != TK_EV_VERSION_PUBLISH && ev->kind != TK_EV_DELAY_BEGIN && ev->kind != TK_EV_DELAY_END &&
        ev->kind != TK_EV_COUNTING_COMPLETE)
        return;
    if (b->n_ev < 256) b->ev[b->n_ev++] = (bg_ev){ ev->kind, (tk_method *)ev->method, ev->tier };
}

/* A first call of a method nobody called yet: opens (or restarts) a delay. */
static void bg_first_call(bg_fx *b)
{
    int k = b->fresh_next++;
    ck_assert_int_lt(k, 4);
    call_slot(tk_vtable_slot(b->fresh, (uint32_t)k), b->fo, 0);
}

/* Runs before each optimize item (no lock held): before the item with
 * index fire_at, once, a first call starts a new tiering delay, as a
 * mutator's first call would in the middle of the batch. */
static void bg_hook(tk_runtime *rt, uint32_t index, void *user)
{
    (void)rt;
    bg_fx *b = user;
    if (b->fired || (int)index < b->fire_at) return;
    b->fired = 1;
    bg_first_call(b);
    if (b->also_count) call_slot(tk_vtable_slot(b->fresh, 1), b->fo, 1);   /* Fresh.1's 2nd counted call */
}

static void bg_init(bg_fx *b, const char *strategy, const char *const *extra)
{
    char err[256];
    memset(b, 0, sizeof *b);
    b->violations0 = atomic_load(&tkr_lock_order_violations);
    ifx_init(&b->f, strategy, extra);
    tk_method_def fv[4] = { { "F.0", ibody, (void *)40, 0 }, { "F.1", ibody, (void *)41, 0 },
                            { "F.2", ibody, (void *)42, 0 }, { "F.3", ibody, (void *)43, 0 } };
    tk_type_def fd = { "Fresh", NULL, 0, 4, fv, 0, NULL, 0, NULL, 0, NULL };
    b->fresh = tk_type_define(b->f.rt, &fd, err, sizeof err);
    ck_assert_msg(b->fresh != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(b->f.rt, b->fresh), 0);
    b->fo = tk_object_new(b->f.rt, b->fresh);
}

/* The batch paths (abandon, re-queue, resume) keep impl.lock-order too. */
static void bg_done(bg_fx *b)
{
    ck_assert_msg(atomic_load(&tkr_lock_order_violations) == b->violations0,
                  "impl.lock-order: %llu lock-order violations in a background-batch scenario",
                  (unsigned long long)(atomic_load(&tkr_lock_order_violations) - b->violations0));
    tk_set_event_sink(b->f.rt, NULL, NULL);
    tk_object_free(b->f.rt, b->fo);
    fx_done(&b->f);
}

/* V0, V1 and N each make 2 counted calls (threshold 2). */
static void bg_reach_thresholds(bg_fx *b)
{
    for (int i = 0; i < 2; i++) {
        call_slot(tk_vtable_slot(b->f.base, 0), b->f.obj, i);
        call_slot(tk_vtable_slot(b->f.base, 1), b->f.obj, i);
        call_slot(tk_method_slot(tk_type_nonvirtual_method(b->f.base, 0)), NULL, i);
    }
}

static int bg_count_t0i(bg_fx *b, int from, int to)
{
    int n = 0;
    for (int i = from; i < to; i++)
        if (b->ev[i].kind == TK_EV_VERSION_PUBLISH && b->ev[i].tier == TK_TIER_0_INSTRUMENTED) n++;
    return n;
}

static void bg_assert_all_t0i(bg_fx *b)
{
    tk_method *ms[3] = { tk_type_virtual_method(b->f.base, 0), tk_type_virtual_method(b->f.base, 1),
                         tk_type_nonvirtual_method(b->f.base, 0) };
    for (int k = 0; k < 3; k++) {
        tk_method_state st;
        tk_method_get_state(b->f.rt, ms[k], &st);
        ck_assert_msg(st.tier == TK_TIER_0_INSTRUMENTED, "%s at tier %d", tk_method_name(ms[k]), st.tier);
    }
}

START_TEST(bg_abandon_deterministic)
{
    /* Deterministic mode: a delay that begins in the middle of an optimize
     * batch (hook before item 1) stops the batch there; the rest goes back
     * to the front of the queue, and the drain, which runs to idle, resumes
     * it with the next background step: pending completions first (the
     * hook's call also made Fresh.1 reach its threshold), then the
     * re-queued items in their order, then the newly promoted one. */
    int s = ref_tiered(_i);
    const char *ex[] = { "CallCountThreshold", "2", NULL };
    bg_fx *b = calloc(1, sizeof *b);
    bg_init(b, tk_strategy_names[s], ex);
    call_slot(tk_vtable_slot(b->f.base, 0), b->f.obj, 0);            /* first calls: delay */
    call_slot(tk_vtable_slot(b->f.base, 1), b->f.obj, 0);
    call_slot(tk_method_slot(tk_type_nonvirtual_method(b->f.base, 0)), NULL, 0);
    bg_first_call(b);                                                  /* Fresh.0 */
    call_slot(tk_vtable_slot(b->fresh, 1), b->fo, 0);                  /* Fresh.1: b->fresh_next skips it */
    b->fresh_next = 2;
    advance_and_drain(b->f.rt, 150);                                   /* all counting */
    bg_reach_thresholds(b);
    call_slot(tk_vtable_slot(b->fresh, 1), b->fo, 1);                  /* Fresh.1: 1 of 2 */
    b->fire_at = 1;
    b->also_count = 1;
    b->f.rt->dbg_item_hook_user = b;
    __atomic_store_n(&b->f.rt->dbg_item_hook, bg_hook, __ATOMIC_RELEASE);
    tk_set_event_sink(b->f.rt, bg_sink, b);
    tk_drain(b->f.rt);
    ck_assert_int_eq(b->fired, 1);
    ck_assert_uint_eq(b->f.rt->n_opt, 0);
    bg_assert_all_t0i(b);
    int db = -1;
    for (int i = 0; i < b->n_ev; i++)
        if (b->ev[i].kind == TK_EV_DELAY_BEGIN) { db = i; break; }
    ck_assert_int_ge(db, 0);
    ck_assert_int_eq(bg_count_t0i(b, 0, db), 1);                      /* item 0 before the delay */
    ck_assert_int_eq(bg_count_t0i(b, db, b->n_ev), 3);                /* items 1, 2, Fresh.1 after */
    /* Resumed with a fresh step: Fresh.1's completion comes before the
     * re-queued items 1 and 2, and Fresh.1's compile after them (without
     * the abandon, items 1 and 2 were published before Fresh.1 completed). */
    tk_method *f1 = tk_type_virtual_method(b->fresh, 1);
    int cc = -1, last = -1;
    for (int i = db; i < b->n_ev; i++) {
        if (b->ev[i].kind == TK_EV_COUNTING_COMPLETE && b->ev[i].m == f1 && cc < 0) cc = i;
        if (b->ev[i].kind == TK_EV_VERSION_PUBLISH && b->ev[i].tier == TK_TIER_0_INSTRUMENTED) last = i;
    }
    ck_assert_int_gt(cc, db);
    ck_assert_msg(bg_count_t0i(b, db, cc) == 0, "re-queued items ran before the next step's completion");
    ck_assert_ptr_eq(b->ev[last].m, f1);
    uint64_t abandoned = atomic_load(&b->f.rt->dbg_batches_abandoned);
    ck_assert_uint_eq(abandoned, 1);
    __atomic_store_n(&b->f.rt->dbg_item_hook, NULL, __ATOMIC_RELEASE);
    bg_done(b);
    free(b);
}
END_TEST

START_TEST(bg_abandon_threaded)
{
    /* Threaded mode: the worker starts no completion or compile while a
     * tiering delay is active, and abandons its optimize batch when one
     * begins (CoreCLR DoBackgroundWork).  Ordering through events (no
     * wall-clock assertion): between the delay_begin of the delay started
     * before item 1 and its delay_end, the worker publishes nothing; the
     * two remaining items are published after delay_end. */
    int s = ref_tiered(_i);
    char err[256];
    const char *ex[] = { "CallCountingDelayMs", "200", "CallCountThreshold", "2", NULL };
    bg_fx *b = calloc(1, sizeof *b);
    b->violations0 = atomic_load(&tkr_lock_order_violations);
    b->f.rt = rt_new_mode("threaded", tk_strategy_names[s], ex);
    tk_method_def v[2] = { { "Base.V0", ibody, (void *)1, 0 }, { "Base.V1", ibody, (void *)2, 0 } };
    tk_method_def n[1] = { { "Base.N", ibody, (void *)3, 0 } };
    tk_type_def d = { "Base", NULL, 0, 2, v, 0, NULL, 1, n, 0, NULL };
    b->f.base = tk_type_define(b->f.rt, &d, err, sizeof err);
    ck_assert_int_eq(tk_type_load(b->f.rt, b->f.base), 0);
    b->f.obj = tk_object_new(b->f.rt, b->f.base);
    tk_method_def fv[4] = { { "F.0", ibody, (void *)40, 0 }, { "F.1", ibody, (void *)41, 0 },
                            { "F.2", ibody, (void *)42, 0 }, { "F.3", ibody, (void *)43, 0 } };
    tk_type_def fd = { "Fresh", NULL, 0, 4, fv, 0, NULL, 0, NULL, 0, NULL };
    b->fresh = tk_type_define(b->f.rt, &fd, err, sizeof err);
    ck_assert_int_eq(tk_type_load(b->f.rt, b->fresh), 0);
    b->fo = tk_object_new(b->f.rt, b->fresh);
    call_slot(tk_vtable_slot(b->f.base, 0), b->f.obj, 0);
    call_slot(tk_vtable_slot(b->f.base, 1), b->f.obj, 0);
    call_slot(tk_method_slot(tk_type_nonvirtual_method(b->f.base, 0)), NULL, 0);
    tk_drain(b->f.rt);                               /* waits for the delay: all three counting */
    /* Reach the three thresholds inside a new delay, so the worker (which
     * waits for the delay) completes them as one batch afterwards. */
    bg_first_call(b);                                /* Fresh.0 opens a delay */
    bg_reach_thresholds(b);
    b->fire_at = 1;
    b->f.rt->dbg_item_hook_user = b;
    tk_set_event_sink(b->f.rt, bg_sink, b);
    __atomic_store_n(&b->f.rt->dbg_item_hook, bg_hook, __ATOMIC_RELEASE);
    tk_drain(b->f.rt);
    __atomic_store_n(&b->f.rt->dbg_item_hook, NULL, __ATOMIC_RELEASE);
    tk_set_event_sink(b->f.rt, NULL, NULL);
    ck_assert_int_eq(b->fired, 1);
    bg_assert_all_t0i(b);
    /* The hook's delay is the last delay_begin; find it and its delay_end. */
    int db = -1, de = -1;
    for (int i = 0; i < b->n_ev; i++)
        if (b->ev[i].kind == TK_EV_DELAY_BEGIN) db = i;
    ck_assert_int_ge(db, 0);
    for (int i = db + 1; i < b->n_ev; i++)
        if (b->ev[i].kind == TK_EV_DELAY_END) { de = i; break; }
    ck_assert_int_gt(de, db);
    ck_assert_int_eq(bg_count_t0i(b, 0, b->n_ev), 3);
    ck_assert_int_ge(bg_count_t0i(b, 0, db), 1);                      /* item 0 before the delay */
    ck_assert_msg(bg_count_t0i(b, db, de) == 0,
                  "the worker published %d versions while the new delay was active", bg_count_t0i(b, db, de));
    for (int i = db; i < de; i++)
        ck_assert_msg(b->ev[i].kind != TK_EV_COUNTING_COMPLETE, "counting completed during the delay");
    uint64_t abandoned = atomic_load(&b->f.rt->dbg_batches_abandoned);
    ck_assert_uint_ge(abandoned, 1);
    bg_done(b);
    free(b);
}
END_TEST

/* tkr_reserve/tkr_grow, behind every queue and batch of the runtime:
 * capacity covers the need, doubles from the first size (amortised O(1)
 * appends), the contents survive a move, and a need already covered does
 * not reallocate. */
START_TEST(impl_array_growth)
{
    uint32_t cap = 0, *v = NULL;
    v = tkr_reserve(v, &cap, 1, sizeof *v, 4);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(cap, 4);
    for (uint32_t k = 0; k < 4; k++) v[k] = 0xA000 + k;
    uint32_t *same = tkr_reserve(v, &cap, 4, sizeof *v, 4);
    ck_assert_ptr_eq(same, v);
    ck_assert_uint_eq(cap, 4);
    v = tkr_reserve(v, &cap, 5, sizeof *v, 4);
    ck_assert_uint_eq(cap, 8);
    v = tkr_reserve(v, &cap, 100, sizeof *v, 4);
    ck_assert_uint_eq(cap, 128);     /* 8 -> 16 -> 32 -> 64 -> 128 */
    for (uint32_t k = 0; k < 4; k++) ck_assert_uint_eq(v[k], 0xA000 + k);
    v[99] = 7;                       /* the whole need is usable (ASan) */
    free(v);
    uint32_t cap2 = 0;
    uint64_t *w = tkr_grow(NULL, &cap2, 65, sizeof *w, 64);
    ck_assert_uint_eq(cap2, 128);
    w[127] = 1;
    free(w);
}
END_TEST

TCase *tcase_impl(void)
{
    TCase *tc = tcase_create("impl");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, impl_lock_order_checker_detects_inversion);
    tcase_add_loop_test(tc, impl_lock_order_all_paths, 0, (int)tk_strategy_count());
    tcase_add_loop_test(tc, impl_slot_writes_change_slots, 0, (int)tk_strategy_count()); /* eager-final too */
    tcase_add_test(tc, impl_lock_order_counters_vs_unload);
    tcase_add_loop_test(tc, impl_publish_before_record, 0, ref_tiered_count());
    tcase_add_loop_test(tc, impl_info_outlives_stub, 0, ref_tiered_count());
    tcase_add_loop_test(tc, impl_info_freed_after_stub, 0, ref_tiered_count());
    tcase_add_loop_test(tc, stopped_stub_reclaimed_and_resumed, 0, ref_tiered_count());
    tcase_add_test(tc, offline_thread_stays_offline);
    tcase_add_test(tc, config_edge_cases);
    tcase_add_test(tc, impl_array_growth);
    tcase_add_test(tc, load_child_vs_unload_parent);
    tcase_add_loop_test(tc, scale_type_churn, 0, (int)tk_strategy_count());
    tcase_add_loop_test(tc, prestub_counts_while_counting, 0, ref_tiered_count());
    tcase_add_loop_test(tc, bg_abandon_deterministic, 0, ref_tiered_count());
    tcase_add_loop_test(tc, bg_abandon_threaded, 0, ref_tiered_count());
    return tc;
}
