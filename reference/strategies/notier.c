/* reference/strategies/notier.c — `notier`: final code at the first call,
 * the steady-state limit every other design is measured against.
 *
 * Design.  No tiering: every method's first version is Optimized (the
 * runtime asks `tiered` in tkr_first_tier), so nothing is ever counted and
 * no counting stub exists.  The first call publishes the code eagerly: the
 * owning slot is set once; other slots are discovered and patched once by
 * the prestub (the TEP keeps pointing at the prestub).
 *
 * Source: tierkit's baseline (SPEC.md "Strategies"); CoreCLR with
 * TieredCompilation=0 publishes the same way.
 *
 * Keeps: `inv.counting.final-tier-not-counted` (nothing is counted),
 * `inv.precode.no-stale-target` (reset). */
#include "../strategy.h"

static void publish(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *code, int ph)
{
    (void)nv;
    tkr_backpatch(rt, m, code, ph, "backpatch");
}

const tk_strategy_ops tkr_strategy_notier = {
    .version = TK_STRATEGY_OPS_VERSION,
    .tiered = false,
    .uses_forwarder = false,
    .eager_nonfinal = true,
    .eager_final = true,
    .install_counting = NULL,      /* never counts */
    .publish_nonfinal = publish,   /* not reached: no method has a non-final tier */
    .publish_final = publish,
    .reset = tkr_reset_to_tep,
};
