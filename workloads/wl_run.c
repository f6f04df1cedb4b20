/* workloads/wl_run.c — builds a generated universe inside a runtime (through
 * the driver ABI only) and drives requests through it.
 *
 * Calls are made the way JIT code makes them: the caller holds the address
 * of a slot (vtable slot, interface-resolved slot or a method's owning
 * slot), loads the slot's current value and calls the loaded address.  No
 * slot address is cached across a type load, and no slot value is cached at
 * all, so every backpatch is observed by the next call. */
#include "workloads/wl_run.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const tk_wl_phase_names[WL_P_COUNT] = {"startup", "warmup", "measured", "quiet",
                                                 "burst", "measured2"};

/* ---- runtime-side universe ---------------------------------------------------- */
typedef struct rt_recv { void **slot; void *obj; uint32_t owning; } rt_recv;
typedef struct rt_site { uint32_t n; uint32_t fanout; rt_recv *recv; } rt_site;
/* work_t: work units by tier index (TI_*), work * the workload's tier factor */
enum { TI_T0 = 0, TI_T0I, TI_FINAL, TI_COUNT };
typedef struct rt_method { uint32_t work, n_calls; uint32_t work_t[TI_COUNT]; rt_site **calls; } rt_method;
typedef struct rt_handler { uint32_t n; rt_site **sites; } rt_handler;

#define HIST_BUCKETS 640

typedef struct worker {
    struct runner *R;
    pthread_t th;
    uint64_t rng, sink;
    _Atomic uint64_t requests[WL_P_COUNT];
    _Atomic uint64_t calls[WL_P_COUNT];
    /* body executions per tier index and calls through owning slots, per
     * phase: written by this worker only (relaxed load + store, no locked
     * instruction), read by the sampling thread */
    _Atomic uint64_t tier_calls[WL_P_COUNT][TI_COUNT];
    _Atomic uint64_t owning_calls[WL_P_COUNT];
    uint64_t cur_tier[TI_COUNT], cur_owning;   /* this request, not shared   */
    int recv_mode;                    /* WL_RECV_* for this request          */
    _Atomic uint64_t epoch;
    uint32_t hist[WL_P_COUNT][HIST_BUCKETS];
    char pad[64];
} worker;

typedef struct runner {
    const tk_wl_universe *u;
    const tk_wl_spec *s;
    const tk_driver *d;
    tk_drv_runtime *rt;
    const tk_wl_run_opts *o;
    tk_drv_type **iface_t, **class_t;
    void **obj;                       /* per class (NULL if abstract/unloaded) */
    rt_method *m;
    rt_site *site;
    rt_recv *recv;
    rt_site **call_ptrs, **handler_site_ptrs;
    rt_handler *handler;
    rt_recv factory;                  /* owning slot of the factory method    */
    char **names;
    size_t n_names, cap_names;
    _Atomic int phase;
    _Atomic int late_ready;
    /* receiver rotation and type churn */
    _Atomic int recv_mode;            /* WL_RECV_*                           */
    uint32_t **zcdf;                  /* Zipf CDF per receiver count         */
    uint32_t max_recv;
    _Atomic int pause;                /* churn: workers park while set       */
    _Atomic int parked;
    uint32_t *recv_site;              /* site of each receiver entry         */
    uint32_t *cls_recv_off, *cls_recv; /* receiver entries of each class     */
    uint32_t *churn_out, n_churn_out, churn_cursor;
    uint8_t *unloaded;                /* per class                           */
    uint8_t *churn_cand;              /* per class: a churn candidate        */
    uint64_t churn_unloads, churn_loads, churn_events, rotations;
    double next_churn_ms, next_rotation_ms, t_origin;
    worker main_w;
} runner;

enum { WL_RECV_UNIFORM = 0, WL_RECV_ZIPF, WL_RECV_SINGLE };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(double ms)
{
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

static void progress(const runner *R, const char *fmt, ...)
{
    if (!R->o->progress) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tk-bench: %s: ", R->o->label ? R->o->label : "run");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char *keep(runner *R, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (R->n_names == R->cap_names) {
        R->cap_names = R->cap_names ? R->cap_names * 2 : 1024;
        R->names = realloc(R->names, R->cap_names * sizeof *R->names);
    }
    return R->names[R->n_names++] = strdup(buf);
}

/* ---- the method body -------------------------------------------------------- */
static inline uint32_t pick(worker *w, uint32_t n)
{
    uint64_t x = w->rng;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    w->rng = x;
    return (uint32_t)(((x >> 32) * (uint64_t)n) >> 32);
}

static inline int64_t call_recv(const rt_recv *r, int64_t budget, worker *w, int64_t salt)
{
    tk_entry_fn f = (tk_entry_fn)__atomic_load_n(r->slot, __ATOMIC_ACQUIRE);
    w->cur_owning += r->owning;
    return f(r->obj, budget, (int64_t)(intptr_t)w, salt, 0);
}

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

static int64_t tk_wl_body(const tk_code_ctx *ctx, void *self, int64_t budget, int64_t wp,
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
static int64_t tk_wl_factory(const tk_code_ctx *ctx, void *self, int64_t budget, int64_t wp,
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

static const rt_handler *choose_handler(runner *R, worker *w)
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
static int64_t do_request(runner *R, worker *w, const rt_handler *h, int64_t budget)
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

static double hist_value(unsigned idx)
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

static void record(worker *w, int ph, uint64_t ns, int64_t calls)
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

/* ---- building the universe in the runtime ------------------------------------ */
static int define_class(runner *R, uint32_t c, char *err, size_t errlen)
{
    const tk_wl_universe *u = R->u;
    const tk_wl_class *k = &u->classes[c];
    tk_method_def *virt = calloc(k->n_virtuals + 1, sizeof *virt);
    tk_override_def *ov = calloc(k->n_overrides + 1, sizeof *ov);
    tk_method_def *nv = calloc(k->n_nonvirtuals + 1, sizeof *nv);
    tk_iface_impl_def *im = calloc(k->n_impls + 1, sizeof *im);
    const char *cname = k->parent == WL_NONE ? keep(R, "Base%u", c) : keep(R, "C%u", c);
    for (uint32_t j = 0; j < k->n_virtuals; j++) {
        uint32_t mi = k->first_virtual + j;
        const tk_wl_method *m = &u->methods[mi];
        virt[j].name = keep(R, "V%u", m->slot);
        virt[j].body = m->abstract ? NULL : tk_wl_body;
        virt[j].user = &R->m[mi];
    }
    for (uint32_t j = 0; j < k->n_overrides; j++) {
        uint32_t mi = k->first_override + j;
        const tk_wl_method *m = &u->methods[mi];
        ov[j].slot = m->slot;
        ov[j].method.name = keep(R, "V%u", m->slot);
        ov[j].method.body = tk_wl_body;
        ov[j].method.user = &R->m[mi];
    }
    for (uint32_t j = 0; j < k->n_nonvirtuals; j++) {
        uint32_t mi = k->first_nonvirtual + j;
        const tk_wl_method *m = &u->methods[mi];
        nv[j].name = m->kind == WL_M_FACTORY ? "Create" : keep(R, "N%u", j);
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

static int resolve_recv(runner *R, uint32_t si, uint32_t ri, char *err, size_t errlen);

/* The stand-in for receiver entry ri while its class is unloaded: the first
 * receiver of the same site whose class is not a churn candidate (one
 * exists by construction, wl_gen.c pick_churn). */
static int stand_in(runner *R, uint32_t si, uint32_t ri, char *err, size_t errlen)
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
            resolve_recv(R, si, s->first_recv + q, err, errlen))
            return -1;
    for (uint32_t q = 0; q < s->n_recv; q++)
        if (R->unloaded && R->unloaded[u->recv[s->first_recv + q]] &&
            stand_in(R, si, s->first_recv + q, err, errlen))
            return -1;
    return 0;
}

/* Slot and object of receiver entry ri (of site si) in the current types. */
static int resolve_recv(runner *R, uint32_t si, uint32_t ri, char *err, size_t errlen)
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

static int build(runner *R, int late, char *err, size_t errlen)
{
    const tk_wl_universe *u = R->u;
    if (!late) {
        for (uint32_t i = 0; i < u->n_interfaces; i++) {
            uint32_t n = (uint32_t)R->s->interface_methods;
            tk_method_def *v = calloc(n + 1, sizeof *v);
            for (uint32_t j = 0; j < n; j++) v[j].name = keep(R, "M%u", j);
            tk_type_def def = {.name = keep(R, "I%u", i), .flags = TK_TYPE_INTERFACE,
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
        if (define_class(R, c, err, errlen)) return -1;
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

static void setup_tables(runner *R)
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

static void teardown(runner *R)
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

/* ---- counters ------------------------------------------------------------------- */
static void snapshot(runner *R, tk_wl_run_result *res, uint64_t *nf, uint64_t *fi)
{
    tk_counter c[WL_MAX_COUNTERS];
    memset(c, 0, sizeof c);
    size_t n = R->d->counters ? R->d->counters(R->rt, c, WL_MAX_COUNTERS) : 0;
    if (n > WL_MAX_COUNTERS) n = WL_MAX_COUNTERS;
    if (res->n_counters == 0) {
        for (size_t i = 0; i < n; i++) {
            res->counter_name[i] = strdup(c[i].name ? c[i].name : "?");
            res->counter_split[i] = c[i].split;
        }
        res->n_counters = (uint32_t)n;
    }
    for (size_t i = 0; i < res->n_counters; i++) {
        /* match by name: implementations may add counters lazily */
        size_t j = i < n && c[i].name && !strcmp(c[i].name, res->counter_name[i]) ? i : n;
        if (j == n)
            for (size_t k = 0; k < n; k++)
                if (c[k].name && !strcmp(c[k].name, res->counter_name[i])) { j = k; break; }
        nf[i] = j < n ? c[j].nonfinal : 0;
        fi[i] = j < n ? c[j].final : 0;
    }
}

static void close_phase(runner *R, tk_wl_run_result *res, int ph, double dur_ms, uint64_t *pnf,
                        uint64_t *pfi, worker **ws, int nw)
{
    uint64_t nf[WL_MAX_COUNTERS], fi[WL_MAX_COUNTERS];
    snapshot(R, res, nf, fi);
    tk_wl_phase_result *p = &res->phase[ph];
    p->present = 1;
    p->duration_ms = dur_ms;
    for (uint32_t i = 0; i < res->n_counters; i++) {
        p->delta_nonfinal[i] = nf[i] - pnf[i];
        p->delta_final[i] = fi[i] - pfi[i];
        pnf[i] = nf[i];
        pfi[i] = fi[i];
    }
    uint64_t hist[HIST_BUCKETS] = {0};
    for (int i = 0; i < nw; i++) {
        p->requests += atomic_load(&ws[i]->requests[ph]);
        p->calls += atomic_load(&ws[i]->calls[ph]);
        p->calls_tier0 += atomic_load_explicit(&ws[i]->tier_calls[ph][TI_T0], memory_order_relaxed);
        p->calls_tier0instr += atomic_load_explicit(&ws[i]->tier_calls[ph][TI_T0I], memory_order_relaxed);
        p->calls_final += atomic_load_explicit(&ws[i]->tier_calls[ph][TI_FINAL], memory_order_relaxed);
        p->owning_slot_calls += atomic_load_explicit(&ws[i]->owning_calls[ph], memory_order_relaxed);
    }
    (void)hist;
    p->requests_per_s = dur_ms > 0 ? (double)p->requests * 1000.0 / dur_ms : 0;
    p->calls_per_s = dur_ms > 0 ? (double)p->calls * 1000.0 / dur_ms : 0;
}

/* Latency percentiles need the per-thread histograms, which are only read
 * after the workers have been joined. */
static void latency(tk_wl_run_result *res, worker **ws, int nw)
{
    for (int ph = 0; ph < WL_P_COUNT; ph++) {
        tk_wl_phase_result *p = &res->phase[ph];
        uint64_t total = 0, h[HIST_BUCKETS] = {0};
        for (int i = 0; i < nw; i++)
            for (int b = 0; b < HIST_BUCKETS; b++) { h[b] += ws[i]->hist[ph][b]; total += ws[i]->hist[ph][b]; }
        p->p50_us = p->p99_us = p->max_us = -1;
        if (!total) continue;
        uint64_t acc = 0, k50 = (total + 1) / 2, k99 = (total * 99 + 99) / 100;
        for (int b = 0; b < HIST_BUCKETS; b++) {
            if (!h[b]) continue;
            uint64_t before = acc;
            acc += h[b];
            if (before < k50 && acc >= k50) p->p50_us = hist_value((unsigned)b) / 1000.0;
            if (before < k99 && acc >= k99) p->p99_us = hist_value((unsigned)b) / 1000.0;
            p->max_us = hist_value((unsigned)b) / 1000.0;
        }
    }
}

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
    uint64_t keep[TI_COUNT], own = w->cur_owning;
    memcpy(keep, w->cur_tier, sizeof keep);
    call_recv(r, 1, w, 0);
    int fin = w->cur_tier[TI_FINAL] != keep[TI_FINAL];
    memcpy(w->cur_tier, keep, sizeof keep);
    w->cur_owning = own;
    return fin;
}

#define WL_CONVERGE_CALLS 64   /* calls per non-final entry per round */

/* After the warmup rounds: round after round, call every receiver entry of
 * every built site (and the factory) whose method has not yet been seen
 * running final code, WL_CONVERGE_CALLS times, then clock_advance +
 * drain; stop when a round finds every reached method final, or after
 * det_converge rounds.  Deterministic (no PRNG draws). */
static void converge(runner *R, worker *w, tk_wl_run_result *res)
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

/* ---- threaded mode -------------------------------------------------------------- */
static void *worker_main(void *arg)
{
    worker *w = arg;
    runner *R = w->R;
    R->d->thread_attach(R->rt);
    for (;;) {
        int ph = atomic_load_explicit(&R->phase, memory_order_acquire);
        if (ph == WL_P_STOP) break;
        if (ph == WL_P_QUIET) {
            R->d->thread_offline(R->rt);
            while (atomic_load_explicit(&R->phase, memory_order_acquire) == WL_P_QUIET) sleep_ms(1);
            R->d->thread_online(R->rt);
            continue;
        }
        if (atomic_load_explicit(&R->pause, memory_order_acquire)) {
            /* type churn: park (offline) until the main thread is done */
            R->d->thread_offline(R->rt);
            atomic_fetch_add(&R->parked, 1);
            while (atomic_load_explicit(&R->pause, memory_order_acquire)) sleep_ms(0.05);
            R->d->thread_online(R->rt);
            atomic_fetch_sub(&R->parked, 1);
            continue;
        }
        const rt_handler *h = choose_handler(R, w);
        uint64_t t0 = now_ns();
        int64_t calls = do_request(R, w, h, R->s->calls_per_request);
        record(w, ph, now_ns() - t0, calls);
        R->d->safepoint(R->rt);
    }
    R->d->thread_detach(R->rt);
    return NULL;
}

static uint64_t total_requests(worker **ws, int nw)
{
    uint64_t t = 0;
    for (int i = 0; i < nw; i++)
        for (int ph = 0; ph < WL_P_COUNT; ph++)
            t += atomic_load_explicit(&ws[i]->requests[ph], memory_order_relaxed);
    return t;
}

/* ---- receiver rotation and type churn ---------------------------------------- */
/* Rotation phase at time t_ms (from the start of warmup): A uniform, B Zipf,
 * C single type, each rotation_ms long, repeating. */
static void rotate_to(runner *R, double t_ms)
{
    if (R->s->rotation_ms <= 0) return;
    int mode = (int)((uint64_t)(t_ms / (double)R->s->rotation_ms) % 3);
    if (mode != atomic_load_explicit(&R->recv_mode, memory_order_relaxed)) {
        atomic_store_explicit(&R->recv_mode, mode, memory_order_relaxed);
        R->rotations++;
    }
}

/* One churn event; no worker is calling (parked, or deterministic mode).
 * Loads fresh copies (type_define + type_load) of the types unloaded by the
 * previous event and points their receiver entries back at them, then
 * unloads the next churn_types candidates after pointing each of their
 * receiver entries at a stand-in: the first receiver of the same site that
 * is not a churn candidate (one exists by construction, wl_gen.c). */
static int churn_step(runner *R, char *err, size_t errlen)
{
    const tk_wl_universe *u = R->u;
    R->churn_events++;
    for (uint32_t k = 0; k < R->n_churn_out; k++) {
        uint32_t c = R->churn_out[k];
        if (define_class(R, c, err, errlen)) return -1;
        R->unloaded[c] = 0;
        R->churn_loads++;
        for (uint32_t j = R->cls_recv_off[c]; j < R->cls_recv_off[c + 1]; j++) {
            uint32_t ri = R->cls_recv[j];
            if (resolve_recv(R, R->recv_site[ri], ri, err, errlen)) return -1;
        }
    }
    R->n_churn_out = 0;
    uint32_t want = (uint32_t)R->s->churn_types;
    if (want > u->n_churn) want = u->n_churn;
    for (uint32_t k = 0; k < want; k++) {
        uint32_t c = u->churn[R->churn_cursor++ % u->n_churn];
        for (uint32_t j = R->cls_recv_off[c]; j < R->cls_recv_off[c + 1]; j++) {
            uint32_t ri = R->cls_recv[j];
            if (stand_in(R, R->recv_site[ri], ri, err, errlen)) return -1;
        }
        if (R->obj[c]) R->d->object_free(R->rt, R->obj[c]);
        R->obj[c] = NULL;
        if (R->d->type_unload(R->rt, R->class_t[c])) {
            snprintf(err, errlen, "churn: type_unload(C%u) failed", c);
            return -1;
        }
        R->unloaded[c] = 1;
        R->churn_unloads++;
        R->churn_out[R->n_churn_out++] = c;
    }
    return 0;
}

/* Threaded churn: park the workers (offline, outside any call), churn on
 * this thread, release them. */
static int churn_threaded(runner *R, int nw, char *err, size_t errlen)
{
    atomic_store_explicit(&R->pause, 1, memory_order_release);
    while (atomic_load(&R->parked) < nw) sleep_ms(0.05);
    R->d->thread_online(R->rt);
    int rc = churn_step(R, err, errlen);
    R->d->thread_offline(R->rt);
    atomic_store_explicit(&R->pause, 0, memory_order_release);
    while (atomic_load(&R->parked) > 0) sleep_ms(0.05);
    return rc;
}

static double min_d(double a, double b) { return a < b ? a : b; }

/* Runs phase `ph` for dur_ms, sampling request counts every window. */
static double run_phase(runner *R, tk_wl_run_result *res, int ph, double dur_ms, worker **ws, int nw,
                        double t_origin)
{
    double start = now_ms(), end = start + dur_ms;
    atomic_store_explicit(&R->phase, ph, memory_order_release);
    progress(R, "%s phase, %.1f s", tk_wl_phase_names[ph], dur_ms / 1000.0);
    if (ph == WL_P_QUIET) {
        sleep_ms(dur_ms);
        return now_ms() - start;
    }
    /* Windows lie on a fixed grid from the start of the phase (start + k *
     * window_ms), so oversleeping never shifts the later ones; a window's
     * rate uses its actual length, and a window counts (for time to steady
     * state) when it is at least 95% of window_ms long: the last window of
     * a phase, cut at its end, is kept unless the phase is not a multiple of
     * the window. */
    double wstart = start, grid = start + res->window_ms;
    uint64_t wreq = total_requests(ws, nw);
    int events = R->s->rotation_ms > 0 || R->s->churn_ms > 0;
    while (now_ms() < end - 0.5) {
        double next = grid;
        if (next > end) next = end;
        if (events) {
            /* wake up for the next rotation or churn event too */
            if (R->s->rotation_ms > 0) next = min_d(next, R->next_rotation_ms + t_origin);
            if (R->s->churn_ms > 0) next = min_d(next, R->next_churn_ms + t_origin);
        }
        sleep_ms(next - now_ms());
        double t = now_ms();
        if (events) {
            if (R->s->rotation_ms > 0 && t - t_origin >= R->next_rotation_ms) {
                rotate_to(R, t - t_origin);
                while (R->next_rotation_ms <= t - t_origin) R->next_rotation_ms += (double)R->s->rotation_ms;
            }
            if (R->s->churn_ms > 0 && t - t_origin >= R->next_churn_ms) {
                if (churn_threaded(R, nw, res->error, sizeof res->error)) return -1;
                while (R->next_churn_ms <= now_ms() - t_origin) R->next_churn_ms += (double)R->s->churn_ms;
                t = now_ms();
            }
        }
        if (t < grid - 0.05 && t < end - 0.5) continue;   /* woken early (an event) */
        uint64_t req = total_requests(ws, nw);
        if (t - wstart >= res->window_ms * 0.95 && res->n_windows < WL_MAX_WINDOWS) {
            res->window_start_ms[res->n_windows] = wstart - t_origin;
            res->window_rps[res->n_windows] = (double)(req - wreq) * 1000.0 / (t - wstart);
            res->window_phase[res->n_windows] = (uint8_t)ph;
            res->n_windows++;
        }
        wstart = t;
        wreq = req;
        while (grid <= t + 0.05) grid += res->window_ms;
    }
    return now_ms() - start;
}

double tk_wl_steady_time(const double *start_ms, const double *rps, uint32_t n, double window_ms,
                         double from_ms, double to_ms, double mean, double tol, uint32_t *n_out,
                         double *closest_pct, double *closest_ms)
{
    double found = -1, best = -1;
    uint32_t considered = 0;
    *closest_pct = 0;
    *closest_ms = -1;
    for (uint32_t i = 0; i < n; i++) {
        double s = start_ms[i];
        if (s < from_ms - 1e-6 || s >= to_ms) continue;
        considered++;
        if (mean <= 0) continue;
        double dev = rps[i] - mean, d = dev < 0 ? -dev : dev;
        if (best < 0 || d < best) {
            best = d;
            *closest_pct = dev / mean * 100.0;
            *closest_ms = s - from_ms;
        }
        if (found < 0 && d <= tol * mean) found = s + window_ms - from_ms;
    }
    *n_out = considered;
    return found;
}

static int create_runtime(runner *R, tk_wl_run_result *res)
{
    const char *cfg[WL_MAX_CONFIG + 64];
    char own[WL_MAX_CONFIG + 8][192];
    size_t n = 0, no = 0;
    for (uint32_t i = 0; i < R->s->n_config; i++) {
        snprintf(own[no], sizeof own[no], "%s=%s", R->s->config_key[i], R->s->config_val[i]);
        cfg[n++] = own[no++];
    }
    for (size_t i = 0; R->o->extra_config && R->o->extra_config[i] && n < WL_MAX_CONFIG + 40; i++)
        cfg[n++] = R->o->extra_config[i];
    if (R->o->strategy) {
        snprintf(own[no], sizeof own[no], "Strategy=%s", R->o->strategy);
        cfg[n++] = own[no++];
    }
    snprintf(own[no], sizeof own[no], "Mode=%s", R->o->deterministic ? "deterministic" : "threaded");
    cfg[n++] = own[no++];
    if (R->o->trace_path) {
        snprintf(own[no], sizeof own[no], "Trace=%s", R->o->trace_path);
        cfg[n++] = own[no++];
    }
    cfg[n] = NULL;
    char err[512] = "";
    R->rt = R->d->create(cfg, err, sizeof err);
    if (!R->rt) {
        snprintf(res->error, sizeof res->error, "the runtime rejected the configuration: %s",
                 err[0] ? err : "(no message)");
        return -1;
    }
    if (R->d->describe_config) {
        size_t len = R->d->describe_config(R->rt, res->config_text, sizeof res->config_text);
        if (len >= sizeof res->config_text) res->config_text[sizeof res->config_text - 1] = 0;
    }
    return 0;
}

int tk_wl_run(const tk_wl_universe *u, const tk_wl_run_opts *o, tk_wl_run_result *res)
{
    memset(res, 0, sizeof *res);
    res->tts_ms = res->tts_after_burst_ms = -1;
    res->ns_per_call = -1;
    res->tts_closest_ms = res->tts_after_burst_closest_ms = -1;
    res->converge_rounds = res->converge_methods = res->converge_not_final = res->converge_calls = -1;
    res->deterministic = o->deterministic;
    runner R;
    memset(&R, 0, sizeof R);
    R.u = u;
    R.s = u->spec;
    R.d = o->drv;
    R.o = o;
    const tk_wl_spec *s = u->spec;
    int nthreads = o->threads > 0 ? o->threads : (int)s->threads;
    res->threads = o->deterministic ? 1 : nthreads;
    res->window_ms = (double)s->window_ms;
    if (o->deterministic && !(R.d->caps & TK_CAP_DETERMINISTIC)) {
        snprintf(res->error, sizeof res->error, "the implementation lacks TK_CAP_DETERMINISTIC");
        return -1;
    }
    if (!o->deterministic && !(R.d->caps & TK_CAP_THREADED)) {
        snprintf(res->error, sizeof res->error, "the implementation lacks TK_CAP_THREADED");
        return -1;
    }
    /* functions only some runs call: checked against what this run does */
    const char *absent = o->deterministic && !R.d->clock_advance ? "clock_advance"
                       : o->deterministic && !R.d->drain ? "drain"
                       : u->n_interfaces && !R.d->interface_slot ? "interface_slot"
                       : s->churn_types > 0 && s->churn_ms > 0 && !R.d->type_unload ? "type_unload" : NULL;
    if (absent) {
        snprintf(res->error, sizeof res->error, "the driver table's '%s' is NULL and this run needs it",
                 absent);
        return -1;
    }
    if (u->n_interfaces && !(R.d->caps & TK_CAP_INTERFACES)) {
        snprintf(res->error, sizeof res->error,
                 "the workload uses interfaces and the implementation lacks TK_CAP_INTERFACES");
        return -1;
    }
    setup_tables(&R);
    if (create_runtime(&R, res)) { teardown(&R); return -1; }

    uint64_t pnf[WL_MAX_COUNTERS] = {0}, pfi[WL_MAX_COUNTERS] = {0};
    worker *mw = &R.main_w;
    mw->R = &R;
    mw->rng = s->seed * 0x9E3779B97F4A7C15ull + 1;
    worker **ws = calloc((size_t)nthreads + 1, sizeof *ws);
    worker *wk = NULL;
    int nw = 0, rc = -1;
    char err[512] = "";

    /* P0 startup: type loads, objects, the first request (timed) */
    double t0 = now_ms();
    R.d->thread_attach(R.rt);
    if (build(&R, 0, err, sizeof err)) {
        snprintf(res->error, sizeof res->error, "%s", err);
        goto out;
    }
    {
        uint64_t a = now_ns();
        int64_t calls = do_request(&R, mw, &R.handler[0], s->calls_per_request);
        uint64_t b = now_ns();
        res->first_request_us = (double)(b - a) / 1000.0;
        record(mw, WL_P_STARTUP, b - a, calls);
    }
    res->startup_ms = now_ms() - t0;
    ws[0] = mw;
    close_phase(&R, res, WL_P_STARTUP, res->startup_ms, pnf, pfi, ws, 1);

    R.next_rotation_ms = (double)s->rotation_ms;
    R.next_churn_ms = (double)s->churn_ms;
    res->churn_candidates = u->n_churn;
    if (o->deterministic) {
        /* Rounds of requests on this thread, then manual clock + drain. */
        double sim_ms = 0;
        int has_burst = u->n_handlers > u->n_early_handlers;
        for (int part = 0; part < (has_burst ? 2 : 1); part++) {
            int ph = part ? WL_P_BURST : WL_P_WARMUP;
            double a = now_ms();
            if (part) {
                R.d->clock_advance(R.rt, (uint64_t)s->quiet_gap_ms);
                R.d->drain(R.rt);
                close_phase(&R, res, WL_P_QUIET, 0, pnf, pfi, ws, 1);
                if (build(&R, 1, err, sizeof err)) {
                    snprintf(res->error, sizeof res->error, "%s", err);
                    goto out;
                }
                atomic_store(&R.late_ready, 1);
                a = now_ms();
            }
            uint32_t h0 = part ? u->n_early_handlers : 0;
            uint32_t nh = part ? u->n_handlers - u->n_early_handlers : u->n_early_handlers;
            for (int64_t r = 0; r < s->det_rounds; r++) {
                int64_t nq = s->det_all_handlers ? (int64_t)nh : s->det_requests_per_round;
                for (int64_t q = 0; q < nq; q++) {
                    const rt_handler *h = s->det_all_handlers ? &R.handler[h0 + (uint32_t)q]
                                                              : choose_handler(&R, mw);
                    uint64_t x = now_ns();
                    int64_t calls = do_request(&R, mw, h, s->calls_per_request);
                    record(mw, ph, now_ns() - x, calls);
                    R.d->safepoint(R.rt);
                }
                R.d->clock_advance(R.rt, (uint64_t)s->det_advance_ms);
                R.d->drain(R.rt);
                /* rotation and churn on the manual clock */
                sim_ms += (double)s->det_advance_ms;
                rotate_to(&R, sim_ms);
                if (s->churn_ms > 0 && sim_ms >= R.next_churn_ms) {
                    while (R.next_churn_ms <= sim_ms) R.next_churn_ms += (double)s->churn_ms;
                    if (churn_step(&R, err, sizeof err)) {
                        snprintf(res->error, sizeof res->error, "%s", err);
                        goto out;
                    }
                }
            }
            /* the last warmup part ends with the convergence pass */
            if (part == (has_burst ? 1 : 0) && s->det_converge > 0) {
                progress(&R, "warmup convergence, at most %lld rounds", (long long)s->det_converge);
                converge(&R, mw, res);
            }
            close_phase(&R, res, ph, now_ms() - a, pnf, pfi, ws, 1);
        }
        /* measured: exactly o->calls calls (budgets), or N requests */
        double a = now_ms();
        int64_t made = 0;
        if (o->calls >= 0) {
            int64_t left = o->calls;
            while (left > 0) {
                const rt_handler *h = choose_handler(&R, mw);
                int64_t b = left < s->calls_per_request ? left : s->calls_per_request;
                uint64_t x = now_ns();
                int64_t c = do_request(&R, mw, h, b);
                record(mw, WL_P_MEASURE, now_ns() - x, c);
                made += b;
                left -= b;
            }
        } else {
            for (int64_t q = 0; q < s->det_measure_requests; q++) {
                const rt_handler *h = choose_handler(&R, mw);
                uint64_t x = now_ns();
                int64_t c = do_request(&R, mw, h, s->calls_per_request);
                record(mw, WL_P_MEASURE, now_ns() - x, c);
                made += c;
            }
        }
        double dur = now_ms() - a;
        close_phase(&R, res, WL_P_MEASURE, dur, pnf, pfi, ws, 1);
        res->measured_calls = made;
        uint64_t mc = res->phase[WL_P_MEASURE].calls;
        res->ns_per_call = mc ? dur * 1e6 / (double)mc : -1;
        latency(res, ws, 1);
        R.d->thread_detach(R.rt);
        rc = 0;
        goto out;
    }

    /* threaded: workers run the phases; this thread samples and switches */
    R.d->thread_offline(R.rt);
    wk = calloc((size_t)nthreads, sizeof *wk);
    atomic_store(&R.phase, WL_P_WARMUP);
    double origin = now_ms();
    R.t_origin = origin;
    for (int i = 0; i < nthreads; i++) {
        wk[i].R = &R;
        wk[i].rng = (s->seed + 0x1234567ull * (uint64_t)(i + 2)) | 1;
        if (pthread_create(&wk[i].th, NULL, worker_main, &wk[i])) {
            snprintf(res->error, sizeof res->error, "pthread_create failed");
            atomic_store(&R.phase, WL_P_STOP);
            for (int j = 0; j < nw; j++) pthread_join(wk[j].th, NULL);
            R.d->thread_online(R.rt);
            R.d->thread_detach(R.rt);
            goto out;
        }
        ws[nw++] = &wk[i];
    }
    double d;
#define PHASE_OR_FAIL(ph, ms)                                                          \
    do {                                                                               \
        d = run_phase(&R, res, (ph), (ms), ws, nw, origin);                            \
        if (d < 0) {                                                                   \
            atomic_store(&R.pause, 0);                                                 \
            atomic_store(&R.phase, WL_P_STOP);                                         \
            for (int j = 0; j < nw; j++) pthread_join(wk[j].th, NULL);                 \
            R.d->thread_online(R.rt);                                                  \
            R.d->thread_detach(R.rt);                                                  \
            goto out;                                                                  \
        }                                                                              \
        close_phase(&R, res, (ph), d, pnf, pfi, ws, nw);                               \
    } while (0)
    PHASE_OR_FAIL(WL_P_WARMUP, (double)s->warmup_ms);
    double measure_start = now_ms() - origin;
    PHASE_OR_FAIL(WL_P_MEASURE, (double)s->measure_ms);
    double measure_end = now_ms() - origin;
    double burst_start = -1, m2_end = -1;
    if (u->n_handlers > u->n_early_handlers) {
        double qa = now_ms();
        atomic_store(&R.phase, WL_P_QUIET);
        progress(&R, "quiet gap, %.0f ms, then %u new handlers over %u new types",
                 (double)s->quiet_gap_ms, u->n_handlers - u->n_early_handlers,
                 u->n_classes - u->n_early_classes);
        sleep_ms((double)s->quiet_gap_ms);
        R.d->thread_online(R.rt);
        int brc = build(&R, 1, err, sizeof err);
        R.d->thread_offline(R.rt);
        close_phase(&R, res, WL_P_QUIET, now_ms() - qa, pnf, pfi, ws, nw);
        if (brc) {
            snprintf(res->error, sizeof res->error, "%s", err);
            atomic_store(&R.phase, WL_P_STOP);
            for (int j = 0; j < nw; j++) pthread_join(wk[j].th, NULL);
            R.d->thread_online(R.rt);
            R.d->thread_detach(R.rt);
            goto out;
        }
        atomic_store_explicit(&R.late_ready, 1, memory_order_release);
        burst_start = now_ms() - origin;
        PHASE_OR_FAIL(WL_P_BURST, (double)s->burst_ms);
        PHASE_OR_FAIL(WL_P_MEASURE2, (double)s->measure2_ms);
        m2_end = now_ms() - origin;
    }
    atomic_store(&R.phase, WL_P_STOP);
    for (int j = 0; j < nw; j++) pthread_join(wk[j].th, NULL);
    R.d->thread_online(R.rt);
    R.d->thread_detach(R.rt);
    latency(res, ws, nw);
    {
        /* startup latency (the first request) lives in the main worker */
        worker *one[1] = {mw};
        tk_wl_phase_result keep0 = res->phase[WL_P_STARTUP];
        tk_wl_run_result *tmp = calloc(1, sizeof *tmp);
        latency(tmp, one, 1);
        keep0.p50_us = tmp->phase[WL_P_STARTUP].p50_us;
        keep0.p99_us = tmp->phase[WL_P_STARTUP].p99_us;
        keep0.max_us = tmp->phase[WL_P_STARTUP].max_us;
        res->phase[WL_P_STARTUP] = keep0;
        res->phase[WL_P_STARTUP].requests = 1;
        free(tmp);
    }
    res->tts_ms = tk_wl_steady_time(res->window_start_ms, res->window_rps, res->n_windows,
                                    res->window_ms, 0, measure_end,
                                    res->phase[WL_P_MEASURE].requests_per_s, 0.02, &res->tts_windows,
                                    &res->tts_closest_pct, &res->tts_closest_ms);
    (void)measure_start;
    if (burst_start >= 0)
        res->tts_after_burst_ms = tk_wl_steady_time(
            res->window_start_ms, res->window_rps, res->n_windows, res->window_ms, burst_start, m2_end,
            res->phase[WL_P_MEASURE2].requests_per_s, 0.02, &res->tts_after_burst_windows,
            &res->tts_after_burst_closest_pct, &res->tts_after_burst_closest_ms);
    rc = 0;
out:
    if (rc == 0 || res->n_counters == 0) {
        /* final counters (totals) */
        uint64_t nf[WL_MAX_COUNTERS], fi[WL_MAX_COUNTERS];
        if (R.rt) {
            snapshot(&R, res, nf, fi);
            for (uint32_t i = 0; i < res->n_counters; i++) {
                res->counter_nonfinal[i] = nf[i];
                res->counter_final[i] = fi[i];
            }
        }
    }
    res->rotations = R.rotations;
    res->churn_events = R.churn_events;
    res->churn_unloads = R.churn_unloads;
    res->churn_loads = R.churn_loads;
    res->leaked_recorded_slots = -1;
    for (uint32_t i = 0; i < res->n_counters; i++)
        if (strstr(res->counter_name[i], "leak")) {
            snprintf(res->leak_counter, sizeof res->leak_counter, "%s", res->counter_name[i]);
            res->leaked_recorded_slots = (int64_t)(res->counter_nonfinal[i] + res->counter_final[i]);
            break;
        }
    res->types_defined = u->n_interfaces + u->n_classes + R.churn_loads;
    for (uint32_t c = 0; c < u->n_classes; c++) res->objects += R.obj[c] != NULL;
    free(wk);
    free(ws);
    teardown(&R);
    return rc;
}

void tk_wl_run_result_free(tk_wl_run_result *res)
{
    for (uint32_t i = 0; i < res->n_counters; i++) free(res->counter_name[i]);
    res->n_counters = 0;
}

const tk_driver *tk_wl_load_driver(const char *path, char *err, size_t errlen)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load implementation %s: %s", path, dlerror());
        return NULL;
    }
    tk_driver_entry_fn entry = (tk_driver_entry_fn)dlsym(h, TK_DRIVER_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(err, errlen, "%s does not export %s (not a tk_driver ABI v%d library)", path,
                 TK_DRIVER_ENTRY_SYMBOL, TK_DRIVER_ABI_VERSION);
        return NULL;
    }
    const tk_driver *d = entry();
    if (!d || d->abi_version != TK_DRIVER_ABI_VERSION) {
        snprintf(err, errlen, "%s: driver ABI version %u, tk-bench needs %d", path,
                 d ? d->abi_version : 0, TK_DRIVER_ABI_VERSION);
        return NULL;
    }
    if (d->size < offsetof(tk_driver, set_event_sink)) {
        snprintf(err, errlen, "%s: driver table too small (%u bytes)", path, d->size);
        return NULL;
    }
    /* Every function tk-bench calls must be present: a NULL entry would be
     * a crash in the middle of a run (tk-conform rejects them the same way). */
#define WL_NEED(fn) { #fn, d->fn == NULL }
    const struct { const char *name; int missing; } need[] = {
        WL_NEED(create), WL_NEED(destroy), WL_NEED(type_define), WL_NEED(type_load),
        WL_NEED(nonvirtual_method), WL_NEED(object_new), WL_NEED(object_free),
        WL_NEED(vtable_slot), WL_NEED(method_slot), WL_NEED(thread_attach), WL_NEED(thread_detach),
        WL_NEED(safepoint), WL_NEED(thread_offline), WL_NEED(thread_online),
    };
#undef WL_NEED
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (need[i].missing) {
            snprintf(err, errlen, "%s: the driver table's '%s' is NULL (tk-bench calls it)", path,
                     need[i].name);
            return NULL;
        }
    return d;
}
