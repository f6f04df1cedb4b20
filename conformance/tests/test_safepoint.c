/* conformance/tests/test_safepoint.c — two online mutators, of which only
 * one passes a safe point: a call-counting stub that left the call path is
 * not freed until the other one passes too (`inv.reclaim.wait-safepoint`).
 * Deterministic mode; the only threads are the two mutators and one that
 * runs drain(), each step ordered by semaphores. */
#include "fixture.h"

#include <pthread.h>
#include <semaphore.h>

static const tk_method_def sp_v[] = { TKT_M("SP.V", 101) };

enum { SP_PASS = 1, SP_OFFLINE, SP_EXIT };

typedef struct {
    tk_drv_runtime *rt;
    sem_t cmd_ready, done;
    int cmd;
    int offline;
} sp_mutator;

/* An attached thread "in managed code": between commands it is online and
 * passes no safe point. */
static void *sp_main(void *p)
{
    sp_mutator *mu = p;
    D->thread_attach(mu->rt);
    sem_post(&mu->done);
    for (;;) {
        sem_wait(&mu->cmd_ready);
        int c = mu->cmd;
        if (c == SP_PASS) D->safepoint(mu->rt);
        else if (c == SP_OFFLINE) { D->thread_offline(mu->rt); mu->offline = 1; }
        sem_post(&mu->done);
        if (c == SP_EXIT) break;
    }
    if (mu->offline) D->thread_online(mu->rt);   /* detach from the online state */
    D->thread_detach(mu->rt);
    return NULL;
}

static void sp_do(sp_mutator *mu, int cmd)
{
    mu->cmd = cmd;
    sem_post(&mu->cmd_ready);
    sem_wait(&mu->done);
}

/* variant 0: the first attached mutator passes a safe point, the second does
 * not; 1: the other way round; 2: the first goes offline instead. */
static void sp_variant(int variant)
{
    static const char *const vname[] = { "the first mutator passed a safe point",
                                         "the second mutator passed a safe point",
                                         "the first mutator went offline" };
    tk_drv_runtime *rt = tkt_create(FX_DET("2"), "DeleteCallCountingStubsAfter=1");
    tkt_require_tiering(rt);
    tkt_events_start(rt);
    D->thread_attach(rt);
    tk_drv_type *t = fx_class(rt, "SP", NULL, 1, sp_v, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **s = fx_vslot(t, 0);
    fx_start_counting(rt, s, o, 101);
    void *stub = fx_first_callcount_stub();
    if (!stub) tkt_unsupported("Strategy=%s allocated no call-counting stub", tkt_strategy(rt));

    sp_mutator mu[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        memset(&mu[i], 0, sizeof mu[i]);
        mu[i].rt = rt;
        sem_init(&mu[i].cmd_ready, 0, 0);
        sem_init(&mu[i].done, 0, 0);
        ck_assert_int_eq(pthread_create(&th[i], NULL, sp_main, &mu[i]), 0);
        sem_wait(&mu[i].done);                  /* attached, online, in "managed code" */
    }
    for (int i = 0; i < 2; i++) tkt_call_slot(s, o, 101, i);   /* threshold */
    D->safepoint(rt);
    D->thread_offline(rt);                      /* this thread waits; it holds nothing */
    fx_drainer dr = { rt, 0 };
    pthread_t dt;
    ck_assert_int_eq(pthread_create(&dt, NULL, fx_drainer_main, &dr), 0);
    /* One mutator is quiescent now and stays online (or offline) after it. */
    int quiet = variant == 1 ? 1 : 0, busy = 1 - quiet;
    sp_do(&mu[quiet], variant == 2 ? SP_OFFLINE : SP_PASS);
    uint64_t t0 = tkt_now_ms();
    size_t early = 0;
    while (tkt_now_ms() - t0 < 300 && !early) {
        early = fx_callcount_frees();
        tkt_sleep_ms(5);
    }
    tk_addr_info during = tkt_classify(rt, stub);
    if (variant != 2) sp_do(&mu[quiet], SP_PASS);   /* passing again changes nothing */
    size_t early2 = fx_callcount_frees();
    sp_do(&mu[busy], SP_PASS);                  /* now every online mutator has passed */
    uint64_t t1 = tkt_now_ms();
    while (!__atomic_load_n(&dr.done, __ATOMIC_ACQUIRE) && tkt_now_ms() - t1 < 10000) tkt_sleep_ms(5);
    int finished = __atomic_load_n(&dr.done, __ATOMIC_ACQUIRE);
    if (finished) pthread_join(dt, NULL);
    ck_assert_msg(!early && !early2,
                  "%s, the other is online and has not: a call-counting stub was freed before it passed one",
                  vname[variant]);
    ck_assert_msg(during.cls != TK_AC_FREED, "%s: the counting stub %p classifies as freed while the other mutator "
                  "has not passed a safe point", vname[variant], stub);
    ck_assert_msg(finished, "%s: drain() did not finish within 10 s after both mutators passed a safe point",
                  vname[variant]);
    D->drain(rt);
    uint64_t t2 = tkt_now_ms();
    while (!fx_callcount_frees() && tkt_now_ms() - t2 < 2000) { D->drain(rt); tkt_sleep_ms(5); }
    ck_assert_msg(fx_callcount_frees() > 0, "%s: no call-counting stub was freed after both mutators passed a safe point",
                  vname[variant]);
    for (int i = 0; i < 2; i++) {
        sp_do(&mu[i], SP_EXIT);
        pthread_join(th[i], NULL);
    }
    D->thread_online(rt);
    tkt_call_slot(s, o, 101, 9);
    tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ fx_vm(t, 0), NULL });
    D->thread_detach(rt);
    tkt_destroy(rt);
}

TK_TEST_F(reclaim_two_mutators, TKT_THREADED | TKT_SLOW, "inv.reclaim.wait-safepoint")
{
    tkt_require_caps(TK_CAP_STUB_DELETION | TK_CAP_EVENTS);
    for (int v = 0; v < 3; v++) sp_variant(v);
}

/* A thread that ran background work itself (drain: completion, deletion
 * with its safe-point wait, or in threaded mode waiting for the worker) is
 * an online mutator again afterwards: a later deletion by another thread
 * (a drain thread, the background worker) waits for its next safe point. */
static void sq_run(int threaded)
{
    static const tk_method_def two[] = { TKT_M("SQ.V", 102), TKT_M("SQ.W", 103) };
    const char *mode = threaded ? "threaded" : "deterministic";
    tk_drv_runtime *rt = threaded ? tkt_create("Mode=threaded", "TieredPGO=0", "CallCountingDelayMs=20",
                                               "CallCountThreshold=2", "DeleteCallCountingStubsAfter=1")
                                  : tkt_create(FX_DET("2"), "DeleteCallCountingStubsAfter=1");
    tkt_require_tiering(rt);
    tkt_events_start(rt);
    D->thread_attach(rt);
    tk_drv_type *t = fx_class(rt, "SQ", NULL, 2, two, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    void **sv = fx_vslot(t, 0), **sw = fx_vslot(t, 1);
    tkt_call_slot(sv, o, 102, 0);
    tkt_call_slot(sw, o, 103, 0);
    if (threaded) {
        D->drain(rt);                                   /* waits for the delay and the worker */
    } else {
        tkt_tick(rt, FX_DELAY);                         /* both count */
        for (int i = 0; i < 2; i++) tkt_call_slot(sv, o, 102, i);
        D->safepoint(rt);
        D->drain(rt);                                   /* V completes, its stub is deleted here */
        if (!fx_callcount_frees())
            tkt_unsupported("no call-counting stub was deleted by this thread's drain (Strategy=%s)", tkt_strategy(rt));
    }
    size_t first = fx_callcount_frees();
    /* This thread is online and passes no safe point from here on. */
    void **slot = threaded ? sv : sw;
    int id = threaded ? 102 : 103;
    if (threaded && !tkt_state(rt, fx_vm(t, 0)).counting)
        tkt_unsupported("threaded: SQ.V is not counting after drain (Strategy=%s)", tkt_strategy(rt));
    for (int i = 0; i < 2; i++) tkt_call_slot(slot, o, id, i);   /* threshold */
    fx_drainer dr = { rt, 0 };
    pthread_t dt;
    if (!threaded) ck_assert_int_eq(pthread_create(&dt, NULL, fx_drainer_main, &dr), 0);
    uint64_t t0 = tkt_now_ms();
    size_t early = 0;
    while (tkt_now_ms() - t0 < 300 && !early) {
        early = fx_callcount_frees() > first;
        tkt_sleep_ms(5);
    }
    D->safepoint(rt);
    D->thread_offline(rt);
    int finished = 1;
    if (!threaded) {
        uint64_t t1 = tkt_now_ms();
        while (!__atomic_load_n(&dr.done, __ATOMIC_ACQUIRE) && tkt_now_ms() - t1 < 10000) tkt_sleep_ms(5);
        finished = __atomic_load_n(&dr.done, __ATOMIC_ACQUIRE);
        if (finished) pthread_join(dt, NULL);
    } else {
        D->drain(rt);
    }
    D->thread_online(rt);
    ck_assert_msg(!early, "%s: a counting stub was freed by another thread while this thread, online again after "
                  "its own drain() returned, had not passed a safe point", mode);
    ck_assert_msg(finished, "%s: drain() did not finish within 10 s after the safe point", mode);
    ck_assert_msg(fx_callcount_frees() > first, "%s: setup: the second counting stub was never freed", mode);
    tkt_call_slot(sw, o, 103, 9);
    tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ fx_vm(t, 0), fx_vm(t, 1), NULL });
    D->thread_detach(rt);
    tkt_destroy(rt);
}

TK_TEST_F(reclaim_drain_caller_online_again, TKT_THREADED | TKT_SLOW, "inv.reclaim.wait-safepoint")
{
    tkt_require_caps(TK_CAP_STUB_DELETION | TK_CAP_EVENTS);
    sq_run(0);
    if (D->caps & TK_CAP_THREADED) sq_run(1);
}
