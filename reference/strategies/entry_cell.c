/* reference/strategies/entry_cell.c — `entry-cell`: slots always hold the
 * temporary precode (HotSpot / V8 style).
 *
 * Design.  The method's temporary entry point (TEP) is its entry cell for
 * its whole life: no transition writes a slot or takes the backpatch lock.
 * Installing counting and publishing code of any tier retarget the TEP
 * (one CAS on its data page).  Every call pays the precode's jump, also at
 * the final tier; in exchange no slot is ever recorded or backpatched.
 * HotSpot moves callers after recompilation by changing the method's
 * `_from_compiled_entry` and letting call sites re-resolve (seed 004,
 * hotspot-dev 2008, "lazy vs immediate relinking"); V8's dispatch table
 * entry plays the same role.
 *
 * Source: hotspot-dev mail thread on relinking callers after
 * recompilation (2008, seed 004); V8 dispatch table.  No seed defect
 * applies: the TEP is never aimed back at the prestub after a publish
 * because no slot bypasses it (SPEC.md "Seed defects and our
 * corrections" 1).
 *
 * Keeps: `inv.slot.no-deletable-stub` (slots hold the TEP),
 * `inv.stub.atomic-retarget` (every transition is one CAS),
 * `inv.precode.no-stale-target` (reset). */
#include "../strategy.h"

const tk_strategy_ops tkr_strategy_entry_cell = {
    .version = TK_STRATEGY_OPS_VERSION,
    .tiered = true,
    .uses_forwarder = false,
    .eager_nonfinal = false,
    .eager_final = false,
    .install_counting = tkr_tep_retarget,
    .publish_nonfinal = tkr_tep_retarget,
    .publish_final = tkr_tep_retarget,
    .reset = tkr_reset_to_tep,
};
