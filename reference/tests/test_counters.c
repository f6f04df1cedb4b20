/* reference/tests/test_counters.c — the counters, checked exactly (SPEC.md
 * "Counters" (`ctr.phase`), `inv.counters.methods-at-tier`,
 * `inv.counters.stub-bytes`, `inv.counters.match-events`) and the class of
 * every kind of address (`inv.observability.classify-exact`).
 *
 * Every gauge and every stub counter is compared with a value the test
 * derives on its own (the published methods' states, the events it saw),
 * at every step of a method's life, in every strategy, with and without
 * TieredCompilation and TieredPGO: a gauge that counts one tier under
 * another's name, a stub counted under the wrong role or a byte count off
 * by one stub shows at the step where it happens.  Manual clock. */
#include "reftest.h"
#include "../rt_internal.h"
#include "arch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t cbody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + a0;
}

/* SPEC.md "Counters": every counter by name, and whether it is split. */
static const struct { const char *name; int split; } spec_counters[] = {
    { "try_backpatch_calls", 1 }, { "backpatch_slots_calls", 1 }, { "slot_writes", 1 },
    { "slot_discoveries", 1 }, { "entry_point_oscillations", 1 }, { "backpatch_lock_acquisitions", 1 },
    { "backpatch_lock_contended", 1 }, { "backpatch_lock_hold_ns", 1 }, { "precode_retargets", 1 },
    { "stubs_allocated_precode", 0 }, { "stubs_allocated_forwarder", 0 }, { "stubs_allocated_callcount", 0 },
    { "stubs_freed_precode", 0 }, { "stubs_freed_forwarder", 0 }, { "stubs_freed_callcount", 0 },
    { "live_stub_bytes", 0 }, { "calls_counted", 1 }, { "threshold_hits", 1 },
    { "promotions_tier0_to_tier0instr", 0 }, { "promotions_tier0_to_tier1", 0 },
    { "promotions_tier0instr_to_tier1", 0 }, { "methods_at_tier0", 0 }, { "methods_at_tier0instr", 0 },
    { "methods_at_tier1", 0 }, { "methods_at_optimized", 0 }, { "compiles", 0 }, { "compile_cost_us", 0 },
    { "stub_deletion_passes", 0 }, { "counting_stub_bytes", 0 }, { "counting_info_bytes", 0 },
    { "methods_counted", 0 },
};
#define N_SPEC (sizeof spec_counters / sizeof *spec_counters)

static const tk_counter *find(const tk_counter *c, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].name && !strcmp(c[i].name, name)) return &c[i];
    return NULL;
}

/* Every counter of SPEC's table, once, with its split flag; a counter that
 * is not split has everything in `final`; tk_counter_total is the sum of
 * the two parts; a buffer shorter than the list is filled up to its
 * capacity and not one entry further, and the return value still says how
 * many exist. */
static void check_counter_table(tk_runtime *rt)
{
    tk_counter c[N_SPEC + 4];
    memset(c, 0, sizeof c);
    size_t n = tk_counters(rt, c, N_SPEC + 4);
    ck_assert_uint_eq(n, N_SPEC);
    for (size_t i = n; i < N_SPEC + 4; i++) ck_assert_ptr_null(c[i].name);
    for (size_t k = 0; k < N_SPEC; k++) {
        const tk_counter *x = find(c, n, spec_counters[k].name);
        ck_assert_msg(x != NULL, "counter %s missing", spec_counters[k].name);
        ck_assert_msg(x->split == (uint32_t)spec_counters[k].split, "counter %s: split %u", x->name, x->split);
        if (!x->split) ck_assert_msg(x->nonfinal == 0, "unsplit counter %s: nonfinal %llu", x->name,
                                     (unsigned long long)x->nonfinal);
        ck_assert_int_eq(tk_counter_total(rt, x->name), (int64_t)(x->nonfinal + x->final));
    }
    for (size_t cap = 0; cap < 4; cap++) {
        tk_counter s[4];
        memset(s, 0xa5, sizeof s);
        ck_assert_uint_eq(tk_counters(rt, s, cap), N_SPEC);
        for (size_t i = 0; i < cap; i++) ck_assert_str_eq(s[i].name, c[i].name);
        for (size_t i = cap; i < 4; i++) {
            tk_counter junk;
            memset(&junk, 0xa5, sizeof junk);
            ck_assert_msg(!memcmp(&s[i], &junk, sizeof junk), "cap %zu: entry %zu written", cap, i);
        }
    }
}

static int64_t total(tk_runtime *rt, const char *name)
{
    int64_t v = tk_counter_total(rt, name);
    ck_assert_msg(v >= 0, "no counter %s", name);
    return v;
}

/* ---- a type whose methods reach every tier ------------------------------- */

enum { NV = 4, NN = 2, NM = NV + NN };

typedef struct world {
    tk_runtime *rt;
    tk_type *t;
    tk_object *obj;
    tk_method *m[NM];
    void **slot[NM];
    int pgo, tc, tiered;
    const char *strat;
    struct timespec t0;
    /* from the event sink */
    int64_t alloc[8], freed[8], retarget[2];
    /* each method's entry point E (from its TEP, then each backpatch pass's
     * `new`) and the value before, to count changes and oscillations */
    void *ep[NM], *ep_prev[NM];
    int64_t passes[2], oscillations[2];
    int bad;
    char why[256];
} world;

static void wsink(void *user, const tk_event *ev)
{
    world *w = user;
    tk_addr_info ai;
    switch (ev->kind) {
    case TK_EV_STUB_ALLOC:
    case TK_EV_STUB_FREE:
        if (ev->stub_kind >= 8) break;
        if (ev->kind == TK_EV_STUB_ALLOC) w->alloc[ev->stub_kind]++;
        else w->freed[ev->stub_kind]++;
        /* a stub is live while announced, and classifies as its role, for
         * its method (`inv.observability.classify-exact`) */
        memset(&ai, 0x5a, sizeof ai);
        tk_classify_address(w->rt, ev->stub, &ai);
        if (ai.cls != (tk_addr_class)ev->stub_kind || ai.method != ev->method) {
            if (!w->bad++)
                snprintf(w->why, sizeof w->why, "%s of a %s stub: it classifies as %s", tk_event_name(ev->kind),
                         tk_addr_class_name(ev->stub_kind), tk_addr_class_name(ai.cls));
        }
        if (ev->stub_kind == TK_AC_CALLCOUNT_STUB && (ai.tier != ev->tier || ai.il_version != ev->il_version) &&
            !w->bad++)
            snprintf(w->why, sizeof w->why, "callcount stub event tier %d il %u, classified %d/%u", ev->tier,
                     ev->il_version, ai.tier, ai.il_version);
        if (ev->stub_kind != TK_AC_CALLCOUNT_STUB && (ev->tier != TK_TIER_UNKNOWN || ev->il_version) && !w->bad++)
            snprintf(w->why, sizeof w->why, "precode stub event with tier %d il %u", ev->tier, ev->il_version);
        break;
    case TK_EV_PRECODE_RETARGET:
        if (ev->phase == TK_PHASE_NONFINAL || ev->phase == TK_PHASE_FINAL) w->retarget[ev->phase]++;
        break;
    case TK_EV_BACKPATCH_BEGIN:
        for (int i = 0; i < NM; i++)
            if (ev->method == w->m[i] && (ev->phase == TK_PHASE_NONFINAL || ev->phase == TK_PHASE_FINAL)) {
                /* a pass runs only when E changes (SPEC "Counters":
                 * backpatch_slots_calls), and returning to the value before
                 * the previous change is an oscillation */
                if (ev->new_value == w->ep[i] && !w->bad++)
                    snprintf(w->why, sizeof w->why, "a backpatch pass of method %d to its current entry point", i);
                w->passes[ev->phase]++;
                if (w->ep_prev[i] && ev->new_value == w->ep_prev[i]) w->oscillations[ev->phase]++;
                w->ep_prev[i] = w->ep[i];
                w->ep[i] = ev->new_value;
            }
        break;
    default:
        break;
    }
}

static void world_new(world *w, const char *strat, int pgo, int tc)
{
    memset(w, 0, sizeof *w);
    clock_gettime(CLOCK_MONOTONIC, &w->t0);
    w->strat = strat; w->pgo = pgo; w->tc = tc;
    w->tiered = tc && strcmp(strat, "notier") != 0;
    const char *ex[] = { "CallCountThreshold", "2", "CallCountingDelayMs", "10", "TieredPGO", pgo ? "1" : "0",
                         "TieredCompilation", tc ? "1" : "0", NULL };
    w->rt = rt_new(strat, ex);
    tk_set_event_sink(w->rt, wsink, w);
    char err[256];
    tk_method_def v[NV] = { { "G.V0", cbody, (void *)1, 0 }, { "G.V1", cbody, (void *)2, 0 },
                            { "G.V2", cbody, (void *)3, 0 }, { "G.Fixed", cbody, (void *)4, TK_METHOD_NOT_TIERED } };
    tk_method_def n[NN] = { { "G.N0", cbody, (void *)5, 0 }, { "G.N1", cbody, (void *)6, 0 } };
    tk_type_def d = { "G", NULL, 0, NV, v, 0, NULL, NN, n, 0, NULL };
    w->t = tk_type_define(w->rt, &d, err, sizeof err);
    ck_assert_msg(w->t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(w->rt, w->t), 0);
    w->obj = tk_object_new(w->rt, w->t);
    for (int i = 0; i < NM; i++) {
        w->m[i] = i < NV ? tk_type_virtual_method(w->t, (uint32_t)i) : tk_type_nonvirtual_method(w->t, (uint32_t)(i - NV));
        w->slot[i] = tk_method_slot(w->m[i]);
        ck_assert_ptr_nonnull(w->slot[i]);
        w->ep[i] = *w->slot[i];   /* E starts at the temporary entry point */
    }
}

static void call(world *w, int i, int times)
{
    for (int k = 0; k < times; k++)
        ck_assert_int_eq(call_slot(w->slot[i], w->obj, k), (i + 1) * 1000 + k);
}

/* The tier of each published method, from tk_method_get_state. */
static void expect_gauges(world *w, const char *when, int64_t t0, int64_t t0i, int64_t t1, int64_t opt)
{
    int64_t from_state[4] = {0};
    for (int i = 0; i < NM; i++) {
        tk_method_state st;
        tk_method_get_state(w->rt, w->m[i], &st);
        if (!st.published) continue;
        switch (st.tier) {
        case TK_TIER_0: from_state[0]++; break;
        case TK_TIER_0_INSTRUMENTED: from_state[1]++; break;
        case TK_TIER_1: from_state[2]++; break;
        case TK_TIER_OPTIMIZED: from_state[3]++; break;
        default: ck_abort_msg("%s: method %d published at tier %d", when, i, st.tier);
        }
    }
    int64_t want[4] = { t0, t0i, t1, opt };
    static const char *const g[4] = { "methods_at_tier0", "methods_at_tier0instr", "methods_at_tier1",
                                      "methods_at_optimized" };
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(from_state[k] == want[k], "%s pgo=%d tc=%d %s: %lld methods in state, expected %lld", w->strat,
                      w->pgo, w->tc, when, (long long)from_state[k], (long long)want[k]);
        ck_assert_msg(total(w->rt, g[k]) == want[k], "%s pgo=%d tc=%d %s: %s = %lld, expected %lld", w->strat,
                      w->pgo, w->tc, when, g[k], (long long)total(w->rt, g[k]), (long long)want[k]);
        ck_assert_int_eq(counter_phase(w->rt, g[k], 0), 0);
    }
}

/* live_stub_bytes and counting_stub_bytes from the stub counters, and the
 * stub counters from the events (`inv.counters.stub-bytes`,
 * `inv.counters.match-events`). */
static void expect_stub_accounting(world *w, const char *when)
{
    ck_assert_msg(!w->bad, "%s %s: %s", w->strat, when, w->why);
    int64_t ap = total(w->rt, "stubs_allocated_precode"), af = total(w->rt, "stubs_allocated_forwarder"),
            ac = total(w->rt, "stubs_allocated_callcount"), fp = total(w->rt, "stubs_freed_precode"),
            ff = total(w->rt, "stubs_freed_forwarder"), fc = total(w->rt, "stubs_freed_callcount");
    ck_assert_msg(ap == w->alloc[TK_AC_PRECODE] && af == w->alloc[TK_AC_FORWARDER] &&
                  ac == w->alloc[TK_AC_CALLCOUNT_STUB],
                  "%s %s: allocated %lld/%lld/%lld, events %lld/%lld/%lld", w->strat, when, (long long)ap,
                  (long long)af, (long long)ac, (long long)w->alloc[TK_AC_PRECODE],
                  (long long)w->alloc[TK_AC_FORWARDER], (long long)w->alloc[TK_AC_CALLCOUNT_STUB]);
    ck_assert_msg(fp == w->freed[TK_AC_PRECODE] && ff == w->freed[TK_AC_FORWARDER] &&
                  fc == w->freed[TK_AC_CALLCOUNT_STUB],
                  "%s %s: freed %lld/%lld/%lld, events %lld/%lld/%lld", w->strat, when, (long long)fp, (long long)ff,
                  (long long)fc, (long long)w->freed[TK_AC_PRECODE], (long long)w->freed[TK_AC_FORWARDER],
                  (long long)w->freed[TK_AC_CALLCOUNT_STUB]);
    /* forwarder: one forwarder per method that ever counted, kept for its
     * lifetime; no other design allocates one */
    ck_assert_int_eq(af, strcmp(w->strat, "forwarder") ? 0 : total(w->rt, "methods_counted"));
    int64_t fix = 2 * (int64_t)tk_stub_size(TK_STUB_FIXUP), cc = 2 * (int64_t)tk_stub_size(TK_STUB_CALLCOUNT);
    ck_assert_int_eq(total(w->rt, "counting_stub_bytes"), (ac - fc) * cc);
    ck_assert_int_eq(total(w->rt, "live_stub_bytes"), (ap + af - fp - ff) * fix + (ac - fc) * cc);
    ck_assert_int_eq(counter_phase(w->rt, "precode_retargets", 0), w->retarget[TK_PHASE_NONFINAL]);
    ck_assert_int_eq(counter_phase(w->rt, "precode_retargets", 1), w->retarget[TK_PHASE_FINAL]);
    for (int ph = 0; ph < 2; ph++) {
        ck_assert_int_eq(counter_phase(w->rt, "backpatch_slots_calls", ph), w->passes[ph]);
        ck_assert_msg(counter_phase(w->rt, "entry_point_oscillations", ph) == w->oscillations[ph],
                      "%s %s: entry_point_oscillations[%d] = %lld, the passes' entry points give %lld", w->strat, when,
                      ph, (long long)counter_phase(w->rt, "entry_point_oscillations", ph), (long long)w->oscillations[ph]);
    }
    /* backpatch_lock_hold_ns: nothing in a phase with no acquisition, and
     * (one thread: the holds do not overlap) at most the time since the
     * runtime was made */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t elapsed = (int64_t)(now.tv_sec - w->t0.tv_sec) * 1000000000 + (now.tv_nsec - w->t0.tv_nsec);
    for (int ph = 0; ph < 2; ph++) {
        int64_t acq = counter_phase(w->rt, "backpatch_lock_acquisitions", ph);
        int64_t hold = counter_phase(w->rt, "backpatch_lock_hold_ns", ph);
        ck_assert_msg(acq > 0 || hold == 0, "%s %s: %lld ns held in phase %d without an acquisition", w->strat, when,
                      (long long)hold, ph);
        /* each hold spans the pass and its events (the sink's work): time
         * passes on CLOCK_MONOTONIC's nanosecond clock */
        ck_assert_msg(acq == 0 || hold > 0, "%s %s: %lld acquisitions in phase %d, no time held", w->strat, when,
                      (long long)acq, ph);
        ck_assert_msg(hold <= elapsed, "%s %s: %lld ns held in phase %d, only %lld ns passed", w->strat, when,
                      (long long)hold, ph, (long long)elapsed);
        ck_assert_int_eq(counter_phase(w->rt, "backpatch_lock_contended", ph), 0);
    }
}

/* Calls method i until its state says `tier`, advancing the manual clock
 * past each delay and running the background work. */
static void drive_to(world *w, int i, int32_t tier)
{
    for (int round = 0; round < 40; round++) {
        tk_method_state st;
        tk_method_get_state(w->rt, w->m[i], &st);
        if (st.published && st.tier == tier) return;
        call(w, i, 1);
        advance_and_drain(w->rt, 11);
    }
    ck_abort_msg("%s: method %d never reached tier %d", w->strat, i, tier);
}

/* `inv.counters.methods-at-tier`: each gauge is exactly the number of
 * published methods at its tier, at every step: none before a call, the
 * first tier after each first call (Optimized with TieredCompilation=0,
 * in notier and for a method marked not tiered), each promotion moving one
 * method from one gauge to the next, a new IL version taking the method out
 * until it is called again, and nothing after the type unloaded. */
START_TEST(gauges_exact_every_tier)
{
    const char *strat = tk_strategy_names[_i];
    for (int pgo = 0; pgo < 2; pgo++)
        for (int tc = 0; tc < 2; tc++) {
            world w;
            world_new(&w, strat, pgo, tc);
            check_counter_table(w.rt);
            expect_gauges(&w, "before any call", 0, 0, 0, 0);
            int64_t t0 = 0, opt = 0;
            for (int i = 0; i < NM; i++) {
                call(&w, i, 1);
                if (w.tiered && i != 3) t0++; else opt++;
                expect_gauges(&w, "after a first call", t0, 0, 0, opt);
                expect_stub_accounting(&w, "after a first call");
            }
            ck_assert_int_eq(total(w.rt, "compiles"), NM);
            if (w.tiered) {
                /* V0 through every tier */
                if (pgo) {
                    drive_to(&w, 0, TK_TIER_0_INSTRUMENTED);
                    expect_gauges(&w, "V0 instrumented", t0 - 1, 1, 0, opt);
                    ck_assert_int_eq(total(w.rt, "promotions_tier0_to_tier0instr"), 1);
                    ck_assert_int_eq(total(w.rt, "promotions_tier0_to_tier1"), 0);
                }
                drive_to(&w, 0, TK_TIER_1);
                expect_gauges(&w, "V0 final", t0 - 1, 0, 1, opt);
                ck_assert_int_eq(total(w.rt, "promotions_tier0_to_tier0instr"), pgo);
                ck_assert_int_eq(total(w.rt, "promotions_tier0instr_to_tier1"), pgo);
                ck_assert_int_eq(total(w.rt, "promotions_tier0_to_tier1"), !pgo);
                /* the delay that ended counts every method called during it */
                ck_assert_int_eq(total(w.rt, "methods_counted"), t0);
                expect_stub_accounting(&w, "V0 final");
                /* N1 (a non-virtual) too */
                drive_to(&w, NM - 1, TK_TIER_1);
                expect_gauges(&w, "N1 final", t0 - 2, 0, 2, opt);
                ck_assert_int_eq(total(w.rt, "methods_counted"), t0);
                ck_assert_int_eq(total(w.rt, "compiles"), NM + 2 * (1 + pgo));
                /* V1 part way: instrumented (PGO) or still tier0 but counting */
                if (pgo) {
                    drive_to(&w, 1, TK_TIER_0_INSTRUMENTED);
                    expect_gauges(&w, "V1 instrumented", t0 - 3, 1, 2, opt);
                }
                expect_stub_accounting(&w, "part way");
                /* a new IL version: V2 is unpublished until its next call */
                ck_assert_int_eq(tk_version_request(w.rt, w.m[2]), 1);
                expect_gauges(&w, "V2 new IL version", t0 - 3 - pgo, pgo, 2, opt);
                call(&w, 2, 1);
                expect_gauges(&w, "V2 called again", t0 - 2 - pgo, pgo, 2, opt);
            } else {
                ck_assert_int_eq(total(w.rt, "methods_counted"), 0);
                ck_assert_int_eq(total(w.rt, "stubs_allocated_callcount"), 0);
                for (int r = 0; r < 5; r++) { call(&w, 0, 3); advance_and_drain(w.rt, 11); }
                expect_gauges(&w, "not tiered, after calls", 0, 0, 0, NM);
                ck_assert_int_eq(total(w.rt, "compiles"), NM);
                ck_assert_int_eq(tk_version_request(w.rt, w.m[0]), 1);
                expect_gauges(&w, "not tiered, new IL version", 0, 0, 0, NM - 1);
                call(&w, 0, 1);
                expect_gauges(&w, "not tiered, called again", 0, 0, 0, NM);
            }
            check_counter_table(w.rt);
            expect_stub_accounting(&w, "before unload");
            uint64_t compiles[NM];
            for (int i = 0; i < NM; i++) {
                tk_method_state st;
                tk_method_get_state(w.rt, w.m[i], &st);
                compiles[i] = st.compiles;
            }
            tk_object_free(w.rt, w.obj);
            ck_assert_int_eq(tk_type_unload(w.rt, w.t), 0);
            tk_drain(w.rt);
            expect_gauges(&w, "after unload", 0, 0, 0, 0);
            /* `impl.type-metadata-lifetime`: a stale handle reads as
             * unloaded: no version, not published, not counting; its
             * compile count stays */
            for (int i = 0; i < NM; i++) {
                tk_method_state st;
                memset(&st, 0x6b, sizeof st);
                tk_method_get_state(w.rt, w.m[i], &st);
                ck_assert_msg(st.tier == TK_TIER_UNKNOWN && st.il_version == 0 && st.published == 0 &&
                              st.counting == 0 && st.compiles == compiles[i],
                              "%s pgo=%d tc=%d: method %d after unload: tier %d il %u published %u counting %u "
                              "compiles %llu (had %llu)", strat, pgo, tc, i, st.tier, st.il_version, st.published,
                              st.counting, (unsigned long long)st.compiles, (unsigned long long)compiles[i]);
                ck_assert_ptr_null(tk_method_slot(w.m[i]));
            }
            expect_stub_accounting(&w, "after unload");
            /* `impl.no-leak`: every stub given back, by role */
            ck_assert_int_eq(total(w.rt, "live_stub_bytes"), 0);
            ck_assert_int_eq(total(w.rt, "counting_stub_bytes"), 0);
            ck_assert_int_eq(total(w.rt, "counting_info_bytes"), 0);
            ck_assert_int_eq(w.alloc[TK_AC_PRECODE], w.freed[TK_AC_PRECODE]);
            ck_assert_int_eq(w.alloc[TK_AC_FORWARDER], w.freed[TK_AC_FORWARDER]);
            ck_assert_int_eq(w.alloc[TK_AC_CALLCOUNT_STUB], w.freed[TK_AC_CALLCOUNT_STUB]);
            ck_assert_int_eq(w.alloc[TK_AC_PRECODE], NM);
            ck_assert_int_eq(w.alloc[TK_AC_FORWARDER] > 0, w.tiered && !strcmp(strat, "forwarder"));
            tk_runtime_destroy(w.rt);
        }
}
END_TEST

/* ---- classification of every kind of address ----------------------------- */

static void classify_is(tk_runtime *rt, const void *a, tk_addr_class cls, tk_method *m, int32_t tier, uint32_t il,
                        const char *what)
{
    tk_addr_info ai;
    memset(&ai, 0x77, sizeof ai);   /* every field must be written */
    tk_classify_address(rt, a, &ai);
    ck_assert_msg(ai.cls == cls, "%s (%p): class %s, expected %s", what, a, tk_addr_class_name(ai.cls),
                  tk_addr_class_name(cls));
    ck_assert_msg(ai.method == m, "%s: method %p, expected %p", what, (void *)ai.method, (void *)m);
    ck_assert_msg(ai.tier == tier, "%s: tier %d, expected %d", what, ai.tier, tier);
    ck_assert_msg(ai.il_version == il, "%s: il_version %u, expected %u", what, ai.il_version, il);
}

/* Where a call through slot value v runs: through precodes and forwarders
 * to their target. */
static void *resolve(tk_runtime *rt, void *v)
{
    for (int r = 0; r < 4; r++) {
        tk_addr_info ai;
        tk_classify_address(rt, v, &ai);
        if (ai.cls != TK_AC_PRECODE && ai.cls != TK_AC_FORWARDER && ai.cls != TK_AC_CALLCOUNT_STUB) return v;
        v = tk_stub_target(v);
    }
    return v;
}

/* `inv.observability.classify-exact`: the prestub, a temporary entry
 * point, where a precode aimed at the prestub jumps, a forwarder, a live
 * counting stub, native code of each tier and IL version, a freed stub,
 * NULL and memory that is none of these each get their class and exactly
 * the fields the class has (method for precodes, forwarders, stubs and
 * code; tier and IL version for stubs and code; nothing else). */
START_TEST(classify_every_kind)
{
    for (int s = 0; s < ref_tiered_count(); s++) {
        const char *strat = tk_strategy_names[ref_tiered(s)];
        world w;
        world_new(&w, strat, 1, 1);
        tk_runtime *rt = w.rt;
        /* a second type keeps the stub pages in use after G unloads, so a
         * freed stub of G stays a freed stub (not an unmapped page) */
        char err[256];
        tk_method_def kv[1] = { { "K.V", cbody, (void *)9, 0 } };
        tk_type_def kd = { "K", NULL, 0, 1, kv, 0, NULL, 0, NULL, 0, NULL };
        tk_type *k = tk_type_define(rt, &kd, err, sizeof err);
        ck_assert_int_eq(tk_type_load(rt, k), 0);
        int local = 0;
        classify_is(rt, NULL, TK_AC_UNKNOWN, NULL, TK_TIER_UNKNOWN, 0, "NULL");
        classify_is(rt, &local, TK_AC_UNKNOWN, NULL, TK_TIER_UNKNOWN, 0, "a stack address");
        classify_is(rt, (void *)cbody, TK_AC_UNKNOWN, NULL, TK_TIER_UNKNOWN, 0, "a C function");
        classify_is(rt, tk_prestub_entry(), TK_AC_PRESTUB, NULL, TK_TIER_UNKNOWN, 0, "the prestub");
        void *tep = *w.slot[0];
        classify_is(rt, tep, TK_AC_PRECODE, w.m[0], TK_TIER_UNKNOWN, 0, "V0's temporary entry point");
        classify_is(rt, tk_stub_target(tep), TK_AC_PRESTUB, NULL, TK_TIER_UNKNOWN, 0,
                    "the target of a temporary entry point aimed at the prestub");
        void *ntep = *w.slot[NV];
        classify_is(rt, ntep, TK_AC_PRECODE, w.m[NV], TK_TIER_UNKNOWN, 0, "N0's temporary entry point");
        /* first call: tier0 code, then counting after the delay */
        call(&w, 0, 1);
        tk_method_state st;
        tk_method_get_state(rt, w.m[0], &st);
        ck_assert_int_eq(st.tier, TK_TIER_0);
        advance_and_drain(rt, 11);
        call(&w, 0, 1);   /* counting installed by now in every design */
        tk_method_get_state(rt, w.m[0], &st);
        ck_assert_int_eq(st.counting, 1);
        void *v = *w.slot[0];
        if (!strcmp(strat, "forwarder"))
            classify_is(rt, v, TK_AC_FORWARDER, w.m[0], TK_TIER_UNKNOWN, 0, "the forwarder in the slot");
        else
            classify_is(rt, v, TK_AC_PRECODE, w.m[0], TK_TIER_UNKNOWN, 0, "the TEP in the slot");
        void *stub = tk_stub_target(v);
        classify_is(rt, stub, TK_AC_CALLCOUNT_STUB, w.m[0], TK_TIER_0, 0, "V0's tier0 counting stub");
        /* native code: the stub's target is the tier0 code */
        void *code0 = tk_stub_target(stub);
        classify_is(rt, code0, TK_AC_NATIVE_CODE, w.m[0], TK_TIER_0, 0, "V0's tier0 code");
        drive_to(&w, 0, TK_TIER_1);
        call(&w, 0, 1);
        classify_is(rt, resolve(rt, *w.slot[0]), TK_AC_NATIVE_CODE, w.m[0], TK_TIER_1, 0, "V0's tier1 code");
        /* V1's slot index is K's vtable size: a final publish that looks
         * for V1 in every loaded type (eager-final) must not read past K's */
        drive_to(&w, 1, TK_TIER_1);
        call(&w, 1, 1);
        classify_is(rt, resolve(rt, *w.slot[1]), TK_AC_NATIVE_CODE, w.m[1], TK_TIER_1, 0, "V1's tier1 code");
        /* a second IL version's code */
        ck_assert_int_eq(tk_version_request(rt, w.m[1]), 1);
        call(&w, 1, 1);
        classify_is(rt, resolve(rt, *w.slot[1]), TK_AC_NATIVE_CODE, w.m[1], TK_TIER_0, 1,
                    "V1's IL version 1 tier0 code");
        /* freed stubs: G's temporary entry points after G unloads */
        tk_object_free(rt, w.obj);
        ck_assert_int_eq(tk_type_unload(rt, w.t), 0);
        classify_is(rt, tep, TK_AC_FREED, NULL, TK_TIER_UNKNOWN, 0, "V0's freed temporary entry point");
        classify_is(rt, ntep, TK_AC_FREED, NULL, TK_TIER_UNKNOWN, 0, "N0's freed temporary entry point");
        classify_is(rt, *tk_vtable_slot(k, 0), TK_AC_PRECODE, tk_type_virtual_method(k, 0), TK_TIER_UNKNOWN, 0,
                    "K.V's temporary entry point");
        ck_assert_int_eq(tk_type_unload(rt, k), 0);
        tk_runtime_destroy(rt);
    }
}
END_TEST

/* ---- backpatch-lock contention -------------------------------------------- */

typedef struct first_call { tk_runtime *rt; void **slot; tk_object *obj; int64_t got; } first_call;

static void *first_call_thread(void *a)
{
    first_call *fc = a;
    tk_thread_register(fc->rt);
    fc->got = call_slot(fc->slot, fc->obj, 7);
    tk_thread_unregister(fc->rt);
    return NULL;
}

/* SPEC "Counters": backpatch_lock_contended counts the acquisitions whose
 * trylock failed first, in the phase of the operation (a prestub call: its
 * version's tier), and the acquisition itself is counted once, when it
 * happens.  The test holds the backpatch lock while another thread's first
 * call (it publishes, under that lock) arrives: the contention is counted
 * before the call blocks, exactly once, in the first tier's phase
 * (non-final; final in notier and with TieredCompilation=0). */
START_TEST(lock_contention_counted_in_its_phase)
{
    for (size_t s = 0; s <= tk_strategy_count(); s++) {
        int tc = s < tk_strategy_count();
        const char *strat = tc ? tk_strategy_names[s] : "lazy";
        const char *ex[] = { "TieredCompilation", tc ? "1" : "0", NULL };
        fx f;
        fx_init_with(&f, strat, ex, cbody);
        int ph = (!tc || !strcmp(strat, "notier")) ? 1 : 0;
        int64_t acq = counter_phase(f.rt, "backpatch_lock_acquisitions", ph);
        int64_t other = counter_phase(f.rt, "backpatch_lock_acquisitions", !ph);
        int64_t disc[2] = { counter_phase(f.rt, "slot_discoveries", 0), counter_phase(f.rt, "slot_discoveries", 1) };
        first_call fc = { f.rt, tk_vtable_slot(f.base, 1), f.obj, 0 };
        pthread_mutex_lock(&f.rt->bp_lock);
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, first_call_thread, &fc), 0);
        /* wait (bounded) until the call found the lock taken */
        struct timespec nap = { 0, 1000000 };
        for (int i = 0; i < 20000 && tk_counter_total(f.rt, "backpatch_lock_contended") == 0; i++) nanosleep(&nap, NULL);
        int64_t contended = counter_phase(f.rt, "backpatch_lock_contended", ph);
        int64_t wrong = counter_phase(f.rt, "backpatch_lock_contended", !ph);
        int64_t acq_while = counter_phase(f.rt, "backpatch_lock_acquisitions", ph);
        pthread_mutex_unlock(&f.rt->bp_lock);
        pthread_join(t, NULL);
        ck_assert_msg(contended == 1 && wrong == 0, "%s tc=%d: contended %lld in the call's phase, %lld in the other",
                      strat, tc, (long long)contended, (long long)wrong);
        ck_assert_int_eq(acq_while, acq);
        ck_assert_int_eq(fc.got, 2007);
        ck_assert_int_eq(counter_phase(f.rt, "backpatch_lock_acquisitions", ph), acq + 1);
        ck_assert_int_eq(counter_phase(f.rt, "backpatch_lock_acquisitions", !ph), other);
        ck_assert_int_eq(counter_phase(f.rt, "backpatch_lock_contended", ph), 1);
        ck_assert_int_eq(counter_phase(f.rt, "slot_discoveries", 0), disc[0]);
        ck_assert_int_eq(counter_phase(f.rt, "slot_discoveries", 1), disc[1]);
        /* uncontended calls add no contention */
        ck_assert_int_eq(call_slot(tk_vtable_slot(f.base, 0), f.obj, 1), 1001);
        ck_assert_int_eq(tk_counter_total(f.rt, "backpatch_lock_contended"), 1);
        fx_done(&f);
    }
}
END_TEST

TCase *tcase_counters(void)
{
    TCase *tc = tcase_create("counters");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, gauges_exact_every_tier, 0, (int)tk_strategy_count());
    tcase_add_test(tc, classify_every_kind);
    tcase_add_test(tc, lock_contention_counted_in_its_phase);
    return tc;
}
