/* reference/tests/test_tiering.c — the background work's exact effects
 * (reference/tiering.c): an optimize batch abandoned for a tiering delay
 * goes back to the queue in front of the promotions queued meanwhile,
 * none lost; the batch's time slices follow CoreCLR's DoBackgroundWork
 * rule exactly (a model of the SPEC's rule run beside the runtime, on the
 * manual clock); runtime destroy cancels a worker creation that was
 * claimed but not taken up: SPEC `impl.background-batch`,
 * `impl.worker-handoff`.
 * These tests look inside the runtime (rt_internal.h). */
#include "reftest.h"
#include "../rt_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t tbody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + a0;
}

#define TG_MAX 48

/* A loaded type NAME with n non-virtual methods NAME.M<i>, tag base + i. */
static tk_type *tg_type(tk_runtime *rt, const char *name, int n, int base, tk_method **out)
{
    static char names[2][TG_MAX][24];
    static int which;
    char (*nm)[24] = names[which++ & 1];
    tk_method_def d[TG_MAX];
    ck_assert_int_le(n, TG_MAX);
    for (int i = 0; i < n; i++) {
        snprintf(nm[i], sizeof nm[i], "%s.M%d", name, i);
        d[i] = (tk_method_def){ nm[i], tbody, (void *)(intptr_t)(base + i), 0 };
    }
    char err[256];
    tk_type_def td = { name, NULL, 0, 0, NULL, 0, NULL, (uint32_t)n, d, 0, NULL };
    tk_type *t = tk_type_define(rt, &td, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(rt, t), 0);
    for (int i = 0; i < n; i++) out[i] = tk_type_nonvirtual_method(t, (uint32_t)i);
    return t;
}

static void tg_call(tk_method *m, int64_t tag, int times)
{
    for (int j = 0; j < times; j++) ck_assert_int_eq(call_slot(tk_method_slot(m), NULL, j), tag * 1000 + j);
}

static tk_method_state tg_state(tk_runtime *rt, tk_method *m)
{
    tk_method_state st;
    tk_method_get_state(rt, m, &st);
    return st;
}

/* ---- an abandoned batch and the promotions queued meanwhile -------------- */

/* Methods: X, Y (stopped with one call left, completed in the prestub from
 * inside the batch), Q (its completion triggers the pass that stops them),
 * P0..P2 (the batch). */
enum { RQ_X, RQ_Y, RQ_Q, RQ_P0, RQ_N = RQ_P0 + 3 };

typedef struct rq_fx {
    tk_runtime *rt;
    tk_method *m[RQ_N], *fresh[1];
    int fired;
    tk_method *published[16];   /* Tier1 publishes, in order */
    int n_published;
} rq_fx;

static void rq_hook(tk_runtime *rt, uint32_t index, void *user)
{
    (void)rt;
    rq_fx *r = user;
    if (index != 1 || r->fired) return;
    r->fired = 1;
    tg_call(r->m[RQ_X], 100 + RQ_X, 1);      /* prestub: completes, queues X's Tier1 */
    tg_call(r->m[RQ_Y], 100 + RQ_Y, 1);      /* and Y's, behind it */
    ck_assert_uint_eq(rt->n_opt, 2);
    tg_call(r->fresh[0], 200, 1);            /* a first call: a new tiering delay */
}

static void rq_sink(void *user, const tk_event *ev)
{
    rq_fx *r = user;
    if (ev->kind == TK_EV_VERSION_PUBLISH && ev->tier == TK_TIER_1 && r->n_published < 16)
        r->published[r->n_published++] = ev->method;
}

/* impl.background-batch (SPEC "Reference runtime": background work gives
 * way to the tiering delay): the unprocessed tail of an abandoned optimize batch goes back to
 * the FRONT of the queue, ahead of the promotions queued while the batch
 * ran, and none of either is lost.  Here two promotions are queued from
 * inside the batch (prestub completions, inv.counting.prestub-call) right
 * before a delay begins: the batch P0, P1, P2 stops before P1, the queue
 * becomes P1, P2, X, Y, and the same drain compiles them in that order. */
START_TEST(tier_abandoned_batch_requeued_before_new_promotions)
{
    int s = ref_tiered(_i);
    const char *ex[] = { "CallCountingDelayMs", "100", "CallCountThreshold", "2", "TieredPGO", "0",
                         "DeleteCallCountingStubsAfter", "1", NULL };
    rq_fx *r = calloc(1, sizeof *r);
    r->rt = rt_new(tk_strategy_names[s], ex);
    tg_type(r->rt, "RQ", RQ_N, 100, r->m);
    tg_type(r->rt, "RF", 1, 200, r->fresh);
    for (int k = 0; k < RQ_N; k++) tg_call(r->m[k], 100 + k, 1);   /* published, in one delay */
    advance_and_drain(r->rt, 101);                                  /* all counting */
    tg_call(r->m[RQ_X], 100 + RQ_X, 1);                             /* 2 -> 1 */
    tg_call(r->m[RQ_Y], 100 + RQ_Y, 1);
    tg_call(r->m[RQ_Q], 100 + RQ_Q, 2);                             /* Q's threshold */
    tk_drain(r->rt);                                                /* Q at Tier1; the pass stops all */
    ck_assert_int_eq(tg_state(r->rt, r->m[RQ_Q]).tier, TK_TIER_1);
    for (int k = 0; k < RQ_N; k++) ck_assert_int_eq(tg_state(r->rt, r->m[k]).counting, 0);
    for (int k = RQ_P0; k < RQ_N; k++) tg_call(r->m[k], 100 + k, 2);   /* prestub 2 -> 1, stub 1 -> 0 */
    ck_assert_uint_eq(r->rt->n_pending, 3);
    tk_set_event_sink(r->rt, rq_sink, r);
    r->rt->dbg_item_hook_user = r;
    __atomic_store_n(&r->rt->dbg_item_hook, rq_hook, __ATOMIC_RELEASE);
    tk_drain(r->rt);
    __atomic_store_n(&r->rt->dbg_item_hook, NULL, __ATOMIC_RELEASE);
    tk_set_event_sink(r->rt, NULL, NULL);
    ck_assert_int_eq(r->fired, 1);
    ck_assert_uint_eq(atomic_load(&r->rt->dbg_batches_abandoned), 1);
    ck_assert_uint_eq(r->rt->n_opt, 0);
    tk_method *want[] = { r->m[RQ_P0], r->m[RQ_P0 + 1], r->m[RQ_P0 + 2], r->m[RQ_X], r->m[RQ_Y] };
    ck_assert_int_eq(r->n_published, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(r->published[i] == want[i], "%s: Tier1 publish %d is %s, want %s", tk_strategy_names[s], i,
                      tk_method_name(r->published[i]), tk_method_name(want[i]));
    for (int k = 0; k < RQ_N; k++) ck_assert_int_eq(tg_state(r->rt, r->m[k]).tier, TK_TIER_1);
    advance_and_drain(r->rt, 101);                                  /* the delay ends */
    ck_assert_int_eq(tg_state(r->rt, r->fresh[0]).counting, 1);
    tk_runtime_destroy(r->rt);
    free(r);
}
END_TEST

/* SPEC "Reference runtime" (Tiering delay), inv.tiering.delay-restart: a
 * window opened (or restarted) at t is CallCountingDelayMs long, so it is
 * over at exactly t + CallCountingDelayMs, not a millisecond earlier or
 * later (manual clock, deterministic drain after every step). */
START_TEST(tier_delay_window_is_exactly_the_delay)
{
    int s = ref_tiered(_i);
    const char *ex[] = { "CallCountingDelayMs", "100", "CallCountThreshold", "2", "TieredPGO", "0", NULL };
    tk_runtime *rt = rt_new(tk_strategy_names[s], ex);
    tk_method *m[2];
    tg_type(rt, "DW", 2, 1, m);
    tg_call(m[0], 1, 1);                          /* t=0: opens the window */
    advance_and_drain(rt, 99);                    /* t=99 */
    ck_assert_int_eq(tg_state(rt, m[0]).counting, 0);
    ck_assert(rt->delay_active);
    advance_and_drain(rt, 1);                     /* t=100: over */
    ck_assert_msg(tg_state(rt, m[0]).counting == 1, "%s: not counting at the end of its window", tk_strategy_names[s]);
    ck_assert(!rt->delay_active);
    tg_call(m[1], 2, 1);                          /* t=100: a new window */
    advance_and_drain(rt, 40);                    /* t=140 */
    tg_call(m[0], 1, 1);                          /* counted: 2 -> 1 (no restart: not a first call) */
    tk_method *m2[1];
    tg_type(rt, "DW2", 1, 3, m2);
    tg_call(m2[0], 3, 1);                         /* t=140: a first call restarts it, until t=240 */
    advance_and_drain(rt, 99);                    /* t=239 */
    ck_assert_int_eq(tg_state(rt, m[1]).counting, 0);
    ck_assert_int_eq(tg_state(rt, m2[0]).counting, 0);
    advance_and_drain(rt, 1);                     /* t=240 */
    ck_assert_int_eq(tg_state(rt, m[1]).counting, 1);
    ck_assert_int_eq(tg_state(rt, m2[0]).counting, 1);
    tk_runtime_destroy(rt);
}
END_TEST

/* ---- time slices: the runtime against a model of the rule ------------------ */

/* impl.background-batch (SPEC "CoreCLR facts": the worker's time slices,
 * TieredCompilationManager::DoBackgroundWork): before each item but the
 * first, once the batch has run for the current slice the worker yields
 * and the next slice is max(yield time / 4, slice * 3 / 4) within
 * [min, 50 ms], min = the processor count in ms within [1, 50]; a gap of
 * 50 ms or more since the previous item is discounted instead (no
 * yield).  The model below is that rule; the runtime's slice and yield
 * count before every item must equal it, for clock steps that cover every
 * branch and boundary (gaps of 49, 50, 51 ms, items of 0 ms, yields
 * shorter and longer than four slices). */
typedef struct sl_fx {
    uint32_t n;
    const uint32_t *step, *ystep;    /* clock advance per item / per yield */
    uint32_t ny;
    uint32_t slice_at[TG_MAX];
    uint64_t yields_at[TG_MAX];
    uint32_t yields_seen;
} sl_fx;

static void sl_item(tk_runtime *rt, uint32_t index, void *user)
{
    sl_fx *x = user;
    x->slice_at[index] = rt->work_slice_ms;
    x->yields_at[index] = atomic_load(&rt->dbg_worker_yields);
    tk_clock_advance(rt, x->step[index]);
}

static void sl_yield(tk_runtime *rt, void *user)
{
    sl_fx *x = user;
    tk_clock_advance(rt, x->ystep[x->yields_seen++ % x->ny]);
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static void sl_check(uint32_t procs, const uint32_t *step, uint32_t n, const uint32_t *ystep, uint32_t ny)
{
    char pc[16];
    snprintf(pc, sizeof pc, "%u", procs);
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "1", "TieredPGO", "0",
                         "PROCESSOR_COUNT", pc, NULL };
    tk_runtime *rt = rt_new("lazy", ex);
    tk_method *m[TG_MAX];
    tg_type(rt, "SL", (int)n, 1, m);
    for (uint32_t i = 0; i < n; i++) tg_call(m[i], 1 + i, 2);   /* published + counting, threshold */
    ck_assert_uint_eq(rt->n_pending, n);
    sl_fx x = { n, step, ystep, ny, { 0 }, { 0 }, 0 };
    rt->dbg_item_hook_user = &x;
    __atomic_store_n(&rt->dbg_yield_hook, sl_yield, __ATOMIC_RELEASE);
    __atomic_store_n(&rt->dbg_item_hook, sl_item, __ATOMIC_RELEASE);
    tk_drain(rt);   /* one batch of n compiles */
    __atomic_store_n(&rt->dbg_item_hook, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&rt->dbg_yield_hook, NULL, __ATOMIC_RELEASE);
    for (uint32_t i = 0; i < n; i++) ck_assert_int_eq(tg_state(rt, m[i]).tier, TK_TIER_1);
    /* the model */
    uint64_t lo = clamp_u64(procs, 1, 50), slice = lo, clock = 0, start = 0, prev = 0, yields = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i) {
            uint64_t now = clock;
            if (now - start < slice) {
                prev = now;
            } else if (now - prev >= 50) {
                start += now - prev;
                prev = now;
            } else {
                clock += ystep[yields++ % ny];
                uint64_t measured = (clock - now) / 4, decayed = slice * 3 / 4;
                slice = clamp_u64(measured > decayed ? measured : decayed, lo, 50);
                start = prev = clock;
            }
        }
        ck_assert_msg(x.slice_at[i] == slice && x.yields_at[i] == yields,
                      "PROCESSOR_COUNT=%u, item %u: slice %u ms after %llu yields, the rule gives %llu ms after %llu",
                      procs, i, x.slice_at[i], (unsigned long long)x.yields_at[i], (unsigned long long)slice,
                      (unsigned long long)yields);
        clock += step[i];
    }
    ck_assert_uint_eq(x.yields_seen, yields);
    ck_assert_uint_eq(atomic_load(&rt->dbg_worker_yields), yields);
    tk_runtime_destroy(rt);
}

START_TEST(tier_work_slices_follow_the_rule)
{
    static const uint32_t kinds[] = { 0, 0, 1, 1, 1, 2, 3, 5, 49, 50, 51, 120 };
    static const uint32_t ykinds[] = { 0, 1, 3, 7, 40, 81, 200, 401 };
    static const uint32_t procs[] = { 0, 1, 2, 7, 49, 50, 51, 200 };
    /* hand-made: slices growing and decaying with no gap, then gaps at each boundary */
    static const uint32_t steady[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                       1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const uint32_t gaps[] = { 1, 1, 49, 1, 50, 1, 1, 51, 0, 0, 2, 50, 1, 1, 1, 49, 1, 1, 1, 1,
                                     3, 1, 1, 1, 60, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const uint32_t long_yields[] = { 200, 0, 401, 7, 81 };
    for (size_t p = 0; p < sizeof procs / sizeof *procs; p++) {
        sl_check(procs[p], steady, 40, long_yields, 5);
        sl_check(procs[p], gaps, 40, ykinds, 8);
        uint32_t step[TG_MAX], ystep[16];
        uint32_t v = 2654435761u * (uint32_t)(p + 1);
        for (int i = 0; i < TG_MAX; i++) {
            v = v * 1103515245u + 12345u;
            step[i] = kinds[(v >> 16) % (sizeof kinds / sizeof *kinds)];
        }
        for (int i = 0; i < 16; i++) {
            v = v * 1103515245u + 12345u;
            ystep[i] = ykinds[(v >> 16) % (sizeof ykinds / sizeof *ykinds)];
        }
        sl_check(procs[p], step, TG_MAX, ystep, 16);
    }
}
END_TEST

/* impl.background-batch (SPEC "CoreCLR facts": BackgroundWorkerStart sets
 * the slice to its minimum): each new worker thread starts at the minimum
 * slice, whatever the previous worker's batches grew it to.  Threaded mode,
 * PROCESSOR_COUNT 1: the first worker's batch sleeps 2 ms per item and
 * 100 ms per yield, which grows its slice to 25 ms; after it exits (20 ms
 * idle timeout) a second worker's first item must see the 1 ms minimum.
 * Only minimum durations are relied on (a sleep lasts at least as long as
 * asked); if a stalled host kept the first slice from growing, the round
 * is repeated (bounded), the check itself never depends on timing. */
typedef struct nw_fx { _Atomic uint32_t first_slice, max_slice; _Atomic int items; } nw_fx;

static void nw_item(tk_runtime *rt, uint32_t index, void *user)
{
    nw_fx *x = user;
    uint32_t sl = rt->work_slice_ms;   /* the worker's own field, read on the worker */
    if (index == 0 && atomic_fetch_add(&x->items, 1) == 0) atomic_store(&x->first_slice, sl);
    if (sl > atomic_load(&x->max_slice)) atomic_store(&x->max_slice, sl);
    struct timespec ts = { 0, 2000000 };
    nanosleep(&ts, NULL);
}

static void nw_yield(tk_runtime *rt, void *user)
{
    (void)rt; (void)user;
    struct timespec ts = { 0, 100000000 };
    nanosleep(&ts, NULL);
}

static bool wait_exits(tk_runtime *rt, uint64_t want)
{
    struct timespec ms = { 0, 1000000 };
    for (int i = 0; i < 60000 && atomic_load(&rt->dbg_worker_exits) < want; i++) nanosleep(&ms, NULL);
    return atomic_load(&rt->dbg_worker_exits) >= want;
}

START_TEST(tier_new_worker_starts_at_min_slice)
{
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "1", "TieredPGO", "0",
                         "PROCESSOR_COUNT", "1", "BackgroundWorkerTimeoutMs", "20", NULL };
    tk_runtime *rt = rt_new_mode("threaded", "lazy", ex);
    enum { ROUNDS = 4, PER = 4 };
    tk_method *m[ROUNDS * PER];
    tg_type(rt, "NW", ROUNDS * PER, 1, m);
    nw_fx x[ROUNDS];
    memset(x, 0, sizeof x);
    __atomic_store_n(&rt->dbg_yield_hook, nw_yield, __ATOMIC_RELEASE);
    __atomic_store_n(&rt->dbg_item_hook, nw_item, __ATOMIC_RELEASE);
    int grown = 0, checked = 0;
    for (int r = 0; r < ROUNDS && checked < 2; r++) {
        ck_assert(wait_exits(rt, atomic_load(&rt->dbg_worker_starts)));   /* no worker left */
        uint64_t starts = atomic_load(&rt->dbg_worker_starts);
        rt->dbg_item_hook_user = &x[r];   /* no worker runs: nothing reads it meanwhile */
        for (int i = 0; i < PER; i++) tg_call(m[r * PER + i], 1 + r * PER + i, 2);   /* PER thresholds */
        tk_drain(rt);
        for (int i = 0; i < PER; i++) ck_assert_int_eq(tg_state(rt, m[r * PER + i]).tier, TK_TIER_1);
        ck_assert(wait_exits(rt, starts + 1));
        if (atomic_load(&rt->dbg_worker_starts) != starts + 1 || atomic_load(&x[r].items) == 0) continue;
        if (grown) {
            ck_assert_msg(atomic_load(&x[r].first_slice) == 1, "a new worker began with a %u ms slice, its "
                          "predecessor's; the minimum is 1 ms", atomic_load(&x[r].first_slice));
            checked++;
        }
        grown |= atomic_load(&x[r].max_slice) > 1;
    }
    __atomic_store_n(&rt->dbg_item_hook, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&rt->dbg_yield_hook, NULL, __ATOMIC_RELEASE);
    tk_runtime_destroy(rt);
}
END_TEST

/* impl.worker-handoff, inv.slot.final-direct: a slot write releases the
 * code it stores, and a caller's acquire of the slot is what orders the
 * worker's writes of the version (its tk_code_ctx) before the body's reads.
 * Under `lazy` (TieredPGO off) a mutator reaches the Tier1 version only
 * through a slot the final publish wrote or through the prestub (locks),
 * never through a precode, so a body that reads its context is race-free
 * exactly when slot writes release: this body is not in tsan.supp, and
 * make test-tsan reports the read if the store is relaxed. */
static int64_t slot_body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + ctx->tier * 100 + a0 % 100;
}

typedef struct sp_run { void **slot; _Atomic int stop; _Atomic long wrong, calls, at_t1; } sp_run;

static void *slot_mutator(void *arg)
{
    sp_run *r = arg;
    struct timespec ms = { 0, 1000000 };
    for (long j = 0; !atomic_load_explicit(&r->stop, memory_order_relaxed); j++) {
        tk_entry_fn f = (tk_entry_fn)__atomic_load_n(r->slot, __ATOMIC_ACQUIRE);
        int64_t v = f(NULL, j % 100, 0, 0, 0);
        int64_t tier = (v / 100) % 10;
        if (v / 1000 != 7 || (tier != TK_TIER_0 && tier != TK_TIER_1) || v % 100 != j % 100)
            atomic_fetch_add_explicit(&r->wrong, 1, memory_order_relaxed);
        if (tier == TK_TIER_1) atomic_fetch_add_explicit(&r->at_t1, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->calls, 1, memory_order_relaxed);
        if ((j & 15) == 15) nanosleep(&ms, NULL);   /* no lock, no order */
    }
    return NULL;
}

START_TEST(tier_final_slot_publishes_version)
{
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "30", "TieredPGO", "0",
                         "BackgroundWorkerTimeoutMs", "3600000", NULL };
    tk_runtime *rt = rt_new_mode("threaded", "lazy", ex);
    char err[256];
    tk_method_def d[1] = { { "SP.M0", slot_body, (void *)7, 0 } };
    tk_type_def td = { "SP", NULL, 0, 0, NULL, 0, NULL, 1, d, 0, NULL };
    tk_type *t = tk_type_define(rt, &td, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(rt, t), 0);
    tk_method *m = tk_type_nonvirtual_method(t, 0);
    sp_run r = { .slot = tk_method_slot(m) };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, slot_mutator, &r), 0);
    struct timespec ms = { 0, 1000000 };
    bool t1 = false;
    for (int i = 0; i < 120000 && !t1; i++) {
        nanosleep(&ms, NULL);
        t1 = tg_state(rt, m).tier == TK_TIER_1;
    }
    for (int i = 0; i < 120000 && t1 && atomic_load_explicit(&r.at_t1, memory_order_relaxed) < 200; i++)
        nanosleep(&ms, NULL);
    atomic_store_explicit(&r.stop, 1, memory_order_relaxed);
    pthread_join(th, NULL);
    ck_assert_msg(t1, "SP.M0 did not reach Tier1 after %ld calls", atomic_load(&r.calls));
    ck_assert_int_ge(atomic_load(&r.at_t1), 200);
    ck_assert_int_eq(atomic_load(&r.wrong), 0);
    tk_runtime_destroy(rt);
}
END_TEST

/* ---- runtime destroy and a claimed worker creation ------------------------- */

typedef struct destroyer { tk_runtime *rt; _Atomic int done; } destroyer;

static void *destroy_thread(void *arg)
{
    destroyer *d = arg;
    tk_runtime_destroy(d->rt);
    atomic_store(&d->done, 1);
    return NULL;
}

/* impl.worker-handoff (SPEC "Reference runtime", Modes: runtime destroy
 * joins whichever worker exists; `impl.lock-order`: the claimant creates the worker only after
 * dropping every lock): a producer that queued work and claimed the
 * worker's creation may not have created it yet when the runtime is
 * destroyed.  Destroy cancels that claim and returns, without waiting for
 * a worker that will never run and without creating one. */
START_TEST(tier_destroy_cancels_claimed_worker)
{
    const char *ex[] = { "BackgroundWorkerTimeoutMs", "3600000", NULL };
    tk_runtime *rt = rt_new_mode("threaded", "lazy", ex);
    tkr_lock(&rt->tier_lock, TKR_LK_TIER);
    tkr_work_queued_locked(rt);              /* a producer's claim, its creation still to come */
    bool claimed = rt->worker_running && atomic_load(&rt->worker_start_pending);
    tkr_unlock(&rt->tier_lock, TKR_LK_TIER);
    ck_assert(claimed);
    destroyer d = { rt, 0 };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, destroy_thread, &d), 0);
    struct timespec ms = { 0, 1000000 };
    for (int i = 0; i < 60000 && !atomic_load(&d.done); i++) nanosleep(&ms, NULL);
    ck_assert_msg(atomic_load(&d.done), "tk_runtime_destroy waits for a worker whose creation was claimed "
                  "but never made");
    pthread_join(th, NULL);
}
END_TEST

TCase *tcase_tiering(void)
{
    TCase *tc = tcase_create("tiering");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, tier_abandoned_batch_requeued_before_new_promotions, 0, ref_tiered_count());
    tcase_add_loop_test(tc, tier_delay_window_is_exactly_the_delay, 0, ref_tiered_count());
    tcase_add_test(tc, tier_work_slices_follow_the_rule);
    tcase_add_test(tc, tier_new_worker_starts_at_min_slice);
    tcase_add_test(tc, tier_final_slot_publishes_version);
    tcase_add_test(tc, tier_destroy_cancels_claimed_worker);
    return tc;
}
