/* conformance/tkt_registry.c — the test registry, how one test ends
 * (PASS, FAIL, UNSUPPORTED) and running one test in this process under
 * Check (see tkt.h). */
#include "tkt.h"
#include "tkt_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const tk_driver *D;

/* ---- registry ---------------------------------------------------------------- */
static const tkt_test **registry;
static size_t nregistry, capregistry;

void tkt_register(const tkt_test *t)
{
    if (nregistry == capregistry) {
        capregistry = capregistry ? capregistry * 2 : 64;
        registry = realloc(registry, capregistry * sizeof *registry);
        if (!registry) abort();
    }
    registry[nregistry++] = t;
}

static int cmp_test(const void *a, const void *b)
{
    return strcmp((*(const tkt_test *const *)a)->name, (*(const tkt_test *const *)b)->name);
}

const tkt_test *const *tkt_registry(size_t *n)
{
    qsort(registry, nregistry, sizeof *registry, cmp_test);
    *n = nregistry;
    return registry;
}

/* ---- per-test state ------------------------------------------------------------ */
static const tkt_test *current;
static jmp_buf unsupported_jb;
static int unsupported_armed;
static char status_msg[1024];

const tkt_test *tkt_current(void) { return current; }

void tkt_unsupported(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(status_msg, sizeof status_msg, fmt, ap);
    va_end(ap);
    if (!unsupported_armed) {
        fprintf(stderr, "tkt_unsupported outside a test: %s\n", status_msg);
        abort();
    }
    longjmp(unsupported_jb, 1);
}

void tkt_fail(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ck_abort_msg("%s", buf);
    abort(); /* not reached */
}

void tkt_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("  note: ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

void tkt_require_caps(uint64_t caps)
{
    static const char *const names[] = { "DETERMINISTIC", "THREADED", "INTERFACES", "TYPE_UNLOAD", "VERSIONING",
                                         "STUB_DELETION", "CLASSIFY", "EVENTS", "COUNTERS", "PGO", "TRACE_FILE" };
    uint64_t missing = caps & ~D->caps;
    if (!missing) return;
    char buf[256] = "driver lacks capability";
    for (unsigned i = 0; i < 11; i++)
        if (missing & (1ull << i)) { strcat(buf, " TK_CAP_"); strcat(buf, names[i]); }
    tkt_unsupported("%s", buf);
}

/* ---- Check glue: run one test in this process --------------------------------- */
static const tkt_test *to_run;
static int was_unsupported;

START_TEST(tkt_wrapper)
{
    unsupported_armed = 1;
    if (!setjmp(unsupported_jb)) {
        to_run->fn();
    } else {
        was_unsupported = 1;
    }
    unsupported_armed = 0;
}
END_TEST

int tkt_run_in_process(const tkt_test *t, char *msg, size_t msglen)
{
    current = to_run = t;
    was_unsupported = 0;
    status_msg[0] = 0;
    tkt_log_reset();
    Suite *s = suite_create("tk-conform");
    TCase *tc = tcase_create(t->name);
    tcase_add_test(tc, tkt_wrapper);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_SILENT);
    int st;
    msg[0] = 0;
    if (srunner_ntests_failed(sr)) {
        TestResult **tr = srunner_failures(sr);
        snprintf(msg, msglen, "%s:%d: %s", tr_lfile(tr[0]), tr_lno(tr[0]), tr_msg(tr[0]));
        free(tr);
        st = TKT_ST_FAIL;
    } else if (was_unsupported) {
        snprintf(msg, msglen, "%s", status_msg);
        st = TKT_ST_UNSUPPORTED;
    } else {
        st = TKT_ST_PASS;
    }
    srunner_free(sr);
    fflush(stdout);
    fflush(stderr);
    current = NULL;
    return st;
}

