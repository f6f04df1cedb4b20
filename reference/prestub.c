/* reference/prestub.c — the prestub handler (token = the method).
 *
 * First call: compile the active version's first tier synchronously and
 * publish it (the delay / counting decision is SetCodeEntryPoint's).  Then
 * slot discovery as CoreCLR's DoBackpatch: under the backpatch lock read
 * the entry point INSIDE the lock; if the method is unpublished or its entry
 * point is its temporary entry point there is nothing to record; otherwise
 * record the slot the call came through (virtual: the dispatching type's
 * vtable slot, found from `this` in the first argument register;
 * non-virtual: the owning slot) and write the entry point into it
 * (`inv.backpatch.record-under-lock`).  Returns the code this call runs: the active
 * version's native code.  The first (publishing) call is never counted; a
 * later call that lands here while its version counts is handled as
 * CoreCLR's SetCodeEntryPoint(wasMethodCalled) does
 * (tkr_set_code_entry_point_called: counted, or, during a tiering delay,
 * counting paused; `inv.counting.prestub-call`). */
#include "rt_internal.h"

static void do_backpatch(tk_runtime *rt, tk_method *m, tk_arch_regs *regs)
{
    void *ep = atomic_load(&m->ep);
    void *tep = atomic_load(&m->tep);
    if (!atomic_load(&m->published) || ep == tep || !ep) return;
    tk_native_version *nv = m->active_il->active;
    int ph = (nv && ep == atomic_load(&nv->code)) ? phase_of_tier(nv->tier) : TK_PHASE_NONFINAL;
    if (m->is_virtual) {
        tk_object *obj = (tk_object *)(uintptr_t)regs->gpr[0];
        tk_type *t = obj ? obj->type : NULL;
        if (t && t != m->decl && __atomic_load_n(&t->vtable, __ATOMIC_ACQUIRE) && m->vslot < t->n_vt && t->vt_methods[m->vslot] == m) {
            tkr_record_slot(rt, m, &t->vtable[m->vslot], t, ep, ph);
            return;
        }
    }
    void **os = tkr_owning_slot(m);
    if (os && __atomic_load_n(os, __ATOMIC_RELAXED) != ep)
        tkr_slot_write(rt, m, os, m->is_virtual ? TK_SLOT_OWNING : TK_SLOT_NONVIRTUAL, ep, ph, "discover", true);
}

void *tkr_prestub_handler(void *token, tk_arch_regs *regs)
{
    tk_method *m = token;
    tk_runtime *rt = m->rt;

    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    tk_il_version *il = m->active_il;
    tk_native_version *nv = il->active;
    if (!nv) {
        nv = tkr_nv_new(m, il, tkr_first_tier(rt, m));
        il->active = nv;
    }
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    void *code = tkr_compile(rt, nv);

    uint64_t t0;
    int ph = phase_of_tier(nv->tier);
    tkr_bp_lock(rt, ph, &t0);
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    if (!atomic_load(&m->published) && m->active_il->active == nv)
        tkr_set_code_entry_point(rt, m, nv, true);   /* the publishing call: not counted */
    else
        tkr_set_code_entry_point_called(rt, m, nv);  /* a later call: counted while nv counts */
    do_backpatch(rt, m, regs);
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    tkr_bp_unlock(rt, ph, t0);
    /* A delay begun or a completion queued above may have claimed a new
     * background worker; it is created here, with no lock held. */
    tkr_worker_ensure(rt);
    return code;
}
