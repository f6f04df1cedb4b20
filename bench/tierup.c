/* bench/tierup.c — tk-tierup: drives N methods of a runtime, through the
 * driver ABI only, from their first call to their final tier, deterministically
 * (manual clock, background work drained on this thread), and reports what the
 * runtime kept.  `make bench-tierup` runs it under callgrind, collecting only
 * inside the runtime's entry points (bench/tierup_report.py), for runtime
 * instructions and lock acquisitions per tiered method.
 *
 * The universe: groups of 8 methods, one root class declaring 6 virtuals and
 * 2 non-virtuals, and one derived class that inherits the 6 virtual slots
 * (so every virtual has two vtable slots to discover and backpatch).  A
 * round calls every slot `--calls` times and advances the clock past the
 * tiering delay, then drains; rounds repeat until every method runs final
 * code (or --max-rounds, which is an error).  Then the runtime's counters
 * are read before and after one more drain with a stub deletion due.
 *
 * Output: one JSON object (schema_version 1) on stdout or --json FILE. */
#include "tk_driver.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VIRTUALS 6
#define NONVIRTUALS 2
#define PER_GROUP (VIRTUALS + NONVIRTUALS)
#define MAX_CONFIG 32

static void usage(FILE *f)
{
    fprintf(f,
"usage: tk-tierup --impl LIB.so [options]\n"
"  --impl LIB.so     implementation exporting tk_driver_v1 (required)\n"
"  --strategy S      Strategy config key (default: the implementation's default)\n"
"  --methods N       methods to tier up, rounded up to a multiple of %d (default 1000)\n"
"  --calls N         calls per slot per round (default 8)\n"
"  --max-rounds N    give up after N rounds (default 200)\n"
"  --rounds N        exactly N rounds, no final-tier check between them (0: set up\n"
"                    and tear down only; the baseline of bench/tierup_report.py)\n"
"  --no-destroy      exit without destroying the runtime (measurement runs)\n"
"  --config K=V      extra runtime configuration (repeatable)\n"
"  --json FILE       write the result there (default: stdout)\n"
"  --help            this text\n"
"Runs in Mode=deterministic.  Exit status: 0 ok, 1 the runtime failed or did\n"
"not bring every method to its final tier, 2 bad arguments.\n", PER_GROUP);
}

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tk-tierup: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static unsigned long parse_count(const char *opt, const char *s, unsigned long lo, unsigned long hi)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        die(2, "%s: missing or negative value", opt);
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        die(2, "%s: '%s' is not an integer in %lu..%lu", opt, s, lo, hi);
    return v;
}

static int64_t body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)ctx; (void)self; (void)a1; (void)a2; (void)a3;
    return a0 + 1;
}

static size_t count_not_final(const tk_driver *d, tk_drv_runtime *rt, tk_drv_method **ms, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        tk_method_state st;
        d->method_state(rt, ms[i], &st);
        if (!TK_TIER_IS_FINAL(st.tier)) k++;
    }
    return k;
}

typedef struct counters {
    tk_counter *v;
    size_t n;
} counters;

static counters read_counters(const tk_driver *d, tk_drv_runtime *rt)
{
    counters c = {0};
    if (!(d->caps & TK_CAP_COUNTERS) || !d->counters)
        return c;
    c.n = d->counters(rt, NULL, 0);
    c.v = calloc(c.n ? c.n : 1, sizeof *c.v);
    if (!c.v)
        die(1, "out of memory");
    c.n = d->counters(rt, c.v, c.n);
    return c;
}

static void json_counters(FILE *f, const char *key, counters c)
{
    fprintf(f, "  \"%s\": {", key);
    for (size_t i = 0; i < c.n; i++)
        fprintf(f, "%s\"%s\": %llu", i ? ", " : "", c.v[i].name,
                (unsigned long long)(c.v[i].nonfinal + c.v[i].final));
    fprintf(f, "}");
}

int main(int argc, char **argv)
{
    const char *impl = NULL, *strategy = NULL, *json = NULL;
    unsigned long methods = 1000, calls = 8, max_rounds = 200;
    long fixed_rounds = -1;
    int destroy = 1;
    const char *config[MAX_CONFIG + 3];
    size_t nconfig = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--impl") && v) { impl = v; i++; }
        else if (!strcmp(a, "--strategy") && v) { strategy = v; i++; }
        else if (!strcmp(a, "--json") && v) { json = v; i++; }
        else if (!strcmp(a, "--methods")) { methods = parse_count(a, v, 1, 10000000); i++; }
        else if (!strcmp(a, "--calls")) { calls = parse_count(a, v, 1, 1000000); i++; }
        else if (!strcmp(a, "--max-rounds")) { max_rounds = parse_count(a, v, 1, 1000000); i++; }
        else if (!strcmp(a, "--rounds")) { fixed_rounds = (long)parse_count(a, v, 0, 1000000); i++; }
        else if (!strcmp(a, "--no-destroy")) destroy = 0;
        else if (!strcmp(a, "--config") && v) {
            if (!strchr(v, '=')) die(2, "--config: '%s' is not KEY=VALUE", v);
            if (nconfig == MAX_CONFIG) die(2, "--config: more than %d entries", MAX_CONFIG);
            config[nconfig++] = v; i++;
        } else {
            usage(stderr);
            die(2, "unknown or incomplete option '%s'", a);
        }
    }
    if (!impl) { usage(stderr); die(2, "--impl is required"); }

    void *h = dlopen(impl, RTLD_NOW | RTLD_LOCAL);
    if (!h) die(2, "--impl %s: %s", impl, dlerror());
    tk_driver_entry_fn entry = (tk_driver_entry_fn)dlsym(h, TK_DRIVER_ENTRY_SYMBOL);
    if (!entry) die(2, "--impl %s: no %s symbol", impl, TK_DRIVER_ENTRY_SYMBOL);
    const tk_driver *d = entry();
    if (!d || d->abi_version != TK_DRIVER_ABI_VERSION)
        die(2, "--impl %s: driver ABI version %u, expected %u", impl, d ? d->abi_version : 0,
            TK_DRIVER_ABI_VERSION);
    if (!(d->caps & TK_CAP_DETERMINISTIC))
        die(1, "--impl %s: no deterministic mode (TK_CAP_DETERMINISTIC)", impl);

    char strat_kv[128];
    config[nconfig++] = "Mode=deterministic";
    if (strategy) {
        snprintf(strat_kv, sizeof strat_kv, "Strategy=%s", strategy);
        config[nconfig++] = strat_kv;
    }
    config[nconfig] = NULL;
    char err[512] = "";
    tk_drv_runtime *rt = d->create(config, err, sizeof err);
    if (!rt) die(1, "create: %s", err[0] ? err : "failed");
    d->thread_attach(rt);

    size_t groups = (methods + PER_GROUP - 1) / PER_GROUP;
    methods = groups * PER_GROUP;
    tk_method_def vdefs[VIRTUALS], ndefs[NONVIRTUALS];
    for (int k = 0; k < VIRTUALS; k++) vdefs[k] = (tk_method_def){"v", body, NULL, 0};
    for (int k = 0; k < NONVIRTUALS; k++) ndefs[k] = (tk_method_def){"n", body, NULL, 0};
    /* Per group: 6 virtual slots x 2 types + 2 owning slots; methods. */
    size_t slots_per_group = 2 * VIRTUALS + NONVIRTUALS;
    void ***slots = malloc(groups * slots_per_group * sizeof *slots);
    tk_drv_object **objs = malloc(groups * slots_per_group * sizeof *objs);
    tk_drv_method **ms = malloc(methods * sizeof *ms);
    if (!slots || !objs || !ms) die(1, "out of memory");
    char name[64];
    for (size_t g = 0; g < groups; g++) {
        snprintf(name, sizeof name, "R%zu", g);
        tk_type_def rd = {name, NULL, 0, VIRTUALS, vdefs, 0, NULL, NONVIRTUALS, ndefs, 0, NULL};
        tk_drv_type *r = d->type_define(rt, &rd, err, sizeof err);
        if (!r || d->type_load(rt, r)) die(1, "type %s: %s", name, err);
        snprintf(name, sizeof name, "D%zu", g);
        tk_type_def dd = {name, r, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL};
        tk_drv_type *dt = d->type_define(rt, &dd, err, sizeof err);
        if (!dt || d->type_load(rt, dt)) die(1, "type %s: %s", name, err);
        tk_drv_object *ro = d->object_new(rt, r), *dob = d->object_new(rt, dt);
        void ***s = slots + g * slots_per_group;
        tk_drv_object **o = objs + g * slots_per_group;
        for (uint32_t k = 0; k < VIRTUALS; k++) {
            s[2 * k] = d->vtable_slot(r, k);       o[2 * k] = ro;
            s[2 * k + 1] = d->vtable_slot(dt, k);  o[2 * k + 1] = dob;
            ms[g * PER_GROUP + k] = d->virtual_method(r, k);
        }
        for (uint32_t k = 0; k < NONVIRTUALS; k++) {
            tk_drv_method *m = d->nonvirtual_method(r, k);
            s[2 * VIRTUALS + k] = d->method_slot(m);
            o[2 * VIRTUALS + k] = ro;
            ms[g * PER_GROUP + VIRTUALS + k] = m;
        }
    }

    /* Tier-up: rounds of calls, each followed by a clock step past any
     * tiering delay and a drain (the background work, on this thread). */
    unsigned long rounds = 0;
    uint64_t total_calls = 0;
    int64_t check = 0;
    size_t not_final = methods;
    /* Under callgrind (--instr-atstart=no) only the rounds' calls and
     * drains are instrumented: setup, the final-tier check and teardown run
     * uninstrumented (fast), and what is collected is chosen by the
     * report's --toggle-collect entry points. */
    if (fixed_rounds >= 0) max_rounds = (unsigned long)fixed_rounds;
    while ((fixed_rounds >= 0 || not_final) && rounds < max_rounds) {
        rounds++;
        CALLGRIND_START_INSTRUMENTATION;
        for (size_t i = 0; i < groups * slots_per_group; i++)
            for (unsigned long c = 0; c < calls; c++) {
                tk_entry_fn f = (tk_entry_fn)*(void *volatile *)slots[i];
                check += f(objs[i], 1, 0, 0, 0) - 2;
            }
        total_calls += groups * slots_per_group * calls;
        d->safepoint(rt);
        d->clock_advance(rt, 1000);
        d->drain(rt);
        CALLGRIND_STOP_INSTRUMENTATION;
        if (fixed_rounds < 0)
            not_final = count_not_final(d, rt, ms, methods);
    }
    not_final = count_not_final(d, rt, ms, methods);
    if (check != 0) die(1, "a call returned a wrong value (bodies compute a0 + 1)");
    counters tiered = read_counters(d, rt);
    /* One more safe point and drain: a deletion that became due runs now. */
    CALLGRIND_START_INSTRUMENTATION;
    d->safepoint(rt);
    d->clock_advance(rt, 1000);
    d->drain(rt);
    CALLGRIND_STOP_INSTRUMENTATION;
    counters settled = read_counters(d, rt);

    char cfgbuf[4096] = "";
    d->describe_config(rt, cfgbuf, sizeof cfgbuf);
    FILE *out = stdout;
    char tmp[4096];
    if (json) {
        snprintf(tmp, sizeof tmp, "%s.tmp", json);
        out = fopen(tmp, "w");
        if (!out) die(1, "--json %s: %s", json, strerror(errno));
    }
    fprintf(out, "{\n  \"schema_version\": 1,\n  \"tool\": \"tk-tierup\",\n");
    fprintf(out, "  \"implementation\": \"%s\",\n  \"implementation_version\": \"%s\",\n", d->name, d->version);
    fprintf(out, "  \"config\": \"");
    for (const char *p = cfgbuf; *p; p++) {
        if (*p == '\n') fputs("; ", out);
        else if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        else fputc(*p, out);
    }
    fprintf(out, "\",\n  \"methods\": %zu,\n  \"types\": %zu,\n  \"slots\": %zu,\n", methods, 2 * groups,
            groups * slots_per_group);
    fprintf(out, "  \"rounds\": %lu,\n  \"calls\": %llu,\n  \"methods_not_final\": %zu,\n", rounds,
            (unsigned long long)total_calls, not_final);
    json_counters(out, "counters_tiered", tiered);
    fprintf(out, ",\n");
    json_counters(out, "counters_settled", settled);
    fprintf(out, "\n}\n");
    if (json) {
        if (fclose(out) != 0 || rename(tmp, json) != 0) {
            remove(tmp);
            die(1, "--json %s: %s", json, strerror(errno));
        }
    }
    if (!destroy) {
        fflush(NULL);
        _exit(not_final && fixed_rounds != 0 ? 1 : 0);
    }
    for (size_t i = 0; i < groups * slots_per_group; i += 2 * VIRTUALS + NONVIRTUALS) {
        d->object_free(rt, objs[i]);
        d->object_free(rt, objs[i + 1]);
    }
    d->thread_detach(rt);
    d->destroy(rt);
    free(tiered.v);
    free(settled.v);
    free(slots);
    free(objs);
    free(ms);
    if (not_final && fixed_rounds != 0) {
        fprintf(stderr, "tk-tierup: %zu of %zu methods not at their final tier after %lu rounds\n",
                not_final, methods, rounds);
        return 1;
    }
    return 0;
}
