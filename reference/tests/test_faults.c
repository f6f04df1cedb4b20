/* reference/tests/test_faults.c — the reference runtime under injected
 * failures, and its bookkeeping checked whole (SPEC `impl.fault-results`,
 * `impl.no-leak`, `impl.lock-order`), through the test-only link seam of
 * the arch tests (arch/tests/fault_seam.h: tk-ref-tests is linked with
 * REF_TEST_LDLIBS, reference/build.mk).
 *
 * Each fault test fails the 1st, 2nd, ... call of the injected kinds that
 * an entry point makes, in turn, until the entry point no longer reaches
 * the injected call and succeeds.  At each failure it requires the
 * documented result (SPEC `impl.fault-results`), that nothing the failed
 * call allocated, mapped or opened is left, that no mutex is held or was
 * released by a thread that did not hold it, and that the same runtime (or
 * a new one) then does everything: calls, tier-up, unload, destroy.
 * Deterministic mode and the manual clock, except where threads are the
 * point (worker start).  Safe with CK_FORK=no: every runtime a test creates
 * is destroyed. */
#include "reftest.h"
#include "../rt_internal.h"
#include "../../arch/tests/fault_seam.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int64_t fbody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + a0;
}

/* Violations counted before this test (with CK_FORK=no, earlier tests of
 * the process, e.g. the lock-order checker's own test, count too). */
static unsigned long g_seam_viol0;
static uint64_t g_rank_viol0;

static void faults_setup(void)
{
    g_seam_viol0 = tkf_lock_violations();
    g_rank_viol0 = atomic_load(&tkr_lock_order_violations);
}

/* No mutex held by this thread, none released by a non-holder, no
 * runtime lock rank left set, no lock-order violation. */
static void locks_clean(const char *what)
{
    ck_assert_msg(tkf_lock_violations() == g_seam_viol0, "%s: %s", what, tkf_lock_violation_what());
    ck_assert_msg(tkf_locks_held() == 0, "%s: the thread still holds %d mutex(es)", what, tkf_locks_held());
    ck_assert_msg(tkr_locks_held() == 0, "%s: runtime lock ranks 0x%x still held", what, tkr_locks_held());
    ck_assert_msg(atomic_load(&tkr_lock_order_violations) == g_rank_viol0, "%s: lock-order violation", what);
}

static void nothing_left(const char *what)
{
    size_t sz = 0;
    void *p = tkf_track_first(&sz);
    ck_assert_msg(tkf_track_live() == 0, "%s: %zu block(s) still allocated (e.g. %p, %zu bytes)", what,
                  tkf_track_live(), p, sz);
}

static void cfg_for(tk_config *c, const char *mode, const char *strategy, const char *const *extra)
{
    char err[256];
    tk_config_defaults(c);
    ck_assert_int_eq(tk_config_set(c, "Mode", mode, err, sizeof err), 0);
    ck_assert_int_eq(tk_config_set(c, "Strategy", strategy, err, sizeof err), 0);
    static const char *const base[] = { "CallCountThreshold", "2", "CallCountingDelayMs", "1", "TieredPGO", "1",
                                        "DeleteCallCountingStubsAfter", "1", NULL };
    for (const char *const *k = base; *k; k += 2) ck_assert_int_eq(tk_config_set(c, k[0], k[1], err, sizeof err), 0);
    for (; extra && *extra; extra += 2)
        ck_assert_msg(tk_config_set(c, extra[0], extra[1], err, sizeof err) == 0, "%s", err);
}

/* A runtime of cfg_for's configuration (the test fails if it cannot be made). */
static tk_runtime *runtime_for(const char *mode, const char *strategy, const char *const *extra)
{
    tk_config cfg;
    char err[256];
    cfg_for(&cfg, mode, strategy, extra);
    tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);
    ck_assert_msg(rt != NULL, "%s", err);
    return rt;
}

/* ---- a workout: several virtual and non-virtual methods, a child type ----- */

/* Base { V0..V2 (user 1..3) ; N0..N2 (4..6) }, Child : Base { V1 overridden
 * (7), V3 (8) ; N3 (9) }. */
typedef struct work {
    tk_runtime *rt;
    tk_type *base, *child;
    tk_object *ob, *oc;
} work;

static void work_define(work *w, tk_runtime *rt)
{
    char err[256];
    w->rt = rt;
    tk_method_def bv[3] = { { "Base.V0", fbody, (void *)1, 0 }, { "Base.V1", fbody, (void *)2, 0 },
                            { "Base.V2", fbody, (void *)3, 0 } };
    tk_method_def bn[3] = { { "Base.N0", fbody, (void *)4, 0 }, { "Base.N1", fbody, (void *)5, 0 },
                            { "Base.N2", fbody, (void *)6, 0 } };
    tk_type_def bd = { "Base", NULL, 0, 3, bv, 0, NULL, 3, bn, 0, NULL };
    w->base = tk_type_define(rt, &bd, err, sizeof err);
    ck_assert_msg(w->base != NULL, "%s", err);
    tk_override_def co[1] = { { 1, { "Child.V1", fbody, (void *)7, 0 } } };
    tk_method_def cv[1] = { { "Child.V3", fbody, (void *)8, 0 } };
    tk_method_def cn[1] = { { "Child.N3", fbody, (void *)9, 0 } };
    tk_type_def cd = { "Child", w->base, 0, 1, cv, 1, co, 1, cn, 0, NULL };
    w->child = tk_type_define(rt, &cd, err, sizeof err);
    ck_assert_msg(w->child != NULL, "%s", err);
}

static void work_load(work *w)
{
    ck_assert_int_eq(tk_type_load(w->rt, w->base), 0);
    ck_assert_int_eq(tk_type_load(w->rt, w->child), 0);
    w->ob = tk_object_new(w->rt, w->base);
    w->oc = tk_object_new(w->rt, w->child);
    ck_assert_ptr_nonnull(w->ob);
    ck_assert_ptr_nonnull(w->oc);
}

/* Every method of both types, called through the slot a JIT would use;
 * each returns its own user tag. */
static void work_call_all(work *w, int64_t a0)
{
    static const int64_t bexp[3] = { 1, 2, 3 }, cexp[4] = { 1, 7, 3, 8 };
    for (uint32_t s = 0; s < 3; s++)
        ck_assert_int_eq(call_slot(tk_vtable_slot(w->base, s), w->ob, a0), bexp[s] * 1000 + a0);
    for (uint32_t s = 0; s < 4; s++)
        ck_assert_int_eq(call_slot(tk_vtable_slot(w->child, s), w->oc, a0), cexp[s] * 1000 + a0);
    for (uint32_t i = 0; i < 3; i++) {
        void **slot = tk_method_slot(tk_type_nonvirtual_method(w->base, i));
        ck_assert_msg(slot && __atomic_load_n(slot, __ATOMIC_ACQUIRE), "Base.N%u has no entry point", i);
        ck_assert_int_eq(call_slot(slot, NULL, a0), (4 + i) * 1000 + a0);
    }
    void **slot = tk_method_slot(tk_type_nonvirtual_method(w->child, 0));
    ck_assert_msg(slot && __atomic_load_n(slot, __ATOMIC_ACQUIRE), "Child.N3 has no entry point");
    ck_assert_int_eq(call_slot(slot, NULL, a0), 9000 + a0);
}

static void work_each_method(work *w, void (*fn)(work *, tk_method *, void *), void *arg)
{
    for (uint32_t s = 0; s < 3; s++) fn(w, tk_type_virtual_method(w->base, s), arg);
    fn(w, tk_type_virtual_method(w->child, 1), arg);
    fn(w, tk_type_virtual_method(w->child, 3), arg);
    for (uint32_t i = 0; i < 3; i++) fn(w, tk_type_nonvirtual_method(w->base, i), arg);
    fn(w, tk_type_nonvirtual_method(w->child, 0), arg);
}

static void expect_final(work *w, tk_method *m, void *arg)
{
    (void)arg;
    tk_method_state st;
    tk_method_get_state(w->rt, m, &st);
    ck_assert_msg(TK_TIER_IS_FINAL(st.tier) && st.published, "%s: tier %s, published %d after the workout (%s)",
                  tk_method_name(m), tk_tier_name(st.tier), st.published,
                  tk_strategy_name(tk_runtime_config(w->rt)->strategy));
}

static void settle(tk_runtime *rt)
{
    if (tk_runtime_config(rt)->mode == TK_MODE_DETERMINISTIC) advance_and_drain(rt, 5);
    else tk_drain(rt);
}

/* Calls until every method of both types runs final code. */
static void work_tier_up(work *w)
{
    for (int r = 0; r < 12; r++) {
        work_call_all(w, r);
        work_call_all(w, r);
        work_call_all(w, r);
        settle(w->rt);
    }
    work_each_method(w, expect_final, NULL);
    work_call_all(w, 99);
}

static uint64_t g_records_dropped;

/* Unloads both types: every stub and every counting byte goes back. */
static void work_unload(work *w)
{
    tk_object_free(w->rt, w->ob);
    tk_object_free(w->rt, w->oc);
    ck_assert_int_eq(tk_type_unload(w->rt, w->base), -1);   /* a loaded child */
    /* the unload drops exactly the records of the child's vtable */
    uint32_t recorded = 0;
    for (uint32_t s = 0; s < w->child->n_vt; s++) recorded += w->child->slot_rec[s] != 0;
    uint64_t v0 = atomic_load(&w->rt->dbg_unload_rec_visits);
    ck_assert_int_eq(tk_type_unload(w->rt, w->child), 0);
    ck_assert_uint_eq(atomic_load(&w->rt->dbg_unload_rec_visits) - v0, recorded);
    g_records_dropped += recorded;
    ck_assert_int_eq(tk_type_unload(w->rt, w->base), 0);
    settle(w->rt);
    ck_assert_int_eq(tk_counter_total(w->rt, "live_stub_bytes"), 0);
    ck_assert_int_eq(tk_counter_total(w->rt, "counting_stub_bytes"), 0);
    ck_assert_int_eq(tk_counter_total(w->rt, "counting_info_bytes"), 0);
    ck_assert_int_eq(tk_counter_total(w->rt, "stubs_allocated_precode"), tk_counter_total(w->rt, "stubs_freed_precode"));
    ck_assert_int_eq(tk_counter_total(w->rt, "stubs_allocated_callcount"),
                     tk_counter_total(w->rt, "stubs_freed_callcount"));
    ck_assert_int_eq(tk_counter_total(w->rt, "stubs_allocated_forwarder"),
                     tk_counter_total(w->rt, "stubs_freed_forwarder"));
}

/* The runtime does everything after whatever happened to it before. */
static void workout(tk_runtime *rt)
{
    /* The thread calls through slots while, in threaded mode, the worker
     * deletes counting stubs: it must be a registered (QSBR) thread, or a
     * stub it is about to enter can be freed under it (the contract every
     * mutator keeps: tierkit.h "threads"). */
    tk_thread_register(rt);
    work w;
    work_define(&w, rt);
    work_load(&w);
    work_tier_up(&w);
    work_unload(&w);
    tk_thread_unregister(rt);
    locks_clean("workout");
}

/* ---- impl.fault-results: tk_runtime_create --------------------------------- */

static const char *const modes[] = { "deterministic", "threaded" };

/* Every runtime mutex is initialised by tk_runtime_create (zeroed memory
 * happens to work with glibc's default mutex; POSIX does not promise it). */
static void runtime_locks_initialised(tk_runtime *rt)
{
    const pthread_mutex_t *mu[] = { &rt->bp_lock, &rt->cv_lock, &rt->tier_lock, &rt->obj_mtx, &rt->ev_mtx };
    static const char *const names[] = { "backpatch", "code-version", "tiering", "object-list", "event" };
    for (size_t i = 0; i < sizeof mu / sizeof *mu; i++)
        ck_assert_msg(tkf_mutex_initialised(mu[i]), "the %s lock was not initialised by tk_runtime_create", names[i]);
}

static void create_sweep(const tk_config *cfg, const char *what)
{
    /* warm-up: the stub layer's process-wide pools and registry reach their
     * size for this scenario, so what is left afterwards is a leak */
    char err[256];
    tk_runtime *rt = tk_runtime_create(cfg, err, sizeof err);
    ck_assert_msg(rt != NULL, "%s: %s", what, err);
    workout(rt);
    tk_runtime_destroy(rt);
    unsigned kinds = 0;
    for (unsigned n = 1;; n++) {
        ck_assert_msg(n < 200, "%s: more than 199 fallible calls in tk_runtime_create", what);
        int fds = tkf_open_fds();
        tkf_track_begin();
        err[0] = 0;
        tkf_arm(TKF_ALL | TKF_THREAD, n);
        rt = tk_runtime_create(cfg, err, sizeof err);
        unsigned k = tkf_disarm();
        locks_clean(what);
        if (!k) {
            ck_assert_msg(rt != NULL, "%s: %s", what, err);
            runtime_locks_initialised(rt);
            workout(rt);
            tk_runtime_destroy(rt);
            nothing_left(what);
            tkf_track_end();
            ck_assert_msg(n > 1 && (kinds & TKF_ALLOC), "%s: only %u fallible calls (kinds %#x)", what, n - 1, kinds);
            return;
        }
        kinds |= k;
        /* documented: NULL and a message, nothing of it left */
        ck_assert_msg(rt == NULL, "%s: call %u (kind %#x) failed, yet tk_runtime_create returned a runtime", what, n, k);
        ck_assert_msg(!strcmp(err, "out of memory") || !strcmp(err, "cannot create stub/code heaps"),
                      "%s: call %u failed: message '%s'", what, n, err);
        char lbl[300];
        snprintf(lbl, sizeof lbl, "%s, call %u (kind %#x) failed", what, n, k);
        nothing_left(lbl);
        tkf_track_end();
        ck_assert_msg(tkf_open_fds() == fds, "%s: %d descriptors open before, %d after", lbl, fds, tkf_open_fds());
    }
}

START_TEST(fault_runtime_create_every_failure)
{
    g_records_dropped = 0;
    for (int mo = 0; mo < 2; mo++)
        for (size_t s = 0; s < tk_strategy_count(); s++) {
            tk_config cfg;
            cfg_for(&cfg, modes[mo], tk_strategy_names[s], NULL);
            char what[128];
            snprintf(what, sizeof what, "create %s %s", modes[mo], tk_strategy_names[s]);
            create_sweep(&cfg, what);
        }
    ck_assert_msg(g_records_dropped > 0, "no workout recorded a slot in the child type");
}
END_TEST

/* A trace file that cannot be opened: NULL, the documented message, and
 * the heaps made before it are destroyed (nothing left). */
START_TEST(fault_runtime_create_trace_unopenable)
{
    for (size_t s = 0; s < tk_strategy_count(); s++) {
        tk_config cfg;
        cfg_for(&cfg, "deterministic", tk_strategy_names[s], NULL);
        tk_runtime *rt = tk_runtime_create(&cfg, NULL, 0);   /* warm-up */
        ck_assert_ptr_nonnull(rt);
        tk_runtime_destroy(rt);
        char err[256] = "", expect[700];
        ck_assert_int_eq(tk_config_set(&cfg, "Trace", "/nonexistent-dir-of-tierkit/t.jsonl", err, sizeof err), 0);
        int fds = tkf_open_fds();
        tkf_track_begin();
        rt = tk_runtime_create(&cfg, err, sizeof err);
        ck_assert_ptr_null(rt);
        snprintf(expect, sizeof expect, "config: cannot open trace file '%s' for key Trace", cfg.trace_path);
        ck_assert_str_eq(err, expect);
        nothing_left("create with an unopenable trace");
        tkf_track_end();
        ck_assert_int_eq(tkf_open_fds(), fds);
        locks_clean("create with an unopenable trace");
    }
}
END_TEST

/* A trace that opens: created, written, closed by destroy; nothing left. */
START_TEST(fault_runtime_with_trace_leaks_nothing)
{
    char path[] = "/tmp/tk-ref-faults-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    for (size_t s = 0; s < tk_strategy_count(); s++) {
        tk_config cfg;
        char err[256];
        cfg_for(&cfg, "deterministic", tk_strategy_names[s], NULL);
        ck_assert_int_eq(tk_config_set(&cfg, "Trace", path, err, sizeof err), 0);
        tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);   /* warm-up */
        ck_assert_msg(rt != NULL, "%s", err);
        workout(rt);
        tk_runtime_destroy(rt);
        int fds = tkf_open_fds();
        tkf_track_begin();
        rt = tk_runtime_create(&cfg, err, sizeof err);
        ck_assert_msg(rt != NULL, "%s", err);
        runtime_locks_initialised(rt);
        workout(rt);
        tk_runtime_destroy(rt);
        nothing_left("runtime with a trace");
        tkf_track_end();
        ck_assert_int_eq(tkf_open_fds(), fds);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        char line[256];
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        ck_assert_msg(strstr(line, "\"type\":\"header\""), "first line: %s", line);
        fclose(f);
    }
    unlink(path);
}
END_TEST

/* ---- impl.fault-results: type load, version request ------------------------ */

/* tk_type_load: its vtable's allocation fails -> -1, the type stays
 * unloaded and loads afterwards. */
START_TEST(fault_type_load_vtable)
{
    for (size_t s = 0; s < tk_strategy_count(); s++) {
        tk_runtime *rt = runtime_for("deterministic", tk_strategy_names[s], NULL);
        work w;
        work_define(&w, rt);
        tkf_arm(TKF_ALLOC, 1);
        int rc = tk_type_load(rt, w.base);
        ck_assert_uint_eq(tkf_disarm(), TKF_ALLOC);
        ck_assert_int_eq(rc, -1);
        locks_clean("type load, vtable allocation failed");
        ck_assert_ptr_null(tk_vtable_slot(w.base, 0));
        ck_assert_ptr_null(tk_object_new(rt, w.base));
        ck_assert_int_eq(tk_type_load(rt, w.child), -1);   /* parent not loaded */
        work_load(&w);
        work_tier_up(&w);
        work_unload(&w);
        tk_runtime_destroy(rt);
    }
}
END_TEST

/* tk_version_request: the new IL version's allocation fails -> -1, the
 * method keeps its active version and state, the code-version lock is
 * released; the next request gets IL version 1. */
START_TEST(fault_version_request)
{
    for (size_t s = 0; s < tk_strategy_count(); s++) {
        tk_runtime *rt = runtime_for("deterministic", tk_strategy_names[s], NULL);
        work w;
        work_define(&w, rt);
        work_load(&w);
        work_tier_up(&w);
        tk_method *m = tk_type_virtual_method(w.base, 0);
        tk_method_state before, after;
        tk_method_get_state(rt, m, &before);
        tkf_arm(TKF_ALLOC, 1);
        int64_t id = tk_version_request(rt, m);
        ck_assert_uint_eq(tkf_disarm(), TKF_ALLOC);
        ck_assert_int_eq(id, -1);
        locks_clean("version request, allocation failed");
        tk_method_get_state(rt, m, &after);
        ck_assert_int_eq(after.il_version, before.il_version);
        ck_assert_int_eq(after.tier, before.tier);
        ck_assert_int_eq(after.published, before.published);
        ck_assert_int_eq(tk_version_request(rt, m), 1);
        locks_clean("version request");
        work_tier_up(&w);
        tk_method_get_state(rt, m, &after);
        ck_assert_int_eq(after.il_version, 1);
        ck_assert_int_eq(tk_version_revert(rt, m), 0);
        work_tier_up(&w);
        work_unload(&w);
        /* a method of an unloaded type: -1 from both, no lock kept */
        ck_assert_int_eq(tk_version_request(rt, m), -1);
        ck_assert_int_eq(tk_version_revert(rt, m), -1);
        locks_clean("version request on an unloaded method");
        tk_runtime_destroy(rt);
    }
}
END_TEST

/* ---- impl.fault-results: a type unloads while a version request runs --------
 * Another thread may unload a method's type at any moment of a request or
 * a revert on that method.  The seam runs the unload in each gap between
 * the call's critical sections in turn (the nth mutex acquisition made
 * with no mutex held), as if the other thread ran just then. */

static void unload_child_gap(void *arg)
{
    work *w = arg;
    tk_object_free(w->rt, w->oc);
    w->oc = NULL;
    ck_assert_int_eq(tk_type_unload(w->rt, w->child), 0);
}

static void version_race_sweep(const char *strategy, int revert)
{
    tk_config cfg;
    char err[256], what[160];
    snprintf(what, sizeof what, "%s during unload (%s)", revert ? "tk_version_revert" : "tk_version_request", strategy);
    cfg_for(&cfg, "deterministic", strategy, NULL);
    for (unsigned n = 0;; n++) {   /* n = 0: warm-up (pools), no gap */
        ck_assert_msg(n < 50, "%s: more than 49 gaps", what);
        if (n) tkf_track_begin();
        tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);
        ck_assert_msg(rt != NULL, "%s", err);
        work w;
        work_define(&w, rt);
        work_load(&w);
        work_call_all(&w, 1);
        settle(rt);
        tk_method *m = tk_type_virtual_method(w.child, 3);   /* Child.V3 */
        if (revert) ck_assert_int_eq(tk_version_request(rt, m), 1);
        tkf_on_gap(n, unload_child_gap, &w);
        int64_t r = revert ? tk_version_revert(rt, m) : tk_version_request(rt, m);
        int fired = tkf_gap_fired();
        tkf_on_gap(0, NULL, NULL);
        char lbl[300];
        snprintf(lbl, sizeof lbl, "%s, unload in gap %u", what, n);
        locks_clean(lbl);
        if (fired) {
            ck_assert_msg(r == -1 || r == (revert ? 0 : 2 - revert), "%s: returned %lld", lbl, (long long)r);
            ck_assert_ptr_null(tk_vtable_slot(w.child, 0));
            ck_assert_int_eq(tk_version_request(rt, m), -1);
            ck_assert_int_eq(tk_version_revert(rt, m), -1);
            ck_assert_int_eq(tk_type_unload(rt, w.child), -1);
        } else {
            ck_assert_msg(r == (revert ? 0 : 1), "%s: returned %lld", lbl, (long long)r);
            tk_object_free(rt, w.oc);
            w.oc = NULL;
            ck_assert_int_eq(tk_type_unload(rt, w.child), 0);
        }
        locks_clean(lbl);
        /* the runtime goes on: Base is called, tiers, unloads */
        for (int k = 0; k < 12; k++) {
            for (uint32_t s = 0; s < 3; s++)
                ck_assert_int_eq(call_slot(tk_vtable_slot(w.base, s), w.ob, k), (s + 1) * 1000 + k);
            for (uint32_t i = 0; i < 3; i++)
                ck_assert_int_eq(call_slot(tk_method_slot(tk_type_nonvirtual_method(w.base, i)), NULL, k),
                                 (4 + i) * 1000 + k);
            settle(rt);
        }
        tk_object_free(rt, w.ob);
        ck_assert_int_eq(tk_type_unload(rt, w.base), 0);
        ck_assert_int_eq(tk_counter_total(rt, "live_stub_bytes"), 0);
        tk_runtime_destroy(rt);
        if (n) nothing_left(lbl);
        tkf_track_end();
        if (n && !fired) {
            ck_assert_msg(n > 1, "%s: no gap", what);
            return;
        }
    }
}

START_TEST(fault_version_request_during_unload)
{
    for (size_t s = 0; s < tk_strategy_count(); s++) {
        version_race_sweep(tk_strategy_names[s], 0);
        version_race_sweep(tk_strategy_names[s], 1);
    }
}
END_TEST

/* ---- impl.fault-results: background worker creation ------------------------ */

/* Threaded mode: the Nth thread creation fails; the work is still done
 * (tk_drain creates the worker again), no lock is held, nothing leaks. */
START_TEST(fault_worker_start)
{
    const char *strategy = tk_strategy_names[TK_STRATEGY_LAZY];
    tk_config cfg;
    cfg_for(&cfg, "threaded", strategy, (const char *const[]){ "BackgroundWorkerTimeoutMs", "1", NULL });
    char err[256];
    tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);   /* warm-up */
    ck_assert_msg(rt != NULL, "%s", err);
    workout(rt);
    tk_runtime_destroy(rt);
    unsigned n = 1;
    for (;; n++) {
        ck_assert_msg(n < 100, "more than 99 worker starts");
        tkf_track_begin();
        rt = tk_runtime_create(&cfg, err, sizeof err);
        ck_assert_msg(rt != NULL, "%s", err);
        tkf_arm(TKF_THREAD, n);
        workout(rt);
        unsigned k = tkf_disarm();
        tk_runtime_destroy(rt);
        nothing_left("worker creation failed");
        tkf_track_end();
        locks_clean("worker creation failed");
        if (!k) break;
    }
    ck_assert_uint_ge(n, 2);
}
END_TEST

/* ---- impl.no-leak: types retired in any order ------------------------------ */

static void unload_both_hook(tk_runtime *rt, uint32_t index, void *user)
{
    (void)index;
    work *w = user;
    if (!w->oc) return;
    tk_object_free(rt, w->oc);
    tk_object_free(rt, w->ob);
    w->oc = w->ob = NULL;
    ck_assert_int_eq(tk_type_unload(rt, w->child), 0);
    ck_assert_int_eq(tk_type_unload(rt, w->base), 0);
}

/* A child and its parent unload during a background step: both wait in
 * the graveyard and are retired together when the step ends (the parent
 * then enters the quarantine before its child).  Then more types than the
 * quarantine holds go through it, so both are evicted and their structs
 * freed: nothing is left at destroy, on every tiered strategy. */
START_TEST(leak_types_retired_together)
{
    for (int si = 0; si < ref_tiered_count(); si++) {
        const char *strategy = tk_strategy_names[ref_tiered(si)];
        for (int pass = 0; pass < 2; pass++) {   /* 0: warm-up (pools) */
            tk_config cfg;
            char err[256];
            cfg_for(&cfg, "deterministic", strategy, (const char *const[]){ "DeleteCallCountingStubsAfter", "0", NULL });
            if (pass) tkf_track_begin();
            tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);
            ck_assert_msg(rt != NULL, "%s", err);
            work w;
            work_define(&w, rt);
            work_load(&w);
            work_call_all(&w, 1);
            advance_and_drain(rt, 5);
            for (int k = 0; k < 3; k++) work_call_all(&w, k);
            rt->dbg_item_hook_user = &w;
            __atomic_store_n(&rt->dbg_item_hook, unload_both_hook, __ATOMIC_RELEASE);
            advance_and_drain(rt, 5);
            __atomic_store_n(&rt->dbg_item_hook, NULL, __ATOMIC_RELEASE);
            ck_assert_msg(w.oc == NULL, "%s: no optimize batch ran", strategy);
            ck_assert_ptr_null(rt->graveyard);
            ck_assert_int_eq(tk_counter_total(rt, "live_stub_bytes"), 0);
            for (int i = 0; i < TKR_QUARANTINE_TYPES + 8; i++) {
                char name[32];
                snprintf(name, sizeof name, "Churn%d", i);
                tk_method_def v[1] = { { name, fbody, (void *)(intptr_t)(50 + i), 0 } };
                tk_type_def d = { name, NULL, 0, 1, v, 0, NULL, 0, NULL, 0, NULL };
                tk_type *t = tk_type_define(rt, &d, err, sizeof err);
                ck_assert_msg(t != NULL, "%s", err);
                ck_assert_int_eq(tk_type_load(rt, t), 0);
                tk_object *o = tk_object_new(rt, t);
                ck_assert_int_eq(call_slot(tk_vtable_slot(t, 0), o, 3), (50 + i) * 1000 + 3);
                tk_object_free(rt, o);
                ck_assert_int_eq(tk_type_unload(rt, t), 0);
            }
            ck_assert_uint_eq(rt->n_quar, TKR_QUARANTINE_TYPES);
            locks_clean(strategy);
            tk_runtime_destroy(rt);
            if (pass) nothing_left(strategy);
            tkf_track_end();
        }
    }
}
END_TEST

TCase *tcase_faults(void)
{
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, faults_setup, NULL);
    tcase_add_test(tc, fault_runtime_create_every_failure);
    tcase_add_test(tc, fault_runtime_create_trace_unopenable);
    tcase_add_test(tc, fault_runtime_with_trace_leaks_nothing);
    tcase_add_test(tc, fault_type_load_vtable);
    tcase_add_test(tc, fault_version_request);
    tcase_add_test(tc, fault_worker_start);
    tcase_add_test(tc, fault_version_request_during_unload);
    tcase_add_test(tc, leak_types_retired_together);
    return tc;
}
