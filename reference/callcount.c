/* reference/callcount.c — call counting (CoreCLR CallCountingManager):
 * one info per native version with a 16-bit countdown cell, a counting
 * stub whose token is the cell, the threshold handler, completion in
 * batches on the background worker, promotion, and deletion of stubs at
 * safe points.  Infos are never freed before the runtime: the threshold
 * handler derives the info from the cell, which may come from a stub that
 * is being deleted (`impl.info-outlives-stub`). */
#include "strategy.h"

#include <stdlib.h>
#include <urcu-qsbr.h>

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
    if (info && info->stage >= CC_PENDING_COMPLETION) {
        tkr_publish_native(rt, m, nv);
        return;
    }
    if (!info) {
        info = calloc(1, sizeof *info);
        if (!info) abort();
        uint16_t thr = (uint16_t)rt->cfg.call_count_threshold;
        info->initial = thr;
        info->cell = thr;
        info->stage = CC_NOT_ACTIVE;
        /* Release: the threshold handler reaches the info through the
         * stub's data page (read by stub code), then acquires these. */
        __atomic_store_n(&info->nv, nv, __ATOMIC_RELEASE);
        __atomic_store_n(&info->rt, rt, __ATOMIC_RELEASE);
        info->next_all = rt->infos;
        rt->infos = info;
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
    info->next_pending = NULL;
    if (rt->pending_tail) rt->pending_tail->next_pending = info; else rt->pending_head = info;
    rt->pending_tail = info;
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
    tk_runtime *rt = __atomic_load_n(&info->rt, __ATOMIC_ACQUIRE);
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

/* A call that reached the prestub although nv is published and counting
 * (a slot not yet recorded under `forwarder`, or a caller that loaded the
 * precode's target before it was retargeted) is a counted call, as in
 * CoreCLR's CallCountingManager::SetCodeEntryPoint(..., wasMethodCalled =
 * true): decrement the same 16-bit cell the stub decrements and, at zero,
 * queue completion exactly as the threshold handler does (threshold_hits
 * and the `threshold` event included; the stage check keeps it
 * idempotent).  The decrement shows in calls_counted like the stub's.  The
 * prestub never calls this for the call that publishes the method
 * (`inv.counting.first-call-not-counted`).  Code-version lock held.
 * Returns true if the call was counted. */
bool tkr_count_prestub_call(tk_runtime *rt, tk_method *m, tk_native_version *nv)
{
    tk_cc_info *info = m->counting;
    if (!info || info->nv != nv) return false;
    uint16_t left = __atomic_sub_fetch(&info->cell, 1, __ATOMIC_RELAXED);
    if (left) return true;
    ctr_add(rt, C_THRESHOLD_HITS, phase_of_tier(nv->tier), 1);
    if (queue_completion_locked(rt, info) && ev_on(rt))
        tkr_ev_simple(rt, TK_EV_THRESHOLD, m, nv->tier, nv->il->id, "prestub");
    return true;
}

/* AsyncPromoteToTier1: a native version of the next tier, queued for the
 * background compile; nothing if the IL version already has final code.
 * Code-version lock held. */
void tkr_promote(tk_runtime *rt, tk_native_version *nv)
{
    tk_il_version *il = nv->il;
    if (tkr_il_has_final(il) || TK_TIER_IS_FINAL(nv->tier)) return;
    int32_t next = TK_TIER_1;
    int c = nv->tier == TK_TIER_0 ? C_PROMO_T0_T1 : C_PROMO_T0I_T1;
    if (nv->tier == TK_TIER_0 && rt->cfg.tiered_pgo) { next = TK_TIER_0_INSTRUMENTED; c = C_PROMO_T0_T0I; }
    for (tk_native_version *v = il->versions; v; v = v->next)
        if (v->tier == next) return;
    tk_native_version *n2 = tkr_nv_new(nv->m, il, next);
    ctr_add(rt, c, TK_PHASE_FINAL, 1);
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    if (rt->n_opt == rt->cap_opt) {
        uint32_t nc = rt->cap_opt ? rt->cap_opt * 2 : 64;
        tk_native_version **q = realloc(rt->opt_queue, nc * sizeof *q);
        if (!q) abort();
        rt->opt_queue = q; rt->cap_opt = nc;
    }
    rt->opt_queue[rt->n_opt++] = n2;
    tkr_work_queued_locked(rt);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (ev_on(rt)) {
        tk_event ev = {0};
        ev.kind = TK_EV_PROMOTE; ev.method = nv->m; ev.tier = next; ev.il_version = il->id; ev.aux = nv->tier;
        tkr_emit(rt, &ev);
    }
}

/* CompleteCallCounting for the whole pending batch: promote, take the stub
 * out of the call path (publish the counted version's code), Complete. */
void tkr_complete_counting(tk_runtime *rt)
{
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    tk_cc_info *list = rt->pending_head;
    rt->pending_head = rt->pending_tail = NULL;
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (!list) return;
    bool eager = tkr_strategy_writes_slots(rt->strat, TK_PHASE_NONFINAL);
    uint64_t t0 = 0;
    if (eager) tkr_bp_lock(rt, TK_PHASE_NONFINAL, &t0);
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    for (tk_cc_info *i = list, *n; i; i = n) {
        n = i->next_pending;
        i->next_pending = NULL;
        if (i->stage != CC_PENDING_COMPLETION) continue;
        tk_native_version *nv = i->nv;
        tk_method *m = nv->m;
        tkr_promote(rt, nv);
        account_counted(rt, i);
        if (m->counting == i) {
            m->counting = NULL;
            if (m->active_il->active == nv && atomic_load(&m->published))
                tkr_publish_native(rt, m, nv);
        }
        i->stage = CC_COMPLETE;
        tkr_lock(&rt->tier_lock, TKR_LK_TIER);
        rt->completed_since_delete++;
        tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
        if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_COUNTING_COMPLETE, m, nv->tier, nv->il->id, NULL);
    }
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    if (eager) tkr_bp_unlock(rt, TK_PHASE_NONFINAL, t0);
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

/* DeleteCallCountingStubsAfter: after that many completions, free the
 * stubs of completed and of stopped infos — only once every entry point
 * has moved off them (completion or the reset did that) AND every registered mutator thread passed a
 * safe point (synchronize_rcu), with no lock held while waiting
 * (`inv.reclaim.wait-safepoint`).  Active stubs keep counting. */
void tkr_maybe_delete_stubs(tk_runtime *rt)
{
    uint32_t after = rt->cfg.delete_stubs_after;
    if (!after) return;
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    bool due = rt->completed_since_delete >= after;
    if (due) rt->completed_since_delete = 0;
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    if (!due) { tkr_unlock(&rt->cv_lock, TKR_LK_CV); return; }
    size_t n = 0, cap = 0;
    tk_cc_info **victims = NULL;
    for (tk_cc_info *i = rt->infos; i; i = i->next_all) {
        /* Complete: completion moved every entry point off the stub.
         * Not active: a reset stopped the stub and moved every entry point
         * off it; if the version is published again, counting resumes
         * from the cell with a new stub.  Still counting: kept. */
        if (!i->stub || (i->stage != CC_COMPLETE && i->stage != CC_NOT_ACTIVE)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            tk_cc_info **v = realloc(victims, cap * sizeof *v);
            if (!v) abort();
            victims = v;
        }
        victims[n++] = i;
    }
    void **stubs = calloc(n ? n : 1, sizeof *stubs);
    for (size_t k = 0; k < n; k++) { stubs[k] = victims[k]->stub; victims[k]->stub = NULL; }
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    if (n) {
        /* The waiter must not be a reader, and holds no runtime lock. */
        tkr_check_no_locks("synchronize_rcu");
        bool was_online = tkr_begin_offline();
        synchronize_rcu();
        tkr_end_offline(was_online);
        if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_SAFEPOINT_SYNC, NULL, TK_TIER_UNKNOWN, 0, NULL);
        for (size_t k = 0; k < n; k++)
            tkr_stub_free(rt, TK_STUB_CALLCOUNT, stubs[k], victims[k]->nv->m, victims[k]->nv->tier,
                          victims[k]->nv->il->id);
        ctr_add(rt, C_STUB_DELETIONS, TK_PHASE_FINAL, 1);
    }
    free(stubs);
    free(victims);
}
