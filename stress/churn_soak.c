/* stress/churn_soak.c — tk-churn-soak: steady-state memory under continuous
 * type load/unload must plateau (README.md "Reliability").
 *
 * Through the driver ABI only (conformance/tk_driver.h), in deterministic
 * mode (manual clock, synchronous background work): a base type stays
 * loaded; every churn event defines and loads a fresh derived type (all
 * virtual slots overridden, plus non-virtual methods), calls every slot past
 * the call-count threshold and lets tiering finish (promotion, call-counting
 * stub deletion), then unloads the type loaded WINDOW events earlier.  So
 * WINDOW derived types are live at any time, and what an unloaded type had
 * (precodes, stubs, per-type memory) must come back.  Every SAMPLE events it
 * records the resident set size and the live stub bytes.
 *
 * After the warm-up (the first WARMUP% of the events: by default half, so
 * the check compares the state after N events with the state after 2N)
 * the live stub bytes per live type may not vary by more than --tolerance
 * percent, the precodes still allocated may not exceed those of the live
 * types (every unloaded type's precodes came back), and the resident set
 * may not grow by more than --rss-tolerance-kb (default 16 pages: page
 * granularity and allocator slack, while the metadata an unloaded type used
 * to keep, ~6.4 KB per type, would be 19 MB over the 3000 events after the
 * default warm-up, and a leak of 24 bytes per event already exceeds it).
 * The window of live types is constant, so a constant RSS is a constant
 * RSS per live type.  Nothing depends on the wall clock: a fixed number of
 * events in deterministic mode, RSS read from /proc/self/statm.  Exit 1
 * otherwise, with the figures.  --seconds S runs for S seconds instead of a
 * number of * events (the opt-in 5-minute soak; RSS over time into --json). */
#include "tk_driver.h"
#include "cli/numarg.h"
#include "cli/outfile.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { NV = 4, NNV = 2, MAX_WINDOW = 256 };

typedef struct sample { uint64_t event; double t_s; long rss_kb; uint64_t live_stub_bytes, live_types; } sample;

static const tk_driver *D;
static tk_drv_runtime *rt;

static int64_t body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    return a0 + 1;
}

static void die(int code, const char *fmt, const char *a, const char *b)
{
    fputs("tk-churn-soak: ", stderr);
    fprintf(stderr, fmt, a ? a : "", b ? b : "");
    fputc('\n', stderr);
    exit(code);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static uint64_t counter(const char *name)
{
    tk_counter c[128];
    size_t n = D->counters ? D->counters(rt, c, 128) : 0;
    for (size_t i = 0; i < n && i < 128; i++)
        if (c[i].name && !strcmp(c[i].name, name)) return c[i].nonfinal + c[i].final;
    return 0;
}

static void call_slot(void **slot, void *obj, int times)
{
    for (int i = 0; i < times; i++) {
        tk_entry_fn f = (tk_entry_fn)__atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (f(obj, i, 0, 0, 0) != i + 1) die(1, "a call through a slot returned a wrong value%s%s", NULL, NULL);
        D->safepoint(rt);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tk-churn-soak [--impl LIB.so] [--strategy S] [--events N | --seconds S]\n"
               "                     [--window N] [--sample N] [--warmup PCT] [--tolerance PCT]\n"
               "                     [--rss-tolerance-kb N] [--json FILE]\n"
               "  --events N          churn events (default 6000)\n"
               "  --seconds S         run for S seconds instead (the opt-in soak)\n"
               "  --window N          derived types live at once (default 16)\n"
               "  --sample N          events between samples (default 100)\n"
               "  --warmup PCT        samples ignored at the start (default 50: N events vs 2N)\n"
               "  --tolerance PCT     allowed variation of live stub bytes per live type (default 10)\n"
               "  --rss-tolerance-kb N  allowed resident-set growth after warm-up (default 16 pages)\n"
               "  --json FILE         samples and verdict as JSON (schema_version 1)\n"
               "Exit status: 0 memory plateaus, 1 it grows (or a call misbehaved), 2 usage.\n");
}

int main(int argc, char **argv)
{
    const char *impl = NULL, *strategy = "lazy", *json = NULL;
    long page_kb = sysconf(_SC_PAGESIZE) / 1024;
    uint64_t events = 6000, window = 16, every = 100, warm_pct = 50, rss_tol_kb = 16 * (uint64_t)page_kb, seconds = 0;
    double tol_pct = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char why[160];
        uint64_t *u = !strcmp(a, "--events") ? &events : !strcmp(a, "--window") ? &window
                    : !strcmp(a, "--sample") ? &every : !strcmp(a, "--warmup") ? &warm_pct
                    : !strcmp(a, "--rss-tolerance-kb") ? &rss_tol_kb : !strcmp(a, "--seconds") ? &seconds : NULL;
        if (!strcmp(a, "--help")) { usage(stdout); return 0; }
        if ((u || !strcmp(a, "--impl") || !strcmp(a, "--strategy") || !strcmp(a, "--json") ||
             !strcmp(a, "--tolerance")) && !v)
            die(2, "%s needs an argument%s", a, NULL);
        if (u) {
            uint64_t max = u == &window ? MAX_WINDOW : u == &warm_pct ? 90 : 100000000;
            if (tk_arg_u64(v, u == &rss_tol_kb ? 0 : 1, max, u, why, sizeof why)) die(2, "%s: %s", a, why);
            i++;
        } else if (!strcmp(a, "--tolerance")) {
            if (tk_arg_double(v, 0, 1000, &tol_pct, why, sizeof why)) die(2, "--tolerance: %s%s", why, NULL);
            i++;
        } else if (!strcmp(a, "--impl")) impl = argv[++i];
        else if (!strcmp(a, "--strategy")) strategy = argv[++i];
        else if (!strcmp(a, "--json")) json = argv[++i];
        else die(2, "unknown argument '%s' (see --help)%s", a, NULL);
    }
    if (json && tk_out_check("tk-churn-soak", "--json", json)) return 2;
    char implbuf[PATH_MAX + 64];
    if (!impl) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(implbuf, sizeof implbuf, "%s/../lib/libtk_ref_driver.so", exe);
        impl = implbuf;
    }
    void *h = dlopen(impl, RTLD_NOW | RTLD_LOCAL);
    if (!h) die(2, "cannot load --impl: %s%s", dlerror(), NULL);
    tk_driver_entry_fn entry = (tk_driver_entry_fn)dlsym(h, TK_DRIVER_ENTRY_SYMBOL);
    if (!entry || !(D = entry()) || D->abi_version != TK_DRIVER_ABI_VERSION)
        die(2, "'%s' is not a driver of ABI v1%s", impl, NULL);
    const uint64_t need = TK_CAP_DETERMINISTIC | TK_CAP_TYPE_UNLOAD | TK_CAP_COUNTERS;
    if ((D->caps & need) != need || !D->type_unload || !D->counters || !D->object_new || !D->nonvirtual_method)
        die(2, "'%s' lacks deterministic mode, type unload or counters%s", impl, NULL);

    char sbuf[64];
    snprintf(sbuf, sizeof sbuf, "Strategy=%s", strategy);
    const char *cfg[] = { sbuf, "Mode=deterministic", "CallCountThreshold=4", "CallCountingDelayMs=10",
                          "DeleteCallCountingStubsAfter=1", NULL };
    char err[512] = "";
    if (!(rt = D->create(cfg, err, sizeof err))) die(2, "create: %s%s", err, NULL);
    D->thread_attach(rt);

    tk_method_def bv[NV];
    for (int i = 0; i < NV; i++) bv[i] = (tk_method_def){ "V", body, NULL, 0 };
    tk_type_def bdef = { .name = "Base", .n_virtuals = NV, .virtuals = bv };
    tk_drv_type *base = D->type_define(rt, &bdef, err, sizeof err);
    if (!base || D->type_load(rt, base)) die(1, "base type: %s%s", err, NULL);

    tk_drv_type *live[MAX_WINDOW] = { 0 };
    tk_drv_object *objs[MAX_WINDOW] = { 0 };
    size_t cap = 1024, ns = 0;
    sample *smp = malloc(cap * sizeof *smp);
    double t0 = now_s();
    uint64_t ev;
    for (ev = 1; seconds ? now_s() - t0 < (double)seconds : ev <= events; ev++) {
        size_t k = ev % window;
        if (live[k]) {   /* unload the type loaded `window` events ago */
            D->object_free(rt, objs[k]);
            if (D->type_unload(rt, live[k])) die(1, "type_unload failed%s%s", NULL, NULL);
            live[k] = NULL;
        }
        tk_override_def ov[NV];
        tk_method_def nv[NNV];
        for (int i = 0; i < NV; i++) ov[i] = (tk_override_def){ (uint32_t)i, { "V", body, NULL, 0 } };
        for (int i = 0; i < NNV; i++) nv[i] = (tk_method_def){ "N", body, NULL, 0 };
        char name[32];
        snprintf(name, sizeof name, "C%llu", (unsigned long long)ev);
        tk_type_def def = { .name = name, .parent = base, .n_overrides = NV, .overrides = ov,
                            .n_methods = NNV, .methods = nv };
        tk_drv_type *t = D->type_define(rt, &def, err, sizeof err);
        if (!t || D->type_load(rt, t)) die(1, "type %s: %s", name, err);
        tk_drv_object *o = D->object_new(rt, t);
        for (int round = 0; round < 3; round++) {   /* count, promote, delete the stubs */
            for (int i = 0; i < NV; i++) call_slot(D->vtable_slot(t, (uint32_t)i), o, 6);
            for (int i = 0; i < NNV; i++) call_slot(D->method_slot(D->nonvirtual_method(t, (uint32_t)i)), o, 6);
            D->clock_advance(rt, 20);
            D->drain(rt);
        }
        live[k] = t;
        objs[k] = o;
        if (ev % every == 0) {
            if (ns == cap) smp = realloc(smp, (cap *= 2) * sizeof *smp);
            smp[ns++] = (sample){ ev, now_s() - t0, rss_kb(), counter("live_stub_bytes"), window };
            if (seconds) fprintf(stderr, "tk-churn-soak: %.0f s, %llu events, RSS %ld KB, live stub bytes %llu\n",
                                 smp[ns - 1].t_s, (unsigned long long)ev, smp[ns - 1].rss_kb,
                                 (unsigned long long)smp[ns - 1].live_stub_bytes);
        }
    }
    uint64_t done = ev - 1;
    /* the first sample at or after WARMUP% of the events (N of 2N) */
    size_t first = 0;
    while (first < ns && (double)smp[first].event < (double)(ev - 1) * (double)warm_pct / 100.0) first++;
    if (ns < 4 || first >= ns - 1) die(2, "too few samples after the warm-up (raise --events or lower --sample)%s%s", NULL, NULL);
    long rss0 = smp[first].rss_kb, rss_max = rss0;
    double per0 = (double)smp[first].live_stub_bytes / (double)window, per_min = per0, per_max = per0;
    for (size_t i = first; i < ns; i++) {
        double per = (double)smp[i].live_stub_bytes / (double)window;
        if (smp[i].rss_kb > rss_max) rss_max = smp[i].rss_kb;
        if (per < per_min) per_min = per;
        if (per > per_max) per_max = per;
    }
    long growth = rss_max - rss0;
    double spread = per0 > 0 ? 100.0 * (per_max - per_min) / per0 : (per_max > 0 ? 1000.0 : 0.0);
    uint64_t pa = counter("stubs_allocated_precode"), pf = counter("stubs_freed_precode");
    /* live precodes: one temporary entry point per method of a live type */
    uint64_t live_precodes = window * (NV + NNV) + NV;
    int precodes_ok = pa - pf <= live_precodes;
    int rss_ok = growth <= (long)rss_tol_kb;
    int ok = rss_ok && spread <= tol_pct && precodes_ok;
    double per_event = smp[ns - 1].event > smp[first].event
        ? (double)growth / (double)(smp[ns - 1].event - smp[first].event) : 0;
    printf("churn soak (%s, window %llu types): %llu events in %.1f s; after warm-up (event %llu): "
           "live stub bytes per live type %.0f..%.0f (spread %.1f%%, limit %.1f%%); precodes allocated %llu, "
           "freed %llu, live %llu (limit %llu); RSS at event %llu %ld KB, max after %ld KB (growth %ld KB, "
           "%.3f KB per event, limit %llu KB): %s\n",
           strategy, (unsigned long long)window, (unsigned long long)done, now_s() - t0,
           (unsigned long long)smp[first].event, per_min, per_max, spread, tol_pct, (unsigned long long)pa,
           (unsigned long long)pf, (unsigned long long)(pa - pf), (unsigned long long)live_precodes,
           (unsigned long long)smp[first].event, rss0, rss_max, growth, per_event, (unsigned long long)rss_tol_kb,
           ok ? "memory plateaus" : !rss_ok ? "RSS GROWS" : "stub memory GROWS");
    if (json) {
        tk_out out;
        FILE *f = tk_out_open(&out, "tk-churn-soak", "--json", json);
        if (!f) return 1;
        fprintf(f, "{\"schema_version\":1,\"tool\":\"tk-churn-soak\",\"strategy\":\"%s\",\"window\":%llu,"
                   "\"events\":%llu,\"warmup_event\":%llu,\"page_kb\":%ld,\"rss_kb_at_warmup\":%ld,\"rss_kb_max_after\":%ld,\"rss_growth_kb\":%ld,\"rss_growth_kb_per_event\":%.3f,\"rss_tolerance_kb\":%llu,"
                   "\"live_stub_bytes_per_type_spread_pct\":%.3f,\"tolerance_pct\":%.3f,\"plateau\":%s,"
                   "\"precodes_allocated\":%llu,\"precodes_freed\":%llu,\"samples\":[",
                strategy, (unsigned long long)window, (unsigned long long)done, (unsigned long long)smp[first].event,
                page_kb, rss0, rss_max, growth, per_event, (unsigned long long)rss_tol_kb, spread, tol_pct, ok ? "true" : "false",
                (unsigned long long)pa, (unsigned long long)pf);
        for (size_t i = 0; i < ns; i++)
            fprintf(f, "%s\n{\"event\":%llu,\"t_s\":%.3f,\"rss_kb\":%ld,\"live_stub_bytes\":%llu,\"live_types\":%llu}",
                    i ? "," : "", (unsigned long long)smp[i].event, smp[i].t_s, smp[i].rss_kb,
                    (unsigned long long)smp[i].live_stub_bytes, (unsigned long long)smp[i].live_types);
        fprintf(f, "]}\n");
        if (tk_out_commit(&out)) return 1;
    }
    for (size_t k = 0; k < MAX_WINDOW; k++)
        if (live[k]) { D->object_free(rt, objs[k]); D->type_unload(rt, live[k]); }
    D->thread_detach(rt);
    D->destroy(rt);
    free(smp);
    if (tk_out_stdout_check("tk-churn-soak")) return 1;
    return ok ? 0 : 1;
}
