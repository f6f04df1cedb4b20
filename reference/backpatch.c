/* reference/backpatch.c — entry-point slots: the owning slot, recorded
 * slots, backpatch passes (CoreCLR TryBackpatchEntryPointSlots) and slot
 * recording (DoBackpatch's RecordAndBackpatchSlot).
 *
 * All functions here run with the backpatch lock held (and, for passes,
 * the code-version lock, which serialises entry-point changes). */
#include "rt_internal.h"

#include <stdlib.h>

void **tkr_owning_slot(tk_method *m)
{
    if (!m->is_virtual) return &m->own_slot;
    if (m->dead || !m->decl->vtable) return NULL;
    return &m->decl->vtable[m->vslot];
}

static tk_slot_kind owning_kind(tk_method *m) { return m->is_virtual ? TK_SLOT_OWNING : TK_SLOT_NONVIRTUAL; }

void tkr_slot_write(tk_runtime *rt, tk_method *m, void **slot, tk_slot_kind sk, void *val, int phase,
                    const char *reason, bool count)
{
    void *old = __atomic_load_n(slot, __ATOMIC_RELAXED);
    __atomic_store_n(slot, val, __ATOMIC_RELEASE);
    if (count) ctr_add(rt, C_SLOT_WRITES, phase, 1);
    if (ev_on(rt)) {
        tk_event ev = {0};
        ev.kind = TK_EV_SLOT_WRITE; ev.method = m; ev.slot = slot; ev.old_value = old; ev.new_value = val;
        ev.slot_kind = sk; ev.phase = phase; ev.reason = reason;
        tkr_emit(rt, &ev);
    }
}

/* Entry-point change bookkeeping: an oscillation is a change to the value
 * the entry point had before the previous change (A -> B -> A). */
static void set_ep(tk_runtime *rt, tk_method *m, void *ep, int phase)
{
    void *old = atomic_load(&m->ep);
    if (old == ep) return;
    if (m->ep_prev && ep == m->ep_prev) ctr_add(rt, C_EP_OSCILLATIONS, phase, 1);
    m->ep_prev = old;
    atomic_store(&m->ep, ep);
}

static void write_owning(tk_runtime *rt, tk_method *m, void *ep, int phase, const char *reason)
{
    void **os = tkr_owning_slot(m);
    if (os && __atomic_load_n(os, __ATOMIC_RELAXED) != ep)
        tkr_slot_write(rt, m, os, owning_kind(m), ep, phase, reason, true);
}

/* A backpatch pass: every recorded slot, then the owning slot LAST, because
 * the owning slot certifies that all recorded slots agree with it
 * (`inv.backpatch.owning-slot-last`). */
void tkr_backpatch(tk_runtime *rt, tk_method *m, void *ep, int phase, const char *reason)
{
    ctr_add(rt, C_TRY_BACKPATCH, phase, 1);
    if (atomic_load(&m->ep) == ep) return;
    ctr_add(rt, C_BACKPATCH_SLOTS, phase, 1);
    if (ev_on(rt)) {
        tk_event ev = {0};
        ev.kind = TK_EV_BACKPATCH_BEGIN; ev.method = m; ev.new_value = ep; ev.phase = phase;
        tkr_emit(rt, &ev);
    }
    for (uint32_t i = 0; i < m->n_slots; i++) {
        void **s = m->slots[i].slot;
        if (__atomic_load_n(s, __ATOMIC_RELAXED) != ep)
            tkr_slot_write(rt, m, s, TK_SLOT_VTABLE, ep, phase, reason, true);
    }
    write_owning(rt, m, ep, phase, reason);
    set_ep(rt, m, ep, phase);
    if (ev_on(rt)) {
        tk_event ev = {0};
        ev.kind = TK_EV_BACKPATCH_END; ev.method = m; ev.new_value = ep; ev.phase = phase;
        tkr_emit(rt, &ev);
    }
}

/* Record a slot found by the prestub and write the entry point into it.
 * `ep` must have been read inside the backpatch lock (`inv.backpatch.record-under-lock`).
 * The slot is &t->vtable[m->vslot]; t->slot_rec says in O(1) whether it is
 * already recorded (a slot reset to the TEP by a reset comes back here). */
void tkr_record_slot(tk_runtime *rt, tk_method *m, void **slot, tk_type *t, void *ep, int phase)
{
    uint32_t vs = m->vslot;
    if (t->slot_rec[vs]) {
        if (__atomic_load_n(slot, __ATOMIC_RELAXED) != ep)
            tkr_slot_write(rt, m, slot, TK_SLOT_VTABLE, ep, phase, "discover", true);
        return;
    }
    m->slots = tkr_reserve(m->slots, &m->cap_slots, m->n_slots + 1, sizeof *m->slots, 4);
    m->slots[m->n_slots].slot = slot;
    m->slots[m->n_slots].type = t;
    m->n_slots++;
    t->slot_rec[vs] = m->n_slots;
    ctr_add(rt, C_SLOT_DISCOVERIES, phase, 1);
    if (ev_on(rt)) {
        tk_event ev = {0};
        ev.kind = TK_EV_SLOT_RECORD; ev.method = m; ev.slot = slot; ev.new_value = ep; ev.type = t;
        ev.slot_kind = TK_SLOT_VTABLE; ev.phase = phase;
        tkr_emit(rt, &ev);
    }
    tkr_slot_write(rt, m, slot, TK_SLOT_VTABLE, ep, phase, "discover", true);
}

/* Type unload: drop every recorded slot that lives in t's vtable, so no
 * later pass writes into freed memory (`inv.types.unload-removes-slots`).
 * Only t's own vtable is examined: each recorded slot has its back-pointer
 * in t->slot_rec, and a record leaves its method's array by swap-with-last
 * (the moved record's back-pointer is updated).  Backpatch and code-version
 * locks held. */
void tkr_forget_type_slots(tk_runtime *rt, tk_type *t)
{
    for (uint32_t vs = 0; vs < t->n_vt; vs++) {
        uint32_t idx1 = t->slot_rec[vs];
        if (!idx1) continue;
        atomic_fetch_add_explicit(&rt->dbg_unload_rec_visits, 1, memory_order_relaxed);
        tk_method *m = t->vt_methods[vs];
        uint32_t k = idx1 - 1, last = m->n_slots - 1;
        if (k != last) {
            m->slots[k] = m->slots[last];
            m->slots[k].type->slot_rec[vs] = k + 1;
        }
        m->n_slots = last;
        t->slot_rec[vs] = 0;
    }
}
