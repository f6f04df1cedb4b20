/* conformance/tests/test_lifecycle.c — what a runtime gives back, and that
 * every operation can be repeated (`inv.lifetime.destroy-releases`,
 * `inv.lifetime.repeatable`).
 *
 * The process is the observer: threads (/proc/self/task), file descriptors
 * (/proc/self/fd), mappings (/proc/self/maps) and malloc's bytes in use
 * (mallinfo2, every arena).  An implementation may keep bounded process-wide
 * caches, so the rule is a steady state: after warm-up cycles, further
 * identical create/use/destroy cycles leave none of these above the level
 * of the warm-up.  Each cycle runs a whole life: interfaces, inheritance,
 * several non-virtual methods, more methods than one stub page holds (1,200),
 * counting, promotion, stub deletion, a code version, unload and reuse of
 * the freed code, and destroy with work still pending; a lock an operation forgets to release hangs the next
 * cycle (TIMEOUT). */
#include "fixture.h"

#include <dirent.h>
#include <malloc.h>
#include <time.h>
#include <unistd.h>

/* Wide enough that precodes and counting stubs need more than one stub
 * page of the reference (16 KiB; on 64 KiB arm64 guests only one). */
#define LC_NV 1200u
#define LC_NM 4u
#define LC_ID_A 1000         /* A's virtual i: LC_ID_A + i */
#define LC_ID_AN 500         /* A's non-virtual i */
#define LC_ID_B 520          /* B's overrides of slots 1 and 2, then B's non-virtuals */
#define LC_ID_I 540          /* interface methods (abstract, never called) */
#define LC_ID_C 560          /* C's methods */

#define LC_TCACHE_SIZES 65   /* 16 .. 1040 bytes: every glibc tcache bin */
#define LC_TCACHE 8          /* more than a bin holds (7 by default)  */

/* Cycles measured after the warm-up, and what malloc's bytes in use may
 * grow by over all of them (an array that doubles once, allocator noise):
 * a leak of a few hundred bytes per cycle exceeds it. */
#define LC_MEASURED 6
#define LC_HEAP_SLACK 4096u

typedef struct {
    long threads, fds, maps;
    unsigned long long mapped, heap;
} lc_res;

static long lc_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static lc_res lc_measure(void)
{
    lc_res r = { lc_dir_entries("/proc/self/task"), lc_dir_entries("/proc/self/fd"), 0, 0, 0 };
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_msg(f != NULL, "cannot read /proc/self/maps");
    char line[1024];
    unsigned long long brk = (unsigned long long)(uintptr_t)sbrk(0);
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        /* malloc's own heap grows and shrinks with brk (qemu-user does not
         * label it [heap]): what it holds is measured below, by bytes in use */
        if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 && !strstr(line, "[heap]") && !(brk > lo && brk <= hi)) {
            r.maps++;
            r.mapped += hi - lo;
        }
    }
    fclose(f);
    /* glibc counts chunks parked in the thread's tcache as in use: take
     * LC_TCACHE of every tcache size out first (the same set each time, so
     * it adds the same constant to every measurement). */
    void *held[LC_TCACHE_SIZES][LC_TCACHE];
    for (int c = 0; c < LC_TCACHE_SIZES; c++)
        for (int k = 0; k < LC_TCACHE; k++) held[c][k] = malloc((size_t)(c + 1) * 16);
    struct mallinfo2 mi = mallinfo2();   /* last: the reads above gave their buffers back */
    r.heap = mi.uordblks + mi.hblkhd;
    for (int c = 0; c < LC_TCACHE_SIZES; c++)
        for (int k = 0; k < LC_TCACHE; k++) free(held[c][k]);
    return r;
}

static tk_method_def lc_av[LC_NV];
static char lc_names[LC_NV][16];
static const tk_method_def lc_an[LC_NM] = { TKT_M("LC.A.n0", LC_ID_AN), TKT_M("LC.A.n1", LC_ID_AN + 1),
                                            TKT_M("LC.A.n2", LC_ID_AN + 2), TKT_M("LC.A.n3", LC_ID_AN + 3) };
static const tk_override_def lc_bo[2] = { { 1, TKT_M("LC.B.v1", LC_ID_B) }, { 2, TKT_M("LC.B.v2", LC_ID_B + 1) } };
static const tk_method_def lc_bn[2] = { TKT_M("LC.B.n0", LC_ID_B + 2), TKT_M("LC.B.n1", LC_ID_B + 3) };
static const tk_method_def lc_im[2] = { { "LC.I.m0", NULL, TKT_ID(LC_ID_I), 0 }, { "LC.I.m1", NULL, TKT_ID(LC_ID_I + 1), 0 } };
static const tk_method_def lc_cv[2] = { TKT_M("LC.C.v0", LC_ID_C), TKT_M("LC.C.v1", LC_ID_C + 1) };
static const tk_method_def lc_cn[1] = { TKT_M("LC.C.n0", LC_ID_C + 2) };

static void lc_init_defs(void)
{
    for (uint32_t i = 0; i < LC_NV; i++) {
        snprintf(lc_names[i], sizeof lc_names[i], "LC.A.v%u", i);
        lc_av[i] = (tk_method_def)TKT_M(lc_names[i], LC_ID_A + (int)i);
    }
}

/* vtable_slot(t, s) without a ck_assert per call (each one is a write(2)
 * to Check's pipe; this file makes tens of thousands of calls). */
static void **lc_vslot(tk_drv_type *t, uint32_t s)
{
    void **p = D->vtable_slot(t, s);
    if (!p) tkt_fail("vtable_slot(%u) is NULL", s);
    return p;
}

/* The id of the body slot s of B runs. */
static int lc_b_id(uint32_t s) { return s == 1 ? LC_ID_B : s == 2 ? LC_ID_B + 1 : LC_ID_A + (int)s; }

typedef struct {
    tk_drv_type *a, *b, *i;
    tk_drv_object *oa, *ob;
} lc_world;

/* Every slot of A once, B's first slots (overridden or not), the
 * interface slots, the non-virtual methods' owning slots. */
static void lc_call_all(lc_world *w, int64_t arg)
{
    for (uint32_t s = 0; s < LC_NV; s++) tkt_call_slot(lc_vslot(w->a, s), w->oa, LC_ID_A + (int)s, arg);
    for (uint32_t s = 0; s < 8; s++) tkt_call_slot(lc_vslot(w->b, s), w->ob, lc_b_id(s), arg);
    for (uint32_t k = 0; k < LC_NM; k++)
        tkt_call_slot(D->method_slot(D->nonvirtual_method(w->a, k)), w->oa, LC_ID_AN + (int)k, arg);
    for (uint32_t k = 0; k < 2; k++)
        tkt_call_slot(D->method_slot(D->nonvirtual_method(w->b, k)), w->ob, LC_ID_B + 2 + (int)k, arg);
    if (w->i)
        for (uint32_t k = 0; k < 2; k++) {
            void **s = D->interface_slot(w->b, w->i, k);
            ck_assert_msg(s != NULL, "interface_slot(B, I, %u) is NULL", k);
            tkt_call_slot(s, w->ob, lc_b_id(k + 1), arg);
        }
}

/* A root class C of two virtuals and a non-virtual: loaded, every method
 * called (compiled) and counting begun, then unloaded and reclaimed. */
static void lc_type_c(tk_drv_runtime *rt, int64_t arg)
{
    tk_type_def cd = { "LC.C", NULL, 0, 2, lc_cv, 0, NULL, 1, lc_cn, 0, NULL };
    tk_drv_type *c = fx_define(rt, &cd, 1);
    tk_drv_object *oc = fx_obj(rt, c);
    for (int r = 0; r < 2; r++) {
        tkt_call_slot(lc_vslot(c, 0), oc, LC_ID_C, arg);
        tkt_call_slot(lc_vslot(c, 1), oc, LC_ID_C + 1, arg);
        tkt_call_slot(D->method_slot(D->nonvirtual_method(c, 0)), oc, LC_ID_C + 2, arg);
        if (!r) tkt_tick(rt, FX_DELAY);
    }
    D->object_free(rt, oc);
    if (D->caps & TK_CAP_TYPE_UNLOAD) {
        ck_assert_msg(D->type_unload(rt, c) == 0, "type_unload(LC.C) failed");
        D->safepoint(rt);
        tkt_tick(rt, FX_DELAY);
        D->safepoint(rt);
        D->drain(rt);
    }
}

/* One life of a runtime (deterministic, or threaded with real clocks). */
static void lc_cycle(int threaded, int64_t arg)
{
    int del = (D->caps & TK_CAP_STUB_DELETION) != 0;
    tk_drv_runtime *rt = threaded
        ? tkt_create("Mode=threaded", "TieredPGO=0", "CallCountingDelayMs=0", "CallCountThreshold=2")
        : tkt_create(FX_DET("2"), del ? "DeleteCallCountingStubsAfter=1" : "DeleteCallCountingStubsAfter=0");
    D->thread_attach(rt);
    lc_world w = { NULL, NULL, NULL, NULL, NULL };
    w.i = fx_iface_if_supported(rt, "LC.I", 2, lc_im);
    tk_iface_impl_def impl[2] = { { w.i, 0, 1 }, { w.i, 1, 2 } };
    tk_type_def ad = { "LC.A", NULL, 0, LC_NV, lc_av, 0, NULL, LC_NM, lc_an, w.i ? 2 : 0, impl };
    w.a = fx_define(rt, &ad, 1);
    tk_type_def bd = { "LC.B", w.a, 0, 0, NULL, 2, lc_bo, 2, lc_bn, 0, NULL };
    w.b = fx_define(rt, &bd, 1);
    w.oa = fx_obj(rt, w.a);
    w.ob = fx_obj(rt, w.b);

    /* First calls, the delay, the threshold's calls, promotion, final code. */
    lc_call_all(&w, arg);
    if (!threaded) tkt_tick(rt, FX_DELAY);
    for (int k = 0; k < 3; k++) lc_call_all(&w, arg);
    D->safepoint(rt);
    D->drain(rt);
    if (!threaded) tkt_tick(rt, FX_DELAY);
    lc_call_all(&w, arg);

    if ((D->caps & TK_CAP_VERSIONING) && tkt_tiers(rt)) {
        tk_drv_method *m = fx_vm(w.a, 0);
        for (int k = 0; k < 2; k++) {
            int64_t v = D->version_request(rt, m);
            ck_assert_msg(v > 0, "version_request(LC.A.v0) returned %lld (cycle step %d)", (long long)v, k);
            tkt_call_slot(lc_vslot(w.a, 0), w.oa, LC_ID_A, arg);
            ck_assert_msg(D->version_revert(rt, m) == 0, "version_revert(LC.A.v0) failed (step %d)", k);
            tkt_call_slot(lc_vslot(w.a, 0), w.oa, LC_ID_A, arg);
        }
    }
    if (!threaded) lc_type_c(rt, arg);
    D->object_free(rt, w.ob);
    if (D->caps & TK_CAP_TYPE_UNLOAD) {
        ck_assert_msg(D->type_unload(rt, w.b) == 0, "type_unload(LC.B) failed");
        D->safepoint(rt);
        D->drain(rt);
        if (!threaded) tkt_tick(rt, FX_DELAY);
        for (uint32_t s = 0; s < 4; s++) tkt_call_slot(lc_vslot(w.a, s), w.oa, LC_ID_A + (int)s, arg);
    }
    if (!threaded) lc_type_c(rt, arg);     /* compiles into code freed by the unloads */
    /* The life ends with work under way: methods that reached their
     * threshold (completion and promotion pending) and a delay running. */
    tk_type_def ed = { "LC.E", NULL, 0, 2, lc_cv, 0, NULL, 1, lc_cn, 0, NULL };
    tk_drv_type *e = fx_define(rt, &ed, 1);
    tk_drv_object *oe = fx_obj(rt, e);
    tkt_call_slot(lc_vslot(e, 0), oe, LC_ID_C, arg);
    tkt_call_slot(lc_vslot(e, 1), oe, LC_ID_C + 1, arg);
    if (!threaded) D->clock_advance(rt, FX_DELAY);
    D->drain(rt);
    for (int k = 0; k < 3; k++) tkt_call_slot(lc_vslot(e, 0), oe, LC_ID_C, arg);
    tkt_call_slot(D->method_slot(D->nonvirtual_method(e, 0)), oe, LC_ID_C + 2, arg);
    D->object_free(rt, oe);
    D->object_free(rt, w.oa);
    D->thread_detach(rt);
    tkt_destroy(rt);
}

/* A joined thread can still be listed for a moment: the kernel (and
 * qemu-user's emulated thread exit) wakes the joiner before the task
 * leaves /proc/self/task.  A thread a destroyed runtime left running stays
 * listed; one that is exiting is given up to a second to go. */
static long lc_threads_settled(long base)
{
    long n = lc_dir_entries("/proc/self/task");
    for (int i = 0; i < 100 && n > base; i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        n = lc_dir_entries("/proc/self/task");
    }
    return n;
}

static void lc_check_steady(const char *what, lc_res base, lc_res now, int cycles)
{
    now.threads = lc_threads_settled(base.threads);
    ck_assert_msg(now.threads <= base.threads,
                  "inv.lifetime.destroy-releases: %s: %ld threads after %d more create/use/destroy cycles, %ld "
                  "after the warm-up (a destroyed runtime left a thread running)",
                  what, now.threads, cycles, base.threads);
    ck_assert_msg(now.fds <= base.fds,
                  "inv.lifetime.destroy-releases: %s: %ld open file descriptors after %d more cycles, %ld after "
                  "the warm-up",
                  what, now.fds, cycles, base.fds);
    ck_assert_msg(now.maps <= base.maps && now.mapped <= base.mapped,
                  "inv.lifetime.destroy-releases: %s: %ld mappings / %llu bytes mapped after %d more cycles, "
                  "%ld / %llu after the warm-up (stub or code pages not given back)",
                  what, now.maps, now.mapped, cycles, base.maps, base.mapped);
    ck_assert_msg(now.heap <= base.heap + LC_HEAP_SLACK,
                  "inv.lifetime.destroy-releases: %s: malloc has %llu bytes in use after %d more cycles, %llu "
                  "after the warm-up (%llu bytes per cycle; %u allowed in all for caches that grow once)",
                  what, now.heap, cycles, base.heap, (now.heap - base.heap) / (unsigned)cycles, LC_HEAP_SLACK);
}

/* inv.lifetime.destroy-releases, inv.lifetime.repeatable: warm-up cycles,
 * then LC_MEASURED more; nothing the process can see may have grown. */
static void lc_run(int threaded)
{
    lc_init_defs();
    (void)lc_measure();                  /* the measurement's own buffers */
    lc_cycle(threaded, 1);
    lc_cycle(threaded, 2);
    lc_res base = lc_measure();
    for (int k = 0; k < LC_MEASURED; k++) lc_cycle(threaded, 3 + k);
    lc_check_steady(threaded ? "threaded mode" : "deterministic mode", base, lc_measure(), LC_MEASURED);
}

TK_TEST(lifetime_destroy_releases, "inv.lifetime.destroy-releases", "inv.lifetime.repeatable",
        "inv.semantics.tier-independent")
{
    tkt_require_caps(TK_CAP_DETERMINISTIC);
    lc_run(0);
}

TK_TEST_F(lifetime_destroy_releases_threaded, TKT_THREADED, "inv.lifetime.destroy-releases",
          "inv.lifetime.repeatable")
{
    tkt_require_caps(TK_CAP_THREADED);
    lc_run(1);
}
