/* reference/tests/test_callcount.c — call counting's exact effects
 * (reference/callcount.c): the counting-memory gauge equals the live
 * infos' allocator chunks at every step, prestub completions count toward
 * DeleteCallCountingStubsAfter exactly as background ones do, a promotion
 * queued by the prestub path wakes an idle worker, and the threshold
 * handler's read of a version another thread published is ordered (run
 * under TSan by make test-tsan): SPEC `impl.counting-memory`,
 * `impl.worker-handoff`.
 * These tests look inside the runtime (rt_internal.h). */
#include "reftest.h"
#include "../rt_internal.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Named tbody like test_threaded.c's body: reference/tests/tsan.supp
 * suppresses a body's first read of its tk_code_ctx, published through
 * stub data that TSan cannot see. */
static int64_t tbody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + a0;
}

#define CC_METHODS 6

/* Type "CC" with CC_METHODS non-virtual methods M0.. (tag 1 + index). */
typedef struct cc_fx { tk_runtime *rt; tk_type *t; tk_method *m[CC_METHODS]; } cc_fx;

static void cc_init(cc_fx *x, const char *mode, const char *strategy, const char *const *extra)
{
    static char names[CC_METHODS][16];
    tk_method_def d[CC_METHODS];
    for (int i = 0; i < CC_METHODS; i++) {
        snprintf(names[i], sizeof names[i], "CC.M%d", i);
        d[i] = (tk_method_def){ names[i], tbody, (void *)(intptr_t)(1 + i), 0 };
    }
    char err[256];
    x->rt = rt_new_mode(mode, strategy, extra);
    tk_type_def td = { "CC", NULL, 0, 0, NULL, 0, NULL, CC_METHODS, d, 0, NULL };
    x->t = tk_type_define(x->rt, &td, err, sizeof err);
    ck_assert_msg(x->t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(x->rt, x->t), 0);
    for (int i = 0; i < CC_METHODS; i++) x->m[i] = tk_type_nonvirtual_method(x->t, (uint32_t)i);
}

/* `times` calls of method k, each checked. */
static void cc_call(cc_fx *x, int k, int times)
{
    for (int j = 0; j < times; j++)
        ck_assert_int_eq(call_slot(tk_method_slot(x->m[k]), NULL, j), (1 + k) * 1000 + j);
}

static tk_method_state cc_state(cc_fx *x, int k)
{
    tk_method_state st;
    tk_method_get_state(x->rt, x->m[k], &st);
    return st;
}

/* Live counting infos of every method's native versions; *chunks: the sum
 * of their allocator chunks as SPEC.md "Counters" defines
 * counting_info_bytes (each block's usable size plus the allocator's size
 * word; glibc may hand out a larger chunk than the smallest that fits, so
 * each info is measured, not assumed). */
static uint64_t live_infos(tk_runtime *rt, uint64_t *chunks)
{
    uint64_t n = 0, b = 0;
    tkr_lock(&rt->cv_lock, TKR_LK_CV);
    for (tk_method *m = rt->methods; m; m = m->next_all)
        for (tk_il_version *il = m->ils; il; il = il->next)
            for (tk_native_version *nv = il->versions; nv; nv = nv->next)
                if (nv->info) {
                    n++;
                    b += (uint64_t)malloc_usable_size(nv->info) + sizeof(size_t);
                }
    tkr_unlock(&rt->cv_lock, TKR_LK_CV);
    *chunks = b;
    return n;
}

/* `want` infos are live and the gauge is exactly their chunks. */
static void assert_infos(cc_fx *x, uint64_t want, const char *when)
{
    uint64_t chunks, live = live_infos(x->rt, &chunks);
    uint64_t bytes = (uint64_t)tk_counter_total(x->rt, "counting_info_bytes");
    ck_assert_msg(live == want, "%s: %llu live infos, want %llu", when, (unsigned long long)live,
                  (unsigned long long)want);
    ck_assert_msg(bytes == chunks && (want == 0 || bytes >= want * (sizeof(tk_cc_info) + sizeof(size_t))),
                  "%s: counting_info_bytes %llu, the %llu live infos' chunks are %llu B", when,
                  (unsigned long long)bytes, (unsigned long long)want, (unsigned long long)chunks);
}

/* ---- impl.counting-memory (SPEC "Counters": counting_info_bytes) --------- */

/* counting_info_bytes is the bytes of the live infos (their allocator
 * chunks) at every step: each version that begins counting adds one chunk,
 * a deletion pass takes away exactly the chunks of the completed versions'
 * infos, a type unload every chunk of its methods' infos.  Every tiered
 * strategy, TieredPGO (two counted tiers), both deletion settings. */
START_TEST(cc_info_bytes_exact)
{
    int s = ref_tiered(_i / 2);
    int del = _i % 2;
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "2", "TieredPGO", "1",
                         "DeleteCallCountingStubsAfter", del ? "1" : "0", NULL };
    cc_fx x;
    cc_init(&x, "deterministic", tk_strategy_names[s], ex);
    assert_infos(&x, 0, "loaded");
    cc_call(&x, 0, 1);                        /* M0 published at Tier0, counting */
    assert_infos(&x, 1, "M0 counting");
    cc_call(&x, 1, 1);
    cc_call(&x, 2, 1);
    assert_infos(&x, 3, "M0..M2 counting");
    cc_call(&x, 0, 2);                        /* M0's threshold */
    tk_drain(x.rt);                           /* Tier0 complete, Tier0-instrumented counting */
    ck_assert_int_eq(cc_state(&x, 0).tier, TK_TIER_0_INSTRUMENTED);
    ck_assert_int_eq(cc_state(&x, 0).counting, !del);   /* a pass stops all counting */
    /* no pass: M0's two infos and M1, M2's; a pass freed M0's completed
     * Tier0 info only (stopped infos keep their count) */
    assert_infos(&x, del ? 3 : 4, "M0 at Tier0-instrumented");
    cc_call(&x, 0, 3);                        /* (after a pass: the prestub call reinstalls) */
    tk_drain(x.rt);
    ck_assert_int_eq(cc_state(&x, 0).tier, TK_TIER_1);
    assert_infos(&x, del ? 2 : 4, "M0 at Tier1");
    for (int k = 1; k < 3; k++) cc_call(&x, k, 3);
    tk_drain(x.rt);
    for (int k = 1; k < 3; k++) cc_call(&x, k, 3);
    tk_drain(x.rt);
    for (int k = 0; k < 3; k++) ck_assert_int_eq(cc_state(&x, k).tier, TK_TIER_1);
    assert_infos(&x, del ? 0 : 6, "M0..M2 at Tier1");
    ck_assert_int_eq(tk_counter_total(x.rt, "methods_counted"), 3);
    ck_assert_int_eq(tk_type_unload(x.rt, x.t), 0);
    tk_drain(x.rt);
    ck_assert_int_eq(tk_counter_total(x.rt, "counting_info_bytes"), 0);
    tk_runtime_destroy(x.rt);
}
END_TEST

/* ---- impl.counting-memory: completions toward DeleteCallCountingStubsAfter
 * (inv.counting.prestub-call, inv.reclaim.delete-all) ------------------------ */

/* Deterministic, strategy s, threshold 2, no delay, no PGO (Tier0 is the
 * only counted tier), DeleteCallCountingStubsAfter = after. */
static void cc_init_deleting(cc_fx *x, int s, const char *after)
{
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "2", "TieredPGO", "0",
                         "DeleteCallCountingStubsAfter", after, NULL };
    cc_init(x, "deterministic", tk_strategy_names[s], ex);
}

/* M0 counts with one call left when a deletion pass (after M1's
 * completion) stops it; its next call reaches the prestub and completes
 * counting there, synchronously.  Returns with that call made. */
static void complete_in_prestub(cc_fx *x, int victim, int trigger)
{
    cc_call(x, victim, 2);                    /* publish, then 2 -> 1 through the stub */
    ck_assert_int_eq(cc_state(x, victim).counting, 1);
    cc_call(x, trigger, 3);                   /* publish, then the threshold */
    tk_drain(x->rt);                          /* completes, compiles, then the pass stops `victim` */
    ck_assert_int_eq(cc_state(x, victim).counting, 0);
    ck_assert_int_eq(cc_state(x, victim).tier, TK_TIER_0);
    int64_t hits = counter_phase(x->rt, "threshold_hits", 0);
    cc_call(x, victim, 1);                    /* prestub: 1 -> 0, completes here */
    ck_assert_int_eq(counter_phase(x->rt, "threshold_hits", 0), hits + 1);
    ck_assert_int_eq(tk_counter_total(x->rt, "promotions_tier0_to_tier1"), 2);
}

/* DeleteCallCountingStubsAfter = N counts every counting completion, the
 * prestub's synchronous ones as well as the background batch's: with N = 2
 * a pass runs after the second completion, not after the first, whichever
 * path completed them, and it frees exactly the completed versions'
 * infos (SPEC "Reference runtime": stub deletion; CoreCLR counts
 * completions in CallCountingManager::CompleteCallCounting and
 * SetCodeEntryPoint alike). */
START_TEST(cc_prestub_completion_counts_toward_deletion)
{
    cc_fx x;
    cc_init_deleting(&x, ref_tiered(_i), "2");
    /* Two background completions: the first pass (it stops M0 with 1 left). */
    cc_call(&x, 0, 2);
    cc_call(&x, 1, 3);
    tk_drain(x.rt);
    ck_assert_int_eq(counter_phase(x.rt, "stub_deletion_passes", 1), 0);   /* 1 completion of 2 */
    ck_assert_int_eq(cc_state(&x, 0).counting, 1);
    cc_call(&x, 2, 3);
    tk_drain(x.rt);
    ck_assert_int_eq(counter_phase(x.rt, "stub_deletion_passes", 1), 1);
    ck_assert_int_eq(cc_state(&x, 0).counting, 0);                        /* stopped by the pass */
    assert_infos(&x, 1, "after the first pass (M0's stopped info)");
    /* M0 completes in the prestub: 1 completion since the pass, no pass. */
    int64_t hits = counter_phase(x.rt, "threshold_hits", 0);
    cc_call(&x, 0, 1);
    ck_assert_int_eq(counter_phase(x.rt, "threshold_hits", 0), hits + 1);
    ck_assert_int_eq(cc_state(&x, 0).counting, 0);
    tk_drain(x.rt);
    ck_assert_int_eq(cc_state(&x, 0).tier, TK_TIER_1);
    ck_assert_uint_eq(x.rt->completed_since_delete, 1);
    assert_infos(&x, 1, "one completion after the pass");
    /* A background completion is the second: the pass frees both infos. */
    cc_call(&x, 3, 3);
    tk_drain(x.rt);
    ck_assert_uint_eq(x.rt->completed_since_delete, 0);
    ck_assert_int_eq(counter_phase(x.rt, "stub_deletion_passes", 1), 2);
    assert_infos(&x, 0, "after the second pass");
    ck_assert_int_eq(counter_phase(x.rt, "calls_counted", 0), 4 * 2);
    tk_runtime_destroy(x.rt);
}
END_TEST

/* The same with N = 1 and the prestub completion alone after the pass:
 * the next background step's pass frees its info (no stub to free: the
 * pass that stopped it freed its stub), and the version is done. */
START_TEST(cc_prestub_completion_alone_triggers_pass)
{
    cc_fx x;
    cc_init_deleting(&x, ref_tiered(_i), "1");
    complete_in_prestub(&x, 0, 1);
    assert_infos(&x, 1, "M0 completed in the prestub");
    tk_drain(x.rt);
    ck_assert_int_eq(cc_state(&x, 0).tier, TK_TIER_1);
    assert_infos(&x, 0, "after the pass the prestub completion triggered");
    tk_native_version *t0 = NULL;
    for (tk_native_version *nv = x.m[0]->ils->versions; nv; nv = nv->next)
        if (nv->tier == TK_TIER_0) t0 = nv;
    ck_assert_ptr_nonnull(t0);
    ck_assert(t0->counting_done);
    ck_assert_int_eq(counter_phase(x.rt, "stubs_freed_callcount", 1),
                     counter_phase(x.rt, "stubs_allocated_callcount", 1));
    tk_runtime_destroy(x.rt);
}
END_TEST

/* impl.counting-memory: a deletion pass waits for a safe point only when it
 * frees something (inv.reclaim.wait-safepoint: the wait is for the stubs
 * and infos it frees; synchronize_rcu waits for every registered thread).
 * Type G's method completes in a drain; before the batch compiles its
 * promotion G unloads (the item hook, as another thread could): the
 * unload takes G's stubs and infos with it, so the pass that the
 * completion triggers finds nothing: no safepoint_sync of its own, only
 * the unload's, and the completion count starts again from 0. */
typedef struct sp_fx { tk_runtime *rt; tk_type *g; int unloaded, sync_pass, sync_unload; } sp_fx;

static void sp_hook(tk_runtime *rt, uint32_t index, void *user)
{
    sp_fx *p = user;
    if (index || p->unloaded) return;
    p->unloaded = 1;
    ck_assert_int_eq(tk_type_unload(rt, p->g), 0);
}

static void sp_sink(void *user, const tk_event *ev)
{
    sp_fx *p = user;
    if (ev->kind != TK_EV_SAFEPOINT_SYNC) return;
    if (ev->reason && !strcmp(ev->reason, "type_unload")) p->sync_unload++;
    else p->sync_pass++;
}

START_TEST(cc_pass_with_nothing_to_free_waits_for_nothing)
{
    int s = ref_tiered(_i);
    for (int all = 0; all < 2; all++) {
        const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "2", "TieredPGO", "0",
                             "DeleteCallCountingStubsAfter", "1", "CallCountingStubDeletion",
                             all ? "all" : "inactive", NULL };
        cc_fx x;
        cc_init(&x, "deterministic", tk_strategy_names[s], ex);
        cc_call(&x, 0, 3);                    /* CC.M0 at Tier1 first: a pass that frees */
        sp_fx p = { x.rt, NULL, 0, 0, 0 };
        tk_set_event_sink(x.rt, sp_sink, &p);
        tk_drain(x.rt);
        ck_assert_int_eq(cc_state(&x, 0).tier, TK_TIER_1);
        ck_assert_int_eq(p.sync_pass, 1);
        ck_assert_int_eq(counter_phase(x.rt, "stub_deletion_passes", 1), 1);
        char err[256];
        tk_method_def gd[1] = { { "G.M0", tbody, (void *)9, 0 } };
        tk_type_def td = { "G", NULL, 0, 0, NULL, 0, NULL, 1, gd, 0, NULL };
        p.g = tk_type_define(x.rt, &td, err, sizeof err);
        ck_assert_msg(p.g != NULL, "%s", err);
        ck_assert_int_eq(tk_type_load(x.rt, p.g), 0);
        void **gs = tk_method_slot(tk_type_nonvirtual_method(p.g, 0));
        for (int j = 0; j < 3; j++) ck_assert_int_eq(call_slot(gs, NULL, j), 9000 + j);   /* threshold */
        ck_assert_uint_eq(x.rt->n_pending, 1);
        x.rt->dbg_item_hook_user = &p;
        __atomic_store_n(&x.rt->dbg_item_hook, sp_hook, __ATOMIC_RELEASE);
        tk_drain(x.rt);
        __atomic_store_n(&x.rt->dbg_item_hook, NULL, __ATOMIC_RELEASE);
        tk_set_event_sink(x.rt, NULL, NULL);
        ck_assert_int_eq(p.unloaded, 1);
        ck_assert_int_eq(p.sync_unload, 1);
        ck_assert_msg(p.sync_pass == 1, "%s, CallCountingStubDeletion=%s: a pass with nothing to free waited for "
                      "a safe point (%d deletion safepoint_sync events, 1 expected)", tk_strategy_names[s],
                      all ? "all" : "inactive", p.sync_pass);
        ck_assert_int_eq(counter_phase(x.rt, "stub_deletion_passes", 1), 1);
        ck_assert_uint_eq(x.rt->completed_since_delete, 0);
        ck_assert_int_eq(tk_counter_total(x.rt, "counting_info_bytes"), 0);
        tk_runtime_destroy(x.rt);
    }
}
END_TEST

/* ---- impl.worker-handoff: threaded hand-offs, mutator <-> worker ------------ */

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Waits (offline, generous bound, no wall-clock assertion) for method k to
 * reach `tier`, without tk_drain (which would create or wake a worker
 * itself). */
static bool wait_tier(cc_fx *x, int k, int32_t tier)
{
    tk_thread_offline(x->rt);
    for (int i = 0; i < 60000 && cc_state(x, k).tier != tier; i++) sleep_ms(1);
    tk_thread_online(x->rt);
    return cc_state(x, k).tier == tier;
}

/* impl.worker-handoff (SPEC "Reference runtime", Modes): the worker is
 * woken when a compile is queued, whoever queues it.  The prestub's synchronous completion queues
 * the promotion itself (inv.counting.prestub-call); the worker is idle
 * then, waiting out an hour's idle timeout, so only that wake-up gets the
 * promotion compiled. */
START_TEST(cc_prestub_promotion_wakes_worker)
{
    int s = ref_tiered(_i);
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "2", "TieredPGO", "0",
                         "DeleteCallCountingStubsAfter", "1", "BackgroundWorkerTimeoutMs", "3600000", NULL };
    cc_fx x;
    cc_init(&x, "threaded", tk_strategy_names[s], ex);
    tk_thread_register(x.rt);
    uint64_t v0 = atomic_load(&tkr_lock_order_violations);
    cc_call(&x, 0, 2);                        /* M0: 1 call left */
    cc_call(&x, 1, 3);                        /* M1's threshold: the worker starts */
    tk_drain(x.rt);                           /* M1 completed and compiled, the pass stopped M0; idle */
    ck_assert_int_eq(cc_state(&x, 1).tier, TK_TIER_1);
    ck_assert_int_eq(cc_state(&x, 0).counting, 0);
    ck_assert_uint_eq(atomic_load(&x.rt->dbg_worker_starts), 1);
    cc_call(&x, 0, 1);                        /* prestub: completes, queues M0's Tier1 */
    ck_assert_msg(wait_tier(&x, 0, TK_TIER_1), "%s: the promotion the prestub queued was never compiled "
                  "(the idle worker was not woken)", tk_strategy_names[s]);
    ck_assert_uint_eq(atomic_load(&x.rt->dbg_worker_starts), 1);
    ck_assert_uint_eq(atomic_load(&x.rt->dbg_worker_exits), 0);
    cc_call(&x, 0, 3);
    ck_assert_uint_eq(atomic_load(&tkr_lock_order_violations), v0);
    tk_thread_unregister(x.rt);
    tk_runtime_destroy(x.rt);
}
END_TEST

/* The threshold handler runs on the mutator thread and derives the info,
 * then its version, from the cell of a stub another thread installed: the
 * worker creates the Tier0-instrumented version and installs its counting
 * stub, and the mutator reaches the stub through a precode (machine code
 * TSan does not see), without taking any lock in between.  The handler's
 * acquire of info->nv, paired with the installer's release, is then the
 * only order between the worker's writes of the version and the handler's
 * reads of it (`impl.worker-handoff`; make test-tsan turns a missing order
 * into a reported race).  Elsewhere the test checks every
 * result and the final tier. */
typedef struct hand_off { cc_fx *x; _Atomic int stop; _Atomic long wrong, calls; } hand_off;

static void *hand_off_mutator(void *arg)
{
    hand_off *h = arg;
    void **slot = tk_method_slot(h->x->m[0]);
    for (long j = 0; !atomic_load_explicit(&h->stop, memory_order_relaxed); j++) {
        if (call_slot(slot, NULL, j & 1023) != 1000 + (j & 1023))
            atomic_fetch_add_explicit(&h->wrong, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&h->calls, 1, memory_order_relaxed);
        if ((j & 15) == 15) sleep_ms(1);      /* let the worker run; no lock, no order */
    }
    return NULL;
}

START_TEST(cc_threshold_handler_reads_published_version)
{
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "30", "TieredPGO", "1",
                         "BackgroundWorkerTimeoutMs", "3600000", NULL };
    cc_fx x;
    cc_init(&x, "threaded", "lazy", ex);
    hand_off h = { .x = &x };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hand_off_mutator, &h), 0);
    bool done = false;
    for (int i = 0; i < 120000 && !done; i++) {
        sleep_ms(1);
        done = cc_state(&x, 0).tier == TK_TIER_1;
    }
    atomic_store_explicit(&h.stop, 1, memory_order_relaxed);
    pthread_join(th, NULL);
    ck_assert_msg(done, "M0 did not reach Tier1 after %ld calls", atomic_load(&h.calls));
    ck_assert_int_eq(atomic_load(&h.wrong), 0);
    /* Two counted tiers, each completed once (a slow worker may let a
     * cell wrap and hit its threshold again: at least two hits). */
    ck_assert_int_ge(counter_phase(x.rt, "threshold_hits", 0), 2);
    ck_assert_int_eq(tk_counter_total(x.rt, "promotions_tier0_to_tier0instr"), 1);
    ck_assert_int_eq(tk_counter_total(x.rt, "promotions_tier0instr_to_tier1"), 1);
    tk_runtime_destroy(x.rt);
}
END_TEST

TCase *tcase_callcount(void)
{
    TCase *tc = tcase_create("callcount");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, cc_info_bytes_exact, 0, 2 * ref_tiered_count());
    tcase_add_loop_test(tc, cc_prestub_completion_counts_toward_deletion, 0, ref_tiered_count());
    tcase_add_loop_test(tc, cc_prestub_completion_alone_triggers_pass, 0, ref_tiered_count());
    tcase_add_loop_test(tc, cc_pass_with_nothing_to_free_waits_for_nothing, 0, ref_tiered_count());
    tcase_add_loop_test(tc, cc_prestub_promotion_wakes_worker, 0, ref_tiered_count());
    tcase_add_test(tc, cc_threshold_handler_reads_published_version);
    return tc;
}
