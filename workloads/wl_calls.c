/* workloads/wl_calls.c — the method body every generated method runs, the factory,
 * requests, and the per-phase latency histogram.
 * (wl_run_internal.h lists the parts.) */
#include "workloads/wl_run_internal.h"

/* ---- the method body -------------------------------------------------------- */


static uint32_t zipf_pick(worker *w, const uint32_t *cdf, uint32_t n);

/* Receiver of a polymorphic site under the current rotation phase. */
static inline uint32_t recv_index(const rt_site *s, worker *w)
{
    if (w->recv_mode == WL_RECV_UNIFORM) return pick(w, s->n);
    if (w->recv_mode == WL_RECV_SINGLE) return 0;
    return zipf_pick(w, w->R->zcdf[s->n], s->n);
}

/* Calls one site with a budget; returns the calls made (>= 1, <= budget). */
static int64_t call_site(const rt_site *s, int64_t budget, worker *w, int64_t salt)
{
    if (s->fanout) {
        int64_t per = budget / (int64_t)s->n, used = 0;
        if (per < 1) per = 1;
        for (uint32_t i = 0; i < s->n && used < budget; i++) {
            int64_t b = budget - used < per ? budget - used : per;
            used += call_recv(&s->recv[i], b, w, salt);
        }
        return used;
    }
    uint32_t i = s->n == 1 ? 0 : salt ? (uint32_t)((uint64_t)salt % s->n) : recv_index(s, w);
    return call_recv(&s->recv[i], budget, w, salt);
}

int64_t tk_wl_body(const tk_code_ctx *ctx, void *self, int64_t budget, int64_t wp,
                       int64_t salt, int64_t a3)
{
    const rt_method *m = ctx->user;
    worker *w = (worker *)(intptr_t)wp;
    /* tier-dependent cost: Optimized counts as Tier1; a body run with an
     * unknown tier is charged as Tier0 */
    int32_t t = ctx->tier;
    unsigned ti = TK_TIER_IS_FINAL(t) ? TI_FINAL : t == TK_TIER_0_INSTRUMENTED ? TI_T0I : TI_T0;
    uint32_t work = m->work_t[ti];
    w->cur_tier[ti]++;
    uint64_t x = w->sink;
    for (uint32_t i = 0; i < work; i++) {
        x = x * 6364136223846793005ull + i;
        __asm__ volatile("" : "+r"(x));
    }
    w->sink = x;
    int64_t used = 1, rem = budget - 1;
    for (uint32_t i = 0; i < m->n_calls && rem > 0; i++) {
        int64_t share = rem / (int64_t)(m->n_calls - i);
        if (share < 1) share = 1;
        int64_t c = call_site(m->calls[i], share, w, salt);
        used += c;
        rem -= c;
    }
    return used;
}

/* The factory ("creates" the instance the request works on): returns a
 * non-zero selector that fixes the receiver of every polymorphic site for
 * the rest of the request. */
int64_t tk_wl_factory(const tk_code_ctx *ctx, void *self, int64_t budget, int64_t wp,
                          int64_t salt, int64_t a3)
{
    worker *w = (worker *)(intptr_t)wp;
    int32_t t = ctx->tier;
    w->cur_tier[TK_TIER_IS_FINAL(t) ? TI_FINAL : t == TK_TIER_0_INSTRUMENTED ? TI_T0I : TI_T0]++;
    return (int64_t)pick(w, 1u << 30) + 1;
}

/* ---- requests ------------------------------------------------------------------ */
static uint32_t zipf_pick(worker *w, const uint32_t *cdf, uint32_t n)
{
    uint32_t u = pick(w, WL_PPB), lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (u < cdf[mid]) hi = mid; else lo = mid + 1;
    }
    return lo;
}

const rt_handler *wlr_choose_handler(runner *R, worker *w)
{
    const tk_wl_universe *u = R->u;
    uint32_t nl = u->n_handlers - u->n_early_handlers;
    if (nl && atomic_load_explicit(&R->late_ready, memory_order_acquire) &&
        pick(w, WL_PPB) < R->s->burst_share_ppb)
        return &R->handler[u->n_early_handlers + zipf_pick(w, u->zipf_late, nl)];
    return &R->handler[zipf_pick(w, u->zipf_early, u->n_early_handlers)];
}

/* One request: (factory call), then the handler's sites round-robin, each
 * call a tree of at most call_tree_budget calls, until `budget` calls. */
int64_t wlr_do_request(runner *R, worker *w, const rt_handler *h, int64_t budget)
{
    int64_t salt = 0, calls = 0;
    w->recv_mode = atomic_load_explicit(&R->recv_mode, memory_order_relaxed);
    if (R->factory.slot) {
        salt = call_recv(&R->factory, 0, w, 0);
        calls++;
    }
    int64_t rem = budget, tree = R->s->call_tree_budget;
    for (uint32_t i = 0; rem > 0; i++) {
        const rt_site *s = h->sites[i % h->n];
        int64_t used = call_site(s, rem < tree ? rem : tree, w, salt);
        rem -= used;
        calls += used;
    }
    return calls;
}

static unsigned hist_index(uint64_t v)
{
    if (v < 16) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned idx = 16 + (e - 4) * 16 + (unsigned)((v >> (e - 4)) & 15);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

double wlr_hist_value(unsigned idx)
{
    if (idx < 16) return idx;
    unsigned e = (idx - 16) / 16 + 4, sub = (idx - 16) % 16;
    double lo = (double)((16ull + sub) << (e - 4)), width = (double)(1ull << (e - 4));
    return lo + width / 2;
}

static inline void add_own(_Atomic uint64_t *a, uint64_t v)
{
    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + v, memory_order_relaxed);
}

void wlr_record(worker *w, int ph, uint64_t ns, int64_t calls)
{
    atomic_fetch_add_explicit(&w->requests[ph], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->calls[ph], (uint64_t)calls, memory_order_relaxed);
    for (int i = 0; i < TI_COUNT; i++) {
        add_own(&w->tier_calls[ph][i], w->cur_tier[i]);
        w->cur_tier[i] = 0;
    }
    add_own(&w->owning_calls[ph], w->cur_owning);
    w->cur_owning = 0;
    w->hist[ph][hist_index(ns)]++;
}
