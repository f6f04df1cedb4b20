/* reference/tests/test_threaded.c — threaded mode: mutator threads call
 * through slots while methods tier up, new types load and counting stubs
 * are deleted at safe points (DeleteCallCountingStubsAfter=1).  Every call
 * must land in a body of the right method.  No wall-clock assertions. */
#include "reftest.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_OBJS 16
#define ITERS 20000

typedef struct world {
    tk_runtime *rt;
    tk_type *base;
    tk_type *types[MAX_OBJS];
    tk_object *objs[MAX_OBJS];
    int64_t tag0[MAX_OBJS];
    _Atomic int n_objs;
    _Atomic long wrong;
    _Atomic long calls;
} world;

static int64_t tbody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)a1; (void)a2; (void)a3;
    (void)self;
    return (intptr_t)ctx->user * 100000 + a0;
}

static void *mutator(void *arg)
{
    world *w = arg;
    tk_thread_register(w->rt);
    unsigned x = (unsigned)(uintptr_t)pthread_self() | 1u;
    for (int i = 0; i < ITERS; i++) {
        x = x * 1103515245u + 12345u;
        int n = atomic_load_explicit(&w->n_objs, memory_order_acquire);
        int k = (int)((x >> 8) % (unsigned)n);
        tk_type *t = w->types[k];
        int64_t a = i & 1023;
        if (call_slot(tk_vtable_slot(t, 0), w->objs[k], a) != w->tag0[k] * 100000 + a) atomic_fetch_add(&w->wrong, 1);
        if (call_slot(tk_vtable_slot(t, 1), w->objs[k], a) != 2 * 100000 + a) atomic_fetch_add(&w->wrong, 1);
        atomic_fetch_add_explicit(&w->calls, 2, memory_order_relaxed);
        tk_safepoint(w->rt);
    }
    tk_thread_unregister(w->rt);
    return NULL;
}

static void add_type(world *w, int idx)
{
    char err[256];
    static char names[MAX_OBJS][24];
    snprintf(names[idx], sizeof names[idx], "T%d", idx);
    tk_override_def ov[1] = { { 0, { names[idx], tbody, (void *)(intptr_t)(10 + idx), 0 } } };
    tk_type_def d = { names[idx], w->base, 0, 0, NULL, 1, ov, 0, NULL, 0, NULL };
    tk_type *t = tk_type_define(w->rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(w->rt, t), 0);
    w->types[idx] = t;
    w->objs[idx] = tk_object_new(w->rt, t);
    w->tag0[idx] = 10 + idx;
    atomic_store_explicit(&w->n_objs, idx + 1, memory_order_release);
}

START_TEST(threaded_mutators)
{
    int s = _i;
    char err[256];
    const char *ex[] = { "CallCountingDelayMs", "1", "CallCountThreshold", "8",
                         "DeleteCallCountingStubsAfter", "1", NULL };
    world *w = calloc(1, sizeof *w);
    w->rt = rt_new_mode("threaded", tk_strategy_names[s], ex);
    tk_method_def v[2] = { { "Base.V0", tbody, (void *)1, 0 }, { "Base.V1", tbody, (void *)2, 0 } };
    tk_type_def bd = { "Base", NULL, TK_TYPE_ABSTRACT, 2, v, 0, NULL, 0, NULL, 0, NULL };
    w->base = tk_type_define(w->rt, &bd, err, sizeof err);
    ck_assert_int_eq(tk_type_load(w->rt, w->base), 0);
    for (int i = 0; i < 3; i++) add_type(w, i);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, mutator, w);
    for (int i = 3; i < 10; i++) {
        while (atomic_load(&w->calls) < (long)i * 6000) sched_yield();
        add_type(w, i);
    }
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&w->wrong), 0);
    /* Finish tiering on this thread (drain waits for the worker). */
    tk_thread_register(w->rt);
    for (int round = 0; round < 6; round++) {
        for (int k = 0; k < 10; k++)
            for (int j = 0; j < 20; j++) {
                ck_assert_int_eq(call_slot(tk_vtable_slot(w->types[k], 0), w->objs[k], j), w->tag0[k] * 100000 + j);
                ck_assert_int_eq(call_slot(tk_vtable_slot(w->types[k], 1), w->objs[k], j), 2 * 100000 + j);
                tk_safepoint(w->rt);
            }
        tk_drain(w->rt);
    }
    for (int k = 0; k < 10; k++) {
        tk_method_state st;
        tk_method_get_state(w->rt, tk_type_virtual_method(w->types[k], 0), &st);
        ck_assert_int_eq(st.tier, s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_1);
    }
    if (s != TK_STRATEGY_NOTIER) ck_assert_int_gt(tk_counter_total(w->rt, "stubs_freed_callcount"), 0);
    tk_thread_unregister(w->rt);
    for (int k = 0; k < 10; k++) tk_object_free(w->rt, w->objs[k]);
    tk_runtime_destroy(w->rt);
    free(w);
}
END_TEST

TCase *tcase_threaded(void)
{
    TCase *tc = tcase_create("threaded");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, threaded_mutators, 0, TK_STRATEGY_COUNT);
    return tc;
}
