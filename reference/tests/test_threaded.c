/* reference/tests/test_threaded.c — threaded mode: mutator threads call
 * through slots while methods tier up, new types load and counting stubs
 * are deleted at safe points (DeleteCallCountingStubsAfter=1).  Every call
 * must land in a body of the right method.  The background worker exits
 * after BackgroundWorkerTimeoutMs of idleness and is created again when
 * work arrives, without losing work queued around its exit (these tests
 * read the worker's internal start/exit counts through rt_internal.h).
 * No wall-clock assertions (only generous bounded polling). */
#include "reftest.h"
#include "../rt_internal.h"
#include "../../arch/tests/fault_seam.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

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

/* ---- the worker's lifetime (CoreCLR: the ".NET Tiered JIT" thread exits
 * after TC_BackgroundWorkerTimeoutMs idle and is created again on demand) -- */

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

/* Polls (offline, generous bound) until *v >= want; returns whether it got there. */
static bool wait_u64_ge(tk_runtime *rt, _Atomic uint64_t *v, uint64_t want)
{
    tk_thread_offline(rt);
    for (long i = 0; i < 60000 && atomic_load(v) < want; i++) sleep_us(1000);
    tk_thread_online(rt);
    return atomic_load(v) >= want;
}

static int32_t tier_of(tk_runtime *rt, tk_method *m)
{
    tk_method_state st;
    tk_method_get_state(rt, m, &st);
    return st.tier;
}

/* Calls m in rounds, draining after each, until it reaches Tier1 (bounded). */
static void promote_to_tier1(tk_runtime *rt, tk_method *m, int64_t tag)
{
    void **slot = tk_method_slot(m);
    for (int round = 0; round < 200 && tier_of(rt, m) != TK_TIER_1; round++) {
        for (int j = 0; j < 8; j++) {
            ck_assert_int_eq(call_slot(slot, NULL, j), tag * 100000 + j);
            tk_safepoint(rt);
        }
        tk_drain(rt);
    }
    ck_assert_int_eq(tier_of(rt, m), TK_TIER_1);
}

START_TEST(worker_exits_when_idle_and_restarts)
{
    int s = ref_tiered(_i);
    char err[256];
    const char *ex[] = { "BackgroundWorkerTimeoutMs", "20", "CallCountingDelayMs", "1",
                         "CallCountThreshold", "4", NULL };
    tk_runtime *rt = rt_new_mode("threaded", tk_strategy_names[s], ex);
    uint64_t v0 = atomic_load(&tkr_lock_order_violations);
    tk_method_def n[2] = { { "W.A", tbody, (void *)1, 0 }, { "W.B", tbody, (void *)2, 0 } };
    tk_type_def d = { "W", NULL, 0, 0, NULL, 0, NULL, 2, n, 0, NULL };
    tk_type *t = tk_type_define(rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(rt, t), 0);
    tk_thread_register(rt);
    /* No work, no worker: it is created on demand. */
    ck_assert_uint_eq(atomic_load(&rt->dbg_worker_starts), 0);

    tk_method *a = tk_type_nonvirtual_method(t, 0), *b = tk_type_nonvirtual_method(t, 1);
    promote_to_tier1(rt, a, 1);
    ck_assert_uint_ge(atomic_load(&rt->dbg_worker_starts), 1);
    /* Idle for BackgroundWorkerTimeoutMs: the worker exits. */
    ck_assert_msg(wait_u64_ge(rt, &rt->dbg_worker_exits, 1), "the idle worker did not exit");
    ck_assert_msg(wait_u64_ge(rt, &rt->dbg_worker_exits, atomic_load(&rt->dbg_worker_starts)),
                  "a worker is still running after the work finished");
    uint64_t starts = atomic_load(&rt->dbg_worker_starts), exits = atomic_load(&rt->dbg_worker_exits);

    /* New work (a new method's first call opens a delay; then threshold
     * calls) starts a new worker, and the promotion completes. */
    ck_assert_int_eq(call_slot(tk_method_slot(b), NULL, 5), 2 * 100000 + 5);
    ck_assert_msg(wait_u64_ge(rt, &rt->dbg_worker_starts, starts + 1), "no worker for new work");
    promote_to_tier1(rt, b, 2);
    ck_assert_int_eq(tier_of(rt, a), TK_TIER_1);
    ck_assert_msg(wait_u64_ge(rt, &rt->dbg_worker_exits, exits + 1), "the second worker did not exit");
    ck_assert_uint_eq(atomic_load(&tkr_lock_order_violations), v0);
    tk_thread_unregister(rt);
    tk_runtime_destroy(rt);
}
END_TEST

/* Threads of this process (/proc/self/task), to see that a runtime leaves
 * none behind. */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL; ) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

START_TEST(worker_destroy_joins_running_worker)
{
    /* Destroy while a worker exists (long idle timeout): it is stopped and
     * joined, so the process has the threads it had before the runtime
     * (SPEC.md "Reference runtime": tk_runtime_destroy stops the worker). */
    int threads0 = thread_count();
    char err[256];
    const char *ex[] = { "BackgroundWorkerTimeoutMs", "3600000", "CallCountingDelayMs", "0",
                         "CallCountThreshold", "2", NULL };
    tk_runtime *rt = rt_new_mode("threaded", "lazy", ex);
    tk_method_def n[1] = { { "J.A", tbody, (void *)3, 0 } };
    tk_type_def d = { "J", NULL, 0, 0, NULL, 0, NULL, 1, n, 0, NULL };
    tk_type *t = tk_type_define(rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(rt, t), 0);
    void **slot = tk_method_slot(tk_type_nonvirtual_method(t, 0));
    for (int j = 0; j < 4; j++) ck_assert_int_eq(call_slot(slot, NULL, j), 3 * 100000 + j);
    tk_drain(rt);
    ck_assert_uint_eq(atomic_load(&rt->dbg_worker_starts), 1);
    ck_assert_uint_eq(atomic_load(&rt->dbg_worker_exits), 0);
    ck_assert_int_eq(thread_count(), threads0 + 1);   /* the worker, idle for an hour */
    tk_runtime_destroy(rt);
    ck_assert_msg(thread_count() == threads0, "%d thread(s) left after tk_runtime_destroy (%d before the runtime)",
                  thread_count(), threads0);
}
END_TEST

/* The worker exits only after BackgroundWorkerTimeoutMs of idleness
 * (SPEC.md "Configuration keys", CoreCLR's TC_BackgroundWorkerTimeoutMs):
 * with an hour's timeout, an idle worker is still there a while later and
 * serves the next work itself (one worker start in all).  The pause is a
 * window for a premature exit to show, not a measured time: the correct
 * runtime passes however slow the host. */
START_TEST(worker_stays_for_its_idle_timeout)
{
    char err[256];
    const char *ex[] = { "BackgroundWorkerTimeoutMs", "3600000", "CallCountingDelayMs", "0",
                         "CallCountThreshold", "2", NULL };
    tk_runtime *rt = rt_new_mode("threaded", "lazy", ex);
    tk_method_def n[2] = { { "K.A", tbody, (void *)4, 0 }, { "K.B", tbody, (void *)5, 0 } };
    tk_type_def d = { "K", NULL, 0, 0, NULL, 0, NULL, 2, n, 0, NULL };
    tk_type *t = tk_type_define(rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(rt, t), 0);
    for (int m = 0; m < 2; m++) {
        void **slot = tk_method_slot(tk_type_nonvirtual_method(t, (uint32_t)m));
        for (int j = 0; j < 4; j++) ck_assert_int_eq(call_slot(slot, NULL, j), (4 + m) * 100000 + j);
        tk_drain(rt);
        for (int i = 0; i < 300 && atomic_load(&rt->dbg_worker_exits) == 0; i++) sleep_us(1000);
        ck_assert_msg(atomic_load(&rt->dbg_worker_exits) == 0,
                      "the worker exited after idling well under its 3600000 ms timeout (work batch %d)", m + 1);
    }
    ck_assert_uint_eq(atomic_load(&rt->dbg_worker_starts), 1);
    tk_runtime_destroy(rt);
}
END_TEST

/* tk_drain waits on a condition variable that the worker signals when it
 * goes idle (SPEC "Modes": no polling; the wait's deadline only bounds a
 * missed signal).  The worker compiles for 20 ms (CompileCostUs, a busy
 * wait in threaded mode) while the drain waits, and stays (an hour's idle
 * timeout), so only its going idle can end the wait before its 100 ms
 * deadline.  A loaded host may make one round slow: one round of five
 * whose drain waited and was woken without a timeout is required. */
START_TEST(drain_woken_when_worker_goes_idle)
{
    char err[256];
    const char *ex[] = { "BackgroundWorkerTimeoutMs", "3600000", "CallCountingDelayMs", "0",
                         "CallCountThreshold", "1", "TieredPGO", "0", "CompileCostUs", "20000", NULL };
    tk_runtime *rt = rt_new_mode("threaded", "lazy", ex);
    enum { ROUNDS = 5 };
    tk_method_def n[ROUNDS];
    char names[ROUNDS][16];
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(names[i], sizeof names[i], "W.M%d", i);
        n[i] = (tk_method_def){ names[i], tbody, (void *)(intptr_t)(10 + i), 0 };
    }
    tk_type_def d = { "W", NULL, 0, 0, NULL, 0, NULL, ROUNDS, n, 0, NULL };
    tk_type *t = tk_type_define(rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(rt, t), 0);
    int clean = 0, waited = 0;
    for (int i = 0; i < ROUNDS; i++) {
        tk_method *m = tk_type_nonvirtual_method(t, (uint32_t)i);
        void **slot = tk_method_slot(m);
        for (int j = 0; j < 3; j++) ck_assert_int_eq(call_slot(slot, NULL, j), (10 + i) * 100000 + j);
        unsigned long to0, to1;
        unsigned long w0 = tkf_cond_waits(&to0);
        tk_drain(rt);
        unsigned long w1 = tkf_cond_waits(&to1);
        tk_method_state st;
        tk_method_get_state(rt, m, &st);
        ck_assert_int_eq(st.tier, TK_TIER_1);
        if (w1 > w0) {
            waited++;
            clean += to1 == to0;
        }
    }
    ck_assert_msg(waited > 0, "no drain had to wait for the worker");
    ck_assert_msg(clean > 0, "every one of %d drains that waited ended by its deadline: the worker never signalled "
                  "that it went idle", waited);
    ck_assert_uint_eq(atomic_load(&rt->dbg_worker_starts), 1);
    tk_runtime_destroy(rt);
}
END_TEST

/* Producers queue work in short bursts with tiny pauses while the worker
 * (BackgroundWorkerTimeoutMs = 1) keeps deciding to exit: no queued work
 * may be lost.  Nothing here calls tk_drain (which would create a missing
 * worker itself): every method must reach Tier1 by the worker alone. */
#define STRESS_THREADS 2
#define STRESS_METHODS 48

typedef struct stress {
    tk_runtime *rt;
    tk_method *m[STRESS_THREADS][STRESS_METHODS];
    _Atomic long wrong;
    _Atomic long stuck;
} stress;

typedef struct stress_arg { stress *st; int idx; } stress_arg;

static void *stress_producer(void *arg)
{
    stress_arg *sa = arg;
    stress *st = sa->st;
    tk_runtime *rt = st->rt;
    tk_thread_register(rt);
    unsigned x = 2654435761u * (unsigned)(sa->idx + 1);
    for (int k = 0; k < STRESS_METHODS; k++) {
        tk_method *m = st->m[sa->idx][k];
        int64_t tag = 100 + sa->idx * STRESS_METHODS + k;
        void **slot = tk_method_slot(m);
        long rounds = 0;
        while (tier_of(rt, m) != TK_TIER_1) {
            for (int j = 0; j < 3; j++)
                if (call_slot(slot, NULL, j) != tag * 100000 + j) atomic_fetch_add(&st->wrong, 1);
            tk_safepoint(rt);
            x = x * 1103515245u + 12345u;
            /* pause 0..3 ms: around the 1 ms idle timeout */
            tk_thread_offline(rt);
            sleep_us((long)((x >> 8) % 3000));
            tk_thread_online(rt);
            if (++rounds > 8000) { atomic_fetch_add(&st->stuck, 1); break; }
        }
    }
    tk_thread_unregister(rt);
    return NULL;
}

START_TEST(worker_restart_loses_no_work)
{
    int s = ref_tiered(_i);
    char err[256];
    const char *ex[] = { "BackgroundWorkerTimeoutMs", "1", "CallCountingDelayMs", (s & 1) ? "1" : "0",
                         "CallCountThreshold", "2", NULL };
    stress *st = calloc(1, sizeof *st);
    st->rt = rt_new_mode("threaded", tk_strategy_names[s], ex);
    tk_runtime *rt = st->rt;
    uint64_t v0 = atomic_load(&tkr_lock_order_violations);
    static char names[STRESS_THREADS * STRESS_METHODS][24];
    tk_method_def n[STRESS_THREADS * STRESS_METHODS];
    for (int i = 0; i < STRESS_THREADS * STRESS_METHODS; i++) {
        snprintf(names[i], sizeof names[i], "S.M%d", i);
        n[i] = (tk_method_def){ names[i], tbody, (void *)(intptr_t)(100 + i), 0 };
    }
    tk_type_def d = { "S", NULL, 0, 0, NULL, 0, NULL, STRESS_THREADS * STRESS_METHODS, n, 0, NULL };
    tk_type *t = tk_type_define(rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(rt, t), 0);
    for (int i = 0; i < STRESS_THREADS; i++)
        for (int k = 0; k < STRESS_METHODS; k++)
            st->m[i][k] = tk_type_nonvirtual_method(t, (uint32_t)(i * STRESS_METHODS + k));
    pthread_t th[STRESS_THREADS];
    stress_arg args[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        args[i] = (stress_arg){ st, i };
        pthread_create(&th[i], NULL, stress_producer, &args[i]);
    }
    for (int i = 0; i < STRESS_THREADS; i++) pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&st->wrong), 0);
    ck_assert_msg(atomic_load(&st->stuck) == 0, "%ld methods never reached Tier1 (lost work)",
                  atomic_load(&st->stuck));
    for (int i = 0; i < STRESS_THREADS; i++)
        for (int k = 0; k < STRESS_METHODS; k++) ck_assert_int_eq(tier_of(rt, st->m[i][k]), TK_TIER_1);
    /* The worker came and went repeatedly, and is gone when idle. */
    ck_assert_uint_ge(atomic_load(&rt->dbg_worker_starts), 2);
    ck_assert_msg(wait_u64_ge(rt, &rt->dbg_worker_exits, atomic_load(&rt->dbg_worker_starts)),
                  "a worker is still running after the work finished");
    ck_assert_uint_eq(atomic_load(&tkr_lock_order_violations), v0);
    tk_runtime_destroy(rt);
    free(st);
}
END_TEST

TCase *tcase_threaded(void)
{
    TCase *tc = tcase_create("threaded");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, threaded_mutators, 0, (int)tk_strategy_count());
    tcase_add_loop_test(tc, worker_exits_when_idle_and_restarts, 0, ref_tiered_count());
    tcase_add_test(tc, worker_destroy_joins_running_worker);
    tcase_add_test(tc, worker_stays_for_its_idle_timeout);
    tcase_add_test(tc, drain_woken_when_worker_goes_idle);
    tcase_add_loop_test(tc, worker_restart_loses_no_work, 0, ref_tiered_count());
    return tc;
}
