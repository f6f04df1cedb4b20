/* reference/tests/test_config_env.c — configuration from the environment
 * and its error messages: an unknown TK_ variable shaped like a key is an
 * error that names it and, when one is close (a typo or two), the key it
 * probably meant (README "Configuration"; SPEC.md "unknown TK_ variables");
 * a strategy index past the table is refused with the allowed range; the
 * documented defaults.
 *
 * Every test restores the environment it changed: under CK_FORK=no (arm64,
 * qemu) the tests share one process. */
#include "reftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets NAME=VALUE, reads the configuration from the environment, unsets
 * NAME; returns tk_config_from_env's result, the message in err. */
static int from_env_with(const char *name, const char *value, char *err, size_t errlen)
{
    tk_config c;
    tk_config_defaults(&c);
    err[0] = 0;
    setenv(name, value, 1);
    int rc = tk_config_from_env(&c, err, errlen);
    unsetenv(name);
    return rc;
}

START_TEST(env_unknown_key_named_with_closest_key)
{
    char err[1024];
    /* one letter missing (an insertion away from the key) */
    ck_assert_int_eq(from_env_with("TK_Strtegy", "lazy", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "TK_Strtegy") && strstr(err, "did you mean TK_Strategy?"), "message: %s", err);
    /* two edits away from a short key is still "close" */
    ck_assert_int_eq(from_env_with("TK_Strtgy", "lazy", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "did you mean TK_Strategy?"), "message: %s", err);
    /* one substitution in a long key */
    ck_assert_int_eq(from_env_with("TK_CallCountThreshald", "5", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "did you mean TK_CallCountThreshold?"), "message: %s", err);
    /* a CamelCase name close to nothing: an error without a guess */
    ck_assert_int_eq(from_env_with("TK_Zebra", "1", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "TK_Zebra") && !strstr(err, "did you mean"), "message: %s", err);
    /* the keys themselves are accepted */
    ck_assert_int_eq(from_env_with("TK_Strategy", "lazy", err, sizeof err), 0);
    ck_assert_int_eq(from_env_with("TK_CallCountThreshold", "5", err, sizeof err), 0);
}
END_TEST

/* A variable name longer than the 127 characters the check keeps is named
 * by its first 127 characters, never read or written past them. */
START_TEST(env_long_unknown_name_truncated)
{
    char name[160], err[1024], want[140];
    memset(name, 'z', sizeof name);
    memcpy(name, "TK_Zz", 5);
    name[127] = 'Q';                     /* the 128th character: cut off */
    name[128] = 0;
    ck_assert_int_eq(from_env_with(name, "1", err, sizeof err), -1);
    snprintf(want, sizeof want, "%.127s:", name);
    ck_assert_msg(strstr(err, want) != NULL, "the message does not name the first 127 characters then ':': %s", err);
    ck_assert_msg(strchr(err, 'Q') == NULL, "the message names more than 127 characters of the name: %s", err);
}
END_TEST

/* A strategy index past the registry is refused, naming the valid range. */
START_TEST(runtime_create_names_strategy_range)
{
    char err[512], want[64];
    size_t n = tk_strategy_count();
    tk_config c;
    tk_config_defaults(&c);
    c.strategy = (tk_strategy)n;
    ck_assert_ptr_null(tk_runtime_create(&c, err, sizeof err));
    snprintf(want, sizeof want, "(allowed: 0..%zu)", n - 1);
    ck_assert_msg(strstr(err, want) != NULL, "expected '%s' in: %s", want, err);
}
END_TEST

/* The defaults are SPEC.md's "Configuration keys" table (those the units
 * test does not check already): BackgroundWorkerTimeoutMs is 4000 ms, as
 * CoreCLR's TC_BackgroundWorkerTimeoutMs. */
START_TEST(config_default_worker_timeout)
{
    tk_config c;
    tk_config_defaults(&c);
    ck_assert_uint_eq(c.worker_timeout_ms, 4000);
}
END_TEST

TCase *tcase_config_env(void)
{
    TCase *tc = tcase_create("config_env");
    tcase_add_test(tc, env_unknown_key_named_with_closest_key);
    tcase_add_test(tc, env_long_unknown_name_truncated);
    tcase_add_test(tc, runtime_create_names_strategy_range);
    tcase_add_test(tc, config_default_worker_timeout);
    return tc;
}
