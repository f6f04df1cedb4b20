/* reference/tests/test_main.c — tk-ref-tests: the reference runtime's Check suite. */
#include "reftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

tk_runtime *rt_new(const char *strategy, const char *const *extra)
{
    return rt_new_mode("deterministic", strategy, extra);
}

tk_runtime *rt_new_mode(const char *mode, const char *strategy, const char *const *extra)
{
    tk_config cfg;
    char err[256];
    tk_config_defaults(&cfg);
    ck_assert_int_eq(tk_config_set(&cfg, "Mode", mode, err, sizeof err), 0);
    if (strategy) ck_assert_int_eq(tk_config_set(&cfg, "Strategy", strategy, err, sizeof err), 0);
    for (; extra && *extra; extra += 2)
        ck_assert_msg(tk_config_set(&cfg, extra[0], extra[1], err, sizeof err) == 0, "%s", err);
    tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);
    ck_assert_msg(rt != NULL, "%s", err);
    return rt;
}

void fx_init_with(fx *f, const char *strategy, const char *const *extra, tk_body_fn body)
{
    char err[256];
    f->rt = rt_new(strategy, extra);
    tk_method_def v[2] = { { "Base.V0", body, (void *)1, 0 }, { "Base.V1", body, (void *)2, 0 } };
    tk_method_def n[1] = { { "Base.N", body, (void *)3, 0 } };
    tk_type_def d = { "Base", NULL, 0, 2, v, 0, NULL, 1, n, 0, NULL };
    f->base = tk_type_define(f->rt, &d, err, sizeof err);
    ck_assert_msg(f->base != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(f->rt, f->base), 0);
    f->obj = tk_object_new(f->rt, f->base);
    ck_assert_ptr_nonnull(f->obj);
}

void fx_done(fx *f)
{
    tk_object_free(f->rt, f->obj);
    tk_runtime_destroy(f->rt);
}

int64_t counter_phase(tk_runtime *rt, const char *name, int final)
{
    tk_counter c[64];
    size_t n = tk_counters(rt, c, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (!strcmp(c[i].name, name)) return (int64_t)(final ? c[i].final : c[i].nonfinal);
    ck_abort_msg("no counter %s", name);
    return -1;
}

void advance_and_drain(tk_runtime *rt, uint64_t ms)
{
    tk_clock_advance(rt, ms);
    tk_drain(rt);
}

static void *noop(void *a) { return a; }

/* Under qemu-user with a mismatched guest libc (see QEMU_ENV in the
 * Makefile) pthread_create never returns; probe in a child with a deadline
 * so the suite fails loudly instead of hanging. */
static int threads_work(void)
{
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, noop, NULL)) _exit(1);
        pthread_join(t, NULL);
        _exit(0);
    }
    for (int i = 0; i < 100; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

int main(void)
{
    Suite *s = suite_create("reference");
    suite_add_tcase(s, tcase_units());
    suite_add_tcase(s, tcase_seed());
    suite_add_tcase(s, tcase_config_env());
    suite_add_tcase(s, tcase_coreclr_config());
    int threads_ok = threads_work();
    if (threads_ok) {
        suite_add_tcase(s, tcase_threaded());
        suite_add_tcase(s, tcase_impl());
        suite_add_tcase(s, tcase_lifetime());
        suite_add_tcase(s, tcase_faults());
        suite_add_tcase(s, tcase_observe());
        suite_add_tcase(s, tcase_rejects());
        suite_add_tcase(s, tcase_counters());
        suite_add_tcase(s, tcase_bookkeeping());
        suite_add_tcase(s, tcase_callcount());
        suite_add_tcase(s, tcase_tiering());
    }
    else
        printf("tk-ref-tests: FAIL: pthread_create does not return on this host, the threaded tests "
               "cannot run (under qemu-user: guest ld.so and libc differ, see QEMU_ENV in the Makefile)\n");
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed || !threads_ok ? EXIT_FAILURE : EXIT_SUCCESS;
}
