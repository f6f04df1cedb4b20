/* workloads/wl_gen.c — deterministic universe generation.
 *
 * Everything here is integer arithmetic on a private PRNG (splitmix64 seeding
 * xoshiro256**), except the Zipf weights, which use only +, -, *, / on
 * doubles (correctly rounded on every IEEE machine; the build's -std=c11
 * keeps GCC from contracting them into FMAs), never libm.  So a seed gives
 * the same universe, and the same fingerprint, on x86-64 and arm64.
 * Each generation stage draws from its own stream so that, e.g., changing
 * the call-site mix does not reshuffle the class hierarchy. */
#include "workloads/wl.h"

#include <stdlib.h>
#include <string.h>

/* ---- PRNG ----------------------------------------------------------------- */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tk_wl_rng_seed(tk_wl_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1342543DE82EF95ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tk_wl_rng_next(tk_wl_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}

uint32_t tk_wl_rng_below(tk_wl_rng *r, uint32_t n)
{
    if (n <= 1) return 0;
    return (uint32_t)(((tk_wl_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

uint32_t tk_wl_rng_ppb(tk_wl_rng *r) { return tk_wl_rng_below(r, WL_PPB); }

int64_t tk_wl_rng_range(tk_wl_rng *r, tk_wl_range rg)
{
    if (rg.hi <= rg.lo) return rg.lo;
    return rg.lo + (int64_t)(tk_wl_rng_next(r) % (uint64_t)(rg.hi - rg.lo + 1));
}

int64_t tk_wl_dist_sample(tk_wl_rng *r, const tk_wl_dist *d)
{
    uint32_t u = tk_wl_rng_ppb(r), acc = 0;
    for (uint32_t i = 0; i < d->n; i++) {
        acc += d->ppb[i];
        if (u < acc) return tk_wl_rng_range(r, d->label[i]);
    }
    return tk_wl_rng_range(r, d->label[d->n - 1]);
}

/* ---- basic-operation-only ln/exp for Zipf weights ------------------------ */
static double det_ln(double x)             /* x >= 1 */
{
    static const double LN2 = 0.69314718055994530942;
    int e = 0;
    while (x >= 2.0) { x /= 2.0; e++; }     /* exact */
    double z = (x - 1.0) / (x + 1.0), z2 = z * z, term = z, sum = 0.0;
    for (int k = 1; k < 80; k += 2) { sum += term / k; term *= z2; }
    return 2.0 * sum + e * LN2;
}

static double det_exp_neg(double y)        /* y <= 0 */
{
    double t = y / 1024.0, term = 1.0, sum = 1.0;
    for (int k = 1; k < 25; k++) { term = term * t / k; sum += term; }
    for (int i = 0; i < 10; i++) sum *= sum;
    return sum;
}

uint32_t *tk_wl_zipf_cdf(uint32_t n, uint32_t s_ppb)
{
    if (n == 0) return NULL;
    double s = (double)s_ppb / 1e9, total = 0.0;
    double *w = malloc(n * sizeof *w);
    for (uint32_t k = 0; k < n; k++) {
        w[k] = s_ppb == 0 ? 1.0 : det_exp_neg(-s * det_ln((double)(k + 1)));
        total += w[k];
    }
    uint32_t *cdf = malloc(n * sizeof *cdf);
    double acc = 0.0;
    for (uint32_t k = 0; k < n; k++) {
        acc += w[k];
        double c = acc / total * 1e9;
        cdf[k] = c >= 1e9 ? WL_PPB : (uint32_t)c;
    }
    cdf[n - 1] = WL_PPB;
    free(w);
    return cdf;
}

/* ---- growable arrays --------------------------------------------------------- */
#define VEC_PUSH(arr, n, cap, val)                                              \
    do {                                                                        \
        if ((n) == (cap)) {                                                     \
            (cap) = (cap) ? (cap) * 2 : 64;                                     \
            (arr) = realloc((arr), (size_t)(cap) * sizeof *(arr));              \
        }                                                                       \
        (arr)[(n)++] = (val);                                                   \
    } while (0)

enum { ST_DEPTH = 1, ST_CLASSES, ST_LATE, ST_IFACE, ST_SITES, ST_LATE_SITES, ST_CALLS,
       ST_HANDLERS, ST_WORK };

typedef struct gen {
    const tk_wl_spec *s;
    tk_wl_universe *u;
    uint32_t cap_methods, cap_slots, cap_recv, cap_calls, cap_hs;
    tk_wl_rng work_rng;
} gen;

static uint32_t add_method(gen *g, uint32_t cls, uint8_t kind, uint32_t slot, uint32_t index,
                           int abstract)
{
    tk_wl_method m;
    memset(&m, 0, sizeof m);
    m.cls = cls;
    m.kind = kind;
    m.slot = slot;
    m.index = index;
    m.abstract = (uint8_t)abstract;
    m.late = g->u->classes[cls].late;
    m.work = abstract ? 0 : (uint32_t)tk_wl_rng_range(&g->work_rng, g->s->body_work);
    m.first_call = 0;
    VEC_PUSH(g->u->methods, g->u->n_methods, g->cap_methods, m);
    if (abstract) g->u->n_abstract++;
    return g->u->n_methods - 1;
}

/* Fill methods and slot_impl of class c (its parent already done). */
static void build_class(gen *g, tk_wl_rng *r, uint32_t c)
{
    tk_wl_universe *u = g->u;
    const tk_wl_spec *s = g->s;
    tk_wl_class *k = &u->classes[c];
    uint32_t pvt = k->parent == WL_NONE ? 0 : u->classes[k->parent].vt_size;
    uint32_t nnew = (uint32_t)(k->parent == WL_NONE ? s->root_virtuals : s->derived_virtuals);
    k->vt_size = pvt + nnew;
    k->slot_base = u->n_slot_impl;
    for (uint32_t i = 0; i < k->vt_size; i++) VEC_PUSH(u->slot_impl, u->n_slot_impl, g->cap_slots, WL_NONE);
    k = &u->classes[c];
    /* new virtuals */
    k->first_virtual = u->n_methods;
    k->n_virtuals = nnew;
    for (uint32_t j = 0; j < nnew; j++) {
        uint32_t m = add_method(g, c, WL_M_VIRTUAL, pvt + j, j, k->abstract);
        u->slot_impl[k->slot_base + pvt + j] = m;
        u->n_virtual++;
    }
    /* overrides of inherited slots */
    k->first_override = u->n_methods;
    k->n_overrides = 0;
    for (uint32_t sl = 0; sl < pvt; sl++) {
        const tk_wl_class *p = &u->classes[k->parent];
        uint32_t pm = u->slot_impl[p->slot_base + sl];
        int must = u->methods[pm].abstract && !k->abstract;
        uint32_t draw = tk_wl_rng_ppb(r);
        int over = must || draw >= s->inherited_share_ppb;
        u->n_inherited_slots++;
        if (over) {
            uint32_t m = add_method(g, c, WL_M_OVERRIDE, sl, k->n_overrides, 0);
            k = &u->classes[c];
            k->n_overrides++;
            u->slot_impl[k->slot_base + sl] = m;
            u->n_override++;
        } else {
            u->slot_impl[k->slot_base + sl] = pm;
            u->n_inherited_not_overridden++;
        }
    }
    /* non-virtual methods (+ the factory on the very first class) */
    k->first_nonvirtual = u->n_methods;
    uint32_t nnv = (uint32_t)s->nonvirtuals_per_type;
    for (uint32_t j = 0; j < nnv; j++) {
        add_method(g, c, WL_M_NONVIRTUAL, 0, j, 0);
        u->n_nonvirtual++;
    }
    if (c == 0 && s->factory) {
        u->factory_method = add_method(g, c, WL_M_FACTORY, 0, nnv, 0);
        nnv++;
    }
    k = &u->classes[c];
    k->n_nonvirtuals = nnv;
}

/* Sample `want` distinct items of cand[0..n) into out (partial Fisher-Yates
 * on a scratch copy). */
static uint32_t sample_distinct(tk_wl_rng *r, uint32_t *cand, uint32_t n, uint32_t want, uint32_t *out)
{
    if (want > n) want = n;
    for (uint32_t i = 0; i < want; i++) {
        uint32_t j = i + tk_wl_rng_below(r, n - i);
        uint32_t t = cand[i]; cand[i] = cand[j]; cand[j] = t;
        out[i] = cand[i];
    }
    return want;
}

static void add_recv(gen *g, uint32_t cls)
{
    VEC_PUSH(g->u->recv, g->u->n_recv, g->cap_recv, cls);
}

static int poly_bucket(uint32_t n)
{
    return n <= 1 ? 0 : n <= 4 ? 1 : n <= 16 ? 2 : n <= 64 ? 3 : 4;
}

/* Candidate static types of virtual sites by receiver count: list[p] holds
 * {n, classes...}: the early classes (index order) with a virtual slot and
 * at least p concrete early classes in their subtree. */
typedef struct virt_cache { uint32_t **list; uint32_t n; } virt_cache;

static const uint32_t *virt_cands(virt_cache *vc, const tk_wl_universe *u, uint32_t N, uint32_t poly)
{
    if (poly >= vc->n) {
        uint32_t n = poly + 1 > vc->n * 2 ? poly + 1 : vc->n * 2;
        vc->list = realloc(vc->list, n * sizeof *vc->list);
        memset(vc->list + vc->n, 0, (n - vc->n) * sizeof *vc->list);
        vc->n = n;
    }
    if (!vc->list[poly]) {
        uint32_t cnt = 0;
        for (uint32_t cls = 0; cls < N; cls++) {
            const tk_wl_class *k = &u->classes[cls];
            cnt += k->vt_size && k->concrete_in_subtree && k->concrete_in_subtree >= poly;
        }
        uint32_t *l = malloc((cnt + 1) * sizeof *l);
        l[0] = 0;
        for (uint32_t cls = 0; cls < N; cls++) {
            const tk_wl_class *k = &u->classes[cls];
            if (k->vt_size && k->concrete_in_subtree && k->concrete_in_subtree >= poly) l[++l[0]] = cls;
        }
        vc->list[poly] = l;
    }
    return vc->list[poly];
}

static void virt_cache_free(virt_cache *vc)
{
    for (uint32_t i = 0; i < vc->n; i++) free(vc->list[i]);
    free(vc->list);
}

/* ---- owning-slot receivers and churn candidates ------------------------------ */
/* The method a receiver's call reaches and whether the slot called through
 * is that method's owning slot: its declaring class's own vtable slot (the
 * receiver's exact type declares or overrides it) or, for direct sites, a
 * non-virtual method's slot.  Inherited, not overridden slots are not. */
static void mark_owning(tk_wl_universe *u)
{
    u->recv_owning = calloc(u->n_recv + 1, 1);
    u->n_recv_owning = 0;
    for (uint32_t i = 0; i < u->n_sites; i++) {
        const tk_wl_site *st = &u->sites[i];
        for (uint32_t q = 0; q < st->n_recv; q++) {
            uint32_t ri = st->first_recv + q, cls = u->recv[ri], own = 0;
            const tk_wl_class *k = &u->classes[cls];
            if (st->kind == WL_S_DIRECT) {
                own = 1;
            } else if (st->kind == WL_S_VIRT) {
                own = u->methods[u->slot_impl[k->slot_base + st->slot]].cls == cls;
            } else {
                for (uint32_t j = 0; j < k->n_impls; j++) {
                    const tk_wl_impl *x = &u->impls[k->first_impl + j];
                    if (x->iface == st->target && x->iface_slot == st->slot) {
                        own = u->methods[u->slot_impl[k->slot_base + x->vtable_slot]].cls == cls;
                        break;
                    }
                }
            }
            u->recv_owning[ri] = (uint8_t)own;
            u->n_recv_owning += own;
        }
    }
}

/* Churn candidates (SPEC.md "Workloads" "Receiver rotation and type
 * churn"): concrete early classes without children (a parent cannot be
 * unloaded before its children), not the factory's class, and such that
 * every site they receive at keeps another receiver that is not a candidate
 * (the stand-in while they are unloaded).  Greedy in class order. */
static void pick_churn(tk_wl_universe *u)
{
    uint32_t nc = u->n_classes;
    uint8_t *has_child = calloc(nc + 1, 1), *cand = calloc(nc + 1, 1);
    for (uint32_t c = 0; c < nc; c++)
        if (u->classes[c].parent != WL_NONE) has_child[u->classes[c].parent] = 1;
    uint32_t fcls = u->factory_method != WL_NONE ? u->methods[u->factory_method].cls : WL_NONE;
    /* sites of each receiver class: CSR over (class -> site) */
    uint32_t *off = calloc(nc + 2, sizeof *off), *lst = malloc((u->n_recv + 1) * sizeof *lst);
    for (uint32_t i = 0; i < u->n_recv; i++) off[u->recv[i] + 1]++;
    for (uint32_t c = 0; c < nc; c++) off[c + 1] += off[c];
    uint32_t *cur = calloc(nc + 1, sizeof *cur);
    for (uint32_t i = 0; i < u->n_sites; i++)
        for (uint32_t q = 0; q < u->sites[i].n_recv; q++) {
            uint32_t c = u->recv[u->sites[i].first_recv + q];
            lst[off[c] + cur[c]++] = i;
        }
    u->churn = malloc((nc + 1) * sizeof *u->churn);
    u->n_churn = 0;
    if (u->spec->churn_types > 0) {
        for (uint32_t c = 0; c < u->n_early_classes; c++) {
            const tk_wl_class *k = &u->classes[c];
            if (k->abstract || has_child[c] || c == fcls) continue;
            int ok = 1;
            for (uint32_t j = off[c]; j < off[c + 1] && ok; j++) {
                const tk_wl_site *st = &u->sites[lst[j]];
                int other = 0;
                for (uint32_t q = 0; q < st->n_recv && !other; q++) {
                    uint32_t y = u->recv[st->first_recv + q];
                    other = y != c && !cand[y];
                }
                ok = other;
            }
            if (ok) { cand[c] = 1; u->churn[u->n_churn++] = c; }
        }
    }
    free(has_child); free(cand); free(off); free(lst); free(cur);
}

/* ---- fingerprint (FNV-1a over explicit fields) --------------------------------- */
static uint64_t fnv(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001B3ull;
    }
    return h;
}

static uint64_t fingerprint(const tk_wl_universe *u)
{
    uint64_t h = 0xCBF29CE484222325ull;
    h = fnv(h, u->n_classes); h = fnv(h, u->n_early_classes); h = fnv(h, u->n_interfaces);
    for (uint32_t i = 0; i < u->n_classes; i++) {
        const tk_wl_class *c = &u->classes[i];
        h = fnv(h, c->parent); h = fnv(h, c->depth); h = fnv(h, c->vt_size);
        h = fnv(h, c->n_virtuals); h = fnv(h, c->n_overrides); h = fnv(h, c->n_nonvirtuals);
        h = fnv(h, c->n_impls); h = fnv(h, c->abstract); h = fnv(h, c->late);
    }
    for (uint32_t i = 0; i < u->n_methods; i++) {
        const tk_wl_method *m = &u->methods[i];
        h = fnv(h, m->cls); h = fnv(h, m->kind); h = fnv(h, m->slot); h = fnv(h, m->work);
        h = fnv(h, m->abstract); h = fnv(h, m->n_calls); h = fnv(h, m->first_call);
    }
    for (uint32_t i = 0; i < u->n_slot_impl; i++) h = fnv(h, u->slot_impl[i]);
    for (uint32_t i = 0; i < u->n_impls; i++) {
        h = fnv(h, u->impls[i].iface); h = fnv(h, u->impls[i].iface_slot);
        h = fnv(h, u->impls[i].vtable_slot);
    }
    for (uint32_t i = 0; i < u->n_sites; i++) {
        const tk_wl_site *s = &u->sites[i];
        h = fnv(h, s->kind); h = fnv(h, s->target); h = fnv(h, s->slot);
        h = fnv(h, s->n_recv); h = fnv(h, s->first_recv); h = fnv(h, s->late);
    }
    for (uint32_t i = 0; i < u->n_recv; i++) h = fnv(h, u->recv[i]);
    for (uint32_t i = 0; i < u->n_calls; i++) h = fnv(h, u->calls[i]);
    for (uint32_t i = 0; i < u->n_handlers; i++) {
        h = fnv(h, u->handlers[i].n_sites); h = fnv(h, u->handlers[i].first_site);
    }
    for (uint32_t i = 0; i < u->n_handler_sites; i++) h = fnv(h, u->handler_sites[i]);
    for (uint32_t i = 0; i < u->n_early_handlers; i++) h = fnv(h, u->zipf_early[i]);
    for (uint32_t i = 0; i + u->n_early_handlers < u->n_handlers; i++) h = fnv(h, u->zipf_late[i]);
    h = fnv(h, u->factory_method);
    /* run parameters that change the work done or the receiver sequence */
    const tk_wl_spec *sp = u->spec;
    h = fnv(h, sp->tier0_cost_ppb); h = fnv(h, sp->tier0i_cost_ppb); h = fnv(h, sp->tier1_cost_ppb);
    h = fnv(h, (uint64_t)sp->rotation_ms); h = fnv(h, sp->receiver_zipf_ppb);
    h = fnv(h, (uint64_t)sp->churn_ms); h = fnv(h, (uint64_t)sp->churn_types);
    for (uint32_t i = 0; i < u->n_churn; i++) h = fnv(h, u->churn[i]);
    for (uint32_t i = 0; i < u->n_recv; i++) h = fnv(h, u->recv_owning[i]);
    return h;
}

void tk_wl_fingerprint_hex(const tk_wl_universe *u, char out[17])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) out[i] = hx[(u->fingerprint >> (60 - 4 * i)) & 0xf];
    out[16] = 0;
}

/* ---- generation ------------------------------------------------------------ */
int tk_wl_generate(const tk_wl_spec *s, tk_wl_universe *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    u->spec = s;
    u->factory_method = WL_NONE;
    gen g;
    memset(&g, 0, sizeof g);
    g.s = s;
    g.u = u;
    tk_wl_rng_seed(&g.work_rng, s->seed, ST_WORK);

    uint32_t N = (uint32_t)s->classes, L = (uint32_t)s->burst_classes;
    u->n_early_classes = N;
    u->n_classes = N + L;
    u->n_interfaces = (uint32_t)s->interfaces;
    u->classes = calloc(u->n_classes ? u->n_classes : 1, sizeof *u->classes);

    /* 1. classes per depth (largest remainder, exact in integers) */
    uint32_t count[WL_MAX_DEPTH + 1] = {0};
    uint64_t rem[WL_MAX_DEPTH + 1] = {0};
    uint32_t assigned = 0;
    for (uint32_t i = 0; i < s->depth.n; i++) {
        uint32_t d = (uint32_t)s->depth.label[i].lo;
        uint64_t x = (uint64_t)N * s->depth.ppb[i];
        count[d] = (uint32_t)(x / WL_PPB);
        rem[d] = x % WL_PPB;
        assigned += count[d];
    }
    while (assigned < N) {
        uint32_t best = 1;
        for (uint32_t d = 1; d <= WL_MAX_DEPTH; d++)
            if (rem[d] > rem[best]) best = d;
        count[best]++;
        rem[best] = 0;
        assigned++;
        int any = 0;
        for (uint32_t d = 1; d <= WL_MAX_DEPTH; d++) any |= rem[d] != 0;
        if (!any) for (uint32_t d = 1; d <= WL_MAX_DEPTH; d++) rem[d] = 1;
    }
    if (count[1] == 0) {
        uint32_t big = 2;
        for (uint32_t d = 2; d <= WL_MAX_DEPTH; d++) if (count[d] > count[big]) big = d;
        count[big]--; count[1] = 1;
    }

    /* 2. early classes, level by level; parents skewed toward the first
     *    classes of the previous level so that some bases have many
     *    descendants (as Orchard's DisplayDriverBase does). */
    tk_wl_rng r;
    tk_wl_rng_seed(&r, s->seed, ST_CLASSES);
    uint32_t c = 0, prev_begin = 0, prev_n = 0;
    for (uint32_t d = 1; d <= WL_MAX_DEPTH; d++) {
        uint32_t begin = c;
        for (uint32_t i = 0; i < count[d]; i++, c++) {
            tk_wl_class *k = &u->classes[c];
            if (d == 1 || prev_n == 0) {
                k->parent = WL_NONE;
                k->depth = 1;
            } else {
                uint64_t x = tk_wl_rng_below(&r, 65536);
                k->parent = prev_begin + (uint32_t)((prev_n * x * x) >> 32);
                k->depth = u->classes[k->parent].depth + 1;
            }
            k->abstract = (uint8_t)(s->abstract_roots && k->parent == WL_NONE);
            build_class(&g, &r, c);
        }
        if (count[d]) { prev_begin = begin; prev_n = count[d]; }
    }
    /* late (burst) classes: derive from any early class */
    tk_wl_rng_seed(&r, s->seed, ST_LATE);
    for (uint32_t i = 0; i < L; i++, c++) {
        tk_wl_class *k = &u->classes[c];
        k->parent = tk_wl_rng_below(&r, N);
        k->depth = u->classes[k->parent].depth + 1;
        k->late = 1;
        build_class(&g, &r, c);
    }

    /* 3. DFS order and concrete early classes per subtree */
    uint32_t nc = u->n_classes;
    uint32_t *nchild = calloc(nc + 1, sizeof *nchild), *child = malloc((nc + 1) * sizeof *child);
    for (uint32_t i = 0; i < nc; i++)
        if (u->classes[i].parent != WL_NONE) nchild[u->classes[i].parent + 1]++;
    for (uint32_t i = 0; i < nc; i++) nchild[i + 1] += nchild[i];
    uint32_t *fill = calloc(nc + 1, sizeof *fill);
    for (uint32_t i = 0; i < nc; i++) {
        uint32_t p = u->classes[i].parent;
        if (p != WL_NONE) child[nchild[p] + fill[p]++] = i;
    }
    u->dfs = malloc((nc + 1) * sizeof *u->dfs);
    uint32_t *stack = malloc((nc + 1) * sizeof *stack), *pos = calloc(nc + 1, sizeof *pos);
    uint32_t nd = 0;
    for (uint32_t root = 0; root < nc; root++) {
        if (u->classes[root].parent != WL_NONE) continue;
        uint32_t sp = 0;
        stack[sp++] = root;
        u->classes[root].dfs_begin = nd;
        u->dfs[nd++] = root;
        while (sp) {
            uint32_t x = stack[sp - 1];
            uint32_t nk = nchild[x + 1] - nchild[x];
            if (pos[x] < nk) {
                uint32_t y = child[nchild[x] + pos[x]++];
                u->classes[y].dfs_begin = nd;
                u->dfs[nd++] = y;
                stack[sp++] = y;
            } else {
                u->classes[x].dfs_end = nd;
                sp--;
            }
        }
    }
    free(stack); free(pos); free(fill); free(child); free(nchild);
    for (uint32_t i = 0; i < nc; i++) {
        tk_wl_class *k = &u->classes[i];
        uint32_t n = 0;
        for (uint32_t j = k->dfs_begin; j < k->dfs_end; j++) {
            const tk_wl_class *y = &u->classes[u->dfs[j]];
            n += !y->abstract && !y->late;
        }
        k->concrete_in_subtree = n;
    }
    uint32_t *concrete = malloc((N + 1) * sizeof *concrete), n_concrete = 0;
    for (uint32_t i = 0; i < N; i++)
        if (!u->classes[i].abstract) concrete[n_concrete++] = i;
    if (n_concrete == 0) {
        snprintf(err, errlen, "%s: the generated universe has no concrete class (abstract roots "
                 "without derived classes); raise classes or the depth-2 share", s->path);
        free(concrete);
        tk_wl_universe_free(u);
        return -1;
    }

    /* 4. interface implementations: (class, iface) pairs, then grouped */
    tk_wl_rng_seed(&r, s->seed, ST_IFACE);
    uint32_t F = (uint32_t)s->fanout_interfaces, I = u->n_interfaces;
    uint32_t *pair_c = NULL, *pair_i = NULL, np = 0, capc = 0, capi = 0;
    if (I > F) {
        for (uint32_t i = 0; i < n_concrete; i++) {
            if (tk_wl_rng_ppb(&r) >= s->interface_share_ppb) continue;
            uint32_t want = (uint32_t)tk_wl_rng_range(&r, s->interfaces_per_class);
            uint32_t pool = I - F, chosen[64], nch = 0;
            if (want > pool) want = pool;
            while (nch < want) {
                uint32_t f = F + tk_wl_rng_below(&r, pool), dup = 0;
                for (uint32_t q = 0; q < nch; q++) dup |= chosen[q] == f;
                if (!dup) chosen[nch++] = f;
            }
            for (uint32_t q = 0; q < nch; q++) {
                uint32_t npc = np;
                VEC_PUSH(pair_c, npc, capc, concrete[i]);
                VEC_PUSH(pair_i, np, capi, chosen[q]);
            }
        }
    }
    {
        uint32_t *scratch = malloc((n_concrete + 1) * sizeof *scratch);
        uint32_t *pick = malloc((n_concrete + 1) * sizeof *pick);
        for (uint32_t f = 0; f < F; f++) {
            memcpy(scratch, concrete, n_concrete * sizeof *scratch);
            uint32_t want = (uint32_t)tk_wl_rng_range(&r, s->fanout_receivers);
            uint32_t got = sample_distinct(&r, scratch, n_concrete, want, pick);
            for (uint32_t q = 0; q < got; q++) {
                uint32_t npc = np;
                VEC_PUSH(pair_c, npc, capc, pick[q]);
                VEC_PUSH(pair_i, np, capi, f);
            }
        }
        free(scratch); free(pick);
    }
    /* group by class (stable counting sort) and map interface slots */
    u->iface_implementers_count = calloc(I + 1, sizeof(uint32_t));
    {
        uint32_t im = (uint32_t)s->interface_methods;
        uint32_t *per = calloc(nc + 1, sizeof *per);
        for (uint32_t q = 0; q < np; q++) per[pair_c[q] + 1] += im;
        for (uint32_t i = 0; i < nc; i++) per[i + 1] += per[i];
        u->n_impls = np * im;
        u->impls = calloc(u->n_impls + 1, sizeof *u->impls);
        uint32_t *cur = calloc(nc + 1, sizeof *cur);
        for (uint32_t i = 0; i < nc; i++) {
            u->classes[i].first_impl = per[i];
            u->classes[i].n_impls = per[i + 1] - per[i];
        }
        /* pairs in class order, interface order preserved per class: a
         * stable counting sort of the pair indices by class (linear; the
         * random draws happen in the same order as a scan per class) */
        uint32_t *by_off = calloc(nc + 2, sizeof *by_off), *by = malloc((np + 1) * sizeof *by);
        for (uint32_t q = 0; q < np; q++) by_off[pair_c[q] + 1]++;
        for (uint32_t i = 0; i < nc; i++) by_off[i + 1] += by_off[i];
        for (uint32_t q = 0; q < np; q++) by[by_off[pair_c[q]] + cur[pair_c[q]]++] = q;
        memset(cur, 0, (nc + 1) * sizeof *cur);
        for (uint32_t cls = 0; cls < nc; cls++) {
            for (uint32_t b = by_off[cls]; b < by_off[cls + 1]; b++) {
                uint32_t q = by[b];
                u->iface_implementers_count[pair_i[q]]++;
                for (uint32_t j = 0; j < im; j++) {
                    tk_wl_impl *x = &u->impls[per[cls] + cur[cls]++];
                    x->iface = pair_i[q];
                    x->iface_slot = j;
                    x->vtable_slot = tk_wl_rng_below(&r, u->classes[cls].vt_size);
                }
            }
        }
        free(per); free(cur); free(by_off); free(by);
    }
    free(pair_c); free(pair_i);

    /* implementers per interface (class ids, ascending) */
    uint32_t *impl_off = calloc(I + 1, sizeof *impl_off), *impl_cls = NULL;
    for (uint32_t i = 0; i < I; i++) impl_off[i + 1] = impl_off[i] + u->iface_implementers_count[i];
    impl_cls = malloc((impl_off[I] + 1) * sizeof *impl_cls);
    {
        uint32_t *cur = calloc(I + 1, sizeof *cur);
        for (uint32_t cls = 0; cls < nc; cls++) {
            const tk_wl_class *k = &u->classes[cls];
            for (uint32_t j = 0; j < k->n_impls; j++) {
                const tk_wl_impl *x = &u->impls[k->first_impl + j];
                if (x->iface_slot == 0) impl_cls[impl_off[x->iface] + cur[x->iface]++] = cls;
            }
        }
        free(cur);
    }

    /* 5. call sites */
    tk_wl_rng_seed(&r, s->seed, ST_SITES);
    uint32_t nsites = (uint32_t)s->sites, cap_sites = 0;
    uint32_t *nonvirt = malloc((u->n_methods + 1) * sizeof *nonvirt), n_nonvirt = 0;
    for (uint32_t m = 0; m < u->n_methods; m++)
        if (u->methods[m].kind == WL_M_NONVIRTUAL && !u->methods[m].late) nonvirt[n_nonvirt++] = m;
    uint32_t *cand = malloc((nc + I + 1) * sizeof *cand);
    uint32_t *scratch = malloc((nc + 1) * sizeof *scratch), *pick = malloc((nc + 1) * sizeof *pick);
    virt_cache vcache = {0};
    uint32_t virt_best = WL_NONE;   /* the class with the most concrete classes below */
    for (uint32_t cls = 0; cls < N; cls++) {
        const tk_wl_class *k = &u->classes[cls];
        if (k->vt_size && k->concrete_in_subtree &&
            (virt_best == WL_NONE || k->concrete_in_subtree > u->classes[virt_best].concrete_in_subtree))
            virt_best = cls;
    }
    for (uint32_t i = 0; i < nsites; i++) {
        tk_wl_site st;
        memset(&st, 0, sizeof st);
        uint32_t u_ = tk_wl_rng_ppb(&r);
        uint32_t poly = (uint32_t)tk_wl_dist_sample(&r, &s->site_polymorphism);
        if (u_ < s->direct_call_share_ppb && n_nonvirt) st.kind = WL_S_DIRECT;
        else if (u_ < s->direct_call_share_ppb + s->interface_call_share_ppb && I > F) st.kind = WL_S_IFACE;
        else st.kind = WL_S_VIRT;
        st.first_recv = u->n_recv;
        if (st.kind == WL_S_IFACE) {
            uint32_t ncand = 0, best = WL_NONE;
            for (uint32_t f = F; f < I; f++) {
                uint32_t cnt = u->iface_implementers_count[f];
                if (cnt >= poly) cand[ncand++] = f;
                if (cnt && (best == WL_NONE || cnt > u->iface_implementers_count[best])) best = f;
            }
            if (best == WL_NONE) st.kind = WL_S_VIRT;
            else {
                uint32_t f = ncand ? cand[tk_wl_rng_below(&r, ncand)] : best;
                uint32_t cnt = u->iface_implementers_count[f];
                st.target = f;
                st.slot = tk_wl_rng_below(&r, (uint32_t)s->interface_methods);
                memcpy(scratch, impl_cls + impl_off[f], cnt * sizeof *scratch);
                st.n_recv = sample_distinct(&r, scratch, cnt, poly, pick);
                for (uint32_t q = 0; q < st.n_recv; q++) add_recv(&g, pick[q]);
            }
        }
        if (st.kind == WL_S_DIRECT) {
            uint32_t m = nonvirt[tk_wl_rng_below(&r, n_nonvirt)];
            uint32_t owner = u->methods[m].cls;
            st.target = m;
            /* self: the owner if concrete, else a concrete class below it */
            uint32_t self = WL_NONE;
            const tk_wl_class *k = &u->classes[owner];
            for (uint32_t j = k->dfs_begin; j < k->dfs_end && self == WL_NONE; j++) {
                const tk_wl_class *y = &u->classes[u->dfs[j]];
                if (!y->abstract && !y->late) self = u->dfs[j];
            }
            if (self == WL_NONE) st.kind = WL_S_VIRT;
            else { add_recv(&g, self); st.n_recv = 1; }
        }
        if (st.kind == WL_S_VIRT) {
            /* candidates: classes (index order) with a virtual slot and at
             * least `poly` concrete classes below; one list per distinct
             * poly, built once (their total size is at most the sum of
             * subtree sizes, so generation stays linear in classes) */
            const uint32_t *vc = virt_cands(&vcache, u, N, poly);
            uint32_t ncand = vc ? vc[0] : 0, best = virt_best;
            if (best == WL_NONE) {
                snprintf(err, errlen, "%s: no class has a virtual slot for virtual call sites",
                         s->path);
                free(cand); free(scratch); free(pick); free(nonvirt); free(concrete);
                free(impl_off); free(impl_cls); virt_cache_free(&vcache);
                tk_wl_universe_free(u);
                return -1;
            }
            uint32_t cls = ncand ? vc[1 + tk_wl_rng_below(&r, ncand)] : best;
            const tk_wl_class *k = &u->classes[cls];
            st.target = cls;
            st.slot = tk_wl_rng_below(&r, k->vt_size);
            uint32_t n = 0;
            for (uint32_t j = k->dfs_begin; j < k->dfs_end; j++) {
                const tk_wl_class *y = &u->classes[u->dfs[j]];
                if (!y->abstract && !y->late) scratch[n++] = u->dfs[j];
            }
            st.n_recv = sample_distinct(&r, scratch, n, poly, pick);
            for (uint32_t q = 0; q < st.n_recv; q++) add_recv(&g, pick[q]);
        }
        u->site_kind_count[st.kind]++;
        u->poly_hist[poly_bucket(st.n_recv)]++;
        VEC_PUSH(u->sites, u->n_sites, cap_sites, st);
    }
    uint32_t n_plain_sites = u->n_sites;
    /* fan-out sites: every implementer of a fan-out interface, in order */
    uint32_t first_fanout = u->n_sites;
    for (uint32_t f = 0; f < F; f++) {
        for (uint32_t j = 0; j < (uint32_t)s->interface_methods; j++) {
            tk_wl_site st;
            memset(&st, 0, sizeof st);
            st.kind = WL_S_FANOUT;
            st.target = f;
            st.slot = j;
            st.first_recv = u->n_recv;
            st.n_recv = u->iface_implementers_count[f];
            for (uint32_t q = 0; q < st.n_recv; q++) add_recv(&g, impl_cls[impl_off[f] + q]);
            u->site_kind_count[WL_S_FANOUT]++;
            u->poly_hist[poly_bucket(st.n_recv)]++;
            VEC_PUSH(u->sites, u->n_sites, cap_sites, st);
        }
    }
    uint32_t n_fanout = u->n_sites - first_fanout;
    u->n_early_sites = u->n_sites;
    /* late sites: static type = a burst class's parent; receivers include it */
    tk_wl_rng_seed(&r, s->seed, ST_LATE_SITES);
    uint32_t n_late_sites = L ? (uint32_t)(s->burst_handlers * s->handler_sites) : 0;
    for (uint32_t i = 0; i < n_late_sites; i++) {
        tk_wl_site st;
        memset(&st, 0, sizeof st);
        uint32_t lc = N + tk_wl_rng_below(&r, L), p = u->classes[lc].parent;
        const tk_wl_class *k = &u->classes[p];
        uint32_t poly = (uint32_t)tk_wl_dist_sample(&r, &s->site_polymorphism);
        st.kind = WL_S_VIRT;
        st.late = 1;
        st.target = p;
        st.slot = tk_wl_rng_below(&r, k->vt_size ? k->vt_size : 1);
        st.first_recv = u->n_recv;
        add_recv(&g, lc);
        uint32_t n = 0;
        for (uint32_t j = k->dfs_begin; j < k->dfs_end; j++) {
            const tk_wl_class *y = &u->classes[u->dfs[j]];
            if (!y->abstract && !y->late) scratch[n++] = u->dfs[j];
        }
        uint32_t got = sample_distinct(&r, scratch, n, poly > 1 ? poly - 1 : 0, pick);
        for (uint32_t q = 0; q < got; q++) add_recv(&g, pick[q]);
        st.n_recv = 1 + got;
        u->site_kind_count[WL_S_VIRT]++;
        u->poly_hist[poly_bucket(st.n_recv)]++;
        VEC_PUSH(u->sites, u->n_sites, cap_sites, st);
    }
    free(cand); free(scratch); free(pick); free(nonvirt); free(concrete);
    free(impl_off); free(impl_cls); virt_cache_free(&vcache);

    /* 6. outgoing calls of every body (plain early sites only) */
    tk_wl_rng_seed(&r, s->seed, ST_CALLS);
    for (uint32_t m = 0; m < u->n_methods; m++) {
        tk_wl_method *x = &u->methods[m];
        x->first_call = u->n_calls;
        x->n_calls = 0;
        if (x->abstract || x->kind == WL_M_FACTORY || !n_plain_sites) continue;
        uint32_t k = (uint32_t)tk_wl_rng_range(&r, s->calls_per_method);
        for (uint32_t j = 0; j < k; j++)
            VEC_PUSH(u->calls, u->n_calls, g.cap_calls, tk_wl_rng_below(&r, n_plain_sites));
        x->n_calls = k;
    }

    /* 7. handlers (early) and burst handlers (late) */
    tk_wl_rng_seed(&r, s->seed, ST_HANDLERS);
    uint32_t H = (uint32_t)s->handlers, BH = L ? (uint32_t)s->burst_handlers : 0;
    u->n_handlers = H + BH;
    u->n_early_handlers = H;
    u->handlers = calloc(u->n_handlers + 1, sizeof *u->handlers);
    for (uint32_t h = 0; h < H; h++) {
        tk_wl_handler *x = &u->handlers[h];
        x->first_site = u->n_handler_sites;
        for (uint32_t j = 0; j < (uint32_t)s->handler_sites; j++)
            VEC_PUSH(u->handler_sites, u->n_handler_sites, g.cap_hs, tk_wl_rng_below(&r, n_plain_sites));
        uint32_t nf = n_fanout ? (uint32_t)tk_wl_rng_range(&r, s->fanout_per_handler) : 0;
        for (uint32_t j = 0; j < nf; j++)
            VEC_PUSH(u->handler_sites, u->n_handler_sites, g.cap_hs,
                     first_fanout + tk_wl_rng_below(&r, n_fanout));
        x->n_sites = u->n_handler_sites - x->first_site;
    }
    for (uint32_t h = 0; h < BH; h++) {
        tk_wl_handler *x = &u->handlers[H + h];
        x->late = 1;
        x->first_site = u->n_handler_sites;
        for (uint32_t j = 0; j < (uint32_t)s->handler_sites; j++)
            VEC_PUSH(u->handler_sites, u->n_handler_sites, g.cap_hs,
                     u->n_early_sites + h * (uint32_t)s->handler_sites + j);
        x->n_sites = u->n_handler_sites - x->first_site;
    }
    u->zipf_early = tk_wl_zipf_cdf(H, s->handler_zipf_ppb);
    u->zipf_late = tk_wl_zipf_cdf(BH, s->handler_zipf_ppb);
    mark_owning(u);
    pick_churn(u);
    u->fingerprint = fingerprint(u);
    return 0;
}

void tk_wl_universe_free(tk_wl_universe *u)
{
    free(u->classes); free(u->methods); free(u->slot_impl); free(u->impls);
    free(u->iface_implementers_count); free(u->sites); free(u->recv); free(u->calls);
    free(u->handlers); free(u->handler_sites); free(u->dfs); free(u->zipf_early);
    free(u->zipf_late); free(u->churn); free(u->recv_owning);
    memset(u, 0, sizeof *u);
}
