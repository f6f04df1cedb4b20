/* arch/tests/test_faults.c — the stub layer under failing system calls and
 * allocations, its heaps' lock discipline, and the code heap's reuse of
 * freed entries, through the test-only link seam of fault_seam.h.
 *
 *   stub.map-failure   every error path of tk_stub_alloc / tk_emit_entry
 *                      (each failing call injected in turn): NULL with errno,
 *                      no mapping, descriptor or registry entry left behind,
 *                      the heap still usable;
 *   stub.heap-lock     no arch function unlocks a mutex its thread does not
 *                      hold, or returns holding one (checked after every test
 *                      of tk-arch-tests by tkf_check_lock_discipline);
 *   stub.code-reuse    any number of freed entries are kept and reused before
 *                      the heap maps more.
 *
 * Safe with CK_FORK=no (qemu): every heap a test creates is destroyed. */
#include "arch.h"
#include "fault_seam.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__) || defined(TK_UNDER_QEMU)
#define STAT_ROUNDS 2000
#else
#define STAT_ROUNDS 20000
#endif

static long fbody(const void *ctx, long a0, long a1, long a2, long a3, long a4)
{
    return a0 + 1000 * (long)(*(const int *)ctx);
}
typedef long (*entry5_t)(long, long, long, long, long);

static const char *kind_name(unsigned k)
{
    switch (k) {
    case TKF_MMAP: return "mmap";
    case TKF_MPROTECT: return "mprotect";
    case TKF_MEMFD: return "memfd_create";
    case TKF_FTRUNCATE: return "ftruncate";
    case TKF_ALLOC: return "an allocation";
    default: return "?";
    }
}

/* ---- one operation, each of its failing calls in turn -------------------- */

typedef struct op {
    const char *what;
    void *(*run)(struct op *);   /* the operation: its result, NULL on failure */
    int (*valid)(struct op *, void *); /* a successful result is what it should be */
    size_t (*pooled)(struct op *);     /* bytes the heap layer pools (mapped, owned) */
    tk_stub_heap *sh;
    tk_stub_kind kind;
    tk_code_heap *ch;
} op;

typedef struct inject_result {
    unsigned points;     /* failing calls injected (the op failed at each)   */
    unsigned kinds;      /* TKF_* kinds among them                           */
    unsigned after_map;  /* failures that came after a mapping was made      */
} inject_result;

/* `stub.map-failure`: for n = 1, 2, ...: the nth call (of `kinds`) the
 * operation makes fails; the operation must then return NULL with errno
 * ENOMEM and leave behind no mapping it made (unless pooled: then the pool
 * grew by exactly that much) and no open descriptor.  Ends at the first n
 * the operation does not reach: it must then succeed, on the same heap. */
static void *emit_run(op *o);

static inject_result inject_each(op *o, unsigned kinds)
{
    inject_result res = {0, 0, 0};
    /* The region registry's array exists before the first sweep (its first
     * allocation is not the operation's to give back): one entry kept for
     * the life of the process. */
    static tk_code_heap *keep;
    if (!keep) {
        op w = {"registry warm-up", NULL, NULL, NULL, NULL, 0, keep = tk_code_heap_create()};
        ck_assert_ptr_nonnull(emit_run(&w));
    }
    for (unsigned n = 1;; n++) {
        ck_assert_msg(n < 64, "%s: more than 63 calls to inject a failure into", o->what);
        int fds = tkf_open_fds();
        size_t pool0 = o->pooled ? o->pooled(o) : 0;
        unsigned long viol0 = tkf_lock_violations();
        tkf_track_begin();
        errno = 0;
        tkf_arm(kinds, n);
        void *r = o->run(o);
        int e = errno;
        unsigned k = tkf_disarm();
        long blocks = (long)tkf_track_live();
        tkf_track_end();
        /* `stub.heap-lock`: every lock the operation took is released, on
         * the error paths too (a lock kept would hang the next call) */
        ck_assert_msg(tkf_locks_held() == 0 && tkf_lock_violations() == viol0,
                      "%s: call %u failing (%s): returned holding %d mutex(es), %lu bad unlock(s)", o->what, n,
                      kind_name(k), tkf_locks_held(), tkf_lock_violations() - viol0);
        uintptr_t maps[16][2];
        size_t nmaps = tkf_maps_recorded(maps, 16);
        ck_assert_uint_le(nmaps, 16);
        if (!k) {
            ck_assert_msg(r != NULL, "%s: failed (errno %d) although no call failed", o->what, e);
            ck_assert_msg(o->valid(o, r), "%s: the result after %u injected failures is not valid", o->what,
                          res.points);
            return res;
        }
        res.points++;
        res.kinds |= k;
        if (r) { /* a fallback is allowed, if what it returns is right */
            ck_assert_msg(o->valid(o, r), "%s: %s failed (call %u) and the result is not valid", o->what,
                          kind_name(k), n);
            continue;
        }
        ck_assert_msg(e == ENOMEM, "%s: %s failed (call %u) with ENOMEM but errno is %d", o->what, kind_name(k),
                      n, e);
        size_t left = 0;
        for (size_t i = 0; i < nmaps; i++)
            left += tkf_still_mapped(maps[i][0], maps[i][1]);
        res.after_map += nmaps > 0;
        size_t pooled = o->pooled ? o->pooled(o) - pool0 : 0;
        /* no allocation leaked: only a group that went to the pool keeps
         * its bookkeeping */
        ck_assert_msg(blocks == 0 || (pooled && blocks > 0 && (size_t)blocks <= pooled / (2 * tk_stub_page_size())),
                      "%s: %s failed (call %u): %ld allocation(s) not given back (%zu bytes pooled)", o->what,
                      kind_name(k), n, blocks, pooled);
        ck_assert_msg(left == pooled,
                      "%s: %s failed (call %u): %zu bytes of the %zu mapping(s) it made are still mapped, "
                      "%zu of them pooled: a leaked mapping", o->what, kind_name(k), n, left, nmaps, pooled);
        ck_assert_msg(tkf_open_fds() == fds, "%s: %s failed (call %u): %d descriptors open before, %d after",
                      o->what, kind_name(k), n, fds, tkf_open_fds());
    }
}

static void *emit_run(op *o)
{
    static const int c = 7;
    return tk_emit_entry(o->ch, (void *)fbody, &c);
}

static int emit_valid(op *o, void *e)
{
    return tk_classify(e) == TK_ADDR_EMITTED && ((entry5_t)e)(5, 0, 0, 0, 0) == 7005;
}

static long ftarget(long x) { return x + 1; }

static void *stub_run(op *o)
{
    static uint16_t cell;
    cell = 1000; /* a valid stub is called once: never down to the threshold */
    return tk_stub_alloc(o->sh, o->kind == TK_STUB_CALLCOUNT ? (void *)&cell : NULL, (void *)ftarget);
}

static int stub_valid(op *o, void *s)
{
    tk_addr_kind want = o->kind == TK_STUB_PRECODE ? TK_ADDR_PRECODE
                        : o->kind == TK_STUB_FIXUP ? TK_ADDR_FIXUP
                                                   : TK_ADDR_CALLCOUNT;
    return tk_classify(s) == want && ((long (*)(long))s)(41) == 42;
}

static size_t stub_pooled(op *o)
{
    return tk_stub_pool_bytes(o->kind);
}

static void check_wx(void)
{
    char line[512];
    ck_assert_msg(tk_wx_violations(line, sizeof line) == 0, "W+X mapping: %s", line);
}

static const tk_stub_kind KINDS[3] = {TK_STUB_PRECODE, TK_STUB_FIXUP, TK_STUB_CALLCOUNT};

/* A heap of `kind` that holds every pooled group of that kind, so the next
 * heap's first stub needs a new mapping. */
static tk_stub_heap *drain_stub_pool(tk_stub_kind kind)
{
    tk_stub_heap *h = tk_stub_heap_create(kind);
    static uint16_t cell = 100;
    while (tk_stub_pool_bytes(kind) > 0)
        ck_assert_ptr_nonnull(tk_stub_alloc(h, kind == TK_STUB_CALLCOUNT ? (void *)&cell : NULL, (void *)ftarget));
    return h;
}

/* A new page group: every call of new_page and the heap's bookkeeping
 * fails in turn (the calloc, the mmap, the mprotect that makes the code
 * page executable, the heap's page array). */
START_TEST(stub_alloc_failures_leak_nothing)
{
    for (int k = 0; k < 3; k++) {
        tk_stub_heap *drain = drain_stub_pool(KINDS[k]);
        op o = {"tk_stub_alloc (new page group)", stub_run, stub_valid, stub_pooled, NULL, KINDS[k], NULL};
        o.sh = tk_stub_heap_create(KINDS[k]);
        ck_assert_ptr_nonnull(o.sh);
        inject_result r = inject_each(&o, TKF_ALL);
        ck_assert_msg((r.kinds & (TKF_MMAP | TKF_MPROTECT | TKF_ALLOC)) == (TKF_MMAP | TKF_MPROTECT | TKF_ALLOC),
                      "kind %d: a new page group made no mmap, mprotect or allocation to fail (%#x)", k, r.kinds);
        /* a second group of the same heap, after the first filled up */
        size_t per = tk_stub_page_size() / tk_stub_size(KINDS[k]);
        for (size_t i = 1; i < per; i++)
            ck_assert_ptr_nonnull(o.run(&o));
        tk_stub_heap_destroy(drain);
        drain = drain_stub_pool(KINDS[k]);
        r = inject_each(&o, TKF_MMAP | TKF_MPROTECT);
        ck_assert_uint_eq(r.points, 2);
        ck_assert_uint_eq(tk_stub_heap_mapped_bytes(o.sh), 2 * 2 * tk_stub_page_size());
        check_wx();
        tk_stub_heap_destroy(o.sh);
        tk_stub_heap_destroy(drain);
    }
}
END_TEST

/* A new code chunk: memfd_create, ftruncate, both views' mmaps and the
 * allocations fail in turn.  Empty chunks of destroyed heaps are reused
 * first, so fresh heaps are tried until one maps a chunk (at most the
 * pool's bound plus one). */
START_TEST(emit_failures_leak_nothing)
{
    tk_code_heap *hs[16];
    unsigned kinds = 0;
    int n = 0;
    while (n < 16 && !(kinds & TKF_MEMFD)) {
        op o = {"tk_emit_entry (new chunk)", emit_run, emit_valid, NULL, NULL, 0, NULL};
        o.ch = hs[n++] = tk_code_heap_create();
        ck_assert_ptr_nonnull(o.ch);
        kinds |= inject_each(&o, TKF_ALL).kinds;
    }
    ck_assert_msg((kinds & (TKF_MEMFD | TKF_FTRUNCATE | TKF_MMAP | TKF_ALLOC)) ==
                      (TKF_MEMFD | TKF_FTRUNCATE | TKF_MMAP | TKF_ALLOC),
                  "no new chunk was mapped in %d fresh heaps (kinds %#x)", n, kinds);
    check_wx();
    for (int i = 0; i < n; i++)
        tk_code_heap_destroy(hs[i]);
}
END_TEST

/* The region registry (what tk_classify searches) grows as heaps map
 * memory; its growth failing must undo the new mapping too.  Enough fresh
 * heaps are created to cross at least one of its growth points (its
 * capacity doubles from 64), each first allocation failing at each
 * allocation in turn. */
#define REG_HEAPS 300
START_TEST(registry_growth_failure_leaks_nothing)
{
    tk_code_heap **ch = calloc(REG_HEAPS, sizeof *ch);
    tk_stub_heap **sh = calloc(REG_HEAPS, sizeof *sh);
    unsigned code_after_map = 0, stub_points = 0;
    for (int i = 0; i < REG_HEAPS; i++) {
        op o = {"tk_emit_entry (registry growth)", emit_run, emit_valid, NULL, NULL, 0, NULL};
        o.ch = ch[i] = tk_code_heap_create();
        code_after_map += inject_each(&o, TKF_ALLOC).after_map;
    }
    for (int i = 0; i < REG_HEAPS; i++) {
        op o = {"tk_stub_alloc (registry growth)", stub_run, stub_valid, stub_pooled, NULL, KINDS[i % 3], NULL};
        o.sh = sh[i] = tk_stub_heap_create(KINDS[i % 3]);
        stub_points += inject_each(&o, TKF_ALLOC).points;
    }
    /* a code chunk's only allocation after its mappings is the registry's */
    ck_assert_msg(code_after_map >= 1, "%d new code chunks never grew the region registry", REG_HEAPS);
    ck_assert_uint_ge(stub_points, REG_HEAPS);
    check_wx();
    for (int i = 0; i < REG_HEAPS; i++) {
        tk_code_heap_destroy(ch[i]);
        tk_stub_heap_destroy(sh[i]);
    }
    free(ch);
    free(sh);
}
END_TEST

/* The heap's page array grows (its 17th group, after 16 filled): each
 * failing call in turn, the group made or taken goes to the pool, nothing
 * else is kept, the heap goes on. */
START_TEST(stub_page_array_growth_failure)
{
    for (int k = 0; k < 3; k++) {
        op o = {"tk_stub_alloc (page array growth)", stub_run, stub_valid, stub_pooled, NULL, KINDS[k], NULL};
        o.sh = tk_stub_heap_create(KINDS[k]);
        size_t per = tk_stub_page_size() / tk_stub_size(KINDS[k]);
        for (size_t i = 0; i < 16 * per; i++)
            ck_assert_ptr_nonnull(o.run(&o));
        inject_result r = inject_each(&o, TKF_ALL);
        ck_assert_msg(r.kinds & TKF_ALLOC, "kind %d: the 17th group grew no array", k);
        ck_assert_uint_eq(tk_stub_heap_mapped_bytes(o.sh), 17 * 2 * tk_stub_page_size());
        check_wx();
        tk_stub_heap_destroy(o.sh);
    }
}
END_TEST

/* `stub.map-failure` for the constructors: each failing call in turn gives
 * NULL with ENOMEM, no allocation kept, no lock held; the first that
 * succeeds gives a working heap. */
START_TEST(heap_create_failures)
{
    for (int k = 0; k <= 3; k++) {
        unsigned points = 0;
        for (unsigned n = 1;; n++) {
            ck_assert_uint_lt(n, 16);
            int fds = tkf_open_fds();
            tkf_track_begin();
            errno = 0;
            tkf_arm(TKF_ALL, n);
            void *h = k < 3 ? (void *)tk_stub_heap_create(KINDS[k]) : (void *)tk_code_heap_create();
            int e = errno;
            unsigned f = tkf_disarm();
            size_t kept = tkf_track_live();
            tkf_track_end();
            ck_assert_int_eq(tkf_locks_held(), 0);
            if (!f) {
                ck_assert_ptr_nonnull(h);
                break;
            }
            points++;
            ck_assert_msg(!h, "heap %d: %s failed but the heap was created", k, kind_name(f));
            ck_assert_int_eq(e, ENOMEM);
            ck_assert_msg(kept == 0, "heap %d: %s failed (call %u): %zu allocation(s) kept", k, kind_name(f), n,
                          kept);
            ck_assert_int_eq(tkf_open_fds(), fds);
        }
        ck_assert_uint_ge(points, 1);
    }
    /* and what was created works (the sweep's last heaps were created
     * by the same calls) */
    op o = {"tk_stub_alloc after create", stub_run, stub_valid, stub_pooled, tk_stub_heap_create(TK_STUB_FIXUP),
            TK_STUB_FIXUP, NULL};
    ck_assert(stub_valid(&o, stub_run(&o)));
    tk_stub_heap_destroy(o.sh);
}
END_TEST

/* tk_code_free when its free list must grow (the first free, and the one
 * after 64) and cannot: -1 with ENOMEM, the entry still live (classified,
 * its ctx, runs), the used bytes unchanged, the lock released and nothing
 * kept; the same free then succeeds and the entry is reused. */
START_TEST(code_free_growth_failure)
{
    tk_code_heap *h = tk_code_heap_create();
    static int ctx[200];
    void *e[200];
    for (int i = 0; i < 200; i++) {
        ctx[i] = i;
        ck_assert_ptr_nonnull(e[i] = tk_emit_entry(h, (void *)fbody, &ctx[i]));
    }
    int failures = 0;
    for (int i = 0; i < 200; i++) {
        size_t used = tk_code_heap_used_bytes(h);
        tkf_track_begin();
        errno = 0;
        tkf_arm(TKF_ALL, 1);
        int rc = tk_code_free(h, e[i]);
        int err = errno;
        unsigned f = tkf_disarm();
        size_t kept = tkf_track_live();
        tkf_track_end();
        ck_assert_int_eq(tkf_locks_held(), 0);
        if (f) {
            failures++;
            ck_assert_msg(rc == -1, "free %d: %s failed but tk_code_free returned %d", i, kind_name(f), rc);
            ck_assert_int_eq(err, ENOMEM);
            ck_assert_uint_eq(tk_code_heap_used_bytes(h), used);
            ck_assert_uint_eq(kept, 0);
            ck_assert_int_eq(tk_classify(e[i]), TK_ADDR_EMITTED);
            ck_assert_ptr_eq(tk_emitted_ctx(e[i]), &ctx[i]);
            ck_assert_int_eq(((entry5_t)e[i])(5, 0, 0, 0, 0), 5 + 1000L * i);
            ck_assert_int_eq(tk_code_free(h, e[i]), 0);
        } else {
            ck_assert_int_eq(rc, 0);
        }
        ck_assert_int_eq(tk_classify(e[i]), TK_ADDR_UNKNOWN);
        ck_assert_uint_eq(tk_code_heap_used_bytes(h), used - (used / (200 - i)));
    }
    ck_assert_msg(failures >= 2, "the free list grew %d times for 200 frees", failures);
    /* every freed entry is reused, the heap works */
    for (int i = 0; i < 200; i++) {
        void *n = tk_emit_entry(h, (void *)fbody, &ctx[i]);
        ck_assert_int_eq(tk_classify(n), TK_ADDR_EMITTED);
        ck_assert_int_eq(((entry5_t)n)(1, 0, 0, 0, 0), 1 + 1000L * i);
        int found = 0;
        for (int j = 0; j < 200; j++)
            found |= n == e[j];
        ck_assert(found);
    }
    tk_code_heap_destroy(h);
}
END_TEST

/* ---- stub.code-reuse ---------------------------------------------------------- */


static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Any number of entries freed (thousands: several chunks' worth) are all
 * kept, refused a second time, and are exactly the next entries emitted:
 * the heap maps nothing more and its used bytes come back to the same
 * count.  Frees in emission order, then in reverse. */
#define MANY 5000
START_TEST(code_heap_reuses_every_freed_entry)
{
    static int ctx[MANY];
    void **e = calloc(MANY, sizeof *e), **f = calloc(MANY, sizeof *f);
    tk_code_heap *h = tk_code_heap_create();
    for (int i = 0; i < MANY; i++) {
        ctx[i] = i;
        ck_assert_ptr_nonnull(e[i] = tk_emit_entry(h, (void *)fbody, &ctx[i]));
    }
    size_t used = tk_code_heap_used_bytes(h), rx = tkf_code_rx_bytes();
    for (int round = 0; round < 2; round++) {
        for (int j = 0; j < MANY; j++) {
            int i = round ? MANY - 1 - j : j;
            ck_assert_msg(tk_code_free(h, e[i]) == 0, "round %d: free number %d refused", round, j + 1);
        }
        ck_assert_uint_eq(tk_code_heap_used_bytes(h), 0);
        for (int i = 0; i < MANY; i += 97)
            ck_assert_int_eq(tk_code_free(h, e[i]), -1); /* already free */
        for (int i = 0; i < MANY; i++) {
            ck_assert_ptr_nonnull(f[i] = tk_emit_entry(h, (void *)fbody, &ctx[i]));
            ck_assert_int_eq(tk_classify(f[i]), TK_ADDR_EMITTED);
            ck_assert_ptr_eq(tk_emitted_ctx(f[i]), &ctx[i]);
        }
        ck_assert_uint_eq(tk_code_heap_used_bytes(h), used);
        ck_assert_uint_eq(tkf_code_rx_bytes(), rx);
        for (int i = 0; i < MANY; i += 499)
            ck_assert_int_eq(((entry5_t)f[i])(3, 0, 0, 0, 0), 3 + 1000L * i);
        qsort(e, MANY, sizeof *e, cmp_ptr);
        qsort(f, MANY, sizeof *f, cmp_ptr);
        for (int i = 0; i < MANY; i++)
            ck_assert_msg(e[i] == f[i], "round %d: the entries emitted after the frees are not the freed ones",
                          round);
        /* f holds the live entries in address order; e the same set */
    }
    check_wx();
    tk_code_heap_destroy(h);
    free(e);
    free(f);
}
END_TEST

/* ---- stub.heap-lock --------------------------------------------------------- */

typedef struct stat_arg {
    tk_stub_heap *h;
    tk_code_heap *ch;
    atomic_int stop;
    int bad;
} stat_arg;

static void *poller(void *p)
{
    stat_arg *a = p;
    size_t G = 2 * tk_stub_page_size();
    while (!atomic_load(&a->stop)) {
        if (tk_stub_heap_mapped_bytes(a->h) % G || tk_stub_pool_bytes(TK_STUB_PRECODE) % G)
            a->bad++;
        (void)tk_stub_heap_live_bytes(a->h);
        (void)tk_code_heap_used_bytes(a->ch);
    }
    return NULL;
}

/* Statistics getters may be called from any thread while others allocate
 * and free: what they return is a whole number of groups, and the stubs
 * handed out meanwhile are all distinct.  The lock-discipline check after
 * the test (every unlock by the holder) runs with these threads too. */
START_TEST(heap_stats_concurrent_with_alloc)
{
    stat_arg a = {tk_stub_heap_create(TK_STUB_PRECODE), tk_code_heap_create(), 0, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, poller, &a), 0);
    enum { LIVE = 3000 };
    void **v = calloc(LIVE, sizeof *v);
    for (int r = 0; r < STAT_ROUNDS / 1000; r++) {
        for (int i = 0; i < LIVE; i++)
            ck_assert_ptr_nonnull(v[i] = tk_stub_alloc(a.h, NULL, (void *)ftarget));
        qsort(v, LIVE, sizeof *v, cmp_ptr);
        for (int i = 1; i < LIVE; i++)
            ck_assert_msg(v[i] != v[i - 1], "the same stub handed out twice");
        for (int i = 0; i < LIVE; i++)
            tk_stub_free(a.h, v[i]);
    }
    atomic_store(&a.stop, 1);
    pthread_join(th, NULL);
    ck_assert_int_eq(a.bad, 0);
    ck_assert_uint_eq(tk_stub_heap_live_bytes(a.h), 0);
    free(v);
    tk_stub_heap_destroy(a.h);
    tk_code_heap_destroy(a.ch);
}
END_TEST

/* Every getter, once, single-threaded: none may release a lock it did not
 * take (`stub.heap-lock`; checked by the fixture below). */
START_TEST(heap_getters_keep_lock_discipline)
{
    for (int k = 0; k < 3; k++) {
        tk_stub_heap *h = tk_stub_heap_create(KINDS[k]);
        static uint16_t cell = 5;
        void *s = tk_stub_alloc(h, KINDS[k] == TK_STUB_CALLCOUNT ? (void *)&cell : NULL, (void *)ftarget);
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_eq(tk_stub_heap_mapped_bytes(h), 2 * tk_stub_page_size());
        ck_assert_uint_eq(tk_stub_heap_live_bytes(h), 2 * tk_stub_size(KINDS[k]));
        (void)tk_stub_pool_bytes(KINDS[k]);
        tk_stub_free(h, s);
        tk_stub_heap_destroy(h);
    }
    tk_code_heap *ch = tk_code_heap_create();
    static const int c = 1;
    void *e = tk_emit_entry(ch, (void *)fbody, &c);
    ck_assert_uint_gt(tk_code_heap_used_bytes(ch), 0);
    ck_assert_int_eq(tk_code_free(ch, e), 0);
    tk_code_heap_destroy(ch);
}
END_TEST

void tkf_check_lock_discipline(void)
{
    ck_assert_msg(tkf_lock_violations() == 0, "stub.heap-lock: %lu violation(s); the first: %s",
                  tkf_lock_violations(), tkf_lock_violation_what());
    ck_assert_msg(tkf_locks_held() == 0, "stub.heap-lock: the test thread still holds %d mutex(es) after the test",
                  tkf_locks_held());
}

TCase *tcase_faults(void)
{
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, NULL, tkf_check_lock_discipline);
    tcase_add_test(tc, stub_alloc_failures_leak_nothing);
    tcase_add_test(tc, emit_failures_leak_nothing);
    tcase_add_test(tc, registry_growth_failure_leaks_nothing);
    tcase_add_test(tc, stub_page_array_growth_failure);
    tcase_add_test(tc, heap_create_failures);
    tcase_add_test(tc, code_free_growth_failure);
    tcase_add_test(tc, code_heap_reuses_every_freed_entry);
    tcase_add_test(tc, heap_stats_concurrent_with_alloc);
    tcase_add_test(tc, heap_getters_keep_lock_discipline);
    return tc;
}
