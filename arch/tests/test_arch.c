/* arch/tests/test_arch.c — Check tests for the stub layer (libtkarch).
 *
 * Every test is safe with CK_FORK=no (used under qemu-aarch64): each test
 * creates and destroys its own heaps, installs its own handlers, and never
 * calls ck_assert from a handler or a helper thread (they record into
 * globals; the test body asserts afterwards). */
#include "arch.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TK_SOURCE_DIR
#define TK_SOURCE_DIR "."
#endif

#if defined(__aarch64__)
#define NGPR 8
#define ARCH_NAME "arm64"
#else
#define NGPR 6
#define ARCH_NAME "x86_64"
#endif

#if defined(__aarch64__) || defined(TK_UNDER_QEMU)
#define RACE_CALLS 20000
#else
#define RACE_CALLS 200000
#endif

/* ---- argument-checking functions ------------------------------------------ */

static const long IARG[8] = {0x1111, -0x2222, 0x33333333333L, 4, -5, 0x666, 0x7777777, 88};
static const double DARG[8] = {1.5, -2.25, 3.125, 1e10, -5e-3, 6.0, 7.75, -8.5};

typedef long (*fn16_t)(long, long, long, long, long, long, long, long, double, double, double,
                       double, double, double, double, double);

static atomic_int g_target_calls, g_target_bad;

static long target16(long a0, long a1, long a2, long a3, long a4, long a5, long a6, long a7,
                     double d0, double d1, double d2, double d3, double d4, double d5, double d6,
                     double d7)
{
    long a[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    double d[8] = {d0, d1, d2, d3, d4, d5, d6, d7};
    for (int i = 0; i < 8; i++)
        if (a[i] != IARG[i] || d[i] != DARG[i])
            atomic_fetch_add(&g_target_bad, 1);
    atomic_fetch_add(&g_target_calls, 1);
    return 4242;
}

static long target16b(long a0, long a1, long a2, long a3, long a4, long a5, long a6, long a7,
                      double d0, double d1, double d2, double d3, double d4, double d5, double d6,
                      double d7)
{
    return target16(a0, a1, a2, a3, a4, a5, a6, a7, d0, d1, d2, d3, d4, d5, d6, d7) + 1;
}

static long call16(void *fn)
{
    fn16_t f = (fn16_t)fn;
    return f(IARG[0], IARG[1], IARG[2], IARG[3], IARG[4], IARG[5], IARG[6], IARG[7], DARG[0],
             DARG[1], DARG[2], DARG[3], DARG[4], DARG[5], DARG[6], DARG[7]);
}

/* handler bookkeeping */
static atomic_int g_h_calls, g_h_bad;
static void *volatile g_h_token;
static void *volatile g_h_return;

static void reset_counters(void)
{
    atomic_store(&g_target_calls, 0);
    atomic_store(&g_target_bad, 0);
    atomic_store(&g_h_calls, 0);
    atomic_store(&g_h_bad, 0);
    g_h_token = NULL;
    g_h_return = (void *)target16;
}

static void *checking_handler(void *token, tk_arch_regs *regs)
{
    atomic_fetch_add(&g_h_calls, 1);
    g_h_token = token;
    for (int i = 0; i < NGPR; i++)
        if ((long)regs->gpr[i] != IARG[i])
            atomic_fetch_add(&g_h_bad, 1);
    for (int i = 0; i < 8; i++)
        if (regs->fpr[i].d != DARG[i])
            atomic_fetch_add(&g_h_bad, 1);
    return g_h_return;
}

/* plain counting handler (no argument checks) */
static void *counting_handler(void *token, tk_arch_regs *regs)
{
    (void)regs;
    atomic_fetch_add(&g_h_calls, 1);
    g_h_token = token;
    return g_h_return;
}

/* ---- precodes -> prestub ------------------------------------------------- */

static void check_fresh_precode(tk_stub_kind kind)
{
    reset_counters();
    tk_set_prestub_handler(checking_handler);
    tk_stub_heap *h = tk_stub_heap_create(kind);
    ck_assert_ptr_nonnull(h);
    int tok;
    void *stub = tk_stub_alloc(h, &tok, tk_prestub_entry());
    ck_assert_ptr_nonnull(stub);
    ck_assert(tk_precode_points_to_prestub(stub, tk_prestub_entry()));
    ck_assert_ptr_eq(tk_stub_token(stub), &tok);

    ck_assert_int_eq(call16(stub), 4242);
    ck_assert_int_eq(atomic_load(&g_h_calls), 1);
    ck_assert_ptr_eq(g_h_token, &tok);
    ck_assert_int_eq(atomic_load(&g_h_bad), 0);
    ck_assert_int_eq(atomic_load(&g_target_calls), 1);
    ck_assert_int_eq(atomic_load(&g_target_bad), 0);

    /* retarget: straight to the target, no handler */
    tk_stub_set_target(stub, (void *)target16b);
    ck_assert_ptr_eq(tk_stub_target(stub), (void *)target16b);
    ck_assert(!tk_precode_points_to_prestub(stub, tk_prestub_entry()));
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(call16(stub), 4243);
    ck_assert_int_eq(atomic_load(&g_h_calls), 1);
    ck_assert_int_eq(atomic_load(&g_target_calls), 6);
    ck_assert_int_eq(atomic_load(&g_target_bad), 0);

    /* CAS: fails on a wrong expectation, succeeds on the right one */
    ck_assert(!tk_stub_cas_target(stub, (void *)target16, (void *)target16));
    ck_assert(tk_stub_cas_target(stub, (void *)target16b, (void *)target16));
    ck_assert_int_eq(call16(stub), 4242);
    ck_assert_int_eq(atomic_load(&g_h_calls), 1);

    /* reset: back through the prestub */
    tk_precode_reset(stub, tk_prestub_entry());
    ck_assert(tk_precode_points_to_prestub(stub, tk_prestub_entry()));
    g_h_return = (void *)target16b;
    ck_assert_int_eq(call16(stub), 4243);
    ck_assert_int_eq(atomic_load(&g_h_calls), 2);
    ck_assert_int_eq(atomic_load(&g_h_bad), 0);
    ck_assert_int_eq(atomic_load(&g_target_bad), 0);

    tk_stub_free(h, stub);
    tk_stub_heap_destroy(h);
    tk_set_prestub_handler(NULL);
}

START_TEST(precode_to_prestub_args)
{
    check_fresh_precode(TK_STUB_PRECODE);
}
END_TEST

START_TEST(fixup_to_prestub_args)
{
    check_fresh_precode(TK_STUB_FIXUP);
}
END_TEST

/* A function returning a large struct: the caller passes the result
 * buffer in x8 (arm64) / rdi (x86-64); both must survive stub + trampoline. */
typedef struct big {
    long v[5];
} big;
typedef big (*bigfn_t)(long, long, long);

static big big_target(long a, long b, long c)
{
    big r = {{a, b, c, a + b + c, 77}};
    return r;
}

START_TEST(indirect_result_register)
{
    reset_counters();
    g_h_return = (void *)big_target;
    tk_set_prestub_handler(counting_handler);
    tk_stub_heap *h = tk_stub_heap_create(TK_STUB_FIXUP);
    void *stub = tk_stub_alloc(h, NULL, tk_prestub_entry());
    big r = ((bigfn_t)stub)(3, 4, 5);
    ck_assert_int_eq(atomic_load(&g_h_calls), 1);
    ck_assert_int_eq(r.v[0], 3);
    ck_assert_int_eq(r.v[1], 4);
    ck_assert_int_eq(r.v[2], 5);
    ck_assert_int_eq(r.v[3], 12);
    ck_assert_int_eq(r.v[4], 77);
    tk_stub_heap_destroy(h);
    tk_set_prestub_handler(NULL);
}
END_TEST

/* ---- call counting ---------------------------------------------------------- */

START_TEST(callcount_threshold)
{
    reset_counters();
    tk_set_threshold_handler(checking_handler);
    tk_stub_heap *h = tk_stub_heap_create(TK_STUB_CALLCOUNT);
    static uint16_t cell;
    cell = 5;
    void *cc = tk_stub_alloc(h, &cell, (void *)target16);
    ck_assert_ptr_nonnull(cc);
    ck_assert_ptr_eq(tk_stub_token(cc), &cell);
    ck_assert_ptr_eq(tk_stub_target(cc), (void *)target16);

    for (int i = 1; i <= 4; i++) {
        ck_assert_int_eq(call16(cc), 4242);
        ck_assert_int_eq(atomic_load(&g_h_calls), 0);
        ck_assert_int_eq(cell, 5 - i);
    }
    /* 5th call: the cell reaches 0 -> threshold handler, token = cell */
    ck_assert_int_eq(call16(cc), 4242);
    ck_assert_int_eq(atomic_load(&g_h_calls), 1);
    ck_assert_ptr_eq(g_h_token, &cell);
    ck_assert_int_eq(atomic_load(&g_h_bad), 0);
    ck_assert_int_eq(cell, 0);
    ck_assert_int_eq(atomic_load(&g_target_calls), 5);

    /* wrap-around: 0 -> 0xFFFF, keeps forwarding */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(call16(cc), 4242);
    ck_assert_int_eq(atomic_load(&g_h_calls), 1);
    ck_assert_int_eq(cell, 0xFFFF - 9);
    ck_assert_int_eq(atomic_load(&g_target_calls), 15);
    ck_assert_int_eq(atomic_load(&g_target_bad), 0);

    /* retarget the counting stub */
    tk_stub_set_target(cc, (void *)target16b);
    ck_assert_int_eq(call16(cc), 4243);

    /* cell = 1: the very next call hits the threshold */
    cell = 1;
    g_h_return = (void *)target16b;
    ck_assert_int_eq(call16(cc), 4243);
    ck_assert_int_eq(atomic_load(&g_h_calls), 2);
    tk_stub_heap_destroy(h);
    tk_set_threshold_handler(NULL);
}
END_TEST

START_TEST(precode_then_callcount_chain)
{
    /* slot -> precode -> counting stub -> code, then the precode -> prestub */
    reset_counters();
    tk_set_threshold_handler(counting_handler);
    tk_set_prestub_handler(checking_handler);
    tk_stub_heap *hp = tk_stub_heap_create(TK_STUB_FIXUP);
    tk_stub_heap *hc = tk_stub_heap_create(TK_STUB_CALLCOUNT);
    static uint16_t cell;
    cell = 3;
    int tok;
    void *pre = tk_stub_alloc(hp, &tok, tk_prestub_entry());
    void *cc = tk_stub_alloc(hc, &cell, (void *)target16);
    tk_stub_set_target(pre, cc);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(call16(pre), 4242);
    ck_assert_int_eq(atomic_load(&g_h_calls), 1);
    ck_assert_ptr_eq(g_h_token, &cell);
    tk_precode_reset(pre, tk_prestub_entry());
    ck_assert_int_eq(call16(pre), 4242);
    ck_assert_int_eq(atomic_load(&g_h_calls), 2);
    ck_assert_ptr_eq(g_h_token, &tok);
    ck_assert_int_eq(atomic_load(&g_h_bad), 0);
    ck_assert_int_eq(atomic_load(&g_target_bad), 0);
    tk_stub_heap_destroy(hp);
    tk_stub_heap_destroy(hc);
    tk_set_threshold_handler(NULL);
    tk_set_prestub_handler(NULL);
}
END_TEST

/* ---- concurrent retargeting ---------------------------------------------- */

static atomic_long g_hits_a, g_hits_b;
static atomic_int g_stop;
static void *g_race_stub;

static long race_a(long x) { atomic_fetch_add_explicit(&g_hits_a, 1, memory_order_relaxed); return x + 1; }
static long race_b(long x) { atomic_fetch_add_explicit(&g_hits_b, 1, memory_order_relaxed); return x + 2; }

static atomic_long g_race_bad;

static atomic_ulong g_flips;

static void *race_caller(void *arg)
{
    long (*f)(long) = (long (*)(long))g_race_stub;
    while (atomic_load(&g_flips) == 0) /* make sure the race is on */
        ;
    for (long i = 0; i < RACE_CALLS; i++) {
        long r = f(i);
        if (r != i + 1 && r != i + 2)
            atomic_fetch_add(&g_race_bad, 1);
    }
    return arg;
}

static void *race_retargeter(void *arg)
{
    unsigned long n = 0;
    while (!atomic_load(&g_stop)) {
        tk_stub_set_target(g_race_stub, (n++ & 1) ? (void *)race_a : (void *)race_b);
        atomic_store_explicit(&g_flips, n, memory_order_relaxed);
    }
    return (void *)n;
}

static void check_race(tk_stub_kind kind)
{
    tk_stub_heap *h = tk_stub_heap_create(kind);
    g_race_stub = tk_stub_alloc(h, NULL, (void *)race_a);
    if (kind == TK_STUB_FIXUP)
        tk_stub_set_target(g_race_stub, (void *)race_a);
    atomic_store(&g_hits_a, 0);
    atomic_store(&g_hits_b, 0);
    atomic_store(&g_race_bad, 0);
    atomic_store(&g_stop, 0);
    atomic_store(&g_flips, 0);
    pthread_t c1, c2, r;
    pthread_create(&r, NULL, race_retargeter, NULL);
    pthread_create(&c1, NULL, race_caller, NULL);
    pthread_create(&c2, NULL, race_caller, NULL);
    pthread_join(c1, NULL);
    pthread_join(c2, NULL);
    atomic_store(&g_stop, 1);
    void *flips;
    pthread_join(r, &flips);
    long a = atomic_load(&g_hits_a), b = atomic_load(&g_hits_b);
    ck_assert_int_eq(a + b, 2L * RACE_CALLS);
    ck_assert_int_eq(atomic_load(&g_race_bad), 0);
    ck_assert_uint_gt((uintptr_t)flips, 0);
    tk_stub_heap_destroy(h);
}

START_TEST(race_retarget_precode)
{
    check_race(TK_STUB_PRECODE);
}
END_TEST

START_TEST(race_retarget_fixup)
{
    check_race(TK_STUB_FIXUP);
}
END_TEST

/* ---- emitter ------------------------------------------------------------------ */

static atomic_int g_body_bad;
static const void *volatile g_body_ctx;

static long body6(const void *ctx, long a0, long a1, long a2, long a3, long a4)
{
    g_body_ctx = ctx;
    if (a0 != 10 || a1 != -20 || a2 != 30 || a3 != 0x40000000000L || a4 != 50)
        atomic_fetch_add(&g_body_bad, 1);
    return a0 + a1 + a2 + a4 + 1000 * (long)(*(const int *)ctx);
}

typedef long (*entry5_t)(long, long, long, long, long);

START_TEST(emit_entry_calls_body)
{
    tk_code_heap *ch = tk_code_heap_create();
    ck_assert_ptr_nonnull(ch);
    static const int ctx1 = 1, ctx2 = 2;
    ck_assert_uint_eq(tk_code_heap_used_bytes(ch), 0);
    void *e1 = tk_emit_entry(ch, (void *)body6, &ctx1);
    /* used bytes: a fixed, small size per emitted entry (at most a page) */
    size_t per = tk_code_heap_used_bytes(ch);
    ck_assert_msg(per > 0 && per <= 4096, "one entry uses %zu bytes", per);
    void *e2 = tk_emit_entry(ch, (void *)body6, &ctx2);
    ck_assert_ptr_nonnull(e1);
    ck_assert_ptr_nonnull(e2);
    ck_assert_ptr_ne(e1, e2);
    ck_assert_uint_eq(tk_code_heap_used_bytes(ch), 2 * per);
    atomic_store(&g_body_bad, 0);
    ck_assert_int_eq(((entry5_t)e1)(10, -20, 30, 0x40000000000L, 50), 70 + 1000);
    ck_assert_ptr_eq(g_body_ctx, &ctx1);
    ck_assert_int_eq(((entry5_t)e2)(10, -20, 30, 0x40000000000L, 50), 70 + 2000);
    ck_assert_ptr_eq(g_body_ctx, &ctx2);
    ck_assert_int_eq(atomic_load(&g_body_bad), 0);
    ck_assert_ptr_eq(tk_emitted_ctx(e1), &ctx1);
    ck_assert_ptr_eq(tk_emitted_ctx(e2), &ctx2);

    /* through a precode, too */
    tk_stub_heap *h = tk_stub_heap_create(TK_STUB_PRECODE);
    void *pre = tk_stub_alloc(h, NULL, e2);
    ck_assert_int_eq(((entry5_t)pre)(10, -20, 30, 0x40000000000L, 50), 70 + 2000);
    ck_assert_int_eq(atomic_load(&g_body_bad), 0);
    tk_stub_heap_destroy(h);

    /* many entries (crosses a chunk) */
    static int ctxs[2000];
    void *last = NULL;
    for (int i = 0; i < 2000; i++) {
        ctxs[i] = i;
        last = tk_emit_entry(ch, (void *)body6, &ctxs[i]);
        ck_assert_ptr_nonnull(last);
    }
    ck_assert_int_eq(((entry5_t)last)(10, -20, 30, 0x40000000000L, 50), 70 + 1999000);
    ck_assert_ptr_eq(tk_emitted_ctx(last), &ctxs[1999]);
    ck_assert_uint_eq(tk_code_heap_used_bytes(ch), 2002 * per);
    tk_code_heap_destroy(ch);
}
END_TEST

/* ---- W^X ---------------------------------------------------------------------- */

/* The bytes of an emitted entry's 64-byte slot, as SPEC.md "Method entries"
 * lays them out: the instructions with ctx and body baked in, then the trap
 * filler to the end of the slot, for a slot never used, a slot freed and
 * emitted again, and a slot of a chunk reused from a destroyed heap. */
static void check_entry_slot(const uint8_t *e, const void *body, const void *ctx)
{
    uint64_t c = (uint64_t)(uintptr_t)ctx, b = (uint64_t)(uintptr_t)body;
    uint8_t want[64];
#if defined(__aarch64__)
    static const uint32_t code[8] = {0xAA0403E5, 0xAA0303E4, 0xAA0203E3, 0xAA0103E2,
                                     0xAA0003E1, 0x58000060, 0x58000089, 0xD61F0120};
    memcpy(want, code, 32);
    memcpy(want + 32, &c, 8);
    memcpy(want + 40, &b, 8);
    for (size_t i = 48; i < 64; i += 4) {
        uint32_t brk = 0xD43E0000; /* brk #0xf000 */
        memcpy(want + i, &brk, 4);
    }
#else
    static const uint8_t code[17] = {0x4D, 0x89, 0xC1, 0x49, 0x89, 0xC8, 0x48, 0x89, 0xD1,
                                     0x48, 0x89, 0xF2, 0x48, 0x89, 0xFE, 0x48, 0xBF};
    memcpy(want, code, 17);
    memcpy(want + 17, &c, 8);
    want[25] = 0x49;
    want[26] = 0xBB;
    memcpy(want + 27, &b, 8);
    want[35] = 0x41;
    want[36] = 0xFF;
    want[37] = 0xE3;
    memset(want + 38, 0xCC, 64 - 38); /* int3 */
#endif
    for (size_t i = 0; i < 64; i++)
        ck_assert_msg(e[i] == want[i], "entry %p byte %zu is %02x, SPEC.md \"Method entries\" says %02x",
                      (const void *)e, i, e[i], want[i]);
}

START_TEST(entry_slot_layout)
{
    static const int c1 = 1, c2 = 2, c3 = 3;
    tk_code_heap *h = tk_code_heap_create();
    uint8_t *e1 = tk_emit_entry(h, (void *)body6, &c1);
    uint8_t *e2 = tk_emit_entry(h, (void *)target16, &c2);
    ck_assert_ptr_nonnull(e1);
    ck_assert_ptr_nonnull(e2);
    check_entry_slot(e1, (void *)body6, &c1);
    check_entry_slot(e2, (void *)target16, &c2);
    /* freed: the whole slot is the trap filler */
    ck_assert_int_eq(tk_code_free(h, e1), 0);
    for (size_t i = 0; i < 64; i += 4) {
#if defined(__aarch64__)
        uint32_t w;
        memcpy(&w, e1 + i, 4);
        ck_assert_msg(w == 0xD43E0000, "freed entry word %zu is %08x", i / 4, w);
#else
        ck_assert_msg(e1[i] == 0xCC && e1[i + 1] == 0xCC && e1[i + 2] == 0xCC && e1[i + 3] == 0xCC,
                      "freed entry byte %zu..%zu not int3", i, i + 3);
#endif
    }
    uint8_t *e3 = tk_emit_entry(h, (void *)body6, &c3);
    ck_assert_ptr_eq(e3, e1);
    check_entry_slot(e3, (void *)body6, &c3);
    check_entry_slot(e2, (void *)target16, &c2); /* the neighbour untouched */
    tk_code_heap_destroy(h);
    /* a chunk reused from the destroyed heap */
    h = tk_code_heap_create();
    uint8_t *e4 = tk_emit_entry(h, (void *)target16, &c1), *e5 = tk_emit_entry(h, (void *)body6, &c2);
    check_entry_slot(e4, (void *)target16, &c1);
    check_entry_slot(e5, (void *)body6, &c2);
    /* ctx is opaque: every one of its 64 bits is baked in and given back
     * (arch.h: tk_emitted_ctx returns the ctx given to tk_emit_entry) */
    static const uintptr_t odd[2] = {(uintptr_t)0xA1B2C3D4E5F60718ULL, (uintptr_t)0x8000000000000001ULL};
    for (int i = 0; i < 2; i++) {
        uint8_t *e = tk_emit_entry(h, (void *)body6, (const void *)odd[i]);
        ck_assert_ptr_nonnull(e);
        check_entry_slot(e, (void *)body6, (const void *)odd[i]);
        ck_assert_int_eq(tk_classify(e), TK_ADDR_EMITTED);
        ck_assert_msg((uintptr_t)tk_emitted_ctx(e) == odd[i], "ctx %#lx given back as %p", (unsigned long)odd[i],
                      tk_emitted_ctx(e));
    }
    tk_code_heap_destroy(h);
}
END_TEST

START_TEST(no_wx_mappings)
{
    tk_stub_heap *hs[3] = {tk_stub_heap_create(TK_STUB_PRECODE), tk_stub_heap_create(TK_STUB_FIXUP),
                           tk_stub_heap_create(TK_STUB_CALLCOUNT)};
    static uint16_t cell = 100;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 1000; i++) /* > one page of every kind */
            ck_assert_ptr_nonnull(tk_stub_alloc(hs[k], k == 2 ? (void *)&cell : NULL,
                                                (void *)target16));
    tk_code_heap *ch = tk_code_heap_create();
    static const int c = 0;
    ck_assert_ptr_nonnull(tk_emit_entry(ch, (void *)body6, &c));
    char line[512];
    int n = tk_wx_violations(line, sizeof line);
    ck_assert_msg(n == 0, "W+X mapping: %s", line);
    tk_code_heap_destroy(ch);
    for (int k = 0; k < 3; k++)
        tk_stub_heap_destroy(hs[k]);
}
END_TEST

/* ---- classification ------------------------------------------------------------ */

START_TEST(classify_exact)
{
    tk_stub_heap *hp = tk_stub_heap_create(TK_STUB_PRECODE);
    tk_stub_heap *hf = tk_stub_heap_create(TK_STUB_FIXUP);
    tk_stub_heap *hc = tk_stub_heap_create(TK_STUB_CALLCOUNT);
    tk_code_heap *ch = tk_code_heap_create();
    static uint16_t cell = 9;
    static const int ctx = 3;
    void *p = tk_stub_alloc(hp, NULL, tk_prestub_entry());
    void *f = tk_stub_alloc(hf, NULL, tk_prestub_entry());
    void *c = tk_stub_alloc(hc, &cell, (void *)target16);
    void *p2 = tk_stub_alloc(hp, NULL, (void *)target16);
    void *e = tk_emit_entry(ch, (void *)body6, &ctx);
    int local;
    void *heap = malloc(32);

    ck_assert_int_eq(tk_classify(p), TK_ADDR_PRECODE);
    ck_assert_int_eq(tk_classify(p2), TK_ADDR_PRECODE);
    ck_assert_int_eq(tk_classify(f), TK_ADDR_FIXUP);
    ck_assert_int_eq(tk_classify(c), TK_ADDR_CALLCOUNT);
    ck_assert_int_eq(tk_classify(e), TK_ADDR_EMITTED);
    ck_assert_int_eq(tk_classify(tk_prestub_entry()), TK_ADDR_PRESTUB);
    ck_assert_int_eq(tk_classify(tk_threshold_entry()), TK_ADDR_THRESHOLD);

    /* retargeting does not change the kind */
    tk_stub_set_target(f, (void *)target16);
    ck_assert_int_eq(tk_classify(f), TK_ADDR_FIXUP);

    /* not on a boundary, data page, never-allocated slot, foreign memory */
    ck_assert_int_eq(tk_classify((char *)p + 1), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify((char *)p + 8), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify((char *)f + tk_fixup_entry_offset()), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify((char *)c + 4), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify((char *)e + 4), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify((char *)e + 64), TK_ADDR_UNKNOWN); /* not yet emitted */
    ck_assert_int_eq(tk_classify(tk_stub_data(p)), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify(tk_stub_data(c)), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify((char *)c + 2 * tk_stub_size(TK_STUB_CALLCOUNT)),
                     TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify(&local), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify(heap), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify((void *)target16), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify(tk_freed_stub_entry()), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify(NULL), TK_ADDR_UNKNOWN);

    /* freed stubs of every kind */
    tk_stub_free(hp, p);
    tk_stub_free(hf, f);
    tk_stub_free(hc, c);
    ck_assert_int_eq(tk_classify(p), TK_ADDR_FREED_STUB);
    ck_assert_int_eq(tk_classify(f), TK_ADDR_FREED_STUB);
    ck_assert_int_eq(tk_classify(c), TK_ADDR_FREED_STUB);
    ck_assert_int_eq(tk_classify(p2), TK_ADDR_PRECODE);

    /* reallocation reuses the freed slot and it is live again */
    void *p3 = tk_stub_alloc(hp, NULL, (void *)target16);
    ck_assert_ptr_eq(p3, p);
    ck_assert_int_eq(tk_classify(p3), TK_ADDR_PRECODE);

    /* destroyed heaps: addresses become unknown (and are not read) */
    tk_stub_heap_destroy(hp);
    tk_code_heap_destroy(ch);
    ck_assert_int_eq(tk_classify(p3), TK_ADDR_UNKNOWN);
    ck_assert_int_eq(tk_classify(e), TK_ADDR_UNKNOWN);
    ck_assert_ptr_null(tk_emitted_ctx(e));
    tk_stub_heap_destroy(hf);
    tk_stub_heap_destroy(hc);
    free(heap);
}
END_TEST

/* ---- freed-stub trap, prefill, accounting ------------------------------------ */

static long trap_landing(long x) { return x * 3; }

START_TEST(freed_stub_traps)
{
    reset_counters();
    g_h_return = (void *)trap_landing;
    tk_set_freed_stub_handler(counting_handler);
    tk_stub_kind kinds[3] = {TK_STUB_PRECODE, TK_STUB_FIXUP, TK_STUB_CALLCOUNT};
    static uint16_t cell = 50;
    for (int k = 0; k < 3; k++) {
        tk_stub_heap *h = tk_stub_heap_create(kinds[k]);
        void *s = tk_stub_alloc(h, kinds[k] == TK_STUB_CALLCOUNT ? (void *)&cell : NULL,
                                (void *)race_a);
        tk_stub_set_target(s, (void *)race_a);
        tk_stub_free(h, s);
        ck_assert_ptr_eq(tk_stub_target(s), kinds[k] == TK_STUB_FIXUP
                                                ? (void *)((char *)s + tk_fixup_entry_offset())
                                                : tk_freed_stub_entry());
        int before = atomic_load(&g_h_calls);
        ck_assert_int_eq(((long (*)(long))s)(7), 21);
        ck_assert_int_eq(atomic_load(&g_h_calls), before + 1);
        if (kinds[k] != TK_STUB_CALLCOUNT)
            ck_assert_ptr_eq(g_h_token, s); /* freed precodes deliver their own address */
        tk_stub_heap_destroy(h);
    }
    tk_set_freed_stub_handler(NULL);
}
END_TEST

/* ---- page groups released when they empty (`stub.page-release`) ---------------- */

/* Permissions of the mapping holding `addr` per /proc/self/maps ("r-xp"),
 * or "" if no mapping holds it. */
static void maps_perms(const void *addr, char perms[5])
{
    perms[0] = '\0';
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    char buf[1024];
    while (fgets(buf, sizeof buf, f)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(buf, "%lx-%lx %4s", &lo, &hi, p) == 3 && (uintptr_t)addr >= lo &&
            (uintptr_t)addr < hi) {
            memcpy(perms, p, 5);
            break;
        }
    }
    fclose(f);
}

START_TEST(page_groups_released)
{
    reset_counters();
    g_h_return = (void *)trap_landing;
    tk_set_freed_stub_handler(counting_handler);
    const size_t P = tk_stub_page_size();
    size_t pool_max = TK_STUB_POOL_BYTES / (2 * P);
    if (pool_max == 0)
        pool_max = 1;
    const size_t G = pool_max + 3; /* more groups than the pool keeps */
    tk_stub_kind kinds[3] = {TK_STUB_PRECODE, TK_STUB_FIXUP, TK_STUB_CALLCOUNT};
    static uint16_t cell = 50;
    for (int k = 0; k < 3; k++) {
        size_t sz = tk_stub_size(kinds[k]), per = P / sz, n = G * per;
        void *tok = kinds[k] == TK_STUB_CALLCOUNT ? (void *)&cell : NULL;
        tk_stub_heap *h = tk_stub_heap_create(kinds[k]);
        void **v = calloc(n, sizeof *v);
        for (size_t i = 0; i < n; i++)
            ck_assert_ptr_nonnull(v[i] = tk_stub_alloc(h, tok, (void *)target16));
        ck_assert_uint_eq(tk_stub_heap_mapped_bytes(h), G * 2 * P);

        /* Half of group 0 freed: the group stays (it has live stubs) and its
         * freed slots are reused before anything new is mapped. */
        for (size_t i = 0; i < per; i += 2)
            tk_stub_free(h, v[i]);
        ck_assert_uint_eq(tk_stub_heap_mapped_bytes(h), G * 2 * P);
        for (size_t i = 0; i < per; i += 2) {
            void *s = tk_stub_alloc(h, tok, (void *)target16);
            ck_assert(s >= v[0] && (char *)s < (char *)v[0] + P);
            ck_assert_int_eq(((size_t)((char *)s - (char *)v[0])) % (2 * sz), 0);
            v[i] = s;
        }
        ck_assert_uint_eq(tk_stub_heap_mapped_bytes(h), G * 2 * P);

        /* Everything freed: the heap holds no group; at most the pool's bound
         * stays mapped, the rest went back to the OS. */
        for (size_t i = 0; i < n; i++)
            tk_stub_free(h, v[i]);
        ck_assert_uint_eq(tk_stub_heap_live_bytes(h), 0);
        ck_assert_uint_eq(tk_stub_heap_mapped_bytes(h), 0);
        ck_assert_uint_le(tk_stub_pool_bytes(kinds[k]), pool_max * 2 * P);
        size_t still = 0;
        for (size_t g = 0; g < G; g++) {
            char *code = v[g * per];
            char pc[5], pd[5];
            maps_perms(code, pc);
            maps_perms(code + P, pd);
            if (!pc[0]) {
                ck_assert_msg(!pd[0], "group %zu: code page unmapped, data page %s", g, pd);
                continue;
            }
            still++;
            /* a pooled group: same protections as ever (`stub.wx`), its
             * slots still recognised as freed and still trapping */
            ck_assert_str_eq(pc, "r-xp");
            ck_assert_str_eq(pd, "rw-p");
            ck_assert_int_eq(tk_classify(code), TK_ADDR_FREED_STUB);
            int before = atomic_load(&g_h_calls);
            ck_assert_int_eq(((long (*)(long))code)(7), 21);
            ck_assert_int_eq(atomic_load(&g_h_calls), before + 1);
        }
        ck_assert_uint_le(still, pool_max);
        ck_assert_uint_ge(still, 1);
        char line[512];
        ck_assert_msg(tk_wx_violations(line, sizeof line) == 0, "W+X mapping: %s", line);

        /* Another heap of the kind takes a pooled group (no new mapping),
         * back in its never-allocated state. */
        size_t pool_before = tk_stub_pool_bytes(kinds[k]);
        tk_stub_heap *h2 = tk_stub_heap_create(kinds[k]);
        void *s = tk_stub_alloc(h2, tok, (void *)target16);
        ck_assert_uint_eq(tk_stub_pool_bytes(kinds[k]), pool_before - 2 * P);
        ck_assert_int_eq(tk_classify(s), kinds[k] == TK_STUB_PRECODE ? TK_ADDR_PRECODE
                                         : kinds[k] == TK_STUB_FIXUP ? TK_ADDR_FIXUP
                                                                     : TK_ADDR_CALLCOUNT);
        ck_assert_int_eq(tk_classify((char *)s + sz), TK_ADDR_UNKNOWN); /* not yet allocated */
        if (kinds[k] == TK_STUB_FIXUP) {
            tk_fixup_data *nd = tk_stub_data((char *)s + sz);
            ck_assert_ptr_eq(nd->target, (char *)s + sz); /* `stub.fixup-prefill` again */
        }
        tk_stub_heap_destroy(h2);
        tk_stub_heap_destroy(h);
        free(v);
    }
    tk_set_freed_stub_handler(NULL);
}
END_TEST

/* A destroyed code heap's chunk is reused by the next heap: same mapping,
 * never writable through its executable view, old entries forgotten and
 * overwritten with trapping code until emitted again. */
START_TEST(code_chunks_reused)
{
    static const int c1 = 1, c2 = 2;
    tk_code_heap *h1 = tk_code_heap_create();
    void *e1 = tk_emit_entry(h1, (void *)body6, &c1);
    ck_assert_ptr_nonnull(e1);
    tk_code_heap_destroy(h1);
    ck_assert_int_eq(tk_classify(e1), TK_ADDR_UNKNOWN);
    char perms[5];
    maps_perms(e1, perms);
    ck_assert_str_eq(perms, "r-xs"); /* pooled, still mapped read-execute */
    ck_assert(!tk_emitted_ctx(e1));
    tk_code_heap *h2 = tk_code_heap_create();
    void *e2 = tk_emit_entry(h2, (void *)body6, &c2);
    ck_assert_ptr_eq(e2, e1);
    ck_assert_int_eq(tk_classify(e2), TK_ADDR_EMITTED);
    ck_assert_ptr_eq(tk_emitted_ctx(e2), &c2);
    ck_assert_int_eq(tk_classify((char *)e2 + 64), TK_ADDR_UNKNOWN); /* not yet emitted */
    atomic_store(&g_body_bad, 0);
    ck_assert_int_eq(((entry5_t)e2)(10, -20, 30, 0x40000000000L, 50), 70 + 2000);
    ck_assert_int_eq(atomic_load(&g_body_bad), 0);
    char line[512];
    ck_assert_msg(tk_wx_violations(line, sizeof line) == 0, "W+X mapping: %s", line);
    tk_code_heap_destroy(h2);
}
END_TEST

/* A freed entry traps (its bytes are the trap filler), is no longer
 * classified as an entry nor yields its ctx, and is the next entry emitted
 * (the runtime frees unloaded methods' code: the heap stops growing); the
 * used bytes go down and up by one slot; a second free of it, or a free of
 * a non-entry, is refused. */
START_TEST(code_entry_freed_and_reused)
{
    static const int c1 = 1, c2 = 2, c3 = 3;
    tk_code_heap *h = tk_code_heap_create();
    void *e1 = tk_emit_entry(h, (void *)body6, &c1);
    void *e2 = tk_emit_entry(h, (void *)body6, &c2);
    ck_assert_ptr_nonnull(e1);
    ck_assert_ptr_nonnull(e2);
    size_t used = tk_code_heap_used_bytes(h);
    ck_assert_int_eq(tk_code_free(h, e1), 0);
    ck_assert_uint_lt(tk_code_heap_used_bytes(h), used);
    ck_assert_int_eq(tk_classify(e1), TK_ADDR_UNKNOWN);
    ck_assert(!tk_emitted_ctx(e1));
    ck_assert_int_eq(tk_code_free(h, e1), -1);                 /* not live any more */
    ck_assert_int_eq(tk_code_free(h, (char *)e2 + 8), -1);     /* not an entry start */
    static const int other;
    ck_assert_int_eq(tk_code_free(h, (void *)&other), -1);     /* not in this heap */
    ck_assert_int_eq(tk_classify(e2), TK_ADDR_EMITTED);        /* its neighbour untouched */
    void *e3 = tk_emit_entry(h, (void *)body6, &c3);
    ck_assert_ptr_eq(e3, e1);
    ck_assert_uint_eq(tk_code_heap_used_bytes(h), used);
    ck_assert_int_eq(tk_classify(e3), TK_ADDR_EMITTED);
    ck_assert_ptr_eq(tk_emitted_ctx(e3), &c3);
    atomic_store(&g_body_bad, 0);
    ck_assert_int_eq(((entry5_t)e3)(10, -20, 30, 0x40000000000L, 50), 70 + 3000);
    ck_assert_int_eq(((entry5_t)e2)(10, -20, 30, 0x40000000000L, 50), 70 + 2000);
    ck_assert_int_eq(atomic_load(&g_body_bad), 0);
    /* churn: 5000 emit/free pairs use one slot */
    void *first = NULL;
    for (int i = 0; i < 5000; i++) {
        void *e = tk_emit_entry(h, (void *)body6, &c1);
        ck_assert_ptr_nonnull(e);
        if (!first) first = e;
        ck_assert_ptr_eq(e, first);
        ck_assert_int_eq(tk_code_free(h, e), 0);
    }
    char line[512];
    ck_assert_msg(tk_wx_violations(line, sizeof line) == 0, "W+X mapping: %s", line);
    tk_code_heap_destroy(h);
}
END_TEST

START_TEST(fixup_prefill_and_accounting)
{
    size_t P = tk_stub_page_size();
    ck_assert_uint_ge(P, 16384);
    ck_assert_uint_eq(P % 16384, 0);
    tk_stub_heap *h = tk_stub_heap_create(TK_STUB_FIXUP);
    size_t sz = tk_stub_size(TK_STUB_FIXUP);
    ck_assert_uint_eq(sz, 24);
    void *s = tk_stub_alloc(h, NULL, tk_prestub_entry());
    ck_assert_uint_eq(tk_stub_heap_live_bytes(h), 2 * sz);
    /* the next, never allocated slot spins on itself (`stub.fixup-prefill`) */
    char *next = (char *)s + sz;
    tk_fixup_data *nd = tk_stub_data(next);
    ck_assert_ptr_eq(nd->target, next);
    /* the allocated one points to its own fixup entry */
    tk_fixup_data *d = tk_stub_data(s);
    ck_assert_ptr_eq(d->target, (char *)s + tk_fixup_entry_offset());
    ck_assert_ptr_eq(d->fixup_target, tk_prestub_entry());
    tk_stub_free(h, s);
    ck_assert_uint_eq(tk_stub_heap_live_bytes(h), 0);

    /* many allocations span pages; all distinct, all live */
    size_t n = 2 * (P / sz) + 5;
    void **v = calloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = tk_stub_alloc(h, (void *)i, tk_prestub_entry());
        ck_assert_ptr_nonnull(v[i]);
        ck_assert_ptr_eq(tk_stub_token(v[i]), (void *)i);
    }
    ck_assert_uint_eq(tk_stub_heap_live_bytes(h), 2 * sz * n);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(tk_classify(v[i]), TK_ADDR_FIXUP);
    free(v);
    tk_stub_heap_destroy(h);

    ck_assert_uint_eq(tk_stub_size(TK_STUB_PRECODE), 24);
#if defined(__aarch64__)
    ck_assert_uint_eq(tk_stub_size(TK_STUB_CALLCOUNT), 40);
    ck_assert_uint_eq(tk_fixup_entry_offset(), 8);
#else
    ck_assert_uint_eq(tk_stub_size(TK_STUB_CALLCOUNT), 24);
    ck_assert_uint_eq(tk_fixup_entry_offset(), 6);
#endif
}
END_TEST

/* ---- SPEC drift: template bytes == SPEC.md tables -------------- */

/* The doc marks each table with a line
 *     <!-- tk-template ARCH KIND -->
 * followed by a markdown table "| off | bytes | instruction |".  A bytes
 * cell holds space-separated tokens: two hex digits = one byte, eight hex
 * digits = one little-endian 32-bit instruction word.  The off column must
 * equal the running byte count. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* Returns the number of bytes parsed into out, or -1 (with msg) on error. */
static int parse_table(const char *doc, const char *arch, const char *kind, uint8_t *out,
                       size_t cap, char *msg, size_t msglen)
{
    char marker[128];
    snprintf(marker, sizeof marker, "<!-- tk-template %s %s -->", arch, kind);
    const char *p = strstr(doc, marker);
    if (!p) {
        snprintf(msg, msglen, "marker '%s' not found", marker);
        return -1;
    }
    p = strchr(p, '\n');
    size_t n = 0;
    int rows = 0;
    while (p && *p) {
        p++;
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        char line[512];
        if (ll >= sizeof line)
            ll = sizeof line - 1;
        memcpy(line, p, ll);
        line[ll] = '\0';
        p = eol;
        if (line[0] != '|') {
            if (rows == 0 && line[0] == '\0')
                continue;
            break;
        }
        rows++;
        /* split cells */
        char *cells[4] = {0};
        int nc = 0;
        char *c = line + 1;
        while (nc < 4 && c && *c) {
            char *bar = strchr(c, '|');
            if (bar)
                *bar = '\0';
            cells[nc++] = c;
            c = bar ? bar + 1 : NULL;
        }
        if (nc < 3)
            continue;
        char *offc = cells[0];
        while (*offc == ' ')
            offc++;
        if (*offc < '0' || *offc > '9')
            continue; /* header or separator row */
        long off = strtol(offc, NULL, 10);
        if ((size_t)off != n) {
            snprintf(msg, msglen, "%s %s: row offset %ld but %zu bytes so far", arch, kind, off, n);
            return -1;
        }
        char *save = NULL;
        for (char *t = strtok_r(cells[1], " `", &save); t; t = strtok_r(NULL, " `", &save)) {
            size_t tl = strlen(t);
            char *end;
            unsigned long v = strtoul(t, &end, 16);
            if (*end != '\0' || (tl != 2 && tl != 8)) {
                snprintf(msg, msglen, "%s %s: bad token '%s'", arch, kind, t);
                return -1;
            }
            size_t nb = tl / 2;
            if (n + nb > cap) {
                snprintf(msg, msglen, "%s %s: table too long", arch, kind);
                return -1;
            }
            for (size_t i = 0; i < nb; i++)
                out[n++] = (uint8_t)(v >> (8 * i));
        }
    }
    return (int)n;
}

START_TEST(spec_tables_match_templates)
{
    char *doc = slurp(TK_SOURCE_DIR "/SPEC.md");
    if (!doc)
        doc = slurp("SPEC.md");
    ck_assert_msg(doc != NULL, "cannot read SPEC.md");
    if (tk_stub_page_size() != 16384) {
        /* the documented arm64 tables are the 16 KiB variant */
        free(doc);
        return;
    }
    static const struct {
        tk_stub_kind k;
        const char *name;
    } kinds[3] = {{TK_STUB_PRECODE, "StubPrecode"},
                  {TK_STUB_FIXUP, "FixupPrecode"},
                  {TK_STUB_CALLCOUNT, "CallCountingStub"}};
    for (int i = 0; i < 3; i++) {
        uint8_t buf[128];
        char msg[256] = "";
        int n = parse_table(doc, ARCH_NAME, kinds[i].name, buf, sizeof buf, msg, sizeof msg);
        ck_assert_msg(n >= 0, "%s", msg);
        size_t len;
        const uint8_t *t = tk_stub_template(kinds[i].k, &len);
        ck_assert_ptr_nonnull(t);
        ck_assert_msg((size_t)n == len, "%s: doc has %d bytes, template %zu", kinds[i].name, n,
                      len);
        for (size_t j = 0; j < len; j++)
            ck_assert_msg(buf[j] == t[j], "%s byte %zu: doc %02x template %02x", kinds[i].name, j,
                          buf[j], t[j]);
    }
    free(doc);
}
END_TEST

/* ------------------------------------------------------------------------------ */

TCase *tcase_faults(void);                /* test_faults.c */
TCase *tcase_model(void);                 /* test_model.c */
TCase *tcase_contract(void);              /* test_contract.c */
void tkf_check_lock_discipline(void);

static Suite *arch_suite(void)
{
    Suite *s = suite_create("arch-" ARCH_NAME);
    TCase *tc = tcase_create("stubs");
    tcase_set_timeout(tc, 120);
    /* after every test: no arch lock released by a thread that did not
     * take it, none still held (`stub.heap-lock`, fault_seam.c) */
    tcase_add_checked_fixture(tc, NULL, tkf_check_lock_discipline);
    tcase_add_test(tc, precode_to_prestub_args);
    tcase_add_test(tc, fixup_to_prestub_args);
    tcase_add_test(tc, indirect_result_register);
    tcase_add_test(tc, callcount_threshold);
    tcase_add_test(tc, precode_then_callcount_chain);
    tcase_add_test(tc, race_retarget_precode);
    tcase_add_test(tc, race_retarget_fixup);
    tcase_add_test(tc, emit_entry_calls_body);
    tcase_add_test(tc, entry_slot_layout);
    tcase_add_test(tc, no_wx_mappings);
    tcase_add_test(tc, classify_exact);
    tcase_add_test(tc, freed_stub_traps);
    tcase_add_test(tc, page_groups_released);
    tcase_add_test(tc, code_chunks_reused);
    tcase_add_test(tc, code_entry_freed_and_reused);
    tcase_add_test(tc, fixup_prefill_and_accounting);
    tcase_add_test(tc, spec_tables_match_templates);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tcase_faults());
    suite_add_tcase(s, tcase_model());
    suite_add_tcase(s, tcase_contract());
    return s;
}

int tk_arch_death_case(const char *name); /* test_contract.c */

int main(int argc, char **argv)
{
    /* a child of test_contract.c's death checks */
    if (argc == 3 && !strcmp(argv[1], "--death"))
        return tk_arch_death_case(argv[2]);
    SRunner *sr = srunner_create(arch_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
