/* conformance/runner.c — tk-conform: runs the conformance tests against a
 * runtime's driver library (conformance/tk_driver.h), each test isolated in
 * a child process with a timeout, and reports per test and per anchor.
 * This file is the command line and the run loop; the other parts are
 * listed in runner.h. */
#include "runner.h"
#include "cli/numarg.h"
#include "cli/outfile.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *impl_path, *tap_path, *junit_path, *json_path, *run_one;
static const char *configs[64];
static size_t nconfigs;
static const char *filters[64];
static size_t nfilters;
static tkc_expectations exps;
static double timeout_s = 60;
static int mode_nofork, mode_spawn, verbose, list_only, result_fd = -1;
static char *self_path;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: tk-conform --impl LIB.so [options]\n"
        "       tk-conform --list [--filter X]\n"
        "\n"
        "Runs the tierkit conformance suite against a runtime's driver library\n"
        "(a shared object exporting tk_driver_v1, see conformance/tk_driver.h).\n"
        "\n"
        "  --impl LIB.so       driver library to test (dlopen path)\n"
        "  --config K=V        configuration key for every runtime the tests create\n"
        "                      (repeatable; e.g. Strategy=lazy). Keys a test sets\n"
        "                      itself (thresholds, Mode) take precedence.\n"
        "  --filter X          run only tests whose name or one of whose anchors\n"
        "                      matches X (shell pattern; repeatable)\n"
        "  --expect FILE       expectations: lines 'TEST_OR_ANCHOR STATUS [K=V..] # why'\n"
        "                      with STATUS FAIL, CRASH, TIMEOUT or SKIP (repeatable)\n"
        "  --tap FILE          write TAP version 13\n"
        "  --junit FILE        write JUnit XML\n"
        "  --json FILE         write results as JSON (schema_version 1)\n"
        "  --timeout SEC       per-test timeout, a number in (0, 86400] (default 60)\n"
        "  --list              list tests and the anchors they check, then exit\n"
        "  --no-fork           run tests in this process (debugging; no isolation,\n"
        "                      no timeout, a crash ends the run)\n"
        "  --spawn             isolate each test by re-executing this program\n"
        "                      (for qemu-user; honours $QEMU as the interpreter)\n"
        "  -v, --verbose       print every test's output\n"
        "  --help              this text\n"
        "\n"
        "Statuses: PASS, FAIL, XFAIL (expected failure), XPASS (unexpected pass),\n"
        "UNSUPPORTED (driver lacks a capability), CRASH (signal), TIMEOUT, SKIP.\n"
        "Exit status: 0 when nothing FAILed, XPASSed, CRASHed or TIMEd OUT; 1\n"
        "otherwise or when a report cannot be written (report paths are checked\n"
        "before any test runs); 2 for usage errors and libraries that cannot be\n"
        "loaded.  SIGINT/SIGTERM kill the running test's process group first.\n"
        "The last line of output is always 'N passed, N failed'.\n");
}

static int selected(const tkt_test *t)
{
    if (!nfilters) return 1;
    for (size_t i = 0; i < nfilters; i++) {
        if (!fnmatch(filters[i], t->name, 0)) return 1;
        for (int a = 0; t->anchors[a]; a++)
            if (!fnmatch(filters[i], t->anchors[a], 0)) return 1;
    }
    return 0;
}

static void print_indented(const char *s, int max_lines)
{
    int lines = 0;
    while (s && *s && lines < max_lines) {
        const char *nl = strchr(s, '\n');
        int len = nl ? (int)(nl - s) : (int)strlen(s);
        printf("    | %.*s\n", len, s);
        lines++;
        s = nl ? nl + 1 : s + len;
    }
    if (s && *s) printf("    | ... (output truncated)\n");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    self_path = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEED_ARG() do { if (i + 1 >= argc) { fprintf(stderr, "tk-conform: %s needs an argument\n", a); return 2; } } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--impl")) { NEED_ARG(); impl_path = argv[++i]; }
        else if (!strcmp(a, "--config")) {
            NEED_ARG();
            if (!strchr(argv[i + 1], '=')) { fprintf(stderr, "tk-conform: --config '%s' is not K=V\n", argv[i + 1]); return 2; }
            if (nconfigs < 63) configs[nconfigs++] = argv[++i]; else ++i;
        }
        else if (!strcmp(a, "--filter")) { NEED_ARG(); if (nfilters < 63) filters[nfilters++] = argv[++i]; else ++i; }
        else if (!strcmp(a, "--expect")) { NEED_ARG(); if (tkc_expect_load(&exps, argv[++i])) return 2; }
        else if (!strcmp(a, "--tap")) { NEED_ARG(); tap_path = argv[++i]; }
        else if (!strcmp(a, "--junit")) { NEED_ARG(); junit_path = argv[++i]; }
        else if (!strcmp(a, "--json")) { NEED_ARG(); json_path = argv[++i]; }
        else if (!strcmp(a, "--timeout")) {
            NEED_ARG();
            char why[160];
            /* finite and at most a day: a larger value overflows the deadline
             * arithmetic into immediate, false TIMEOUTs */
            if (tk_arg_double(argv[++i], 0, 86400, &timeout_s, why, sizeof why) || !(timeout_s > 0)) {
                fprintf(stderr, "tk-conform: --timeout '%s': %s\n", argv[i],
                        timeout_s > 0 ? why : "must be a number of seconds in (0, 86400]");
                return 2;
            }
        }
        else if (!strcmp(a, "--list")) list_only = 1;
        else if (!strcmp(a, "--no-fork")) mode_nofork = 1;
        else if (!strcmp(a, "--spawn")) mode_spawn = 1;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = 1;
        else if (!strcmp(a, "--run-one")) { NEED_ARG(); run_one = argv[++i]; }
        else if (!strcmp(a, "--result-fd")) {
            NEED_ARG();
            uint64_t fd;
            char why[160];
            if (tk_arg_u64(argv[++i], 0, 1 << 20, &fd, why, sizeof why)) {
                fprintf(stderr, "tk-conform: --result-fd '%s': %s\n", argv[i], why);
                return 2;
            }
            result_fd = (int)fd;
        }
        else { fprintf(stderr, "tk-conform: unknown argument '%s' (try --help)\n", a); return 2; }
    }
    if (mode_nofork && mode_spawn) { fprintf(stderr, "tk-conform: --no-fork and --spawn exclude each other\n"); return 2; }
    tkt_set_base_config(configs, nconfigs);
    size_t ntests;
    const tkt_test *const *tests = tkt_registry(&ntests);

    if (list_only) {
        size_t shown = 0;
        for (size_t i = 0; i < ntests; i++) {
            if (!selected(tests[i])) continue;
            printf("%-44s", tests[i]->name);
            for (int a = 0; tests[i]->anchors[a]; a++) printf(" %s", tests[i]->anchors[a]);
            printf("\n");
            shown++;
        }
        printf("%zu tests; spec_version %s\n", shown, tk_spec_version);
        return 0;
    }
    if (!impl_path) { fprintf(stderr, "tk-conform: --impl LIB.so is required (try --help)\n"); return 2; }
    /* reports are checked before any test runs (cli/outfile.h) */
    if ((tap_path && tk_out_check("tk-conform", "--tap", tap_path)) ||
        (junit_path && tk_out_check("tk-conform", "--junit", junit_path)) ||
        (json_path && tk_out_check("tk-conform", "--json", json_path)))
        return 2;
    if (tkc_load_driver(impl_path)) return 2;

    if (run_one) {  /* child side of --spawn */
        for (size_t i = 0; i < ntests; i++) {
            if (strcmp(tests[i]->name, run_one)) continue;
            char msg[1200];
            int st = tkt_run_in_process(tests[i], msg, sizeof msg);
            if (result_fd >= 0) tkc_write_result(result_fd, st, msg);
            else printf("%s\t%s\n", tkc_st_names[st], msg);
            fflush(NULL);
            _exit(0);
        }
        fprintf(stderr, "tk-conform: --run-one: no test named '%s'\n", run_one);
        return 2;
    }
    if (mode_spawn) {
        /* argv[0] first (under qemu-user /proc/self/exe is the emulator). */
        char *resolved = NULL;
        if (strchr(argv[0], '/')) resolved = realpath(argv[0], NULL);
        if (!resolved && !getenv("QEMU")) resolved = realpath("/proc/self/exe", NULL);
        if (resolved) self_path = resolved;
    }

    const char *isolation = mode_nofork ? "none" : mode_spawn ? "spawn" : "fork";
    printf("tk-conform: impl %s (%s %s, ABI v%u), arch %s, spec %s, isolation %s\n", impl_path, D->name ? D->name : "?",
           D->version ? D->version : "?", D->abi_version, tkc_arch_name(), tk_spec_version, isolation);
    tkc_isolation iso = { mode_spawn, timeout_s, self_path, impl_path, configs, nconfigs };
    if (!mode_nofork) tkc_isolation_install_signals();
    if (nconfigs) {
        printf("tk-conform: config");
        for (size_t i = 0; i < nconfigs; i++) printf(" %s", configs[i]);
        printf("\n");
    }
    tkc_result *rs = calloc(ntests ? ntests : 1, sizeof *rs);
    size_t n = 0;
    for (size_t i = 0; i < ntests; i++) {
        const tkt_test *t = tests[i];
        if (!selected(t)) continue;
        tkc_result *r = &rs[n++];
        r->t = t;
        r->exp = tkc_expect_find(&exps, t);
        if (r->exp && r->exp->status == TKT_ST_SKIP) {
            r->raw = r->status = TKT_ST_SKIP;
            snprintf(r->msg, sizeof r->msg, "%s", r->exp->reason);
        } else if (mode_nofork) {
            uint64_t s0 = tkt_now_ms();
            r->raw = tkt_run_in_process(t, r->msg, sizeof r->msg);
            r->ms = (double)(tkt_now_ms() - s0);
            tkc_apply_expectation(r);
        } else {
            tkc_run_isolated(&iso, t, r);
            tkc_apply_expectation(r);
        }
        printf("%-11s %-44s %6.0f ms", tkc_st_names[r->status], t->name, r->ms);
        if (r->msg[0] && r->status != TKT_ST_PASS) printf("  %s", r->msg);
        printf("\n");
        if (r->output && *r->output && (verbose || tkc_is_failure(r->status))) print_indented(r->output, verbose ? 100000 : 40);
    }

    tkc_cov cv[512];
    size_t ncov = tkc_coverage(rs, n, cv, 512);
    printf("\nanchor coverage (spec_version %s):\n", tk_spec_version);
    printf("  %-42s %5s %5s %5s %5s\n", "anchor", "tests", "pass", "fail", "unsup");
    int uncovered = 0;
    for (size_t i = 0; i < ncov; i++) {
        printf("  %-42s %5d %5d %5d %5d%s\n", cv[i].anchor, cv[i].tests, cv[i].pass, cv[i].fail, cv[i].unsup,
               !cv[i].in_spec ? "  NOT IN SPEC" : cv[i].tests == 0 ? (nfilters ? "" : "  NO TEST") : "");
        if (!cv[i].in_spec || (cv[i].tests == 0 && !nfilters)) uncovered++;
    }
    size_t counts[TKT_ST_COUNT] = { 0 }, passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        counts[rs[i].status]++;
        if (tkc_is_pass(rs[i].status)) passed++;
        if (tkc_is_failure(rs[i].status)) failed++;
    }
    if (uncovered) printf("tk-conform: %d anchor(s) not matched between tests and spec\n", uncovered);
    printf("\nsummary:");
    for (int s = 0; s < TKT_ST_COUNT; s++) if (counts[s]) printf(" %zu %s", counts[s], tkc_st_names[s]);
    printf("\n");
    tkc_report rp = { impl_path, isolation, configs, nconfigs, timeout_s, rs, n, cv, ncov, passed, failed };
    int report_failed = 0;
    if (tap_path && tkc_write_tap(&rp, tap_path)) report_failed = 1;
    if (junit_path && tkc_write_junit(&rp, junit_path)) report_failed = 1;
    if (json_path && tkc_write_json(&rp, json_path)) report_failed = 1;
    if (n == 0) printf("tk-conform: no test matched the filter\n");
    printf("%zu passed, %zu failed\n", passed, failed);
    for (size_t i = 0; i < n; i++) free(rs[i].output);
    free(rs);
    tkc_expect_free(&exps);
    if (tk_out_stdout_check("tk-conform")) report_failed = 1;
    return failed || n == 0 || report_failed ? 1 : 0;
}
