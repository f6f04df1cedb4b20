/* reference/strategy.h — the strategy interface: what a redirection design
 * decides, and nothing else.
 *
 * The runtime (code versions, call counting, the tiering delay, the
 * background worker, the prestub, backpatch mechanics) owns WHEN a
 * transition happens; a design owns WHERE calls go at each transition:
 * which precodes it retargets and which slots it writes.  This is CoreCLR's
 * split too: CallCountingManager::SetCodeEntryPoint decides counting and
 * delay, MethodDesc::SetCodeEntryPoint / SetBackpatchableEntryPoint decide
 * how a method kind's callers are moved.  The runtime calls a design only
 * through the tk_strategy_ops table of its runtime (rt->strat); no code
 * outside reference/strategies/ looks at which design is running.
 *
 * Transitions (runtime call sites in parentheses):
 *   first publish       the prestub's SetCodeEntryPoint(first_call): a final
 *                       first tier (notier, untiered methods) goes out with
 *                       publish_final; a counted tier with publish_nonfinal
 *                       during a tiering delay (counting is installed when
 *                       the delay ends) or straight with install_counting
 *                       when there is no delay (tiering.c
 *                       tkr_set_code_entry_point)
 *   install counting    install_counting: put the counting stub in the call
 *                       path (callcount.c tkr_install_counting)
 *   threshold reached / counting complete
 *                       the stub leaves the call path: publish_nonfinal of
 *                       the counted version (callcount.c tkr_complete_counting)
 *   publish native      publish_nonfinal / publish_final (tiering.c
 *                       tkr_publish_native, after a background compile)
 *   reset               reset: every entry point back to the prestub path
 *                       (tiering.c tkr_reset_entry_point, IL-version activation)
 *   stop counting, delete stubs
 *                       runtime bookkeeping (callcount.c): every design keeps
 *                       counting stubs out of slots (`inv.slot.no-deletable-stub`),
 *                       so once install/publish/reset moved the entry points
 *                       off a stub, the runtime frees it after a safe point
 *                       the same way for all of them.
 *
 * Locks: every transition runs with the code-version lock held.  The
 * backpatch lock is held as well when the transition's phase writes slots
 * (eager_nonfinal for counting and non-final publishes, eager_final for
 * final publishes); a design must not write a slot in a phase it declares
 * lazy.  The prestub and resets always hold the backpatch lock.
 *
 * Adding a design: README.md "Adding a strategy" (one file in
 * reference/strategies/, one line in reference/strategies/registry.c). */
#ifndef TK_STRATEGY_H
#define TK_STRATEGY_H

#include "rt_internal.h"

/* Bumped when a member is added, removed or changes meaning. */
#define TK_STRATEGY_OPS_VERSION 1

typedef struct tk_strategy_ops {
    uint32_t version;              /* TK_STRATEGY_OPS_VERSION                */

    /* Static facts. */
    bool tiered;                   /* false: every method starts at its final
                                      tier and nothing is counted (notier)   */
    bool uses_forwarder;           /* slots hold a per-method forwarder
                                      precode (m->forwarder) while counting  */
    bool eager_nonfinal;           /* counting and non-final publishes write
                                      slots (the backpatch lock is taken)    */
    bool eager_final;              /* final publishes write slots            */

    /* Puts nv's counting stub `stub` into m's call path, never into a slot
     * (`inv.slot.no-deletable-stub`).  NULL when !tiered. */
    void (*install_counting)(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *stub, int phase);
    /* Makes `code` (nv's native code, no counting) m's entry point. */
    void (*publish_nonfinal)(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *code, int phase);
    void (*publish_final)(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *code, int phase);
    /* Every slot back to the temporary entry point and every precode of the
     * design back to the prestub (`inv.precode.no-stale-target`); counting
     * has already been stopped. */
    void (*reset)(tk_runtime *rt, tk_method *m);
} tk_strategy_ops;

/* reference/strategies/registry.c: every design, in Strategy-index order
 * (its name, the Strategy key's value, is tk_strategy_names[i]). */
TK_HIDDEN extern const tk_strategy_ops *const tkr_strategy_table[];
TK_HIDDEN extern const size_t tkr_strategy_table_len;

/* Whether transitions of `phase` write slots under this runtime's design. */
static inline bool tkr_strategy_writes_slots(const tk_strategy_ops *s, int phase)
{
    return phase == TK_PHASE_FINAL ? s->eager_final : s->eager_nonfinal;
}

/* ---- building blocks shared by designs (strategies/tep.c) ----------------- */

/* After a publish that backpatched slots, the temporary precode goes back
 * to the prestub so slots nobody recorded yet are discovered
 * (`inv.slot.new-slot-discovered`; #124664 reviewer defect 1). */
TK_HIDDEN void tkr_tep_settle(tk_runtime *rt, tk_method *m, void *code, int phase);
/* install_counting / publish_*: aim the TEP at the stub or the code (CAS). */
TK_HIDDEN void tkr_tep_retarget(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *target, int phase);
/* publish_*: backpatch every slot to the code, then tkr_tep_settle. */
TK_HIDDEN void tkr_tep_publish_eager(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *code, int phase);
/* The reset of the designs without a forwarder: every slot back to the
 * temporary entry point, then the TEP back to the prestub. */
TK_HIDDEN void tkr_reset_to_tep(tk_runtime *rt, tk_method *m);
/* The TEP back to the prestub after a reset (`inv.precode.no-stale-target`). */
TK_HIDDEN void tkr_tep_reset(tk_runtime *rt, tk_method *m);

#endif
