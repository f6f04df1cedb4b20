/* reference/strategies/tep.c — moves of the temporary entry point (TEP, the
 * method's FixupPrecode) shared by the designs that use it as their stable
 * indirection (precode-reuse, lazy, entry-cell) and by every design's reset.
 * Each move here corrects a seed defect, so the correction is written once
 * and every design that needs it calls it. */
#include "../strategy.h"

/* Aims the TEP at `target` (a counting stub or native code): one CAS on its
 * data page, no lock, no slot write (`inv.stub.atomic-retarget`).  Slots
 * that hold the TEP follow at once. */
void tkr_tep_retarget(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *target, int ph)
{
    (void)nv;
    tkr_precode_set(rt, m, tkr_get_tep(m), target, ph);
}

/* An eager publish: every recorded slot, then the owning slot, to the code
 * (one backpatch pass under the backpatch lock), then the TEP back to the
 * prestub for the slots nobody recorded yet. */
void tkr_tep_publish_eager(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *code, int ph)
{
    (void)nv;
    tkr_backpatch(rt, m, code, ph, "backpatch");
    tkr_tep_settle(rt, m, code, ph);
}

/* After a publish that backpatched slots, the TEP goes back to the prestub,
 * not to the code: a slot nobody recorded yet (a type loaded later, an
 * inherited slot) then passes through the prestub and is recorded and
 * patched (`inv.slot.new-slot-discovered`; PR #124664 reviewer defect 1:
 * new slots must not bypass prestub discovery). */
void tkr_tep_settle(tk_runtime *rt, tk_method *m, void *code, int ph)
{
    void *tep = tkr_get_tep(m);
    (void)code;
    tkr_precode_reset(rt, m, tep, ph);
}

/* A reset aims a retargeted TEP back at the prestub, not only the slots
 * (`inv.precode.no-stale-target`; PR #125359 review: ResetCodeEntryPoint
 * left a retargeted precode stale). */
void tkr_tep_reset(tk_runtime *rt, tk_method *m)
{
    tkr_precode_reset(rt, m, tkr_get_tep(m), TK_PHASE_NONFINAL);
}

/* The reset of every design without a forwarder: slots back to the TEP
 * (a backpatch pass, owning slot last), then the TEP back to the prestub. */
void tkr_reset_to_tep(tk_runtime *rt, tk_method *m)
{
    tkr_backpatch(rt, m, tkr_get_tep(m), TK_PHASE_NONFINAL, "reset");
    tkr_tep_reset(rt, m);
}
