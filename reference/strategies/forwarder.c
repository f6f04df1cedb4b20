/* reference/strategies/forwarder.c — `forwarder`: CoreCLR before PR #124664.
 *
 * Design.  Each method that ever counts gets one forwarder precode
 * (CoreCLR's CallCountingManager forwarder stub: a FixupPrecode of its own,
 * not the method's temporary entry point; tkr_forwarder_alloc), allocated
 * once and kept for the method's lifetime.  While a version counts, every
 * slot holds the forwarder and the forwarder targets the counting stub, so
 * the deletable stub is never in a slot.  Every entry-point change is
 * eager: installing counting and publishing native code (any tier) take
 * the backpatch lock and write every recorded slot and the owning slot.
 * Publishing first aims the forwarder back at the prestub, so a stale load
 * of the forwarder can never reach a stub that may be deleted next.
 *
 * Source: dotnet/runtime src/coreclr/vm/callcounting.cpp before PR #124664,
 * CallCountingManager::SetCodeEntryPoint (m_methodDescForwarderStubHash,
 * Precode::Allocate(methodDesc->GetPrecodeType(), ...); seed 000: the
 * forwarder stubs the PR removes); the eager backpatching
 * it implies is PR #125359's "before" column (335 TryBackpatchEntryPointSlots,
 * 91 slot writes, 281 oscillations in seed 001).
 *
 * Keeps: `inv.slot.no-deletable-stub` (slots hold F, never S),
 * `inv.backpatch.owning-slot-last` (through tkr_backpatch),
 * `inv.precode.no-stale-target` (reset aims F and the TEP at the prestub). */
#include "../strategy.h"

static void install_counting(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *stub, int ph)
{
    (void)nv;
    if (!m->forwarder) tkr_forwarder_alloc(rt, m);
    tkr_precode_set(rt, m, m->forwarder, stub, ph);
    void *ep = m->forwarder;
    tkr_backpatch(rt, m, ep, ph, "backpatch");
}

static void publish(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *code, int ph)
{
    (void)nv;
    if (m->forwarder) tkr_precode_reset(rt, m, m->forwarder, ph);
    tkr_backpatch(rt, m, code, ph, "backpatch");
}

static void reset(tk_runtime *rt, tk_method *m)
{
    tkr_backpatch(rt, m, tkr_get_tep(m), TK_PHASE_NONFINAL, "reset");
    if (m->forwarder) tkr_precode_reset(rt, m, m->forwarder, TK_PHASE_NONFINAL);
    tkr_tep_reset(rt, m);
}

const tk_strategy_ops tkr_strategy_forwarder = {
    .version = TK_STRATEGY_OPS_VERSION,
    .tiered = true,
    .uses_forwarder = true,
    .eager_nonfinal = true,
    .eager_final = true,
    .install_counting = install_counting,
    .publish_nonfinal = publish,
    .publish_final = publish,
    .reset = reset,
};
