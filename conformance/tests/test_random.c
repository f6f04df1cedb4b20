/* conformance/tests/test_random.c — randomized differential (model-based)
 * testing of dispatch, in the spirit of HotSpot's random deoptimization
 * stress and differential testing of JITs.
 *
 * For each seed a random PROGRAM is generated (own PRNG, splitmix64; the
 * same seed gives the same program for a driver with the same
 * capabilities):
 *   - a type universe: classes with single inheritance, overrides, inherited
 *     not-overridden slots, abstract classes with abstract virtuals,
 *     non-virtual methods, methods marked not-tiered, zero to two
 *     interfaces; some types load late, some unload (TK_CAP_TYPE_UNLOAD);
 *   - a runtime configuration: CallCountThreshold 1/2/3/30, TieredPGO 0/1,
 *     CallCountingDelayMs 0/1/5/100, DeleteCallCountingStubsAfter 0/1/2/5;
 *   - an operation sequence: calls (bursts included) through random
 *     vtable, interface and owning slots with random values in all four
 *     argument registers; loads of a slot value that is called much later,
 *     after other operations, a safe point and an offline period (the arm64
 *     hazard); clock advances of random size relative to the tiering delay;
 *     drains; IL version requests and reverts (TK_CAP_VERSIONING); late type
 *     loads and unloads; address classification sweeps (TK_CAP_CLASSIFY).
 * The program runs on a runtime with the runner's configuration (--config,
 * e.g. Strategy=lazy) plus the program's keys, and again on a baseline
 * runtime with TieredCompilation=0 (skipped with a note if the driver
 * rejects that).  Every call is checked against the MODEL as it happens
 * (which body, receiver, the four arguments, the return value, the IL
 * version: exactly the active one for a fresh slot load, the one active at
 * load time or the active one for a value loaded earlier), and the two
 * runs' call sequences are compared at the end.  With TK_CAP_EVENTS the
 * live event stream of every run goes to the trace checker (tkv) as it is
 * emitted, so a violation is reported at the operation that caused it.
 *
 * Reproduce a failure: every message names the seed; run
 *   TK_RANDOM_SEEDS=<seed> build/bin/tk-conform --impl LIB --filter TEST --config ... -v
 * TK_RANDOM_SEEDS takes a comma- or blank-separated list (decimal or 0x),
 * TK_RANDOM_PROGRAMS=N the number of default seeds (default 256 per test,
 * 64 when $QEMU is set, as in the arm64 suites), TK_RANDOM_DUMP=1 prints
 * each program before running it.  Default seeds: 1.. (random_differential),
 * 100001.. (random_trace), 200001.. (random_tiering). */
#include "cli/numarg.h"
#include "fixture.h"
#include "tkv.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

/* ---- PRNG ------------------------------------------------------------------ */
static uint64_t sm64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint32_t rn(uint64_t *s, uint32_t n) { return n ? (uint32_t)(sm64(s) % n) : 0; }
static int chance(uint64_t *s, unsigned pct) { return rn(s, 100) < pct; }

static int64_t rarg(uint64_t *s)
{
    switch (rn(s, 7)) {
    case 0: return 0;
    case 1: return -1;
    case 2: return INT64_MIN;
    case 3: return INT64_MAX;
    case 4: return (int64_t)rn(s, 1000) - 500;
    case 5: return (int64_t)(sm64(s) & 0xffffffffu);
    default: return (int64_t)sm64(s);
    }
}

/* The value every body returns: a function of the method and all four
 * argument registers only (never of the tier or the IL version). */
static int64_t ru_expect(int id, const int64_t a[4])
{
    uint64_t h = (uint64_t)(uint32_t)id * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    for (int i = 0; i < 4; i++) {
        h = (h ^ (uint64_t)a[i]) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    return (int64_t)h;
}

/* ---- the program ------------------------------------------------------------- */
#define RU_TYPES 12
#define RU_VT 12
#define RU_NV 2
#define RU_IMPLS 8
#define RU_METHODS 160
#define RU_HELD 4
#define RU_OPS 480
#define RU_REQ 16          /* IL version requests per method */

typedef struct {
    int iface, abstract, late, parent;
    uint32_t n_vt, n_virt, n_ovr, n_nv, n_impl;
    int vt_mid[RU_VT];                 /* method per slot, -1: abstract        */
    int nv_mid[RU_NV];
    tk_method_def virt[RU_VT];
    tk_override_def ovr[RU_VT];
    tk_method_def nv[RU_NV];
    tk_iface_impl_def impl[RU_IMPLS];  /* .iface filled per runtime           */
    int impl_if[RU_IMPLS];
    char name[16];
} ru_type;

typedef struct {
    int decl, is_virtual, callable, not_tiered;
    uint32_t slot;                     /* vtable slot, or non-virtual index   */
    char name[32];
} ru_method;

enum { P_VTABLE, P_IFACE, P_OWNING };
typedef struct {
    uint8_t path;
    int8_t type, iface;                /* receiver (= slot) type; interface   */
    uint8_t slot;                      /* vtable slot / interface slot        */
    int16_t mid;                       /* owning: the method; all: expected   */
} ru_site;

enum { OP_CALL, OP_HOLD, OP_CALL_HELD, OP_TICK, OP_DRAIN, OP_PAUSE, OP_REQUEST, OP_REVERT, OP_LOAD, OP_UNLOAD,
       OP_CHECK, OP_KINDS };
static const char *const op_names[OP_KINDS] = { "call", "hold", "call-held", "tick", "drain", "pause", "request",
                                                "revert", "load", "unload", "check" };
typedef struct {
    uint8_t kind, reps, held, drain;
    int16_t arg;                       /* request/revert: method; load/unload: type */
    uint32_t ms;
    ru_site site;
    uint64_t aseed;                    /* argument values of this operation   */
} ru_op;

typedef struct {
    uint64_t seed;
    unsigned thr, pgo, delay, del;     /* del: DeleteCallCountingStubsAfter, ~0u: key not set */
    int n_types, n_methods, n_ops;
    ru_type ty[RU_TYPES];
    ru_method me[RU_METHODS];
    ru_op op[RU_OPS];
} ru_prog;

/* ---- generation ------------------------------------------------------------- */
static int64_t ru_body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3);

static int new_method(ru_prog *p, int decl, int virt, uint32_t slot, int callable, int not_tiered, const char *what)
{
    if (p->n_methods >= RU_METHODS) ck_abort_msg("generator: too many methods"); /* not ck_assert: see OP_CALL_HELD */
    int m = p->n_methods++;
    ru_method *me = &p->me[m];
    me->decl = decl;
    me->is_virtual = virt;
    me->slot = slot;
    me->callable = callable;
    me->not_tiered = not_tiered;
    char tn[sizeof p->ty[decl].name];
    memcpy(tn, p->ty[decl].name, sizeof tn);
    snprintf(me->name, sizeof me->name, "%s.%s%u", tn, what, slot);
    return m;
}

static tk_method_def mdef(const ru_prog *p, int m)
{
    tk_method_def d = { p->me[m].name, p->me[m].callable ? ru_body : NULL, (void *)(intptr_t)(m + 1),
                        p->me[m].not_tiered ? TK_METHOD_NOT_TIERED : 0u };
    return d;
}

static int is_ancestor(const ru_prog *p, int anc, int t)
{
    for (; t >= 0; t = p->ty[t].parent)
        if (t == anc) return 1;
    return 0;
}

/* The vtable slot type t uses for interface slot (iface, j), or -1. */
static int iface_target(const ru_prog *p, int t, int iface, int j)
{
    for (; t >= 0; t = p->ty[t].parent)
        for (uint32_t i = 0; i < p->ty[t].n_impl; i++)
            if (p->ty[t].impl_if[i] == iface && p->ty[t].impl[i].iface_slot == (uint32_t)j)
                return (int)p->ty[t].impl[i].vtable_slot;
    return -1;
}

static void gen_universe(ru_prog *p, uint64_t *s, uint64_t caps)
{
    int n_if = (caps & TK_CAP_INTERFACES) ? (int)rn(s, 3) : 0;
    int n_cls = 4 + (int)rn(s, 6);
    p->n_types = n_if + n_cls;
    for (int t = 0; t < p->n_types; t++) {
        ru_type *ty = &p->ty[t];
        ty->parent = -1;
        if (t < n_if) {
            ty->iface = 1;
            snprintf(ty->name, sizeof ty->name, "I%d", t);
            ty->n_vt = ty->n_virt = 1 + rn(s, 3);
            for (uint32_t i = 0; i < ty->n_virt; i++) {
                ty->vt_mid[i] = -1;
                ty->virt[i] = mdef(p, new_method(p, t, 1, i, 0, 0, "M"));
            }
            continue;
        }
        snprintf(ty->name, sizeof ty->name, "C%d", t - n_if);
        if (t > n_if && !chance(s, 30)) ty->parent = n_if + (int)rn(s, (uint32_t)(t - n_if));
        ty->abstract = chance(s, 15);
        ty->late = chance(s, 30) || (ty->parent >= 0 && p->ty[ty->parent].late);
        uint32_t base = ty->parent >= 0 ? p->ty[ty->parent].n_vt : 0;
        for (uint32_t i = 0; i < base; i++) ty->vt_mid[i] = p->ty[ty->parent].vt_mid[i];
        for (uint32_t i = 0; i < base; i++) {
            int abstract_slot = ty->vt_mid[i] < 0;
            if (!chance(s, abstract_slot && !ty->abstract ? 80 : 35)) continue;
            int m = new_method(p, t, 1, i, 1, chance(s, 10), "O");
            ty->vt_mid[i] = m;
            ty->ovr[ty->n_ovr].slot = i;
            ty->ovr[ty->n_ovr].method = mdef(p, m);
            ty->n_ovr++;
        }
        uint32_t nnew = rn(s, 4);
        if (base + nnew > RU_VT) nnew = RU_VT - base;
        for (uint32_t i = 0; i < nnew; i++) {
            int callable = !(ty->abstract && chance(s, 40));
            int m = new_method(p, t, 1, base + i, callable, callable && chance(s, 10), "V");
            ty->vt_mid[base + i] = callable ? m : -1;
            ty->virt[i] = mdef(p, m);
        }
        ty->n_virt = nnew;
        ty->n_vt = base + nnew;
        ty->n_nv = rn(s, RU_NV + 1);
        for (uint32_t i = 0; i < ty->n_nv; i++) {
            int m = new_method(p, t, 0, i, 1, chance(s, 10), "N");
            ty->nv_mid[i] = m;
            ty->nv[i] = mdef(p, m);
        }
        int callable_slots[RU_VT], nc = 0;
        for (uint32_t i = 0; i < ty->n_vt; i++)
            if (ty->vt_mid[i] >= 0) callable_slots[nc++] = (int)i;
        for (int f = 0; f < n_if && nc; f++) {
            if (!chance(s, 45)) continue;
            for (uint32_t j = 0; j < p->ty[f].n_vt && ty->n_impl < RU_IMPLS; j++) {
                ty->impl_if[ty->n_impl] = f;
                ty->impl[ty->n_impl].iface_slot = j;
                ty->impl[ty->n_impl].vtable_slot = (uint32_t)callable_slots[rn(s, (uint32_t)nc)];
                ty->n_impl++;
            }
        }
    }
}

typedef struct {
    int loaded[RU_TYPES], dead[RU_TYPES];
    int held_valid[RU_HELD], held_type[RU_HELD];
    int nreq[RU_METHODS];
    ru_site recent[8];
    int nrecent;
} ru_gstate;

static int concrete_live(const ru_prog *p, const ru_gstate *g, int t)
{
    return !p->ty[t].iface && !p->ty[t].abstract && g->loaded[t] && !g->dead[t];
}

/* A random call site on a live receiver type. */
static int pick_site(const ru_prog *p, const ru_gstate *g, uint64_t *s, ru_site *out)
{
    if (g->nrecent && chance(s, 45)) {
        const ru_site *r = &g->recent[rn(s, (uint32_t)(g->nrecent < 8 ? g->nrecent : 8))];
        if (concrete_live(p, g, r->type)) { *out = *r; return 1; }
    }
    int cand[RU_TYPES], nt = 0;
    for (int t = 0; t < p->n_types; t++)
        if (concrete_live(p, g, t)) cand[nt++] = t;
    if (!nt) return 0;
    int t = cand[rn(s, (uint32_t)nt)];
    const ru_type *ty = &p->ty[t];
    ru_site st;
    memset(&st, 0, sizeof st);
    st.type = (int8_t)t;
    st.iface = -1;
    uint32_t r = rn(s, 100);
    if (r >= 55 && r < 75) {                          /* interface */
        int fi[RU_IMPLS * 3], fj[RU_IMPLS * 3], n = 0;
        for (int f = 0; f < p->n_types; f++) {
            if (!p->ty[f].iface) continue;
            for (uint32_t j = 0; j < p->ty[f].n_vt; j++) {
                int v = iface_target(p, t, f, (int)j);
                if (v >= 0 && ty->vt_mid[v] >= 0 && n < RU_IMPLS * 3) { fi[n] = f; fj[n] = (int)j; n++; }
            }
        }
        if (n) {
            int k = (int)rn(s, (uint32_t)n);
            st.path = P_IFACE;
            st.iface = (int8_t)fi[k];
            st.slot = (uint8_t)fj[k];
            st.mid = (int16_t)ty->vt_mid[iface_target(p, t, fi[k], fj[k])];
            goto done;
        }
    } else if (r >= 75) {                             /* owning slot */
        int ms[RU_METHODS], n = 0;
        for (int m = 0; m < p->n_methods; m++) {
            const ru_method *me = &p->me[m];
            if (!me->callable || !is_ancestor(p, me->decl, t)) continue;
            if (me->is_virtual && ty->vt_mid[me->slot] != m) continue;   /* overridden below: not this receiver */
            ms[n++] = m;
        }
        if (n) {
            st.path = P_OWNING;
            st.mid = (int16_t)ms[rn(s, (uint32_t)n)];
            goto done;
        }
    }
    {
        int sl[RU_VT], n = 0;
        for (uint32_t i = 0; i < ty->n_vt; i++)
            if (ty->vt_mid[i] >= 0) sl[n++] = (int)i;
        if (!n) return 0;
        st.path = P_VTABLE;
        st.slot = (uint8_t)sl[rn(s, (uint32_t)n)];
        st.mid = (int16_t)ty->vt_mid[st.slot];
    }
done:
    *out = st;
    return 1;
}

static void remember(ru_gstate *g, const ru_site *st)
{
    g->recent[g->nrecent % 8] = *st;
    g->nrecent++;
}

static uint32_t tick_ms(const ru_prog *p, uint64_t *s)
{
    unsigned d = p->delay ? p->delay : 10;
    switch (rn(s, 9)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return d / 2;
    case 3: return d > 1 ? d - 1 : 1;
    case 4: return d;
    case 5: return d + 1;
    case 6: return 2 * d;
    case 7: return 3 * d + 7;
    default: return rn(s, 3 * d + 1);
    }
}

static void gen_program(ru_prog *p, uint64_t seed, uint64_t caps)
{
    memset(p, 0, sizeof *p);
    p->seed = seed;
    uint64_t s = seed ^ 0x5eed7e57d1ff0001ULL;
    static const unsigned thr[] = { 1, 2, 3, 30 }, dly[] = { 0, 1, 5, 100 }, del[] = { 0, 0, 1, 2, 5 };
    p->thr = thr[rn(&s, 4)];
    p->pgo = (caps & TK_CAP_PGO) ? rn(&s, 2) : 0;
    p->delay = dly[rn(&s, 4)];
    p->del = (caps & TK_CAP_STUB_DELETION) ? del[rn(&s, 5)] : ~0u;
    gen_universe(p, &s, caps);

    ru_gstate g;
    memset(&g, 0, sizeof g);
    for (int t = 0; t < p->n_types; t++) g.loaded[t] = !p->ty[t].late;
    int n_ops = 150 + (int)rn(&s, 250);
    int n = 0;
    while (n < n_ops - 3) {
        ru_op *o = &p->op[n];
        memset(o, 0, sizeof *o);
        o->aseed = sm64(&s);
        /* weights of the enabled operations */
        int loadable[RU_TYPES], nl = 0, unloadable[RU_TYPES], nu = 0, nheld = 0;
        for (int t = 0; t < p->n_types; t++) {
            if (!g.loaded[t] && (p->ty[t].parent < 0 || (g.loaded[p->ty[t].parent] && !g.dead[p->ty[t].parent])))
                loadable[nl++] = t;
            if (!p->ty[t].iface && g.loaded[t] && !g.dead[t]) {
                int child = 0;
                for (int c = 0; c < p->n_types; c++)
                    if (p->ty[c].parent == t && g.loaded[c] && !g.dead[c]) child = 1;
                if (!child) unloadable[nu++] = t;
            }
        }
        for (int h = 0; h < RU_HELD; h++) nheld += g.held_valid[h];
        int w[OP_KINDS] = { 0 };
        w[OP_CALL] = 50; w[OP_HOLD] = 5; w[OP_CALL_HELD] = nheld ? 7 : 0; w[OP_TICK] = 9; w[OP_DRAIN] = 5;
        w[OP_PAUSE] = 4;
        w[OP_REQUEST] = (caps & TK_CAP_VERSIONING) ? 3 : 0;
        w[OP_REVERT] = (caps & TK_CAP_VERSIONING) ? 2 : 0;
        w[OP_LOAD] = nl ? 4 : 0;
        w[OP_UNLOAD] = ((caps & TK_CAP_TYPE_UNLOAD) && nu) ? 2 : 0;
        w[OP_CHECK] = (caps & TK_CAP_CLASSIFY) ? 4 : 0;
        int tot = 0;
        for (int k = 0; k < OP_KINDS; k++) tot += w[k];
        int r = (int)rn(&s, (uint32_t)tot), kind = 0;
        while (r >= w[kind]) r -= w[kind++];
        o->kind = (uint8_t)kind;
        switch (kind) {
        case OP_CALL:
        case OP_HOLD:
            if (!pick_site(p, &g, &s, &o->site)) continue;
            remember(&g, &o->site);
            if (kind == OP_HOLD) {
                o->held = (uint8_t)rn(&s, RU_HELD);
                g.held_valid[o->held] = 1;
                g.held_type[o->held] = o->site.type;
            } else {
                uint32_t q = rn(&s, 100);
                o->reps = (uint8_t)(q < 70 ? 1 : q < 90 ? 2 + rn(&s, 7) : 10 + rn(&s, 31));
            }
            break;
        case OP_CALL_HELD: {
            int hs[RU_HELD], nh = 0;
            for (int h = 0; h < RU_HELD; h++)
                if (g.held_valid[h]) hs[nh++] = h;
            o->held = (uint8_t)hs[rn(&s, (uint32_t)nh)];
            o->reps = (uint8_t)(1 + rn(&s, 3));
            break;
        }
        case OP_TICK:
            o->ms = tick_ms(p, &s);
            o->drain = chance(&s, 70);
            break;
        case OP_PAUSE:
            o->drain = chance(&s, 70);
            break;
        case OP_REQUEST:
        case OP_REVERT: {
            int ms[RU_METHODS], nm = 0;
            for (int m = 0; m < p->n_methods; m++)
                if (p->me[m].callable && g.loaded[p->me[m].decl] && !g.dead[p->me[m].decl] &&
                    (kind == OP_REVERT || g.nreq[m] < RU_REQ - 1))
                    ms[nm++] = m;
            if (!nm) continue;
            o->arg = (int16_t)ms[rn(&s, (uint32_t)nm)];
            if (kind == OP_REQUEST) g.nreq[o->arg]++;
            break;
        }
        case OP_LOAD:
            o->arg = (int16_t)loadable[rn(&s, (uint32_t)nl)];
            g.loaded[o->arg] = 1;
            break;
        case OP_UNLOAD:
            o->arg = (int16_t)unloadable[rn(&s, (uint32_t)nu)];
            g.dead[o->arg] = 1;
            for (int h = 0; h < RU_HELD; h++)
                if (g.held_type[h] == o->arg) g.held_valid[h] = 0;
            break;
        default:
            break;
        }
        n++;
    }
    /* the end: let every pending transition happen, then look at the slots */
    p->op[n++] = (ru_op){ .kind = OP_TICK, .ms = 3 * (p->delay + 1), .drain = 1 };
    p->op[n++] = (ru_op){ .kind = OP_PAUSE, .drain = 1 };
    if (caps & TK_CAP_CLASSIFY) p->op[n++] = (ru_op){ .kind = OP_CHECK };
    p->n_ops = n;
}

static const char *site_str(const ru_prog *p, const ru_site *st, char *buf, size_t len)
{
    const ru_type *t = &p->ty[st->type];
    const char *mn = st->mid >= 0 ? p->me[st->mid].name : "?";
    if (st->path == P_VTABLE) snprintf(buf, len, "%s.vtable[%u] -> %s", t->name, st->slot, mn);
    else if (st->path == P_IFACE) snprintf(buf, len, "%s as %s[%u] -> %s", t->name, p->ty[st->iface].name, st->slot, mn);
    else snprintf(buf, len, "owning slot of %s (receiver %s)", mn, t->name);
    return buf;
}

static const char *op_str(const ru_prog *p, int i, char *buf, size_t len)
{
    if (i >= p->n_ops) {
        snprintf(buf, len, "the convergence phase after op %d", p->n_ops - 1);
        return buf;
    }
    const ru_op *o = &p->op[i];
    char sb[160];
    switch (o->kind) {
    case OP_CALL: snprintf(buf, len, "op %d: call x%u via %s", i, o->reps, site_str(p, &o->site, sb, sizeof sb)); break;
    case OP_HOLD: snprintf(buf, len, "op %d: load h%u from %s", i, o->held, site_str(p, &o->site, sb, sizeof sb)); break;
    case OP_CALL_HELD: snprintf(buf, len, "op %d: call x%u the value held in h%u", i, o->reps, o->held); break;
    case OP_TICK: snprintf(buf, len, "op %d: clock +%u ms%s", i, o->ms, o->drain ? ", drain" : ""); break;
    case OP_PAUSE: snprintf(buf, len, "op %d: safepoint, offline%s, online", i, o->drain ? ", drain" : ""); break;
    case OP_REQUEST: case OP_REVERT:
        snprintf(buf, len, "op %d: %s %s", i, op_names[o->kind], p->me[o->arg].name); break;
    case OP_LOAD: case OP_UNLOAD: snprintf(buf, len, "op %d: %s %s", i, op_names[o->kind], p->ty[o->arg].name); break;
    default: snprintf(buf, len, "op %d: %s", i, op_names[o->kind]); break;
    }
    return buf;
}

static void dump_program(const ru_prog *p)
{
    char b[256];
    printf("  program seed %#" PRIx64 ": CallCountThreshold=%u TieredPGO=%u CallCountingDelayMs=%u", p->seed, p->thr,
           p->pgo, p->delay);
    if (p->del != ~0u) printf(" DeleteCallCountingStubsAfter=%u", p->del);
    printf("\n");
    for (int t = 0; t < p->n_types; t++) {
        const ru_type *ty = &p->ty[t];
        printf("    %s%s%s%s%s:", ty->iface ? "interface " : "", ty->abstract ? "abstract " : "", ty->name,
               ty->parent >= 0 ? " : " : "", ty->parent >= 0 ? p->ty[ty->parent].name : "");
        for (uint32_t i = 0; i < ty->n_vt; i++)
            printf(" [%u]%s", i, ty->vt_mid[i] >= 0 ? p->me[ty->vt_mid[i]].name : "abstract");
        for (uint32_t i = 0; i < ty->n_nv; i++) printf(" %s", p->me[ty->nv_mid[i]].name);
        for (uint32_t i = 0; i < ty->n_impl; i++)
            printf(" %s[%u]=>[%u]", p->ty[ty->impl_if[i]].name, ty->impl[i].iface_slot, ty->impl[i].vtable_slot);
        printf("%s\n", ty->late ? " (late)" : "");
    }
    for (int m = 0; m < p->n_methods; m++)
        if (p->me[m].not_tiered) printf("    %s is not tiered\n", p->me[m].name);
    for (int i = 0; i < p->n_ops; i++) printf("    %s\n", op_str(p, i, b, sizeof b));
}

/* ---- bodies and the per-run call log ---------------------------------------------- */
typedef struct {
    int id;
    int32_t tier;
    uint32_t il;
    void *self;
    int64_t a[4];
} ru_exec;

static ru_exec g_exec[64];
static size_t g_nexec;

static int64_t ru_body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    int64_t a[4] = { a0, a1, a2, a3 };
    int id = ctx ? (int)(intptr_t)ctx->user : -1;
    size_t i = __atomic_fetch_add(&g_nexec, 1, __ATOMIC_ACQ_REL);
    if (i < 64) {
        g_exec[i].id = id;
        g_exec[i].tier = ctx ? ctx->tier : TK_TIER_UNKNOWN;
        g_exec[i].il = ctx ? ctx->il_version : 0;
        g_exec[i].self = self;
        memcpy(g_exec[i].a, a, sizeof a);
    }
    return ru_expect(id, a);
}

/* One call as the model sees it, kept for the cross-run comparison. */
typedef struct {
    int op, mid, ord, ord_lo, ord_hi;
    int64_t a[4], ret;
} ru_call;

/* ---- one run of a program on one runtime ---------------------------------------- */
typedef struct {
    const ru_prog *p;
    const char *label;                 /* "tested" or "baseline"              */
    char cfg[256];
    tk_drv_runtime *rt;
    int tiers, cur_op;
    tk_drv_type *ty[RU_TYPES];
    tk_drv_object *obj[RU_TYPES];
    int loaded[RU_TYPES], dead[RU_TYPES];
    tk_drv_method *dm[RU_METHODS];
    void **own[RU_METHODS];            /* owning slot while the declaring type is loaded */
    int ord[RU_METHODS], nreq[RU_METHODS];
    uint32_t ils[RU_METHODS][RU_REQ];
    struct { int valid, ord; void *val; ru_site site; } held[RU_HELD];
    ru_call *calls;
    size_t ncalls, capcalls;
    /* model of time and counting, fed by the event sink */
    uint64_t now;                      /* manual clock: sum of clock_advance  */
    unsigned thr, delay;               /* effective CallCountThreshold, delay */
    int in_call, any_first;
    uint64_t last_first;               /* clock at the last first call (counted tier) */
    uint32_t execs[RU_METHODS][RU_REQ][2];     /* calls that ran (method, IL #, tier0|tier0-instr) */
    int64_t cb_base[RU_METHODS][RU_REQ][2];    /* execs when counting of that version began, +1 */
    uint8_t cb_in_call[RU_METHODS][RU_REQ][2];  /* that counting began in the publishing call */
    uint8_t thr_hit[RU_METHODS][RU_REQ][2], thr_pending[RU_METHODS][RU_REQ][2], promoted[RU_METHODS][RU_REQ][2];
    uint8_t final_pub[RU_METHODS][RU_REQ];
    int pending;                       /* thresholds without promotion (yet) */
    /* live trace check */
    pthread_mutex_t mu;
    tkv_checker *chk;
    tkv_names *names;
    size_t viol_want, viol_other, viol_reported, printed;
    char first[700];
} ru_run;

/* What the programs reached (printed with the result, so a generator that
 * stops reaching counting, promotion or deletion shows). */
static struct {
    uint64_t tier_calls[5];            /* tier0, tier1, -, optimized, tier0-instrumented */
    uint64_t ev[TK_EV_KIND_COUNT];
    uint64_t held_across_version, held_ran_old, cc_frees;
} g_stats;

static const char *g_test;            /* current test name (for messages)    */
static size_t g_other_notes;           /* findings outside this test's anchors */

static int anchor_wanted(const char *a)
{
    const tkt_test *t = tkt_current();
    for (size_t i = 0; t && t->anchors[i]; i++)
        if (!strcmp(t->anchors[i], a)) return 1;
    return 0;
}

static void repro(const ru_run *r, char *buf, size_t len)
{
    const char *st = tkt_base_config("Strategy");
    snprintf(buf, len, "reproduce: TK_RANDOM_SEEDS=%#" PRIx64 " tk-conform --filter %s%s%s -v", r->p->seed, g_test,
             st ? " --config Strategy=" : "", st ? st : "");
}

/* A finding: fails the test when `anchor` is one of its anchors, else is
 * reported as a note (another test names that anchor). */
__attribute__((format(printf, 3, 4))) static void finding(ru_run *r, const char *anchor, const char *fmt, ...)
{
    char msg[1000], ob[200], rp[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->cur_op >= 0 && r->cur_op <= r->p->n_ops) op_str(r->p, r->cur_op, ob, sizeof ob);
    else snprintf(ob, sizeof ob, "setup");
    repro(r, rp, sizeof rp);
    if (anchor_wanted(anchor))
        tkt_fail("%s: seed %#" PRIx64 ", %s run [%s], %s: %s (%s)", anchor, r->p->seed, r->label, r->cfg, ob, msg, rp);
    if (g_other_notes++ < 10)
        tkt_note("(anchor of another test) %s: seed %#" PRIx64 ", %s run [%s], %s: %s", anchor, r->p->seed, r->label,
                 r->cfg, ob, msg);
}

/* ---- live trace check ------------------------------------------------------------- */
/* A violation found while an event was delivered (the runtime may hold its
 * locks: only recorded here, reported by check_trace_now after the call). */
static void record_viol(ru_run *r, const char *anchor, const char *where, const char *msg)
{
    int want = anchor_wanted(anchor);
    char ob[200];
    if (r->cur_op >= 0 && r->cur_op <= r->p->n_ops) op_str(r->p, r->cur_op, ob, sizeof ob);
    else snprintf(ob, sizeof ob, "setup");
    if (r->printed++ < 20)
        printf("  %s: seed %#" PRIx64 " %s run, %s: %s: %s: %s\n", want ? "VIOLATION" : "(other anchor)", r->p->seed,
               r->label, ob, where, anchor, msg);
    if (want) {
        if (!r->viol_want++) snprintf(r->first, sizeof r->first, "%s violated at %s: %s", anchor, where, msg);
    } else {
        r->viol_other++;
    }
}

static void on_viol(void *user, const char *anchor, const tkv_event *ev, const char *method, const char *msg)
{
    char where[160], m[700];
    snprintf(where, sizeof where, "trace event seq %llu (%s)", (unsigned long long)ev->seq, tkv_ev_name(ev->ev));
    snprintf(m, sizeof m, "method %s: %s", method, msg);
    record_viol(user, anchor, where, m);
}

static int mid_of(const ru_run *r, const tk_drv_method *m)
{
    for (int k = 0; m && k < r->p->n_methods; k++)
        if (r->dm[k] == m) return k;
    return -1;
}

static int ord_of(const ru_run *r, int mid, uint32_t il)
{
    for (int k = 0; mid >= 0 && k <= r->nreq[mid]; k++)
        if (r->ils[mid][k] == il) return k;
    return -1;
}

static int tier_idx(int64_t tier) { return tier == TK_TIER_0 ? 0 : tier == TK_TIER_0_INSTRUMENTED ? 1 : -1; }

/* The model's view of counting and the tiering delay, from the events:
 *  - a publish of a counted tier during a call is a first call: counting of
 *    anything may begin only a full delay after it (inv.tiering.delay-restart);
 *  - a threshold needs N counted calls, each of which runs the counted
 *    version, and the publishing call is not one of them: at least N-1
 *    executions of that version must have completed since its counting began
 *    (excluding the publishing call), or the threshold came early
 *    (inv.counting.threshold-exact, inv.counting.first-call-not-counted);
 *  - after a drain every threshold has been followed by a promotion, unless
 *    the IL version already published final code
 *    (inv.tiering.promotion-after-threshold). */
static void model_event(ru_run *r, const tk_event *e)
{
    int mid = mid_of(r, e->method);
    int ord = mid >= 0 ? ord_of(r, mid, e->il_version) : -1;
    int ti = tier_idx(e->tier);
    char where[96], msg[400];
    snprintf(where, sizeof where, "event seq %llu", (unsigned long long)e->seq);
    const char *mn = mid >= 0 ? r->p->me[mid].name : "?";
    switch (e->kind) {
    case TK_EV_VERSION_PUBLISH:
        if (ti >= 0 && r->in_call) { r->any_first = 1; r->last_first = r->now; }
        if (ord >= 0 && TK_TIER_IS_FINAL(e->tier) && !r->final_pub[mid][ord]) {
            r->final_pub[mid][ord] = 1;
            for (int k = 0; k < 2; k++)
                if (r->thr_pending[mid][ord][k]) { r->thr_pending[mid][ord][k] = 0; r->pending--; }
        }
        break;
    case TK_EV_COUNTING_BEGIN:
        if (ti < 0) break;
        if (r->any_first && r->now < r->last_first + r->delay) {
            snprintf(msg, sizeof msg, "counting of %s (%s) began at clock %llu ms, %llu ms after the last first call; "
                     "CallCountingDelayMs=%u", mn, tkt_tier_name(e->tier), (unsigned long long)r->now,
                     (unsigned long long)(r->now - r->last_first), r->delay);
            record_viol(r, "inv.tiering.delay-restart", where, msg);
        }
        if (ord >= 0 && !r->cb_base[mid][ord][ti]) {
            r->cb_base[mid][ord][ti] = (int64_t)r->execs[mid][ord][ti] + (r->in_call ? 1 : 0) + 1;
            r->cb_in_call[mid][ord][ti] = (uint8_t)r->in_call;
        }
        break;
    case TK_EV_THRESHOLD:
        if (ord < 0 || ti < 0) break;
        r->thr_hit[mid][ord][ti] = 1;
        if (r->cb_base[mid][ord][ti]) {
            int64_t k = (int64_t)r->execs[mid][ord][ti] - (r->cb_base[mid][ord][ti] - 1);
            if (k + 1 < (int64_t)r->thr) {
                snprintf(msg, sizeof msg, "%s (%s, IL version %u) reached its threshold on call %lld of that version "
                         "since counting began%s; CallCountThreshold=%u", mn, tkt_tier_name(e->tier), e->il_version,
                         (long long)(k + 1), r->in_call ? "" : " (outside a call)", r->thr);
                /* counting that began in the publishing call (no delay) and
                 * ends early has counted that call */
                record_viol(r, r->cb_in_call[mid][ord][ti] ? "inv.counting.first-call-not-counted"
                                                           : "inv.counting.threshold-exact", where, msg);
            }
        }
        if (!r->promoted[mid][ord][ti] && !r->final_pub[mid][ord] && !r->thr_pending[mid][ord][ti] &&
            !r->dead[r->p->me[mid].decl]) {
            r->thr_pending[mid][ord][ti] = 1;
            r->pending++;
        }
        break;
    case TK_EV_PROMOTE: {
        int from = tier_idx(e->aux);
        if (ord < 0 || from < 0) break;
        r->promoted[mid][ord][from] = 1;
        if (r->thr_pending[mid][ord][from]) { r->thr_pending[mid][ord][from] = 0; r->pending--; }
        break;
    }
    default:
        break;
    }
}

static void ru_sink(void *user, const tk_event *e)
{
    ru_run *r = user;
    pthread_mutex_lock(&r->mu);
    tkv_event t;
    if (!tkt_to_tkv_event(r->names, e, &t)) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    if (e->slot && e->method)
        for (int m = 0; m < r->p->n_methods; m++)
            if (r->dm[m] == e->method && r->own[m] == e->slot) t.slot_kind = TKV_SK_OWNING;
    if (e->kind > 0 && e->kind < TK_EV_KIND_COUNT) g_stats.ev[e->kind]++;
    if (e->kind == TK_EV_STUB_FREE && e->stub_kind == TK_AC_CALLCOUNT_STUB) g_stats.cc_frees++;
    tkv_feed(r->chk, &t);
    model_event(r, e);
    pthread_mutex_unlock(&r->mu);
}

static void check_trace_now(ru_run *r)
{
    if (!r->chk) return;
    pthread_mutex_lock(&r->mu);
    size_t n = r->viol_want;
    char first[700];
    snprintf(first, sizeof first, "%s", r->first);
    pthread_mutex_unlock(&r->mu);
    if (n > r->viol_reported) {
        r->viol_reported = n;
        char *colon = strchr(first, ' ');   /* "ANCHOR violated at ..." */
        char anchor[96];
        snprintf(anchor, sizeof anchor, "%.*s", colon ? (int)(colon - first) : (int)strlen(first), first);
        finding(r, anchor, "live check: %s", first);
    }
}

/* ---- executing operations --------------------------------------------------------------- */
static void after_drain(ru_run *r)
{
    if (!r->chk || !r->pending) return;
    const ru_prog *p = r->p;
    for (int m = 0; m < p->n_methods; m++)
        for (int o = 0; o <= r->nreq[m]; o++)
            for (int k = 0; k < 2; k++)
                if (r->thr_pending[m][o][k])
                    finding(r, "inv.tiering.promotion-after-threshold",
                            "%s (IL version %u) reached its threshold at %s, the background work ran (drain), and "
                            "no promotion followed", p->me[m].name, r->ils[m][o], k ? "tier0-instrumented" : "tier0");
}

static void do_drain(ru_run *r)
{
    D->drain(r->rt);
    after_drain(r);
}

static void do_tick(ru_run *r, uint32_t ms)
{
    if (ms) D->clock_advance(r->rt, ms);
    r->now += ms;
}

static void **site_slot(ru_run *r, const ru_site *st)
{
    void **slot = NULL;
    if (st->path == P_VTABLE) slot = D->vtable_slot(r->ty[st->type], st->slot);
    else if (st->path == P_IFACE) slot = D->interface_slot(r->ty[st->type], r->ty[st->iface], st->slot);
    else slot = D->method_slot(r->dm[st->mid]);
    if (!slot) {
        char sb[160];
        finding(r, "inv.semantics.tier-independent", "the driver returned no slot for %s",
                site_str(r->p, st, sb, sizeof sb));
    }
    return slot;
}

static void args_of(uint64_t *as, int64_t a[4])
{
    for (int i = 0; i < 4; i++) a[i] = rarg(as);
}

static void call_checked(ru_run *r, void *entry, const ru_site *st, const int64_t a[4], int ord_lo, int ord_hi)
{
    const ru_prog *p = r->p;
    int mid = st->mid;
    char sb[160];
    site_str(p, st, sb, sizeof sb);
    if (!entry) finding(r, "inv.semantics.tier-independent", "%s holds NULL", sb);
    __atomic_store_n(&g_nexec, 0, __ATOMIC_RELEASE);
    r->in_call = 1;
    int64_t ret = ((tk_entry_fn)entry)(r->obj[st->type], a[0], a[1], a[2], a[3]);
    r->in_call = 0;
    size_t n = __atomic_load_n(&g_nexec, __ATOMIC_ACQUIRE);
    if (n != 1) finding(r, "inv.semantics.tier-independent", "one call through %s ran %zu bodies", sb, n);
    const ru_exec *x = &g_exec[0];
    if (x->id != mid + 1)
        finding(r, "inv.semantics.tier-independent", "call through %s ran %s, expected %s", sb,
                x->id >= 1 && x->id <= p->n_methods ? p->me[x->id - 1].name : "an unknown body", p->me[mid].name);
    if (x->self != (void *)r->obj[st->type])
        finding(r, "inv.semantics.tier-independent", "call through %s: the body got receiver %p, not %p", sb, x->self,
                (void *)r->obj[st->type]);
    for (int i = 0; i < 4; i++)
        if (x->a[i] != a[i])
            finding(r, "inv.semantics.tier-independent",
                    "call through %s: argument register %d reached the body as %#" PRIx64 ", passed %#" PRIx64, sb, i + 1,
                    (uint64_t)x->a[i], (uint64_t)a[i]);
    if (ret != ru_expect(mid + 1, a))
        finding(r, "inv.semantics.tier-independent", "call through %s returned %#" PRIx64 ", the body returned %#" PRIx64,
                sb, (uint64_t)ret, (uint64_t)ru_expect(mid + 1, a));
    int ord = -1;
    for (int k = 0; k <= r->nreq[mid]; k++)
        if (r->ils[mid][k] == x->il) ord = k;
    if (ord != ord_lo && ord != ord_hi) {
        if (ord_lo == ord_hi)
            finding(r, ord_lo ? "inv.versioning.activate-republishes" : "inv.precode.no-stale-target",
                    "call through %s ran IL version %u (%s), IL version %u is active", sb, x->il,
                    tkt_tier_name(x->tier), r->ils[mid][ord_hi]);
        else
            finding(r, "inv.precode.no-stale-target",
                    "a value loaded while IL version %u was active ran IL version %u (%s); only %u (loaded code) or "
                    "%u (active now) are possible", r->ils[mid][ord_lo], x->il, tkt_tier_name(x->tier),
                    r->ils[mid][ord_lo], r->ils[mid][ord_hi]);
    }
    if (x->tier >= 0 && x->tier < 5) g_stats.tier_calls[x->tier]++;
    if (ord >= 0 && tier_idx(x->tier) >= 0) {
        pthread_mutex_lock(&r->mu);
        r->execs[mid][ord][tier_idx(x->tier)]++;
        pthread_mutex_unlock(&r->mu);
    }
    if (ord_lo != ord_hi) {
        g_stats.held_across_version++;
        if (ord == ord_lo) g_stats.held_ran_old++;
    }
    if ((p->me[mid].not_tiered || !r->tiers) && x->tier != TK_TIER_OPTIMIZED)
        finding(r, "inv.counting.final-tier-not-counted", "call through %s ran %s code of a method that %s", sb,
                tkt_tier_name(x->tier), r->tiers ? "is marked not-tiered" : "runs in a runtime that does not tier");
    if (r->ncalls == r->capcalls) {
        r->capcalls = r->capcalls ? 2 * r->capcalls : 4096;
        r->calls = realloc(r->calls, r->capcalls * sizeof *r->calls);
        if (!r->calls) ck_abort_msg("out of memory for the call log");
    }
    ru_call *c = &r->calls[r->ncalls++];
    c->op = r->cur_op;
    c->mid = mid;
    c->ord = ord;
    c->ord_lo = ord_lo;
    c->ord_hi = ord_hi;
    memcpy(c->a, a, sizeof c->a);
    c->ret = ret;
}

/* Classifies a slot value (or a value loaded earlier: then native code of
 * IL version #ord_lo, the one active at load time, is fine too). */
static void check_value(ru_run *r, void *v, int mid, int ord_lo, const char *what)
{
    if (!v) return;
    tk_addr_info i;
    memset(&i, 0, sizeof i);
    D->classify(r->rt, v, &i);
    char buf[200];
    if (i.cls == TK_AC_CALLCOUNT_STUB || i.cls == TK_AC_FREED)
        finding(r, "inv.slot.no-deletable-stub", "%s holds %s", what, tkt_describe(r->rt, v, buf, sizeof buf));
    if (i.cls == TK_AC_UNKNOWN)
        finding(r, "inv.observability.trace-classified", "%s holds unclassified %p", what, v);
    if ((i.cls == TK_AC_PRECODE || i.cls == TK_AC_FORWARDER || i.cls == TK_AC_NATIVE_CODE) && i.method &&
        i.method != r->dm[mid])
        finding(r, "inv.semantics.tier-independent", "%s (method %s) holds %s", what, r->p->me[mid].name,
                tkt_describe(r->rt, v, buf, sizeof buf));
    if (i.cls == TK_AC_NATIVE_CODE && i.il_version != r->ils[mid][r->ord[mid]] && i.il_version != r->ils[mid][ord_lo])
        finding(r, "inv.precode.no-stale-target", "%s holds %s while IL version %u is active", what,
                tkt_describe(r->rt, v, buf, sizeof buf), r->ils[mid][r->ord[mid]]);
}

static void check_all_slots(ru_run *r)
{
    const ru_prog *p = r->p;
    char what[96];
    for (int t = 0; t < p->n_types; t++) {
        if (!r->loaded[t] || r->dead[t] || p->ty[t].iface) continue;
        for (uint32_t s = 0; s < p->ty[t].n_vt; s++) {
            if (p->ty[t].vt_mid[s] < 0) continue;
            void **slot = D->vtable_slot(r->ty[t], s);
            snprintf(what, sizeof what, "%s.vtable[%u]", p->ty[t].name, s);
            if (!slot) finding(r, "inv.semantics.tier-independent", "no address for %s", what);
            check_value(r, tkt_load(slot), p->ty[t].vt_mid[s], r->ord[p->ty[t].vt_mid[s]], what);
        }
        for (uint32_t k = 0; k < p->ty[t].n_nv; k++) {
            int m = p->ty[t].nv_mid[k];
            snprintf(what, sizeof what, "the slot of %s", p->me[m].name);
            check_value(r, tkt_load(r->own[m]), m, r->ord[m], what);
        }
    }
}

static void set_own(ru_run *r, int t, int on)
{
    const ru_prog *p = r->p;
    for (int m = 0; m < p->n_methods; m++)
        if (p->me[m].decl == t) r->own[m] = on && p->me[m].callable ? D->method_slot(r->dm[m]) : NULL;
}

static void load_type(ru_run *r, int t)
{
    const ru_prog *p = r->p;
    if (D->type_load(r->rt, r->ty[t]) != 0) finding(r, "inv.semantics.tier-independent", "type_load(%s) failed", p->ty[t].name);
    pthread_mutex_lock(&r->mu);   /* the sink reads the owning slots */
    set_own(r, t, 1);
    pthread_mutex_unlock(&r->mu);
    r->loaded[t] = 1;
    if (!p->ty[t].iface && !p->ty[t].abstract) {
        r->obj[t] = D->object_new(r->rt, r->ty[t]);
        if (!r->obj[t]) finding(r, "inv.semantics.tier-independent", "object_new(%s) failed", p->ty[t].name);
    }
}

static void exec_op(ru_run *r, int i)
{
    const ru_prog *p = r->p;
    const ru_op *o = &p->op[i];
    uint64_t as = o->aseed;
    int64_t a[4];
    r->cur_op = i;
    switch (o->kind) {
    case OP_CALL:
        for (int k = 0; k < o->reps; k++) {
            args_of(&as, a);
            void **slot = site_slot(r, &o->site);
            int ord = r->ord[o->site.mid];
            call_checked(r, tkt_load(slot), &o->site, a, ord, ord);
        }
        break;
    case OP_HOLD: {
        void **slot = site_slot(r, &o->site);
        r->held[o->held].valid = 1;
        r->held[o->held].val = tkt_load(slot);
        r->held[o->held].site = o->site;
        r->held[o->held].ord = r->ord[o->site.mid];
        if (D->caps & TK_CAP_CLASSIFY) {
            char what[200], sb[160];
            snprintf(what, sizeof what, "%s (loaded to be called later)", site_str(p, &o->site, sb, sizeof sb));
            check_value(r, r->held[o->held].val, o->site.mid, r->ord[o->site.mid], what);
        }
        break;
    }
    case OP_CALL_HELD:
        for (int k = 0; k < o->reps; k++) {
            args_of(&as, a);
            /* not ck_assert_msg: on success it writes a location record to
             * Check's pipe, one system call per held call */
            if (!r->held[o->held].valid) ck_abort_msg("test bug: held value h%u not valid", o->held);
            call_checked(r, r->held[o->held].val, &r->held[o->held].site, a, r->held[o->held].ord,
                         r->ord[r->held[o->held].site.mid]);
        }
        break;
    case OP_TICK:
        do_tick(r, o->ms);
        if (o->drain) do_drain(r);
        break;
    case OP_DRAIN:
        do_drain(r);
        break;
    case OP_PAUSE:
        D->safepoint(r->rt);
        D->thread_offline(r->rt);
        if (o->drain) D->drain(r->rt);
        D->thread_online(r->rt);
        if (o->drain) after_drain(r);
        break;
    case OP_REQUEST: {
        int m = o->arg;
        int64_t il = D->version_request(r->rt, r->dm[m]);
        if (il <= 0) finding(r, "inv.versioning.activate-republishes", "version_request returned %lld", (long long)il);
        for (int k = 0; k <= r->nreq[m]; k++)
            if (r->ils[m][k] == (uint32_t)il)
                finding(r, "inv.versioning.activate-republishes", "version_request returned IL version %lld again",
                        (long long)il);
        r->ils[m][++r->nreq[m]] = (uint32_t)il;
        r->ord[m] = r->nreq[m];
        break;
    }
    case OP_REVERT:
        if (D->version_revert(r->rt, r->dm[o->arg]) != 0)
            finding(r, "inv.versioning.activate-republishes", "version_revert failed");
        r->ord[o->arg] = 0;
        break;
    case OP_LOAD:
        load_type(r, o->arg);
        break;
    case OP_UNLOAD: {
        int t = o->arg;
        if (r->obj[t]) D->object_free(r->rt, r->obj[t]);
        r->obj[t] = NULL;
        for (int h = 0; h < RU_HELD; h++)
            if (r->held[h].valid && r->held[h].site.type == t) r->held[h].valid = 0;
        pthread_mutex_lock(&r->mu);
        set_own(r, t, 0);
        /* The methods' counting ends with the type: a completion still
         * pending is dropped, no promotion is owed
         * (`inv.tiering.promotion-after-threshold`); dead before the unload,
         * so a threshold reported during it owes none either. */
        r->dead[t] = 1;
        for (int m = 0; m < p->n_methods; m++)
            if (p->me[m].decl == t)
                for (int v = 0; v < RU_REQ; v++)
                    for (int k = 0; k < 2; k++)
                        if (r->thr_pending[m][v][k]) { r->thr_pending[m][v][k] = 0; r->pending--; }
        pthread_mutex_unlock(&r->mu);
        if (D->type_unload(r->rt, r->ty[t]) != 0)
            finding(r, "inv.semantics.tier-independent", "type_unload(%s) failed (it has no loaded subtype)",
                    p->ty[t].name);
        break;
    }
    case OP_CHECK:
        check_all_slots(r);
        for (int h = 0; h < RU_HELD; h++)
            if (r->held[h].valid)
                check_value(r, r->held[h].val, r->held[h].site.mid, r->held[h].ord, "a value loaded earlier");
        break;
    default:
        break;
    }
    check_trace_now(r);
}

/* The end of every program: call every live slot until every method reached
 * by one is at its final tier (a few rounds of threshold+1 calls, each
 * followed by a full delay and a drain), then call each slot twice more.
 * The second call must run final code (inv.slot.new-slot-discovered: slots
 * created while a method was already published, e.g. by late loads, are
 * discovered); with a backpatching strategy the slot must then hold the
 * final native code itself (inv.slot.final-direct); a method that does not
 * reach its final tier violates inv.tiering.promotion-after-threshold. */
static void converge(ru_run *r)
{
    const ru_prog *p = r->p;
    r->cur_op = p->n_ops;
    static ru_site sites[RU_TYPES * (RU_VT + RU_NV)];
    int n = 0;
    for (int t = 0; t < p->n_types; t++) {
        if (p->ty[t].iface || p->ty[t].abstract || !r->loaded[t] || r->dead[t]) continue;
        for (uint32_t sl = 0; sl < p->ty[t].n_vt; sl++)
            if (p->ty[t].vt_mid[sl] >= 0)
                sites[n++] = (ru_site){ P_VTABLE, (int8_t)t, -1, (uint8_t)sl, (int16_t)p->ty[t].vt_mid[sl] };
        for (int a = t; a >= 0; a = p->ty[a].parent)          /* non-virtuals, with this receiver */
            for (uint32_t k = 0; k < p->ty[a].n_nv; k++) {
                int dup = 0;
                for (int i = 0; i < n; i++) dup |= sites[i].path == P_OWNING && sites[i].mid == p->ty[a].nv_mid[k];
                if (!dup) sites[n++] = (ru_site){ P_OWNING, (int8_t)t, -1, 0, (int16_t)p->ty[a].nv_mid[k] };
            }
    }
    unsigned per = r->thr + 1 > 40 ? 40 : r->thr + 1;
    uint64_t as = p->seed ^ 0xc0ffee;
    int64_t a[4];
    int rounds = 0;
    for (; rounds < 8; rounds++) {
        if (rounds > 0) {
            int all = 1;
            for (int i = 0; i < n && all; i++) all = TK_TIER_IS_FINAL(tkt_state(r->rt, r->dm[sites[i].mid]).tier);
            if (all) break;
        }
        for (int i = 0; i < n; i++)
            for (unsigned k = 0; k < per; k++) {
                args_of(&as, a);
                int ord = r->ord[sites[i].mid];
                call_checked(r, tkt_load(site_slot(r, &sites[i])), &sites[i], a, ord, ord);
            }
        do_tick(r, r->delay + 1);
        do_drain(r);
        check_trace_now(r);
    }
    if (!r->tiers) return;
    char sb[160], buf[200];
    for (int i = 0; i < n; i++) {
        int m = sites[i].mid;
        site_str(p, &sites[i], sb, sizeof sb);
        tk_method_state st = tkt_state(r->rt, r->dm[m]);
        int ord = r->ord[m];
        if (st.tier == TK_TIER_UNKNOWN) {
            finding(r, "inv.versioning.activate-republishes",
                    "%s: its active IL version %u was never compiled although %s was called %d times (the calls ran "
                    "other code)", p->me[m].name, r->ils[m][ord], sb, rounds * (int)per);
            continue;
        }
        if (!TK_TIER_IS_FINAL(st.tier)) {
            /* With events: no threshold at all for the current version means
             * the calls escaped the counter (or counting never began). */
            int ti = tier_idx(st.tier);
            int bypass = r->chk && ti >= 0 && !r->thr_hit[m][ord][ti];
            finding(r, bypass ? "inv.counting.no-bypass" : "inv.tiering.promotion-after-threshold",
                    "%s is still at %s after %d rounds of %u calls through every slot, each followed by a full delay "
                    "and a drain%s", p->me[m].name, tkt_tier_name(st.tier), rounds, per,
                    bypass ? "; its current version never reached its threshold (calls escape the counter, or "
                             "counting never began)" : "");
            continue;
        }
        for (int k = 0; k < 2; k++) {
            args_of(&as, a);
            call_checked(r, tkt_load(site_slot(r, &sites[i])), &sites[i], a, ord, ord);
        }
        if (!TK_TIER_IS_FINAL(g_exec[0].tier))
            finding(r, "inv.slot.new-slot-discovered", "%s is at %s, but a call through %s still ran %s code",
                    p->me[m].name, tkt_tier_name(st.tier), sb, tkt_tier_name(g_exec[0].tier));
        if ((D->caps & TK_CAP_CLASSIFY) && tkt_backpatches_slots(r->rt)) {
            void *v = tkt_load(site_slot(r, &sites[i]));
            tk_addr_info ci;
            memset(&ci, 0, sizeof ci);
            D->classify(r->rt, v, &ci);
            if (ci.cls != TK_AC_NATIVE_CODE || !TK_TIER_IS_FINAL(ci.tier) || ci.method != r->dm[m] ||
                ci.il_version != r->ils[m][ord])
                finding(r, "inv.slot.final-direct", "%s is at %s and was called through %s twice, which still "
                        "holds %s", p->me[m].name, tkt_tier_name(st.tier), sb, tkt_describe(r->rt, v, buf, sizeof buf));
        }
    }
}

/* Runs the whole program; returns 0, or -1 when the runtime could not be
 * created (baseline only). */
static int run_program(ru_run *r, const ru_prog *p, int baseline)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->p = p;
    r->label = baseline ? "baseline" : "tested";
    r->cur_op = -1;
    char thr[48], pgo[32], dly[48], del[64];
    snprintf(thr, sizeof thr, "CallCountThreshold=%u", p->thr);
    snprintf(pgo, sizeof pgo, "TieredPGO=%u", p->pgo);
    snprintf(dly, sizeof dly, "CallCountingDelayMs=%u", p->delay);
    snprintf(del, sizeof del, "DeleteCallCountingStubsAfter=%u", p->del);
    if (baseline) {
        const char *cfg[] = { "Mode=deterministic", "TieredCompilation=0", NULL };
        char err[512] = "";
        r->rt = D->create(cfg, err, sizeof err);
        if (!r->rt) {
            tkt_note("the driver rejected the baseline configuration (Mode=deterministic TieredCompilation=0: %s); "
                     "comparing against the model only", err[0] ? err : "no message");
            return -1;
        }
        snprintf(r->cfg, sizeof r->cfg, "Mode=deterministic TieredCompilation=0");
    } else {
        const char *keys[] = { "Mode=deterministic", thr, pgo, dly, p->del != ~0u ? del : NULL, NULL };
        r->rt = tkt_create_v(keys);
        snprintf(r->cfg, sizeof r->cfg, "Strategy=%s %s %s %s%s%s", tkt_strategy(r->rt), thr, pgo, dly,
                 p->del != ~0u ? " " : "", p->del != ~0u ? del : "");
    }
    r->tiers = tkt_tiers(r->rt);
    const char *v = tkt_config_value(r->rt, "CallCountThreshold");
    r->thr = v ? (unsigned)strtoul(v, NULL, 10) : p->thr;
    v = tkt_config_value(r->rt, "CallCountingDelayMs");
    r->delay = v ? (unsigned)strtoul(v, NULL, 10) : p->delay;
    if (D->caps & TK_CAP_EVENTS) {
        r->names = tkv_names_new();
        r->chk = tkv_new(tkt_strategy(r->rt), r->names, on_viol, r);
        D->set_event_sink(r->rt, ru_sink, r);
    }
    D->thread_attach(r->rt);
    /* define every type (interfaces first: classes refer to them), load the early ones */
    for (int t = 0; t < p->n_types; t++) {
        const ru_type *ty = &p->ty[t];
        tk_iface_impl_def impl[RU_IMPLS];
        for (uint32_t k = 0; k < ty->n_impl; k++) {
            impl[k] = ty->impl[k];
            impl[k].iface = r->ty[ty->impl_if[k]];
        }
        tk_type_def d = { ty->name, ty->parent >= 0 ? r->ty[ty->parent] : NULL,
                          ty->iface ? TK_TYPE_INTERFACE : ty->abstract ? TK_TYPE_ABSTRACT : 0u,
                          ty->n_virt, ty->virt, ty->n_ovr, ty->ovr, ty->n_nv, ty->nv, ty->n_impl, impl };
        char err[256] = "";
        r->ty[t] = D->type_define(r->rt, &d, err, sizeof err);
        if (!r->ty[t]) finding(r, "inv.semantics.tier-independent", "type_define(%s) failed: %s", ty->name, err);
        for (int m = 0; m < p->n_methods; m++)
            if (p->me[m].decl == t)
                r->dm[m] = p->me[m].is_virtual ? D->virtual_method(r->ty[t], p->me[m].slot)
                                               : D->nonvirtual_method(r->ty[t], p->me[m].slot);
    }
    for (int m = 0; m < p->n_methods; m++)
        if (p->me[m].callable && !r->dm[m])
            finding(r, "inv.semantics.tier-independent", "the driver returned no method for %s", p->me[m].name);
    for (int t = 0; t < p->n_types; t++)
        if (!p->ty[t].late) load_type(r, t);
    check_trace_now(r);
    for (int i = 0; i < p->n_ops; i++) exec_op(r, i);
    converge(r);
    r->cur_op = p->n_ops;
    D->thread_detach(r->rt);
    if (r->chk) {
        D->set_event_sink(r->rt, NULL, NULL);
        tkv_finish(r->chk);
        check_trace_now(r);
    }
    for (int t = 0; t < p->n_types; t++)
        if (r->obj[t]) D->object_free(r->rt, r->obj[t]);
    if (baseline) D->destroy(r->rt);
    else tkt_destroy(r->rt);
    if (r->chk) {
        tkv_free(r->chk);
        tkv_names_free(r->names);
    }
    pthread_mutex_destroy(&r->mu);
    return 0;
}

/* Compares the calls of the program's operations (the convergence phase
 * makes as many calls as each configuration needs to converge). */
static void compare_runs(const ru_prog *p, ru_run *a, ru_run *b)
{
    while (a->ncalls && a->calls[a->ncalls - 1].op >= p->n_ops) a->ncalls--;
    while (b->ncalls && b->calls[b->ncalls - 1].op >= p->n_ops) b->ncalls--;
    size_t n = a->ncalls < b->ncalls ? a->ncalls : b->ncalls;
    char ob[200], rp[200];
    for (size_t i = 0; i < n; i++) {
        const ru_call *x = &a->calls[i], *y = &b->calls[i];
        int same_ver = x->ord_lo == x->ord_hi ? x->ord == y->ord : 1;
        if (x->op == y->op && x->mid == y->mid && !memcmp(x->a, y->a, sizeof x->a) && x->ret == y->ret) {
            if (same_ver) continue;
            /* Same body, arguments and result: only the IL version differs,
             * which inv.semantics.tier-independent allows; the version rules
             * do not (each run was also checked against the model). */
            a->cur_op = x->op;
            finding(a, "inv.versioning.activate-republishes",
                    "call %zu ran %s at IL version #%d (%s run) and #%d (%s run [%s])", i, p->me[x->mid].name, x->ord,
                    a->label, y->ord, b->label, b->cfg);
            continue;
        }
        repro(a, rp, sizeof rp);
        tkt_fail("inv.semantics.tier-independent: seed %#" PRIx64 ": call %zu (%s) differs: %s run [%s]: %s -> %#" PRIx64
                 " (IL #%d), %s run [%s]: %s -> %#" PRIx64 " (IL #%d) (%s)", p->seed, i,
                 op_str(p, x->op, ob, sizeof ob), a->label, a->cfg, p->me[x->mid].name, (uint64_t)x->ret, x->ord,
                 b->label, b->cfg, p->me[y->mid].name, (uint64_t)y->ret, y->ord, rp);
    }
    if (a->ncalls != b->ncalls) {
        repro(a, rp, sizeof rp);
        tkt_fail("inv.semantics.tier-independent: seed %#" PRIx64 ": %s run made %zu calls, %s run %zu (%s)", p->seed,
                 a->label, a->ncalls, b->label, b->ncalls, rp);
    }
}

/* ---- the tests ----------------------------------------------------------------------------- */
static size_t seed_list(uint64_t base, uint64_t *out, size_t cap)
{
    const char *env = getenv("TK_RANDOM_SEEDS");
    size_t n = 0;
    if (env && *env) {
        const char *q = env;
        while (*q && n < cap) {
            while (*q == ',' || *q == ' ' || *q == '\t') q++;
            if (!*q) break;
            char *end;
            unsigned long long v = strtoull(q, &end, 0);
            if (end == q || (*end && *end != ',' && *end != ' ' && *end != '\t'))
                tkt_fail("TK_RANDOM_SEEDS='%s': '%s' is not a seed (decimal or 0x hex, separated by ',')", env, q);
            if (q[0] == '0' && q[1] >= '0' && q[1] <= '9')
                tkt_fail("TK_RANDOM_SEEDS='%s': '%s' has a leading 0 (octal is not accepted)", env, q);
            out[n++] = v;
            q = end;
        }
        return n;
    }
    long k = 256;
    const char *qemu = getenv("QEMU");       /* set by the arm64 suites (qemu-user) */
    if (qemu && *qemu) k = 64;
    const char *np = getenv("TK_RANDOM_PROGRAMS");
    if (np) {   /* strict: "abc" or "0" must not quietly run no program and pass */
        uint64_t v;
        char why[160];
        if (tk_arg_u64(np, 1, cap, &v, why, sizeof why))
            tkt_fail("TK_RANDOM_PROGRAMS='%s': %s", np, why);
        k = (long)v;
    }
    for (long i = 0; i < k && n < cap; i++) out[n++] = base + (uint64_t)i;
    return n;
}

static ru_prog g_prog;
static ru_run g_run[2];

static void random_suite(uint64_t seed_base)
{
    tkt_require_caps(TK_CAP_DETERMINISTIC);
    g_test = tkt_current() ? tkt_current()->name : "random*";
    g_other_notes = 0;
    memset(&g_stats, 0, sizeof g_stats);
    static uint64_t seeds[4096];
    size_t ns = seed_list(seed_base, seeds, 4096);
    const char *dump = getenv("TK_RANDOM_DUMP");
    int baseline_ok = 1;
    size_t calls = 0, ops = 0;
    uint64_t t0 = tkt_now_ms();
    for (size_t k = 0; k < ns; k++) {
        gen_program(&g_prog, seeds[k], D->caps);
        if (dump && *dump && strcmp(dump, "0")) dump_program(&g_prog);
        run_program(&g_run[0], &g_prog, 0);
        if (baseline_ok && run_program(&g_run[1], &g_prog, 1) == 0) compare_runs(&g_prog, &g_run[0], &g_run[1]);
        else baseline_ok = 0;
        calls += g_run[0].ncalls;
        ops += (size_t)g_prog.n_ops;
        free(g_run[0].calls);
        free(g_run[1].calls);
        g_run[0].calls = g_run[1].calls = NULL;
    }
    tkt_note("%zu program(s) (seeds %#" PRIx64 "..), %zu operations, %zu calls by them per run, %s, %llu ms", ns,
             ns ? seeds[0] : 0, ops, calls, baseline_ok ? "compared with a TieredCompilation=0 baseline"
                                                        : "compared with the model only",
             (unsigned long long)(tkt_now_ms() - t0));
    tkt_note("calls at tier0 %llu, tier0-instrumented %llu, tier1 %llu, optimized %llu; events: publish %llu, "
             "threshold %llu, promote %llu, counting stubs freed %llu, safepoint_sync %llu, slot_record %llu, "
             "activate %llu, type_unload %llu; held values called across a version change %llu (%llu ran the old "
             "version)",
             (unsigned long long)g_stats.tier_calls[TK_TIER_0], (unsigned long long)g_stats.tier_calls[TK_TIER_0_INSTRUMENTED],
             (unsigned long long)g_stats.tier_calls[TK_TIER_1], (unsigned long long)g_stats.tier_calls[TK_TIER_OPTIMIZED],
             (unsigned long long)g_stats.ev[TK_EV_VERSION_PUBLISH], (unsigned long long)g_stats.ev[TK_EV_THRESHOLD],
             (unsigned long long)g_stats.ev[TK_EV_PROMOTE], (unsigned long long)g_stats.cc_frees,
             (unsigned long long)g_stats.ev[TK_EV_SAFEPOINT_SYNC], (unsigned long long)g_stats.ev[TK_EV_SLOT_RECORD],
             (unsigned long long)g_stats.ev[TK_EV_VERSION_ACTIVATE], (unsigned long long)g_stats.ev[TK_EV_TYPE_UNLOAD],
             (unsigned long long)g_stats.held_across_version, (unsigned long long)g_stats.held_ran_old);
    if (g_other_notes) tkt_note("%zu finding(s) for anchors of another test (see above)", g_other_notes);
}

/* Three tests run the same kind of programs (each its own seeds, so together
 * they cover three times as many) with every check on; each fails only on
 * the anchors it names and notes findings for the others' anchors. */

/* Dispatch semantics and what slots hold: the tested configuration against
 * the baseline and the model, slot values classified at random points. */
TK_TEST_F(random_differential, TKT_SLOW, "inv.semantics.tier-independent", "inv.slot.no-deletable-stub",
          "inv.observability.trace-classified", "inv.precode.no-stale-target", "inv.versioning.activate-republishes",
          "inv.slot.inherit-temporary-entry")
{
    random_suite(1);
}

/* The live trace checker (tkv) on every run: counting, tiering, backpatch
 * and reclamation rules decided from the event stream. */
TK_TEST_F(random_trace, TKT_SLOW, "inv.semantics.tier-independent", "inv.slot.no-deletable-stub",
          "inv.counting.final-tier-not-counted", "inv.counting.threshold-once", "inv.backpatch.record-under-lock",
          "inv.backpatch.owning-slot-last", "inv.backpatch.lazy-final-only", "inv.tiering.promotion-after-threshold",
          "inv.tiering.monotonic", "inv.reclaim.wait-safepoint", "inv.reclaim.unpublish-before-free")
{
    random_suite(100001);
    if (!(D->caps & TK_CAP_EVENTS))
        tkt_unsupported("driver lacks TK_CAP_EVENTS: the programs ran (semantics checked), the trace rules could not "
                        "be checked");
}

/* The model's clock and call counts against the events: delay restarts,
 * early thresholds, promotion after the background work, and convergence of
 * every slot to final code at the end of each program. */
TK_TEST_F(random_tiering, TKT_SLOW, "inv.semantics.tier-independent", "inv.tiering.delay-restart",
          "inv.counting.threshold-exact", "inv.counting.first-call-not-counted", "inv.counting.no-bypass",
          "inv.tiering.promotion-after-threshold", "inv.slot.new-slot-discovered", "inv.slot.final-direct")
{
    random_suite(200001);
    if (!(D->caps & TK_CAP_EVENTS))
        tkt_unsupported("driver lacks TK_CAP_EVENTS: the programs ran (semantics and convergence checked), the "
                        "counting and delay rules could not be checked");
}
