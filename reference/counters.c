/* reference/counters.c — always-on counters (relaxed atomics), each split
 * into a non-final and a final phase.  An increment belongs to the final
 * phase iff the entry point being published/installed by the operation that
 * caused it is final-tier code (SPEC.md "Counters", `ctr.phase`). */
#include "rt_internal.h"

#include <string.h>

const char *const tkr_counter_names[TK_COUNTER_COUNT] = {
    [C_TRY_BACKPATCH] = "try_backpatch_calls",
    [C_BACKPATCH_SLOTS] = "backpatch_slots_calls",
    [C_SLOT_WRITES] = "slot_writes",
    [C_SLOT_DISCOVERIES] = "slot_discoveries",
    [C_EP_OSCILLATIONS] = "entry_point_oscillations",
    [C_LOCK_ACQ] = "backpatch_lock_acquisitions",
    [C_LOCK_CONTENDED] = "backpatch_lock_contended",
    [C_LOCK_HOLD_NS] = "backpatch_lock_hold_ns",
    [C_PRECODE_RETARGETS] = "precode_retargets",
    [C_STUBS_ALLOC_PRECODE] = "stubs_allocated_precode",
    [C_STUBS_ALLOC_FORWARDER] = "stubs_allocated_forwarder",
    [C_STUBS_ALLOC_CALLCOUNT] = "stubs_allocated_callcount",
    [C_STUBS_FREED_PRECODE] = "stubs_freed_precode",
    [C_STUBS_FREED_FORWARDER] = "stubs_freed_forwarder",
    [C_STUBS_FREED_CALLCOUNT] = "stubs_freed_callcount",
    [C_LIVE_STUB_BYTES] = "live_stub_bytes",
    [C_CALLS_COUNTED] = "calls_counted",
    [C_THRESHOLD_HITS] = "threshold_hits",
    [C_PROMO_T0_T0I] = "promotions_tier0_to_tier0instr",
    [C_PROMO_T0_T1] = "promotions_tier0_to_tier1",
    [C_PROMO_T0I_T1] = "promotions_tier0instr_to_tier1",
    [C_METHODS_T0] = "methods_at_tier0",
    [C_METHODS_T0I] = "methods_at_tier0instr",
    [C_METHODS_T1] = "methods_at_tier1",
    [C_METHODS_OPT] = "methods_at_optimized",
    [C_COMPILES] = "compiles",
    [C_COMPILE_COST_US] = "compile_cost_us",
    [C_STUB_DELETIONS] = "stub_deletion_passes",
    [C_COUNTING_STUB_BYTES] = "counting_stub_bytes",
    [C_COUNTING_INFO_BYTES] = "counting_info_bytes",
    [C_METHODS_COUNTED] = "methods_counted",
};

const uint8_t tkr_counter_split[TK_COUNTER_COUNT] = {
    [C_TRY_BACKPATCH] = 1, [C_BACKPATCH_SLOTS] = 1, [C_SLOT_WRITES] = 1,
    [C_SLOT_DISCOVERIES] = 1, [C_EP_OSCILLATIONS] = 1, [C_LOCK_ACQ] = 1,
    [C_LOCK_CONTENDED] = 1, [C_LOCK_HOLD_NS] = 1, [C_PRECODE_RETARGETS] = 1,
    [C_CALLS_COUNTED] = 1, [C_THRESHOLD_HITS] = 1,
};

size_t tk_counters(tk_runtime *rt, tk_counter *out, size_t cap)
{
    uint64_t at[4] = {0};
    /* methods_at_<tier> is a gauge computed on read: the tier of each
     * published method's active native version. */
    /* Lock order (`impl.lock-order`): code-version lock, then the object
     * lists, never the other way round (any path that nests the object
     * lists inside backpatch -> code-version, as type unload once did,
     * would deadlock against this read). */
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    tkr_lock(&rt->obj_mtx, TKR_LK_OBJ);
    for (tk_method *m = rt->methods; m; m = m->next_all) {
        if (!atomic_load(&m->published) || !m->active_il || !m->active_il->active) continue;
        switch (m->active_il->active->tier) {
        case TK_TIER_0: at[0]++; break;
        case TK_TIER_0_INSTRUMENTED: at[1]++; break;
        case TK_TIER_1: at[2]++; break;
        case TK_TIER_OPTIMIZED: at[3]++; break;
        }
    }
    tkr_unlock(&rt->obj_mtx, TKR_LK_OBJ);
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    for (size_t i = 0; i < TK_COUNTER_COUNT && i < cap; i++) {
        out[i].name = tkr_counter_names[i];
        out[i].split = tkr_counter_split[i];
        out[i].nonfinal = atomic_load_explicit(&rt->ctr[i][TK_PHASE_NONFINAL], memory_order_relaxed);
        out[i].final = atomic_load_explicit(&rt->ctr[i][TK_PHASE_FINAL], memory_order_relaxed);
        if (!out[i].split) { out[i].final += out[i].nonfinal; out[i].nonfinal = 0; }
        if (i >= C_METHODS_T0 && i <= C_METHODS_OPT) { out[i].final = at[i - C_METHODS_T0]; out[i].nonfinal = 0; }
    }
    return TK_COUNTER_COUNT;
}

int64_t tk_counter_total(tk_runtime *rt, const char *name)
{
    tk_counter c[TK_COUNTER_COUNT];
    tk_counters(rt, c, TK_COUNTER_COUNT);
    for (size_t i = 0; i < TK_COUNTER_COUNT; i++)
        if (!strcmp(c[i].name, name)) return (int64_t)(c[i].nonfinal + c[i].final);
    return -1;
}
