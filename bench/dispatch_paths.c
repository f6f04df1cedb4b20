/* bench/dispatch_paths.c — builds the call paths the benchmarks measure. */
#include "dispatch_paths.h"

#include "arch.h"

#include <stdint.h>
#include <stdio.h>

const char *const tk_bench_path_names[TK_PATH_COUNT] = {
    "direct",
    "fnptr_table",
    "slot_entry",
    "slot_stubprecode_entry",
    "slot_fixupprecode_entry",
    "slot_tep_fixupprecode_callcount_entry",
    "slot_forwarder_fixupprecode_callcount_entry",
};

void *volatile tk_bench_slots[TK_PATH_COUNT];

static tk_stub_heap *g_pre, *g_fix, *g_cc;
static tk_code_heap *g_code;
static uint16_t g_cell1, g_cell2;
/* Not const: plain() must load it as body() loads *ctx (same work). */
static int g_ctx = 1;

__attribute__((noinline)) static long body(const void *ctx, long x)
{
    __asm__ volatile("" ::: "memory");
    return x + *(const int *)ctx;
}

/* The limit: what a table of plain function pointers calls.  The same work
 * as body() (one load, one add) without the runtime's emitted entry. */
__attribute__((noinline)) static long plain(long x)
{
    __asm__ volatile("" ::: "memory");
    return x + g_ctx;
}

__attribute__((noinline)) long tk_bench_direct(long x)
{
    return body(&g_ctx, x);
}

void tk_bench_refill(void)
{
    g_cell1 = 0xFFFF;
    g_cell2 = 0xFFFF;
}

static void *g_entry;

/* Not reached in a measurement (the loops refill every 16K calls); if it
 * is, refill and continue to the entry so the call still completes. */
static void *threshold(void *token, tk_arch_regs *regs)
{
    (void)regs;
    *(uint16_t *)token = 0xFFFF;
    return g_entry;
}

int tk_bench_setup(void)
{
    g_pre = tk_stub_heap_create(TK_STUB_PRECODE);
    g_fix = tk_stub_heap_create(TK_STUB_FIXUP);
    g_cc = tk_stub_heap_create(TK_STUB_CALLCOUNT);
    g_code = tk_code_heap_create();
    if (!g_pre || !g_fix || !g_cc || !g_code)
        return -1;
    tk_set_threshold_handler(threshold);
    tk_bench_refill();
    void *entry = tk_emit_entry(g_code, (void *)body, &g_ctx);
    g_entry = entry;
    void *sp = tk_stub_alloc(g_pre, NULL, entry);
    void *fx = tk_stub_alloc(g_fix, NULL, tk_prestub_entry());
    tk_stub_set_target(fx, entry);
    void *cc1 = tk_stub_alloc(g_cc, &g_cell1, entry);
    void *cc2 = tk_stub_alloc(g_cc, &g_cell2, entry);
    /* As in the reference runtime: the temporary entry point is a
     * FixupPrecode retargeted to the counting stub (precode-reuse, lazy);
     * the per-method forwarder is a second FixupPrecode retargeted to it
     * (forwarder; CoreCLR 10's forwarder is the method's precode type). */
    void *tep = tk_stub_alloc(g_fix, NULL, tk_prestub_entry());
    tk_stub_set_target(tep, cc1);
    void *fwd = tk_stub_alloc(g_fix, NULL, tk_prestub_entry());
    tk_stub_set_target(fwd, cc2);
    if (!entry || !sp || !fx || !cc1 || !cc2 || !tep || !fwd)
        return -1;
    tk_bench_slots[TK_PATH_DIRECT] = (void *)tk_bench_direct;
    tk_bench_slots[TK_PATH_FNPTR_TABLE] = (void *)plain;
    tk_bench_slots[TK_PATH_SLOT_ENTRY] = entry;
    tk_bench_slots[TK_PATH_STUBPRECODE] = sp;
    tk_bench_slots[TK_PATH_FIXUPPRECODE] = fx;
    tk_bench_slots[TK_PATH_TEP_COUNT] = tep;
    tk_bench_slots[TK_PATH_FORWARDER_COUNT] = fwd;
    /* sanity: every path computes x + 1 */
    for (int p = 0; p < TK_PATH_COUNT; p++)
        if (((tk_bench_fn)tk_bench_slots[p])(41) != 42) {
            fprintf(stderr, "bench: path %s is broken\n", tk_bench_path_names[p]);
            return -1;
        }
    return 0;
}

void tk_bench_teardown(void)
{
    tk_stub_heap_destroy(g_pre);
    tk_stub_heap_destroy(g_fix);
    tk_stub_heap_destroy(g_cc);
    tk_code_heap_destroy(g_code);
    tk_set_threshold_handler(NULL);
}

long tk_bench_run(int path, long n)
{
    long acc = 0;
    if (path == TK_PATH_DIRECT) {
        for (long i = 0; i < n; i++) {
            acc += tk_bench_direct(i);
            if ((i & 0x3FFF) == 0x3FFF)
                tk_bench_refill();
        }
        return acc;
    }
    for (long i = 0; i < n; i++) {
        tk_bench_fn f = (tk_bench_fn)tk_bench_slots[path];
        acc += f(i);
        if ((i & 0x3FFF) == 0x3FFF)
            tk_bench_refill();
    }
    return acc;
}
