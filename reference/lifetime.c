/* reference/lifetime.c — how long what an unloaded type owns lives
 * (SPEC `impl.type-metadata-lifetime`, README.md "Reliability").
 *
 * tk_type_unload (type.c) takes the type's methods out of every call path
 * under the backpatch and code-version locks (counting stopped, precodes
 * back to the prestub, slot records dropped), marks them dead, unlinks them
 * from the runtime's method list, waits until every registered mutator has
 * passed a safe point and frees their stubs and the vtable.  What is left is
 * the metadata: per method its IL and native versions, counting infos,
 * emitted entries and slot-record array.  Two holders may still reach it:
 *   - a background step (tiering.c run_once: delay expiry, completion,
 *     compiles, stub deletion) works on queue entries and method-list
 *     walks outside the locks, and waits for safe points itself (with
 *     victims in hand);
 *   - the queues (pending completions, compile queue, delay list), which a
 *     call already in the prestub or the threshold handler when the type
 *     unloaded may have fed for a dead method before the safe point.
 * So the metadata is freed only while no background step is under way
 * (bg_batches == 0), right after the queues were purged of dead methods'
 * entries, both under one hold of the tiering lock; an unload that finds a
 * step under way leaves the type in the graveyard and the last step to end
 * frees it.  No dead method enters a queue afterwards: registered mutators
 * have passed the safe point, and a later step finds no dead entry (queues
 * purged, dead methods unlinked) and dead methods get no entry point, stub
 * or counting (tiering.c, callcount.c).
 *
 * The type and method structs, the handles a client holds, outlive their
 * metadata: they stay in a quarantine of the TKR_QUARANTINE_TYPES most
 * recently unloaded types, so a stale handle still reads as unloaded (API
 * calls on it fail cleanly) and no handle address is reused while a client
 * or an event consumer may still compare it; and a type's struct stays
 * while a child type's struct names it as parent.  Then they are freed.
 * Memory under continuous type load/unload plateaus (tk-churn-soak asserts
 * it in make test). */
#include "rt_internal.h"

#include <stdlib.h>

static bool is_dead(tk_method *m) { return __atomic_load_n(&m->dead, __ATOMIC_RELAXED); }

/* Every method t declares, once each. */
static void for_each_declared(tk_runtime *rt, tk_type *t, void (*fn)(tk_runtime *, tk_method *))
{
    for (uint32_t i = 0; i < t->n_vt; i++)
        if (t->vt_methods[i] && t->vt_methods[i]->decl == t) fn(rt, t->vt_methods[i]);
    for (uint32_t i = 0; i < t->n_nv; i++) fn(rt, t->nv_methods[i]);
}

void tkr_method_unlink_locked(tk_runtime *rt, tk_method *m)
{
    if (m->prev_all) m->prev_all->next_all = m->next_all;
    else if (rt->methods == m) rt->methods = m->next_all;
    else return;   /* not linked */
    if (m->next_all) m->next_all->prev_all = m->prev_all;
    m->next_all = m->prev_all = NULL;
}

static void type_unlink_locked(tk_runtime *rt, tk_type *t)
{
    if (t->prev_all) t->prev_all->next_all = t->next_all;
    else rt->types = t->next_all;
    if (t->next_all) t->next_all->prev_all = t->prev_all;
    t->next_all = t->prev_all = NULL;
}

/* Versions, infos and code of m.  Taken out of m under the code-version
 * lock (a stale handle's tk_method_get_state then reads no version), freed
 * after.  `code`: give the entries back to the code heap (not at runtime
 * destroy, which unmaps it whole). */
static void free_versions(tk_runtime *rt, tk_method *m, bool code)
{
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    tk_il_version *il = m->ils;
    tk_slot_rec *slots = m->slots;
    m->ils = m->active_il = NULL;
    m->pub_nv = NULL;
    m->counting = NULL;
    atomic_store(&m->published, 0);
    m->slots = NULL;
    m->n_slots = m->cap_slots = 0;
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    for (tk_il_version *iln; il; il = iln) {
        iln = il->next;
        for (tk_native_version *nv = il->versions, *nvn; nv; nv = nvn) {
            nvn = nv->next;
            void *entry = atomic_load(&nv->code);
            if (entry && code && tk_code_free(rt->code_heap, entry)) {
                fprintf(stderr, "tierkit: method %s: its native code %p is not a live entry\n", m->name, entry);
                abort();
            }
            if (nv->info) tkr_info_free(rt, nv->info);
            free(nv);
        }
        free(il);
    }
    free(slots);
}

static void free_metadata(tk_runtime *rt, tk_method *m) { free_versions(rt, m, true); }
static void free_method(tk_runtime *rt, tk_method *m)
{
    free_versions(rt, m, false);
    free(m->name);
    free(m);
}

static void free_type_struct(tk_runtime *rt, tk_type *t)
{
    for_each_declared(rt, t, free_method);
    free(t->vt_methods); free(t->slot_rec); free(t->nv_methods); free(t->impls); free(t->vtable); free(t->name);
    free(t);
}

/* Drops the queue entries of dead methods (see the top).  A queue left
 * empty gives its array back: a consumer that takes an empty queue (the
 * compile batch) returns at once without freeing it.  Tiering lock held. */
#define PURGE(arr, n, cap, live_expr)                                           \
    do {                                                                        \
        uint32_t k_ = 0;                                                        \
        for (uint32_t i_ = 0; i_ < (n); i_++)                                   \
            if (!is_dead(live_expr((arr)[i_]))) (arr)[k_++] = (arr)[i_];        \
        (n) = k_;                                                               \
        if (!k_) { free(arr); (arr) = NULL; (cap) = 0; }                        \
    } while (0)
#define INFO_METHOD(i) ((i)->nv->m)
#define NV_METHOD(v) ((v)->m)
#define METHOD(m) (m)

static void purge_queues_locked(tk_runtime *rt)
{
    PURGE(rt->pending, rt->n_pending, rt->cap_pending, INFO_METHOD);
    PURGE(rt->opt_queue, rt->n_opt, rt->cap_opt, NV_METHOD);
    PURGE(rt->delay_list, rt->n_delay, rt->cap_delay, METHOD);
}

/* The graveyard, if no background step is under way (then purged queues).
 * Tiering lock held. */
static tk_type *take_graveyard_locked(tk_runtime *rt)
{
    if (__atomic_load_n(&rt->bg_batches, __ATOMIC_SEQ_CST) || !rt->graveyard) return NULL;
    purge_queues_locked(rt);
    tk_type *list = rt->graveyard;
    __atomic_store_n(&rt->graveyard, NULL, __ATOMIC_SEQ_CST);
    return list;
}

/* e left the quarantine (or a child's struct was freed): free its struct,
 * and its parent's if that was waiting only for this child.  Object lists
 * lock held; the structs are pushed on *dead (so parents before their
 * children), freed after the lock. */
static void release_locked(tk_runtime *rt, tk_type *e, tk_type **dead)
{
    while (e && e->evicted && e->n_child_structs == 0) {
        tk_type *p = e->parent;
        type_unlink_locked(rt, e);
        e->grave_next = *dead;
        *dead = e;
        if (p) p->n_child_structs--;
        e = p;
    }
}

/* Frees the metadata of every type in `list`, then quarantines them (the
 * oldest ones leave the quarantine).  No lock held. */
static void bury(tk_runtime *rt, tk_type *list)
{
    for (tk_type *t = list, *n; t; t = n) {
        n = t->grave_next;
        for_each_declared(rt, t, free_metadata);
        tk_type *dead = NULL;
        tkr_lock(&rt->obj_mtx, TKR_LK_OBJ);
        t->grave_next = NULL;
        if (rt->quar_tail) rt->quar_tail->grave_next = t;
        else rt->quar_head = t;
        rt->quar_tail = t;
        rt->n_quar++;
        while (rt->n_quar > TKR_QUARANTINE_TYPES) {
            tk_type *e = rt->quar_head;
            rt->quar_head = e->grave_next;
            if (!rt->quar_head) rt->quar_tail = NULL;
            rt->n_quar--;
            e->evicted = true;
            release_locked(rt, e, &dead);
        }
        tkr_unlock(&rt->obj_mtx, TKR_LK_OBJ);
        /* children first: a child's vtable names its parent's methods */
        tk_type *rev = NULL;
        for (tk_type *d = dead, *dn; d; d = dn) {
            dn = d->grave_next;
            d->grave_next = rev;
            rev = d;
        }
        for (tk_type *d = rev, *dn; d; d = dn) {
            dn = d->grave_next;
            free_type_struct(rt, d);
        }
    }
}

/* bg_batches and graveyard are read and written with sequentially
 * consistent atomics (besides the tiering lock for the graveyard's
 * contents): a step that ends stores its decrement and then reads the
 * graveyard, an unload stores into the graveyard and then reads the count,
 * so at least one of them sees the other and the type is never left behind.
 * A step's start needs no lock: the queues it takes are taken under the
 * tiering lock, after its increment, so after any purge-and-take that saw
 * the count at 0. */
void tkr_bg_enter(tk_runtime *rt)
{
    __atomic_fetch_add(&rt->bg_batches, 1, __ATOMIC_SEQ_CST);
}

void tkr_bg_exit(tk_runtime *rt)
{
    if (__atomic_sub_fetch(&rt->bg_batches, 1, __ATOMIC_SEQ_CST) ||
        !__atomic_load_n(&rt->graveyard, __ATOMIC_SEQ_CST))
        return;
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    tk_type *list = take_graveyard_locked(rt);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    bury(rt, list);
}

void tkr_type_retire(tk_runtime *rt, tk_type *t)
{
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    t->grave_next = rt->graveyard;
    __atomic_store_n(&rt->graveyard, t, __ATOMIC_SEQ_CST);
    tk_type *list = take_graveyard_locked(rt);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    bury(rt, list);
}

void tkr_free_all_types(tk_runtime *rt)
{
    for (tk_type *t = rt->types, *n; t; t = n) {
        n = t->next_all;
        free_type_struct(rt, t);
    }
    rt->types = NULL;
    rt->methods = NULL;
    rt->graveyard = rt->quar_head = rt->quar_tail = NULL;
}
