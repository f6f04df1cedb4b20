/* reference/strategies/precode_reuse.c — `precode-reuse`: PR #124664, with
 * its defects corrected.
 *
 * Design.  No forwarder: the method's own temporary entry point (its
 * FixupPrecode, TEP) is the stable indirection in front of the counting
 * stub.  Installing counting aims the TEP at the stub first, then writes
 * every slot back to the TEP, so no call escapes counting in between.
 * Publishing native code, at every tier, is eager: all slots to the code
 * under the backpatch lock, then the TEP back to the prestub.  The eager
 * non-final backpatching under one global lock is what PR #125359
 * measured (335 / 91 / 281, seed 001) and what reverted #124664 for a
 * 12-13% Orchard regression.
 *
 * Source: dotnet/runtime PR #124664 (seed 000), merged then reverted.
 * Corrected seed defects:
 *   - reviewer defect 1, new slots bypass discovery: after a publish the
 *     TEP goes back to the prestub (tkr_tep_publish_eager, strategies/tep.c),
 *     never to native code (`inv.slot.new-slot-discovered`; mutant
 *     NEW_SLOT_BYPASS);
 *   - owning-slot bypass (our reading of CallCountingManager::SetCodeEntryPoint
 *     as merged at 0632f9d844b5): the owning slot goes back to the TEP with
 *     the others; 'published' is a flag of its own, not "owning slot !=
 *     TEP" (`inv.counting.no-bypass`; mutant OWNING_SLOT_BYPASS, SPEC.md
 *     "Seed defects and our corrections" 2).
 *
 * Keeps: `inv.slot.no-deletable-stub`, `inv.slot.new-slot-discovered`,
 * `inv.counting.no-bypass`, `inv.precode.no-stale-target` (reset). */
#include "../strategy.h"

static void install_counting(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *stub, int ph)
{
    (void)nv;
    /* Precode to the stub first, then slots back to the precode, so no
     * call escapes counting in between.  The owning slot goes back to the
     * precode too (the owning-slot correction above); the mutant
     * OWNING_SLOT_BYPASS (callcount.c) puts the merged behaviour back. */
    void *tep = tkr_get_tep(m);
    tkr_precode_set(rt, m, tep, stub, ph);
    tkr_backpatch(rt, m, tep, ph, "reset");
}

const tk_strategy_ops tkr_strategy_precode_reuse = {
    .version = TK_STRATEGY_OPS_VERSION,
    .tiered = true,
    .uses_forwarder = false,
    .eager_nonfinal = true,
    .eager_final = true,
    .install_counting = install_counting,
    .publish_nonfinal = tkr_tep_publish_eager,
    .publish_final = tkr_tep_publish_eager,
    .reset = tkr_reset_to_tep,
};
