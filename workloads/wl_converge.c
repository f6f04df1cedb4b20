/* workloads/wl_converge.c — deterministic warmup convergence (det_converge).
 * (wl_run_internal.h lists the parts.) */
#include "workloads/wl_run_internal.h"

/* ---- deterministic warmup convergence (det_converge) ------------------------ */
/* The method a receiver entry reaches (the same mapping as wl_gen.c's
 * owning-slot marking). */
static uint32_t recv_method(const tk_wl_universe *u, uint32_t si, uint32_t ri)
{
    const tk_wl_site *st = &u->sites[si];
    const tk_wl_class *k = &u->classes[u->recv[ri]];
    if (st->kind == WL_S_DIRECT) return st->target;
    if (st->kind == WL_S_VIRT) return u->slot_impl[k->slot_base + st->slot];
    for (uint32_t j = 0; j < k->n_impls; j++) {
        const tk_wl_impl *x = &u->impls[k->first_impl + j];
        if (x->iface == st->target && x->iface_slot == st->slot)
            return u->slot_impl[k->slot_base + x->vtable_slot];
    }
    return WL_NONE;
}

/* One call through a receiver entry with budget 1 (the body does its work
 * and makes no further call); returns 1 when the code that ran is final.
 * The call is not recorded as a request (tier and owning tallies kept). */
static int probe_call(worker *w, const rt_recv *r)
{
    uint64_t wlr_keep[TI_COUNT], own = w->cur_owning;
    memcpy(wlr_keep, w->cur_tier, sizeof wlr_keep);
    call_recv(r, 1, w, 0);
    int fin = w->cur_tier[TI_FINAL] != wlr_keep[TI_FINAL];
    memcpy(w->cur_tier, wlr_keep, sizeof wlr_keep);
    w->cur_owning = own;
    return fin;
}

#define WL_CONVERGE_CALLS 64   /* calls per non-final entry per round */

/* After the warmup rounds: round after round, call every receiver entry of
 * every built site (and the factory) whose method has not yet been seen
 * running final code, WL_CONVERGE_CALLS times, then clock_advance +
 * drain; stop when a round finds every reached method final, or after
 * det_converge rounds.  Deterministic (no PRNG draws). */
void wlr_converge(runner *R, worker *w, tk_wl_run_result *res)
{
    const tk_wl_universe *u = R->u;
    uint32_t ns = atomic_load(&R->late_ready) ? u->n_sites : u->n_early_sites;
    uint8_t *st = calloc(u->n_methods + 1, 1);   /* 0 unseen, 1 non-final, 2 final */
    int64_t rounds = 0, calls = 0;
    for (;;) {
        int64_t pending = 0;
        for (uint32_t si = 0; si < ns; si++) {
            const tk_wl_site *site = &u->sites[si];
            for (uint32_t q = 0; q < site->n_recv; q++) {
                uint32_t ri = site->first_recv + q;
                if (R->unloaded && R->unloaded[u->recv[ri]]) continue;   /* a stand-in */
                uint32_t m = recv_method(u, si, ri);
                if (m == WL_NONE || st[m] == 2) continue;
                calls++;
                if (probe_call(w, &R->recv[ri])) { st[m] = 2; continue; }
                st[m] = 1;
                if (rounds >= R->s->det_converge) continue;   /* last look only */
                pending++;
                for (int k = 1; k < WL_CONVERGE_CALLS; k++) probe_call(w, &R->recv[ri]);
                calls += WL_CONVERGE_CALLS - 1;
            }
        }
        if (R->factory.slot && u->factory_method != WL_NONE && st[u->factory_method] != 2) {
            uint32_t m = u->factory_method;
            calls++;
            if (probe_call(w, &R->factory)) st[m] = 2;
            else {
                st[m] = 1;
                if (rounds < R->s->det_converge) {
                    pending++;
                    for (int k = 1; k < WL_CONVERGE_CALLS; k++) probe_call(w, &R->factory);
                    calls += WL_CONVERGE_CALLS - 1;
                }
            }
        }
        if (!pending) break;
        rounds++;
        R->d->clock_advance(R->rt, (uint64_t)R->s->det_advance_ms);
        R->d->drain(R->rt);
        R->d->safepoint(R->rt);
    }
    int64_t reached = 0, nonfinal = 0;
    for (uint32_t m = 0; m < u->n_methods; m++) {
        reached += st[m] != 0;
        nonfinal += st[m] == 1;
    }
    free(st);
    res->converge_rounds = rounds;
    res->converge_methods = reached;
    res->converge_not_final = nonfinal;
    res->converge_calls = calls;
}
