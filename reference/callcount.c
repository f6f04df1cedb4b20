/* reference/callcount.c — call counting (CoreCLR CallCountingManager):
 * one info per native version with a 16-bit countdown cell, a counting
 * stub whose token is the cell, the threshold handler, completion in
 * batches on the background worker, promotion, and deletion of stubs at
 * safe points.  An info outlives its stub: the threshold handler derives
 * the info from the cell, which may come from a stub that is being deleted
 * (`impl.info-outlives-stub`); the info of a completed version is freed
 * only by a deletion pass, after its stub and after the same safe-point
 * wait (CoreCLR's DeleteAllCallCountingStubs deletes Complete infos). */
#include "strategy.h"

#include <malloc.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

/* Bytes an info occupies: its allocator chunk (counting_info_bytes). */
static uint64_t info_bytes(tk_cc_info *i)
{
    return (uint64_t)malloc_usable_size(i) + sizeof(size_t);
}

static void info_free(tk_runtime *rt, tk_cc_info *i)
{
    ctr_sub(rt, C_COUNTING_INFO_BYTES, TK_PHASE_FINAL, info_bytes(i));
    free(i);
}

/* An unloaded type's infos (lifetime.c) */
void tkr_info_free(tk_runtime *rt, tk_cc_info *i) { info_free(rt, i); }

static tk_cc_info *info_of_cell(void *cell)
{
    return (tk_cc_info *)((char *)cell - offsetof(tk_cc_info, cell));
}

static void account_counted(tk_runtime *rt, tk_cc_info *i)
{
    uint16_t left = __atomic_load_n(&i->cell, __ATOMIC_RELAXED);
    uint16_t used = (uint16_t)(i->initial - left);
    ctr_add(rt, C_CALLS_COUNTED, phase_of_tier(i->nv->tier), used);
    i->initial = left;    /* a resumed stub continues from here */
}

/* Puts a counting stub into the call path of `m` for native version nv,
 * the way the strategy routes calls (its install_counting; never through a
 * slot: `inv.slot.no-deletable-stub`).  Code-version lock held; backpatch
 * lock held when the strategy's non-final transitions write slots. */
void tkr_install_counting(tk_runtime *rt, tk_method *m, tk_native_version *nv)
{
    if (m->dead) return;   /* its type unloaded: no new stub (type.c reclaims the old ones) */
    tk_cc_info *info = nv->info;
    if (nv->counting_done || (info && info->stage >= CC_PENDING_COMPLETION)) {
        tkr_publish_native(rt, m, nv);
        return;
    }
    if (!info) {
        info = calloc(1, sizeof *info);
        if (!info) abort();
        ctr_add(rt, C_COUNTING_INFO_BYTES, TK_PHASE_FINAL, info_bytes(info));
        if (!m->was_counted) {
            m->was_counted = true;
            ctr_add(rt, C_METHODS_COUNTED, TK_PHASE_FINAL, 1);
        }
        uint16_t thr = (uint16_t)rt->cfg.call_count_threshold;
        info->initial = thr;
        info->cell = thr;
        info->stage = CC_NOT_ACTIVE;
        /* Release: the threshold handler reaches the info through the
         * stub's data page (read by stub code), then acquires these. */
        __atomic_store_n(&info->nv, nv, __ATOMIC_RELEASE);
        nv->info = info;
    }
    void *code = atomic_load(&nv->code);
    if (!info->stub)
        info->stub = tkr_stub_alloc(rt, TK_STUB_CALLCOUNT, &info->cell, code, m, nv->tier, nv->il->id);
    void *stub = info->stub;
    int ph = phase_of_tier(nv->tier);
    rt->strat->install_counting(rt, m, nv, stub, ph);
    info->stage = CC_MAY_BE_ACTIVE;
    m->counting = info;
    atomic_store(&m->published, 1);
    tkr_announce_publish(rt, m, nv);
    if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_COUNTING_BEGIN, m, nv->tier, nv->il->id, NULL);
}

/* The threshold was reached for info: queue it for completion unless it
 * is already pending or complete (the stage check makes repeated triggers
 * harmless: `inv.counting.threshold-once`).  Code-version lock held.
 * Returns true if this call queued it. */
static bool queue_completion_locked(tk_runtime *rt, tk_cc_info *info)
{
    if (info->stage >= CC_PENDING_COMPLETION) return false;
    info->stage = CC_PENDING_COMPLETION;
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    rt->pending = tkr_reserve(rt->pending, &rt->cap_pending, rt->n_pending + 1, sizeof *rt->pending, 64);
    rt->pending[rt->n_pending++] = info;
    tkr_work_queued_locked(rt);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    return true;
}

/* Threshold trampoline handler; token = the cell.  Queues completion and
 * returns the counted version's code, so this call runs it. */
void *tkr_threshold_handler(void *token, tk_arch_regs *regs)
{
    (void)regs;
    tk_cc_info *info = info_of_cell(token);   /* before anything else */
    tk_native_version *nv = __atomic_load_n(&info->nv, __ATOMIC_ACQUIRE);
    tk_runtime *rt = nv->m->rt;
    ctr_add(rt, C_THRESHOLD_HITS, phase_of_tier(nv->tier), 1);
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    bool queued = queue_completion_locked(rt, info);
    /* Logged under the code-version lock, which completion (and so the
     * `promote` it logs) also takes: once the lock is released the worker
     * may complete and promote at once, and an event logged after that
     * would order `threshold` after `promote`
     * (`inv.tiering.promotion-after-threshold`). */
    if (queued && ev_on(rt)) tkr_ev_simple(rt, TK_EV_THRESHOLD, nv->m, nv->tier, nv->il->id, NULL);
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    tkr_worker_ensure(rt);   /* no lock held: create a worker if queuing claimed one */
    return atomic_load(&nv->code);
}

/* AsyncPromoteToTier1, first half: the native version of the next tier,
 * or NULL if the IL version already has final code or the next tier's
 * version exists.  Code-version lock held. */
static tk_native_version *promoted_version(tk_runtime *rt, tk_native_version *nv)
{
    tk_il_version *il = nv->il;
    if (tkr_il_has_final(il) || TK_TIER_IS_FINAL(nv->tier)) return NULL;
    int32_t next = TK_TIER_1;
    int c = nv->tier == TK_TIER_0 ? C_PROMO_T0_T1 : C_PROMO_T0I_T1;
    if (nv->tier == TK_TIER_0 && rt->cfg.tiered_pgo) { next = TK_TIER_0_INSTRUMENTED; c = C_PROMO_T0_T0I; }
    for (tk_native_version *v = il->versions; v; v = v->next)
        if (v->tier == next) return NULL;
    tk_native_version *n2 = tkr_nv_new(nv->m, il, next);
    ctr_add(rt, c, TK_PHASE_FINAL, 1);
    if (ev_on(rt)) {
        tk_event ev = {0};
        ev.kind = TK_EV_PROMOTE; ev.method = nv->m; ev.tier = next; ev.il_version = il->id; ev.aux = nv->tier;
        tkr_emit(rt, &ev);
    }
    return n2;
}

/* Second half: queue promoted versions for the background compile, and
 * count `completed` completions toward DeleteCallCountingStubsAfter, in one
 * acquisition of the tiering lock for a whole completion batch (one per
 * item before: two tiering-lock round trips per counted version). */
static void queue_promoted(tk_runtime *rt, tk_native_version **v, uint32_t n, uint32_t completed)
{
    if (!n && !completed) return;
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    rt->opt_queue = tkr_reserve(rt->opt_queue, &rt->cap_opt, rt->n_opt + n, sizeof *rt->opt_queue, 64);
    for (uint32_t k = 0; k < n; k++) rt->opt_queue[rt->n_opt++] = v[k];
    rt->completed_since_delete += completed;
    if (n) tkr_work_queued_locked(rt);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
}

/* CompleteCallCounting for one pending info (promote, take the stub out of
 * the call path by publishing the counted version's code, Complete); the
 * promoted version goes to *promoted (NULL if none).  `publish`: the
 * counted version's code is published even if its stub is not in the call
 * path (the prestub's synchronous completion of a stopped version, whose
 * entry points a deletion pass moved back to the prestub).  Code-version
 * lock held (and the backpatch lock when the strategy writes slots). */
static void complete_one(tk_runtime *rt, tk_cc_info *i, tk_native_version **promoted, bool publish)
{
    tk_native_version *nv = i->nv;
    tk_method *m = nv->m;
    *promoted = promoted_version(rt, nv);
    account_counted(rt, i);
    if (m->counting == i || publish) {
        m->counting = NULL;
        if (m->active_il->active == nv && atomic_load(&m->published))
            tkr_publish_native(rt, m, nv);
    }
    i->stage = CC_COMPLETE;
    if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_COUNTING_COMPLETE, m, nv->tier, nv->il->id, NULL);
}

/* A call reached the prestub while nv counts, or after a deletion pass
 * stopped its counting, and no tiering delay is active (tiering.c
 * tkr_set_code_entry_point_called decides that): the call is counted on the
 * same 16-bit cell the stub decrements, as CoreCLR's
 * CallCountingManager::SetCodeEntryPoint(..., wasMethodCalled = true)
 * (src/coreclr/vm/callcounting.cpp) counts it.  At zero, counting completes
 * here, synchronously, as CoreCLR does on this path (it does not queue the
 * version for the background completion the stub's threshold uses): the
 * threshold (`threshold_hits`, a `threshold` event with reason `prestub`,
 * logged before the `promote` it causes:
 * `inv.tiering.promotion-after-threshold`), the promotion queued for the
 * background compile, the counted version's code published (its stub, if
 * any, leaves the call path), Complete (`inv.counting.prestub-call`).
 * Returns true if the call completed counting.  Backpatch and
 * code-version locks held (the prestub's). */
bool tkr_count_prestub_call(tk_runtime *rt, tk_method *m, tk_native_version *nv)
{
    tk_cc_info *i = nv->info;
    if (__atomic_sub_fetch(&i->cell, 1, __ATOMIC_RELAXED)) return false;
    ctr_add(rt, C_THRESHOLD_HITS, phase_of_tier(nv->tier), 1);
    if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_THRESHOLD, m, nv->tier, nv->il->id, "prestub");
    i->stage = CC_PENDING_COMPLETION;
    tk_native_version *promoted = NULL;
    complete_one(rt, i, &promoted, true);
    queue_promoted(rt, &promoted, promoted != NULL, 1);
    return true;
}

/* CompleteCallCounting for the whole pending batch, under one acquisition
 * of the backpatch (if the strategy writes slots) and code-version locks as
 * CoreCLR's, and one of the tiering lock for the promotions it queues. */
void tkr_complete_counting(tk_runtime *rt)
{
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    tk_cc_info **list = rt->pending;
    uint32_t n = rt->n_pending;
    rt->pending = NULL; rt->n_pending = rt->cap_pending = 0;
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (!n) { free(list); return; }
    tk_native_version **promoted = malloc(n * sizeof *promoted);
    if (!promoted) abort();
    uint32_t np = 0, completed = 0;
    bool eager = tkr_strategy_writes_slots(rt->strat, TK_PHASE_NONFINAL);
    uint64_t t0 = 0;
    if (eager) tkr_bp_lock(rt, TK_PHASE_NONFINAL, &t0);
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    for (uint32_t k = 0; k < n; k++) {
        tk_cc_info *i = list[k];
        if (i->stage != CC_PENDING_COMPLETION) continue;
        complete_one(rt, i, &promoted[np], false);
        if (promoted[np]) np++;
        completed++;
    }
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    if (eager) tkr_bp_unlock(rt, TK_PHASE_NONFINAL, t0);
    queue_promoted(rt, promoted, np, completed);
    free(promoted);
    free(list);
}

/* The method's entry point is being reset: its active counting stub leaves
 * the call path (the caller resets slots and precode next).  The info goes
 * back to not-active and resumes if the version is published again.
 * Code-version lock held. */
void tkr_stop_counting(tk_runtime *rt, tk_method *m)
{
    tk_cc_info *i = m->counting;
    if (!i) return;
    m->counting = NULL;
    account_counted(rt, i);
    if (i->stage == CC_MAY_BE_ACTIVE) i->stage = CC_NOT_ACTIVE;
    if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_COUNTING_COMPLETE, m, i->nv->tier, i->nv->il->id, "stopped");
}

/* Infos of m's native versions (every IL version). */
#define FOR_EACH_INFO(m, nv, i) \
    for (tk_il_version *il_ = (m)->ils; il_; il_ = il_->next) \
        for (tk_native_version *nv = il_->versions; nv; nv = nv->next) \
            for (tk_cc_info *i = nv->info; i; i = NULL)

/* StopAllCallCounting (CoreCLR): every counting stub leaves the call path.
 * An active one is stopped and m goes back through the prestub, keeping
 * its remaining count and its published state, so its next call is
 * counted and reinstalls counting (tkr_prestub_handler).  The pass runs
 * only with the completion queue empty (checked under the code-version
 * lock, which queuing a completion needs), so an info pending completion
 * here belongs to a batch another thread has taken off the queue and is
 * about to complete: it is left to that batch (completing it here would
 * let this pass free an info the batch still reads).  Backpatch and
 * code-version locks held. */
static void stop_all_counting(tk_runtime *rt, tk_method *head)
{
    for (tk_method *m = head; m; m = m->next_all)
        if (m->counting && m->counting->stage == CC_MAY_BE_ACTIVE) {
            tkr_stop_counting(rt, m);
            rt->strat->reset(rt, m);
        }
}

/* DeleteCallCountingStubsAfter = N > 0: a deletion pass once N counting
 * completions happened since the last one.
 *
 * CallCountingStubDeletion=all (default; `inv.reclaim.delete-all`), as
 * CoreCLR's StopAndDeleteAllCallCountingStubs: only when the background
 * queue is empty (CoreCLR runs it after a batch that drained the queue),
 * stop all call counting (stop_all_counting), then free every counting
 * stub, and free the infos of completed versions (nv->counting_done keeps
 * them from being counted again).  Stopped infos keep their remaining
 * count.  Counting memory is then zero but for stopped infos.
 *
 * CallCountingStubDeletion=inactive (tierkit's extension, the reference's
 * behaviour before): free the stubs no entry point leads to (completed and
 * stopped infos) and the infos of completed versions; stubs still counting
 * keep counting.
 *
 * Either way stubs and infos are freed only once every registered mutator
 * thread passed a safe point (synchronize_rcu) after they left the call
 * path, with no lock held while waiting (`inv.reclaim.wait-safepoint`,
 * `inv.reclaim.unpublish-before-free`), infos after their stubs
 * (`impl.info-outlives-stub`). */
void tkr_maybe_delete_stubs(tk_runtime *rt)
{
    uint32_t after = rt->cfg.delete_stubs_after;
    if (!after) return;
    bool all = rt->cfg.stub_deletion == TK_STUB_DELETION_ALL;
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    bool due = rt->completed_since_delete >= after && (!all || (!rt->n_pending && !rt->n_opt));
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (!due) return;
    uint64_t t0 = 0;
    if (all) tkr_bp_lock(rt, TK_PHASE_NONFINAL, &t0);
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    /* Again under the code-version lock: a mutator may have queued a
     * completion since the check above, and a completed info still on the
     * queue must not be freed by this pass (`impl.info-outlives-stub`). */
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    due = rt->completed_since_delete >= after && (!all || (!rt->n_pending && !rt->n_opt));
    if (due) rt->completed_since_delete = 0;
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (!due) {
        tkr_unlock(&rt->cv_lock, TKR_LK_CV);
        if (all) tkr_bp_unlock(rt, TK_PHASE_NONFINAL, t0);
        return;
    }
    /* Methods are prepended, and unlinked only under the code-version lock
     * (held, type.c): the list from this head is stable. */
    tkr_lock(&rt->obj_mtx, TKR_LK_OBJ);
    tk_method *head = rt->methods;
    tkr_unlock(&rt->obj_mtx, TKR_LK_OBJ);
    if (all) stop_all_counting(rt, head);
    uint32_t n = 0, cap = 0, nfree = 0;
    typedef struct { void *stub; tk_cc_info *info; tk_method *m; int32_t tier; uint32_t il; bool free_info; } victim;
    victim *v = NULL;
    for (tk_method *m = head; m; m = m->next_all) {
        FOR_EACH_INFO(m, nv, i) {
            /* Complete: completion moved every entry point off the stub.
             * Not active: a reset (or stop_all_counting) moved every entry
             * point off it; counting resumes from the cell with a new stub.
             * Still counting (inactive mode only): kept. */
            bool done = i->stage == CC_COMPLETE;
            if (!done && i->stage != CC_NOT_ACTIVE) continue;
            if (!i->stub && !done) continue;
            v = tkr_reserve(v, &cap, n + 1, sizeof *v, 64);
            v[n++] = (victim){ i->stub, i, m, nv->tier, nv->il->id, done };
            i->stub = NULL;
            if (done) {
                nv->info = NULL;
                nv->counting_done = true;
                nfree++;
            }
        }
    }
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    if (all) tkr_bp_unlock(rt, TK_PHASE_NONFINAL, t0);
    size_t nstubs = 0;
    for (size_t k = 0; k < n; k++) nstubs += v[k].stub != NULL;
    if (nstubs || nfree) {
        /* The waiter must not be a reader, and holds no runtime lock. */
        tkr_check_no_locks("synchronize_rcu");
        bool was_online = tkr_begin_offline();
        synchronize_rcu();
        tkr_end_offline(was_online);
        if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_SAFEPOINT_SYNC, NULL, TK_TIER_UNKNOWN, 0, NULL);
        for (size_t k = 0; k < n; k++)
            if (v[k].stub) tkr_stub_free(rt, TK_STUB_CALLCOUNT, v[k].stub, v[k].m, v[k].tier, v[k].il);
        for (size_t k = 0; k < n; k++)
            if (v[k].free_info) info_free(rt, v[k].info);
        if (nstubs) ctr_add(rt, C_STUB_DELETIONS, TK_PHASE_FINAL, 1);
    }
    free(v);
}

/* Runtime destroy: the infos still allocated. */
void tkr_free_infos(tk_runtime *rt)
{
    for (tk_method *m = rt->methods; m; m = m->next_all)
        FOR_EACH_INFO(m, nv, i) {
            nv->info = NULL;
            info_free(rt, i);
        }
}
