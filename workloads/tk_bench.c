/* workloads/tk_bench.c — the benchmark driver.
 *
 *   tk-bench WORKLOAD [--strategy S[,S...]|all] [--impl LIB.so] [--threads N]
 *            [--scale X] [--seed N] [--json FILE] [--trace FILE]
 *            [--config K=V]... [--set KEY=VALUE]... [--quick] [--deterministic] [--calls N]
 *            [--describe] [--help]
 *
 * Usage and output are documented in README.md "Reproducing the published figures", the JSON
 * schema in SPEC.md "Workloads".  Exit status: 0 ok, 1 a run failed
 * (runtime error, or an output that cannot be written), 2 bad command line
 * or workload file.  Output paths are checked before the run; the JSON is
 * written by the shared output discipline (cli/outfile.h): complete or
 * absent, devices and pipes written in place. */
#include "workloads/wl.h"
#include "workloads/wl_run.h"
#include "workloads/wl_csharp.h"
#include "cli/numarg.h"
#include "cli/outfile.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef TK_GIT_REV
#define TK_GIT_REV "unknown"
#endif

#define TK_BENCH_SCHEMA_VERSION 1

static void usage(FILE *f)
{
    fprintf(f,
"usage: tk-bench WORKLOAD [options]\n"
"  WORKLOAD            a name from workloads/defs (orchard-like, megamorphic,\n"
"                      startup-storm, steady-state, seed-vtable-test) or a .wl path\n"
"  --strategy S[,S..]|all  strategies to run, comma-separated (default: all the\n"
"                      implementation offers)\n"
"  --impl LIB.so       implementation (default: ../lib/libtk_ref_driver.so\n"
"                      relative to this binary)\n"
"  --threads N         worker threads (threaded mode; default from the workload)\n"
"  --scale X           multiply sizes and durations (default 1)\n"
"  --seed N            override the workload's seed\n"
"  --json FILE         write results as JSON (schema_version %d)\n"
"  --trace FILE        pass Trace=FILE to the runtime (FILE.<strategy> when\n"
"                      several strategies run)\n"
"  --config K=V        extra runtime configuration (repeatable)\n"
"  --set KEY=VALUE     override a workload key (repeatable; validated like the\n"
"                      file, before --scale), e.g. --set tier0_cost=2\n"
"  --quick             durations x 0.25\n"
"  --time-scale X      multiply durations only (after --scale/--quick)\n"
"  --deterministic     manual clock + drain on one thread (exact counters)\n"
"  --calls N           deterministic measured phase: exactly N calls\n"
"                      (for ns/call and, under valgrind, instructions/call)\n"
"  --describe          generate the universe and print it; no runtime needed\n"
"  --emit-csharp DIR   write the universe as a C# project (tkgen.csproj) into DIR\n"
"                      and exit; see SPEC.md \"CoreCLR observation\"\n"
"  --help              this text\n"
"exit status: 0 ok, 1 a run failed, 2 bad arguments or workload file\n",
            TK_BENCH_SCHEMA_VERSION);
}

static void die2(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tk-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* A numeric option: decimal, in range, else exit 2 naming the option. */
static uint64_t opt_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    char why[160];
    uint64_t v;
    if (tk_arg_u64(s, min, max, &v, why, sizeof why)) die2("%s: '%s': %s", opt, s, why);
    return v;
}

static double opt_double(const char *opt, const char *s, double min, double max)
{
    char why[160];
    double v = 0;
    if (tk_arg_double(s, min, max, &v, why, sizeof why)) die2("%s: '%s': %s", opt, s, why);
    if (!(v > min)) die2("%s: '%s': must be greater than %g", opt, s, min);
    return v;
}

static void exe_dir(char *out, size_t len)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) { snprintf(out, len, "."); return; }
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (slash) *slash = 0;
    snprintf(out, len, "%s", buf);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The workload file for arg: a path (it has a '/' or ends in .wl) or a
 * name in workloads/defs.  Exits 2 with a message naming arg. */
static void find_workload(const char *arg, char *out, size_t len)
{
    static const char known[] = "orchard-like, megamorphic, startup-storm, steady-state, seed-vtable-test";
    size_t al = strlen(arg);
    if (!al) die2("empty workload name (known: %s)", known);
    if (strchr(arg, '/') || (al > 3 && !strcmp(arg + al - 3, ".wl"))) {
        struct stat st;
        if (stat(arg, &st)) die2("workload file '%s': %s", arg, strerror(errno));
        if (!S_ISREG(st.st_mode)) die2("workload file '%s': not a regular file", arg);
        snprintf(out, len, "%s", arg);
        return;
    }
    for (const char *p = arg; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            die2("unknown workload '%s' (a name is lower-case letters, digits, '-' and '_'; "
                 "a file path needs a '/' or the .wl suffix; known: %s)", arg, known);
    char dir[PATH_MAX];
    exe_dir(dir, sizeof dir);
    const char *env = getenv("TK_WORKLOADS_DIR");
    static char cands[5][PATH_MAX + 64];
    int n = 0;
    if (env) snprintf(cands[n++], sizeof cands[0], "%s/%s.wl", env, arg);
    snprintf(cands[n++], sizeof cands[0], "%s/../../workloads/defs/%s.wl", dir, arg);
    snprintf(cands[n++], sizeof cands[0], "%s/../../../workloads/defs/%s.wl", dir, arg);
    snprintf(cands[n++], sizeof cands[0], "workloads/defs/%s.wl", arg);
    for (int i = 0; i < n; i++)
        if (file_exists(cands[i]) && strlen(cands[i]) < len) {
            memcpy(out, cands[i], strlen(cands[i]) + 1);
            return;
        }
    die2("unknown workload '%s' (no file %s.wl in workloads/defs%s; known: %s)", arg, arg,
         env ? " or $TK_WORKLOADS_DIR" : "", known);
}

/* ---- JSON writer ----------------------------------------------------------------- */
typedef struct jw { FILE *f; int depth; int first[64]; } jw;

static void jw_str_raw(jw *w, const char *s)
{
    fputc('"', w->f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", w->f); break;
        case '\\': fputs("\\\\", w->f); break;
        case '\n': fputs("\\n", w->f); break;
        case '\t': fputs("\\t", w->f); break;
        case '\r': fputs("\\r", w->f); break;
        default:
            if (*p < 0x20) fprintf(w->f, "\\u%04x", *p);
            else fputc(*p, w->f);
        }
    }
    fputc('"', w->f);
}

static void jw_sep(jw *w, const char *key)
{
    if (!w->first[w->depth]) fputc(',', w->f);
    w->first[w->depth] = 0;
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++) fputs("  ", w->f);
    if (key) {
        jw_str_raw(w, key);
        fputs(": ", w->f);
    }
}

static void jw_open(jw *w, const char *key, char c)
{
    jw_sep(w, key);
    fputc(c, w->f);
    w->first[++w->depth] = 1;
}

static void jw_close(jw *w, char c)
{
    int empty = w->first[w->depth];
    w->depth--;
    if (!empty) {
        fputc('\n', w->f);
        for (int i = 0; i < w->depth; i++) fputs("  ", w->f);
    }
    fputc(c, w->f);
}

static void jw_kstr(jw *w, const char *k, const char *v) { jw_sep(w, k); jw_str_raw(w, v); }
static void jw_ku64(jw *w, const char *k, uint64_t v) { jw_sep(w, k); fprintf(w->f, "%llu", (unsigned long long)v); }
static void jw_ki64(jw *w, const char *k, int64_t v) { jw_sep(w, k); fprintf(w->f, "%lld", (long long)v); }
static void jw_kbool(jw *w, const char *k, int v) { jw_sep(w, k); fputs(v ? "true" : "false", w->f); }
/* negative = unknown -> null */
static void jw_knum(jw *w, const char *k, double v)
{
    jw_sep(w, k);
    if (v < 0 || v != v) fputs("null", w->f);
    else fprintf(w->f, "%.6g", v);
}
/* an array of n numbers with one decimal each */
static void jw_knums1(jw *w, const char *k, const double *v, uint32_t n)
{
    jw_open(w, k, '[');
    for (uint32_t i = 0; i < n; i++) {
        jw_sep(w, NULL);
        fprintf(w->f, "%.1f", v[i]);
    }
    jw_close(w, ']');
}

/* ---- machine ---------------------------------------------------------------------- */
static void cpu_model(char *out, size_t len)
{
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5) ||
            !strncmp(line, "Hardware", 8)) {
            char *c = strchr(line, ':');
            if (!c) continue;
            c++;
            while (*c == ' ' || *c == '\t') c++;
            c[strcspn(c, "\n")] = 0;
            snprintf(out, len, "%s", c);
            break;
        }
    }
    fclose(f);
}

static void write_machine(jw *w)
{
    struct utsname un;
    uname(&un);
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    jw_open(w, "machine", '{');
    jw_kstr(w, "sysname", un.sysname);
    jw_kstr(w, "release", un.release);
    jw_kstr(w, "arch", un.machine);
    jw_kstr(w, "hostname", un.nodename);
    jw_ki64(w, "nproc", sysconf(_SC_NPROCESSORS_ONLN));
    jw_kstr(w, "cpu_model", cpu);
    jw_close(w, '}');
}

/* ---- universe description ------------------------------------------------------------ */
static void write_universe(jw *w, const tk_wl_universe *u)
{
    jw_open(w, "universe", '{');
    jw_ku64(w, "classes", u->n_early_classes);
    jw_ku64(w, "burst_classes", u->n_classes - u->n_early_classes);
    jw_ku64(w, "interfaces", u->n_interfaces);
    jw_ku64(w, "methods", u->n_methods);
    jw_ku64(w, "virtual_methods", u->n_virtual);
    jw_ku64(w, "overrides", u->n_override);
    jw_ku64(w, "nonvirtual_methods", u->n_nonvirtual);
    jw_ku64(w, "abstract_methods", u->n_abstract);
    jw_ku64(w, "vtable_slots", u->n_slot_impl);
    jw_ku64(w, "inherited_slots", u->n_inherited_slots);
    jw_ku64(w, "inherited_not_overridden", u->n_inherited_not_overridden);
    jw_ku64(w, "interface_impl_slots", u->n_impls);
    jw_ku64(w, "sites", u->n_early_sites);
    jw_ku64(w, "burst_sites", u->n_sites - u->n_early_sites);
    jw_open(w, "site_kinds", '{');
    jw_ku64(w, "virtual", u->site_kind_count[WL_S_VIRT]);
    jw_ku64(w, "interface", u->site_kind_count[WL_S_IFACE]);
    jw_ku64(w, "direct", u->site_kind_count[WL_S_DIRECT]);
    jw_ku64(w, "fanout", u->site_kind_count[WL_S_FANOUT]);
    jw_close(w, '}');
    jw_open(w, "site_receivers", '{');
    static const char *const lab[5] = {"1", "2-4", "5-16", "17-64", "65+"};
    for (int i = 0; i < 5; i++) jw_ku64(w, lab[i], u->poly_hist[i]);
    jw_close(w, '}');
    jw_ku64(w, "handlers", u->n_early_handlers);
    jw_ku64(w, "burst_handlers", u->n_handlers - u->n_early_handlers);
    jw_kbool(w, "factory", u->factory_method != WL_NONE);
    jw_ku64(w, "receivers", u->n_recv);
    jw_ku64(w, "owning_slot_receivers", u->n_recv_owning);
    jw_ku64(w, "churn_candidates", u->n_churn);
    jw_close(w, '}');
}

static const char *const *g_overrides;   /* --set KEY=VALUE, NULL-terminated */

static void write_workload(jw *w, const tk_wl_spec *s, const tk_wl_universe *u, double scale, int quick,
                           int deterministic, int threads)
{
    char fp[17];
    tk_wl_fingerprint_hex(u, fp);
    jw_open(w, "workload", '{');
    jw_kstr(w, "name", s->name);
    jw_kstr(w, "file", s->path);
    jw_kstr(w, "description", s->description);
    jw_ku64(w, "seed", s->seed);
    jw_knum(w, "scale", scale);
    jw_kbool(w, "quick", quick);
    jw_kstr(w, "mode", deterministic ? "deterministic" : "threaded");
    jw_ki64(w, "threads", deterministic ? 1 : threads);
    jw_kstr(w, "fingerprint", fp);
    jw_open(w, "overrides", '[');
    for (size_t i = 0; g_overrides && g_overrides[i]; i++) { jw_sep(w, NULL); jw_str_raw(w, g_overrides[i]); }
    jw_close(w, ']');
    write_universe(w, u);
    jw_open(w, "schedule", '{');
    jw_ki64(w, "calls_per_request", s->calls_per_request);
    jw_ki64(w, "call_tree_budget", s->call_tree_budget);
    jw_ki64(w, "warmup_ms", s->warmup_ms);
    jw_ki64(w, "measure_ms", s->measure_ms);
    jw_ki64(w, "quiet_gap_ms", s->quiet_gap_ms);
    jw_ki64(w, "burst_ms", s->burst_ms);
    jw_ki64(w, "measure2_ms", s->measure2_ms);
    jw_ki64(w, "window_ms", s->window_ms);
    jw_ki64(w, "det_rounds", s->det_rounds);
    jw_ki64(w, "det_requests_per_round", s->det_requests_per_round);
    jw_ki64(w, "det_advance_ms", s->det_advance_ms);
    jw_ki64(w, "det_measure_requests", s->det_measure_requests);
    jw_ki64(w, "det_converge", s->det_converge);
    jw_knum(w, "tier0_cost", (double)s->tier0_cost_ppb / 1e9);
    jw_knum(w, "tier0_instrumented_cost", (double)s->tier0i_cost_ppb / 1e9);
    jw_knum(w, "tier1_cost", (double)s->tier1_cost_ppb / 1e9);
    jw_ki64(w, "rotation_ms", s->rotation_ms);
    jw_knum(w, "receiver_zipf", (double)s->receiver_zipf_ppb / 1e9);
    jw_ki64(w, "churn_ms", s->churn_ms);
    jw_ki64(w, "churn_types", s->churn_types);
    jw_close(w, '}');
    jw_close(w, '}');
}

/* ---- results ------------------------------------------------------------------------ */
typedef struct run_entry { const char *strategy; tk_wl_run_result *res; } run_entry;

static int counter_index(const tk_wl_run_result *r, const char *name)
{
    for (uint32_t i = 0; i < r->n_counters; i++)
        if (!strcmp(r->counter_name[i], name)) return (int)i;
    return -1;
}

static uint64_t counter_total(const tk_wl_run_result *r, const char *name)
{
    int i = counter_index(r, name);
    return i < 0 ? 0 : r->counter_nonfinal[i] + r->counter_final[i];
}

/* Counting memory per counted method, comparable with CoreCLR's ~88.5 B
 * (PR #67563, x64: call-counting stub + counting record per method that had
 * a stub): the runtime's live counting-stub bytes plus its live counting
 * bookkeeping bytes, divided by the methods that were ever counted
 * (SPEC.md "Counters": counting_stub_bytes, counting_info_bytes,
 * methods_counted).  -1 (null in JSON) when the driver does not expose
 * them.  Precodes and forwarders are not counting memory: they are in
 * live_stub_bytes. */
static double counting_bytes_per_counted_method(const tk_wl_run_result *r, uint64_t *methods, uint64_t *bytes)
{
    *methods = *bytes = 0;
    if (counter_index(r, "methods_counted") < 0 || counter_index(r, "counting_stub_bytes") < 0 ||
        counter_index(r, "counting_info_bytes") < 0)
        return -1;
    *methods = counter_total(r, "methods_counted");
    *bytes = counter_total(r, "counting_stub_bytes") + counter_total(r, "counting_info_bytes");
    return *methods ? (double)*bytes / (double)*methods : -1;
}

static void write_config(jw *w, const char *text)
{
    jw_open(w, "config", '{');
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[512];
        if (n >= sizeof line) n = sizeof line - 1;
        memcpy(line, p, n);
        line[n] = 0;
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = 0;
            jw_kstr(w, line, eq + 1);
        }
        p += n + (nl ? 1 : 0);
        if (!nl) break;
    }
    jw_close(w, '}');
}

static void write_run(jw *w, const char *strategy, const tk_wl_run_result *r)
{
    jw_open(w, strategy, '{');
    write_config(w, r->config_text);
    jw_kstr(w, "mode", r->deterministic ? "deterministic" : "threaded");
    jw_ki64(w, "threads", r->threads);
    jw_knum(w, "startup_ms", r->startup_ms);
    jw_knum(w, "first_request_us", r->first_request_us);
    jw_knum(w, "time_to_steady_state_ms", r->tts_ms);
    jw_knum(w, "time_to_steady_state_after_burst_ms", r->tts_after_burst_ms);
    if (!r->deterministic) {
        /* why a time to steady state is null: the windows considered and
         * the one closest to the measured mean */
        jw_open(w, "time_to_steady_state_detail", '{');
        jw_knum(w, "tolerance_pct", 2.0);
        for (int k = 0; k < 2; k++) {
            int has = k == 0 || r->phase[WL_P_MEASURE2].present;
            jw_sep(w, k ? "after_burst" : "before_burst");
            if (!has) { fputs("null", w->f); continue; }
            w->first[++w->depth] = 1;
            fputc('{', w->f);
            uint32_t n = k ? r->tts_after_burst_windows : r->tts_windows;
            double ms = k ? r->tts_after_burst_ms : r->tts_ms;
            double cp = k ? r->tts_after_burst_closest_pct : r->tts_closest_pct;
            double cm = k ? r->tts_after_burst_closest_ms : r->tts_closest_ms;
            jw_ku64(w, "windows", n);
            jw_knum(w, "ms", ms);
            jw_sep(w, "closest_deviation_pct");
            if (cm < 0) fputs("null", w->f); else fprintf(w->f, "%.3f", cp);
            jw_knum(w, "closest_window_start_ms", cm);
            jw_close(w, '}');
        }
        jw_close(w, '}');
    }
    jw_open(w, "phases", '{');
    for (int ph = 0; ph < WL_P_COUNT; ph++) {
        const tk_wl_phase_result *p = &r->phase[ph];
        if (!p->present) continue;
        jw_open(w, tk_wl_phase_names[ph], '{');
        jw_knum(w, "duration_ms", p->duration_ms);
        jw_ku64(w, "requests", p->requests);
        jw_ku64(w, "calls", p->calls);
        jw_knum(w, "requests_per_s", p->requests_per_s);
        jw_knum(w, "calls_per_s", p->calls_per_s);
        jw_knum(w, "latency_p50_us", p->p50_us);
        jw_knum(w, "latency_p99_us", p->p99_us);
        jw_knum(w, "latency_max_us", p->max_us);
        jw_open(w, "calls_by_tier", '{');
        jw_ku64(w, "tier0", p->calls_tier0);
        jw_ku64(w, "tier0instr", p->calls_tier0instr);
        jw_ku64(w, "final", p->calls_final);
        jw_close(w, '}');
        jw_ku64(w, "owning_slot_calls", p->owning_slot_calls);
        jw_open(w, "counters", '{');
        for (uint32_t i = 0; i < r->n_counters; i++) {
            jw_open(w, r->counter_name[i], '{');
            jw_ki64(w, "nonfinal", p->delta_nonfinal[i]);
            jw_ki64(w, "final", p->delta_final[i]);
            jw_close(w, '}');
        }
        jw_close(w, '}');
        jw_close(w, '}');
    }
    jw_close(w, '}');
    jw_open(w, "counters", '{');
    for (uint32_t i = 0; i < r->n_counters; i++) {
        jw_open(w, r->counter_name[i], '{');
        jw_ku64(w, "nonfinal", r->counter_nonfinal[i]);
        jw_ku64(w, "final", r->counter_final[i]);
        jw_ku64(w, "total", r->counter_nonfinal[i] + r->counter_final[i]);
        jw_kbool(w, "split", r->counter_split[i] != 0);
        jw_close(w, '}');
    }
    jw_close(w, '}');
    uint64_t cm, cb;
    double cbpm = counting_bytes_per_counted_method(r, &cm, &cb);
    jw_ku64(w, "live_stub_bytes", counter_total(r, "live_stub_bytes"));
    jw_ku64(w, "counted_methods", cm);
    jw_ku64(w, "counting_bytes", cb);
    jw_knum(w, "counting_bytes_per_counted_method", cbpm);
    /* the same figure under its former name (tracked by tk-track suites) */
    jw_knum(w, "bytes_per_counted_method", cbpm);
    jw_ki64(w, "measured_calls", r->measured_calls);
    jw_knum(w, "ns_per_call", r->ns_per_call);
    jw_sep(w, "warmup_convergence");
    if (r->converge_rounds < 0) fputs("null", w->f);
    else {
        w->first[++w->depth] = 1;
        fputc('{', w->f);
        jw_ki64(w, "rounds", r->converge_rounds);
        jw_ki64(w, "methods", r->converge_methods);
        jw_ki64(w, "methods_not_final", r->converge_not_final);
        jw_ki64(w, "calls", r->converge_calls);
        jw_close(w, '}');
    }
    jw_ku64(w, "rotations", r->rotations);
    jw_open(w, "churn", '{');
    jw_ku64(w, "candidates", r->churn_candidates);
    jw_ku64(w, "events", r->churn_events);
    jw_ku64(w, "unloads", r->churn_unloads);
    jw_ku64(w, "loads", r->churn_loads);
    jw_sep(w, "leaked_recorded_slots");
    if (r->leaked_recorded_slots < 0) fputs("null", w->f);
    else fprintf(w->f, "%lld", (long long)r->leaked_recorded_slots);
    jw_sep(w, "leak_counter");
    if (r->leak_counter[0]) jw_str_raw(w, r->leak_counter); else fputs("null", w->f);
    jw_close(w, '}');
    jw_open(w, "windows", '{');
    jw_knum(w, "window_ms", r->window_ms);
    jw_knums1(w, "start_ms", r->window_start_ms, r->n_windows);
    jw_knums1(w, "requests_per_s", r->window_rps, r->n_windows);
    jw_open(w, "phase", '[');
    for (uint32_t i = 0; i < r->n_windows; i++) {
        jw_sep(w, NULL);
        jw_str_raw(w, tk_wl_phase_names[r->window_phase[i]]);
    }
    jw_close(w, ']');
    jw_close(w, '}');
    jw_close(w, '}');
}

static const char *cap_names[] = {"deterministic", "threaded", "interfaces", "type_unload",
                                  "versioning", "stub_deletion", "classify", "events",
                                  "counters", "pgo", "trace_file"};

/* failures: strategies whose run failed, with the error (the JSON keeps the
 * strategies that finished and names the ones that did not) */
typedef struct run_failure { const char *strategy; char error[1100]; } run_failure;

static int write_json(const char *path, int argc, char **argv, const char *impl_path,
                      const tk_driver *d, const tk_wl_spec *s, const tk_wl_universe *u, double scale,
                      int quick, int deterministic, int threads, run_entry *runs, int nruns,
                      const run_failure *fails, int nfails)
{
    tk_out out;
    FILE *f = tk_out_open(&out, "tk-bench", "--json", path);
    if (!f) return -1;
    jw w = {f, 0, {1}};
    fputc('{', f);
    w.first[0] = 1;
    jw_ki64(&w, "schema_version", TK_BENCH_SCHEMA_VERSION);
    jw_kstr(&w, "tool", "tk-bench");
    jw_kstr(&w, "git_revision", TK_GIT_REV);
    jw_open(&w, "command", '[');
    for (int i = 0; i < argc; i++) { jw_sep(&w, NULL); jw_str_raw(&w, argv[i]); }
    jw_close(&w, ']');
    write_machine(&w);
    if (d) {
        jw_open(&w, "implementation", '{');
        jw_kstr(&w, "path", impl_path);
        jw_kstr(&w, "name", d->name);
        jw_kstr(&w, "version", d->version);
        jw_open(&w, "caps", '[');
        for (unsigned i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
            if (d->caps & (1ull << i)) { jw_sep(&w, NULL); jw_str_raw(&w, cap_names[i]); }
        jw_close(&w, ']');
        jw_open(&w, "strategies", '[');
        for (size_t i = 0; d->strategies && d->strategies[i]; i++) {
            jw_sep(&w, NULL);
            jw_str_raw(&w, d->strategies[i]);
        }
        jw_close(&w, ']');
        jw_close(&w, '}');
    }
    write_workload(&w, s, u, scale, quick, deterministic, threads);
    jw_open(&w, "strategies", '{');
    for (int i = 0; i < nruns; i++) write_run(&w, runs[i].strategy, runs[i].res);
    jw_close(&w, '}');
    jw_open(&w, "failures", '[');
    for (int i = 0; i < nfails; i++) {
        jw_open(&w, NULL, '{');
        jw_kstr(&w, "strategy", fails[i].strategy);
        jw_kstr(&w, "error", fails[i].error);
        jw_close(&w, '}');
    }
    jw_close(&w, ']');
    fputs("\n}\n", f);
    return tk_out_commit(&out);
}

/* ---- human tables ------------------------------------------------------------------------ */
static void print_universe(const tk_wl_spec *s, const tk_wl_universe *u)
{
    char fp[17];
    tk_wl_fingerprint_hex(u, fp);
    printf("workload %s  seed %llu  fingerprint %s\n", s->name, (unsigned long long)s->seed, fp);
    printf("  %u classes (+%u burst), %u interfaces, %u methods (%u virtual, %u overrides, "
           "%u non-virtual, %u abstract)\n",
           u->n_early_classes, u->n_classes - u->n_early_classes, u->n_interfaces, u->n_methods,
           u->n_virtual, u->n_override, u->n_nonvirtual, u->n_abstract);
    printf("  %u vtable slots, %u inherited of which %u not overridden; %u interface-impl slots\n",
           u->n_slot_impl, u->n_inherited_slots, u->n_inherited_not_overridden, u->n_impls);
    printf("  %u sites (%u virtual, %u interface, %u direct, %u fan-out; receivers 1:%u 2-4:%u "
           "5-16:%u 17-64:%u 65+:%u), %u handlers (+%u burst)\n",
           u->n_sites, u->site_kind_count[WL_S_VIRT], u->site_kind_count[WL_S_IFACE],
           u->site_kind_count[WL_S_DIRECT], u->site_kind_count[WL_S_FANOUT], u->poly_hist[0],
           u->poly_hist[1], u->poly_hist[2], u->poly_hist[3], u->poly_hist[4],
           u->n_early_handlers, u->n_handlers - u->n_early_handlers);
    printf("  %u of %u site receivers (%.1f%%) call through the owning slot of the method they reach; "
           "tier cost factors %.3g/%.3g/%.3g (tier0/tier0instr/tier1)\n",
           u->n_recv_owning, u->n_recv, u->n_recv ? 100.0 * u->n_recv_owning / u->n_recv : 0.0,
           (double)s->tier0_cost_ppb / 1e9, (double)s->tier0i_cost_ppb / 1e9, (double)s->tier1_cost_ppb / 1e9);
    if (s->rotation_ms > 0 || s->churn_ms > 0)
        printf("  receiver rotation every %lld ms; churn every %lld ms, %lld types (%u candidates)\n",
               (long long)s->rotation_ms, (long long)s->churn_ms, (long long)s->churn_types, u->n_churn);
}

static void fmt_num(char *buf, size_t n, double v, const char *f)
{
    if (v < 0) snprintf(buf, n, "-");
    else snprintf(buf, n, f, v);
}

/* "never (no window within 2% ...; closest +3.1% at 1200 ms)" */
static void tts_why(char *buf, size_t n, uint32_t windows, double closest_pct, double closest_ms)
{
    if (closest_ms < 0)
        snprintf(buf, n, "never (no full window sampled)");
    else
        snprintf(buf, n, "never (none of %u windows within 2%% of the measured mean; closest %+.1f%% at %.0f ms)",
                 windows, closest_pct, closest_ms);
}

static void print_run(const char *strategy, const tk_wl_run_result *r)
{
    printf("\n== strategy %s (%s, %d thread%s)\n", strategy,
           r->deterministic ? "deterministic" : "threaded", r->threads, r->threads == 1 ? "" : "s");
    printf("%-10s %9s %10s %12s %12s %10s %10s\n", "phase", "time(s)", "requests", "requests/s",
           "calls/s", "p50(us)", "p99(us)");
    for (int ph = 0; ph < WL_P_COUNT; ph++) {
        const tk_wl_phase_result *p = &r->phase[ph];
        if (!p->present) continue;
        char a[32], b[32];
        fmt_num(a, sizeof a, p->p50_us, "%.1f");
        fmt_num(b, sizeof b, p->p99_us, "%.1f");
        printf("%-10s %9.2f %10llu %12.1f %12.4g %10s %10s\n", tk_wl_phase_names[ph],
               p->duration_ms / 1000.0, (unsigned long long)p->requests, p->requests_per_s,
               p->calls_per_s, a, b);
    }
    char t1[160], t2[160];
    fmt_num(t1, sizeof t1, r->tts_ms, "%.0f ms");
    fmt_num(t2, sizeof t2, r->tts_after_burst_ms, "%.0f ms");
    if (!r->deterministic && r->tts_ms < 0) tts_why(t1, sizeof t1, r->tts_windows, r->tts_closest_pct, r->tts_closest_ms);
    if (!r->deterministic && r->tts_after_burst_ms < 0)
        tts_why(t2, sizeof t2, r->tts_after_burst_windows, r->tts_after_burst_closest_pct,
                r->tts_after_burst_closest_ms);
    printf("startup %.1f ms, first request %.1f us, steady state after %s", r->startup_ms,
           r->first_request_us, r->deterministic ? "- (deterministic)" : t1);
    if (r->phase[WL_P_MEASURE2].present) printf(", after burst %s", t2);
    printf("\n");
    if (r->converge_rounds >= 0)
        printf("warmup convergence: %lld round%s, %lld methods reached, %lld not final, %lld calls\n",
               (long long)r->converge_rounds, r->converge_rounds == 1 ? "" : "s",
               (long long)r->converge_methods, (long long)r->converge_not_final,
               (long long)r->converge_calls);
    if (r->ns_per_call >= 0)
        printf("measured: %lld calls, %.2f ns/call\n", (long long)r->measured_calls, r->ns_per_call);
    {
        uint64_t t0 = 0, ti = 0, tf = 0, own = 0, all = 0;
        for (int ph = 0; ph < WL_P_COUNT; ph++) {
            const tk_wl_phase_result *p = &r->phase[ph];
            if (!p->present || (ph != WL_P_MEASURE && ph != WL_P_MEASURE2)) continue;
            t0 += p->calls_tier0; ti += p->calls_tier0instr; tf += p->calls_final;
            own += p->owning_slot_calls;
        }
        all = t0 + ti + tf;
        if (all)
            printf("measured bodies by tier: tier0 %.1f%%, tier0instr %.1f%%, final %.1f%%; "
                   "calls through owning slots %.1f%%\n", 100.0 * (double)t0 / (double)all,
                   100.0 * (double)ti / (double)all, 100.0 * (double)tf / (double)all,
                   100.0 * (double)own / (double)all);
    }
    if (r->rotations || r->churn_events) {
        printf("receiver rotations %llu; churn: %llu events, %llu unloads, %llu loads (%llu candidate types); ",
               (unsigned long long)r->rotations, (unsigned long long)r->churn_events,
               (unsigned long long)r->churn_unloads, (unsigned long long)r->churn_loads,
               (unsigned long long)r->churn_candidates);
        if (r->leaked_recorded_slots >= 0)
            printf("leaked recorded slots %lld (%s)\n", (long long)r->leaked_recorded_slots, r->leak_counter);
        else
            printf("leaked recorded slots: not exposed by the driver\n");
    }
    uint64_t cm, cb;
    double cbpm = counting_bytes_per_counted_method(r, &cm, &cb);
    printf("live stub bytes %llu; ", (unsigned long long)counter_total(r, "live_stub_bytes"));
    if (cbpm >= 0)
        printf("counting memory %llu bytes for %llu counted methods: %.1f bytes per counted method "
               "(CoreCLR x64: ~88.5)\n", (unsigned long long)cb, (unsigned long long)cm, cbpm);
    else
        printf("counting memory per counted method: not exposed by the driver\n");
    printf("%-36s %14s %14s\n", "counter", "non-final", "final");
    for (uint32_t i = 0; i < r->n_counters; i++)
        printf("%-36s %14llu %14llu\n", r->counter_name[i], (unsigned long long)r->counter_nonfinal[i],
               (unsigned long long)r->counter_final[i]);
}

static void print_summary(run_entry *runs, int n)
{
    if (n < 2) return;
    int threaded = !runs[0].res->deterministic;
    printf("\n== summary (ratios against %s)\n", runs[0].strategy);
    printf("%-14s %12s %7s %12s %12s %12s %12s\n", "strategy", threaded ? "measured/s" : "ns/call",
           "ratio", "lock_acq", "slot_writes", "oscillation", "try_backpatch");
    double base = threaded ? runs[0].res->phase[WL_P_MEASURE].requests_per_s : runs[0].res->ns_per_call;
    for (int i = 0; i < n; i++) {
        const tk_wl_run_result *r = runs[i].res;
        double v = threaded ? r->phase[WL_P_MEASURE].requests_per_s : r->ns_per_call;
        printf("%-14s %12.2f %7.3f %12llu %12llu %12llu %12llu\n", runs[i].strategy, v,
               base > 0 ? v / base : 0, (unsigned long long)counter_total(r, "backpatch_lock_acquisitions"),
               (unsigned long long)counter_total(r, "slot_writes"),
               (unsigned long long)counter_total(r, "entry_point_oscillations"),
               (unsigned long long)counter_total(r, "try_backpatch_calls"));
    }
}

/* ---- main ---------------------------------------------------------------------------------- */
int main(int argc, char **argv)
{
    const char *workload = NULL, *strategy = "all", *impl = NULL, *json = NULL, *trace = NULL;
    const char *extra[256], *sets[257];
    int nsets = 0;
    int nextra = 0, quick = 0, deterministic = 0, describe = 0;
    const char *emit_cs = NULL;
    uint64_t threads = 0, seed = 0, calls = 0;
    int have_seed = 0, have_calls = 0;
    double scale = 1.0, time_scale = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEED_ARG() do { if (i + 1 >= argc) die2("%s needs an argument (see --help)", a); } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--strategy")) { NEED_ARG(); strategy = argv[++i]; }
        else if (!strcmp(a, "--impl")) { NEED_ARG(); impl = argv[++i]; }
        else if (!strcmp(a, "--json")) { NEED_ARG(); json = argv[++i]; }
        else if (!strcmp(a, "--trace")) { NEED_ARG(); trace = argv[++i]; }
        else if (!strcmp(a, "--threads")) { NEED_ARG(); threads = opt_u64(a, argv[++i], 1, 1024); }
        else if (!strcmp(a, "--seed")) {
            NEED_ARG();
            seed = opt_u64(a, argv[++i], 0, UINT64_MAX);
            have_seed = 1;
        } else if (!strcmp(a, "--calls")) {
            NEED_ARG();
            calls = opt_u64(a, argv[++i], 0, (uint64_t)INT64_MAX / 2);
            have_calls = 1;
        } else if (!strcmp(a, "--scale")) { NEED_ARG(); scale = opt_double(a, argv[++i], 0, 1000); }
        else if (!strcmp(a, "--time-scale")) { NEED_ARG(); time_scale = opt_double(a, argv[++i], 0, 1000); }
        else if (!strcmp(a, "--config")) {
            NEED_ARG();
            const char *kv = argv[++i], *eq = strchr(kv, '=');
            if (!eq || eq == kv || !eq[1]) die2("--config: '%s' is not KEY=VALUE", kv);
            if (!strncmp(kv, "Strategy=", 9) || !strncmp(kv, "Mode=", 5))
                die2("--config: use --strategy / --deterministic instead of '%s'", kv);
            if (nextra >= 250) die2("--config: too many");
            extra[nextra++] = kv;
        } else if (!strcmp(a, "--set")) {
            NEED_ARG();
            const char *kv = argv[++i], *eq = strchr(kv, '=');
            if (!eq || eq == kv || !eq[1]) die2("--set: '%s' is not KEY=VALUE", kv);
            if (nsets >= 256) die2("--set: too many");
            sets[nsets++] = kv;
        } else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--deterministic")) deterministic = 1;
        else if (!strcmp(a, "--describe")) describe = 1;
        else if (!strcmp(a, "--emit-csharp")) { NEED_ARG(); emit_cs = argv[++i]; }
        else if (a[0] == '-' && a[1]) die2("unknown option '%s' (see --help)", a);
        else if (!workload) workload = a;
        else die2("more than one workload given ('%s' and '%s')", workload, a);
    }
    extra[nextra] = NULL;
    sets[nsets] = NULL;
    g_overrides = sets;
    if (!workload) { usage(stderr); return 2; }

    /* outputs first: a run never ends in "cannot write" (cli/outfile.h) */
    if (json && tk_out_check("tk-bench", "--json", json)) return 2;
    if (trace && tk_out_check("tk-bench", "--trace", trace)) return 2;
    if (!strcmp(strategy, "")) die2("--strategy: empty (give names separated by ',' or 'all')");
    char path[PATH_MAX];
    find_workload(workload, path, sizeof path);
    static tk_wl_spec spec;
    char err[1024];
    if (tk_wl_parse_file_ex(path, sets, &spec, err, sizeof err)) die2("%s", err);
    if (have_seed) spec.seed = seed;
    tk_wl_spec_scale(&spec, scale, quick);
    if (time_scale != 1.0) tk_wl_spec_scale_time(&spec, time_scale);
    if (spec.mode == WL_MODE_DETERMINISTIC) deterministic = 1;
    if (have_calls && !deterministic)
        die2("--calls needs deterministic mode (add --deterministic)");
    static tk_wl_universe u;
    if (tk_wl_generate(&spec, &u, err, sizeof err)) die2("%s", err);
    int nthreads = threads ? (int)threads : (int)spec.threads;

    if (emit_cs) {
        if (tk_wl_emit_csharp(&u, emit_cs, err, sizeof err)) die2("%s", err);
        printf("tk-bench: wrote %s (workload %s, %u classes, %u sites); build: dotnet build %s\n",
               emit_cs, spec.name, u.n_classes, u.n_sites, emit_cs);
        return 0;
    }
    if (describe) {
        print_universe(&spec, &u);
        if (json && write_json(json, argc, argv, "", NULL, &spec, &u, scale, quick, deterministic,
                               nthreads, NULL, 0, NULL, 0))
            return 1;
        return tk_out_stdout_check("tk-bench") ? 1 : 0;
    }

    char implbuf[PATH_MAX + 64];
    if (!impl) {
        char dir[PATH_MAX];
        exe_dir(dir, sizeof dir);
        snprintf(implbuf, sizeof implbuf, "%s/../lib/libtk_ref_driver.so", dir);
        impl = implbuf;
    }
    const tk_driver *d = tk_wl_load_driver(impl, err, sizeof err);
    if (!d) die2("%s", err);

    /* strategies to run */
    const char *list[64];
    int nlist = 0;
    int offers = d->strategies && d->strategies[0];
    if (!strcmp(strategy, "all")) {
        if (offers)
            for (size_t i = 0; d->strategies[i] && nlist < 64; i++) list[nlist++] = d->strategies[i];
        else list[nlist++] = NULL;
    } else {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", strategy);
        if (strlen(strategy) >= sizeof buf) die2("--strategy: list too long");
        for (char *t = buf, *next; t; t = next) {
            next = strchr(t, ',');
            if (next) *next++ = 0;
            if (!*t) die2("--strategy '%s': empty name in the list", strategy);
            for (int k = 0; k < nlist; k++)
                if (list[k] && !strcmp(list[k], t)) die2("--strategy '%s': '%s' listed twice", strategy, t);
            int ok = 0;
            for (size_t i = 0; offers && d->strategies[i]; i++)
                if (!strcmp(d->strategies[i], t)) { ok = 1; list[nlist++] = d->strategies[i]; break; }
            if (!ok) {
                char known[512] = "";
                for (size_t i = 0; offers && d->strategies[i]; i++) {
                    strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
                    strncat(known, d->strategies[i], sizeof known - strlen(known) - 1);
                }
                die2("unknown strategy '%s' (%s offers: %s)", t, d->name,
                     known[0] ? known : "no strategy names");
            }
            if (nlist >= 64) die2("--strategy: more than 64 names");
        }
    }
    if (trace && nlist > 1)
        for (int i = 0; i < nlist; i++) {
            char tp[PATH_MAX + 64];
            snprintf(tp, sizeof tp, "%s.%s", trace, list[i] ? list[i] : "default");
            if (tk_out_check("tk-bench", "--trace", tp)) return 2;
        }

    print_universe(&spec, &u);
    printf("implementation %s %s (%s), git %s\n", d->name, d->version, impl, TK_GIT_REV);
    double per_run_s = deterministic ? 0
        : (double)(spec.warmup_ms + spec.measure_ms + spec.quiet_gap_ms + spec.burst_ms +
                   spec.measure2_ms) / 1000.0;
    int prog = per_run_s * nlist > 3.0;
    run_entry runs[64];
    run_failure fails[64];
    int status = 0, nruns = 0, nfails = 0;
    for (int i = 0; i < nlist; i++) {
        tk_wl_run_result *res = calloc(1, sizeof *res);
        char tracebuf[PATH_MAX + 64];
        const char *tp = trace;
        if (trace && nlist > 1) {
            snprintf(tracebuf, sizeof tracebuf, "%s.%s", trace, list[i] ? list[i] : "default");
            tp = tracebuf;
        }
        char label[128];
        snprintf(label, sizeof label, "%s/%s", spec.name, list[i] ? list[i] : "default");
        tk_wl_run_opts o = {.drv = d, .strategy = list[i], .extra_config = extra, .trace_path = tp,
                         .threads = nthreads, .deterministic = deterministic,
                         .calls = have_calls ? (int64_t)calls : -1, .progress = prog,
                         .label = label};
        if (prog) fprintf(stderr, "tk-bench: %s: starting (%d/%d, ~%.0f s)\n", label, i + 1, nlist, per_run_s);
        int run_rc = tk_wl_run(&u, &o, res);
        /* a trace is complete or the run fails: a runtime that could not
         * write the whole trace removes it (SPEC.md "Event trace") */
        struct stat tst;
        if (!run_rc && tp && stat(tp, &tst) != 0) {
            snprintf(res->error, sizeof res->error, "--trace '%.900s': the runtime left no complete trace (%s)", tp,
                     strerror(errno));
            run_rc = -1;
        }
        if (run_rc) {
            /* the other strategies still run and are reported; the exit is 1 */
            fprintf(stderr, "tk-bench: %s: %s\n", label, res->error);
            status = 1;
            fails[nfails].strategy = list[i] ? list[i] : "default";
            snprintf(fails[nfails].error, sizeof fails[nfails].error, "%s", res->error);
            nfails++;
            tk_wl_run_result_free(res);
            free(res);
            continue;
        }
        runs[nruns].strategy = list[i] ? list[i] : "default";
        runs[nruns].res = res;
        print_run(runs[nruns].strategy, res);
        nruns++;
        fflush(stdout);
    }
    print_summary(runs, nruns);
    if (nfails) {
        fprintf(stderr, "tk-bench: %d of %d strategies failed:", nfails, nlist);
        for (int i = 0; i < nfails; i++) fprintf(stderr, " %s", fails[i].strategy);
        fputc('\n', stderr);
    }
    /* the JSON is written when some strategy finished (nothing to report
     * otherwise: no half-written file) */
    if (json && nruns && write_json(json, argc, argv, impl, d, &spec, &u, scale, quick, deterministic, nthreads,
                                    runs, nruns, fails, nfails))
        status = 1;
    if (tk_out_stdout_check("tk-bench")) status = 1;
    return status;
}
