/* reference/tiering.c — publishing code versions (CoreCLR's
 * CallCountingManager::SetCodeEntryPoint), the tiering delay, and the
 * background work (delay expiry, counting completion, compiling promoted
 * versions, stub deletion) run by tk_drain (deterministic) or the worker
 * thread (threaded).
 *
 * Where calls go at each transition is the strategy's decision
 * (reference/strategy.h, one design per file in reference/strategies/);
 * this file decides when transitions happen and which locks they hold. */
#include "strategy.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

/* Publish a native version's code as the entry point, no counting stub.
 * Code-version lock held; backpatch lock held when the strategy writes
 * slots in this version's phase (tkr_strategy_writes_slots). */
void tkr_publish_native(tk_runtime *rt, tk_method *m, tk_native_version *nv)
{
    if (m->dead) return;   /* its type unloaded: its precodes are being reclaimed (type.c) */
    void *code = atomic_load(&nv->code);
    int ph = phase_of_tier(nv->tier);
    m->counting = NULL;
    if (ph == TK_PHASE_FINAL) rt->strat->publish_final(rt, m, nv, code, ph);
    else rt->strat->publish_nonfinal(rt, m, nv, code, ph);
    atomic_store(&m->published, 1);
    tkr_announce_publish(rt, m, nv);
}

/* `publish` is announced once per native version becoming the method's
 * published version (directly or behind a counting stub). */
void tkr_announce_publish(tk_runtime *rt, tk_method *m, tk_native_version *nv)
{
    if (m->pub_nv == nv) return;
    m->pub_nv = nv;
    if (ev_on(rt)) {
        tk_event ev = {0};
        ev.kind = TK_EV_VERSION_PUBLISH; ev.method = m; ev.tier = nv->tier; ev.il_version = nv->il->id;
        ev.new_value = atomic_load(&nv->code);
        tkr_emit(rt, &ev);
    }
}

/* Reset (CoreCLR ResetCodeEntryPoint): counting stops, then the strategy
 * moves every slot back to the temporary entry point AND every precode
 * back to the prestub (PR #125359 reviewer defect: a reset that leaves a
 * retargeted precode stale; `inv.precode.no-stale-target`).  Backpatch and
 * code-version locks held. */
void tkr_reset_entry_point(tk_runtime *rt, tk_method *m)
{
    tkr_stop_counting(rt, m);
    rt->strat->reset(rt, m);
    atomic_store(&m->published, 0);
    m->pub_nv = NULL;
}

/* ---- the tiering delay ------------------------------------------------------ */

/* Records m for the current delay window, opening one if none is active.
 * Tiering lock held. */
static void record_for_delay_locked(tk_runtime *rt, tk_method *m, bool first_call)
{
    uint64_t now = tkr_now_ms(rt);
    if (!rt->delay_active) {
        /* atomic stores: optimize_queued reads these without the lock */
        __atomic_store_n(&rt->delay_active, true, __ATOMIC_RELAXED);
        __atomic_store_n(&rt->delay_gen, rt->delay_gen + 1, __ATOMIC_RELAXED);
        rt->delay_deadline_ms = now + rt->cfg.call_counting_delay_ms;
        if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_DELAY_BEGIN, NULL, TK_TIER_UNKNOWN, 0, NULL);
        tkr_work_queued_locked(rt);   /* the delay's expiry is work */
    } else if (first_call) {
        /* A method first called at a counted tier during the window
         * restarts it for a full window (`inv.tiering.delay-restart`). */
        rt->delay_deadline_ms = now + rt->cfg.call_counting_delay_ms;
        if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_DELAY_EXTEND, m, TK_TIER_UNKNOWN, 0, NULL);
    }
    /* A method still listed in a window that has ended but whose list the
     * background step has not processed yet moves to this window: the old
     * list skips it (its delay_gen no longer matches). */
    if (m->delay_gen != rt->delay_gen) {
        rt->delay_list = tkr_reserve(rt->delay_list, &rt->cap_delay, rt->n_delay + 1, sizeof *rt->delay_list, 64);
        rt->delay_list[rt->n_delay++] = m;
        m->delay_gen = rt->delay_gen;
    }
}

/* CoreCLR CallCountingManager::SetCodeEntryPoint.  Code-version lock held;
 * backpatch lock held if the transition writes slots. */
void tkr_set_code_entry_point(tk_runtime *rt, tk_method *m, tk_native_version *nv, bool first_call)
{
    if (m->dead) return;   /* nothing may point at a dead method's stubs again (type.c) */
    bool final = TK_TIER_IS_FINAL(nv->tier) || !rt->cfg.tiered_compilation;
    if (final) {
        tkr_publish_native(rt, m, nv);
        return;
    }
    /* A non-first call with no delay active installs counting: the delay
     * state is read without the lock first (atomic load), as the locked
     * check would find the same and drop the lock before installing (one
     * tiering-lock round trip less per counted version published by the
     * background compile). */
    if (rt->cfg.call_counting_delay_ms &&
        (first_call || __atomic_load_n(&rt->delay_active, __ATOMIC_RELAXED))) {
        /* CoreCLR TrySetCodeEntryPointAndRecordMethodForCallCounting: the
         * decision, the publish and the record happen under the tiering
         * lock, so the window cannot end between the decision and the
         * record (a non-first call would otherwise open a new window, and
         * the expiring window would miss the method).  Entry point first,
         * then record (`impl.publish-before-record`). */
        tkr_lock(&rt->tier_lock, TKR_LK_TIER);
        if (first_call || rt->delay_active) {
            tkr_publish_native(rt, m, nv);
            record_for_delay_locked(rt, m, first_call);
            tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
            return;
        }
        tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    }
    tkr_install_counting(rt, m, nv);
}

/* A call other than the publishing one reached the prestub: CoreCLR's
 * CallCountingManager::SetCodeEntryPoint(..., wasMethodCalled = true)
 * (src/coreclr/vm/callcounting.cpp), for a published non-final active
 * version that counts (its stub in the call path, reached around it: under
 * `forwarder` a slot not recorded yet or a loaded temporary entry point;
 * any caller that loaded a precode target just before it was retargeted)
 * or whose counting was stopped (a deletion pass, a tiering delay):
 *   - threshold already reached through the stub (completion pending):
 *     not counted; the code is published now, the stub leaves the call
 *     path, the pending completion still promotes;
 *   - a tiering delay is active: not counted; counting stops (an active
 *     stub leaves the call path), the code is published and the method
 *     recorded for the delay (not a first call: no restart), so the
 *     delay's expiry installs counting again with the remaining count;
 *   - otherwise the call is counted: at zero counting completes here,
 *     synchronously (tkr_count_prestub_call); above zero counting is
 *     (re)installed, reusing the version's stub if it still has one.
 * `inv.counting.prestub-call`, `inv.reclaim.delete-all`.  Backpatch and
 * code-version locks held.  Returns false, having done nothing, when nv is
 * not counted (final, never counted, counting complete and its code
 * published, not published, not active). */
bool tkr_set_code_entry_point_called(tk_runtime *rt, tk_method *m, tk_native_version *nv)
{
    tk_cc_info *i = nv->info;
    if (!i || m->dead || TK_TIER_IS_FINAL(nv->tier) || !atomic_load(&m->published) || m->active_il->active != nv ||
        !atomic_load(&nv->code))
        return false;
    if (i->stage >= CC_PENDING_COMPLETION) {
        if (m->counting != i) return false;
        tkr_publish_native(rt, m, nv);
        return true;
    }
    if (rt->cfg.call_counting_delay_ms) {
        tkr_lock(&rt->tier_lock, TKR_LK_TIER);
        if (rt->delay_active) {
            tkr_stop_counting(rt, m);
            tkr_publish_native(rt, m, nv);
            record_for_delay_locked(rt, m, false);
            tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
            return true;
        }
        tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    }
    if (!tkr_count_prestub_call(rt, m, nv) && m->counting != i)
        tkr_install_counting(rt, m, nv);
    return true;
}

/* ---- background work ------------------------------------------------------ */

/* The delay window ended: every method recorded in it starts counting.
 * One acquisition of the backpatch (if the strategy writes slots),
 * code-version and tiering locks for the whole list, as CoreCLR processes
 * its recorded methods in one batch (it was three to four acquisitions per
 * method).  The tiering lock is held across the installs so a method the
 * prestub re-records in a new window meanwhile cannot be claimed here too;
 * installing takes no lock of lower rank. */
static bool expire_delay(tk_runtime *rt)
{
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    if (!rt->delay_active || tkr_now_ms(rt) < rt->delay_deadline_ms) {
        tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
        return false;
    }
    uint32_t n = rt->n_delay;
    tk_method **list = rt->delay_list;
    uint64_t gen = rt->delay_gen;
    rt->delay_list = NULL; rt->n_delay = rt->cap_delay = 0;
    __atomic_store_n(&rt->delay_active, false, __ATOMIC_RELAXED);
    if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_DELAY_END, NULL, TK_TIER_UNKNOWN, 0, NULL);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (!n) { free(list); return true; }

    bool eager = tkr_strategy_writes_slots(rt->strat, TK_PHASE_NONFINAL);
    uint64_t t0 = 0;
    if (eager) tkr_bp_lock(rt, TK_PHASE_NONFINAL, &t0);
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    for (uint32_t i = 0; i < n; i++) {
        tk_method *m = list[i];
        bool mine = m->delay_gen == gen;   /* not re-recorded in a newer window */
        if (mine) m->delay_gen = 0;
        tk_native_version *nv = m->active_il->active;
        if (mine && atomic_load(&m->published) && nv && atomic_load(&nv->code) && !TK_TIER_IS_FINAL(nv->tier) &&
            !m->counting)
            tkr_install_counting(rt, m, nv);
    }
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    if (eager) tkr_bp_unlock(rt, TK_PHASE_NONFINAL, t0);
    free(list);
    return true;
}

/* Whether background work must give way to the tiering delay (CoreCLR
 * TieredCompilationManager::DoBackgroundWork stops its batch as soon as a
 * tiering delay is active, and BackgroundWorkerStart starts no work until
 * the delay is over, so tier-0 activity is not slowed by background
 * work).  Threaded mode: any active delay.  Deterministic mode: only a
 * window that began after `gen0` (the batch's start); tk_drain runs to
 * idle, so an abandoned batch resumes in the same drain (in the original
 * order), and a delay that was already active when the drain began does
 * not hold work back.  Tiering lock held. */
static bool yield_to_delay_locked(tk_runtime *rt, uint64_t gen0)
{
    if (!__atomic_load_n(&rt->delay_active, __ATOMIC_RELAXED)) return false;
    return rt->cfg.mode == TK_MODE_THREADED || __atomic_load_n(&rt->delay_gen, __ATOMIC_RELAXED) != gen0;
}

/* Puts the unprocessed tail of an abandoned optimize batch back at the
 * front of the queue.  Tiering lock held. */
static void requeue_front_locked(tk_runtime *rt, tk_native_version **rest, uint32_t n)
{
    uint32_t total = n + rt->n_opt;
    tk_native_version **q = malloc((total ? total : 1) * sizeof *q);
    if (!q) abort();
    for (uint32_t i = 0; i < n; i++) q[i] = rest[i];
    for (uint32_t i = 0; i < rt->n_opt; i++) q[n + i] = rt->opt_queue[i];
    free(rt->opt_queue);
    rt->opt_queue = q;
    rt->n_opt = rt->cap_opt = total;
}

/* ---- time slices (CoreCLR TieredCompilationManager::DoBackgroundWork) ---- */

#define TK_WORK_SLICE_MAX_MS 50u

/* The shortest slice: the processor count in ms, capped at the longest
 * (BackgroundWorkerStart's minWorkDurationTicks); at least 1 ms (the
 * reference's clock has ms resolution; a deterministic runtime without
 * PROCESSOR_COUNT has count 0). */
static uint32_t work_slice_min_ms(const tk_runtime *rt)
{
    uint32_t c = rt->cfg.processor_count;
    return c < 1 ? 1 : c > TK_WORK_SLICE_MAX_MS ? TK_WORK_SLICE_MAX_MS : c;
}

void tkr_work_slice_reset(tk_runtime *rt)
{
    rt->work_slice_ms = work_slice_min_ms(rt);
}

/* After each compiled item: once the batch has run for the current slice
 * (since *start, on the runtime's clock: the manual clock in deterministic
 * mode), the worker yields the CPU (CoreCLR sleeps 0 ms) so foreground
 * threads that want it run first, then sizes the next slice from how long
 * the yield took: a quarter of it, or three quarters of the slice before
 * if that is longer (so a slice shrinks back to the minimum only
 * gradually), within [minimum, 50 ms].  A gap since the previous item of a
 * whole maximum slice or more means the thread was descheduled meanwhile:
 * that time is discounted instead of yielding again.  The delay check
 * before the next item then stops the batch if a tiering delay began. */
static void work_slice_check(tk_runtime *rt, uint64_t *start, uint64_t *prev)
{
    uint64_t now = tkr_now_ms(rt);
    if (now - *start < rt->work_slice_ms) { *prev = now; return; }
    if (now - *prev >= TK_WORK_SLICE_MAX_MS) {
        *start += now - *prev;
        *prev = now;
        return;
    }
    if (rt->cfg.mode == TK_MODE_THREADED) sched_yield();
    void (*hook)(tk_runtime *, void *) = __atomic_load_n(&rt->dbg_yield_hook, __ATOMIC_ACQUIRE);
    if (hook) hook(rt, rt->dbg_item_hook_user);
    atomic_fetch_add_explicit(&rt->dbg_worker_yields, 1, memory_order_relaxed);
    uint64_t after = tkr_now_ms(rt);
    uint64_t measured = (after - now) / 4, decayed = ((uint64_t)rt->work_slice_ms * 3) / 4;
    uint64_t w = measured > decayed ? measured : decayed, lo = work_slice_min_ms(rt);
    rt->work_slice_ms = (uint32_t)(w < lo ? lo : w > TK_WORK_SLICE_MAX_MS ? TK_WORK_SLICE_MAX_MS : w);
    *start = *prev = after;
}

/* Compiles and publishes the queued versions, one item at a time, in time
 * slices (work_slice_check); before each item, gives way to a tiering
 * delay (yield_to_delay_locked): the rest of the batch goes back to the
 * queue.  Returns true if it did or deferred anything. */
static bool optimize_queued(tk_runtime *rt, uint64_t gen0)
{
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    uint32_t n = rt->n_opt;
    tk_native_version **q = rt->opt_queue;
    rt->opt_queue = NULL; rt->n_opt = rt->cap_opt = 0;
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (!n) return false;
    uint64_t start = tkr_now_ms(rt), prev = start;
    for (uint32_t i = 0; i < n; i++) {
        if (i) work_slice_check(rt, &start, &prev);
        void (*hook)(tk_runtime *, uint32_t, void *) = __atomic_load_n(&rt->dbg_item_hook, __ATOMIC_ACQUIRE);
        if (hook) hook(rt, i, rt->dbg_item_hook_user);
        /* The check reads the delay state without the lock (atomic loads):
         * a delay that begins just after it is seen before the next item,
         * as it would be had it begun just after a locked check; the lock
         * is taken only to give the batch back (it was one tiering-lock
         * round trip per compiled version). */
        if (yield_to_delay_locked(rt, gen0)) {
            tkr_lock(&rt->tier_lock, TKR_LK_TIER);
            requeue_front_locked(rt, q + i, n - i);
            atomic_fetch_add_explicit(&rt->dbg_batches_abandoned, 1, memory_order_relaxed);
            tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
            free(q);
            return true;
        }
        tk_native_version *nv = q[i];
        tk_method *m = nv->m;
        tkr_compile(rt, nv);
        int ph = phase_of_tier(nv->tier);
        bool need_bp = tkr_strategy_writes_slots(rt->strat, ph);
        uint64_t t0 = 0;
        if (need_bp) tkr_bp_lock(rt, ph, &t0);
        tkr_lock(&rt->cv_lock, TKR_LK_CV);
        nv->il->active = nv;
        if (m->active_il == nv->il && atomic_load(&m->published))
            tkr_set_code_entry_point(rt, m, nv, false);
        tkr_unlock(&rt->cv_lock, TKR_LK_CV);
        if (need_bp) tkr_bp_unlock(rt, ph, t0);
    }
    free(q);
    return true;
}

/* One background step: delay expiry, then (unless a tiering delay holds
 * it back) counting completion as one unit under the locks, then the
 * optimize batch item by item. */
static bool run_once(tk_runtime *rt)
{
    bool did = false;
    tkr_bg_enter(rt);   /* holds metadata outside the locks: unloaded types wait (lifetime.c) */
    did |= expire_delay(rt);
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    uint64_t gen0 = rt->delay_gen;
    bool pending = rt->n_pending && !yield_to_delay_locked(rt, gen0);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (pending) { tkr_complete_counting(rt); did = true; }
    did |= optimize_queued(rt, gen0);
    if (did) tkr_maybe_delete_stubs(rt);
    tkr_bg_exit(rt);
    return did;
}

void tkr_run_background(tk_runtime *rt)
{
    while (run_once(rt)) { }
}

/* Work was queued under the tiering lock: wake the worker, or, if none is
 * running, claim the creation of one (threaded mode).  The claim is made
 * under the same lock under which the worker decides to exit, so work
 * queued while the worker is deciding is never lost: either the worker
 * sees it, or this sees worker_running == false.  The thread itself is
 * created by tkr_worker_ensure after the caller dropped every lock
 * (`impl.lock-order`: no lock is held across thread creation).  Tiering
 * lock held. */
void tkr_work_queued_locked(tk_runtime *rt)
{
    if (rt->cfg.mode != TK_MODE_THREADED) return;
    pthread_cond_broadcast(&rt->tier_cv);
    if (rt->worker_running || rt->worker_stop) return;
    rt->worker_running = true;
    atomic_store(&rt->worker_start_pending, true);
}

/* Work the worker can start now.  While a tiering delay is active the only
 * work is its expiry: completion and compiles wait for the delay to end
 * (CoreCLR BackgroundWorkerStart), and a batch under way gives way to a
 * delay that begins (optimize_queued). */
static bool has_work_locked(tk_runtime *rt)
{
    if (rt->delay_active) return tkr_now_ms(rt) >= rt->delay_deadline_ms;
    return rt->n_pending || rt->n_opt;
}

/* An absolute deadline on CLOCK_MONOTONIC, the clock tk_runtime_create gave
 * the condition variables (a wall-clock step cannot stretch a wait). */
static void deadline_ts(struct timespec *ts, uint64_t ms_from_now)
{
    uint64_t ns = tkr_mono_ns() + ms_from_now * 1000000u;
    ts->tv_sec = (time_t)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}

/* The background worker (CoreCLR's ".NET Tiered JIT" thread, created on
 * demand): runs background work until there is none, sleeps until work
 * arrives or the delay window ends, and exits once it has been idle (no
 * work queued, no delay active) for BackgroundWorkerTimeoutMs.  The exit
 * is decided under the tiering lock (worker_running = false); work queued
 * afterwards creates a new worker (tkr_work_queued_locked). */
static void *worker_main(void *arg)
{
    tk_runtime *rt = arg;
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    /* Record this thread as the one to join; join the previous worker,
     * which had already decided to exit (worker_running was false when
     * this one was claimed), so destroy joins only the last worker. */
    pthread_t prev = rt->worker;
    bool had_prev = rt->worker_joinable;
    rt->worker = pthread_self();
    rt->worker_joinable = true;
    tkr_work_slice_reset(rt);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    atomic_fetch_add_explicit(&rt->dbg_worker_starts, 1, memory_order_relaxed);
    if (had_prev) pthread_join(prev, NULL);

    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    bool idle = false;
    struct timespec idle_until;
    while (!rt->worker_stop) {
        if (has_work_locked(rt)) {
            rt->worker_busy = true;
            idle = false;
            tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
            run_once(rt);
            tkr_lock(&rt->tier_lock, TKR_LK_TIER);
            continue;
        }
        rt->worker_busy = false;
        pthread_cond_broadcast(&rt->idle_cv);
        if (rt->delay_active) {
            /* Not idle: the delay's expiry is pending work. */
            idle = false;
            uint64_t now = tkr_now_ms(rt);
            struct timespec ts;
            deadline_ts(&ts, rt->delay_deadline_ms > now ? rt->delay_deadline_ms - now : 0);
            pthread_cond_timedwait(&rt->tier_cv, &rt->tier_lock, &ts);
            continue;
        }
        if (!idle) {
            idle = true;
            deadline_ts(&idle_until, rt->cfg.worker_timeout_ms);
        }
        /* Idle: wait for work (every producer broadcasts tier_cv under
         * this lock); when the idle time is used up with nothing to do,
         * exit (the loop re-checks for work first after every wake-up). */
        if (pthread_cond_timedwait(&rt->tier_cv, &rt->tier_lock, &idle_until) == ETIMEDOUT &&
            !has_work_locked(rt) && !rt->delay_active)
            break;
    }
    rt->worker_running = false;
    rt->worker_busy = false;
    atomic_fetch_add_explicit(&rt->dbg_worker_exits, 1, memory_order_relaxed);
    pthread_cond_broadcast(&rt->idle_cv);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    return NULL;
}

/* Creates the worker whose creation was claimed (tkr_work_queued_locked),
 * if that has not been done yet.  Called with no lock held (checked).
 * Returns false if a claimed creation failed. */
static bool worker_create_claimed(tk_runtime *rt)
{
    if (rt->cfg.mode != TK_MODE_THREADED || !atomic_load(&rt->worker_start_pending)) return true;
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    bool mine = atomic_exchange(&rt->worker_start_pending, false);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (!mine) return true;
    tkr_check_no_locks("background worker creation");
    pthread_t th;
    if (pthread_create(&th, NULL, worker_main, rt) == 0) return true;   /* the worker records and is joined itself */
    /* No worker: give the claim back; the next producer or tk_drain retries. */
    static _Atomic int warned;
    if (!atomic_exchange(&warned, 1)) fprintf(stderr, "tierkit: cannot create the background worker\n");
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    rt->worker_running = false;
    pthread_cond_broadcast(&rt->idle_cv);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    return false;
}

void tkr_worker_ensure(tk_runtime *rt)
{
    (void)worker_create_claimed(rt);
}

/* Runtime destroy: stop and join whichever worker exists (a claimed
 * creation not yet taken up is cancelled; one under way is waited for). */
void tkr_worker_stop(tk_runtime *rt)
{
    bool was_online = tkr_begin_offline();
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    rt->worker_stop = true;
    pthread_cond_broadcast(&rt->tier_cv);
    if (atomic_exchange(&rt->worker_start_pending, false)) rt->worker_running = false;
    while (rt->worker_running) pthread_cond_wait(&rt->idle_cv, &rt->tier_lock);
    bool join = rt->worker_joinable;
    pthread_t th = rt->worker;
    rt->worker_joinable = false;
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (join) pthread_join(th, NULL);
    tkr_end_offline(was_online);
}

void tk_drain(tk_runtime *rt)
{
    if (rt->cfg.mode == TK_MODE_DETERMINISTIC) {
        tkr_run_background(rt);
        return;
    }
    bool was_online = tkr_begin_offline();   /* never block reclamation while waiting */
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    /* Every producer of work wakes (or creates) the worker under the
     * tiering lock and the worker broadcasts idle_cv each time it goes idle
     * or exits, so this waits on the condvar instead of polling (the
     * deadline only bounds a wait against a missed broadcast; it does not
     * wake the worker).  Work without a worker (its creation failed) claims
     * one, created here with the lock dropped. */
    for (;;) {
        bool work = rt->n_pending || rt->n_opt || rt->delay_active;
        if (work && !rt->worker_running) tkr_work_queued_locked(rt);
        if (atomic_load(&rt->worker_start_pending)) {
            tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
            bool ok = worker_create_claimed(rt);
            tkr_lock(&rt->tier_lock, TKR_LK_TIER);
            if (ok) continue;
        }
        if (!rt->worker_busy && !work) break;
        struct timespec ts;
        deadline_ts(&ts, 100);
        pthread_cond_timedwait(&rt->idle_cv, &rt->tier_lock, &ts);
    }
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    tkr_end_offline(was_online);
}
