/* conformance/runner.h — the parts of tk-conform, one concept per file:
 *   runner.c        the command line and the run loop (main)
 *   driver_load.c   loading and checking the driver library under test
 *   expectations.c  --expect files: parsing, matching a test, XFAIL/XPASS
 *   isolation.c     one test in a child (fork or --spawn), timeout, and
 *                   killing the child's process group on timeout or signal
 *   report.c        TAP, JUnit XML, JSON and the anchor coverage table
 * Internal to the tk-conform program (names carry the tkc_ prefix). */
#ifndef TK_CONFORM_RUNNER_H
#define TK_CONFORM_RUNNER_H

#include "tkt_internal.h"

#include <stddef.h>

extern const char *const tkc_st_names[TKT_ST_COUNT];

static inline const char *tkc_arch_name(void)
{
#if defined(__aarch64__)
    return "aarch64";
#elif defined(__x86_64__)
    return "x86_64";
#else
    return "unknown";
#endif
}
int tkc_parse_status(const char *s);     /* -1 when unknown (case-insensitive) */

/* ---- driver_load.c ---- */
int tkc_load_driver(const char *path);   /* sets D; -1 after the message */

/* ---- expectations.c ---- */
typedef struct tkc_expectation {
    char *pattern;          /* test name or anchor (fnmatch pattern)       */
    int status;             /* TKT_ST_FAIL / CRASH / TIMEOUT / SKIP        */
    char *conds[8];         /* key=value that must match the configuration */
    int nconds;
    char *reason;
    char *where;            /* file:line                                   */
} tkc_expectation;

typedef struct tkc_expectations {
    tkc_expectation *v;
    size_t n, cap;
} tkc_expectations;

/* Appends the expectations of `text` (named `name` in messages); 0, or -1
 * with "name:line: problem" in err.  Pure: no I/O, no global state (the
 * fuzzer calls it, fuzz/). */
int tkc_expect_parse(tkc_expectations *x, const char *name, const char *text, size_t len, char *err, size_t errlen);
/* Reads and parses a file; -1 after the message on stderr. */
int tkc_expect_load(tkc_expectations *x, const char *path);
void tkc_expect_free(tkc_expectations *x);
const tkc_expectation *tkc_expect_find(const tkc_expectations *x, const tkt_test *t);

/* ---- one test's result ---- */
typedef struct tkc_result {
    const tkt_test *t;
    int status;             /* final, after expectations                   */
    int raw;                /* what the test did                           */
    int sig;
    double ms;
    char msg[1200];
    char *output;
    const tkc_expectation *exp;
} tkc_result;

void tkc_apply_expectation(tkc_result *r);
int tkc_is_failure(int st);
int tkc_is_pass(int st);

/* ---- isolation.c ---- */
typedef struct tkc_isolation {
    int spawn;                     /* --spawn: re-execute self_path        */
    double timeout_s;
    const char *self_path, *impl_path;
    const char *const *configs;
    size_t nconfigs;
} tkc_isolation;

/* Kills the running test's process group on SIGINT/SIGTERM/SIGHUP, then
 * dies of the same signal. */
void tkc_isolation_install_signals(void);
void tkc_run_isolated(const tkc_isolation *iso, const tkt_test *t, tkc_result *r);
void tkc_write_result(int fd, int st, const char *msg);

/* ---- report.c ---- */
typedef struct tkc_cov { const char *anchor; int tests, pass, fail, unsup, in_spec; } tkc_cov;

typedef struct tkc_report {
    const char *impl_path, *isolation;
    const char *const *configs;
    size_t nconfigs;
    double timeout_s;
    tkc_result *rs;
    size_t n;
    tkc_cov *cv;
    size_t ncov, passed, failed;
} tkc_report;

size_t tkc_coverage(tkc_result *rs, size_t n, tkc_cov *out, size_t cap);
/* Each returns 0, or -1 after "tk-conform: cannot write --X 'path': why". */
int tkc_write_tap(const tkc_report *rp, const char *path);
int tkc_write_junit(const tkc_report *rp, const char *path);
int tkc_write_json(const tkc_report *rp, const char *path);

#endif
