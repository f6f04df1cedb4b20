/* reference/type.c — types (single inheritance, vtables of code pointers,
 * interfaces with per-type dispatch maps), methods, objects and slots.
 * Types load at any time (a late type brings new slots, discovered by the
 * prestub) and unload (recorded slots dropped under the backpatch lock
 * before the vtable is freed). */
#include "rt_internal.h"

#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

static char *xstrdup(const char *s) { return strdup(s ? s : "?"); }

static tk_method *method_new(tk_runtime *rt, const tk_method_def *d, tk_type *decl, bool virt, uint32_t slot)
{
    tk_method *m = calloc(1, sizeof *m);
    tk_il_version *il = calloc(1, sizeof *il);
    if (!m || !il) abort();
    m->rt = rt;
    m->id = atomic_fetch_add(&rt->next_method_id, 1);
    m->name = xstrdup(d->name);
    m->body = d->body;
    m->user = d->user;
    m->flags = d->flags;
    m->decl = decl;
    m->is_virtual = virt;
    m->vslot = slot;
    m->ils = m->active_il = il;
    m->next_il = 1;
    tkr_lock(&rt->obj_mtx, TKR_LK_OBJ);
    m->next_all = rt->methods;
    if (rt->methods) rt->methods->prev_all = m;
    rt->methods = m;
    tkr_unlock(&rt->obj_mtx, TKR_LK_OBJ);
    return m;
}

static int bad(char *err, size_t errlen, const char *what, const char *name)
{
    if (err && errlen) snprintf(err, errlen, "type %s: %s", name ? name : "?", what);
    return -1;
}

static const tk_iface_impl_def *find_impl(const tk_type *t, const tk_type *iface, uint32_t islot)
{
    for (; t; t = t->parent)
        for (uint32_t i = 0; i < t->n_impls; i++)
            if (t->impls[i].iface == iface && t->impls[i].iface_slot == islot) return &t->impls[i];
    return NULL;
}

tk_type *tk_type_define(tk_runtime *rt, const tk_type_def *def, char *err, size_t errlen)
{
    if (!def) { bad(err, errlen, "NULL definition", NULL); return NULL; }
    tk_type *p = def->parent;
    uint32_t base = p ? p->n_vt : 0;
    if (p && (p->flags & TK_TYPE_INTERFACE)) { bad(err, errlen, "parent is an interface", def->name); return NULL; }
    if (p && __atomic_load_n(&p->unloaded, __ATOMIC_RELAXED)) { bad(err, errlen, "parent type is unloaded", def->name); return NULL; }
    if ((def->flags & TK_TYPE_INTERFACE) && (p || def->n_overrides || def->n_methods || def->n_impls)) {
        bad(err, errlen, "an interface only declares virtuals", def->name); return NULL;
    }
    if ((def->n_virtuals && !def->virtuals) || (def->n_overrides && !def->overrides) ||
        (def->n_methods && !def->methods) || (def->n_impls && !def->impls)) {
        bad(err, errlen, "count without array", def->name); return NULL;
    }
    for (uint32_t i = 0; i < def->n_overrides; i++) {
        if (def->overrides[i].slot >= base) { bad(err, errlen, "override of a slot the parent does not have", def->name); return NULL; }
        if (!def->overrides[i].method.body) { bad(err, errlen, "override without a body", def->name); return NULL; }
    }
    for (uint32_t i = 0; i < def->n_methods; i++)
        if (!def->methods[i].body) { bad(err, errlen, "non-virtual method without a body", def->name); return NULL; }
    uint32_t n = base + def->n_virtuals;
    for (uint32_t i = 0; i < def->n_impls; i++) {
        const tk_iface_impl_def *im = &def->impls[i];
        if (!im->iface || !(im->iface->flags & TK_TYPE_INTERFACE) || im->iface_slot >= im->iface->n_vt || im->vtable_slot >= n) {
            bad(err, errlen, "bad interface implementation entry", def->name); return NULL;
        }
    }
    tk_type *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->rt = rt;
    t->name = xstrdup(def->name);
    t->parent = p;
    t->flags = def->flags;
    t->n_vt = n;
    t->vt_methods = calloc(n ? n : 1, sizeof *t->vt_methods);
    t->slot_rec = calloc(n ? n : 1, sizeof *t->slot_rec);
    if (!t->vt_methods || !t->slot_rec) abort();
    if (p) memcpy(t->vt_methods, p->vt_methods, base * sizeof *t->vt_methods);
    for (uint32_t i = 0; i < def->n_overrides; i++)
        t->vt_methods[def->overrides[i].slot] = method_new(rt, &def->overrides[i].method, t, true, def->overrides[i].slot);
    for (uint32_t i = 0; i < def->n_virtuals; i++)
        t->vt_methods[base + i] = method_new(rt, &def->virtuals[i], t, true, base + i);
    t->n_nv = def->n_methods;
    t->nv_methods = calloc(t->n_nv ? t->n_nv : 1, sizeof *t->nv_methods);
    for (uint32_t i = 0; i < def->n_methods; i++)
        t->nv_methods[i] = method_new(rt, &def->methods[i], t, false, 0);
    t->n_impls = def->n_impls;
    t->impls = calloc(def->n_impls ? def->n_impls : 1, sizeof *t->impls);
    if (def->n_impls) memcpy(t->impls, def->impls, def->n_impls * sizeof *t->impls);
    tkr_lock(&rt->obj_mtx, TKR_LK_OBJ);
    t->next_all = rt->types;
    if (rt->types) rt->types->prev_all = t;
    rt->types = t;
    if (p) p->n_child_structs++;   /* p's struct outlives t's (lifetime.c) */
    tkr_unlock(&rt->obj_mtx, TKR_LK_OBJ);
    return t;
}

/* Builds the vtable: every slot at its method's temporary entry point,
 * inherited slots included — never the parent's current value
 * (`inv.slot.inherit-temporary-entry`). */
int tk_type_load(tk_runtime *rt, tk_type *t)
{
    if (!t) return -1;
    void **vt = calloc(t->n_vt ? t->n_vt : 1, sizeof *vt);
    if (!vt) return -1;
    /* The state checks and the publication of the vtable happen under the
     * object-list lock, as does tk_type_unload's check for loaded children
     * and its marking of the type as unloaded: a child cannot finish
     * loading once its parent started unloading, and a parent cannot
     * unload while a child is loading. */
    tkr_lock(&rt->obj_mtx, TKR_LK_OBJ);
    if (t->loaded || t->unloaded || (t->parent && (!t->parent->loaded || t->parent->unloaded))) {
        tkr_unlock(&rt->obj_mtx, TKR_LK_OBJ);
        free(vt);
        return -1;
    }
    for (uint32_t i = 0; i < t->n_vt; i++) {
        tk_method *m = t->vt_methods[i];
        if (!m || !m->body) continue;               /* abstract: never called */
        void *v = tkr_get_tep(m);
        vt[i] = v;
    }
    for (uint32_t i = 0; i < t->n_nv; i++)
        t->nv_methods[i]->own_slot = tkr_get_tep(t->nv_methods[i]);
    __atomic_store_n(&t->vtable, vt, __ATOMIC_RELEASE);
    t->loaded = true;
    if (t->parent) t->parent->n_loaded_children++;
    tkr_unlock(&rt->obj_mtx, TKR_LK_OBJ);
    if (ev_on(rt)) {
        for (uint32_t i = 0; i < t->n_vt; i++)
            if (vt[i]) {
                tk_event ev = {0};
                tk_method *m = t->vt_methods[i];
                ev.kind = TK_EV_SLOT_WRITE; ev.method = m; ev.slot = &vt[i]; ev.new_value = vt[i];
                ev.slot_kind = m->decl == t ? TK_SLOT_OWNING : TK_SLOT_VTABLE; ev.reason = "init";
                tkr_emit(rt, &ev);
            }
        for (uint32_t i = 0; i < t->n_nv; i++) {
            tk_event ev = {0};
            tk_method *m = t->nv_methods[i];
            ev.kind = TK_EV_SLOT_WRITE; ev.method = m; ev.slot = &m->own_slot; ev.new_value = m->own_slot;
            ev.slot_kind = TK_SLOT_NONVIRTUAL; ev.reason = "init";
            tkr_emit(rt, &ev);
        }
        tk_event ev = {0};
        ev.kind = TK_EV_TYPE_LOAD; ev.type = t;
        tkr_emit(rt, &ev);
    }
    return 0;
}

/* What an unloaded type's methods own in stub memory: the temporary entry
 * point and the forwarder (FixupPrecodes both), the call-counting stubs.  Taken out
 * of the method under the code-version lock (a dead method gets no new
 * entry point, stub or counting: tiering.c, callcount.c), freed after a
 * safe point. */
typedef struct reclaim_item { tk_stub_kind kind; void *stub; tk_method *m; int32_t tier; uint32_t il; } reclaim_item;
typedef struct reclaim { reclaim_item *v; uint32_t n, cap; } reclaim;

static void reclaim_add(reclaim *rc, tk_stub_kind kind, void *stub, tk_method *m, int32_t tier, uint32_t il)
{
    if (!stub) return;
    rc->v = tkr_reserve(rc->v, &rc->cap, rc->n + 1, sizeof *rc->v, 16);
    rc->v[rc->n++] = (reclaim_item){ kind, stub, m, tier, il };
}

/* m dies: no new entry point, stub, counting or queue entry (tiering.c,
 * callcount.c), and it leaves the method list, so no deletion pass or
 * counter walk visits it again (lifetime.c frees it).  Code-version lock
 * held. */
static void collect_stubs(tk_runtime *rt, reclaim *rc, tk_method *m)
{
    __atomic_store_n(&m->dead, true, __ATOMIC_RELAXED);
    tkr_lock(&rt->obj_mtx, TKR_LK_OBJ);
    tkr_method_unlink_locked(rt, m);
    tkr_unlock(&rt->obj_mtx, TKR_LK_OBJ);
    /* out of the call path first (`inv.reclaim.unpublish-before-free`):
     * counting stops and the precodes go back to the prestub, so a call
     * still in flight lands in the prestub, which runs the code it has */
    tkr_stop_counting(rt, m);
    void *tep = atomic_load(&m->tep);
    if (tep) tkr_precode_reset(rt, m, tep, TK_PHASE_NONFINAL);
    if (m->forwarder) tkr_precode_reset(rt, m, m->forwarder, TK_PHASE_NONFINAL);
    reclaim_add(rc, TK_STUB_FIXUP, tep, m, TK_TIER_UNKNOWN, 0);
    reclaim_add(rc, TK_STUB_FIXUP, m->forwarder, m, TK_TIER_UNKNOWN, 0);
    for (tk_il_version *il = m->ils; il; il = il->next)
        for (tk_native_version *nv = il->versions; nv; nv = nv->next)
            if (nv->info && nv->info->stub) {
                /* the info itself stays (`impl.info-outlives-stub`); no
                 * deletion pass sees this stub again */
                reclaim_add(rc, TK_STUB_CALLCOUNT, nv->info->stub, m, nv->tier, il->id);
                nv->info->stub = NULL;
            }
}

int tk_type_unload(tk_runtime *rt, tk_type *t)
{
    if (!t) return -1;
    tkr_lock(&rt->obj_mtx, TKR_LK_OBJ);
    /* O(1): each type counts its loaded children (walking every type ever
     * defined made unload quadratic under type churn). */
    bool ok = t->loaded && !t->unloaded && t->n_loaded_children == 0;
    if (ok) {
        /* from here on no child can load or be defined, no second unload */
        __atomic_store_n(&t->unloaded, true, __ATOMIC_RELAXED);
        if (t->parent) t->parent->n_loaded_children--;
    }
    tkr_unlock(&rt->obj_mtx, TKR_LK_OBJ);
    if (!ok) return -1;
    uint64_t t0;
    reclaim rc = {0};
    tkr_bp_lock(rt, TK_PHASE_NONFINAL, &t0);
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    tkr_forget_type_slots(rt, t);
    for (uint32_t i = 0; i < t->n_vt; i++)
        if (t->vt_methods[i] && t->vt_methods[i]->decl == t) collect_stubs(rt, &rc, t->vt_methods[i]);
    for (uint32_t i = 0; i < t->n_nv; i++) collect_stubs(rt, &rc, t->nv_methods[i]);
    void **vt = t->vtable;
    __atomic_store_n(&t->vtable, NULL, __ATOMIC_RELEASE);
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    if (ev_on(rt)) {
        tk_event ev = {0};
        ev.kind = TK_EV_TYPE_UNLOAD; ev.type = t;
        tkr_emit(rt, &ev);
    }
    tkr_bp_unlock(rt, TK_PHASE_NONFINAL, t0);
    /* A caller may still hold the vtable or a precode it loaded before the
     * unload: free only after every registered thread passed a safe point,
     * with no lock held while waiting (`inv.reclaim.wait-safepoint`, the
     * stub deletion's QSBR wait, callcount.c). */
    tkr_check_no_locks("synchronize_rcu");
    bool was_online = tkr_begin_offline();
    synchronize_rcu();
    tkr_end_offline(was_online);
    if (rc.n && ev_on(rt)) tkr_ev_simple(rt, TK_EV_SAFEPOINT_SYNC, NULL, TK_TIER_UNKNOWN, 0, "type_unload");
    for (size_t k = 0; k < rc.n; k++)
        tkr_stub_free(rt, rc.v[k].kind, rc.v[k].stub, rc.v[k].m, rc.v[k].tier, rc.v[k].il);
    free(rc.v);
    free(vt);
    /* the rest (versions, infos, code, then the structs) once no
     * background step can hold it (`impl.type-metadata-lifetime`) */
    tkr_type_retire(rt, t);
    return 0;
}

uint32_t tk_type_vtable_size(const tk_type *t) { return t->n_vt; }
const char *tk_type_name(const tk_type *t) { return t->name; }
tk_method *tk_type_virtual_method(const tk_type *t, uint32_t slot) { return slot < t->n_vt ? t->vt_methods[slot] : NULL; }
tk_method *tk_type_nonvirtual_method(const tk_type *t, uint32_t i) { return i < t->n_nv ? t->nv_methods[i] : NULL; }
const char *tk_method_name(const tk_method *m) { return m->name; }
uint32_t tk_method_id(const tk_method *m) { return m->id; }

tk_object *tk_object_new(tk_runtime *rt, tk_type *t)
{
    (void)rt;
    if (!t || !t->loaded || t->unloaded || (t->flags & (TK_TYPE_INTERFACE | TK_TYPE_ABSTRACT))) return NULL;
    tk_object *o = calloc(1, sizeof *o);
    if (o) o->type = t;
    return o;
}

void tk_object_free(tk_runtime *rt, tk_object *o) { (void)rt; free(o); }

void **tk_vtable_slot(tk_type *t, uint32_t slot)
{
    void **vt = __atomic_load_n(&t->vtable, __ATOMIC_ACQUIRE);
    return (vt && slot < t->n_vt) ? &vt[slot] : NULL;
}

void **tk_interface_slot(tk_type *t, tk_type *iface, uint32_t islot)
{
    const tk_iface_impl_def *im = find_impl(t, iface, islot);
    return im ? tk_vtable_slot(t, im->vtable_slot) : NULL;
}

/* No slot for a method of an unloaded type: its temporary entry point is
 * freed, and so is, later, the struct holding a non-virtual's slot. */
void **tk_method_slot(tk_method *m)
{
    if (__atomic_load_n(&m->dead, __ATOMIC_RELAXED)) return NULL;
    if (!m->is_virtual) return &m->own_slot;
    return tk_vtable_slot(m->decl, m->vslot);
}
