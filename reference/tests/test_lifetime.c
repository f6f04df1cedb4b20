/* reference/tests/test_lifetime.c — what an unloaded type owns is freed
 * (SPEC.md `impl.type-metadata-lifetime`, reference/lifetime.c): its methods'
 * versions, counting infos and emitted code once no background step can
 * hold them, its structs after the quarantine; queues drop dead methods'
 * entries; stale handles get errors.  These tests look inside the runtime
 * (rt_internal.h) and run under ASan and TSan too (make test-asan/-tsan),
 * which is what catches a use after free in the paths below. */
#include "reftest.h"
#include "../rt_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t lbody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + a0;
}

/* D : Base, overriding V0 and V1, with one non-virtual. */
static tk_type *derived(tk_runtime *rt, tk_type *base, const char *name)
{
    char err[256];
    tk_override_def ov[2] = { { 0, { "D.V0", lbody, (void *)10, 0 } }, { 1, { "D.V1", lbody, (void *)11, 0 } } };
    tk_method_def n[1] = { { "D.N", lbody, (void *)12, 0 } };
    tk_type_def d = { name, base, 0, 0, NULL, 2, ov, 1, n, 0, NULL };
    tk_type *t = tk_type_define(rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(rt, t), 0);
    return t;
}

/* `times` calls through each of t's three slots. */
static void call_all(tk_type *t, tk_object *o, int times)
{
    tk_method *n = tk_type_nonvirtual_method(t, 0);
    for (int i = 0; i < times; i++) {
        ck_assert_int_eq(call_slot(tk_vtable_slot(t, 0), o, i), 10000 + i);
        ck_assert_int_eq(call_slot(tk_vtable_slot(t, 1), o, i), 11000 + i);
        ck_assert_int_eq(call_slot(tk_method_slot(n), o, i), 12000 + i);
    }
}

/* Emitted entries of the runtime's (live) methods. */
static uint64_t live_entries(tk_runtime *rt)
{
    uint64_t n = 0;
    for (tk_method *m = rt->methods; m; m = m->next_all)
        for (tk_il_version *il = m->ils; il; il = il->next)
            for (tk_native_version *nv = il->versions; nv; nv = nv->next)
                n += atomic_load(&nv->code) != NULL;
    return n;
}

static bool listed(tk_runtime *rt, tk_method *m)
{
    for (tk_method *x = rt->methods; x; x = x->next_all)
        if (x == m) return true;
    return false;
}

/* Base's three methods at their final tier, so later counts are D's. */
static void settle_base(fx *f)
{
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < 4; i++) {
            call_slot(tk_vtable_slot(f->base, 0), f->obj, i);
            call_slot(tk_vtable_slot(f->base, 1), f->obj, i);
            call_slot(tk_method_slot(tk_type_nonvirtual_method(f->base, 0)), f->obj, i);
        }
        advance_and_drain(f->rt, 200);
    }
}

START_TEST(lifetime_unload_frees_metadata)
{
    /* Load D, take its methods through counting to their final tier (and
     * PGO's instrumented tier), unload it: code heap, counting infos and
     * live stubs come back to what Base alone holds; D's methods leave the
     * method list; a second type reuses the freed code entries. */
    int s = _i;
    const char *ex[] = { "CallCountThreshold", "3", "CallCountingDelayMs", "10", "TieredPGO", "1",
                         "DeleteCallCountingStubsAfter", "1", NULL };
    fx f;
    fx_init_with(&f, tk_strategy_names[s], ex, lbody);
    settle_base(&f);
    size_t code0 = tk_code_heap_used_bytes(f.rt->code_heap);
    uint64_t entries0 = live_entries(f.rt);
    ck_assert_uint_gt(entries0, 0);
    size_t entry = code0 / entries0;
    int64_t info0 = tk_counter_total(f.rt, "counting_info_bytes");
    int64_t stubs0 = tk_counter_total(f.rt, "live_stub_bytes");
    for (int round = 0; round < 2; round++) {
        tk_type *d = derived(f.rt, f.base, round ? "D2" : "D1");
        tk_object *o = tk_object_new(f.rt, d);
        for (int r = 0; r < 4; r++) {
            call_all(d, o, 5);
            advance_and_drain(f.rt, 200);
        }
        tk_method *ms[3] = { tk_type_virtual_method(d, 0), tk_type_virtual_method(d, 1), tk_type_nonvirtual_method(d, 0) };
        for (int k = 0; k < 3; k++) {
            tk_method_state st;
            tk_method_get_state(f.rt, ms[k], &st);
            ck_assert_int_eq(st.tier, s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_1);
            ck_assert(listed(f.rt, ms[k]));
        }
        ck_assert_uint_gt(tk_code_heap_used_bytes(f.rt->code_heap), code0);
        ck_assert_uint_eq(tk_code_heap_used_bytes(f.rt->code_heap), live_entries(f.rt) * entry);
        tk_object_free(f.rt, o);
        ck_assert_int_eq(tk_type_unload(f.rt, d), 0);
        ck_assert_ptr_null(f.rt->graveyard);               /* no background step ran: freed at once */
        ck_assert_uint_eq(tk_code_heap_used_bytes(f.rt->code_heap), code0);
        ck_assert_int_eq(tk_counter_total(f.rt, "counting_info_bytes"), info0);
        ck_assert_int_eq(tk_counter_total(f.rt, "live_stub_bytes"), stubs0);
        for (int k = 0; k < 3; k++) {
            ck_assert(!listed(f.rt, ms[k]));
            ck_assert_ptr_null(ms[k]->ils);                /* versions freed, struct quarantined */
            /* a stale handle: clean errors, no freed memory touched */
            ck_assert_int_eq(tk_version_request(f.rt, ms[k]), -1);
            ck_assert_int_eq(tk_version_revert(f.rt, ms[k]), -1);
            ck_assert_ptr_null(tk_method_slot(ms[k]));
            tk_method_state st;
            tk_method_get_state(f.rt, ms[k], &st);
            ck_assert_int_eq(st.tier, TK_TIER_UNKNOWN);
            ck_assert_int_eq(st.counting, 0);
            ck_assert_int_eq(st.published, 0);
        }
        ck_assert_ptr_null(tk_vtable_slot(d, 0));
        ck_assert_int_eq(tk_type_load(f.rt, d), -1);
        ck_assert_int_eq(tk_type_unload(f.rt, d), -1);
        ck_assert_ptr_null(tk_object_new(f.rt, d));
        char err[128];
        tk_type_def cd = { "Child", d, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL };
        ck_assert_ptr_null(tk_type_define(f.rt, &cd, err, sizeof err));
        ck_assert_msg(strstr(err, "unloaded") != NULL, "%s", err);
    }
    /* Base still works and tiers */
    ck_assert_int_eq(call_slot(tk_vtable_slot(f.base, 0), f.obj, 7), 1007);
    fx_done(&f);
}
END_TEST

/* ---- an unload while a background step holds the type's metadata ------------ */

typedef struct hook_fx {
    fx f;
    tk_type *d;
    tk_object *o;
    int fired;
    bool graveyard_seen, versions_kept;
    int promotes_after_unload;
    bool unloaded;
} hook_fx;

static void unload_hook(tk_runtime *rt, uint32_t index, void *user)
{
    hook_fx *h = user;
    if (index != 0 || h->fired++) return;
    tk_method *m = tk_type_virtual_method(h->d, 1);
    tk_object_free(rt, h->o);
    ck_assert_int_eq(tk_type_unload(rt, h->d), 0);
    h->unloaded = true;
    /* the step under way holds D's versions: they wait in the graveyard */
    h->graveyard_seen = __atomic_load_n(&rt->graveyard, __ATOMIC_SEQ_CST) == h->d;
    h->versions_kept = m->ils != NULL;
}

static void promote_sink(void *user, const tk_event *ev)
{
    hook_fx *h = user;
    if (h->unloaded && ev->kind == TK_EV_PROMOTE && ev->method && ev->method->decl == h->d) h->promotes_after_unload++;
}

START_TEST(lifetime_unload_during_background_step)
{
    /* D's three methods reach their threshold; the drain's step completes
     * them and queues their promoted versions; before the first compile of
     * that batch D unloads (the hook).  The step still holds D's versions,
     * so the unload leaves D in the graveyard; the step finishes its batch
     * (the dead methods' versions are compiled, published nowhere) and its
     * end frees D.  Under ASan a premature free is a use after free here. */
    int s = ref_tiered(_i);
    const char *ex[] = { "CallCountThreshold", "2", "CallCountingDelayMs", "10", NULL };
    hook_fx *h = calloc(1, sizeof *h);
    fx_init_with(&h->f, tk_strategy_names[s], ex, lbody);
    settle_base(&h->f);
    size_t code0 = tk_code_heap_used_bytes(h->f.rt->code_heap);
    int64_t info0 = tk_counter_total(h->f.rt, "counting_info_bytes");
    h->d = derived(h->f.rt, h->f.base, "D");
    h->o = tk_object_new(h->f.rt, h->d);
    call_all(h->d, h->o, 1);
    advance_and_drain(h->f.rt, 200);                      /* delay over: counting */
    call_all(h->d, h->o, 2);                              /* thresholds: 3 pending */
    ck_assert_uint_eq(h->f.rt->n_pending, 3);
    h->f.rt->dbg_item_hook_user = h;
    __atomic_store_n(&h->f.rt->dbg_item_hook, unload_hook, __ATOMIC_RELEASE);
    tk_set_event_sink(h->f.rt, promote_sink, h);
    tk_drain(h->f.rt);
    __atomic_store_n(&h->f.rt->dbg_item_hook, NULL, __ATOMIC_RELEASE);
    tk_set_event_sink(h->f.rt, NULL, NULL);
    ck_assert_int_eq(h->fired, 1);
    ck_assert(h->graveyard_seen);
    ck_assert(h->versions_kept);
    ck_assert_ptr_null(h->f.rt->graveyard);               /* the step's end freed it */
    ck_assert_ptr_null(tk_type_virtual_method(h->d, 1)->ils);
    ck_assert_uint_eq(h->f.rt->bg_batches, 0);
    ck_assert_uint_eq(tk_code_heap_used_bytes(h->f.rt->code_heap), code0);
    ck_assert_int_eq(tk_counter_total(h->f.rt, "counting_info_bytes"), info0);
    ck_assert_int_eq(h->promotes_after_unload, 0);
    ck_assert_uint_eq(h->f.rt->n_opt + h->f.rt->n_pending + h->f.rt->n_delay, 0);
    fx_done(&h->f);
    free(h);
}
END_TEST

START_TEST(lifetime_queues_drop_dead_methods)
{
    /* D's methods sit in the completion queue (threshold reached) and in a
     * delay list (a second type's first calls) when D unloads: the unload
     * purges them, so the next drain completes and promotes nothing of D
     * and touches none of its freed memory. */
    int s = ref_tiered(_i);
    const char *ex[] = { "CallCountThreshold", "2", "CallCountingDelayMs", "10", NULL };
    hook_fx *h = calloc(1, sizeof *h);
    fx_init_with(&h->f, tk_strategy_names[s], ex, lbody);
    settle_base(&h->f);
    h->d = derived(h->f.rt, h->f.base, "D");
    h->o = tk_object_new(h->f.rt, h->d);
    call_all(h->d, h->o, 1);
    advance_and_drain(h->f.rt, 200);
    call_all(h->d, h->o, 2);                              /* 3 pending completions */
    tk_type *e = derived(h->f.rt, h->f.base, "E");        /* E's first calls: a delay with E listed */
    tk_object *eo = tk_object_new(h->f.rt, e);
    call_all(e, eo, 1);
    ck_assert_uint_eq(h->f.rt->n_pending, 3);
    ck_assert_uint_eq(h->f.rt->n_delay, 3);
    tk_set_event_sink(h->f.rt, promote_sink, h);
    tk_object_free(h->f.rt, h->o);
    ck_assert_int_eq(tk_type_unload(h->f.rt, h->d), 0);
    h->unloaded = true;
    ck_assert_uint_eq(h->f.rt->n_pending, 0);
    ck_assert_ptr_null(h->f.rt->pending);                 /* an emptied queue gives its array back */
    ck_assert_uint_eq(h->f.rt->n_delay, 3);               /* E's stay */
    tk_object_free(h->f.rt, eo);
    ck_assert_int_eq(tk_type_unload(h->f.rt, e), 0);
    ck_assert_uint_eq(h->f.rt->n_delay, 0);
    advance_and_drain(h->f.rt, 200);
    tk_set_event_sink(h->f.rt, NULL, NULL);
    ck_assert_int_eq(h->promotes_after_unload, 0);
    fx_done(&h->f);
    free(h);
}
END_TEST

START_TEST(lifetime_quarantine_bounded)
{
    /* 3 x TKR_QUARANTINE_TYPES types load and unload: the newest
     * TKR_QUARANTINE_TYPES unloaded ones keep their structs (a stale handle
     * reads "unloaded"), older ones are freed, except a parent whose
     * never-loaded child's struct still names it. */
    enum { N = 3 * TKR_QUARANTINE_TYPES };
    fx f;
    fx_init_with(&f, "lazy", NULL, lbody);
    tk_type *p = derived(f.rt, f.base, "P");
    char err[256];
    tk_type_def cd = { "NeverLoaded", p, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL };
    tk_type *c = tk_type_define(f.rt, &cd, err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tk_type_unload(f.rt, p), 0);          /* c is not loaded */
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "T%d", i);
        tk_type *t = derived(f.rt, f.base, name);
        tk_object *o = tk_object_new(f.rt, t);
        call_all(t, o, 2);
        tk_object_free(f.rt, o);
        ck_assert_int_eq(tk_type_unload(f.rt, t), 0);
        ck_assert_uint_le(f.rt->n_quar, TKR_QUARANTINE_TYPES);
    }
    ck_assert_uint_eq(f.rt->n_quar, TKR_QUARANTINE_TYPES);
    uint32_t types = 0, methods = 0;
    bool p_kept = false;
    for (tk_type *t = f.rt->types; t; t = t->next_all) {
        types++;
        p_kept |= t == p;
    }
    for (tk_method *m = f.rt->methods; m; m = m->next_all) methods++;
    ck_assert(p_kept);
    ck_assert(p->evicted);
    ck_assert_uint_eq(p->n_child_structs, 1);
    /* Base, P, NeverLoaded and the quarantine */
    ck_assert_uint_eq(types, 3 + TKR_QUARANTINE_TYPES);
    ck_assert_uint_eq(methods, 3 + 0);                     /* Base's; NeverLoaded declares none */
    ck_assert_int_eq(tk_type_load(f.rt, c), -1);           /* its parent is unloaded */
    fx_done(&f);
}
END_TEST

/* The runtime's type and method lists (impl.type-metadata-lifetime): both
 * doubly linked with consistent back links and no cycle; every listed type
 * is live, or unloaded and still held (quarantined, or an evicted parent a
 * kept child's struct names); every quarantined type is listed; no listed
 * method is dead. */
static void check_lists(tk_runtime *rt, uint32_t *n_types)
{
    uint32_t n = 0, quar = 0;
    tk_type *prev = NULL;
    for (tk_type *t = rt->types; t; prev = t, t = t->next_all) {
        ck_assert_msg(++n < 100000, "the type list has a cycle");
        ck_assert_msg(t->prev_all == prev, "type %s: its back link is not the type before it", t->name);
        if (t->unloaded)
            ck_assert_msg(!t->evicted || t->n_child_structs > 0,
                          "type %s: evicted with no child struct naming it, yet still listed", t->name);
    }
    for (tk_type *q = rt->quar_head; q; q = q->grave_next) {
        ck_assert_msg(++quar <= TKR_QUARANTINE_TYPES, "the quarantine holds more than %d types", TKR_QUARANTINE_TYPES);
        ck_assert_msg(q->unloaded && !q->evicted, "quarantined type %s: not unloaded, or evicted", q->name);
        bool listed_q = false;
        for (tk_type *t = rt->types; t && !listed_q; t = t->next_all) listed_q = t == q;
        ck_assert_msg(listed_q, "quarantined type %s is not in the type list", q->name);
    }
    ck_assert_uint_eq(quar, rt->n_quar);
    uint32_t nm = 0;
    tk_method *mp = NULL;
    for (tk_method *m = rt->methods; m; mp = m, m = m->next_all) {
        ck_assert_msg(++nm < 1000000, "the method list has a cycle");
        ck_assert_msg(m->prev_all == mp, "method %s: its back link is not the method before it", m->name);
        ck_assert_msg(!m->dead, "method %s of an unloaded type is still listed", m->name);
    }
    *n_types = n;
}

START_TEST(lifetime_lists_after_unload_reload_cycles)
{
    /* Chains of types (a derived type of a derived type) load, get called
     * and unload in an order that takes types out of the middle, the head
     * and the tail of the lists, well past the quarantine's bound; the
     * lists are walked after every step, and at the end hold Base plus
     * what is still held. */
    fx f;
    fx_init_with(&f, "lazy", NULL, lbody);
    enum { ROUNDS = 3 * TKR_QUARANTINE_TYPES / 4, CHAIN = 4 };
    uint32_t n;
    check_lists(f.rt, &n);
    uint32_t n0 = n;
    for (int r = 0; r < ROUNDS; r++) {
        tk_type *chain[CHAIN];
        tk_type *parent = f.base;
        for (int i = 0; i < CHAIN; i++) {
            char name[32];
            snprintf(name, sizeof name, "C%d.%d", r, i);
            chain[i] = derived(f.rt, parent, name);
            parent = chain[i];
            tk_object *o = tk_object_new(f.rt, chain[i]);
            call_all(chain[i], o, 1 + (r + i) % 3);
            tk_object_free(f.rt, o);
            check_lists(f.rt, &n);
        }
        advance_and_drain(f.rt, 200);
        /* the leaf first, then a rotating order of the rest: a type whose
         * child is still loaded is refused (-1) and unloaded afterwards */
        static const int order[3][CHAIN] = { { 3, 2, 1, 0 }, { 3, 1, 2, 0 }, { 3, 2, 0, 1 } };
        bool gone[CHAIN] = { false };
        for (int i = 0; i < CHAIN; i++) {
            int k = order[r % 3][i];
            bool child_loaded = k + 1 < CHAIN && !gone[k + 1];
            ck_assert_int_eq(tk_type_unload(f.rt, chain[k]), child_loaded ? -1 : 0);
            gone[k] = !child_loaded;
            check_lists(f.rt, &n);
        }
        for (int k = CHAIN - 1; k >= 0; k--)
            if (!gone[k]) {
                ck_assert_int_eq(tk_type_unload(f.rt, chain[k]), 0);
                check_lists(f.rt, &n);
            }
    }
    ck_assert_uint_eq(f.rt->n_quar, TKR_QUARANTINE_TYPES);
    ck_assert_uint_ge(n, n0 + TKR_QUARANTINE_TYPES);
    ck_assert_uint_le(n, n0 + TKR_QUARANTINE_TYPES + CHAIN);
    fx_done(&f);
}
END_TEST

/* ---- threaded: the worker tiers while types churn -------------------------- */

typedef struct churn_arg { tk_runtime *rt; tk_type *base; int id, rounds; } churn_arg;

static void *churn_thread(void *p)
{
    churn_arg *a = p;
    tk_thread_register(a->rt);
    for (int i = 0; i < a->rounds; i++) {
        char name[32];
        snprintf(name, sizeof name, "T%d.%d", a->id, i);
        tk_type *t = derived(a->rt, a->base, name);
        tk_object *o = tk_object_new(a->rt, t);
        for (int k = 0; k < 8; k++) {
            call_all(t, o, 2);
            tk_safepoint(a->rt);
        }
        tk_object_free(a->rt, o);
        ck_assert_int_eq(tk_type_unload(a->rt, t), 0);
        tk_safepoint(a->rt);
    }
    tk_thread_unregister(a->rt);
    return NULL;
}

START_TEST(lifetime_threaded_churn)
{
    /* Two threads load, call (threshold 2, delay 1 ms: counting, completion,
     * promotion and stub deletion on the worker meanwhile) and unload types
     * of their own.  Afterwards the code heap holds exactly the live
     * methods' entries, no type waits in the graveyard and the quarantine
     * is bounded.  ASan/TSan builds check the interleavings. */
    int s = _i;
    const char *ex[] = { "CallCountThreshold", "2", "CallCountingDelayMs", "1", "DeleteCallCountingStubsAfter", "1", NULL };
    tk_runtime *rt = rt_new_mode("threaded", tk_strategy_names[s], ex);
    char err[256];
    tk_method_def v[2] = { { "Base.V0", lbody, (void *)1, 0 }, { "Base.V1", lbody, (void *)2, 0 } };
    tk_method_def n[1] = { { "Base.N", lbody, (void *)3, 0 } };
    tk_type_def d = { "Base", NULL, 0, 2, v, 0, NULL, 1, n, 0, NULL };
    tk_type *base = tk_type_define(rt, &d, err, sizeof err);
    ck_assert_int_eq(tk_type_load(rt, base), 0);
    int64_t stubs0 = tk_counter_total(rt, "live_stub_bytes");   /* Base's temporary entry points */
    churn_arg a[2] = { { rt, base, 0, 60 }, { rt, base, 1, 60 } };
    pthread_t th[2];
    for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, churn_thread, &a[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    tk_drain(rt);
    ck_assert_ptr_null(__atomic_load_n(&rt->graveyard, __ATOMIC_SEQ_CST));
    ck_assert_uint_le(rt->n_quar, TKR_QUARANTINE_TYPES);
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    uint64_t entries = live_entries(rt);
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    /* Base's methods were never called: no live entry, and every entry of
     * the churned types went back */
    ck_assert_uint_eq(entries, 0);
    ck_assert_uint_eq(tk_code_heap_used_bytes(rt->code_heap), 0);
    ck_assert_int_eq(tk_counter_total(rt, "live_stub_bytes"), stubs0);
    tk_runtime_destroy(rt);
}
END_TEST

TCase *tcase_lifetime(void)
{
    TCase *tc = tcase_create("lifetime");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, lifetime_unload_frees_metadata, 0, (int)tk_strategy_count());
    tcase_add_loop_test(tc, lifetime_unload_during_background_step, 0, ref_tiered_count());
    tcase_add_loop_test(tc, lifetime_queues_drop_dead_methods, 0, ref_tiered_count());
    tcase_add_test(tc, lifetime_quarantine_bounded);
    tcase_add_test(tc, lifetime_lists_after_unload_reload_cycles);
    tcase_add_loop_test(tc, lifetime_threaded_churn, 0, (int)tk_strategy_count());
    return tc;
}
