/* workloads/wl_universe.c — building the generated universe inside the runtime
 * (types, objects, receiver slots, stand-ins for unloaded classes) and
 * tearing it down.
 * (wl_run_internal.h lists the parts.) */
#include "workloads/wl_run_internal.h"

/* ---- building the universe in the runtime ------------------------------------ */
int wlr_define_class(runner *R, uint32_t c, char *err, size_t errlen)
{
    const tk_wl_universe *u = R->u;
    const tk_wl_class *k = &u->classes[c];
    tk_method_def *virt = calloc(k->n_virtuals + 1, sizeof *virt);
    tk_override_def *ov = calloc(k->n_overrides + 1, sizeof *ov);
    tk_method_def *nv = calloc(k->n_nonvirtuals + 1, sizeof *nv);
    tk_iface_impl_def *im = calloc(k->n_impls + 1, sizeof *im);
    const char *cname = k->parent == WL_NONE ? wlr_keep(R, "Base%u", c) : wlr_keep(R, "C%u", c);
    for (uint32_t j = 0; j < k->n_virtuals; j++) {
        uint32_t mi = k->first_virtual + j;
        const tk_wl_method *m = &u->methods[mi];
        virt[j].name = wlr_keep(R, "V%u", m->slot);
        virt[j].body = m->abstract ? NULL : tk_wl_body;
        virt[j].user = &R->m[mi];
    }
    for (uint32_t j = 0; j < k->n_overrides; j++) {
        uint32_t mi = k->first_override + j;
        const tk_wl_method *m = &u->methods[mi];
        ov[j].slot = m->slot;
        ov[j].method.name = wlr_keep(R, "V%u", m->slot);
        ov[j].method.body = tk_wl_body;
        ov[j].method.user = &R->m[mi];
    }
    for (uint32_t j = 0; j < k->n_nonvirtuals; j++) {
        uint32_t mi = k->first_nonvirtual + j;
        const tk_wl_method *m = &u->methods[mi];
        nv[j].name = m->kind == WL_M_FACTORY ? "Create" : wlr_keep(R, "N%u", j);
        nv[j].body = m->kind == WL_M_FACTORY ? tk_wl_factory : tk_wl_body;
        nv[j].user = &R->m[mi];
    }
    for (uint32_t j = 0; j < k->n_impls; j++) {
        const tk_wl_impl *x = &u->impls[k->first_impl + j];
        im[j].iface = R->iface_t[x->iface];
        im[j].iface_slot = x->iface_slot;
        im[j].vtable_slot = x->vtable_slot;
    }
    tk_type_def def = {
        .name = cname,
        .parent = k->parent == WL_NONE ? NULL : R->class_t[k->parent],
        .flags = k->abstract ? TK_TYPE_ABSTRACT : 0,
        .n_virtuals = k->n_virtuals, .virtuals = virt,
        .n_overrides = k->n_overrides, .overrides = ov,
        .n_methods = k->n_nonvirtuals, .methods = nv,
        .n_impls = k->n_impls, .impls = im,
    };
    char derr[512] = "";
    R->class_t[c] = R->d->type_define(R->rt, &def, derr, sizeof derr);
    int rc = 0;
    if (!R->class_t[c]) {
        snprintf(err, errlen, "type_define(%s) failed: %s", cname, derr);
        rc = -1;
    } else if (R->d->type_load(R->rt, R->class_t[c])) {
        snprintf(err, errlen, "type_load(%s) failed", cname);
        rc = -1;
    } else if (!k->abstract) {
        R->obj[c] = R->d->object_new(R->rt, R->class_t[c]);
    }
    free(virt); free(ov); free(nv); free(im);
    return rc;
}

int wlr_resolve_recv(runner *R, uint32_t si, uint32_t ri, char *err, size_t errlen);

/* The stand-in for receiver entry ri while its class is unloaded: the first
 * receiver of the same site whose class is not a churn candidate (one
 * exists by construction, wl_gen.c pick_churn). */
int wlr_stand_in(runner *R, uint32_t si, uint32_t ri, char *err, size_t errlen)
{
    const tk_wl_universe *u = R->u;
    const tk_wl_site *st = &u->sites[si];
    for (uint32_t q = 0; q < st->n_recv; q++) {
        uint32_t y = u->recv[st->first_recv + q];
        if (!R->churn_cand[y]) {
            R->recv[ri] = R->recv[st->first_recv + q];
            return 0;
        }
    }
    snprintf(err, errlen, "churn: site %u has no stand-in receiver for C%u", si, u->recv[ri]);
    return -1;
}

/* Resolves every receiver of site si; a receiver whose class churn has
 * unloaded (a burst site built while its class is out) calls through its
 * stand-in until churn loads the class again, exactly as the receivers of
 * sites built before the unload do. */
static int resolve_site(runner *R, uint32_t si, char *err, size_t errlen)
{
    const tk_wl_universe *u = R->u;
    const tk_wl_site *s = &u->sites[si];
    rt_site *r = &R->site[si];
    r->n = s->n_recv;
    r->fanout = s->kind == WL_S_FANOUT;
    r->recv = &R->recv[s->first_recv];
    for (uint32_t q = 0; q < s->n_recv; q++)
        if (!(R->unloaded && R->unloaded[u->recv[s->first_recv + q]]) &&
            wlr_resolve_recv(R, si, s->first_recv + q, err, errlen))
            return -1;
    for (uint32_t q = 0; q < s->n_recv; q++)
        if (R->unloaded && R->unloaded[u->recv[s->first_recv + q]] &&
            wlr_stand_in(R, si, s->first_recv + q, err, errlen))
            return -1;
    return 0;
}

/* Slot and object of receiver entry ri (of site si) in the current types. */
int wlr_resolve_recv(runner *R, uint32_t si, uint32_t ri, char *err, size_t errlen)
{
    const tk_wl_universe *u = R->u;
    const tk_wl_site *s = &u->sites[si];
    {
        uint32_t cls = u->recv[ri];
        tk_drv_type *t = R->class_t[cls];
        void **slot = NULL;
        switch (s->kind) {
        case WL_S_VIRT: slot = R->d->vtable_slot(t, s->slot); break;
        case WL_S_IFACE:
        case WL_S_FANOUT: slot = R->d->interface_slot(t, R->iface_t[s->target], s->slot); break;
        case WL_S_DIRECT: {
            const tk_wl_method *m = &u->methods[s->target];
            tk_drv_method *dm = R->d->nonvirtual_method(R->class_t[m->cls], m->index);
            slot = dm ? R->d->method_slot(dm) : NULL;
            break;
        }
        }
        if (!slot) {
            snprintf(err, errlen, "site %u: the driver returned no slot for receiver C%u", si, cls);
            return -1;
        }
        R->recv[ri].slot = slot;
        R->recv[ri].obj = R->obj[cls];
        R->recv[ri].owning = u->recv_owning ? u->recv_owning[ri] : 0;
    }
    return 0;
}

int wlr_build(runner *R, int late, char *err, size_t errlen)
{
    const tk_wl_universe *u = R->u;
    if (!late) {
        for (uint32_t i = 0; i < u->n_interfaces; i++) {
            uint32_t n = (uint32_t)R->s->interface_methods;
            tk_method_def *v = calloc(n + 1, sizeof *v);
            for (uint32_t j = 0; j < n; j++) v[j].name = wlr_keep(R, "M%u", j);
            tk_type_def def = {.name = wlr_keep(R, "I%u", i), .flags = TK_TYPE_INTERFACE,
                               .n_virtuals = n, .virtuals = v};
            char derr[512] = "";
            R->iface_t[i] = R->d->type_define(R->rt, &def, derr, sizeof derr);
            free(v);
            if (!R->iface_t[i]) {
                snprintf(err, errlen, "type_define(I%u) failed: %s", i, derr);
                return -1;
            }
            if (R->d->type_load(R->rt, R->iface_t[i])) {
                snprintf(err, errlen, "type_load(I%u) failed", i);
                return -1;
            }
        }
    }
    uint32_t c0 = late ? u->n_early_classes : 0, c1 = late ? u->n_classes : u->n_early_classes;
    for (uint32_t c = c0; c < c1; c++)
        if (wlr_define_class(R, c, err, errlen)) return -1;
    uint32_t s0 = late ? u->n_early_sites : 0, s1 = late ? u->n_sites : u->n_early_sites;
    for (uint32_t si = s0; si < s1; si++)
        if (resolve_site(R, si, err, errlen)) return -1;
    if (!late && u->factory_method != WL_NONE) {
        const tk_wl_method *m = &u->methods[u->factory_method];
        tk_drv_method *dm = R->d->nonvirtual_method(R->class_t[m->cls], m->index);
        R->factory.slot = dm ? R->d->method_slot(dm) : NULL;
        R->factory.obj = NULL;
        if (!R->factory.slot) {
            snprintf(err, errlen, "factory method has no owning slot");
            return -1;
        }
    }
    return 0;
}

void wlr_setup_tables(runner *R)
{
    const tk_wl_universe *u = R->u;
    R->iface_t = calloc(u->n_interfaces + 1, sizeof *R->iface_t);
    R->class_t = calloc(u->n_classes + 1, sizeof *R->class_t);
    R->obj = calloc(u->n_classes + 1, sizeof *R->obj);
    R->m = calloc(u->n_methods + 1, sizeof *R->m);
    R->site = calloc(u->n_sites + 1, sizeof *R->site);
    R->recv = calloc(u->n_recv + 1, sizeof *R->recv);
    R->call_ptrs = calloc(u->n_calls + 1, sizeof *R->call_ptrs);
    R->handler_site_ptrs = calloc(u->n_handler_sites + 1, sizeof *R->handler_site_ptrs);
    R->handler = calloc(u->n_handlers + 1, sizeof *R->handler);
    for (uint32_t i = 0; i < u->n_calls; i++) R->call_ptrs[i] = &R->site[u->calls[i]];
    const uint64_t cost[TI_COUNT] = {R->s->tier0_cost_ppb, R->s->tier0i_cost_ppb, R->s->tier1_cost_ppb};
    for (uint32_t i = 0; i < u->n_methods; i++) {
        R->m[i].work = u->methods[i].work;
        for (int t = 0; t < TI_COUNT; t++)   /* rounded to the nearest unit, exact integers */
            R->m[i].work_t[t] = (uint32_t)(((uint64_t)u->methods[i].work * cost[t] + WL_PPB / 2) / WL_PPB);
        R->m[i].n_calls = u->methods[i].n_calls;
        R->m[i].calls = &R->call_ptrs[u->methods[i].first_call];
    }
    for (uint32_t i = 0; i < u->n_handler_sites; i++)
        R->handler_site_ptrs[i] = &R->site[u->handler_sites[i]];
    for (uint32_t h = 0; h < u->n_handlers; h++) {
        R->handler[h].n = u->handlers[h].n_sites;
        R->handler[h].sites = &R->handler_site_ptrs[u->handlers[h].first_site];
    }
    if (R->s->rotation_ms > 0) {
        /* Zipf CDF for every receiver count that occurs */
        for (uint32_t i = 0; i < u->n_sites; i++)
            if (u->sites[i].n_recv > R->max_recv) R->max_recv = u->sites[i].n_recv;
        R->zcdf = calloc(R->max_recv + 1, sizeof *R->zcdf);
        for (uint32_t i = 0; i < u->n_sites; i++) {
            uint32_t n = u->sites[i].n_recv;
            if (!R->zcdf[n]) R->zcdf[n] = tk_wl_zipf_cdf(n, R->s->receiver_zipf_ppb);
        }
    }
    if (R->s->churn_types > 0) {
        uint32_t nc = u->n_classes;
        R->recv_site = calloc(u->n_recv + 1, sizeof *R->recv_site);
        R->cls_recv_off = calloc(nc + 2, sizeof *R->cls_recv_off);
        R->cls_recv = calloc(u->n_recv + 1, sizeof *R->cls_recv);
        R->churn_out = calloc((size_t)R->s->churn_types + 1, sizeof *R->churn_out);
        R->unloaded = calloc(nc + 1, 1);
        R->churn_cand = calloc(nc + 1, 1);
        for (uint32_t i = 0; i < u->n_churn; i++) R->churn_cand[u->churn[i]] = 1;
        for (uint32_t i = 0; i < u->n_sites; i++)
            for (uint32_t q = 0; q < u->sites[i].n_recv; q++) R->recv_site[u->sites[i].first_recv + q] = i;
        for (uint32_t i = 0; i < u->n_recv; i++) R->cls_recv_off[u->recv[i] + 1]++;
        for (uint32_t c = 0; c < nc; c++) R->cls_recv_off[c + 1] += R->cls_recv_off[c];
        uint32_t *cur = calloc(nc + 1, sizeof *cur);
        for (uint32_t i = 0; i < u->n_recv; i++) {
            uint32_t c = u->recv[i];
            R->cls_recv[R->cls_recv_off[c] + cur[c]++] = i;
        }
        free(cur);
    }
}

void wlr_teardown(runner *R)
{
    if (R->rt) {
        for (uint32_t c = 0; c < R->u->n_classes; c++)
            if (R->obj[c]) R->d->object_free(R->rt, R->obj[c]);
        R->d->destroy(R->rt);
        R->rt = NULL;
    }
    free(R->iface_t); free(R->class_t); free(R->obj); free(R->m); free(R->site); free(R->recv);
    free(R->call_ptrs); free(R->handler_site_ptrs); free(R->handler);
    if (R->zcdf)
        for (uint32_t n = 0; n <= R->max_recv; n++) free(R->zcdf[n]);
    free(R->zcdf); free(R->recv_site); free(R->cls_recv_off); free(R->cls_recv);
    free(R->churn_out); free(R->unloaded); free(R->churn_cand);
    for (size_t i = 0; i < R->n_names; i++) free(R->names[i]);
    free(R->names);
}
