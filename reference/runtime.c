/* reference/runtime.c — runtime lifetime, the locks, the clock and mutator
 * threads (liburcu QSBR: a thread's quiescent states are its tk_safepoint()
 * calls; stub deletion waits for all of them, SPEC `inv.reclaim.wait-safepoint`). */
#include "strategy.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>

static pthread_once_t g_handlers_once = PTHREAD_ONCE_INIT;

/* The trampolines' handlers are process-wide; tokens (method, cell) lead
 * back to their runtime, so one registration serves every instance. */
static void install_handlers(void)
{
    tk_set_prestub_handler(tkr_prestub_handler);
    tk_set_threshold_handler(tkr_threshold_handler);
}

uint64_t tkr_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t tkr_now_ms(tk_runtime *rt)
{
    if (rt->cfg.mode == TK_MODE_DETERMINISTIC) return atomic_load(&rt->now_ms);
    return tkr_mono_ns() / 1000000ull;
}

uint64_t tk_clock_now_ms(tk_runtime *rt) { return tkr_now_ms(rt); }

static _Atomic uint32_t g_next_tid = 1;
static _Thread_local uint32_t t_tid;
static _Thread_local int t_rcu_registered;
static _Thread_local bool t_rcu_offline;   /* registered thread is offline */

uint32_t tkr_thread_id(void)
{
    if (!t_tid) t_tid = atomic_fetch_add(&g_next_tid, 1);
    return t_tid;
}

bool tkr_thread_registered(void) { return t_rcu_registered > 0; }

/* ---- lock ranks (SPEC `impl.lock-order`) ----------------------------------
 * backpatch -> code-version -> tiering -> object lists -> code heap -> events.
 * t_locks_held has bit `rank` set while this thread holds that lock (of any
 * runtime: one thread never works on two runtimes at once).  Built with
 * TK_LOCK_RANK_CHECK only (libtierkit.a, which the reference tests link,
 * and the sanitizer builds): in the driver library every acquisition is a
 * plain mutex operation, without the thread-local bookkeeping (two
 * __tls_get_addr calls per acquisition in a shared object). */
#ifdef TK_LOCK_RANK_CHECK
static _Thread_local uint32_t t_locks_held;
_Atomic uint64_t tkr_lock_order_violations;

static void lock_rank_check(int rank)
{
    if (!(t_locks_held & ~((1u << rank) - 1u))) return;
    if (atomic_fetch_add(&tkr_lock_order_violations, 1) == 0)
        fprintf(stderr, "tierkit: lock-order violation (impl.lock-order): taking rank %d while holding mask 0x%x\n",
                rank, t_locks_held);
}

void tkr_lock(pthread_mutex_t *mu, int rank)
{
    lock_rank_check(rank);
    pthread_mutex_lock(mu);
    t_locks_held |= 1u << rank;
}

/* A thread releases only a lock it holds: a release of a rank this thread
 * does not hold (a missing or misplaced tkr_lock) is a violation too. */
void tkr_unlock(pthread_mutex_t *mu, int rank)
{
    if (!(t_locks_held & (1u << rank)) && atomic_fetch_add(&tkr_lock_order_violations, 1) == 0)
        fprintf(stderr, "tierkit: lock-order violation (impl.lock-order): releasing rank %d, not held (mask 0x%x)\n",
                rank, t_locks_held);
    t_locks_held &= ~(1u << rank);
    pthread_mutex_unlock(mu);
}

uint32_t tkr_locks_held(void) { return t_locks_held; }

/* No runtime lock may be held across thread creation or synchronize_rcu()
 * (`impl.lock-order`): the held-rank mask must be empty there. */
void tkr_check_no_locks(const char *what)
{
    if (!t_locks_held) return;
    if (atomic_fetch_add(&tkr_lock_order_violations, 1) == 0)
        fprintf(stderr, "tierkit: lock-order violation (impl.lock-order): %s while holding mask 0x%x\n",
                what, t_locks_held);
}
#else
#define lock_rank_check(rank) ((void)0)
#endif

/* The backpatch lock: counted (acquisitions, trylock failures, hold time). */
void tkr_bp_lock(tk_runtime *rt, int phase, uint64_t *t0)
{
    lock_rank_check(TKR_LK_BP);
    if (pthread_mutex_trylock(&rt->bp_lock) != 0) {
        ctr_add(rt, C_LOCK_CONTENDED, phase, 1);
        pthread_mutex_lock(&rt->bp_lock);
    }
#ifdef TK_LOCK_RANK_CHECK
    t_locks_held |= 1u << TKR_LK_BP;
#endif
    ctr_add(rt, C_LOCK_ACQ, phase, 1);
    *t0 = tkr_mono_ns();
    if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_LOCK_ACQUIRE, NULL, TK_TIER_UNKNOWN, 0, NULL);
}

void tkr_bp_unlock(tk_runtime *rt, int phase, uint64_t t0)
{
    if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_LOCK_RELEASE, NULL, TK_TIER_UNKNOWN, 0, NULL);
    ctr_add(rt, C_LOCK_HOLD_NS, phase, tkr_mono_ns() - t0);
#ifdef TK_LOCK_RANK_CHECK
    t_locks_held &= ~(1u << TKR_LK_BP);
#endif
    pthread_mutex_unlock(&rt->bp_lock);
}

tk_runtime *tk_runtime_create(const tk_config *cfg, char *err, size_t errlen)
{
    tk_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) { snprintf(err, errlen, "out of memory"); return NULL; }
    if (cfg) rt->cfg = *cfg; else tk_config_defaults(&rt->cfg);
    tkr_config_effective(&rt->cfg);
    tkr_work_slice_reset(rt);
    if ((size_t)rt->cfg.strategy >= tkr_strategy_table_len) {
        if (err && errlen) snprintf(err, errlen, "config: invalid value %d for key Strategy (allowed: 0..%zu)",
                                    (int)rt->cfg.strategy, tkr_strategy_table_len - 1);
        free(rt);
        return NULL;
    }
    rt->strat = tkr_strategy_table[rt->cfg.strategy];
    if (rt->strat->version != TK_STRATEGY_OPS_VERSION || !rt->strat->publish_nonfinal || !rt->strat->publish_final ||
        !rt->strat->reset || (rt->strat->tiered && !rt->strat->install_counting)) {
        if (err && errlen) snprintf(err, errlen, "strategy '%s': incomplete tk_strategy_ops (version %u, this runtime "
                                    "needs %u; see reference/strategy.h)", tk_strategy_names[rt->cfg.strategy],
                                    rt->strat->version, TK_STRATEGY_OPS_VERSION);
        free(rt);
        return NULL;
    }
    pthread_once(&g_handlers_once, install_handlers);
    rt->fixup_heap = tk_stub_heap_create(TK_STUB_FIXUP);
    rt->cc_heap = tk_stub_heap_create(TK_STUB_CALLCOUNT);
    rt->code_heap = tk_code_heap_create();
    if (!rt->fixup_heap || !rt->cc_heap || !rt->code_heap) {
        if (err && errlen) snprintf(err, errlen, "cannot create stub/code heaps");
        goto fail;
    }
    pthread_mutex_init(&rt->bp_lock, NULL);
    pthread_mutex_init(&rt->cv_lock, NULL);
    pthread_mutex_init(&rt->tier_lock, NULL);
    pthread_mutex_init(&rt->obj_mtx, NULL);
    pthread_mutex_init(&rt->ev_mtx, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rt->tier_cv, &ca);
    pthread_cond_init(&rt->idle_cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&rt->next_method_id, 1);
    if (rt->cfg.trace_path[0] && tkr_trace_open(rt)) {
        if (err && errlen) snprintf(err, errlen, "config: cannot open trace file '%s' for key Trace", rt->cfg.trace_path);
        goto fail;
    }
    /* Threaded mode: no worker yet; the first queued work creates it. */
    return rt;
fail:
    if (rt->fixup_heap) tk_stub_heap_destroy(rt->fixup_heap);
    if (rt->cc_heap) tk_stub_heap_destroy(rt->cc_heap);
    if (rt->code_heap) tk_code_heap_destroy(rt->code_heap);
    free(rt);
    return NULL;
}

const tk_config *tk_runtime_config(const tk_runtime *rt) { return &rt->cfg; }

void tk_runtime_destroy(tk_runtime *rt)
{
    if (!rt) return;
    if (rt->cfg.mode == TK_MODE_THREADED) tkr_worker_stop(rt);
    tkr_trace_close(rt);
    tkr_free_infos(rt);
    free(rt->pending);
    tkr_free_all_types(rt);
    free(rt->delay_list);
    free(rt->opt_queue);
    tk_stub_heap_destroy(rt->fixup_heap);
    tk_stub_heap_destroy(rt->cc_heap);
    tk_code_heap_destroy(rt->code_heap);
    free(rt);
}

/* ---- mutator threads ------------------------------------------------------ */

void tk_thread_register(tk_runtime *rt)
{
    (void)rt;
    if (t_rcu_registered++ == 0) { rcu_register_thread(); t_rcu_offline = false; }
    tkr_thread_id();
}

void tk_thread_unregister(tk_runtime *rt)
{
    (void)rt;
    if (t_rcu_registered > 0 && --t_rcu_registered == 0) {
        if (t_rcu_offline) { rcu_thread_online(); t_rcu_offline = false; }
        rcu_unregister_thread();
    }
}

void tk_safepoint(tk_runtime *rt)
{
    (void)rt;
    if (t_rcu_registered && !t_rcu_offline) rcu_quiescent_state();
}

void tk_thread_offline(tk_runtime *rt)
{
    (void)rt;
    if (t_rcu_registered && !t_rcu_offline) { rcu_thread_offline(); t_rcu_offline = true; }
}

void tk_thread_online(tk_runtime *rt)
{
    (void)rt;
    if (t_rcu_registered && t_rcu_offline) { rcu_thread_online(); t_rcu_offline = false; }
}

/* A blocking wait inside the runtime (synchronize_rcu, joining or waiting
 * for the worker) must not keep the caller online, and must leave a thread
 * that was already offline offline. */
bool tkr_begin_offline(void)
{
    if (!t_rcu_registered || t_rcu_offline) return false;
    rcu_thread_offline();
    t_rcu_offline = true;
    return true;
}

void tkr_end_offline(bool was_online)
{
    if (!was_online) return;
    rcu_thread_online();
    t_rcu_offline = false;
}

void tk_clock_advance(tk_runtime *rt, uint64_t ms)
{
    if (rt->cfg.mode == TK_MODE_DETERMINISTIC) atomic_fetch_add(&rt->now_ms, ms);
}
