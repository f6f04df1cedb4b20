/* reference/strategies/eager_final.c — `eager-final`: lazy non-final, eager
 * final.  The worked example of a user design (README.md "Adding a
 * strategy"); not a published one.
 *
 * Design.  Non-final transitions are lazy's: installing counting and
 * publishing a non-final tier only retarget the temporary entry point
 * (TEP), no lock, no slot write.  The final transition is fully eager:
 * where lazy backpatches the owning slot and leaves every other slot to be
 * found by the prestub on its next call (one prestub trip and one
 * backpatch-lock acquisition per slot, spread over the following calls),
 * this design, still under the backpatch lock of the final publish, walks
 * the loaded types and records and patches every vtable slot that holds
 * the method.  The trade: no prestub trips after a method is final, and
 * final code in every loaded slot at once, for one longer lock hold per
 * final publish, proportional to the number of loaded types.  Types loaded
 * later start at the TEP, which goes back to the prestub as in lazy, so
 * they are still discovered (`inv.slot.new-slot-discovered`).
 *
 * Source: a variant of PR #125359 (seed 001) that the PR's discussion of
 * lazy versus immediate slot patching invites; HotSpot's "immediate
 * relinking" (seed 004) is the same choice for call sites.
 *
 * Keeps: `inv.backpatch.lazy-final-only` (non-final transitions write no
 * slot), `inv.backpatch.record-under-lock` (the sweep runs under the
 * backpatch lock, reading the entry point set by the pass before it),
 * `inv.slot.new-slot-discovered`, `inv.slot.final-direct`,
 * `inv.precode.no-stale-target` (reset). */
#include "../strategy.h"

/* Records and patches every loaded vtable slot, other than the owning
 * one, that dispatches to m, as the prestub would on each slot's next call
 * (tkr_record_slot is its RecordAndBackpatchSlot).  Backpatch and
 * code-version locks held; the object-list lock keeps the type list and
 * the types' load state still (lock order: backpatch -> code version ->
 * object lists, `impl.lock-order`). */
static void record_loaded_slots(tk_runtime *rt, tk_method *m, void *ep, int ph)
{
    if (!m->is_virtual || m->dead) return;
    tkr_lock(&rt->obj_mtx, TKR_LK_OBJ);
    for (tk_type *t = rt->types; t; t = t->next_all) {
        void **vt = __atomic_load_n(&t->vtable, __ATOMIC_ACQUIRE);
        if (t == m->decl || !t->loaded || t->unloaded || !vt) continue;
        if (m->vslot < t->n_vt && t->vt_methods[m->vslot] == m)
            tkr_record_slot(rt, m, &vt[m->vslot], t, ep, ph);
    }
    tkr_unlock(&rt->obj_mtx, TKR_LK_OBJ);
}

static void publish_final(tk_runtime *rt, tk_method *m, tk_native_version *nv, void *code, int ph)
{
    (void)nv;
    tkr_backpatch(rt, m, code, ph, "backpatch");
    record_loaded_slots(rt, m, code, ph);
    tkr_tep_settle(rt, m, code, ph);
}

const tk_strategy_ops tkr_strategy_eager_final = {
    .version = TK_STRATEGY_OPS_VERSION,
    .tiered = true,
    .uses_forwarder = false,
    .eager_nonfinal = false,
    .eager_final = true,
    .install_counting = tkr_tep_retarget,
    .publish_nonfinal = tkr_tep_retarget,
    .publish_final = publish_final,
    .reset = tkr_reset_to_tep,
};
