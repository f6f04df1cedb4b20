/* reference/examples/seed_scenario.h — the seed scenario of PR #125359 as
 * a reusable workload: an abstract base class, several derived types, a
 * factory, hot loops, TieredPGO on, and one late-loaded type.  Shared by
 * tk-seed-counters and the reference tests.  Deterministic mode: rounds of
 * calls separated by clock advances and drains. */
#ifndef TK_SEED_SCENARIO_H
#define TK_SEED_SCENARIO_H
#include "tierkit.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SEED_KINDS 5            /* Circle Square Rect Triangle + late Hexagon */
#define SEED_ROUNDS 10
#define SEED_CALLS 200
#define SEED_LATE_ROUND 3

typedef struct seed_run {
    tk_runtime *rt;
    tk_type *shape, *kinds[SEED_KINDS], *factory;
    tk_object *objs[SEED_KINDS];
    uint64_t hash, calls;       /* FNV-1a over the (method tag, arg) sequence */
    uint64_t wrong;             /* bodies that ran for an unexpected method   */
} seed_run;

static seed_run *g_seed;

static void seed_log(intptr_t tag, int64_t a0)
{
    uint64_t h = g_seed->hash ? g_seed->hash : 1469598103934665603ull;
    uint64_t v[2] = { (uint64_t)tag, (uint64_t)a0 };
    const unsigned char *p = (const unsigned char *)v;
    for (size_t i = 0; i < sizeof v; i++) { h ^= p[i]; h *= 1099511628211ull; }
    g_seed->hash = h;
    g_seed->calls++;
}

static int64_t seed_body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    seed_log((intptr_t)ctx->user, a0);
    return (intptr_t)ctx->user * 1000 + a0;
}

static int64_t seed_create(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    seed_log((intptr_t)ctx->user, a0);
    return (int64_t)(intptr_t)g_seed->objs[a0];
}

#define TAG(kind, m) ((void *)(intptr_t)((kind) * 10 + (m) + 1))

/* vtable: 0 Area (abstract), 1 Perimeter (abstract), 2 Name, 3 Scale */
static int seed_setup(seed_run *s, tk_runtime *rt)
{
    char err[256];
    memset(s, 0, sizeof *s);
    s->rt = rt;
    g_seed = s;
    tk_method_def base_v[4] = {
        { "Shape.Area", NULL, NULL, 0 }, { "Shape.Perimeter", NULL, NULL, 0 },
        { "Shape.Name", seed_body, TAG(9, 2), 0 }, { "Shape.Scale", seed_body, TAG(9, 3), 0 },
    };
    tk_type_def shape = { "Shape", NULL, TK_TYPE_ABSTRACT, 4, base_v, 0, NULL, 0, NULL, 0, NULL };
    s->shape = tk_type_define(rt, &shape, err, sizeof err);
    if (!s->shape || tk_type_load(rt, s->shape)) { fprintf(stderr, "%s\n", err); return -1; }
    static const char *names[SEED_KINDS] = { "Circle", "Square", "Rect", "Triangle", "Hexagon" };
    for (int k = 0; k < SEED_KINDS; k++) {
        static char nb[SEED_KINDS][3][32];
        snprintf(nb[k][0], 32, "%s.Area", names[k]);
        snprintf(nb[k][1], 32, "%s.Perimeter", names[k]);
        snprintf(nb[k][2], 32, "%s.Scale", names[k]);
        tk_override_def ov[3] = {
            { 0, { nb[k][0], seed_body, TAG(k, 0), 0 } },
            { 1, { nb[k][1], seed_body, TAG(k, 1), 0 } },
            { 3, { nb[k][2], seed_body, TAG(k, 3), 0 } },
        };
        tk_type_def d = { names[k], s->shape, 0, 0, NULL, k == 1 ? 3u : 2u, ov, 0, NULL, 0, NULL };
        s->kinds[k] = tk_type_define(rt, &d, err, sizeof err);
        if (!s->kinds[k]) { fprintf(stderr, "%s\n", err); return -1; }
        if (k < SEED_KINDS - 1 && tk_type_load(rt, s->kinds[k])) return -1;
    }
    tk_method_def fm[1] = { { "Factory.Create", seed_create, TAG(8, 0), 0 } };
    tk_type_def f = { "Factory", NULL, 0, 0, NULL, 0, NULL, 1, fm, 0, NULL };
    s->factory = tk_type_define(rt, &f, err, sizeof err);
    if (!s->factory || tk_type_load(rt, s->factory)) return -1;
    for (int k = 0; k < SEED_KINDS - 1; k++) s->objs[k] = tk_object_new(rt, s->kinds[k]);
    return 0;
}

static int64_t seed_call(void **slot, void *self, int64_t a0)
{
    tk_entry_fn f = (tk_entry_fn)__atomic_load_n(slot, __ATOMIC_ACQUIRE);
    return f(self, a0, 0, 0, 0);
}

/* One round of hot loops. */
static void seed_round(seed_run *s, int round)
{
    int kinds = round >= SEED_LATE_ROUND ? SEED_KINDS : SEED_KINDS - 1;
    void **create = tk_method_slot(tk_type_nonvirtual_method(s->factory, 0));
    for (int i = 0; i < SEED_CALLS; i++) {
        int k = i % kinds;
        tk_object *o = (tk_object *)(intptr_t)seed_call(create, NULL, k);
        if (o != s->objs[k]) s->wrong++;
        tk_type *t = s->kinds[k];
        if (seed_call(tk_vtable_slot(t, 0), o, i) != (k * 10 + 1) * 1000 + i) s->wrong++;
        if (seed_call(tk_vtable_slot(t, 1), o, i) != (k * 10 + 2) * 1000 + i) s->wrong++;
        if ((i / kinds) % 3 == 0 && seed_call(tk_vtable_slot(t, 2), o, i) != 93 * 1000 + i) s->wrong++;
        if ((i / kinds) % 2 == 0) {
            int64_t want = (k == 1 ? 14 : 94) * 1000 + i;
            if (seed_call(tk_vtable_slot(t, 3), o, i) != want) s->wrong++;
        }
    }
}

/* The whole scenario; returns 0 on success. */
static inline int seed_execute(seed_run *s, tk_runtime *rt)
{
    if (seed_setup(s, rt)) return -1;
    for (int r = 0; r < SEED_ROUNDS; r++) {
        if (r == SEED_LATE_ROUND) {
            if (tk_type_load(rt, s->kinds[SEED_KINDS - 1])) return -1;
            s->objs[SEED_KINDS - 1] = tk_object_new(rt, s->kinds[SEED_KINDS - 1]);
        }
        seed_round(s, r);
        tk_clock_advance(rt, 150);
        tk_drain(rt);
    }
    return 0;
}

/* Hot methods: every override, Shape.Name, Shape.Scale, Factory.Create. */
static inline int seed_hot_methods(seed_run *s, tk_method **out, int cap)
{
    int n = 0;
    for (int k = 0; k < SEED_KINDS && n + 3 <= cap; k++) {
        out[n++] = tk_type_virtual_method(s->kinds[k], 0);
        out[n++] = tk_type_virtual_method(s->kinds[k], 1);
        if (k == 1) out[n++] = tk_type_virtual_method(s->kinds[k], 3);
    }
    out[n++] = tk_type_virtual_method(s->shape, 2);
    out[n++] = tk_type_virtual_method(s->shape, 3);
    out[n++] = tk_type_nonvirtual_method(s->factory, 0);
    return n;
}

static inline void seed_teardown(seed_run *s)
{
    for (int k = 0; k < SEED_KINDS; k++) tk_object_free(s->rt, s->objs[k]);
    g_seed = NULL;
}
#endif
