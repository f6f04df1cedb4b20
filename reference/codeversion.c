/* reference/codeversion.c — code versions (CoreCLR code-versioning design): per method a list of
 * IL versions (0 = default, then ReJIT-like explicit ones), each with
 * native versions per tier beneath it; one active IL version per method and
 * one active native version per IL version.  "Compiling" a native version
 * emits its native entry (tk_emit_entry) with a per-version tk_code_ctx. */
#include "strategy.h"

#include <stdlib.h>
#include <time.h>

int32_t tkr_first_tier(tk_runtime *rt, tk_method *m)
{
    if (!rt->cfg.tiered_compilation || !rt->strat->tiered ||
        (m->flags & TK_METHOD_NOT_TIERED))
        return TK_TIER_OPTIMIZED;
    return TK_TIER_0;
}

/* Called with the code-version lock held. */
tk_native_version *tkr_nv_new(tk_method *m, tk_il_version *il, int32_t tier)
{
    tk_native_version *nv = calloc(1, sizeof *nv);
    if (!nv) abort();
    nv->m = m;
    nv->il = il;
    nv->tier = tier;
    nv->ctx.method = m;
    nv->ctx.tier = tier;
    nv->ctx.il_version = il->id;
    nv->ctx.user = m->user;
    nv->next = il->versions;
    il->versions = nv;
    return nv;
}

bool tkr_il_has_final(tk_il_version *il)
{
    for (tk_native_version *v = il->versions; v; v = v->next)
        if (TK_TIER_IS_FINAL(v->tier)) return true;
    return false;
}

static void spend(uint32_t us)
{
    /* One clock, one subtraction: the earlier per-field difference turned
     * negative (and huge once unsigned) when the wait crossed a second
     * boundary, ending a simulated compile early. */
    uint64_t end = tkr_mono_ns() + (uint64_t)us * 1000u;
    while (tkr_mono_ns() < end) continue;
}

/* Compile outside the locks; the first finished compile wins (a racing
 * duplicate is discarded, its few bytes of code heap are not reused). */
void *tkr_compile(tk_runtime *rt, tk_native_version *nv)
{
    void *code = atomic_load(&nv->code);
    if (code) return code;
    if (rt->cfg.compile_cost_us) {
        ctr_add(rt, C_COMPILE_COST_US, TK_PHASE_FINAL, rt->cfg.compile_cost_us);
        if (rt->cfg.mode == TK_MODE_THREADED) spend(rt->cfg.compile_cost_us);
    }
    /* tk_emit_entry serialises on the code heap's own lock; a runtime lock
     * around it was a second round trip per compile. */
    void *c = tk_emit_entry(rt->code_heap, (void *)nv->m->body, &nv->ctx);
    if (!c) { perror("tierkit: tk_emit_entry"); abort(); }
    void *expected = NULL;
    if (!atomic_compare_exchange_strong(&nv->code, &expected, c)) return expected;
    atomic_fetch_add(&nv->m->compiles, 1);
    ctr_add(rt, C_COMPILES, TK_PHASE_FINAL, 1);
    return c;
}

/* Activating an IL version republishes the method: its entry point is
 * reset (slots back to the temporary entry point, precode back to the
 * prestub) so the next call goes through the prestub, the tiering delay
 * and call counting again, as CoreCLR does for ReJIT. */
static int activate(tk_runtime *rt, tk_method *m, tk_il_version *il, bool only_if_inactive)
{
    uint64_t t0;
    tkr_bp_lock(rt, TK_PHASE_NONFINAL, &t0);
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    /* The "already active" check of a revert is made under the locks, so a
     * revert racing a request cannot skip the reset it needs.  A dead
     * method's versions are being freed (lifetime.c): -1. */
    if (m->dead) {
        tkr_unlock(&rt->cv_lock, TKR_LK_CV);
        tkr_bp_unlock(rt, TK_PHASE_NONFINAL, t0);
        return -1;
    }
    if (!(only_if_inactive && m->active_il == il)) {
        m->active_il = il;
        if (ev_on(rt)) tkr_ev_simple(rt, TK_EV_VERSION_ACTIVATE, m, TK_TIER_UNKNOWN, il->id, NULL);
        tkr_reset_entry_point(rt, m);
    }
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    tkr_bp_unlock(rt, TK_PHASE_NONFINAL, t0);
    return 0;
}

int64_t tk_version_request(tk_runtime *rt, tk_method *m)
{
    if (!m || !m->body) return -1;
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    if (m->dead) {   /* its type unloaded: its versions are being freed (lifetime.c) */
        tkr_unlock(&rt->cv_lock, TKR_LK_CV);
        return -1;
    }
    tk_il_version *il = calloc(1, sizeof *il);
    if (!il) { tkr_unlock(&rt->cv_lock, TKR_LK_CV); return -1; }
    il->id = m->next_il++;
    tk_il_version **p = &m->ils;
    while (*p) p = &(*p)->next;
    *p = il;
    /* The id is read under the lock: once it is dropped, an unload of the
     * type may free the method's versions, il included (activate checks
     * for that under the lock before it touches il). */
    int64_t id = il->id;
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    return activate(rt, m, il, false) ? -1 : id;
}

int tk_version_revert(tk_runtime *rt, tk_method *m)
{
    if (!m || !m->body) return -1;
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    tk_il_version *il0 = m->ils;   /* NULL once a dead method's versions are freed */
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    return il0 ? activate(rt, m, il0, true) : -1;
}

void tk_method_get_state(tk_runtime *rt, tk_method *m, tk_method_state *out)
{
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    tk_native_version *nv = m->active_il ? m->active_il->active : NULL;
    out->tier = (nv && atomic_load(&nv->code)) ? nv->tier : TK_TIER_UNKNOWN;
    out->il_version = m->active_il ? m->active_il->id : 0;
    out->published = atomic_load(&m->published) ? 1 : 0;
    out->counting = m->counting != NULL;
    out->compiles = atomic_load(&m->compiles);
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
}
