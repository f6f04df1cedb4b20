/* reference/strategies/lazy.c — `lazy`: PR #125359, with its defect
 * corrected.  The default strategy.
 *
 * Design.  As precode-reuse, the temporary entry point (TEP) is the stable
 * indirection, but non-final transitions never touch a slot: installing
 * counting and publishing a non-final tier only retarget the TEP (one CAS
 * on its data page, no lock), so the entry point stays the TEP and every
 * slot keeps pointing at it.  Only the final tier is published eagerly:
 * the owning slot and any recorded slot are backpatched under the lock and
 * the TEP goes back to the prestub, so the remaining slots are found and
 * patched one by one by the prestub when they are next called.  This
 * removes the non-final backpatching that reverted #124664 (seed 001: 335
 * TryBackpatchEntryPointSlots / 91 slot writes / 281 oscillations down to
 * 0 / 0 / 0).
 *
 * Source: dotnet/runtime PR #125359 (seed 001).
 * Corrected seed defects:
 *   - reviewer defect 1 of #124664 carried into the final transition: the
 *     TEP goes back to the prestub after the final publish, never to native
 *     code (`inv.slot.new-slot-discovered`; mutant NEW_SLOT_BYPASS);
 *   - stale precode on reset: the reset aims the retargeted TEP back at the
 *     prestub, not only the slots (`inv.precode.no-stale-target`; mutant
 *     STALE_PRECODE; both in strategies/tep.c, shared with precode-reuse).
 *
 * Keeps: `inv.backpatch.lazy-final-only`, `inv.slot.new-slot-discovered`,
 * `inv.slot.no-deletable-stub` (the stub hangs off the TEP only),
 * `inv.precode.no-stale-target`. */
#include "../strategy.h"

const tk_strategy_ops tkr_strategy_lazy = {
    .version = TK_STRATEGY_OPS_VERSION,
    .tiered = true,
    .uses_forwarder = false,
    .eager_nonfinal = false,
    .eager_final = true,
    .install_counting = tkr_tep_retarget,
    .publish_nonfinal = tkr_tep_retarget,
    .publish_final = tkr_tep_publish_eager,
    .reset = tkr_reset_to_tep,
};
